"""Rule pack ``response`` (SX-18.5-LATE, SX-20.9-ACK) on the real stores, SQLite and PostgreSQL.

The registry is ``tests/operations/records_world`` (运维甲 runs 甲's devices ``gas`` and ``water``), judged at
its NOW (2026-11-22 12:00 China time). Marks go through the marks store, which decides ``late`` by the
marking deadline (10 days after the marked period by default); alarms through the alarm store and its
lifecycle (acknowledgement due one hour after opening).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from envwatch.alarms.store import Action, Raised, apply, raise_alarm
from envwatch.compliance.rules import Link
from envwatch.compliance.run import run_rules
from envwatch.core.settings import Settings
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark
from tests.compliance.judging import judge, with_params
from tests.operations.records_world import NOW, RecordsWorld, build

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def world(engine: Engine) -> RecordsWorld:
    return build(engine)


def _mark(engine: Engine, device_id: int, start: datetime, entered: datetime) -> int:
    draft = MarkDraft(
        factor=None, start=start, end=start + 2 * HOUR, code="maintenance", reason="维护", source="operator"
    )
    with engine.begin() as conn:
        row = create_mark(conn, device_id, draft, created_by="field1", now=entered, policy=MarkPolicy())
    return int(row["id"])


def test_a_mark_entered_after_its_deadline_is_a_finding(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    gas = world.devices["gas"]
    _mark(engine, gas, NOW - 5 * DAY, NOW - 4 * DAY)  # entered a day after the period: on time
    late = _mark(engine, gas, NOW - 30 * DAY, NOW - 2 * DAY)  # 28 days after: past the 10-day deadline
    [found] = judge(engine, settings, "SX-18.5-LATE", NOW)
    assert (found.key, found.subject_kind, found.device_id, found.operator_id) == (
        f"mark:{late}",
        "device",
        gas,
        world.op,
    )
    assert found.evidence == (Link("mark", str(late), "maintenance"),)
    # judged before the late mark was entered: nothing yet
    assert judge(engine, settings, "SX-18.5-LATE", NOW - 3 * DAY) == []
    # a lookback of one day no longer reaches the mark entered two days ago
    assert judge(engine, with_params(settings, "SX-18.5-LATE", lookback_days=1), "SX-18.5-LATE", NOW) == []


def _alarm(engine: Engine, device_id: int, kind: str, opened: datetime) -> int:
    raised = Raised(device_id, kind, "", opened, "test", f"{kind} on device {device_id}")
    with engine.begin() as conn:
        return raise_alarm(conn, raised, opened, ack_due_s=3600).alarm_id


def _answer(engine: Engine, alarm_id: int, at: datetime) -> None:
    with engine.begin() as conn:
        apply(conn, alarm_id, Action("acknowledge"), actor="field1", now=at)


def test_alarms_acknowledged_late_or_not_at_all(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    gas, water = world.devices["gas"], world.devices["water"]
    in_time = _alarm(engine, gas, "offline", NOW - 10 * HOUR)
    _answer(engine, in_time, NOW - 9.5 * HOUR)
    late = _alarm(engine, gas, "constant", NOW - 8 * HOUR)
    _answer(engine, late, NOW - 5 * HOUR)  # two hours after its deadline
    never = _alarm(engine, water, "offline", NOW - 3 * HOUR)  # due two hours ago, still open
    _alarm(engine, water, "jump", NOW - 30 * 60 * timedelta(seconds=1))  # due in half an hour
    found = {f.key: f for f in judge(engine, settings, "SX-20.9-ACK", NOW)}
    assert set(found) == {f"alarm:{late}", f"alarm:{never}"}
    assert "2.0 h late" in found[f"alarm:{late}"].message
    assert "not acknowledged by" in found[f"alarm:{never}"].message
    assert (found[f"alarm:{never}"].device_id, found[f"alarm:{never}"].operator_id) == (water, world.op)


def test_the_run_is_idempotent_and_a_late_answer_stays_a_finding(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    never = _alarm(engine, world.devices["gas"], "offline", NOW - 3 * HOUR)
    first = run_rules(engine, settings, at=NOW - HOUR, rule_ids=["SX-20.9-ACK", "SX-18.5-LATE"])
    assert first.rules["SX-20.9-ACK"]["opened"] == 1
    _answer(engine, never, NOW - 0.5 * HOUR)  # answered at last, late: the same finding, still open
    second = run_rules(engine, settings, at=NOW, rule_ids=["SX-20.9-ACK", "SX-18.5-LATE"])
    assert second.rules["SX-20.9-ACK"] == {
        "found": 1, "opened": 0, "reopened": 0, "resolved": 0, "still_open": 1, "waived_seen": 0
    }  # fmt: skip
