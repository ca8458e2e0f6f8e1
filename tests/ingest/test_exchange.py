"""The command exchange state table, exhaustively (DESIGN convention 3)."""

from __future__ import annotations

import itertools

import pytest

from envwatch.ingest import exchange as ex

EVENTS = sorted({e for row in ex.TRANSITIONS.values() for e in row} | {ex.TTL_PASSED})


@pytest.mark.parametrize(("state", "event"), list(itertools.product(sorted(ex.STATES), EVENTS)))
def test_every_state_event_pair_is_defined_or_refused(state: str, event: str) -> None:
    if event in ex.TRANSITIONS[state]:
        assert ex.next_state(state, event) in ex.STATES
    else:
        with pytest.raises(ex.InvalidTransition, match=state):
            ex.next_state(state, event)


def test_final_states_take_no_event() -> None:
    for state in ex.FINAL:
        assert ex.TRANSITIONS[state] == {}


def test_every_state_is_reachable_from_queued() -> None:
    seen, todo = {ex.QUEUED}, [ex.QUEUED]
    while todo:
        for nxt in ex.TRANSITIONS[todo.pop()].values():
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(ex.STATES)


def test_the_happy_path() -> None:
    state = ex.QUEUED
    for event in (ex.SEND, ex.RETRY, ex.QN_RTN_OK, ex.DATA, ex.DATA, ex.EXE_RTN_OK):
        state = ex.next_state(state, event)
    assert state == ex.DONE
