"""The SX-18.3 fault clocks (故障处理时限): what a device fault (故障) obliges the operator to do, and by when.

SX-18.3 (晋环规〔2024〕2号): a fault is marked; the device is restored within **5 working days**; a fault
lasting more than **24 h** needs a backup device (备用设备) or licensed manual monitoring (手工监测) with
uploaded results; a backup used more than **7 days** needs a check/comparison (比对) within **10 days** of
switching; a backup may be used **at most 30 days**. Thresholds come from :class:`FaultRules`
(``FaultRules.from_settings``), never from the code below.

Theory of operation
-------------------
Pure function of its inputs (DESIGN convention 6): :func:`fault_clocks` takes the recorded facts of one
fault (:class:`FaultFacts`), ``now``, the rules and the working-day calendar, and returns one
:class:`Clock` per obligation, always in the order of :data:`CLOCK_NAMES`. Nothing is stored; callers
recompute whenever a fact changes or time passes.

Clocks
    ``backup_required``  due = start + 24 h; met by ``backup_started_at``. Not applicable when the fault
                         was restored within 24 h (restored exactly at start + 24 h counts as within:
                         the fault did not last *more* than 24 h), even if a backup was started.
    ``restore``          due = end of the 5th working day (see below); met by ``restored_at``.
    ``backup_check``     applicable only once the backup has run *more* than 7 days (exactly 7 days is
                         not more); due = backup start + 10 days; met by ``check_done_at``. A check done
                         before the 7 days passed still counts once the clock applies.
    ``backup_max``       applicable once a backup started; due = backup start + 30 days; met when the
                         backup ended (exactly 30 days is allowed: "at most").

The backup clocks count calendar time (SX-18.3 says days, not working days). The backup's effective
end is the earlier of ``backup_ended_at`` and ``restored_at``: once the device is restored the backup
no longer stands in for it, whatever the operator did with the backup afterwards.

Working days ("restore within 5 working days")
    The fault's start is taken as a China calendar date (Asia/Shanghai, where the site and the rule
    live; a fault at 02:00 China time on Monday is a Monday fault although it is Sunday in UTC). The
    start day itself is not counted (Civil Code 民法典 Art. 201: 开始的当日不计入 — a fault at 23:00
    must not lose a whole day), so day 1 is the first working day *after* the start date; a fault
    starting on a weekend or holiday therefore counts from the next working day. The deadline is
    24:00 China time of the 5th such working day (Art. 203: 期间的最后一日的截止时间为二十四时), so
    it always ends on a working day, never inside a holiday. Make-up working days (调休上班) count.
    The calendar is :class:`envwatch.core.workdays.WorkdayCalendar`; for a year it does not know,
    :class:`~envwatch.core.workdays.CalendarNotCovered` propagates rather than guessing Monday–Friday.

States and ``remaining`` (an event exactly at ``due_at`` is on time, everywhere)
    ``not_applicable``   the obligation does not (or not yet) exist; ``due_at`` and ``remaining`` None.
    ``running``          not met, ``now <= due_at``; remaining = ``due_at - now`` (>= 0).
    ``met``              met at ``met_at <= due_at``; remaining = ``due_at - met_at`` (the margin, >= 0).
    ``breached``         met late, ``met_at > due_at``; remaining = ``due_at - met_at`` (< 0).
    ``overdue``          not met and ``now > due_at``; remaining = ``due_at - now`` (< 0), except when
                         the satisfying event can no longer happen: a ``backup_required`` clock of a
                         fault restored late without any backup stays overdue with remaining frozen
                         at ``due_at - restored_at`` (how long the site went unmonitored past due).

Invariants: every returned datetime is aware UTC; ``remaining`` is None exactly when the state is
``not_applicable``; ``remaining < 0`` exactly when the state is ``overdue`` or ``breached``.
Impossible facts (naive times, events out of order or after ``now``) raise
:class:`~envwatch.core.errors.InvalidInput` naming the offending fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final, Literal, Protocol

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.errors import InvalidInput
from envwatch.core.workdays import WorkdayCalendar

CLAUSE: Final = "SX-18.3"

ClockName = Literal["backup_required", "restore", "backup_check", "backup_max"]
ClockState = Literal["not_applicable", "running", "met", "overdue", "breached"]
CLOCK_NAMES: Final[tuple[ClockName, ...]] = ("backup_required", "restore", "backup_check", "backup_max")


class FaultSettings(Protocol):
    """The settings :meth:`FaultRules.from_settings` reads (read-only, so ``int`` fields satisfy ``float``)."""

    @property
    def fault_backup_required_after_h(self) -> float: ...
    @property
    def fault_restore_within_workdays(self) -> int: ...
    @property
    def fault_backup_check_after_days(self) -> float: ...
    @property
    def fault_backup_check_within_days(self) -> float: ...
    @property
    def fault_backup_max_days(self) -> float: ...


@dataclass(frozen=True)
class FaultRules:
    """SX-18.3 thresholds; a province may change any of them through settings (DESIGN convention 8)."""

    # SX-18.3: fault > 24 h → backup device or licensed manual monitoring with uploaded results
    backup_required_after: timedelta = timedelta(hours=24)
    # SX-18.3: restore within 5 working days (工作日)
    restore_within_workdays: int = 5
    # SX-18.3: backup used > 7 days → a check/comparison ...
    backup_check_after: timedelta = timedelta(days=7)
    # SX-18.3: ... within 10 days of switching to the backup
    backup_check_within: timedelta = timedelta(days=10)
    # SX-18.3: backup at most 30 days
    backup_max: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        for name in ("backup_required_after", "backup_check_after", "backup_check_within", "backup_max"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"fault rule {name} must be a positive duration, got {getattr(self, name)}")
        if self.restore_within_workdays < 1:
            raise ValueError(
                f"fault rule restore_within_workdays must be >= 1, got {self.restore_within_workdays}"
            )

    @classmethod
    def from_settings(cls, settings: FaultSettings) -> FaultRules:
        return cls(
            backup_required_after=timedelta(hours=settings.fault_backup_required_after_h),
            restore_within_workdays=settings.fault_restore_within_workdays,
            backup_check_after=timedelta(days=settings.fault_backup_check_after_days),
            backup_check_within=timedelta(days=settings.fault_backup_check_within_days),
            backup_max=timedelta(days=settings.fault_backup_max_days),
        )


@dataclass(frozen=True)
class FaultFacts:
    """What is recorded about one fault; every time aware (any zone), None while it has not happened."""

    started_at: datetime
    restored_at: datetime | None = None
    # the backup device or the licensed manual monitoring began / ended
    backup_started_at: datetime | None = None
    backup_ended_at: datetime | None = None
    # the check/comparison (比对) of the backup after switching
    check_done_at: datetime | None = None


@dataclass(frozen=True)
class Clock:
    name: ClockName
    clause: str
    state: ClockState
    due_at: datetime | None
    met_at: datetime | None
    remaining: timedelta | None


def restore_due_at(started_at: datetime, rules: FaultRules, calendar: WorkdayCalendar) -> datetime:
    """24:00 China time of the N-th working day after the China date of ``started_at`` (aware UTC)."""
    last_day = calendar.add_workdays(to_china(started_at).date(), rules.restore_within_workdays)
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=CHINA_TZ).astimezone(UTC)


def fault_clocks(
    facts: FaultFacts, now: datetime, rules: FaultRules, calendar: WorkdayCalendar
) -> list[Clock]:
    """The four SX-18.3 clocks of one fault as of ``now``, in the order of :data:`CLOCK_NAMES`."""
    f = _validated(facts, now)
    now = now.astimezone(UTC)
    backup_end = _earliest(f.backup_ended_at, f.restored_at)
    return [
        _backup_required(f, now, rules),
        _settle("restore", restore_due_at(f.started_at, rules, calendar), f.restored_at, now),
        _backup_check(f, backup_end, now, rules),
        _backup_max(f, backup_end, now, rules),
    ]


def _backup_required(f: FaultFacts, now: datetime, rules: FaultRules) -> Clock:
    due = f.started_at + rules.backup_required_after
    if f.restored_at is not None and f.restored_at <= due:
        return _not_applicable("backup_required")
    if f.backup_started_at is None and f.restored_at is not None:
        # Restored late with no backup ever: a backup can no longer start (validation refuses one
        # after the restore), so the lateness stops growing at the restore.
        return Clock("backup_required", CLAUSE, "overdue", due, None, due - f.restored_at)
    return _settle("backup_required", due, f.backup_started_at, now)


def _backup_check(f: FaultFacts, backup_end: datetime | None, now: datetime, rules: FaultRules) -> Clock:
    if f.backup_started_at is None:
        return _not_applicable("backup_check")
    ran = (backup_end if backup_end is not None else now) - f.backup_started_at
    if ran <= rules.backup_check_after:
        return _not_applicable("backup_check")
    return _settle("backup_check", f.backup_started_at + rules.backup_check_within, f.check_done_at, now)


def _backup_max(f: FaultFacts, backup_end: datetime | None, now: datetime, rules: FaultRules) -> Clock:
    if f.backup_started_at is None:
        return _not_applicable("backup_max")
    return _settle("backup_max", f.backup_started_at + rules.backup_max, backup_end, now)


def _settle(name: ClockName, due: datetime, met_at: datetime | None, now: datetime) -> Clock:
    if met_at is not None:
        return Clock(name, CLAUSE, "met" if met_at <= due else "breached", due, met_at, due - met_at)
    return Clock(name, CLAUSE, "running" if now <= due else "overdue", due, None, due - now)


def _not_applicable(name: ClockName) -> Clock:
    return Clock(name, CLAUSE, "not_applicable", None, None, None)


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


_FIELDS: Final = ("started_at", "restored_at", "backup_started_at", "backup_ended_at", "check_done_at")


def _validated(facts: FaultFacts, now: datetime) -> FaultFacts:
    """``facts`` with every time in UTC, or InvalidInput naming the first impossible fact."""
    for name, value in [("now", now), *((n, getattr(facts, n)) for n in _FIELDS)]:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise InvalidInput(f"fault time {name} has no time zone ({value.isoformat()}); give aware times")
    f = FaultFacts(
        started_at=facts.started_at.astimezone(UTC),
        restored_at=_utc(facts.restored_at),
        backup_started_at=_utc(facts.backup_started_at),
        backup_ended_at=_utc(facts.backup_ended_at),
        check_done_at=_utc(facts.check_done_at),
    )
    start = f.started_at

    def order(earlier: str, a: datetime | None, later: str, b: datetime | None) -> None:
        if a is not None and b is not None and b < a:
            raise InvalidInput(f"{later} ({b.isoformat()}) is before {earlier} ({a.isoformat()})")

    for name in _FIELDS[1:]:
        order("started_at", start, name, getattr(f, name))
        order(name, getattr(f, name), "now", now.astimezone(UTC))
    order("started_at", start, "now", now.astimezone(UTC))
    if f.backup_started_at is None:
        for name in ("backup_ended_at", "check_done_at"):
            if getattr(f, name) is not None:
                raise InvalidInput(
                    f"{name} is set but backup_started_at is not: record when the backup began"
                )
    order("backup_started_at", f.backup_started_at, "backup_ended_at", f.backup_ended_at)
    order("backup_started_at", f.backup_started_at, "check_done_at", f.check_done_at)
    # A backup that began after the device was restored stood in for nothing.
    order("backup_started_at", f.backup_started_at, "restored_at", f.restored_at)
    return f


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)
