"""The alarm lifecycle table, exhaustively: every (state, event) pair is either in the table or refused."""

from __future__ import annotations

import itertools

import pytest

from envwatch.alarms.lifecycle import (
    EVENTS,
    PERSON_EVENTS,
    STATES,
    SYSTEM_EVENTS,
    TRANSITIONS,
    InvalidTransition,
    next_state,
)

# the lifecycle as the issue states it, written out independently of the table
EXPECTED_MOVES = {
    ("open", "acknowledge"): "acknowledged",
    ("open", "start_handling"): "handling",
    ("acknowledged", "start_handling"): "handling",
    ("open", "close"): "closed",
    ("acknowledged", "close"): "closed",
    ("handling", "close"): "closed",
}
STAYS = {
    "open": {"repeat", "condition_ended", "escalate", "assign", "comment", "attach"},
    "acknowledged": {"repeat", "condition_ended", "assign", "comment", "attach"},
    "handling": {"repeat", "condition_ended", "assign", "comment", "attach"},
    "closed": {"comment", "attach"},
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(STATES, EVENTS)))
def test_every_pair(state: str, event: str) -> None:
    expected = EXPECTED_MOVES.get((state, event))
    if expected is None and event in STAYS[state]:
        expected = state
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            next_state(state, event)  # type: ignore[arg-type]
        assert info.value.http_status == 409
        assert state in str(info.value) and event in str(info.value)
    else:
        assert next_state(state, event) == expected  # type: ignore[arg-type]


def test_the_table_names_only_known_states_and_events() -> None:
    assert set(TRANSITIONS) == set(STATES)
    for moves in TRANSITIONS.values():
        assert set(moves) <= set(EVENTS)
        assert set(moves.values()) <= set(STATES)


def test_closed_is_terminal_and_nothing_leads_back_to_open() -> None:
    assert set(TRANSITIONS["closed"].values()) == {"closed"}
    for state, moves in TRANSITIONS.items():
        if state != "open":
            assert "open" not in moves.values()


def test_opened_is_never_a_transition_and_people_and_system_events_split() -> None:
    assert all("opened" not in moves for moves in TRANSITIONS.values())
    assert PERSON_EVENTS.isdisjoint(SYSTEM_EVENTS)
    assert set(EVENTS) == PERSON_EVENTS | SYSTEM_EVENTS
