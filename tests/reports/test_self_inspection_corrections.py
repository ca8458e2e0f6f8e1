"""The quarterly self-inspection report (SX-18.7) reports only the current manual monitoring results: a
corrected result with its corrected value, a withdrawn one not at all (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, select

from envwatch.core.settings import Settings
from envwatch.operations.faults_schema import manual_results
from envwatch.operations.manual_results import ManualResultIn, correct_manual_result
from envwatch.reports.quarters import Quarter
from envwatch.reports.self_inspection import gather_self_inspection
from tests.reports.self_inspection_world import NOW, build_world, china, fault, manual_result


def test_corrected_and_withdrawn_results_in_the_report(engine: Engine, settings: Settings) -> None:
    w = build_world(engine)
    with engine.begin() as conn:
        late = fault(
            conn, w, "gas", china(2026, 3, 2, 10), restored_at=china(2026, 3, 12, 10), backup_kind="manual",
            backup_started_at=china(2026, 3, 3, 8), backup_ended_at=china(2026, 3, 11, 8),
        )  # fmt: skip
        for day, value in ((3, "12.50"), (4, "13.10"), (5, "11.00")):
            manual_result(conn, w, late, china(2026, 3, day, 9), value)
        first, second, _third = conn.execute(
            select(manual_results.c.id).order_by(manual_results.c.sampled_at)
        ).scalars()
        fixed = ManualResultIn(
            factor="a21026", sampled_at=china(2026, 3, 4, 9), value="31.10", unit="mg/m3", agency="太原检测",
            report_no="TY-001",
        )  # fmt: skip
        correct_manual_result(conn, second, fixed, reason="31.10 误录为 13.10", by="zhang", now=NOW)
        correct_manual_result(conn, first, None, reason="不是本排口的样品", by="zhang", now=NOW)
    with engine.connect() as conn:
        data = gather_self_inspection(conn, settings, w.jia, Quarter(2026, 1), NOW)
    assert [(m.sampled_at, m.value) for m in data.manual_results] == [
        (china(2026, 3, 4, 9), Decimal("31.10")),
        (china(2026, 3, 5, 9), Decimal("11.00")),
    ]
