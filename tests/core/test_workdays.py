"""Working-day calendar (工作日): dates checked by hand against the State Council announcements."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envwatch.core.errors import EnvwatchError, InvalidInput
from envwatch.core.settings import Settings
from envwatch.core.workdays import CalendarNotCovered, WorkdayCalendar

CAL = WorkdayCalendar()


# National Day + Mid-Autumn 2025: Oct 1–8 off; Sun Sep 28 and Sat Oct 11 worked in lieu (调休上班).
@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 9, 26), True),  # Friday
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), True),  # Sunday, make-up working day
        (date(2025, 9, 30), True),
        (date(2025, 10, 1), False),
        (date(2025, 10, 6), False),  # Monday, Mid-Autumn inside the holiday
        (date(2025, 10, 8), False),  # Wednesday, last day off
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),  # Saturday, make-up working day
        (date(2025, 10, 12), False),  # Sunday
        # Spring Festival 2026: Feb 15–23 off; Sat Feb 14 and Sat Feb 28 worked in lieu.
        (date(2026, 2, 14), True),
        (date(2026, 2, 15), False),
        (date(2026, 2, 16), False),  # Monday
        (date(2026, 2, 23), False),  # Monday, last day off
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),
        (date(2026, 3, 1), False),  # ordinary Sunday
        # an ordinary weekend
        (date(2025, 6, 7), False),
        (date(2025, 6, 8), False),
        (date(2025, 6, 9), True),
    ],
)
def test_is_workday(day: date, expected: bool) -> None:
    assert CAL.is_workday(day) is expected


def test_add_workdays_skips_national_day_and_counts_make_up_saturday() -> None:
    assert CAL.add_workdays(date(2025, 9, 30), 1) == date(2025, 10, 9)
    # Oct 9, 10, 11 (Sat, worked), 13, 14
    assert CAL.add_workdays(date(2025, 9, 30), 5) == date(2025, 10, 14)
    # Sep 27 is a Saturday off, Sep 28 a Sunday worked
    assert CAL.add_workdays(date(2025, 9, 26), 1) == date(2025, 9, 28)


def test_add_workdays_over_spring_festival_2026() -> None:
    assert CAL.add_workdays(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert CAL.add_workdays(date(2026, 2, 14), 1) == date(2026, 2, 24)
    # Feb 14, 24, 25, 26, 27
    assert CAL.add_workdays(date(2026, 2, 13), 5) == date(2026, 2, 27)
    assert CAL.add_workdays(date(2026, 2, 13), 6) == date(2026, 2, 28)


def test_add_workdays_over_a_weekend_and_zero() -> None:
    assert CAL.add_workdays(date(2025, 6, 6), 1) == date(2025, 6, 9)
    assert CAL.add_workdays(date(2025, 6, 7), 0) == date(2025, 6, 7)
    with pytest.raises(InvalidInput, match=">= 0"):
        CAL.add_workdays(date(2025, 6, 7), -1)


def test_workdays_between() -> None:
    assert CAL.workdays_between(date(2025, 9, 30), date(2025, 10, 14)) == 5
    assert CAL.workdays_between(date(2025, 10, 1), date(2025, 10, 8)) == 0
    assert CAL.workdays_between(date(2025, 9, 26), date(2025, 9, 28)) == 1
    assert CAL.workdays_between(date(2025, 10, 14), date(2025, 9, 30)) == -5
    assert CAL.workdays_between(date(2025, 6, 9), date(2025, 6, 9)) == 0


@given(
    start=st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 10, 31)),
    n=st.integers(min_value=0, max_value=40),
)
def test_workdays_between_inverts_add_workdays(start: date, n: int) -> None:
    end = CAL.add_workdays(start, n)
    assert CAL.workdays_between(start, end) == n
    assert n == 0 or CAL.is_workday(end)


def test_override_holiday_and_workday_win_over_the_package() -> None:
    cal = WorkdayCalendar(
        extra_holidays=[date(2025, 6, 9)],  # a Monday made a (local) holiday
        extra_workdays=[date(2025, 6, 14), date(2025, 10, 8)],  # a Saturday and a national holiday worked
    )
    assert cal.is_workday(date(2025, 6, 9)) is False
    assert cal.add_workdays(date(2025, 6, 6), 1) == date(2025, 6, 10)
    assert cal.is_workday(date(2025, 6, 14)) is True
    assert cal.is_workday(date(2025, 10, 8)) is True
    assert cal.add_workdays(date(2025, 9, 30), 1) == date(2025, 10, 8)
    # the base calendar is unchanged
    assert CAL.is_workday(date(2025, 6, 9)) is True


def test_same_date_in_both_override_lists_is_refused() -> None:
    with pytest.raises(InvalidInput, match="2025-06-09"):
        WorkdayCalendar(extra_holidays=[date(2025, 6, 9)], extra_workdays=[date(2025, 6, 9)])


def first_uncovered(after: int = 2025) -> int:
    """The first year after ``after`` the installed chinese-calendar has no data for (the package gains a
    year each winter, when the State Council publishes it: a fixed year here would break a fresh install)."""
    return next(y for y in range(after + 1, 2200) if not CAL.covers(y))


def test_uncovered_year_raises_a_clear_error() -> None:
    year = first_uncovered()
    with pytest.raises(CalendarNotCovered, match=f"no data for {year}") as info:
        CAL.is_workday(date(year, 3, 3))
    assert isinstance(info.value, EnvwatchError)
    assert info.value.year == year
    assert info.value.retryable is False
    assert "ENVWATCH_EXTRA_HOLIDAYS" in info.value.message
    # a count that runs off the end of the known years raises too, instead of guessing
    with pytest.raises(CalendarNotCovered):
        CAL.add_workdays(date(year - 1, 12, 28), 5)
    with pytest.raises(CalendarNotCovered):
        CAL.is_workday(date(2003, 5, 1))


def test_overrides_naming_a_year_cover_it() -> None:
    cal = WorkdayCalendar(extra_holidays=[date(2027, 1, 1)])
    assert cal.covers(2027)
    assert cal.is_workday(date(2027, 1, 1)) is False  # Friday, listed holiday
    assert cal.is_workday(date(2027, 1, 2)) is False  # Saturday
    assert cal.is_workday(date(2027, 1, 4)) is True  # Monday
    # Dec 29, 30, 31 (2026, from the package), then Jan 4, 5 (2027, from the overrides)
    assert cal.add_workdays(date(2026, 12, 28), 5) == date(2027, 1, 5)
    later = first_uncovered(2027)
    with pytest.raises(CalendarNotCovered, match=str(later)):
        cal.is_workday(date(later, 1, 3))


def test_from_settings_reads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVWATCH_EXTRA_HOLIDAYS", '["2025-06-09"]')
    monkeypatch.setenv("ENVWATCH_EXTRA_WORKDAYS", '["2025-06-14"]')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.extra_holidays == [date(2025, 6, 9)]
    assert settings.extra_workdays == [date(2025, 6, 14)]
    cal = WorkdayCalendar.from_settings(settings)
    assert cal.is_workday(date(2025, 6, 9)) is False
    assert cal.is_workday(date(2025, 6, 14)) is True


def test_settings_default_to_no_overrides() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.extra_holidays == []
    assert settings.extra_workdays == []
    cal = WorkdayCalendar.from_settings(settings)
    assert [cal.is_workday(date(2025, 6, 6) + timedelta(days=i)) for i in range(4)] == [
        True,
        False,
        False,
        True,
    ]
