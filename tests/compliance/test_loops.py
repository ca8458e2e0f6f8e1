"""The daily compliance run (compliance.loops): due once per China day after the configured hour, at once
when that hour passed without a scheduled run, never twice a day; China days, not UTC days."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from envwatch.compliance.loops import compliance_loop, compliance_round, daily_run_due, due_at
from envwatch.compliance.run import run_rules
from envwatch.compliance.schema import compliance_runs
from envwatch.core.clock import CHINA_TZ
from envwatch.core.settings import Settings
from tests.compliance.world_findings import Board, about, build_world, rule_set_of


def china(y: int, m: int, d: int, h: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=CHINA_TZ)


def at_hour(settings: Settings, hour: int) -> Settings:
    return settings.model_copy(update={"compliance_daily_at_hour": hour})


def test_not_due_before_the_hour(settings: Settings) -> None:
    s = at_hour(settings, 2)
    assert not daily_run_due(None, china(2026, 10, 20, 1, 59), s)
    assert not daily_run_due(None, china(2026, 10, 20, 0, 0), s)  # just after China midnight


def test_due_at_the_hour_and_after_when_nothing_ran_today(settings: Settings) -> None:
    s = at_hour(settings, 2)
    assert daily_run_due(None, china(2026, 10, 20, 2, 0), s)
    yesterday = china(2026, 10, 19, 2, 5)
    assert daily_run_due(yesterday, china(2026, 10, 20, 2, 0), s)
    # the platform was down at 02:00: it runs at its first round after, the same day
    assert daily_run_due(yesterday, china(2026, 10, 20, 23, 59), s)
    # a run started today before the hour (e.g. 01:30 after yesterday's hour) does not count for today
    assert daily_run_due(china(2026, 10, 20, 1, 30), china(2026, 10, 20, 2, 0), s)


def test_not_twice_a_day(settings: Settings) -> None:
    s = at_hour(settings, 2)
    ran = china(2026, 10, 20, 2, 0)
    assert not daily_run_due(ran, china(2026, 10, 20, 2, 10), s)
    assert not daily_run_due(ran, china(2026, 10, 20, 23, 59), s)
    assert not daily_run_due(ran, china(2026, 10, 21, 1, 59), s)  # next day, before its hour
    assert daily_run_due(ran, china(2026, 10, 21, 2, 0), s)


def test_china_days_not_utc_days(settings: Settings) -> None:
    """China midnight is 16:00 UTC: a run at 23:30 China time (15:30 UTC) is still that China day."""
    s = at_hour(settings, 23)
    ran = datetime(2026, 10, 20, 15, 30, tzinfo=UTC)  # 2026-10-20 23:30 China time
    assert due_at(ran, s) == china(2026, 10, 20, 23)
    assert not daily_run_due(ran, datetime(2026, 10, 20, 15, 50, tzinfo=UTC), s)
    # 00:10 China time next day (16:10 UTC, the same UTC day): before that day's 23:00, so not due
    assert not daily_run_due(ran, datetime(2026, 10, 20, 16, 10, tzinfo=UTC), s)
    assert daily_run_due(ran, china(2026, 10, 21, 23, 0), s)
    midnight = at_hour(settings, 0)
    assert daily_run_due(china(2026, 10, 20, 23, 59), china(2026, 10, 21, 0, 0), midnight)


def test_compliance_round_runs_once_per_day(engine: Engine, settings: Settings) -> None:
    world = build_world(engine)
    board = Board(found={"TX-1-A": [about(world, "a", "k1")]})
    rules, s = rule_set_of(board), at_hour(settings, 2)
    assert compliance_round(engine, s, now=china(2026, 10, 20, 1, 0), rule_set=rules) is None
    line = compliance_round(engine, s, now=china(2026, 10, 20, 2, 5), rule_set=rules)
    assert line is not None and "3 rules, 1 opened, 0 reopened, 0 resolved" in line
    assert compliance_round(engine, s, now=china(2026, 10, 20, 9, 0), rule_set=rules) is None
    # an on-demand run does not stand in for the scheduled one
    run_rules(engine, s, at=china(2026, 10, 21, 3, 0), rule_set=rules)
    board.fail.add("TX-1-B")
    line = compliance_round(engine, s, now=china(2026, 10, 21, 3, 5), rule_set=rules)
    assert line is not None and line.endswith("failed: TX-1-B")
    with engine.connect() as conn:
        rows = conn.execute(
            select(compliance_runs.c.trigger, compliance_runs.c.run_by).order_by(compliance_runs.c.id)
        )
        assert [tuple(r) for r in rows] == [
            ("schedule", "schedule"),
            ("demand", "system"),
            ("schedule", "schedule"),
        ]


def test_the_loop_runs_a_round_and_keeps_going(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The real loop with the real rule packs: one round (due: nothing ran yet, unless before the hour),
    then cancelled while it sleeps.

    It waits for the round's log line, not for the run's ``finished_at``: the row is stored by the round's
    thread before the loop gets the result back and logs it, so cancelling on the row raced with the log."""
    s = settings.model_copy(update={"compliance_daily_at_hour": 0, "compliance_loop_every_s": 3600.0})
    log = logging.getLogger("test.compliance")

    def logged() -> bool:
        return any("compliance daily run" in r.getMessage() for r in caplog.records)

    async def one_round() -> None:
        task = asyncio.create_task(compliance_loop(engine, s, log))
        for _ in range(600):
            await asyncio.sleep(0.05)
            if logged():
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.INFO, logger="test.compliance"):
        asyncio.run(one_round())
    with engine.connect() as conn:
        (trigger,) = conn.execute(select(compliance_runs.c.trigger)).scalars().all()
    assert trigger == "schedule"
    assert logged()


def test_due_at_is_in_china_time(settings: Settings) -> None:
    s = at_hour(settings, 2)
    assert due_at(datetime(2026, 10, 20, 17, 0, tzinfo=UTC), s) == china(2026, 10, 21, 2)
    assert due_at(datetime(2026, 10, 20, 15, 0, tzinfo=UTC), s) - china(2026, 10, 20, 2) == timedelta(0)
