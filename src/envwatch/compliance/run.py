"""Running the rules (合规检查): ``envwatch compliance check``, the daily run of ``serve``, the API.

:func:`run_rules` judges the store as of ``at`` (default now) with every enabled rule, or the ones asked
for. Each rule evaluates and stores its findings in its own transaction, so one rule's error (logged and
recorded on the run, with the rule named) neither loses the others' findings nor leaves half of its own.
The run itself is a ``compliance_runs`` row: inserted first (its id goes on the events it causes),
completed at the end and then logged as evidence (``compliance_run``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, insert, update

from envwatch.compliance.findings import apply_found
from envwatch.compliance.packs import RULES
from envwatch.compliance.rules import Rule, RuleContext, RuleSet
from envwatch.compliance.schema import compliance_runs
from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput
from envwatch.core.evidence import submit_row
from envwatch.core.settings import Settings
from envwatch.core.workdays import WorkdayCalendar

log = logging.getLogger(__name__)
Trigger = Literal["schedule", "demand"]


@dataclass
class RunResult:
    run_id: int
    at: datetime
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any("error" in outcome for outcome in self.rules.values())

    @property
    def open_findings(self) -> int:
        return sum(
            o.get("opened", 0) + o.get("reopened", 0) + o.get("still_open", 0) for o in self.rules.values()
        )


def chosen_rules(rule_set: RuleSet, settings: Settings, rule_ids: Sequence[str] | None) -> list[Rule]:
    """The rules of a run: those asked for (each must exist; a rule switched off is refused by name), or
    every enabled one."""
    if not rule_ids:
        return [rule for rule in rule_set if rule.enabled(settings)]
    chosen = [rule_set.get(rule_id) for rule_id in dict.fromkeys(rule_ids)]
    off = [rule.id for rule in chosen if not rule.enabled(settings)]
    if off:
        raise InvalidInput(f"rule(s) {', '.join(off)} are switched off (ENVWATCH_COMPLIANCE_RULES_OFF)")
    return chosen


def run_rules(
    engine: Engine,
    settings: Settings,
    *,
    at: datetime | None = None,
    rule_ids: Sequence[str] | None = None,
    trigger: Trigger = "demand",
    by: str = "system",
    rule_set: RuleSet = RULES,
    progress: Callable[[Rule, dict[str, Any]], None] | None = None,
) -> RunResult:
    """Run the rules as of ``at`` and store their findings; see the module docstring."""
    started = utcnow()
    moment = at or started
    if moment.tzinfo is None:
        raise InvalidInput("the moment judged needs a time zone")
    if moment > started:
        raise InvalidInput(f"cannot judge a moment in the future ({moment.isoformat()})")
    rule_set.check_settings(settings)
    rules = chosen_rules(rule_set, settings, rule_ids)
    calendar = WorkdayCalendar.from_settings(settings)
    with engine.begin() as conn:
        run_id = int(
            conn.execute(
                insert(compliance_runs).values(
                    at=moment, started_at=started, trigger=trigger, rules={}, run_by=by
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
    result = RunResult(run_id=run_id, at=moment)
    for rule in rules:
        try:
            # judged on a connection of its own, stored in a fresh transaction: on SQLite a read
            # transaction that later writes fails if another connection (the rates' day-count refresh)
            # wrote in between
            with engine.connect() as conn:
                ctx = RuleContext(conn, engine, settings, moment, calendar, rule.resolved_params(settings))
                items = list(rule.evaluate(ctx))
                window = rule.judges(ctx) if rule.judges is not None else None
            with engine.begin() as conn:
                outcome: dict[str, Any] = apply_found(
                    conn, rule, items, at=moment, now=utcnow(), run_id=run_id, by=by, window=window
                ).as_dict()
        except Exception as exc:  # one rule's failure is recorded; the others still run
            log.exception("compliance rule %s failed", rule.id)
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
        result.rules[rule.id] = outcome
        if progress is not None:
            progress(rule, outcome)
    with engine.begin() as conn:
        conn.execute(
            update(compliance_runs)
            .where(compliance_runs.c.id == run_id)
            .values(finished_at=utcnow(), rules=result.rules, ok=result.ok)
        )
        submit_row(conn, compliance_runs, run_id, kind="compliance_run", now=utcnow())
    return result
