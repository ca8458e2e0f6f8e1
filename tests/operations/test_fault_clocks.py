"""SX-18.3 fault clocks: hand-worked deadlines on both sides of every boundary, with China's holidays.

Calendars used below (checked against chinese-calendar and tests/core/test_workdays.py):
National Day 2025 — Oct 1–8 off, Sun Sep 28 and Sat Oct 11 worked in lieu (调休上班);
Spring Festival 2026 — Feb 15–23 off, Sat Feb 14 and Sat Feb 28 worked in lieu.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import InvalidInput
from envwatch.core.workdays import CalendarNotCovered, WorkdayCalendar
from envwatch.operations.fault_clocks import (
    CLOCK_NAMES,
    Clock,
    FaultFacts,
    FaultRules,
    fault_clocks,
    restore_due_at,
)

CAL = WorkdayCalendar()
RULES = FaultRules()
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def cst(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """A China-time instant, as an operator would read it off the site."""
    return datetime(y, mo, d, h, mi, s, tzinfo=CHINA_TZ)


def clock(name: str, facts: FaultFacts, now: datetime, rules: FaultRules = RULES) -> Clock:
    (found,) = [c for c in fault_clocks(facts, now, rules, CAL) if c.name == name]
    return found


# A Monday-morning fault in an ordinary week, for the calendar-time clocks.
S = cst(2025, 6, 9, 10)
B = S + timedelta(hours=2)  # backup / manual monitoring began


# --- restore within 5 working days ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("started", "deadline"),  # deadline = 24:00 China time of the 5th working day, written as next 00:00
    [
        # ordinary week: Friday evening and the weekend all count from Monday → due Friday 24:00
        (cst(2025, 6, 6, 20), cst(2025, 6, 14)),
        (cst(2025, 6, 6, 23, 59, 59), cst(2025, 6, 14)),
        (cst(2025, 6, 7, 10), cst(2025, 6, 14)),
        (cst(2025, 6, 8, 23, 59, 59), cst(2025, 6, 14)),
        # Monday 00:00 / 02:00 China time is a Monday fault (02:00 is still Sunday in UTC): Tue..Mon
        (cst(2025, 6, 9, 0, 0, 0), cst(2025, 6, 17)),
        (cst(2025, 6, 9, 2), cst(2025, 6, 17)),
        # National Day 2025: Fri Sep 26 → Sep 28 (Sun, worked), 29, 30, Oct 9, 10
        (cst(2025, 9, 26, 20), cst(2025, 10, 11)),
        (cst(2025, 9, 27, 10), cst(2025, 10, 11)),  # Saturday off
        (cst(2025, 9, 30, 10), cst(2025, 10, 15)),  # → Oct 9, 10, 11 (Sat, worked), 13, 14
        (cst(2025, 10, 1, 10), cst(2025, 10, 15)),  # during the holiday: counts from Oct 9
        (cst(2025, 10, 8, 23), cst(2025, 10, 15)),  # last holiday: Oct 9, 10, 11, 13, 14
        (cst(2025, 10, 11, 10), cst(2025, 10, 18)),  # on the make-up Saturday: Oct 13–17
        # Spring Festival 2026
        (cst(2026, 2, 13, 20), cst(2026, 2, 28)),  # Fri → Feb 14 (Sat, worked), 24, 25, 26, 27
        (cst(2026, 2, 14, 10), cst(2026, 3, 1)),  # make-up Sat → Feb 24–27, 28 (Sat, worked)
        (cst(2026, 2, 15, 10), cst(2026, 3, 1)),  # first holiday
    ],
)
def test_restore_deadline_is_end_of_fifth_working_day(started: datetime, deadline: datetime) -> None:
    due = restore_due_at(started, RULES, CAL)
    assert due == deadline
    assert due.tzinfo is UTC
    c = clock("restore", FaultFacts(started_at=started), started)
    assert (c.state, c.due_at, c.remaining) == ("running", deadline, deadline - started)


def test_restore_clock_both_sides_of_the_deadline() -> None:
    due = cst(2025, 6, 17)  # Monday fault → Tuesday 24:00 of the next week
    open_fault = FaultFacts(started_at=S)
    assert clock("restore", open_fault, due - SECOND).state == "running"
    at_due = clock("restore", open_fault, due)
    assert (at_due.state, at_due.remaining) == ("running", timedelta(0))
    late = clock("restore", open_fault, due + SECOND)
    assert (late.state, late.met_at, late.remaining) == ("overdue", None, -SECOND)
    assert clock("restore", open_fault, due + 3 * DAY).remaining == -3 * DAY

    later = due + 30 * DAY
    for restored, state, remaining in [
        (due - SECOND, "met", SECOND),
        (due, "met", timedelta(0)),
        (due + SECOND, "breached", -SECOND),
    ]:
        c = clock("restore", FaultFacts(started_at=S, restored_at=restored), later)
        assert (c.state, c.met_at, c.remaining) == (state, restored, remaining)


def test_custom_working_day_count() -> None:
    rules = FaultRules(restore_within_workdays=1)
    # Friday before National Day → the next working day is the make-up Sunday Sep 28
    assert restore_due_at(cst(2025, 9, 26, 20), rules, CAL) == cst(2025, 9, 29)


# --- fault > 24 h → backup or manual monitoring --------------------------------------------------


def test_backup_required_while_the_fault_is_open() -> None:
    due = S + timedelta(hours=24)
    facts = FaultFacts(started_at=S)
    assert clock("backup_required", facts, S) == Clock(
        "backup_required", "SX-18.3", "running", due, None, timedelta(hours=24)
    )
    assert clock("backup_required", facts, due).state == "running"
    over = clock("backup_required", facts, due + SECOND)
    assert (over.state, over.remaining) == ("overdue", -SECOND)


@pytest.mark.parametrize(
    ("backup_after", "state", "remaining"),
    [
        (timedelta(hours=24) - SECOND, "met", SECOND),
        (timedelta(hours=24), "met", timedelta(0)),
        (timedelta(hours=24) + SECOND, "breached", -SECOND),
    ],
)
def test_backup_required_met_or_breached(backup_after: timedelta, state: str, remaining: timedelta) -> None:
    backup = S + backup_after
    for restored in (None, S + 5 * DAY):
        c = clock(
            "backup_required",
            FaultFacts(started_at=S, backup_started_at=backup, restored_at=restored),
            S + 6 * DAY,
        )
        assert (c.state, c.met_at, c.remaining) == (state, backup, remaining)


def test_backup_not_required_when_restored_within_24_h() -> None:
    due = S + timedelta(hours=24)
    for restored in (S, due - SECOND, due):  # "> 24 h" is strict: 24 h exactly does not need a backup
        for backup in (None, S):
            facts = FaultFacts(started_at=S, restored_at=restored, backup_started_at=backup)
            c = clock("backup_required", facts, due + 10 * DAY)
            assert (c.state, c.due_at, c.met_at, c.remaining) == ("not_applicable", None, None, None)


def test_restored_late_without_backup_stays_overdue_with_frozen_lateness() -> None:
    restored = S + timedelta(hours=24) + SECOND
    facts = FaultFacts(started_at=S, restored_at=restored)
    for now in (restored, restored + 100 * DAY):
        c = clock("backup_required", facts, now)
        assert (c.state, c.met_at, c.remaining) == ("overdue", None, -SECOND)


def test_backup_started_early_counts_before_the_restore_is_known() -> None:
    c = clock("backup_required", FaultFacts(started_at=S, backup_started_at=B), S + timedelta(hours=3))
    assert (c.state, c.met_at, c.remaining) == ("met", B, timedelta(hours=22))


# --- backup > 7 days → check within 10 days of switching -----------------------------------------


def test_backup_check_applies_only_after_more_than_7_days() -> None:
    running = FaultFacts(started_at=S, backup_started_at=B)
    assert clock("backup_check", running, B + 7 * DAY).state == "not_applicable"
    c = clock("backup_check", running, B + 7 * DAY + SECOND)
    assert (c.state, c.due_at, c.remaining) == ("running", B + 10 * DAY, 3 * DAY - SECOND)
    assert clock("backup_check", running, B + 10 * DAY).state == "running"
    over = clock("backup_check", running, B + 10 * DAY + SECOND)
    assert (over.state, over.remaining) == ("overdue", -SECOND)


def test_backup_check_after_the_backup_ended() -> None:
    later = B + 40 * DAY
    ended_at_7 = FaultFacts(started_at=S, backup_started_at=B, backup_ended_at=B + 7 * DAY)
    assert clock("backup_check", ended_at_7, later).state == "not_applicable"
    ended_after_7 = FaultFacts(started_at=S, backup_started_at=B, backup_ended_at=B + 7 * DAY + SECOND)
    c = clock("backup_check", ended_after_7, later)
    assert (c.state, c.remaining) == ("overdue", -30 * DAY)  # the check is still owed
    # the device came back at 7 days, the backup was switched off later: it stood in for 7 days only
    restored_first = FaultFacts(
        started_at=S, backup_started_at=B, restored_at=B + 7 * DAY, backup_ended_at=B + 8 * DAY
    )
    assert clock("backup_check", restored_first, later).state == "not_applicable"


@pytest.mark.parametrize(
    ("check_after", "state", "remaining"),
    [
        (2 * DAY, "met", 8 * DAY),  # done early, before the clock even applied
        (10 * DAY - SECOND, "met", SECOND),
        (10 * DAY, "met", timedelta(0)),
        (10 * DAY + SECOND, "breached", -SECOND),
    ],
)
def test_backup_check_met_or_breached(check_after: timedelta, state: str, remaining: timedelta) -> None:
    check = B + check_after
    facts = FaultFacts(started_at=S, backup_started_at=B, check_done_at=check)
    c = clock("backup_check", facts, B + 12 * DAY)
    assert (c.state, c.met_at, c.remaining) == (state, check, remaining)


def test_no_backup_no_backup_clocks() -> None:
    for name in ("backup_check", "backup_max"):
        c = clock(name, FaultFacts(started_at=S), S + 60 * DAY)
        assert c == Clock(name, "SX-18.3", "not_applicable", None, None, None)


# --- backup at most 30 days ----------------------------------------------------------------------


def test_backup_max_while_running() -> None:
    facts = FaultFacts(started_at=S, backup_started_at=B)
    first = clock("backup_max", facts, B)
    assert (first.state, first.due_at, first.remaining) == ("running", B + 30 * DAY, 30 * DAY)
    assert clock("backup_max", facts, B + 30 * DAY).remaining == timedelta(0)
    over = clock("backup_max", facts, B + 30 * DAY + SECOND)
    assert (over.state, over.remaining) == ("overdue", -SECOND)


@pytest.mark.parametrize(
    ("ended_after", "state", "remaining"),
    [
        (30 * DAY - SECOND, "met", SECOND),
        (30 * DAY, "met", timedelta(0)),  # "at most 30 days"
        (30 * DAY + SECOND, "breached", -SECOND),
    ],
)
def test_backup_max_met_or_breached(ended_after: timedelta, state: str, remaining: timedelta) -> None:
    ended = B + ended_after
    c = clock(
        "backup_max", FaultFacts(started_at=S, backup_started_at=B, backup_ended_at=ended), B + 50 * DAY
    )
    assert (c.state, c.met_at, c.remaining) == (state, ended, remaining)


def test_backup_max_ends_at_the_restore() -> None:
    now = B + 50 * DAY
    restored = B + 20 * DAY
    c = clock("backup_max", FaultFacts(started_at=S, backup_started_at=B, restored_at=restored), now)
    assert (c.state, c.met_at) == ("met", restored)
    c = clock(
        "backup_max",
        FaultFacts(started_at=S, backup_started_at=B, restored_at=B + 29 * DAY, backup_ended_at=B + 31 * DAY),
        now,
    )
    assert (c.state, c.met_at) == ("met", B + 29 * DAY)


# --- the whole picture ---------------------------------------------------------------------------


def test_fault_before_national_day_all_clocks() -> None:
    started = cst(2025, 9, 26, 20)  # Friday evening before National Day
    backup = cst(2025, 9, 27, 21)  # 25 h later: a backup an hour late
    facts = FaultFacts(started_at=started, backup_started_at=backup, check_done_at=cst(2025, 10, 3, 9))
    now = cst(2025, 10, 9, 9)
    clocks = fault_clocks(facts, now, RULES, CAL)
    assert [c.name for c in clocks] == list(CLOCK_NAMES)
    assert {c.clause for c in clocks} == {"SX-18.3"}
    assert [c.state for c in clocks] == ["breached", "running", "met", "running"]
    assert clocks[0].remaining == -timedelta(hours=1)
    assert clocks[1].due_at == cst(2025, 10, 11)  # end of Fri Oct 10
    assert clocks[1].remaining == cst(2025, 10, 11) - now
    assert clocks[2].due_at == backup + 10 * DAY
    assert clocks[3].due_at == backup + 30 * DAY
    for c in clocks:
        for moment in (c.due_at, c.met_at):
            assert moment is None or moment.tzinfo is UTC


def test_restored_fault_with_short_backup() -> None:
    facts = FaultFacts(
        started_at=S, backup_started_at=B, backup_ended_at=S + 3 * DAY, restored_at=S + 3 * DAY
    )
    clocks = fault_clocks(facts, S + 4 * DAY, RULES, CAL)
    assert [c.state for c in clocks] == ["met", "met", "not_applicable", "met"]


@dataclass(frozen=True)
class ProvinceSettings:
    fault_backup_required_after_h: float = 12
    fault_restore_within_workdays: int = 3
    fault_backup_check_after_days: float = 5
    fault_backup_check_within_days: float = 7
    fault_backup_max_days: float = 20


def test_rules_from_settings_drive_the_clocks() -> None:
    rules = FaultRules.from_settings(ProvinceSettings())
    assert rules == FaultRules(
        backup_required_after=timedelta(hours=12),
        restore_within_workdays=3,
        backup_check_after=timedelta(days=5),
        backup_check_within=timedelta(days=7),
        backup_max=timedelta(days=20),
    )
    facts = FaultFacts(started_at=S, backup_started_at=B)
    clocks = fault_clocks(facts, B + 5 * DAY + SECOND, rules, CAL)
    assert [c.due_at for c in clocks] == [
        S + timedelta(hours=12),
        cst(2025, 6, 13),  # Tue, Wed, Thu
        B + 7 * DAY,
        B + 20 * DAY,
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"backup_required_after": timedelta(0)},
        {"backup_check_within": -DAY},
        {"backup_max": timedelta(0)},
        {"restore_within_workdays": 0},
    ],
)
def test_rules_refuse_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="fault rule"):
        FaultRules(**bad)


# --- calendar coverage ---------------------------------------------------------------------------


def test_year_the_calendar_does_not_cover_propagates() -> None:
    # the first year the installed chinese-calendar does not know (it gains one each winter)
    year = next(y for y in range(2026, 2200) if not CAL.covers(y))
    with pytest.raises(CalendarNotCovered):
        fault_clocks(FaultFacts(started_at=cst(year, 3, 1, 10)), cst(year, 3, 1, 11), RULES, CAL)
    # late December of the last known year: the 5th working day falls in the unknown one
    with pytest.raises(CalendarNotCovered) as info:
        fault_clocks(FaultFacts(started_at=cst(year - 1, 12, 28, 10)), cst(year - 1, 12, 28, 11), RULES, CAL)
    assert info.value.year == year


def test_operator_overrides_cover_a_new_year() -> None:
    cal = WorkdayCalendar(extra_holidays=[date(2027, 1, 1)])  # operator declares 2027 complete
    assert restore_due_at(cst(2026, 12, 28, 10), RULES, cal) == cst(2027, 1, 6)  # Dec 29, 30, 31, Jan 4, 5


# --- impossible facts ----------------------------------------------------------------------------

NAIVE = datetime(2025, 6, 9, 10)


@pytest.mark.parametrize(
    ("facts", "now", "message"),
    [
        (FaultFacts(started_at=NAIVE), S, "started_at has no time zone"),
        (FaultFacts(started_at=S), NAIVE, "now has no time zone"),
        (FaultFacts(started_at=S, backup_started_at=NAIVE), S + DAY, "backup_started_at has no time zone"),
        (FaultFacts(started_at=S, restored_at=S - SECOND), S + DAY, "restored_at .* is before started_at"),
        (
            FaultFacts(started_at=S, backup_started_at=B, backup_ended_at=B - SECOND),
            S + DAY,
            "backup_ended_at .* is before backup_started_at",
        ),
        (
            FaultFacts(started_at=S, backup_started_at=S - SECOND),
            S + DAY,
            "backup_started_at .* before started",
        ),
        (
            FaultFacts(started_at=S, backup_ended_at=B),
            S + DAY,
            "backup_ended_at is set but backup_started_at",
        ),
        (FaultFacts(started_at=S, check_done_at=B), S + DAY, "check_done_at is set but backup_started_at"),
        (
            FaultFacts(started_at=S, backup_started_at=B, check_done_at=B - SECOND),
            S + DAY,
            "check_done_at .* is before backup_started_at",
        ),
        (
            FaultFacts(started_at=S, restored_at=B - SECOND, backup_started_at=B),
            S + DAY,
            "restored_at .* is before backup_started_at",
        ),
        (FaultFacts(started_at=S, restored_at=S + DAY), S + DAY - SECOND, "now .* is before restored_at"),
        (FaultFacts(started_at=S), S - SECOND, "now .* is before started_at"),
    ],
)
def test_impossible_facts_are_refused(facts: FaultFacts, now: datetime, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        fault_clocks(facts, now, RULES, CAL)


def test_times_in_any_zone_are_accepted_and_returned_in_utc() -> None:
    facts = FaultFacts(started_at=S.astimezone(UTC), restored_at=S + DAY)
    (_, restore, *_) = fault_clocks(facts, (S + 2 * DAY).astimezone(CHINA_TZ), RULES, CAL)
    assert restore.met_at == S + DAY
    assert restore.met_at is not None and restore.met_at.tzinfo is UTC


# --- properties ----------------------------------------------------------------------------------

STARTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 15), timezones=st.just(CHINA_TZ)
)


@given(started=STARTS)
def test_restore_deadline_ends_a_working_day_exactly_five_working_days_on(started: datetime) -> None:
    due = restore_due_at(started, RULES, CAL).astimezone(CHINA_TZ)
    assert (due.hour, due.minute, due.second, due.microsecond) == (0, 0, 0, 0)  # 24:00 of the last day
    last_day = due.date() - DAY
    assert CAL.is_workday(last_day)
    assert CAL.workdays_between(started.date(), last_day) == 5
    assert CAL.workdays_between(started.date(), last_day - DAY) == 4  # no earlier day would do
    assert due - started > 5 * DAY


OFFSETS = st.one_of(st.none(), st.timedeltas(min_value=timedelta(0), max_value=60 * DAY))


@given(
    started=STARTS,
    restored=OFFSETS,
    backup=OFFSETS,
    backup_len=OFFSETS,
    check=OFFSETS,
    extra=st.timedeltas(min_value=timedelta(0), max_value=60 * DAY),
)
def test_states_agree_with_remaining(
    started: datetime,
    restored: timedelta | None,
    backup: timedelta | None,
    backup_len: timedelta | None,
    check: timedelta | None,
    extra: timedelta,
) -> None:
    backup_at = None if backup is None else started + backup
    if backup_at is not None and restored is not None and started + restored < backup_at:
        restored = backup  # a backup cannot begin after the restore
    facts = FaultFacts(
        started_at=started,
        restored_at=None if restored is None else started + restored,
        backup_started_at=backup_at,
        backup_ended_at=None if backup_at is None or backup_len is None else backup_at + backup_len,
        check_done_at=None if backup_at is None or check is None else backup_at + check,
    )
    now = started + 200 * DAY + extra
    clocks = fault_clocks(facts, now, RULES, CAL)
    assert [c.name for c in clocks] == list(CLOCK_NAMES)
    for c in clocks:
        if c.state == "not_applicable":
            assert (c.due_at, c.met_at, c.remaining) == (None, None, None)
            continue
        assert c.due_at is not None and c.remaining is not None
        assert (c.remaining < timedelta(0)) == (c.state in ("overdue", "breached"))
        assert (c.met_at is not None) == (c.state in ("met", "breached"))
        if c.met_at is not None:
            assert c.remaining == c.due_at - c.met_at


def test_rules_from_the_platform_settings() -> None:
    from envwatch.core.settings import Settings

    settings = Settings(_env_file=None, fault_restore_within_workdays=3)  # type: ignore[call-arg]
    rules = FaultRules.from_settings(settings)
    assert rules.restore_within_workdays == 3 and rules == FaultRules(restore_within_workdays=3)
