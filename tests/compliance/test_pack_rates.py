"""Rule pack ``rates`` (SX-30.7-Q, SX-30.6-M, CS-4.3.2.1-95) on the real stores, SQLite and PostgreSQL.

The registry is ``tests/operations/faults_world`` and the hour data ``tests/reports/month_world``, judged on
2025-10-20 12:00 China time: the last complete quarter is 2025Q3, the last complete month 2025-09.

- GAS (SO2, NOx) sends every hour of July–September: ~99.9 %; GAS2 (SO2) only July: 742 valid of 2208
  expected hours, 33.61 %; WATER (COD) every hour of the quarter;
- B (乙, no operator) is under an approved production stop over the whole quarter: nothing expected, not
  judged; LOOSE is on no outlet: not judged.
- 运维甲 runs GAS, GAS2 and WATER: its quarter is below 95 %.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from envwatch.compliance.rules import Link
from envwatch.compliance.run import run_rules
from envwatch.compliance.schema import findings
from envwatch.core.settings import Settings
from envwatch.operations.faults import open_fault, record_event
from envwatch.operations.production_stops import decide, submit_stop
from tests.compliance.world_faults import add_hours, judge, with_params
from tests.operations.faults_world import COD, NOX, SO2, FaultWorld, build, cst
from tests.reports.month_world import add_month

AT = cst(2025, 10, 20, 12)
Q3 = (date(2025, 7, 1), date(2025, 8, 1), date(2025, 9, 1))
DAY = timedelta(days=1)


@pytest.fixture
def world(engine: Engine) -> FaultWorld:
    w = build(engine, cst(2025, 6, 1))  # registered before the quarter judged
    with engine.begin() as conn:
        for month in Q3:
            add_month(conn, w.devices["gas"], month, factors=(SO2, NOX))
            add_month(conn, w.devices["water"], month, factors=(COD,))
        add_month(conn, w.devices["gas2"], Q3[0], factors=(SO2,))
        before = cst(2025, 6, 30)
        stop = submit_stop(
            conn, enterprise_id=w.yi, outlet_id=w.outlets["gas_b"], start_at=cst(2025, 7, 1),
            end_at=cst(2025, 10, 1), reason="检修停产", by="ent1", now=before,
        )  # fmt: skip
        decide(conn, stop["id"], approve=True, comment="", by="reg1", now=before + timedelta(hours=1))
    return w


def _faults(engine: Engine, w: FaultWorld, device: str, starts: list[datetime]) -> list[int]:
    ids = []
    for start in starts:
        with engine.begin() as conn:
            fault = open_fault(
                conn, device_id=w.devices[device], started_at=start, description="采样泵故障",
                factors=[SO2], opened_by="op1", now=AT,
            )  # fmt: skip
            record_event(conn, fault["id"], event="restored", at=start + DAY, by="op1", now=AT)
            ids.append(int(fault["id"]))
    return ids


def _stored(engine: Engine, rule: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(findings.c.key, findings.c.state).where(findings.c.rule == rule))
        return sorted((r.key, r.state) for r in rows)


def test_quarterly_rate_below_90_is_a_device_finding(
    engine: Engine, settings: Settings, world: FaultWorld
) -> None:
    [found] = judge(engine, settings, "SX-30.7-Q", AT)
    gas2 = world.devices["gas2"]
    assert found.key == f"device:{gas2}:2025Q3"
    assert (found.subject_kind, found.subject_id, found.device_id) == ("device", gas2, gas2)
    assert (found.outlet_id, found.enterprise_id, found.operator_id) == (
        world.outlets["gas_a"],
        world.jia,
        world.operator,
    )
    assert (found.period_start, found.period_end) == (cst(2025, 7, 1), cst(2025, 10, 1))
    assert found.evidence == (
        Link("rate", "device:010000A8900016F0020A0002:2025-07-01..2025-09-30", "33.61 %"),
    )
    assert found.message == (
        "device 010000A8900016F0020A0002 effective transmission rate 33.61 % in 2025Q3 (742 valid of 2208 "
        "expected hours) < 90 % (季度有效传输率低于90%)"
    )


def test_quarterly_line_is_a_parameter(engine: Engine, settings: Settings, world: FaultWorld) -> None:
    assert judge(engine, with_params(settings, {"SX-30.7-Q": {"min_pct": 30}}), "SX-30.7-Q", AT) == []
    # judged a quarter earlier (2025Q2): nothing was sent at all, but the devices were registered on
    # 2025-06-01, within that quarter: a device is judged from its first complete quarter on
    assert judge(engine, settings, "SX-30.7-Q", cst(2025, 7, 15)) == []


def test_a_device_is_judged_from_its_first_complete_quarter(engine: Engine, settings: Settings) -> None:
    w = build(engine, cst(2025, 3, 31, 23))  # registered before 2025Q2 began
    # nothing was sent in 2025Q2: every device owing hours is below the line (B's stop began in Q3)
    keys = {f.key for f in judge(engine, settings, "SX-30.7-Q", cst(2025, 7, 15))}
    assert keys == {f"device:{w.devices[d]}:2025Q2" for d in ("gas", "gas2", "water", "b")}


def test_monthly_rate_with_three_faults(engine: Engine, settings: Settings, world: FaultWorld) -> None:
    assert judge(engine, settings, "SX-30.6-M", AT) == []  # GAS2 sent nothing in September, but no faults
    starts = [cst(2025, 9, 2, 8), cst(2025, 9, 10, 8), cst(2025, 9, 30, 20)]
    ids = _faults(engine, world, "gas2", starts[:2])
    assert judge(engine, settings, "SX-30.6-M", AT) == []  # two faults are not three
    _faults(engine, world, "gas", starts)  # three faults on GAS, whose rate is fine: no finding
    ids += _faults(engine, world, "gas2", starts[2:])  # the third (restored in October) overlaps September
    [found] = judge(engine, settings, "SX-30.6-M", AT)
    gas2 = world.devices["gas2"]
    assert (found.key, found.subject_id, found.operator_id) == (
        f"device:{gas2}:2025-09",
        gas2,
        world.operator,
    )
    assert found.evidence == (
        Link("rate", "device:010000A8900016F0020A0002:2025-09-01..2025-09-30", "0.00 %"),
        *(Link("fault", str(i)) for i in ids),
    )
    assert found.message == (
        "device 010000A8900016F0020A0002 effective transmission rate 0.00 % in 2025-09 (0 valid of 720 "
        "expected hours) < 90 % with 3 faults (≥ 3): not guaranteeing normal operation (未保证正常运行)"
    )
    assert judge(engine, with_params(settings, {"SX-30.6-M": {"min_faults": 4}}), "SX-30.6-M", AT) == []


def test_operator_rate_below_95(engine: Engine, settings: Settings, world: FaultWorld) -> None:
    [found] = judge(engine, settings, "CS-4.3.2.1-95", AT)
    assert found.key == f"operator:{world.operator}:2025Q3"
    assert (found.subject_kind, found.subject_id, found.operator_id) == (
        "operator",
        world.operator,
        world.operator,
    )
    assert found.device_id is None and found.enterprise_id is None
    assert found.evidence[0] == Link("operator", str(world.operator), "运维甲")
    assert found.evidence[1].ref == f"operator:{world.operator}:2025-07-01..2025-09-30"
    assert "< 95 % (运维有效传输率低于认证要求95%)" in found.message
    lower = with_params(settings, {"CS-4.3.2.1-95": {"min_pct": "80"}})
    assert judge(engine, lower, "CS-4.3.2.1-95", AT) == []


def test_run_is_idempotent_and_a_fixed_rate_resolves(
    engine: Engine, settings: Settings, world: FaultWorld
) -> None:
    rules = ["SX-30.7-Q", "CS-4.3.2.1-95"]
    first = run_rules(engine, settings, at=AT, rule_ids=rules)
    assert (
        first.ok and first.rules["SX-30.7-Q"]["opened"] == 1 and first.rules["CS-4.3.2.1-95"]["opened"] == 1
    )
    again = run_rules(engine, settings, at=AT, rule_ids=rules)
    assert [again.rules[r]["opened"] for r in rules] == [0, 0]
    assert [again.rules[r]["still_open"] for r in rules] == [1, 1]
    gas2 = world.devices["gas2"]
    assert _stored(engine, "SX-30.7-Q") == [(f"device:{gas2}:2025Q3", "open")]
    # GAS2's August and September arrive late (补传): the quarter is fine now
    with engine.begin() as conn:
        add_hours(conn, gas2, cst(2025, 8, 1), cst(2025, 10, 1), (SO2,), received_at=AT - timedelta(hours=1))
    fixed = run_rules(engine, settings, at=AT, rule_ids=rules)
    assert [fixed.rules[r]["resolved"] for r in rules] == [1, 1]
    assert _stored(engine, "SX-30.7-Q") == [(f"device:{gas2}:2025Q3", "resolved")]
    assert _stored(engine, "CS-4.3.2.1-95") == [(f"operator:{world.operator}:2025Q3", "resolved")]
