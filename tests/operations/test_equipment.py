"""The equipment ledger (一机一档, CS-4.4.3) on the real stores (SQLite and PostgreSQL): opening a file, its
journal and state through the lifecycle, every refusal with its message, lists and verification due dates.

NOW is 12:00 China time on 2026-11-22 (tests.operations.ledger_world)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.equipment import (
    EquipmentFilter,
    add_equipment,
    get_equipment,
    list_equipment,
    record_event,
    verification_due,
    verification_status,
)
from envwatch.operations.equipment_lifecycle import InvalidTransition
from tests.helpers import GAS_MN, NOW, WATER_MN
from tests.operations.ledger_world import LOOSE_MN, TODAY, LedgerWorld, build

D = timedelta(days=1)


@pytest.fixture
def world(engine: Engine) -> LedgerWorld:
    return build(engine)


def _add(conn: Connection, w: LedgerWorld, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "operator_id": w.op,
        "kind": "analyser",
        "name": "SO2 分析仪",
        "model": "XG-2000",
        "serial": "SN-001",
        "purchased_on": date(2026, 3, 1),
        "comment": "采购合同 HT-9",
        "recorded_by": "op_a",
        "now": NOW,
    }
    fields.update(overrides)
    return add_equipment(conn, **fields)


def _event(conn: Connection, equipment_id: int, event: str, on: date, **more: Any) -> dict[str, Any]:
    return record_event(conn, equipment_id, event=event, on=on, recorded_by="fs_a", now=NOW, **more)


def test_a_file_from_purchase_to_scrap(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        new = _add(conn, world)
        assert new["state"] == "in_stock" and new["device_id"] is None and new["mn"] is None
        assert [(e["event"], e["on"], e["comment"]) for e in new["events"]] == [
            ("purchased", date(2026, 3, 1), "采购合同 HT-9")
        ]
        eid = new["id"]
        _event(conn, eid, "verified", date(2026, 3, 2), next_due=date(2027, 3, 1))
        on = _event(conn, eid, "installed", date(2026, 3, 5), device_id=world.device)
        assert (on["state"], on["device_id"], on["mn"]) == ("installed", world.device, GAS_MN)
        assert on["next_verification_due"] == date(2027, 3, 1)
        _event(conn, eid, "maintained", date(2026, 4, 1), comment="更换滤芯")
        _event(conn, eid, "repaired", date(2026, 5, 1), comment="更换泵膜（现场）")
        away = _event(conn, eid, "sent_to_repair", date(2026, 6, 1), comment="示值漂移，返厂")
        assert (away["state"], away["device_id"]) == ("repairing", None)
        back = _event(conn, eid, "installed", date(2026, 6, 20), device_id=world.device)
        assert back["state"] == "installed"
        moved = _event(conn, eid, "moved", date(2026, 7, 1), device_id=world.device2)
        assert (moved["state"], moved["mn"]) == ("installed", WATER_MN)
        renewed = _event(conn, eid, "verified", date(2026, 9, 1), next_due=date(2027, 9, 1))
        assert renewed["next_verification_due"] == date(2027, 9, 1)
        stored = _event(conn, eid, "removed", date(2026, 10, 1))
        assert (stored["state"], stored["device_id"]) == ("in_stock", None)
        gone = _event(conn, eid, "scrapped", TODAY, comment="超过使用年限")
        assert gone["state"] == "scrapped" and gone["device_id"] is None
        with pytest.raises(InvalidTransition, match="equipment that is scrapped cannot take 'maintained'"):
            _event(conn, eid, "maintained", TODAY)
    with engine.connect() as conn:
        file = get_equipment(conn, eid)
    assert [e["event"] for e in file["events"]] == [
        "purchased", "verified", "installed", "maintained", "repaired", "sent_to_repair", "installed",
        "moved", "verified", "removed", "scrapped",
    ]  # fmt: skip
    # the journal names the device each event happened at: the new one, or the one the equipment was on
    assert [e["mn"] for e in file["events"]] == [
        None, None, GAS_MN, GAS_MN, GAS_MN, GAS_MN, GAS_MN, WATER_MN, WATER_MN, WATER_MN, None,
    ]  # fmt: skip
    assert file["events"][1]["next_due"] == date(2027, 3, 1)
    assert all(e["recorded_by"] == "fs_a" for e in file["events"][1:])


def test_repair_ends_back_in_the_store(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        eid = _add(conn, world)["id"]
        _event(conn, eid, "sent_to_repair", date(2026, 4, 1), comment="泵坏")
        _event(conn, eid, "verified", date(2026, 4, 10), next_due=date(2027, 4, 10))  # at the repairer's
        done = _event(conn, eid, "repaired", date(2026, 4, 12), comment="换泵")
        assert done["state"] == "in_stock"
        with pytest.raises(InvalidTransition, match="equipment that is in_stock cannot take 'moved'"):
            _event(conn, eid, "moved", date(2026, 4, 13), device_id=world.device)


def test_opening_a_file_refusals(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        first = _add(conn, world)
        cases: list[tuple[dict[str, Any], type[Exception], str]] = [
            ({"kind": "pump"}, InvalidInput, "kind must be one of analyser, tool, meter, other; not 'pump'"),
            ({"name": "  "}, InvalidInput, "the name is required"),
            ({"model": ""}, InvalidInput, "the model is required"),
            ({"serial": ""}, InvalidInput, "the serial number is required"),
            ({"serial": "x" * 101}, InvalidInput, "the serial number is 101 characters; at most 100"),
            (
                {"purchased_on": TODAY + D},
                InvalidInput,
                "the purchase day 2026-11-23 is in the future (today is 2026-11-22)",
            ),
            ({"recorded_by": ""}, InvalidInput, "recorded_by must be a username of 1-64 characters"),
            ({"operator_id": 999999}, NotFound, "no operator with id 999999"),
            (
                {"serial": " SN-001 "},  # the same pair after trimming
                Conflict,
                f"operator {world.op} already has equipment model XG-2000 serial SN-001: equipment {first['id']} "
                "(SO2 分析仪)",
            ),
        ]
        for overrides, error, message in cases:
            with pytest.raises(error) as info:
                _add(conn, world, **overrides)
            assert str(info.value) == message, overrides
        # the same model and serial at another operator is another instrument's file
        assert _add(conn, world, operator_id=world.other_op)["operator_id"] == world.other_op
        # purchased today is fine
        assert _add(conn, world, serial="SN-002", purchased_on=TODAY)["purchased_on"] == TODAY


def test_recording_refusals(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        eid = _add(conn, world)["id"]
        _event(conn, eid, "maintained", date(2026, 6, 1))
    cases: list[tuple[str, date, dict[str, Any], type[Exception], str]] = [
        ("purchased", TODAY, {}, InvalidInput, "event must be one of installed, moved, removed, "
         "sent_to_repair, repaired, maintained, verified, scrapped; not 'purchased'"),
        ("maintained", TODAY + D, {}, InvalidInput, "the day 2026-11-23 is in the future (today is 2026-11-22)"),
        ("maintained", date(2026, 2, 28), {}, InvalidInput, "the day 2026-02-28 is before the purchase on 2026-03-01"),
        ("maintained", date(2026, 5, 31), {}, InvalidInput, "the day 2026-05-31 is before the file's latest event "
         "(maintained on 2026-06-01): record events in the order they happened"),
        ("installed", TODAY, {}, InvalidInput, "'installed' needs the device the equipment goes to"),
        ("installed", TODAY, {"device_id": world.foreign_device}, InvalidInput,
         f"device 010000A8900016F000169DC2 is not on an outlet under a contract of operator {world.op} on 2026-11-22"),
        ("installed", TODAY, {"device_id": world.loose_device}, InvalidInput,
         f"device {LOOSE_MN} is not on an outlet under a contract of operator {world.op} on 2026-11-22"),
        ("installed", TODAY, {"device_id": 999999}, InvalidInput, "no device with id 999999"),
        ("maintained", TODAY, {"device_id": world.device}, InvalidInput,
         "'maintained' takes no device: it is recorded where the equipment is"),
        ("verified", TODAY, {}, InvalidInput, "'verified' needs the next verification due day"),
        ("verified", TODAY, {"next_due": TODAY}, InvalidInput,
         "the next verification due day 2026-11-22 must be after the verification on 2026-11-22"),
        ("maintained", TODAY, {"next_due": TODAY + D}, InvalidInput,
         "only 'verified' takes a next verification due day, not 'maintained'"),
        ("repaired", TODAY, {}, InvalidInput, "the comment is required"),
        ("scrapped", TODAY, {"comment": " "}, InvalidInput, "the comment is required"),
        ("maintained", TODAY, {"comment": "x" * 4001}, InvalidInput, "the comment is 4001 characters; at most 4000"),
        ("removed", TODAY, {}, InvalidTransition,
         "equipment that is in_stock cannot take 'removed' (allowed: installed, maintained, repaired, scrapped, "
         "sent_to_repair, verified)"),
    ]  # fmt: skip
    for event, on, more, error, message in cases:
        with pytest.raises(error) as info, engine.begin() as conn:
            _event(conn, eid, event, on, **more)
        assert str(info.value) == message, (event, more)
    with pytest.raises(NotFound, match="no equipment with id 999999"), engine.begin() as conn:
        _event(conn, 999999, "maintained", TODAY)
    with engine.connect() as conn:
        assert [e["event"] for e in get_equipment(conn, eid)["events"]] == ["purchased", "maintained"]
        assert get_equipment(conn, eid)["state"] == "in_stock"


def test_install_needs_a_contract_in_force_that_day(engine: Engine, world: LedgerWorld) -> None:
    # 运维甲's contract on 甲 starts 2026-01-01
    with engine.begin() as conn:
        eid = _add(conn, world, purchased_on=date(2025, 12, 1))["id"]
        with pytest.raises(InvalidInput) as info:
            _event(conn, eid, "installed", date(2025, 12, 15), device_id=world.device)
        assert str(info.value) == (
            f"device {GAS_MN} is not on an outlet under a contract of operator {world.op} on 2025-12-15"
        )
        assert (
            _event(conn, eid, "installed", date(2026, 1, 1), device_id=world.device)["state"] == "installed"
        )
        with pytest.raises(InvalidInput, match="is already installed at that device"):
            _event(conn, eid, "moved", date(2026, 1, 2), device_id=world.device)


def test_lists_and_verification_due(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        overdue = _add(conn, world, serial="S1")["id"]
        _event(conn, overdue, "verified", date(2026, 3, 2), next_due=TODAY - D)
        today = _add(conn, world, serial="S2")["id"]
        _event(conn, today, "verified", date(2026, 3, 2), next_due=TODAY)
        soon = _add(conn, world, serial="S3", kind="meter")["id"]
        _event(conn, soon, "verified", date(2026, 3, 2), next_due=TODAY + 30 * D)
        _event(conn, soon, "installed", date(2026, 3, 3), device_id=world.device)
        later = _add(conn, world, serial="S4")["id"]
        _event(conn, later, "verified", date(2026, 3, 2), next_due=TODAY + 31 * D)
        scrapped = _add(conn, world, serial="S5")["id"]
        _event(conn, scrapped, "verified", date(2026, 3, 2), next_due=TODAY - 5 * D)
        _event(conn, scrapped, "scrapped", date(2026, 3, 3), comment="坏了")
        never = _add(conn, world, serial="S6")["id"]
        theirs = _add(conn, world, operator_id=world.other_op, serial="T1")["id"]
        _event(conn, theirs, "verified", date(2026, 3, 2), next_due=TODAY + D)
    with engine.connect() as conn:
        due = verification_due(conn, world.op, TODAY, 30)
        assert [(r["id"], r["days_left"], r["overdue"]) for r in due] == [
            (overdue, -1, True),
            (today, 0, False),
            (soon, 30, False),
        ]
        assert [r["id"] for r in verification_due(conn, None, TODAY, 1)] == [overdue, today, theirs]
        assert [r["id"] for r in verification_due(conn, world.op, TODAY, 0)] == [overdue, today]
        with pytest.raises(InvalidInput, match="within_days must not be negative, not -1"):
            verification_due(conn, world.op, TODAY, -1)

        def ids(**f: Any) -> list[int]:
            return [r["id"] for r in list_equipment(conn, EquipmentFilter(**f))]

        mine = [overdue, today, soon, later, scrapped, never]
        assert ids(operator_ids=[world.op]) == mine
        assert ids() == [*mine, theirs]
        assert ids(operator_ids=[]) == []
        assert ids(device_id=world.device) == [soon]
        assert ids(operator_ids=[world.op], states=["scrapped"]) == [scrapped]
        assert ids(operator_ids=[world.op], states=["installed", "in_stock"]) == [
            overdue,
            today,
            soon,
            later,
            never,
        ]
        assert ids(operator_ids=[world.op], overdue_on=TODAY) == [
            overdue
        ]  # the scrapped one no longer counts
        assert ids(operator_ids=[world.op], due_by=TODAY + 30 * D) == [overdue, today, soon]
        listed = list_equipment(conn, EquipmentFilter(device_id=world.device))
        assert listed[0]["mn"] == GAS_MN and listed[0]["kind"] == "meter"
        with pytest.raises(
            InvalidInput, match=r"unknown equipment state broken \(states: in_stock, installed, "
        ):
            ids(states=["broken"])
        with pytest.raises(InvalidInput, match="limit must be 1-1000, not 0"):
            list_equipment(conn, limit=0)


@pytest.mark.parametrize(
    ("due", "state", "expected"),
    [
        (None, "in_stock", "none"),
        (TODAY - D, "scrapped", "none"),
        (TODAY - D, "installed", "overdue"),
        (TODAY, "installed", "due"),
        (TODAY + 30 * D, "in_stock", "due"),
        (TODAY + 31 * D, "repairing", "ok"),
    ],
)
def test_verification_status(due: date | None, state: str, expected: str) -> None:
    assert verification_status(due, state, TODAY, 30) == expected


def test_the_journal_is_append_only(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        _add(conn, world)
    for sql in ("UPDATE equipment_events SET comment = 'rewritten'", "DELETE FROM equipment_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
