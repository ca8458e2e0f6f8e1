"""Judging one rule in a test: what it finds at a moment, with parameter overrides given through the settings
the way a province gives them (``ENVWATCH_COMPLIANCE_PARAMS``), and the findings stored for it. Shared by the
tests of every rule pack."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from envwatch.compliance.packs import RULES
from envwatch.compliance.rules import Found, RuleContext
from envwatch.compliance.schema import findings
from envwatch.core.settings import Settings
from envwatch.core.workdays import WorkdayCalendar


def with_params(settings: Settings, rule_id: str, **params: Any) -> Settings:
    """The settings with ``ENVWATCH_COMPLIANCE_PARAMS`` = {rule_id: params}."""
    return settings.model_copy(update={"compliance_params": {rule_id: params}})


def judge(engine: Engine, settings: Settings, rule_id: str, at: datetime, **params: Any) -> list[Found]:
    """What ``rule_id`` finds at ``at`` (nothing stored); ``params`` override its parameters."""
    rule = RULES.get(rule_id)
    cfg = with_params(settings, rule_id, **params) if params else settings
    with engine.connect() as conn:
        ctx = RuleContext(
            conn, engine, cfg, at, WorkdayCalendar.from_settings(cfg), rule.resolved_params(cfg)
        )
        return list(rule.evaluate(ctx))


def stored_rows(engine: Engine, rule_id: str) -> list[dict[str, Any]]:
    """The stored findings of a rule, ordered by key."""
    with engine.connect() as conn:
        rows = conn.execute(select(findings).where(findings.c.rule == rule_id).order_by(findings.c.key))
        return [dict(r) for r in rows.mappings()]
