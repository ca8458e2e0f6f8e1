"""The supervision order lifecycle table, exhaustively: every (state, event) pair is either in the table or
refused."""

from __future__ import annotations

import itertools

import pytest

from envwatch.alarms.order_lifecycle import (
    AWAITING_RECEIVER,
    ISSUER_EVENTS,
    ORDER_EVENTS,
    ORDER_STATES,
    ORDER_TRANSITIONS,
    RECEIVER_EVENTS,
    SYSTEM_EVENTS,
    TERMINAL,
    InvalidTransition,
    is_closed,
    next_order_state,
)

# the lifecycle as the issue states it, written out independently of the table
EXPECTED_MOVES = {
    ("issued", "respond"): "responded",
    ("returned", "respond"): "responded",
    ("responded", "accept"): "accepted",
    ("responded", "return"): "returned",
    ("issued", "withdraw"): "withdrawn",
}
STAYS = {
    "issued": {"comment", "escalate"},
    "responded": {"comment"},
    "returned": {"comment", "escalate"},
    "accepted": {"comment"},
    "withdrawn": {"comment"},
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(ORDER_STATES, ORDER_EVENTS)))
def test_every_pair(state: str, event: str) -> None:
    expected = EXPECTED_MOVES.get((state, event))
    if expected is None and event in STAYS[state]:
        expected = state
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            next_order_state(state, event)  # type: ignore[arg-type]
        assert info.value.http_status == 409
        assert state in str(info.value) and f"'{event}'" in str(info.value)
    else:
        assert next_order_state(state, event) == expected  # type: ignore[arg-type]


def test_the_table_names_only_known_states_and_events() -> None:
    assert set(ORDER_TRANSITIONS) == set(ORDER_STATES)
    for moves in ORDER_TRANSITIONS.values():
        assert set(moves) <= set(ORDER_EVENTS)
        assert set(moves.values()) <= set(ORDER_STATES)


def test_terminal_states_take_comments_only_and_nothing_leads_back_to_issued() -> None:
    assert {"accepted", "withdrawn"} == TERMINAL
    for state in TERMINAL:
        assert ORDER_TRANSITIONS[state] == {"comment": state}
        assert is_closed(state)
    for state in set(ORDER_STATES) - TERMINAL:
        assert not is_closed(state)
    for state, moves in ORDER_TRANSITIONS.items():
        if state != "issued":
            assert "issued" not in moves.values()


def test_only_orders_waiting_on_the_receiver_escalate() -> None:
    escalating = {s for s, moves in ORDER_TRANSITIONS.items() if "escalate" in moves}
    assert escalating == AWAITING_RECEIVER == {"issued", "returned"}


def test_issued_is_never_a_transition_and_who_sends_what() -> None:
    assert all("issued" not in moves for moves in ORDER_TRANSITIONS.values())
    assert {"issued", "escalate"} == SYSTEM_EVENTS
    assert {"respond", "comment"} == RECEIVER_EVENTS
    assert {"accept", "return", "withdraw", "comment"} == ISSUER_EVENTS
    assert set(ORDER_EVENTS) == ISSUER_EVENTS | RECEIVER_EVENTS | SYSTEM_EVENTS
    assert SYSTEM_EVENTS.isdisjoint(ISSUER_EVENTS | RECEIVER_EVENTS)
