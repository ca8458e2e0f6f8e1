"""The Chinese working-day calendar (工作日): public holidays (法定节假日) and make-up working days (调休上班).

Deadlines such as "re-file within 5 working days" (SX-15) or "restore within 5 working days" (SX-18.3)
count 工作日, not calendar days. A working day is Monday to Friday, except the public holidays the State
Council announces each year, plus the weekend days it declares working days in lieu (调休上班), e.g.
Sunday 2025-09-28 and Saturday 2025-10-11 around National Day 2025.

Theory of operation
-------------------
The State Council publishes each year's arrangement only in November of the year before, so no table
is complete for long. The answer for a date comes from, in order:

1. the operator's overrides (``ENVWATCH_EXTRA_HOLIDAYS`` / ``ENVWATCH_EXTRA_WORKDAYS``): they win, so a
   local holiday or a late-announced arrangement can be entered without a release;
2. the ``chinese-calendar`` package, for the years it ships data for;
3. for a year the package does not know, the Monday–Friday rule, but only when the overrides name at
   least one date in that year: listing any date of such a year declares that year's exceptions
   complete (the operator copied the announcement);
4. otherwise :class:`CalendarNotCovered` is raised. Guessing Monday–Friday for an unannounced year
   would silently move deadlines by a week around Spring Festival or National Day.

Invariants: a date is never both an extra holiday and an extra working day (refused at construction);
``workdays_between(a, add_workdays(a, n)) == n`` for every ``n >= 0``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import chinese_calendar  # type: ignore[import-untyped]  # the package ships no type information

from envwatch.core.errors import EnvwatchError, InvalidInput
from envwatch.core.settings import Settings


class CalendarNotCovered(EnvwatchError):
    """The working-day calendar does not know a year, so a working-day deadline cannot be computed.

    Not retryable: it is a configuration gap, fixed by an operator (overrides or a package upgrade).
    """

    def __init__(self, year: int) -> None:
        super().__init__(
            f"the working-day calendar (工作日) has no data for {year}: upgrade the chinese-calendar "
            f"package, or list that year's public holidays and make-up working days (调休上班) in "
            f"ENVWATCH_EXTRA_HOLIDAYS and ENVWATCH_EXTRA_WORKDAYS (JSON lists of ISO dates)"
        )
        self.year = year


class WorkdayCalendar:
    """Answers "is this a working day?" for China, with operator overrides taking precedence."""

    def __init__(self, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()) -> None:
        self._extra_holidays = frozenset(extra_holidays)
        self._extra_workdays = frozenset(extra_workdays)
        both = self._extra_holidays & self._extra_workdays
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise InvalidInput(
                f"dates listed both as extra holidays and as extra working days: {listed}; "
                f"keep each date in one list only"
            )
        # Years the operator has taken responsibility for (rule 3 of the module docstring).
        self._override_years = frozenset(d.year for d in self._extra_holidays | self._extra_workdays)
        self._package_years: dict[int, bool] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkdayCalendar:
        return cls(extra_holidays=settings.extra_holidays, extra_workdays=settings.extra_workdays)

    def _package_covers(self, year: int) -> bool:
        covered = self._package_years.get(year)
        if covered is None:
            # Ask through the public API instead of reading the package's private tables: it raises
            # NotImplementedError for a year outside its data.
            try:
                chinese_calendar.is_workday(date(year, 6, 1))
            except NotImplementedError:
                covered = False
            else:
                covered = True
            self._package_years[year] = covered
        return covered

    def covers(self, year: int) -> bool:
        """True when every date of ``year`` can be answered without raising."""
        return self._package_covers(year) or year in self._override_years

    def is_workday(self, d: date) -> bool:
        """Is ``d`` a working day (工作日) in China? Raises :class:`CalendarNotCovered` for an unknown year."""
        if d in self._extra_workdays:
            return True
        if d in self._extra_holidays:
            return False
        if self._package_covers(d.year):
            return bool(chinese_calendar.is_workday(d))
        if d.year in self._override_years:
            return d.weekday() < 5
        raise CalendarNotCovered(d.year)

    def add_workdays(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start``; ``start`` itself is not counted (``n == 0`` → ``start``).

        Not counting the start day follows the Civil Code (民法典 Art. 201: 开始的当日不计入).
        """
        if n < 0:
            raise InvalidInput(f"number of working days must be >= 0, got {n}")
        d = start
        while n > 0:
            d += timedelta(days=1)
            if self.is_workday(d):
                n -= 1
        return d

    def workdays_between(self, a: date, b: date) -> int:
        """Working days ``d`` with ``a < d <= b`` (so the inverse of :meth:`add_workdays`); negative if ``b < a``."""
        if b < a:
            return -self.workdays_between(b, a)
        count = 0
        d = a
        while d < b:
            d += timedelta(days=1)
            if self.is_workday(d):
                count += 1
        return count
