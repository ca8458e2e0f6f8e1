"""SX-14 / SX-15 filing deadlines, hand-computed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import InvalidInput
from envwatch.core.workdays import CalendarNotCovered, WorkdayCalendar
from envwatch.registry.deadlines import (
    DeadlineStatus,
    deadline_status,
    gas_core_part_debug_deadline,
    major_change_deadline,
    refiling_deadline,
)
from tests.helpers import first_uncovered_year

CAL = WorkdayCalendar()
SECOND = timedelta(seconds=1)


def cn(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=CHINA_TZ)


def test_major_change_168_hours_ignores_holidays() -> None:
    d = major_change_deadline(cn(2025, 10, 1, 8, 0))
    assert d.requirement == "SX-14"
    assert d.kind == "major_change"
    assert "168 h" in d.rule
    assert d.due_at == cn(2025, 10, 8, 8, 0)
    assert d.due_at.utcoffset() == timedelta(hours=8)
    # same instant given in UTC
    assert major_change_deadline(datetime(2025, 10, 1, 0, 0, tzinfo=UTC)).due_at == cn(2025, 10, 8, 8, 0)


def test_major_change_statuses() -> None:
    d = major_change_deadline(cn(2025, 10, 1, 8, 0))
    assert deadline_status(d, now=cn(2025, 10, 5, 12, 0)) is DeadlineStatus.DUE
    assert deadline_status(d, now=cn(2025, 10, 8, 8, 0)) is DeadlineStatus.DUE
    assert deadline_status(d, now=cn(2025, 10, 8, 8, 0) + SECOND) is DeadlineStatus.OVERDUE
    assert deadline_status(d, now=cn(2025, 10, 9), met_at=cn(2025, 10, 8, 8, 0)) is DeadlineStatus.MET
    # met late stays a finding
    assert deadline_status(d, now=cn(2025, 10, 9), met_at=cn(2025, 10, 8, 9, 0)) is DeadlineStatus.OVERDUE


def test_gas_core_part_debug_72_hours() -> None:
    d = gas_core_part_debug_deadline(cn(2026, 2, 14, 10, 0))
    assert d.requirement == "SX-14"
    assert d.kind == "gas_core_part_debug"
    assert d.due_at == cn(2026, 2, 17, 10, 0)
    assert deadline_status(d, now=cn(2026, 2, 16)) is DeadlineStatus.DUE
    assert deadline_status(d, now=cn(2026, 2, 18), met_at=cn(2026, 2, 17, 9, 59)) is DeadlineStatus.MET
    assert deadline_status(d, now=cn(2026, 2, 17, 10, 1)) is DeadlineStatus.OVERDUE
    assert gas_core_part_debug_deadline(cn(2026, 2, 14, 10, 0), hours=48).due_at == cn(2026, 2, 16, 10, 0)


def test_refiling_5_working_days_over_national_day() -> None:
    # Tue Sep 30 2025; working days after: Oct 9, 10, 11 (Sat, 调休), 13, 14 → ends 24:00 Oct 14
    d = refiling_deadline(cn(2025, 9, 30, 15, 0), CAL)
    assert d.requirement == "SX-15"
    assert d.kind == "refiling"
    assert "5 working days" in d.rule
    assert d.due_at == cn(2025, 10, 15, 0, 0)
    assert deadline_status(d, now=cn(2025, 10, 14, 23, 59, 59)) is DeadlineStatus.DUE
    assert deadline_status(d, now=cn(2025, 10, 15) + SECOND) is DeadlineStatus.OVERDUE
    assert deadline_status(d, now=cn(2025, 10, 20), met_at=cn(2025, 10, 14, 18, 0)) is DeadlineStatus.MET
    assert deadline_status(d, now=cn(2025, 10, 20), met_at=cn(2025, 10, 15, 9, 0)) is DeadlineStatus.OVERDUE


def test_refiling_over_spring_festival_2026() -> None:
    # Thu Feb 12 2026; working days after: Feb 13, 14 (Sat, 调休), 24, 25, 26
    assert refiling_deadline(cn(2026, 2, 12, 9, 0), CAL).due_at == cn(2026, 2, 27, 0, 0)


def test_refiling_counts_china_dates_not_utc_dates() -> None:
    # 17:00 UTC Thu Sep 25 is 01:00 Fri Sep 26 in China: count from Sep 26 → 28, 29, 30, Oct 9, 10.
    # Counting from the UTC date would end a day early (Oct 9).
    d = refiling_deadline(datetime(2025, 9, 25, 17, 0, tzinfo=UTC), CAL)
    assert d.due_at == cn(2025, 10, 11, 0, 0)


def test_refiling_uses_calendar_overrides_and_setting_days() -> None:
    cal = WorkdayCalendar(extra_holidays=[date(2025, 10, 13)])
    # Oct 9, 10, 11, 14, 15
    assert refiling_deadline(cn(2025, 9, 30, 15, 0), cal).due_at == cn(2025, 10, 16, 0, 0)
    assert refiling_deadline(cn(2025, 9, 30, 15, 0), CAL, workdays=1).due_at == cn(2025, 10, 10, 0, 0)


def test_refiling_into_an_unknown_year_raises() -> None:
    year = first_uncovered_year()
    with pytest.raises(CalendarNotCovered, match=str(year)):
        refiling_deadline(cn(year - 1, 12, 28, 9, 0), CAL)


def test_met_after_now_is_not_seen() -> None:
    d = major_change_deadline(cn(2025, 10, 1, 8, 0))
    assert deadline_status(d, now=cn(2025, 10, 2), met_at=cn(2025, 10, 3)) is DeadlineStatus.DUE
    assert deadline_status(d, now=cn(2025, 10, 9), met_at=cn(2025, 10, 10)) is DeadlineStatus.OVERDUE


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput, match="aware"):
        major_change_deadline(datetime(2025, 10, 1, 8, 0))
    with pytest.raises(InvalidInput, match="aware"):
        refiling_deadline(datetime(2025, 10, 1, 8, 0), CAL)
    d = major_change_deadline(cn(2025, 10, 1, 8, 0))
    with pytest.raises(InvalidInput, match="now"):
        deadline_status(d, now=datetime(2025, 10, 2))
    with pytest.raises(InvalidInput, match="met_at"):
        deadline_status(d, now=cn(2025, 10, 2), met_at=datetime(2025, 10, 2))
