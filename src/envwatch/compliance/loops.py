"""The daily compliance run of ``envwatch serve`` (每日合规检查).

Every ``compliance_loop_every_s`` the loop asks :func:`daily_run_due`: once the China day has passed
``compliance_daily_at_hour`` (default 02:00) and no scheduled run has started since that hour, every enabled
rule runs as of now (:func:`envwatch.compliance.run.run_rules`, trigger ``schedule``). A platform that was
down at that hour therefore runs at its first round after it comes back, and only once that day.

What "ran" means is read from the store (``compliance_runs`` rows with trigger ``schedule``), not kept in
memory, so a restart does not run it twice. A scheduled run judges the moment it starts, so its ``at`` is
its start; a run that died half-way still counts for its day (its rules that finished are stored; the next
day's run, or ``envwatch compliance check``, judges again), which keeps a rule that crashes the process from
being retried every round. Two ``serve`` processes started at the same second could both run: the findings
store is idempotent, so the second run changes nothing but ``last_seen``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from envwatch.compliance.packs import RULES
from envwatch.compliance.rules import RuleSet
from envwatch.compliance.run import run_rules
from envwatch.compliance.schema import compliance_runs
from envwatch.core.clock import CHINA_TZ, to_china, utcnow
from envwatch.core.loops import every
from envwatch.core.settings import Settings


def due_at(now: datetime, settings: Settings) -> datetime:
    """Today's (China day of ``now``) scheduled hour, as an aware time."""
    day = to_china(now).date()
    return datetime(day.year, day.month, day.day, settings.compliance_daily_at_hour, tzinfo=CHINA_TZ)


def daily_run_due(last_scheduled_started_at: datetime | None, now: datetime, settings: Settings) -> bool:
    """True when the China day of ``now`` has reached the daily hour and no scheduled run started since."""
    hour = due_at(now, settings)
    if now < hour:
        return False
    return last_scheduled_started_at is None or last_scheduled_started_at < hour


def last_scheduled(engine: Engine) -> datetime | None:
    """When the newest scheduled run judged (its start)."""
    with engine.connect() as conn:
        found: datetime | None = conn.execute(
            select(func.max(compliance_runs.c.at)).where(compliance_runs.c.trigger == "schedule")
        ).scalar()
    return found


def summary(outcomes: dict[str, dict[str, Any]]) -> str:
    """One log line: rules run, findings opened / reopened / resolved, the rules that failed."""
    total = {k: sum(o.get(k, 0) for o in outcomes.values()) for k in ("opened", "reopened", "resolved")}
    failed = sorted(rule for rule, o in outcomes.items() if "error" in o)
    line = (
        f"{len(outcomes)} rules, {total['opened']} opened, {total['reopened']} reopened, "
        f"{total['resolved']} resolved"
    )
    return line + (f"; failed: {', '.join(failed)}" if failed else "")


def compliance_round(
    engine: Engine, settings: Settings, *, now: datetime | None = None, rule_set: RuleSet = RULES
) -> str | None:
    """Run every enabled rule as of ``now`` when the daily run is due; a summary line, or None when not due.
    ``now`` defaults to the clock (the loop); tests pass a past moment."""
    moment = now or utcnow()
    if not daily_run_due(last_scheduled(engine), moment, settings):
        return None
    result = run_rules(engine, settings, at=moment, trigger="schedule", by="schedule", rule_set=rule_set)
    return f"run {result.run_id} at {to_china(result.at):%Y-%m-%d %H:%M}: {summary(result.rules)}"


async def compliance_loop(engine: Engine, settings: Settings, log: logging.Logger) -> None:
    """The loop ``serve`` runs as a task: :func:`compliance_round` every ``compliance_loop_every_s``."""
    await every(
        settings.compliance_loop_every_s,
        "compliance daily run",
        lambda: compliance_round(engine, settings),
        log,
    )
