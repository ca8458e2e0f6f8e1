"""A rule that judges a span of time (``Rule.judges``) resolves only the findings inside that span: findings
of earlier quarters or outside the lookback stay as they are (issue 9, compliance.findings)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from envwatch.compliance.rules import (
    Found,
    Rule,
    RuleContext,
    build_rule_set,
    last_quarter,
    lookback,
    month_before,
    quarter_before,
)
from envwatch.compliance.run import run_rules
from envwatch.compliance.schema import findings
from envwatch.core.settings import Settings
from envwatch.registry import service_operators as ops
from envwatch.registry.models import OperatorIn

AT_Q2 = datetime(2026, 7, 5, 4, 0, tzinfo=UTC)  # 12:00 China time, 2026-07-05: last quarter 2026Q2
AT_Q3 = datetime(2026, 10, 5, 4, 0, tzinfo=UTC)  # last quarter 2026Q3


def test_periods_before_a_moment_follow_the_china_calendar() -> None:
    # 2026-09-30 17:00 UTC is already 2026-10-01 01:00 in China: Q3 is complete
    assert quarter_before(datetime(2026, 9, 30, 17, 0, tzinfo=UTC)) == (date(2026, 7, 1), date(2026, 9, 30))
    assert quarter_before(datetime(2026, 9, 30, 15, 0, tzinfo=UTC)) == (date(2026, 4, 1), date(2026, 6, 30))
    assert quarter_before(AT_Q3) == (date(2026, 7, 1), date(2026, 9, 30))
    assert month_before(datetime(2026, 3, 10, tzinfo=UTC)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert month_before(datetime(2026, 1, 10, tzinfo=UTC)) == (date(2025, 12, 1), date(2025, 12, 31))


def _operator(engine: Engine) -> int:
    with engine.begin() as conn:
        row = ops.create_operator(
            conn,
            OperatorIn(name="运维甲", credit_code="91330100MA27XY1235"),
            datetime(2026, 1, 1, tzinfo=UTC),
        )
    return int(row["id"])


def _rules(operator_id: int) -> Any:
    """Two rules finding the operator in the quarter judged only while ``bad`` names that quarter."""
    bad: set[str] = set()

    def quarterly(ctx: RuleContext) -> Iterator[Found]:
        first, _last = quarter_before(ctx.at)
        name = f"{first.year}Q{(first.month - 1) // 3 + 1}"
        if name in bad:
            start, end = last_quarter(ctx)
            yield Found(
                key=f"operator:{operator_id}:{name}",
                subject_kind="operator",
                subject_id=operator_id,
                operator_id=operator_id,
                message=f"bad in {name}",
                period_start=start,
                period_end=end,
            )

    def recent(ctx: RuleContext) -> Iterator[Found]:
        if "event" in bad and ctx.at - EVENT <= timedelta(days=ctx["days"]):
            yield Found(
                key=f"event:{operator_id}",
                subject_kind="operator",
                subject_id=operator_id,
                operator_id=operator_id,
                message="an event",
                period_start=EVENT,
            )

    from envwatch.compliance.rules import Param

    rule_set = build_rule_set(
        [
            (
                "test",
                [
                    Rule(
                        "T-1-Q",
                        "T-1",
                        "quarterly",
                        "季度",
                        "operator",
                        "none",
                        quarterly,
                        judges=last_quarter,
                    ),
                    Rule(
                        "T-2-LB",
                        "T-2",
                        "lookback",
                        "回溯",
                        "operator",
                        "none",
                        recent,
                        params=(Param("days", "lookback", default=30),),
                        judges=lookback("days"),
                    ),
                ],
            )
        ]
    )
    return rule_set, bad


EVENT = datetime(2026, 9, 20, 4, 0, tzinfo=UTC)


def _states(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {r.key: r.state for r in conn.execute(select(findings.c.key, findings.c.state))}


def test_a_finding_of_an_earlier_quarter_is_not_resolved_by_the_next_quarters_run(
    engine: Engine, settings: Settings
) -> None:
    operator_id = _operator(engine)
    rule_set, bad = _rules(operator_id)
    bad.add("2026Q2")
    run_rules(engine, settings, at=AT_Q2, rule_ids=["T-1-Q"], rule_set=rule_set)
    assert _states(engine) == {f"operator:{operator_id}:2026Q2": "open"}
    # next quarter: Q3 was fine; the rule did not look at Q2 again, so Q2's finding stays open
    run_rules(engine, settings, at=AT_Q3, rule_ids=["T-1-Q"], rule_set=rule_set)
    assert _states(engine) == {f"operator:{operator_id}:2026Q2": "open"}
    # a re-run at a moment judging Q2 that no longer finds it (data corrected) resolves it
    bad.clear()
    run_rules(engine, settings, at=AT_Q2 + timedelta(days=1), rule_ids=["T-1-Q"], rule_set=rule_set)
    assert _states(engine) == {f"operator:{operator_id}:2026Q2": "resolved"}


def test_a_finding_that_left_the_lookback_stays_as_it_is(engine: Engine, settings: Settings) -> None:
    operator_id = _operator(engine)
    rule_set, bad = _rules(operator_id)
    bad.add("event")
    run_rules(engine, settings, at=EVENT + timedelta(days=1), rule_ids=["T-2-LB"], rule_set=rule_set)
    assert _states(engine) == {f"event:{operator_id}": "open"}
    # 40 days on, the event is outside the 30-day lookback: not found, and not resolved either
    run_rules(engine, settings, at=EVENT + timedelta(days=40), rule_ids=["T-2-LB"], rule_set=rule_set)
    assert _states(engine) == {f"event:{operator_id}": "open"}
    # inside the lookback and no longer found (explained): resolved
    bad.clear()
    run_rules(engine, settings, at=EVENT + timedelta(days=2), rule_ids=["T-2-LB"], rule_set=rule_set)
    assert _states(engine) == {f"event:{operator_id}": "resolved"}
