"""The equipment lifecycle table (一机一档), exhaustively: every (state, event) pair is either in the table or
refused."""

from __future__ import annotations

import itertools

import pytest

from envwatch.core.errors import Conflict
from envwatch.operations.equipment_lifecycle import (
    EQUIPMENT_EVENTS,
    EQUIPMENT_STATES,
    EQUIPMENT_TRANSITIONS,
    LEAVES_DEVICE,
    RECORDED_EVENTS,
    TAKES_DEVICE,
    InvalidTransition,
    next_equipment_state,
)

# the lifecycle written out independently of the table: in_stock → installed → repairing → installed …,
# any → scrapped, nothing after scrapped
EXPECTED_MOVES = {
    ("in_stock", "installed"): "installed",
    ("in_stock", "sent_to_repair"): "repairing",
    ("in_stock", "scrapped"): "scrapped",
    ("installed", "removed"): "in_stock",
    ("installed", "sent_to_repair"): "repairing",
    ("installed", "scrapped"): "scrapped",
    ("repairing", "installed"): "installed",
    ("repairing", "repaired"): "in_stock",
    ("repairing", "scrapped"): "scrapped",
}
STAYS = {
    "in_stock": {"repaired", "maintained", "verified"},
    "installed": {"moved", "repaired", "maintained", "verified"},
    "repairing": {"verified"},
    "scrapped": set(),
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(EQUIPMENT_STATES, EQUIPMENT_EVENTS)))
def test_every_pair(state: str, event: str) -> None:
    expected = EXPECTED_MOVES.get((state, event))
    if expected is None and event in STAYS[state]:
        expected = state
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            next_equipment_state(state, event)  # type: ignore[arg-type]
        assert isinstance(info.value, Conflict) and info.value.http_status == 409
        assert str(info.value).startswith(f"equipment that is {state} cannot take '{event}' (allowed: ")
    else:
        assert next_equipment_state(state, event) == expected  # type: ignore[arg-type]


def test_the_table_names_only_known_states_and_events() -> None:
    assert set(EQUIPMENT_TRANSITIONS) == set(EQUIPMENT_STATES)
    for moves in EQUIPMENT_TRANSITIONS.values():
        assert set(moves) <= set(RECORDED_EVENTS)
        assert set(moves.values()) <= set(EQUIPMENT_STATES)


def test_scrapped_is_final_and_reachable_from_every_other_state() -> None:
    assert EQUIPMENT_TRANSITIONS["scrapped"] == {}
    with pytest.raises(
        InvalidTransition, match=r"cannot take 'maintained' \(allowed: nothing: it is final\)"
    ):
        next_equipment_state("scrapped", "maintained")
    for state in EQUIPMENT_STATES:
        if state != "scrapped":
            assert EQUIPMENT_TRANSITIONS[state]["scrapped"] == "scrapped"


def test_purchased_creates_the_file_and_is_never_a_transition() -> None:
    assert "purchased" not in RECORDED_EVENTS
    assert all("purchased" not in moves for moves in EQUIPMENT_TRANSITIONS.values())


def test_device_events_agree_with_the_states() -> None:
    # an event that puts equipment on a device ends installed; one that leaves it ends elsewhere
    for moves in EQUIPMENT_TRANSITIONS.values():
        for event, to in moves.items():
            if event in TAKES_DEVICE:
                assert to == "installed"
            if event in LEAVES_DEVICE:
                assert to != "installed"
