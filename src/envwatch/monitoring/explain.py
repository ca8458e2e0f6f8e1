"""Why a value, hour or day is valid or not, as JSON-ready dicts for the API (数据有效性说明).

Decimals become strings (exact, as the API shows measured values); times ISO 8601.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from envwatch.monitoring.conversions import Converted
from envwatch.monitoring.validity import CrossCheck, DayResult, HourResult, Reason, Verdict


def _number(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def explain_reasons(reasons: tuple[Reason, ...]) -> list[dict[str, str | None]]:
    return [
        {"code": r.code, "source": r.source, "en": r.text_en, "zh": r.text_zh, "ref": r.ref} for r in reasons
    ]


def explain_verdict(verdict: Verdict) -> dict[str, Any]:
    """One record: ``{"valid", "outcome", "reasons": [{code, source, en, zh, ref}]}``."""
    return {
        "valid": verdict.valid,
        "outcome": str(verdict.outcome),
        "reasons": explain_reasons(verdict.reasons),
    }


def explain_hour(hour: HourResult) -> dict[str, Any]:
    """An hour built from minutes: the verdict plus its value, statistics and counts."""
    return {
        "factor": hour.factor,
        "start": hour.start.isoformat(),
        "valid": hour.valid,
        "outcome": str(hour.outcome),
        "value": _number(hour.value),
        "min": _number(hour.minimum),
        "max": _number(hour.maximum),
        "cou": _number(hour.cou),
        "flag": hour.flag,
        "n_received": hour.n_received,
        "n_valid": hour.n_valid,
        "n_exempt": hour.n_exempt,
        "valid_minutes": hour.valid_minutes,
        "reasons": explain_reasons(hour.reasons),
    }


def explain_day(day: DayResult) -> dict[str, Any]:
    return {
        "factor": day.factor,
        "valid": day.valid,
        "outcome": str(day.outcome),
        "value": _number(day.value),
        "method": day.method,
        "min": _number(day.minimum),
        "max": _number(day.maximum),
        "n_hours": day.n_hours,
        "n_valid": day.n_valid,
        "n_exempt": day.n_exempt,
        "reasons": explain_reasons(day.reasons),
    }


def explain_cross_check(check: CrossCheck) -> dict[str, Any]:
    return {
        "device_value": _number(check.device_value),
        "computed_value": _number(check.computed_value),
        "difference": _number(check.difference),
        "relative_pct": _number(check.relative_pct),
        "within": check.within,
        "reasons": explain_reasons((check.reason,)),
    }


def explain_converted(converted: Converted) -> dict[str, Any]:
    return {"value": _number(converted.value), "reasons": explain_reasons(converted.reasons)}
