"""The custody state table (样品流转, WZ-A2-4/7/8/9/10), exhaustively: every (state, event) pair against the
chain of custody as the rules describe it, written out here independently of the table."""

from __future__ import annotations

import itertools

import pytest

from envwatch.core.errors import Conflict
from envwatch.sampling.custody import (
    ACCEPTING_CHECKS,
    CHECK_RESULTS,
    EVENTS,
    FINAL,
    PATH,
    STATES,
    TRANSITIONS,
    Event,
    State,
    next_events,
    next_state,
)

# The chain of custody as WZ-A2 describes it, one legal move a line: (state, event) -> next state.
SPEC: dict[tuple[State | None, Event], State] = {
    (None, "register"): "registered",  # on-site entry (WZ-A2-6)
    (None, "register_self_delivered"): "handed_over",  # a client's sample starts at the hand-over (WZ-A2-4)
    ("registered", "print_label"): "labelled",
    ("labelled", "reprint"): "labelled",  # WZ-A2-8, with a video
    ("labelled", "dispatch"): "in_transport",
    ("labelled", "hand_over"): "handed_over",  # brought in by the samplers themselves
    ("labelled", "reject"): "rejected",
    ("in_transport", "reprint"): "in_transport",
    ("in_transport", "hand_over"): "handed_over",  # WZ-A2-9: seal and label checked
    ("in_transport", "reject"): "rejected",
    ("handed_over", "print_label"): "handed_over",  # the first label of a self-delivered sample
    ("handed_over", "receive"): "received",
    ("handed_over", "reject"): "rejected",
    ("received", "open"): "opened",  # WZ-A2-10: re-check before analysis
    ("received", "reject"): "rejected",
    ("opened", "analyse"): "analysed",
    ("analysed", "dispose"): "disposed",
}
ALL_STATES: tuple[State | None, ...] = (None, *STATES)


def test_the_table_knows_the_states_and_events_of_the_rules() -> None:
    assert set(STATES) == {
        "registered",
        "labelled",
        "in_transport",
        "handed_over",
        "received",
        "opened",
        "analysed",
        "disposed",
        "rejected",
    }
    assert set(EVENTS) == {event for _, event in SPEC} | {"review"}
    assert set(TRANSITIONS) == set(ALL_STATES)
    for state, row in TRANSITIONS.items():
        assert set(row) <= set(EVENTS), state
        assert set(row.values()) <= set(STATES), state


@pytest.mark.parametrize("state", ALL_STATES, ids=str)
@pytest.mark.parametrize("event", [e for e in EVENTS if e != "review"])
def test_every_state_event_pair_is_legal_exactly_as_the_rules_say(state: State | None, event: Event) -> None:
    legal = {e for (s, e) in SPEC if s == state}
    if (state, event) in SPEC:
        assert next_state(state, event) == SPEC[state, event]
        return
    with pytest.raises(Conflict) as refused:
        next_state(state, event)
    message = refused.value.message
    assert message.startswith(f"{event} is not allowed ")
    assert ("before the sample exists" if state is None else f"in state {state}") in message
    allowed = message.split("allowed: ", 1)[1]
    if legal:
        assert set(allowed.split(", ")) == legal  # names exactly what is allowed instead
    else:
        assert allowed == "nothing (final state)"


def test_every_state_is_reachable_from_none() -> None:
    seen: set[State | None] = {None}
    todo: list[State | None] = [None]
    while todo:
        state = todo.pop()
        for event in TRANSITIONS[state]:
            after = next_state(state, event)
            if after not in seen:
                seen.add(after)
                todo.append(after)
    assert seen == set(ALL_STATES)


def test_final_states_have_no_exits() -> None:
    assert {"disposed", "rejected"} == FINAL
    for state in FINAL:
        assert next_events(state) == ()
        for event in EVENTS:
            if event != "review":
                with pytest.raises(Conflict, match=r"allowed: nothing \(final state\)"):
                    next_state(state, event)
    # and every other state has a way on (no sample is stuck half way)
    assert all(next_events(s) for s in STATES if s not in FINAL)


@pytest.mark.parametrize("state", STATES)
def test_review_keeps_the_state(state: State) -> None:
    assert next_state(state, "review") == state


def test_review_needs_a_sample() -> None:
    with pytest.raises(Conflict, match="review needs an existing sample"):
        next_state(None, "review")


def test_next_events_in_table_order() -> None:
    assert next_events("labelled") == ("reprint", "dispatch", "hand_over", "reject")
    assert next_events("handed_over") == ("print_label", "receive", "reject")
    for state in STATES:
        assert next_events(state) == tuple(e for (s, e) in SPEC if s == state)


def test_path_is_a_walk_through_the_table() -> None:
    assert PATH[0] == next_state(None, "register")
    assert PATH[-1] == "disposed"
    assert "rejected" not in PATH
    for here, there in itertools.pairwise(PATH):
        assert there in TRANSITIONS[here].values(), (here, there)
    assert set(PATH) == set(STATES) - {"rejected"}


def test_check_results() -> None:
    assert CHECK_RESULTS == ("intact", "abnormal", "damaged", "missing")
    assert {"intact", "abnormal"} == ACCEPTING_CHECKS
