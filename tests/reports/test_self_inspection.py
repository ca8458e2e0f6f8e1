"""The quarterly self-inspection report's content (SX-18.7) on the real stores (SQLite and PostgreSQL).

The world is in ``self_inspection_world``; every O&M record is inserted straight into its table.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.reports.quarters import Quarter, quarter_of
from envwatch.reports.self_inspection import RATES_NOT_COMPUTED, gather_self_inspection, quarter_rates
from envwatch.reports.self_inspection_checks import Window, count_inspections, inspection_windows
from envwatch.reports.self_inspection_data import SelfInspection
from envwatch.reports.self_inspection_records import parameter_changes_of, payload_details
from tests.helpers import GAS_MN, WATER_MN
from tests.reports.self_inspection_world import (
    NOW,
    World,
    alarm,
    build_world,
    china,
    fault,
    manual_result,
    mark,
    record,
    stop,
    ticket,
)

Q1 = Quarter(2026, 1)


@pytest.fixture
def world(engine: Engine) -> World:
    w = build_world(engine)
    with engine.begin() as conn:
        # gas: an inspection in every 7-day window of 2026Q1 but the second (01-08..01-14); the last one at
        # 23:30 China time on 03-31 (Q1), another at 00:00 on 04-01 (Q2)
        for n in range(13):
            if n == 1:
                continue
            day = date(2026, 1, 1) + timedelta(days=7 * n + 1)
            if n == 7:  # 02-20: recorded, then corrected by a record of 02-21
                original = record(conn, w, "gas", china(2026, 2, 20, 9, 0), kind="inspection")
                record(conn, w, "gas", china(2026, 2, 21, 9, 0), kind="inspection", supersedes=original,
                       note="更正：日期记错")  # fmt: skip
            elif n == 12:
                record(conn, w, "gas", china(2026, 3, 31, 23, 30), kind="inspection")
            else:
                record(conn, w, "gas", china(day.year, day.month, day.day, 10, 0), kind="inspection")
        record(conn, w, "gas", china(2026, 4, 1, 0, 0), kind="inspection")
        record(conn, w, "gas", china(2026, 1, 20, 10), kind="calibration", verdict="pass")
        record(conn, w, "gas", china(2026, 2, 20, 10), kind="calibration", verdict="fail")  # drift only
        record(conn, w, "gas", china(2026, 2, 27, 10), kind="calibration", verdict="fail",
               payload={"factor": "a21026", "out_of_control": True})  # fmt: skip
        record(conn, w, "gas", china(2026, 3, 5, 10), kind="parameter_change",
               payload={"parameter": "量程", "before": "0-200", "after": "0-500"})  # fmt: skip
        record(
            conn, w, "gas", china(2026, 3, 6, 10), kind="consumable", payload={"item": "滤芯", "quantity": 2}
        )
        # water: a comparison in January (passed), a failed one in February, none in March
        record(conn, w, "water", china(2026, 1, 15, 10), kind="comparison", verdict="pass")
        record(conn, w, "water", china(2026, 2, 15, 10), kind="comparison", verdict="fail")
        record(conn, w, "water", china(2026, 2, 16, 10), kind="standard_check", verdict="pass")
        record(conn, w, "yi", china(2026, 2, 16, 10), kind="inspection")  # 乙's: not in 甲's report
        late = fault(conn, w, "gas", china(2026, 3, 2, 10), restored_at=china(2026, 3, 12, 10))
        fault(conn, w, "gas", china(2025, 12, 20, 10), restored_at=china(2025, 12, 25, 10))  # before Q1
        fault(conn, w, "water", china(2026, 3, 30, 10))  # still open
        manual_result(conn, w, late, china(2026, 3, 3, 9), "12.50")
        stop(conn, w, china(2026, 2, 10), china(2026, 2, 12))
        stop(conn, w, china(2026, 4, 5), china(2026, 4, 6))
        mark(conn, w, china(2026, 1, 5, 8), 2, "maintenance")
        wrong = mark(conn, w, china(2026, 2, 1, 8), 1, "calibration")
        mark(conn, w, china(2026, 2, 1, 9), 1, "calibration", supersedes=wrong)
        withdrawn = mark(conn, w, china(2026, 3, 1, 8), 3, "fault")
        mark(conn, w, china(2026, 3, 1, 8), 3, "fault", supersedes=withdrawn, action="withdraw")
        alarm(conn, w, "exceedance", china(2026, 2, 1, 10), closed=True)
        alarm(conn, w, "offline", china(2026, 3, 15, 10))
        alarm(conn, w, "missing_hour", china(2026, 4, 2, 10))
        ticket(conn, w, china(2026, 1, 10, 10), responded_at=china(2026, 1, 10, 10, 30),
               arrived_at=china(2026, 1, 10, 13), state="closed", score=5)  # fmt: skip
        ticket(conn, w, china(2026, 2, 10, 10), responded_at=china(2026, 2, 10, 12),
               arrived_at=china(2026, 2, 10, 16), state="on_site", score=3)  # fmt: skip
        ticket(conn, w, china(2026, 4, 1, 10))
    return w


def _report(engine: Engine, settings: Settings, w: World, quarter: Quarter = Q1) -> SelfInspection:
    with engine.connect() as conn:
        return gather_self_inspection(conn, settings, w.jia, quarter, NOW)


def test_who_and_what(engine: Engine, settings: Settings, world: World) -> None:
    data = _report(engine, settings, world)
    assert data.enterprise.name == "甲化工有限公司" and data.quarter == Q1 and data.complete
    assert data.generated_at == NOW
    assert [o.name for o in data.operators] == ["运维甲"]  # 运维旧's contract ended in 2025
    assert [(o.code, o.kind) for o in data.outlets] == [("DA001", "gas"), ("DW001", "water")]
    assert [d.mn for d in data.devices] == [GAS_MN, WATER_MN]
    assert {r.mn for r in data.records} == {GAS_MN, WATER_MN}


def test_quarter_boundaries_are_china_time(engine: Engine, settings: Settings, world: World) -> None:
    data = _report(engine, settings, world)
    inspections = [r for r in data.records if r.kind == "inspection"]
    assert china(2026, 3, 31, 23, 30) in {r.performed_at for r in inspections}
    assert china(2026, 4, 1, 0, 0) not in {r.performed_at for r in inspections}
    q2 = _report(engine, settings, world, Quarter(2026, 2))
    assert [r.performed_at for r in q2.records] == [china(2026, 4, 1, 0, 0)]
    assert [s.start_at for s in q2.stops] == [china(2026, 4, 5)]
    assert [a.kind for a in q2.alarms] == ["missing_hour"]
    assert not q2.complete  # NOW is inside 2026Q2


def test_superseded_records_are_replaced_by_their_correction(
    engine: Engine, settings: Settings, world: World
) -> None:
    data = _report(engine, settings, world)
    gas = data.work[0]
    assert (gas.inspections.done, gas.inspections.expected) == (12, 13)
    assert gas.inspections.missed == (Window(date(2026, 1, 8), date(2026, 1, 14)),)
    corrected = [r for r in data.records if r.corrects is not None]
    assert [(r.performed_at, r.note) for r in corrected] == [(china(2026, 2, 21, 9), "更正：日期记错")]
    assert china(2026, 2, 20, 9) not in {r.performed_at for r in data.records}


def test_calibrations_comparisons_and_their_problems(
    engine: Engine, settings: Settings, world: World
) -> None:
    data = _report(engine, settings, world)
    gas, water = data.work
    assert (gas.calibrations, gas.calibrations_failed, gas.calibrations_out_of_control) == (3, 2, 1)
    assert [r.out_of_control for r in data.records if r.kind == "calibration"] == [False, False, True]
    assert (gas.comparisons.required, gas.comparisons.done) == (1, 0)
    assert (water.comparisons.required, water.comparisons.done, water.comparisons_failed) == (3, 1, 1)
    assert [p.label for p in water.comparisons.missing] == ["2026-02", "2026-03"]
    assert (water.standard_checks, water.standard_checks_failed) == (1, 0)
    assert water.inspections.done == 0 and len(water.inspections.missed) == 13
    problems = [(p.clause, p.mn, p.text) for p in data.problems]
    assert (
        "SX-18.6",
        GAS_MN,
        "比对监测缺失：2026-01..2026-03 无合格的比对监测（每季度至少一次）",
    ) in problems
    assert (
        "SX-18.6",
        WATER_MN,
        "比对监测缺失：2026-02、2026-03 无合格的比对监测（每月至少一次）",
    ) in problems
    assert ("SX-18.6", WATER_MN, "比对监测不合格 1 次") in problems
    assert ("SX-20.8", GAS_MN, "校准失控 1 次") in problems
    assert ("HJ 75-2017 §11", GAS_MN, "校准漂移超出合格范围 1 次") in problems
    missed = [p.text for p in data.problems if p.clause == "SX-20.3" and p.mn == GAS_MN]
    assert missed == ["巡检缺失：1 个巡检周期内无巡检记录（01-08~01-14）；应巡检 13 次，实际 12 次"]


def test_parameter_changes_and_details(engine: Engine, settings: Settings, world: World) -> None:
    data = _report(engine, settings, world)
    assert [(p.parameter, p.before, p.after) for p in data.parameter_changes] == [("量程", "0-200", "0-500")]
    consumable = next(r for r in data.records if r.kind == "consumable")
    assert consumable.details == "item: 滤芯；quantity: 2"
    changes = {"changes": [{"name": "斜率", "old": 1, "new": "1.02"}, {"note": "no values"}]}
    assert parameter_changes_of(changes) == [("斜率", "1", "1.02")]
    assert parameter_changes_of("not a payload") == [] and payload_details(None) == ""
    assert payload_details({"b": [1, 2], "a": {"x": "甲"}}) == 'a: {"x": "甲"}；b: [1, 2]'


def test_faults_with_their_restore_clock(engine: Engine, settings: Settings, world: World) -> None:
    data = _report(engine, settings, world)
    late, still_open = data.faults  # the fault restored in 2025 is not in the quarter
    assert late.mn == GAS_MN and late.restored_at == china(2026, 3, 12, 10)
    # 5 working days after Monday 03-02 (not counted): 03-03 … 03-09, due at 24:00 of 03-09
    assert late.restore_due_at == china(2026, 3, 10, 0) and late.restore_state == "breached"
    assert late.backup_required_state == "overdue"  # more than 24 h, no backup
    assert still_open.mn == WATER_MN and still_open.restore_state == "overdue" and still_open.state == "open"
    problems = [(p.clause, p.mn, p.text) for p in data.problems if p.clause == "SX-18.3"]
    assert problems == [
        (
            "SX-18.3",
            GAS_MN,
            f"故障 #{late.id} 恢复超时：应于 2026-03-10 00:00 前恢复，实际 2026-03-12 10:00 恢复",
        ),
        ("SX-18.3", GAS_MN, f"故障 #{late.id} 持续超过 24 小时，未及时启用备用设备或手工监测"),
        # Monday 03-30 + 5 working days: 03-31, 04-01, 04-02, 04-03, (清明 04-04..04-06 off) 04-07
        ("SX-18.3", WATER_MN, f"故障 #{still_open.id} 逾期未恢复：应于 2026-04-08 00:00 前恢复"),
        ("SX-18.3", WATER_MN, f"故障 #{still_open.id} 持续超过 24 小时，未及时启用备用设备或手工监测"),
    ]
    assert [(m.fault_id, m.value, m.unit) for m in data.manual_results] == [
        (late.id, Decimal("12.50"), "mg/m3")
    ]


def test_stops_marks_alarms_tickets(engine: Engine, settings: Settings, world: World) -> None:
    data = _report(engine, settings, world)
    assert [(s.start_at, s.state) for s in data.stops] == [(china(2026, 2, 10), "approved")]
    # in force only: the corrected calibration mark once, the withdrawn fault mark not at all
    assert [(c.code, c.name, c.count) for c in data.mark_counts] == [("calibration", "校准", 1),
                                                                     ("maintenance", "维护", 1)]  # fmt: skip
    assert [m.start_at for m in data.marks] == [china(2026, 1, 5, 8), china(2026, 2, 1, 9)]
    assert [(a.kind, a.total, a.still_open) for a in data.alarms] == [("exceedance", 1, 0), ("offline", 1, 1)]
    assert [(t.respond, t.on_site) for t in data.tickets] == [("met", "met"), ("breached", "breached")]
    s = data.ticket_summary
    assert (s.total, s.responded_on_time, s.respond_late, s.on_site_on_time, s.on_site_late) == (
        2,
        1,
        1,
        1,
        1,
    )
    assert (s.surveys, s.satisfied, s.satisfaction_percent) == (2, 1, Decimal("50.0"))
    texts = [(p.clause, p.text) for p in data.problems if p.clause in ("SX-24", "CS-4.3.3")]
    t2 = data.tickets[1].id
    assert texts == [
        ("SX-24", "本季度报警中 1 条尚未关闭"),
        ("CS-4.3.3", f"服务工单 #{t2} 响应超时"),
        ("CS-4.3.3", f"服务工单 #{t2} 到场超时"),
    ]


def test_rates_of_the_quarter(engine: Engine, settings: Settings, world: World) -> None:
    data = _report(engine, settings, world)
    assert data.rates is None and data.rates_note == RATES_NOT_COMPUTED
    rates = quarter_rates(engine, settings, [GAS_MN, WATER_MN], Q1, NOW)
    assert [r.mn for r in rates] == [GAS_MN, WATER_MN]
    gas = rates[0]
    # no hour record at all: every expected hour of the 90 days is missing
    assert gas.expected == 90 * 24 * len(settings.rates_factors_gas) and gas.valid == 0
    assert gas.effective_rate == Decimal("0.00") and "SX-30.7" in gas.flags
    with engine.connect() as conn:
        rated = gather_self_inspection(conn, settings, world.jia, Q1, NOW, rates=rates)
    assert rated.rates == rates and rated.rates_note == ""
    assert ("SX-30.7", GAS_MN, "季度有效传输率 0.00% 低于 90%") in [
        (p.clause, p.mn, p.text) for p in rated.problems
    ]
    assert quarter_rates(engine, settings, [], Q1, NOW) == ()
    assert quarter_rates(engine, settings, [GAS_MN], Quarter(2026, 3), NOW) == ()  # not begun


def test_an_enterprise_without_devices_and_an_unknown_one(
    engine: Engine, settings: Settings, world: World
) -> None:
    with engine.connect() as conn:
        yi = gather_self_inspection(conn, settings, world.yi, Q1, NOW)
        assert [d.mn for d in yi.devices] != [] and yi.operators == ()
        with pytest.raises(NotFound, match="no enterprise with id 999"):
            gather_self_inspection(conn, settings, 999, Q1, NOW)


def test_inspection_windows_and_quarters() -> None:
    windows = inspection_windows(Q1, 7)
    assert len(windows) == 13 and windows[-1] == Window(date(2026, 3, 26), date(2026, 3, 31))
    assert len(inspection_windows(Quarter(2026, 3), 7)) == 14  # 92 days
    # mid-quarter: windows begun by today are owed, only those over can be missed
    count = count_inspections(Q1, 7, [date(2026, 1, 2)], date(2026, 1, 15))
    assert (count.done, count.expected, count.missed) == (
        1,
        3,
        (Window(date(2026, 1, 8), date(2026, 1, 14)),),
    )
    with pytest.raises(ValueError, match="every_days must be at least 1, got 0"):
        inspection_windows(Q1, 0)
    assert (Q1.start, Q1.end) == (china(2026, 1, 1), china(2026, 4, 1))
    assert Q1.label_zh == "2026年第一季度" and Quarter(2026, 4).next() == Quarter(2027, 1)
    assert Q1.previous() == Quarter(2025, 4)
    with pytest.raises(InvalidInput, match="quarter must be 1, 2, 3 or 4, not 5"):
        quarter_of(2026, 5)
    with pytest.raises(InvalidInput, match=r"year must be within 2000\.\.2200, not 226"):
        quarter_of(226, 1)
