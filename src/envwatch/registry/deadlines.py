"""Filing deadlines (备案时限) after changes to a monitoring installation: SX-14 and SX-15.

Pure rules (DESIGN: ``now`` is passed in, no database). Each rule turns the moment of an event into a
:class:`Deadline`; :func:`deadline_status` then says, at a given ``now`` and given when the duty was met
(if it was), whether it is ``due``, ``met`` or ``overdue``.

Time: every input must be an aware datetime. Hour deadlines are exact elapsed time and need no time
zone; working-day deadlines are counted on China's calendar dates (UTC+8, :data:`CHINA_TZ`), since the
working days are Chinese ones. ``due_at`` is returned in China time (the same instant as in UTC).

``due_at`` is the last instant that still counts as on time: a duty met exactly at ``due_at`` is met.

The hour and day counts are parameters with the requirement's values as defaults, so a province that
changes them can pass its own (DESIGN convention 8: thresholds come from settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import InvalidInput
from envwatch.core.workdays import WorkdayCalendar

MAJOR_CHANGE_HOURS = 168
GAS_CORE_PART_DEBUG_HOURS = 72
REFILING_WORKDAYS = 5


class DeadlineStatus(StrEnum):
    DUE = "due"  # not met yet and still in time
    MET = "met"  # met on or before due_at
    OVERDUE = "overdue"  # not met and past due_at, or met after due_at (a late filing stays late)


@dataclass(frozen=True, slots=True)
class Deadline:
    kind: str  # stable machine name of the rule, e.g. "major_change"
    requirement: str  # clause ID the rule comes from (DESIGN convention 8)
    rule: str  # the rule in words, shown to users next to a finding
    event_at: datetime  # what the deadline counts from
    due_at: datetime  # last instant that is still on time, China time


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{name} must be a time-zone aware datetime, got naive {moment.isoformat()}")


def major_change_deadline(change_started_at: datetime, *, hours: int = MAJOR_CHANGE_HOURS) -> Deadline:
    """SX-14: after a major change, everything must be back within 168 h.

    A major change (重大变更: analyser or core part replaced, sampling point moved) is filed before it
    starts; monitoring is manual while it lasts; installation, debugging (调试), simple acceptance
    (简易验收), filing (备案) and reconnection (联网) must all be finished within 168 hours. The clock
    starts when the change starts (the automatic device stops monitoring), which is the moment the
    manual-monitoring gap opens; the requirement text does not name the start explicitly.
    """
    _require_aware(change_started_at, "change_started_at")
    return Deadline(
        kind="major_change",
        requirement="SX-14",
        rule=f"major change: install, debug, simple acceptance, filing and reconnection within {hours} h "
        f"of the change starting (重大变更 {hours} 小时内完成安装调试、简易验收、备案及联网)",
        event_at=change_started_at,
        due_at=(change_started_at + timedelta(hours=hours)).astimezone(CHINA_TZ),
    )


def gas_core_part_debug_deadline(
    replaced_at: datetime, *, hours: int = GAS_CORE_PART_DEBUG_HOURS
) -> Deadline:
    """SX-14: a replaced core part of a gas (废气, CEMS) analyser needs a 72 h debug test (调试检测).

    Modelled as a deadline: the debug test must be completed within 72 hours of the replacement. The
    condensed requirement ("need a 72 h debug test") can also be read as a minimum test duration (as
    HJ 75-2017 asks ≥ 168 h of trial operation); confirm against 晋环规〔2024〕2号 before relying on it.
    """
    _require_aware(replaced_at, "replaced_at")
    return Deadline(
        kind="gas_core_part_debug",
        requirement="SX-14",
        rule=f"replaced gas analyser core part: debug test completed within {hours} h of the replacement "
        f"(气态污染物监测设备核心部件更换后 {hours} 小时调试检测)",
        event_at=replaced_at,
        due_at=(replaced_at + timedelta(hours=hours)).astimezone(CHINA_TZ),
    )


def refiling_deadline(
    changed_at: datetime, calendar: WorkdayCalendar, *, workdays: int = REFILING_WORKDAYS
) -> Deadline:
    """SX-15: when filed content changes (备案内容变更), re-file within 5 working days after the change.

    Counting, a setting-free default taken from the Civil Code (民法典 Art. 201 and 203), which governs
    periods when a rule says nothing else:

    * the day of the change is not counted (开始的当日不计入); day 1 is the next working day in China;
    * only working days count (工作日, holidays and 调休 from ``calendar``), so a period cannot end on a
      day off;
    * the period ends at 24:00 China time of the 5th working day (期间的最后一日的截止时间为二十四时).
      Art. 203 allows office closing time instead where there are office hours, but filing is done
      on-line and bureaus' hours differ, so midnight is the rule that never cuts a filer short.

    Raises :class:`~envwatch.core.workdays.CalendarNotCovered` when the period runs into a year the
    calendar does not know, rather than guessing.
    """
    _require_aware(changed_at, "changed_at")
    last_day = calendar.add_workdays(changed_at.astimezone(CHINA_TZ).date(), workdays)
    # 24:00 of the last day is 00:00 of the next calendar day (whatever that day is).
    due_at = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=CHINA_TZ)
    return Deadline(
        kind="refiling",
        requirement="SX-15",
        rule=f"filed content changed: re-file within {workdays} working days after the change "
        f"(备案内容变更后 {workdays} 个工作日内重新备案)",
        event_at=changed_at,
        due_at=due_at,
    )


def deadline_status(deadline: Deadline, now: datetime, met_at: datetime | None = None) -> DeadlineStatus:
    """Where ``deadline`` stands at ``now``, given when its duty was met (``None``: not met).

    A ``met_at`` later than ``now`` is treated as not met yet: asking about an earlier ``now`` (a
    report on the past) must not see the future. A duty met after ``due_at`` is ``overdue`` for good:
    the late filing is the finding, even though it was done.
    """
    _require_aware(now, "now")
    if met_at is not None:
        _require_aware(met_at, "met_at")
        if met_at <= now:
            return DeadlineStatus.MET if met_at <= deadline.due_at else DeadlineStatus.OVERDUE
    return DeadlineStatus.DUE if now <= deadline.due_at else DeadlineStatus.OVERDUE
