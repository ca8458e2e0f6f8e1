"""Calendar quarters (季度) in China time and the due rule of the quarterly self-inspection report (SX-18.7).

A quarter is the China calendar quarter: Q1 is 1 January 00:00 to 1 April 00:00 China time (Asia/Shanghai),
stored as UTC instants [start, end). A record at 2026-03-31T23:30 China time (15:30 UTC) belongs to Q1.

Due rule (``om_self_inspection_due_days``, a platform proposal [P]: SX-18.7 says "quarterly", not by when):
the report is due by 24:00 China time of the N-th day after the quarter's last day (N = 15: Q1 by the end
of 15 April). A submission exactly at that instant is on time, as every deadline of the platform.

:func:`quarter_state` is the pure rule behind the statuses; the store (``self_inspection_store``) feeds it
the first submission of an enterprise's quarter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.errors import InvalidInput

CLAUSE: Final = "SX-18.7"
FIRST_YEAR: Final = 2000  # no report of the platform is older; a typo such as 226 is refused
LAST_YEAR: Final = 2200

QuarterState = Literal["not_due_yet", "due", "overdue", "submitted", "submitted_late"]
QUARTER_STATES: Final[tuple[QuarterState, ...]] = (
    "not_due_yet",
    "due",
    "overdue",
    "submitted",
    "submitted_late",
)


def _china_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Quarter:
    year: int
    quarter: int

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.quarter}"

    @property
    def label_zh(self) -> str:
        return f"{self.year}年第{'一二三四'[self.quarter - 1]}季度"

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.quarter - 2, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    @property
    def start(self) -> datetime:
        """00:00 China time of the first day, in UTC."""
        return _china_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """24:00 China time of the last day (exclusive), in UTC."""
        return _china_midnight(self.last_day + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def months(self) -> tuple[tuple[date, date], ...]:
        """(first day, last day) of each of its three months."""
        out = []
        for n in range(3):
            first = date(self.year, 3 * self.quarter - 2 + n, 1)
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            out.append((first, following - timedelta(days=1)))
        return tuple(out)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.quarter == 4 else Quarter(self.year, self.quarter + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.quarter == 1 else Quarter(self.year, self.quarter - 1)

    def due_on(self, due_days: int) -> date:
        """The last day (China date) on which the report is on time."""
        return self.last_day + timedelta(days=due_days)

    def due_at(self, due_days: int) -> datetime:
        """24:00 China time of :meth:`due_on`, in UTC: a submission at or before it is on time."""
        return _china_midnight(self.due_on(due_days) + timedelta(days=1))

    def is_over(self, now: datetime) -> bool:
        return now >= self.end


def quarter_of(year: int, quarter: int) -> Quarter:
    """The quarter, or InvalidInput naming what is wrong."""
    if not 1 <= quarter <= 4:
        raise InvalidInput(f"quarter must be 1, 2, 3 or 4, not {quarter}")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"year must be within {FIRST_YEAR}..{LAST_YEAR}, not {year}")
    return Quarter(year, quarter)


def quarter_containing(moment: datetime) -> Quarter:
    """The quarter holding ``moment`` (an aware time) in China time."""
    day = to_china(moment).date()
    return Quarter(day.year, (day.month - 1) // 3 + 1)


def last_finished(now: datetime) -> Quarter:
    """The latest quarter that is over at ``now``."""
    return quarter_containing(now).previous()


def quarter_state(
    quarter: Quarter, now: datetime, due_days: int, first_submitted_at: datetime | None
) -> QuarterState:
    """The report's state for one enterprise and quarter as of ``now``.

    - a submission counts whenever it was made (the first one decides on-time or late: a resubmission
      corrects the content, it does not move the date the duty was met);
    - without one: ``not_due_yet`` while the quarter runs, ``due`` until :meth:`Quarter.due_at` (included),
      ``overdue`` after it.
    """
    due_at = quarter.due_at(due_days)
    if first_submitted_at is not None:
        return "submitted" if first_submitted_at <= due_at else "submitted_late"
    if not quarter.is_over(now):
        return "not_due_yet"
    return "due" if now <= due_at else "overdue"
