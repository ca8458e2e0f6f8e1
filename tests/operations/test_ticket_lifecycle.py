"""The service ticket lifecycle table, exhaustively: every (state, event) pair is either in the table or refused."""

from __future__ import annotations

import itertools

import pytest

from envwatch.core.errors import Conflict
from envwatch.operations.ticket_lifecycle import (
    ENTERPRISE_EVENTS,
    OPERATOR_EVENTS,
    TICKET_EVENTS,
    TICKET_STATES,
    TICKET_TRANSITIONS,
    InvalidTransition,
    is_open,
    next_state,
)

# the lifecycle as CS-4.3.3 and the issue state it, written out independently of the table
EXPECTED_MOVES = {
    ("requested", "respond"): "responded",
    ("requested", "cancel"): "cancelled",
    ("responded", "arrive"): "on_site",
    ("on_site", "resolve"): "resolved",
    ("resolved", "confirm"): "closed",
    ("resolved", "reject"): "on_site",
    # solved on the phone or through the remote platform: nobody travels (see the module docstring)
    ("responded", "resolve_remotely"): "remote_fixed",
    ("remote_fixed", "confirm"): "closed",
    ("remote_fixed", "reject"): "responded",
}
STAYS = {
    "requested": {"comment"},
    "responded": {"comment"},
    "on_site": {"comment"},
    "resolved": {"comment"},
    "remote_fixed": {"comment"},
    "closed": {"comment", "survey"},
    "cancelled": {"comment"},
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(TICKET_STATES, TICKET_EVENTS)))
def test_every_pair(state: str, event: str) -> None:
    expected = EXPECTED_MOVES.get((state, event))
    if expected is None and event in STAYS[state]:
        expected = state
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            next_state(state, event)  # type: ignore[arg-type]
        assert isinstance(info.value, Conflict)
        assert info.value.http_status == 409
        assert state in str(info.value) and event in str(info.value)
    else:
        assert next_state(state, event) == expected  # type: ignore[arg-type]


def test_the_table_names_only_known_states_and_events() -> None:
    assert set(TICKET_TRANSITIONS) == set(TICKET_STATES)
    for moves in TICKET_TRANSITIONS.values():
        assert set(moves) <= set(TICKET_EVENTS)
        assert set(moves.values()) <= set(TICKET_STATES)


def test_closed_and_cancelled_are_terminal_and_nothing_leads_back_to_requested() -> None:
    assert set(TICKET_TRANSITIONS["closed"].values()) == {"closed"}
    assert set(TICKET_TRANSITIONS["cancelled"].values()) == {"cancelled"}
    for state, moves in TICKET_TRANSITIONS.items():
        if state != "requested":
            assert "requested" not in moves.values()
    # the requested event creates the ticket; it is never a transition
    assert all("requested" not in moves for moves in TICKET_TRANSITIONS.values())


def test_only_the_enterprise_closes_and_surveys_come_after_the_close() -> None:
    closers = {
        event for moves in TICKET_TRANSITIONS.values() for event, to in moves.items() if to == "closed"
    }
    assert closers - {"survey", "comment"} == {"confirm"}
    assert "confirm" in ENTERPRISE_EVENTS and "confirm" not in OPERATOR_EVENTS
    assert [state for state, moves in TICKET_TRANSITIONS.items() if "survey" in moves] == ["closed"]


def test_cancel_only_before_a_response() -> None:
    assert [state for state, moves in TICKET_TRANSITIONS.items() if "cancel" in moves] == ["requested"]


def test_enterprise_and_operator_events_cover_all_and_share_only_comment() -> None:
    either, both = ENTERPRISE_EVENTS | OPERATOR_EVENTS, ENTERPRISE_EVENTS & OPERATOR_EVENTS
    assert either == set(TICKET_EVENTS)
    assert both == {"comment"}


def test_the_happy_path_and_a_rejected_fix() -> None:
    state = "requested"
    for event in ("respond", "arrive", "resolve", "reject", "resolve", "confirm", "survey"):
        state = next_state(state, event)  # type: ignore[arg-type]
    assert state == "closed"


def test_a_remote_fix_closes_without_an_arrival_and_a_rejected_one_needs_somebody_on_site() -> None:
    state = "requested"
    for event in ("respond", "resolve_remotely", "confirm", "survey"):
        state = next_state(state, event)  # type: ignore[arg-type]
    assert state == "closed"
    state = "requested"
    for event in ("respond", "resolve_remotely", "reject", "arrive", "resolve", "confirm"):
        state = next_state(state, event)  # type: ignore[arg-type]
    assert state == "closed"
    # once somebody is on site the fix is an on-site one; a remote fix needs a response first
    with pytest.raises(InvalidTransition, match="on_site cannot take 'resolve_remotely'"):
        next_state("on_site", "resolve_remotely")
    with pytest.raises(InvalidTransition, match="requested cannot take 'resolve_remotely'"):
        next_state("requested", "resolve_remotely")


def test_states_fit_the_projection_and_events_the_journal() -> None:
    from envwatch.operations.tickets_schema import ticket_events, tickets

    assert max(len(s) for s in TICKET_STATES) <= tickets.c.state.type.length  # type: ignore[attr-defined]
    assert max(len(e) for e in TICKET_EVENTS) <= ticket_events.c.event.type.length  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("state", "expected"), [(s, s not in ("closed", "cancelled")) for s in TICKET_STATES]
)
def test_is_open(state: str, expected: bool) -> None:
    assert is_open(state) is expected
