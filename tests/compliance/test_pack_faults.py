"""Rule pack ``faults`` (SX-18.3 clocks, SX-30.5, SX-30.8, SX-18.4) on the real stores, SQLite and PostgreSQL.

The registry is ``tests/operations/faults_world``; everything is judged on 2025-10-20 12:00 China time
unless a test says otherwise. National Day 2025: Oct 1–8 off, Sat Oct 11 worked in lieu.

Faults (:func:`faults`):

- F1 GAS SO2 from Tue Sep 30 10:00, still open: restore due Oct 15 00:00 (overdue), no backup (overdue),
  no mark;
- F2 GAS2 SO2 from Sep 30 10:00, manual monitoring from 20 h later with a result, restored Oct 5 12:00;
- F3 WATER from Mon Sep 8 09:00, a backup device from 20:00 the same day, still running: restore due Sep 16,
  the backup check due Sep 18 20:00 and the backup's 30 days over Oct 8 20:00, no mark;
- F4 B from Oct 1 08:00, manual monitoring from 20:00 but no result, restored Oct 3 08:00;
- F5 GAS NOx from Mon Sep 1 10:00, restored Sep 12 10:00 (due Sep 9 00:00), never a backup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from envwatch.compliance.rules import Link
from envwatch.compliance.run import run_rules
from envwatch.compliance.schema import findings
from envwatch.core.settings import Settings
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark
from envwatch.operations.faults import ManualResultIn, add_manual_results, open_fault, record_event
from envwatch.operations.production_stops import decide, restarted, submit_stop
from tests.compliance.world_faults import add_hours, add_staff, calibrate, judge, with_params
from tests.operations.faults_world import COD, NOX, SO2, FaultWorld, build, cst

AT = cst(2025, 10, 20, 12)
START = cst(2025, 9, 30, 10)
H = timedelta(hours=1)
DAY = timedelta(days=1)
CLOCK_RULES = ["SX-18.3-5WD", "SX-18.3-24H", "SX-18.3-10D", "SX-18.3-30D", "SX-30.5-MARK"]


@pytest.fixture
def world(engine: Engine) -> FaultWorld:
    return build(engine, AT)


def _open(engine: Engine, w: FaultWorld, device: str, start: datetime, factors: list[str]) -> int:
    with engine.begin() as conn:
        fault = open_fault(
            conn, device_id=w.devices[device], started_at=start, description="分析仪故障", factors=factors,
            opened_by="op1", now=AT,
        )  # fmt: skip
    return int(fault["id"])


def _event(engine: Engine, fault_id: int, event: str, at: datetime, now: datetime = AT, **kw: Any) -> None:
    with engine.begin() as conn:
        record_event(conn, fault_id, event=event, at=at, by="op1", now=now, **kw)


def _result(engine: Engine, fault_id: int, factor: str, sampled: datetime, now: datetime) -> None:
    row = ManualResultIn(factor, sampled, Decimal("12.5"), "mg/m3", "某检测有限公司", "JC-1")
    with engine.begin() as conn:
        add_manual_results(conn, fault_id, [row], by="op1", now=now)


@dataclass(frozen=True)
class Faults:
    f1: int
    f2: int
    f3: int
    f4: int
    f5: int


@pytest.fixture
def faults(engine: Engine, world: FaultWorld) -> Faults:
    f1 = _open(engine, world, "gas", START, [SO2])
    f2 = _open(engine, world, "gas2", START, [SO2])
    _event(engine, f2, "backup_started", START + 20 * H, data={"kind": "manual"})
    _result(engine, f2, SO2, START + 22 * H, now=START + 30 * H)
    _event(engine, f2, "restored", cst(2025, 10, 5, 12))
    f3 = _open(engine, world, "water", cst(2025, 9, 8, 9), [])
    _event(engine, f3, "backup_started", cst(2025, 9, 8, 20), data={"kind": "backup_device"})
    f4 = _open(engine, world, "b", cst(2025, 10, 1, 8), [])
    _event(engine, f4, "backup_started", cst(2025, 10, 1, 20), data={"kind": "manual"})
    _event(engine, f4, "restored", cst(2025, 10, 3, 8))
    f5 = _open(engine, world, "gas", cst(2025, 9, 1, 10), [NOX])
    _event(engine, f5, "restored", cst(2025, 9, 12, 10))
    return Faults(f1, f2, f3, f4, f5)


def _keys(items: list[Any]) -> list[str]:
    return [f.key for f in items]


def _stored(engine: Engine, rule: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(findings.c.key, findings.c.state).where(findings.c.rule == rule))
        return sorted((r.key, r.state) for r in rows)


# ---- SX-18.3 ----


def test_restore_within_five_working_days(
    engine: Engine, settings: Settings, world: FaultWorld, faults: Faults
) -> None:
    found = judge(engine, settings, "SX-18.3-5WD", AT)
    assert _keys(found) == sorted(f"fault:{i}" for i in (faults.f1, faults.f3, faults.f5))
    by_key = {f.key: f for f in found}
    f1 = by_key[f"fault:{faults.f1}"]
    gas = world.devices["gas"]
    assert (f1.subject_kind, f1.subject_id, f1.device_id, f1.outlet_id, f1.enterprise_id, f1.operator_id) == (
        "device",
        gas,
        gas,
        world.outlets["gas_a"],
        world.jia,
        world.operator,
    )
    assert (f1.period_start, f1.period_end, f1.evidence) == (
        START,
        cst(2025, 10, 15),
        (Link("fault", str(faults.f1)),),
    )
    assert f1.message == (
        f"fault {faults.f1} (began 2025-09-30 10:00) not restored within 5 working days: not done 5 d 12 h "
        "after the deadline 2025-10-15 00:00 (故障未在5个工作日内修复)"
    )
    f5 = by_key[f"fault:{faults.f5}"]
    assert "done 2025-09-12 10:00, 3 d 10 h after the deadline 2025-09-09 00:00" in f5.message  # late is late
    # judged on Oct 14 the first fault still had time; the facts recorded later do not count then
    earlier = judge(engine, settings, "SX-18.3-5WD", cst(2025, 10, 14, 12))
    assert _keys(earlier) == sorted(f"fault:{i}" for i in (faults.f3, faults.f5))
    # 10 working days: F3's deadline moves to Sep 23 (still missed), F1's to Oct 22 (not yet), F5's to Sep 16
    ten = judge(engine, with_params(settings, {"SX-18.3-5WD": {"workdays": 10}}), "SX-18.3-5WD", AT)
    assert _keys(ten) == sorted(f"fault:{i}" for i in (faults.f3,))


def test_backup_or_manual_monitoring_after_24_hours(
    engine: Engine, settings: Settings, world: FaultWorld, faults: Faults
) -> None:
    found = {f.key: f for f in judge(engine, settings, "SX-18.3-24H", AT)}
    assert sorted(found) == sorted(f"fault:{i}" for i in (faults.f1, faults.f4, faults.f5))
    assert (
        "lasted more than 24 h without a backup device or manual monitoring"
        in found[f"fault:{faults.f1}"].message
    )
    f4 = found[f"fault:{faults.f4}"]
    assert f4.message == (
        f"fault {faults.f4}: manual monitoring began 2025-10-01 20:00 but no result was uploaded within 72 h "
        "(手工监测结果未上传)"
    )
    assert (f4.device_id, f4.operator_id, f4.enterprise_id) == (world.devices["b"], None, world.yi)
    # 23 hours after F1 began only F5 (restored late, never a backup) is a finding; a 12-hour line catches
    # F2 (its manual monitoring began after 20 h), not F3 (its backup device began after 11 h)
    assert _keys(judge(engine, settings, "SX-18.3-24H", START + 23 * H)) == [f"fault:{faults.f5}"]
    twelve = with_params(settings, {"SX-18.3-24H": {"hours": 12}})
    assert f"fault:{faults.f2}" in _keys(judge(engine, twelve, "SX-18.3-24H", AT))  # F2's began after 20 h


def test_backup_check_and_backup_at_most_30_days(
    engine: Engine, settings: Settings, world: FaultWorld, faults: Faults
) -> None:
    [check] = judge(engine, settings, "SX-18.3-10D", AT)
    water = world.devices["water"]
    assert (check.key, check.device_id, check.outlet_id, check.operator_id) == (
        f"fault:{faults.f3}",
        water,
        world.outlets["water_a"],
        world.operator,
    )
    assert check.period_end == cst(2025, 9, 18, 20)
    assert "backup (backup_device) used more than 7 days, not checked within 10 days" in check.message
    [longest] = judge(engine, settings, "SX-18.3-30D", AT)
    assert (longest.key, longest.period_end) == (f"fault:{faults.f3}", cst(2025, 10, 8, 20))
    assert judge(engine, with_params(settings, {"SX-18.3-10D": {"within_days": 50}}), "SX-18.3-10D", AT) == []
    assert judge(engine, with_params(settings, {"SX-18.3-30D": {"max_days": 45}}), "SX-18.3-30D", AT) == []
    # checked in time: no finding
    _event(engine, faults.f3, "backup_checked", cst(2025, 9, 17, 10))
    assert judge(engine, settings, "SX-18.3-10D", AT) == []


def test_unmarked_faults(engine: Engine, settings: Settings, world: FaultWorld, faults: Faults) -> None:
    found = judge(engine, settings, "SX-30.5-MARK", AT)
    assert _keys(found) == sorted(f"fault:{i}" for i in (faults.f1, faults.f3))  # restored ones were marked
    f1 = next(f for f in found if f.key == f"fault:{faults.f1}")
    assert f1.message == (
        f"fault {faults.f1} (open, began 2025-09-30 10:00) has no fault mark in force on a21026 24 h after it "
        "began (故障未标记)"
    )
    # 23 h after F1 began it is not due; F5's mark was made (on its restore) only later, on Oct 20
    earlier = judge(engine, settings, "SX-30.5-MARK", START + 23 * H)
    assert _keys(earlier) == sorted(f"fault:{i}" for i in (faults.f3, faults.f5))
    # F1's period marked by hand as a communication failure: not a fault mark, unless a province says so
    with engine.begin() as conn:
        draft = MarkDraft(SO2, START, AT - H, "comm_failure", "通讯中断", "operator")
        create_mark(conn, world.devices["gas"], draft, created_by="op1", now=AT, policy=MarkPolicy())
    assert f"fault:{faults.f1}" in _keys(judge(engine, settings, "SX-30.5-MARK", AT))
    codes = with_params(settings, {"SX-30.5-MARK": {"mark_codes": ["fault", "comm_failure"]}})
    assert _keys(judge(engine, codes, "SX-30.5-MARK", AT)) == [f"fault:{faults.f3}"]


def test_clock_rules_run_idempotently_and_a_restore_resolves_the_mark(
    engine: Engine, settings: Settings, world: FaultWorld, faults: Faults
) -> None:
    first = run_rules(engine, settings, at=AT, rule_ids=CLOCK_RULES)
    assert first.ok
    assert {r: o["opened"] for r, o in first.rules.items()} == {
        "SX-18.3-5WD": 3, "SX-18.3-24H": 3, "SX-18.3-10D": 1, "SX-18.3-30D": 1, "SX-30.5-MARK": 2
    }  # fmt: skip
    again = run_rules(engine, settings, at=AT, rule_ids=CLOCK_RULES)
    assert all(o["opened"] == 0 and o["resolved"] == 0 for o in again.rules.values())
    # F1 restored (late): its period is marked now, but it stays late and unmonitored past 24 h
    _event(engine, faults.f1, "restored", AT - H)
    fixed = run_rules(engine, settings, at=AT, rule_ids=CLOCK_RULES)
    assert fixed.rules["SX-30.5-MARK"]["resolved"] == 1
    assert _stored(engine, "SX-30.5-MARK") == sorted(
        [(f"fault:{faults.f1}", "resolved"), (f"fault:{faults.f3}", "open")]
    )
    assert fixed.rules["SX-18.3-5WD"]["still_open"] == 3 and fixed.rules["SX-18.3-24H"]["still_open"] == 3


# ---- SX-30.8: outages ----


def _outage_world(engine: Engine, w: FaultWorld) -> None:
    """Hour data from Sep 20 to the judged hour with gaps (see the test below)."""
    begin, end = cst(2025, 9, 20), cst(2025, 10, 20, 12)
    gaps = {
        "gas": [(cst(2025, 10, 5), cst(2025, 10, 7))],
        "gas2": [(cst(2025, 10, 5), cst(2025, 10, 8)), (cst(2025, 10, 15), cst(2025, 10, 16))],
        "water": [(cst(2025, 10, 5), cst(2025, 10, 7))],
        "b": [(cst(2025, 10, 5), cst(2025, 10, 7)), (cst(2025, 10, 19), end)],
    }
    factors = {"gas": (SO2, NOX), "gas2": (SO2,), "water": (COD,), "b": (SO2,)}
    with engine.begin() as conn:
        for device, holes in gaps.items():
            at = begin
            for s, e in [*holes, (end, end)]:
                add_hours(conn, w.devices[device], at, s, factors[device])
                at = e
        # B's first gap is an approved production stop (停产, exempt)
        stop = submit_stop(
            conn, enterprise_id=w.yi, outlet_id=w.outlets["gas_b"], start_at=cst(2025, 10, 5),
            end_at=cst(2025, 10, 7), reason="检修", by="ent1", now=cst(2025, 10, 1),
        )  # fmt: skip
        decide(conn, stop["id"], approve=True, comment="", by="reg1", now=cst(2025, 10, 1, 1))
    # GAS2's first gap: a fault with a backup device from 12 h in; WATER's: manual monitoring with a result
    f = _open(engine, w, "gas2", cst(2025, 10, 5), [SO2])
    _event(engine, f, "backup_started", cst(2025, 10, 5, 12), data={"kind": "backup_device"})
    _event(engine, f, "restored", cst(2025, 10, 8))
    f = _open(engine, w, "water", cst(2025, 10, 5), [])
    _event(engine, f, "backup_started", cst(2025, 10, 5, 6), data={"kind": "manual"})
    _result(engine, f, COD, cst(2025, 10, 5, 12), now=cst(2025, 10, 5, 18))
    _event(engine, f, "restored", cst(2025, 10, 7))


def test_outages_without_backup_or_manual_monitoring(
    engine: Engine, settings: Settings, world: FaultWorld
) -> None:
    _outage_world(engine, world)
    found = judge(engine, settings, "SX-30.8-24H", AT)
    gas, b = world.devices["gas"], world.devices["b"]
    assert _keys(found) == sorted(
        [f"device:{gas}:outage:2025-10-05T00:00:00+08:00", f"device:{b}:outage:2025-10-19T00:00:00+08:00"]
    )
    by_device = {f.device_id: f for f in found}
    g = by_device[gas]
    assert (g.subject_kind, g.outlet_id, g.enterprise_id, g.operator_id) == (
        "device",
        world.outlets["gas_a"],
        world.jia,
        world.operator,
    )
    assert (g.period_start, g.period_end) == (cst(2025, 10, 5), cst(2025, 10, 7))
    assert g.evidence == (Link("device", str(gas), "010000A8900016F0020A0001"),)
    assert g.message == (
        "device 010000A8900016F0020A0001 sent no hour data from 2025-10-05 00:00 to 2025-10-07 00:00 China time "
        "(48 h > 24 h) without a backup device or manual monitoring results (超过24小时无数据且未启用备用设备或手工监测)"
    )
    ongoing = by_device[b]
    assert (ongoing.period_end, ongoing.operator_id) == (AT, None)
    assert "from 2025-10-19 00:00 until now (ongoing) China time (36 h > 24 h)" in ongoing.message
    # 12 hours: GAS2's day without data on Oct 15 too (its backup device covered the other gap from 12 h)
    twelve = judge(engine, with_params(settings, {"SX-30.8-24H": {"hours": 12}}), "SX-30.8-24H", AT)
    assert f"device:{world.devices['gas2']}:outage:2025-10-15T00:00:00+08:00" in _keys(twelve)
    assert len(twelve) == 3
    # only the last three days: GAS's outage is out of the window; B's keeps its key
    short = judge(engine, with_params(settings, {"SX-30.8-24H": {"lookback_days": 3}}), "SX-30.8-24H", AT)
    assert _keys(short) == [f"device:{b}:outage:2025-10-19T00:00:00+08:00"]
    # a window starting inside B's outage (Oct 19 12:00): its start is found before the window, same key
    day = judge(engine, with_params(settings, {"SX-30.8-24H": {"lookback_days": 1}}), "SX-30.8-24H", AT)
    assert _keys(day) == [f"device:{b}:outage:2025-10-19T00:00:00+08:00"]
    assert day[0].period_start == cst(2025, 10, 19)


def test_outage_findings_are_idempotent_and_resolve_when_the_data_arrives(
    engine: Engine, settings: Settings, world: FaultWorld
) -> None:
    _outage_world(engine, world)
    first = run_rules(engine, settings, at=AT, rule_ids=["SX-30.8-24H"])
    assert first.rules["SX-30.8-24H"]["opened"] == 2
    later = AT + 3 * H  # B's outage goes on: same finding, same key
    again = run_rules(engine, settings, at=later, rule_ids=["SX-30.8-24H"])
    assert (again.rules["SX-30.8-24H"]["opened"], again.rules["SX-30.8-24H"]["still_open"]) == (0, 2)
    with engine.begin() as conn:  # GAS's missing hours are re-sent (补传)
        gas = world.devices["gas"]
        add_hours(conn, gas, cst(2025, 10, 5), cst(2025, 10, 7), (SO2, NOX), received_at=later)
    fixed = run_rules(engine, settings, at=later, rule_ids=["SX-30.8-24H"])
    assert fixed.rules["SX-30.8-24H"]["resolved"] == 1
    assert (f"device:{gas}:outage:2025-10-05T00:00:00+08:00", "resolved") in _stored(engine, "SX-30.8-24H")


# ---- SX-18.4: production stops ----


@dataclass(frozen=True)
class Stops:
    s1: int
    s2: int
    s3: int


@pytest.fixture
def stops(engine: Engine, world: FaultWorld) -> Stops:
    with engine.begin() as conn:
        s1 = submit_stop(
            conn, enterprise_id=world.jia, outlet_id=world.outlets["gas_a"], start_at=cst(2025, 10, 2),
            end_at=cst(2025, 10, 5), reason="检修", by="ent1", now=cst(2025, 10, 1, 10),
        )["id"]  # fmt: skip
        decide(conn, s1, approve=True, comment="", by="reg1", now=cst(2025, 10, 1, 12))
        restarted(conn, s1, at=cst(2025, 10, 4, 12), by="ent1", now=cst(2025, 10, 4, 12))
        start2 = cst(2025, 10, 10, 8)
        s2 = submit_stop(
            conn, enterprise_id=world.jia, outlet_id=world.outlets["water_a"], start_at=start2,
            end_at=cst(2025, 10, 11), reason="停水", by="ent1", now=start2 + 20 * timedelta(minutes=1),
        )["id"]  # fmt: skip
        decide(conn, s2, approve=False, comment="材料不全", by="reg1", now=start2 + H)
        s3 = submit_stop(
            conn, enterprise_id=world.yi, outlet_id=world.outlets["gas_b"], start_at=cst(2025, 10, 13),
            end_at=cst(2025, 10, 14), reason="检修", by="ent2", now=cst(2025, 10, 12),
        )["id"]  # fmt: skip
        decide(conn, s3, approve=True, comment="", by="reg2", now=cst(2025, 10, 13, 9))
        staff_id = add_staff(conn, world.operator, AT)
        calibrate(conn, world.devices["gas"], world.operator, staff_id, cst(2025, 10, 5, 9))
    return Stops(int(s1), int(s2), int(s3))


def test_calibration_within_two_weeks_of_a_restart(
    engine: Engine, settings: Settings, world: FaultWorld, stops: Stops
) -> None:
    [found] = judge(engine, settings, "SX-18.4-2W", AT)
    gas2 = world.devices["gas2"]
    assert (found.key, found.subject_kind, found.subject_id) == (
        f"stop:{stops.s1}",
        "outlet",
        world.outlets["gas_a"],
    )
    assert (found.enterprise_id, found.operator_id, found.device_id) == (world.jia, world.operator, None)
    assert found.evidence == (
        Link("stop", str(stops.s1)),
        Link("device", str(gas2), "010000A8900016F0020A0002"),
    )
    assert found.message == (
        f"production stop {stops.s1} restarted 2025-10-04 12:00: 010000A8900016F0020A0002 not calibrated within "
        "14 days (by 2025-10-18 12:00) (停产恢复后未在14天内校准核查)"
    )
    assert judge(engine, settings, "SX-18.4-2W", cst(2025, 10, 18, 12)) == []  # still in time then
    assert judge(engine, with_params(settings, {"SX-18.4-2W": {"days": 20}}), "SX-18.4-2W", AT) == []


def test_stop_reported_and_approved_before_it_began(
    engine: Engine, settings: Settings, world: FaultWorld, stops: Stops
) -> None:
    [found] = judge(engine, settings, "SX-18.4-REPORT", AT)
    assert (found.key, found.severity, found.subject_id) == (
        f"stop:{stops.s3}",
        "warning",
        world.outlets["gas_b"],
    )
    assert (found.enterprise_id, found.operator_id) == (world.yi, None)
    assert found.message == (
        f"production stop {stops.s3} planned from 2025-10-13 00:00: approved 2025-10-13 09:00, after it began "
        "(停产未经批准先行停运)"
    )
    strict = judge(
        engine, with_params(settings, {"SX-18.4-REPORT": {"grace_minutes": 0}}), "SX-18.4-REPORT", AT
    )
    assert _keys(strict) == sorted([f"stop:{stops.s2}", f"stop:{stops.s3}"])
    s2 = next(f for f in strict if f.key == f"stop:{stops.s2}")
    assert "reported 2025-10-10 08:20, after it began (停产未事先报告)" in s2.message


def test_stop_rules_run_idempotently_and_a_late_calibration_resolves(
    engine: Engine, settings: Settings, world: FaultWorld, stops: Stops
) -> None:
    rules = ["SX-18.4-2W", "SX-18.4-REPORT"]
    first = run_rules(engine, settings, at=AT, rule_ids=rules)
    assert [first.rules[r]["opened"] for r in rules] == [1, 1]
    again = run_rules(engine, settings, at=AT, rule_ids=rules)
    assert [again.rules[r]["still_open"] for r in rules] == [1, 1]
    assert [again.rules[r]["opened"] for r in rules] == [0, 0]
    with engine.begin() as conn:  # GAS2's calibration of Oct 17, recorded late
        calibrate(
            conn,
            world.devices["gas2"],
            world.operator,
            add_staff(conn, world.operator, AT),
            cst(2025, 10, 17),
        )
    fixed = run_rules(engine, settings, at=AT, rule_ids=rules)
    assert fixed.rules["SX-18.4-2W"]["resolved"] == 1
    assert _stored(engine, "SX-18.4-2W") == [(f"stop:{stops.s1}", "resolved")]
