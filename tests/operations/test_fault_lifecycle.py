"""The fault lifecycle table, exhaustively: every (state, event) pair is either in the table or refused."""

from __future__ import annotations

import itertools

import pytest

from envwatch.operations.fault_lifecycle import (
    BACKUP_KINDS,
    FACT_EVENTS,
    FAULT_EVENTS,
    FAULT_STATES,
    FAULT_TRANSITIONS,
    TERMINAL,
    InvalidTransition,
    is_open,
    next_fault_state,
)

# the lifecycle as SX-18.3 and the issue state it, written out independently of the table
EXPECTED_MOVES = {
    ("open", "backup_started"): "on_backup",
    ("open", "restored"): "restored",
    ("on_backup", "backup_ended"): "open",
    ("on_backup", "restored"): "restored",
}
STAYS = {
    "open": {"commented"},
    "on_backup": {"commented", "backup_checked"},
    "restored": {"commented"},
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(FAULT_STATES, FAULT_EVENTS)))
def test_every_pair(state: str, event: str) -> None:
    expected = EXPECTED_MOVES.get((state, event))
    if expected is None and event in STAYS[state]:
        expected = state
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            next_fault_state(state, event)  # type: ignore[arg-type]
        assert info.value.http_status == 409
        allowed = ", ".join(sorted(FAULT_TRANSITIONS[state]))  # type: ignore[index]
        assert str(info.value) == f"a fault that is {state} cannot take '{event}' (allowed: {allowed})"
    else:
        assert next_fault_state(state, event) == expected  # type: ignore[arg-type]


def test_the_table_names_only_known_states_and_events() -> None:
    assert set(FAULT_TRANSITIONS) == set(FAULT_STATES)
    for moves in FAULT_TRANSITIONS.values():
        assert set(moves) <= set(FAULT_EVENTS)
        assert set(moves.values()) <= set(FAULT_STATES)


def test_restored_is_terminal_and_opened_is_never_a_transition() -> None:
    assert {"restored"} == TERMINAL
    assert FAULT_TRANSITIONS["restored"] == {"commented": "restored"}
    assert all("opened" not in moves for moves in FAULT_TRANSITIONS.values())
    assert not is_open("restored") and is_open("open") and is_open("on_backup")


def test_the_facts_and_the_backup_kinds() -> None:
    # each fact has one slot in the SX-18.3 clocks; comments and the creation are not facts
    assert set(FAULT_EVENTS) - FACT_EVENTS == {"opened", "commented"}
    assert BACKUP_KINDS == ("backup_device", "manual")
    # the check is only taken while a backup runs
    assert [s for s, moves in FAULT_TRANSITIONS.items() if "backup_checked" in moves] == ["on_backup"]
