"""Rule pack ``fraud`` (SX-29) on alarms raised through the real alarm store, marks and O&M records written
through their stores; SQLite and PostgreSQL.

The world is the field-record tests' (tests/operations/records_world.py): NOW is 12:00 China time on
2026-11-22; 甲's ``gas`` and ``water`` devices are under 运维甲 (``op``) since 2026-01-01, 乙's ``other``
under 运维乙; 张三 (``zhang``) of 运维甲 holds a valid certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from envwatch.alarms.store import Action, Raised, apply, raise_alarm
from envwatch.compliance.run import run_rules
from envwatch.core.settings import Settings
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark
from envwatch.operations.records import add_record
from tests.compliance.world_service import judge, keys, stored
from tests.operations.records_world import NOW, RecordsWorld, build, draft

H = timedelta(hours=1)
D = timedelta(days=1)
FLOW = "a00000"
SO2 = "a21026"


@pytest.fixture
def world(engine: Engine) -> RecordsWorld:
    return build(engine)


def alarm(
    engine: Engine,
    device_id: int,
    kind: str,
    started: datetime,
    *,
    factor: str = SO2,
    excluded: Sequence[tuple[datetime, datetime, str]] = (),
    opened: datetime | None = None,
) -> int:
    """An alarm as a detector raises it (opened an hour after the condition began, unless told)."""
    data: dict[str, Any] = {"excluded": [[a.isoformat(), b.isoformat(), code] for a, b, code in excluded]}
    raised = Raised(
        device_id=device_id, kind=kind, factor=factor, started_at=started, ended_at=started + 2 * H,
        source="test detector", summary=f"{kind} on {factor}", data=data,
    )  # fmt: skip
    with engine.begin() as conn:
        return raise_alarm(conn, raised, opened or started + H, ack_due_s=3600).alarm_id


# ---- SX-29-MARK ----


def test_stop_marks_contradicted_by_flow_or_by_an_exceedance(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    gas = world.devices["gas"]
    start = NOW - 2 * D
    with engine.begin() as conn:
        mark = create_mark(
            conn, gas, MarkDraft(None, start, start + 4 * H, "shutdown", "停产检修", "enterprise"),
            created_by="ent_jia", now=start, policy=MarkPolicy(),
        )  # fmt: skip
    stop = [(start, start + 2 * H, "shutdown")]
    with_flow = alarm(engine, gas, "shutdown_mark_with_flow", start, factor=FLOW, excluded=stop)
    hidden = alarm(engine, gas, "marked_exceedance", start, excluded=stop)
    # an exceedance under a calibration mark is what a span gas looks like: no contradiction
    alarm(
        engine,
        world.devices["water"],
        "marked_exceedance",
        start,
        excluded=[(start, start + H, "calibration")],
    )
    found = judge(engine, settings, "SX-29-MARK", NOW)
    assert keys(found) == [f"alarm:{with_flow}", f"alarm:{hidden}"]
    first = found[0]
    assert (first.subject_kind, first.device_id, first.operator_id) == ("device", gas, world.op)
    assert (first.enterprise_id, first.outlet_id) == (world.enterprises["jia"], world.outlets["gas"])
    assert [(link.kind, link.ref) for link in first.evidence] == [
        ("alarm", str(with_flow)),
        ("mark", str(mark["id"])),
    ]
    assert "the flow is normal under a stop mark (shutdown)" in first.message and "虚假标记" in first.message
    assert "the data exceed the limit under a stop mark" in found[1].message
    assert judge(engine, settings, "SX-29-MARK", NOW, lookback_days=1) == []  # opened two days ago


# ---- SX-29-PARAM ----


def _parameter_record(engine: Engine, settings: Settings, w: RecordsWorld, at: datetime) -> None:
    payload = {
        "parameter": "量程",
        "before": "0-100",
        "after": "0-200",
        "reason": "更换分析仪",
        "factor": SO2,
    }
    with engine.begin() as conn:
        add_record(
            conn, draft(w, kind="parameter_change", payload=payload, performed_at=at), "zhang", NOW, settings
        )


def test_parameter_changes_without_a_record(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    gas = world.devices["gas"]
    filed = alarm(engine, gas, "parameter_changed", NOW - 3 * D)
    _parameter_record(engine, settings, world, NOW - 3 * D - 2 * H)
    unfiled = alarm(engine, gas, "parameter_changed", NOW - 6 * D, factor="a21002")
    alarm(engine, world.devices["water"], "parameter_changed", NOW - 12 * H)  # its window is still open
    found = judge(engine, settings, "SX-29-PARAM", NOW)
    assert keys(found) == [f"alarm:{unfiled}"]
    assert "no parameter-change record (参数变更) of this device within ± 24 h of 2026-11-16 12:00" in (
        found[0].message
    )
    assert f"alarm:{filed}" not in keys(found)
    # within ± 100 h the record 70 h after the change counts for it too
    assert judge(engine, settings, "SX-29-PARAM", NOW, window_h=100) == []


# ---- SX-29-SIM ----


def test_flat_data_not_explained(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    gas, water = world.devices["gas"], world.devices["water"]
    open_one = alarm(engine, gas, "constant", NOW - 5 * D)
    closed = alarm(engine, gas, "near_detection_limit", NOW - 5 * D)
    with engine.begin() as conn:
        apply(
            conn, closed, Action("close", cause="低浓度排放, 工况稳定", action="核查工况记录"),
            actor="op_zhang", now=NOW - 4 * D,
        )  # fmt: skip
    recent = alarm(engine, water, "constant", NOW - D)  # still within the 72 h to explain it
    found = judge(engine, settings, "SX-29-SIM", NOW)
    assert keys(found) == [f"alarm:{open_one}"]
    assert (
        "not closed with a cause 72 h after it opened" in found[0].message
        and "疑似模拟数据" in found[0].message
    )
    assert keys(judge(engine, settings, "SX-29-SIM", NOW, explain_within_h=12)) == [
        f"alarm:{open_one}",
        f"alarm:{recent}",
    ]
    # as it stood before the closing, the closed one was unexplained too
    assert f"alarm:{closed}" in keys(
        judge(engine, settings, "SX-29-SIM", NOW - 4 * D - H, explain_within_h=12)
    )


# ---- SX-29-DILUTION ----


def test_dilution_and_bypass_signs_are_warnings(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    o2 = alarm(engine, world.devices["gas"], "o2_dilution", NOW - 2 * D, factor="a19001")
    theirs = alarm(engine, world.devices["other"], "flow_inconsistent", NOW - D, factor=FLOW)
    alarm(engine, world.devices["gas"], "exceedance", NOW - D)  # not a dilution sign
    found = judge(engine, settings, "SX-29-DILUTION", NOW)
    assert keys(found) == [f"alarm:{o2}", f"alarm:{theirs}"]
    assert {f.severity for f in found} == {"warning"}
    assert [f.operator_id for f in found] == [world.op, world.other_op]
    assert keys(judge(engine, settings, "SX-29-DILUTION", NOW, lookback_days=1)) == [f"alarm:{theirs}"]


# ---- through the engine ----


def test_the_pack_runs_through_the_engine_and_a_rerun_changes_nothing(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    gas = world.devices["gas"]
    flat = alarm(engine, gas, "constant", NOW - 5 * D)
    alarm(engine, gas, "o2_dilution", NOW - 2 * D, factor="a19001")
    rules = ["SX-29-MARK", "SX-29-PARAM", "SX-29-SIM", "SX-29-DILUTION"]
    first = run_rules(engine, settings, at=NOW, rule_ids=rules)
    assert first.ok, first.rules
    assert [first.rules[r]["opened"] for r in rules] == [0, 0, 1, 1]
    (row,) = stored(engine, "SX-29-SIM")
    assert (row["subject_kind"], row["device_id"], row["operator_id"], row["region_code"]) == (
        "device",
        gas,
        world.op,
        "330102",
    )
    again = run_rules(engine, settings, at=NOW, rule_ids=rules)
    assert [again.rules[r]["still_open"] for r in rules] == [0, 0, 1, 1]
    assert all(o["opened"] == o["resolved"] == 0 for o in again.rules.values())
    # explained: the next run resolves the finding
    with engine.begin() as conn:
        apply(
            conn,
            flat,
            Action("close", cause="分析仪故障已修复", action="更换传感器"),
            actor="op_zhang",
            now=NOW,
        )
    later = run_rules(engine, settings, at=NOW, rule_ids=["SX-29-SIM"])
    assert later.rules["SX-29-SIM"]["resolved"] == 1
    assert stored(engine, "SX-29-SIM")[0]["state"] == "resolved"
