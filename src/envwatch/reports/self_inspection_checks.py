"""The pure rules of the quarterly self-inspection report (季度自查报告, SX-18.7): what was owed in a quarter
and what is missing. No database, no clock: everything is passed in.

- **Inspections (巡检, SX-20.3: at least every 7 days).** The quarter is cut into consecutive windows of
  ``om_inspection_every_days`` days from its first day (the last window may be shorter); each window needs at
  least one inspection. Expected = the windows that have begun by today; missed = the windows over by today
  (their last day before today) with no inspection. A 91-day quarter owes 13 inspections at 7 days.
- **Comparison monitoring (比对监测, SX-18.6).** Gas devices at least once a quarter, water devices at least
  once a month: the periods are the quarter (gas) or its months (water); a period over by today without a
  comparison is missing; a comparison whose verdict is ``fail`` is listed as failed (it does not fill the
  period: the requirement is a comparison that shows the device measures right).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from math import ceil

from envwatch.reports.quarters import Quarter


@dataclass(frozen=True, slots=True)
class Window:
    first: date
    last: date


def inspection_windows(quarter: Quarter, every_days: int) -> tuple[Window, ...]:
    """The quarter cut into windows of ``every_days`` days from its first day."""
    if every_days < 1:
        raise ValueError(f"every_days must be at least 1, got {every_days}")
    out = []
    for n in range(ceil(quarter.days / every_days)):
        first = quarter.first_day + timedelta(days=n * every_days)
        out.append(Window(first, min(first + timedelta(days=every_days - 1), quarter.last_day)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class InspectionCount:
    done: int
    expected: int
    missed: tuple[Window, ...]  # windows over without an inspection


def count_inspections(
    quarter: Quarter, every_days: int, inspected_on: Iterable[date], today: date
) -> InspectionCount:
    """Inspections done in the quarter against the windows owed by ``today`` (China date)."""
    days = sorted(d for d in inspected_on if quarter.first_day <= d <= quarter.last_day)
    windows = inspection_windows(quarter, every_days)
    begun = [w for w in windows if w.first <= today]
    missed = tuple(w for w in begun if w.last < today and not any(w.first <= d <= w.last for d in days))
    return InspectionCount(done=len(days), expected=len(begun), missed=missed)


@dataclass(frozen=True, slots=True)
class ComparisonPeriod:
    first: date
    last: date
    done: int  # comparisons in the period that passed or were not judged
    failed: int

    @property
    def label(self) -> str:
        if self.first.month == self.last.month:
            return f"{self.first:%Y-%m}"
        return f"{self.first:%Y-%m}..{self.last:%Y-%m}"


@dataclass(frozen=True, slots=True)
class ComparisonCount:
    required: int  # periods owed by today
    done: int  # periods with a comparison that did not fail
    periods: tuple[ComparisonPeriod, ...]
    missing: tuple[ComparisonPeriod, ...]  # owed periods without a comparison that did not fail


def comparison_periods(quarter: Quarter, kind: str) -> tuple[tuple[date, date], ...]:
    """SX-18.6: gas once a quarter, water once a month."""
    if kind == "water":
        return quarter.months()
    return ((quarter.first_day, quarter.last_day),)


def count_comparisons(
    quarter: Quarter, kind: str, comparisons: Iterable[tuple[date, str]], today: date
) -> ComparisonCount:
    """``comparisons``: (China date, verdict) of each current comparison record of the device."""
    found = list(comparisons)
    periods = []
    for first, last in comparison_periods(quarter, kind):
        inside = [v for d, v in found if first <= d <= last]
        periods.append(
            ComparisonPeriod(first, last, sum(1 for v in inside if v != "fail"), inside.count("fail"))
        )
    owed = [p for p in periods if p.last < today]
    missing = tuple(p for p in owed if p.done == 0)
    return ComparisonCount(
        required=len(owed),
        done=sum(1 for p in owed if p.done > 0),
        periods=tuple(periods),
        missing=missing,
    )
