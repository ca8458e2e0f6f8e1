"""Emergency plans and drills (CS-4.2.3) on the real stores (SQLite and PostgreSQL): plans per event type and
their revisions, drills with their records and attachments, the year's status, every refusal with its
message."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from envwatch.core.blobs import BlobStore
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.operations.emergency import (
    REQUIRED_EVENT_TYPES,
    add_drill,
    add_drill_attachment,
    add_plan,
    current_plans,
    drill_attachments,
    drill_status,
    get_drill,
    get_plan,
    list_drills,
    list_plans,
)
from tests.helpers import NOW
from tests.operations.ledger_world import TODAY, LedgerWorld, build


@pytest.fixture
def world(engine: Engine) -> LedgerWorld:
    return build(engine)


def _plan(conn: Connection, w: LedgerWorld, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "operator_id": w.op,
        "event_type": "power_outage",
        "title": "停电应急预案",
        "version": "V1.0",
        "effective_on": date(2025, 1, 1),
        "body": "1. 启用UPS；2. 通知企业；3. 标记停运时段。",
        "recorded_by": "op_a",
        "now": NOW,
    }
    fields.update(overrides)
    return add_plan(conn, **fields)


def _drill(conn: Connection, plan_id: int, held_on: date, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "held_on": held_on,
        "participants": 6,
        "summary": "模拟全厂停电，UPS 切换 2 分钟内完成。",
        "recorded_by": "op_a",
        "now": NOW,
    }
    fields.update(overrides)
    return add_drill(conn, plan_id, **fields)


def test_a_revision_is_a_new_row_and_the_newest_is_current(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        first = _plan(conn, world)
        assert first["current"] is True
        failure = _plan(conn, world, event_type="device_failure", title="设备故障应急预案")
        second = _plan(
            conn, world, version="V2.0", effective_on=date(2026, 6, 1), body="修订：增加备用发电机。"
        )
        theirs = _plan(conn, world, operator_id=world.other_op)
    with engine.connect() as conn:
        assert get_plan(conn, first["id"])["current"] is False
        assert get_plan(conn, second["id"])["current"] is True
        current = current_plans(conn, world.op)
        assert [(p["event_type"], p["version"]) for p in current] == [
            ("device_failure", "V1.0"),
            ("power_outage", "V2.0"),
        ]
        history = list_plans(conn, [world.op], event_type="power_outage")
        assert [(p["id"], p["current"]) for p in history] == [(second["id"], True), (first["id"], False)]
        assert [p["id"] for p in list_plans(conn, None)] == [
            failure["id"],
            second["id"],
            first["id"],
            theirs["id"],
        ]
        assert [p["id"] for p in list_plans(conn, None, current_only=True)] == [
            failure["id"],
            second["id"],
            theirs["id"],
        ]
        assert list_plans(conn, []) == []
        with pytest.raises(InvalidInput, match=r"event_type must be one of device_failure, .*; not 'fire'"):
            list_plans(conn, None, event_type="fire")


def test_plan_refusals(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        first = _plan(conn, world)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"event_type": "fire"}, InvalidInput, "event_type must be one of device_failure, power_outage, "
         "network_outage, data_anomaly, exceedance, safety_accident, natural_disaster, other; not 'fire'"),
        ({"title": ""}, InvalidInput, "the title is required"),
        ({"version": " "}, InvalidInput, "the version is required"),
        ({"version": "v" * 33}, InvalidInput, "the version is 33 characters; at most 32"),
        ({"body": ""}, InvalidInput, "the plan text is required"),
        ({"effective_on": TODAY + timedelta(days=1)}, InvalidInput,
         "the effective day 2026-11-23 is in the future (today is 2026-11-22)"),
        ({"operator_id": 999999}, NotFound, "no operator with id 999999"),
        ({"version": "V1.0"}, Conflict, f"operator {world.op}'s power_outage plan already has version V1.0 "
         f"(plan {first['id']}): give a revision a new version"),
    ]  # fmt: skip
    for overrides, error, message in cases:
        with pytest.raises(error) as info, engine.begin() as conn:
            _plan(conn, world, **overrides)
        assert str(info.value) == message, overrides
    with engine.begin() as conn:  # the same version of another event type's plan is another plan
        assert _plan(conn, world, event_type="other")["version"] == "V1.0"


def test_drills_and_their_refusals(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        plan = _plan(conn, world)
        drill = _drill(conn, plan["id"], date(2026, 5, 20))
        assert (drill["operator_id"], drill["event_type"], drill["plan_version"]) == (
            world.op,
            "power_outage",
            "V1.0",
        )
        assert drill["participants"] == 6 and drill["summary"].startswith("模拟全厂停电")
        _drill(conn, plan["id"], TODAY)  # today is fine
    cases: list[tuple[date, dict[str, Any], str]] = [
        (TODAY + timedelta(days=1), {}, "the drill day 2026-11-23 is in the future (today is 2026-11-22)"),
        (date(2024, 12, 31), {}, f"the drill day 2024-12-31 is before plan {plan['id']} (V1.0) took effect on "
         "2025-01-01: record it under the revision in force that day"),
        (TODAY, {"participants": 0}, "participants must be 1-10000, not 0"),
        (TODAY, {"summary": "  "}, "the drill record (what was done and found) is required"),
        (TODAY, {"recorded_by": ""}, "recorded_by must be a username of 1-64 characters"),
    ]  # fmt: skip
    for held_on, overrides, message in cases:
        with pytest.raises(InvalidInput) as info, engine.begin() as conn:
            _drill(conn, plan["id"], held_on, **overrides)
        assert str(info.value) == message, overrides
    with pytest.raises(NotFound, match="no emergency plan with id 999999"), engine.begin() as conn:
        _drill(conn, 999999, TODAY)
    with pytest.raises(NotFound, match="no drill with id 999999"), engine.connect() as conn:
        get_drill(conn, 999999)
    with engine.connect() as conn:
        assert len(list_drills(conn, [world.op])) == 2


def test_the_year_of_a_drill_is_its_calendar_year(engine: Engine, world: LedgerWorld) -> None:
    """A drill on 31 December counts for that year, one on 1 January for the next."""
    with engine.begin() as conn:
        plan = _plan(conn, world)
        eve = _drill(conn, plan["id"], date(2025, 12, 31))
        new_year = _drill(conn, plan["id"], date(2026, 1, 1))
        _plan(conn, world, operator_id=world.other_op)
    with engine.connect() as conn:
        y2025 = drill_status(conn, world.op, 2025)
        y2026 = drill_status(conn, world.op, 2026)
        y2027 = drill_status(conn, world.op, 2027)
        assert ([d["id"] for d in y2025.drills], y2025.met) == ([eve["id"]], True)
        assert ([d["id"] for d in y2026.drills], y2026.met) == ([new_year["id"]], True)
        assert (y2027.drills, y2027.met, y2027.required) == ([], False, 1)
        assert [d["id"] for d in list_drills(conn, None, year=2025)] == [eve["id"]]
        assert [d["id"] for d in list_drills(conn, None)] == [new_year["id"], eve["id"]]
        with pytest.raises(InvalidInput, match="year must be 1900-9999, not 10000"):
            list_drills(conn, None, year=10000)
        with pytest.raises(NotFound, match="no operator with id 999999"):
            drill_status(conn, 999999, 2026)
        other = drill_status(conn, world.other_op, 2026)
        assert other.drills == [] and not other.met


def test_missing_event_types(engine: Engine, world: LedgerWorld) -> None:
    with engine.connect() as conn:
        assert drill_status(conn, world.op, 2026).missing_event_types == REQUIRED_EVENT_TYPES
    with engine.begin() as conn:
        _plan(conn, world)
        _plan(conn, world, event_type="other")  # the catch-all is never required
        _plan(conn, world, event_type="exceedance")
    with engine.connect() as conn:
        status = drill_status(conn, world.op, 2026)
        assert status.missing_event_types == (
            "device_failure",
            "network_outage",
            "data_anomaly",
            "safety_accident",
            "natural_disaster",
        )
        assert [p["event_type"] for p in status.plans] == ["power_outage", "exceedance", "other"]
        assert "other" not in REQUIRED_EVENT_TYPES and len(REQUIRED_EVENT_TYPES) == 7


def test_drill_attachments(engine: Engine, world: LedgerWorld, settings: Settings) -> None:
    blobs = BlobStore.from_settings(settings)
    with engine.begin() as conn:
        drill = _drill(conn, _plan(conn, world)["id"], TODAY)
        photo = add_drill_attachment(
            conn, blobs, drill["id"], filename="现场照片.jpg", content=b"\xff\xd8jpeg", content_type="image/jpeg",
            added_by="op_a", now=NOW,
        )  # fmt: skip
        sheet = add_drill_attachment(
            conn, blobs, drill["id"], filename="签到表.pdf", content=b"%PDF", content_type="application/pdf",
            added_by="op_a", now=NOW,
        )  # fmt: skip
    assert photo["owner_kind"] == "drill" and photo["owner_id"] == drill["id"]
    assert blobs.get(photo["sha256"]) == b"\xff\xd8jpeg"
    with engine.connect() as conn:
        assert [a["filename"] for a in drill_attachments(conn, drill["id"])] == ["现场照片.jpg", "签到表.pdf"]
        assert drill_attachments(conn, drill["id"] + 1) == []
    assert sheet["id"] != photo["id"]
    with pytest.raises(NotFound, match="no drill with id 999999"), engine.begin() as conn:
        add_drill_attachment(
            conn,
            blobs,
            999999,
            filename="x.txt",
            content=b"x",
            content_type="text/plain",
            added_by="a",
            now=NOW,
        )
    with pytest.raises(InvalidInput, match=r"attachment x\.txt is empty"), engine.begin() as conn:
        add_drill_attachment(
            conn,
            blobs,
            drill["id"],
            filename="x.txt",
            content=b"",
            content_type="text/plain",
            added_by="a",
            now=NOW,
        )


@pytest.mark.parametrize("table", ["emergency_plans", "drills"])
def test_plans_and_drills_are_append_only(engine: Engine, world: LedgerWorld, table: str) -> None:
    with engine.begin() as conn:
        _drill(conn, _plan(conn, world)["id"], TODAY)
    column = "title" if table == "emergency_plans" else "summary"
    for sql in (f"UPDATE {table} SET {column} = 'rewritten'", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
