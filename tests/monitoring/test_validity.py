"""Validity of one record: device flag + marks (HJ 75-2017 §12.1, HJ 356-2019, 公告2022年第21号)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from envwatch.core.settings import Settings
from envwatch.monitoring.explain import explain_verdict
from envwatch.monitoring.marking import MarkEffect, MarkSpan
from envwatch.monitoring.validity import Outcome, value_verdict

SO2 = "a21026"
COD = "w01018"
T0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg, arg-type]


def mark(
    mark_id: int,
    effect: MarkEffect,
    start: datetime = T0,
    end: datetime = T1,
    factor: str | None = None,
    code: str = "maintenance",
    late: bool = False,
) -> MarkSpan:
    return MarkSpan(mark_id, 1, factor, start, end, code, effect, late)


def codes(verdict: object) -> list[str]:
    return [r.code for r in verdict.reasons]  # type: ignore[attr-defined]


def test_normal_flag_is_valid_and_says_why() -> None:
    verdict = value_verdict("gas", SO2, "N", [], T0, T1, settings(), value=Decimal("12.3"))
    assert verdict.outcome is Outcome.VALID and verdict.valid
    assert codes(verdict) == ["flag_normal"]


def test_missing_flag_counts_as_normal() -> None:
    assert value_verdict("gas", SO2, None, [], T0, T1, settings(), value="12.3").valid


@pytest.mark.parametrize("flag", ["C", "M", "D", "F", "B", "P", "T", "S"])
def test_default_invalid_flags_gas(flag: str) -> None:
    verdict = value_verdict("gas", SO2, flag, [], T0, T1, settings(), value=Decimal(1))
    assert verdict.outcome is Outcome.INVALID
    (reason,) = verdict.reasons
    assert (reason.code, reason.ref) == ("flag_invalid", flag)
    assert "HJ 75-2017 §12.1" in reason.source


@pytest.mark.parametrize("flag", ["C", "M", "D", "B", "T"])
def test_default_invalid_flags_water_cite_hj356(flag: str) -> None:
    verdict = value_verdict("water", COD, flag, [], T0, T1, settings(), value=Decimal(1))
    assert verdict.outcome is Outcome.INVALID
    assert "HJ 356-2019" in verdict.reasons[0].source


def test_flag_left_out_of_the_invalid_set_counts_valid_with_a_notice() -> None:
    # a province accepting over-range values after review: T removed from the set
    s = settings(invalid_flags_gas=["C", "M", "D", "F", "B", "P", "S"])
    verdict = value_verdict("gas", SO2, "T", [], T0, T1, s, value=Decimal(999))
    assert verdict.valid
    assert codes(verdict) == ["flag_counted_valid"]
    # the water set is separate and still has T
    assert not value_verdict("water", COD, "T", [], T0, T1, s, value=Decimal(999)).valid


def test_unknown_flag_is_invalid_unless_configured_otherwise() -> None:
    assert codes(value_verdict("gas", SO2, "Zz", [], T0, T1, settings(), value="1")) == ["flag_unknown"]
    lenient = settings(unknown_flags_invalid=False)
    assert value_verdict("gas", SO2, "Zz", [], T0, T1, lenient, value="1").valid


@pytest.mark.parametrize("value", [None, "", "--", "NaN", Decimal("NaN"), Decimal("Infinity")])
def test_missing_or_non_numeric_value_is_invalid(value: object) -> None:
    verdict = value_verdict("gas", SO2, "N", [], T0, T1, settings(), value=value)  # type: ignore[arg-type]
    assert verdict.outcome is Outcome.INVALID
    assert "value_missing" in codes(verdict)


def test_an_invalid_mark_decides_an_hour_only_beyond_15_minutes() -> None:
    """45 valid minutes keep an hour valid (HJ 75-2017 §3), so 15 marked minutes do not decide it; 16 do."""
    short = mark(
        17, MarkEffect.INVALID, T0 + timedelta(minutes=45), T1 + timedelta(hours=2), code="calibration"
    )
    verdict = value_verdict("gas", SO2, "N", [short], T0, T1, settings(), value="1")
    assert verdict.outcome is Outcome.VALID
    assert (verdict.reasons[-1].code, verdict.reasons[-1].ref) == (
        "mark_invalid_partial",
        "mark 17 calibration",
    )
    longer = mark(
        17, MarkEffect.INVALID, T0 + timedelta(minutes=44), T1 + timedelta(hours=2), code="calibration"
    )
    verdict = value_verdict("gas", SO2, "N", [longer], T0, T1, settings(), value="1")
    assert verdict.outcome is Outcome.INVALID
    reason = verdict.reasons[-1]
    assert (reason.code, reason.ref) == ("mark_invalid", "mark 17 calibration")
    assert "2022年第21号" in reason.source


def test_marks_are_merged_before_they_are_measured() -> None:
    """Two overlapping 10-minute marks cover 15 minutes, not 20: the hour stays valid."""
    a = mark(1, MarkEffect.INVALID, T0, T0 + timedelta(minutes=10))
    b = mark(2, MarkEffect.INVALID, T0 + timedelta(minutes=5), T0 + timedelta(minutes=15))
    assert value_verdict("gas", SO2, "N", [a, b], T0, T1, settings(), value="1").outcome is Outcome.VALID
    c = mark(3, MarkEffect.INVALID, T0 + timedelta(minutes=30), T0 + timedelta(minutes=31))
    assert value_verdict("gas", SO2, "N", [a, b, c], T0, T1, settings(), value="1").outcome is Outcome.INVALID


def test_mark_of_another_factor_or_time_does_not_apply() -> None:
    other_factor = mark(1, MarkEffect.INVALID, factor="a21002")
    before = mark(2, MarkEffect.INVALID, T0 - timedelta(hours=1), T0)  # end is exclusive
    verdict = value_verdict("gas", SO2, "N", [other_factor, before], T0, T1, settings(), value="1")
    assert verdict.valid and codes(verdict) == ["flag_normal"]


def test_exempt_marks_covering_the_whole_period_make_it_exempt_even_when_flagged() -> None:
    # two adjacent exempt marks together cover the hour; the record is also flagged F and invalid-marked
    first = mark(3, MarkEffect.EXEMPT, T0 - timedelta(hours=5), T0 + timedelta(minutes=30), code="shutdown")
    second = mark(4, MarkEffect.EXEMPT, T0 + timedelta(minutes=30), T1, code="shutdown")
    bad = mark(5, MarkEffect.INVALID, T0, T0 + timedelta(minutes=5))
    verdict = value_verdict("gas", SO2, "F", [first, second, bad], T0, T1, settings(), value="0")
    assert verdict.outcome is Outcome.EXEMPT and not verdict.valid
    assert codes(verdict) == ["flag_invalid", "mark_exempt", "mark_exempt", "mark_invalid_partial"]


def test_exempt_mark_over_part_of_the_period_only_is_noted() -> None:
    part = mark(6, MarkEffect.EXEMPT, T0 + timedelta(minutes=50), T1, code="shutdown")
    verdict = value_verdict("gas", SO2, "N", [part], T0, T1, settings(), value="1")
    assert verdict.outcome is Outcome.VALID
    assert codes(verdict) == ["flag_normal", "mark_exempt_partial"]
    most = mark(6, MarkEffect.EXEMPT, T0 + timedelta(minutes=10), T1, code="shutdown")
    assert value_verdict("gas", SO2, "N", [most], T0, T1, settings(), value="1").outcome is Outcome.EXEMPT


def test_info_mark_changes_nothing_and_late_marks_say_so() -> None:
    info = mark(7, MarkEffect.INFO, code="note", late=True)
    verdict = value_verdict("gas", SO2, "N", [info], T0, T1, settings(), value="1")
    assert verdict.valid
    assert verdict.reasons[-1].code == "mark_info"
    assert "late" in verdict.reasons[-1].text_en and "逾期" in verdict.reasons[-1].text_zh


def test_explain_verdict_is_json_ready() -> None:
    m = mark(9, MarkEffect.INVALID, code="fault")
    data = explain_verdict(value_verdict("gas", SO2, "D", [m], T0, T1, settings(), value="5"))
    assert data["valid"] is False and data["outcome"] == "invalid"
    assert [r["code"] for r in data["reasons"]] == ["flag_invalid", "mark_invalid"]
    assert set(data["reasons"][0]) == {"code", "source", "en", "zh", "ref"}
    assert "故障" in data["reasons"][0]["zh"]
