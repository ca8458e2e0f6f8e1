"""Mark rules (标记规则), pure: code table, flags, validation, lateness (both deadline rules), effect."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.core.settings import Settings
from envwatch.monitoring.marking import MarkEffect
from envwatch.monitoring.marks import (
    MarkDraft,
    MarkPolicy,
    check_can_change,
    code_for_flag,
    effect_in_force,
    is_late,
    mark_code,
    mark_codes,
    marking_deadline,
    validate_draft,
)

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
POLICY = MarkPolicy()


def china(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ).astimezone(UTC)  # type: ignore[misc]


def draft(**kw: object) -> MarkDraft:
    base: dict[str, object] = {
        "factor": "a21026",
        "start": NOW - timedelta(hours=3),
        "end": NOW - timedelta(hours=1),
        "code": "maintenance",
        "reason": "更换探头滤芯",
        "source": "operator",
    }
    base.update(kw)
    return MarkDraft(**base)  # type: ignore[arg-type]


def test_required_codes_and_effects() -> None:
    expected = {
        "shutdown": ("exempt", True),
        "no_discharge": ("exempt", True),
        "startup": ("invalid", False),
        "shutdown_process": ("invalid", False),
        "fault": ("invalid", False),
        "maintenance": ("invalid", False),
        "calibration": ("invalid", False),
        "standard_check": ("invalid", False),
        "loss_of_control": ("invalid", False),
        "over_range": ("invalid", False),
        "comm_failure": ("invalid", False),
        "note": ("info", False),
    }
    for code, (effect, review) in expected.items():
        entry = mark_code(code)
        assert (entry.effect.value, entry.needs_review) == (effect, review), code
        assert entry.name_zh and entry.source
    assert mark_code("shutdown").name_zh == "停运"


@pytest.mark.parametrize(
    ("flag", "code"),
    [
        ("F", "instrument_stopped"),
        ("M", "maintenance"),
        ("D", "fault"),
        ("C", "calibration"),
        ("T", "over_range"),
        ("B", "comm_failure"),
        ("S", "manual_value"),
        ("P", "power_failure"),
        ("d", "fault"),
        ("N", None),
        ("", None),
        ("X", None),
    ],
)
def test_code_for_flag(flag: str, code: str | None) -> None:
    assert code_for_flag(flag) == code


def test_every_hj212_flag_but_normal_has_a_code() -> None:
    # the flag table is the other data file: a new flag there must get a mark code here
    text = resources.files("envwatch.hj212").joinpath("data/data_flags.json").read_text("utf-8")
    flags = {f["flag"] for f in json.loads(text)["flags"]} - {"N"}
    assert {f: code_for_flag(f) for f in flags if code_for_flag(f) is None} == {}
    # a device's F (instrument stopped) must never exempt by itself: only an approved 停运 mark does
    assert mark_code("instrument_stopped").effect is MarkEffect.INVALID


def test_unknown_code_is_refused_with_the_list() -> None:
    with pytest.raises(InvalidInput, match=r"unknown mark code 'stop'.*shutdown"):
        validate_draft(draft(code="stop"), now=NOW, policy=POLICY)


def test_valid_draft_is_normalised() -> None:
    d = validate_draft(draft(factor=" a21026 ", reason="  检修  "), now=NOW, policy=POLICY)
    assert (d.factor, d.reason) == ("a21026", "检修")
    assert validate_draft(draft(factor=""), now=NOW, policy=POLICY).factor is None
    start = datetime(2026, 11, 22, 9, 0, tzinfo=CHINA_TZ)
    d = validate_draft(draft(start=start, end=start + timedelta(hours=1)), now=NOW, policy=POLICY)
    assert d.start.tzinfo is UTC and d.start.hour == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end": NOW - timedelta(hours=3)}, "must be before its end"),
        ({"end": NOW - timedelta(hours=4)}, "must be before its end"),
        ({"start": NOW - timedelta(days=32)}, "at most 31 days"),
        ({"end": NOW + timedelta(days=7, seconds=1)}, "at most 7 days ahead"),
        ({"factor": "a21026;drop"}, "not an HJ 212 pollutant code"),
        ({"factor": "x"}, "not an HJ 212 pollutant code"),
        ({"reason": "   "}, "needs a reason"),
        ({"reason": "x" * 2001}, "at most 2000"),
        ({"source": "robot"}, "source must be one of"),
        ({"start": datetime(2026, 11, 22, 0, 0)}, "time zone"),
    ],
)
def test_invalid_drafts(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_draft(draft(**change), now=NOW, policy=POLICY)


def test_limits_at_their_edges_are_accepted() -> None:
    validate_draft(draft(start=NOW - timedelta(days=31), end=NOW), now=NOW, policy=POLICY)
    validate_draft(draft(start=NOW, end=NOW + timedelta(days=7)), now=NOW, policy=POLICY)
    with pytest.raises(InvalidInput):
        validate_draft(
            draft(start=NOW, end=NOW + timedelta(seconds=1)),
            now=NOW,
            policy=MarkPolicy(max_future=timedelta(0)),
        )


def test_late_days_after_end() -> None:
    end = china(2026, 11, 1, 8, 0)
    assert marking_deadline(end, POLICY) == china(2026, 11, 11, 8, 0)
    assert not is_late(end, end + timedelta(days=10), POLICY)  # exactly at the deadline: on time
    assert is_late(end, end + timedelta(days=10, microseconds=1), POLICY)
    assert not is_late(end, end - timedelta(days=1), POLICY)  # marked in advance
    assert is_late(end, end + timedelta(days=4), MarkPolicy(deadline_days=3))


def test_late_day_of_next_month_in_china_time() -> None:
    policy = MarkPolicy(deadline_rule="day_of_next_month")
    # a range ending 2026-10-31 23:00 China time belongs to October: deadline the end of 10 November
    end = china(2026, 10, 31, 23, 0)
    assert marking_deadline(end, policy) == china(2026, 11, 11, 0, 0)
    assert not is_late(end, china(2026, 11, 10, 23, 59, 59), policy)
    assert is_late(end, china(2026, 11, 11, 0, 0), policy)
    # end-exclusive: ending at midnight 1 November China time (16:00 UTC on 31 October) is still October
    assert marking_deadline(china(2026, 11, 1, 0, 0), policy) == china(2026, 11, 11, 0, 0)
    # one minute into November (China) moves the deadline a month, though it is still October in UTC
    assert marking_deadline(china(2026, 11, 1, 0, 1), policy) == china(2026, 12, 11, 0, 0)
    # December rolls into January of the next year; another day of the month
    assert marking_deadline(
        china(2026, 12, 15), MarkPolicy(deadline_rule="day_of_next_month", deadline_day_of_month=5)
    ) == china(2027, 1, 6)


def test_policy_from_settings_and_bad_policies() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mark_deadline_rule="day_of_next_month",
        mark_deadline_day_of_month=5,
        mark_max_span_days=7,
        mark_max_future_days=0,
    )
    policy = MarkPolicy.from_settings(settings)
    assert policy == MarkPolicy("day_of_next_month", 10, 5, timedelta(days=7), timedelta(0))
    with pytest.raises(ValueError):
        MarkPolicy(deadline_rule="whenever")
    with pytest.raises(ValueError):
        MarkPolicy(deadline_day_of_month=31)
    with pytest.raises(ValueError):
        Settings(_env_file=None, mark_deadline_rule="whenever")  # type: ignore[call-arg]


def test_only_the_latest_version_may_change() -> None:
    check_can_change(12, "mark", None)
    when = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    with pytest.raises(
        Conflict,
        match=r"mark 12 was already superseded by mark 15 on 2026-11-20T10:00:00\+08:00; supersede 15 instead",
    ):
        check_can_change(12, "mark", (15, when))
    with pytest.raises(Conflict, match="is a withdrawal"):
        check_can_change(16, "withdraw", None)


@pytest.mark.parametrize(
    ("code", "decision", "require", "effect"),
    [
        ("shutdown", None, True, MarkEffect.INFO),
        ("shutdown", "approved", True, MarkEffect.EXEMPT),
        ("shutdown", "rejected", True, MarkEffect.INFO),
        ("shutdown", None, False, MarkEffect.EXEMPT),
        ("shutdown", "rejected", False, MarkEffect.INFO),
        ("no_discharge", "approved", True, MarkEffect.EXEMPT),
        ("maintenance", None, True, MarkEffect.INVALID),
        ("maintenance", "approved", True, MarkEffect.INVALID),
        ("fault", "rejected", True, MarkEffect.INFO),
        ("note", None, True, MarkEffect.INFO),
    ],
)
def test_effect_in_force(code: str, decision: str | None, require: bool, effect: MarkEffect) -> None:
    assert effect_in_force(code, decision, require_approval=require) is effect


def test_code_table_is_consistent() -> None:
    codes = mark_codes()
    assert all(c.effect is MarkEffect.EXEMPT for c in codes.values() if c.needs_review)
    assert [c.as_dict()["code"] for c in codes.values()] == list(codes)
