"""Rule pack ``faults``: device faults (故障), data outages and production stops (停产).

The SX-18.3 clocks are judged by ``operations.fault_clocks`` (one implementation for the fault page and
the findings), on the facts ``operations.fault_reads.facts_of`` reads from a ``faults`` row. A rule judges
as of ``at``: a fact recorded with a time after ``at`` has not happened yet. One finding per fault (key
``fault:<id>``) for each clock that is ``overdue`` (not met, past due) or ``breached`` (met late: still a
finding, for the period in which the deadline was missed):

- ``SX-18.3-5WD``: not restored by 24:00 China time of the 5th working day after the start day;
- ``SX-18.3-24H``: longer than 24 h without a backup device (备机) or manual monitoring (手工监测) started
  in time; and manual monitoring without any uploaded result ``results_within_h`` after it started;
- ``SX-18.3-10D``: a backup used more than 7 days not checked (比对) within 10 days of switching;
- ``SX-18.3-30D``: a backup used more than 30 days.

- ``SX-30.5-MARK``: a fault not marked (故障未标记): ``mark_within_h`` after it began, no mark in force with a
  fault code (``mark_codes``) covers its start on each of its factors (or the whole device). The platform
  marks a fault's period when it is restored, so an open fault needs the period so far marked by hand;
  a restored fault whose mark was withdrawn or rejected is unmarked again. Hours the device itself flags D
  are not judged: flags are kept only inside the raw records, and finding them means reading every hour
  record of the fleet (see docs/compliance/rules-rates-faults.md).
- ``SX-30.8-24H``: a data outage (no hour data from the device, any factor) of more than ``hours``
  consecutive *expected* hours within the last ``lookback_days`` days, with neither a backup device running
  (a fault of the device on backup of kind ``backup_device`` at the moment the outage passed ``hours``) nor
  manual monitoring results of the device sampled in it. Expected hours are those the rates owe: an hour
  under an exempt mark that decides it (停运/停产 approved, ``monitoring.marks_store.deciding_marks`` and
  ``validity.mark_decides``, as the rates) is not expected and ends an outage. The hour coverage comes from
  ``factor_day_hours`` (the rates' day masks), one row per device, factor and day. An outage starts the
  hour after the device's last data, however long ago (its key must not move as the window slides); a
  device that never sent data is not judged (connecting it is SX-11's business).
- ``SX-18.4-2W``: after a production stop's restart, a device of the outlet not calibrated within
  ``om_restart_check_within_days`` (``operations.stop_checks.restart_check``).
- ``SX-18.4-REPORT`` (warning): a stop reported after it began (``submitted_at`` later than ``start_at``
  by more than ``grace_minutes``, the submission form's own tolerance), or approved only after it began
  (``decided_at`` > ``start_at`` on an approved stop: SX-18.4 wants approval first). A report still
  waiting, or rejected, is not judged: whether the outlet actually stopped is not recorded.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from envwatch.compliance.rules import Found, Link, Param, Rule, RuleContext, lookback
from envwatch.compliance.subjects import DeviceInfo, about_device, fleet, operators_on
from envwatch.core.clock import to_china
from envwatch.core.workdays import CalendarNotCovered, WorkdayCalendar
from envwatch.monitoring.day_counts import (
    HOUR,
    CountRules,
    china_day,
    day_start,
    hour_floor,
    refresh_day_counts,
)
from envwatch.monitoring.derived_schema import factor_day_hours
from envwatch.monitoring.marking import MarkEffect
from envwatch.monitoring.marks_store import deciding_marks, effective_marks
from envwatch.monitoring.validity import mark_decides
from envwatch.operations.corrections import current
from envwatch.operations.fault_clocks import Clock, ClockName, FaultFacts, FaultRules, fault_clocks
from envwatch.operations.fault_reads import factors_of, facts_of
from envwatch.operations.faults import FAULT_MARK_CODE
from envwatch.operations.faults_schema import faults, manual_results, production_stops
from envwatch.operations.production_stops import SUBMIT_GRACE, outlet_devices
from envwatch.operations.stop_checks import restart_check

log = logging.getLogger(__name__)
DAY = timedelta(days=1)
_f = faults.c
_m = manual_results.c
_s = production_stops.c


def _china(moment: datetime) -> str:
    return f"{to_china(moment):%Y-%m-%d %H:%M}"


class _Subjects:
    """The fleet once, and the operator in charge per day, asked lazily (a rule touches few days)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.devices = fleet(conn)
        self._by_day: dict[date, dict[int, int]] = {}

    def operator(self, device_id: int, day: date) -> int | None:
        if day not in self._by_day:
            self._by_day[day] = operators_on(self.conn, day, self.devices)
        return self._by_day[day].get(device_id)

    def about(self, device_id: int, day: date, operator_id: int | None = None) -> dict[str, Any]:
        """Subject fields of a finding about the device; ``operator_id`` (the fault's) wins when given."""
        device = self.devices[device_id]
        return dict(about_device(device, operator_id or self.operator(device_id, day)))


# ---- the SX-18.3 clocks ----


class _AnyDayCalendar(WorkdayCalendar):
    """Every day a working day: only for the backup clocks, which count calendar time. ``fault_clocks``
    computes the restore clock too; for a year the real calendar does not know yet, that clock (ignored
    by the backup rules) must not keep them from judging."""

    def is_workday(self, d: date) -> bool:
        return True


def _at(moment: datetime | None, at: datetime) -> datetime | None:
    return moment if moment is not None and moment <= at else None


def facts_at(row: Mapping[str, Any], at: datetime) -> FaultFacts:
    """The fault's facts as they stood at ``at``: anything dated later has not happened yet."""
    f = facts_of(row)
    return replace(
        f,
        restored_at=_at(f.restored_at, at),
        backup_started_at=_at(f.backup_started_at, at),
        backup_ended_at=_at(f.backup_ended_at, at),
        check_done_at=_at(f.check_done_at, at),
    )


def _faults_until(conn: Connection, at: datetime) -> list[dict[str, Any]]:
    query = select(faults).where(_f.started_at <= at).order_by(_f.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def _clock(
    row: Mapping[str, Any], name: ClockName, at: datetime, rules: FaultRules, calendar: WorkdayCalendar
) -> Clock | None:
    facts = facts_at(row, at)
    try:
        clocks = fault_clocks(facts, at, rules, calendar)
    except CalendarNotCovered as exc:
        if name == "restore":
            log.warning("fault %s: restore deadline not judged: %s", row["id"], exc.message)
            return None
        clocks = fault_clocks(facts, at, rules, _AnyDayCalendar())
    return next(c for c in clocks if c.name == name)


def _late(clock: Clock) -> str:
    """How late, worded: met late or still not met."""
    assert clock.due_at is not None and clock.remaining is not None
    late = -clock.remaining
    hours = late.total_seconds() / 3600
    by = f"{hours:.1f} h" if hours < 48 else f"{late.days} d {hours - 24 * late.days:.0f} h"
    if clock.state == "breached":
        assert clock.met_at is not None
        return f"done {_china(clock.met_at)}, {by} after the deadline {_china(clock.due_at)}"
    return f"not done {by} after the deadline {_china(clock.due_at)}"


def _clock_findings(
    ctx: RuleContext,
    name: ClockName,
    rules: FaultRules,
    what: Callable[[Mapping[str, Any], Clock], str],
    extra: Callable[[Mapping[str, Any], Clock | None], str | None] | None = None,
) -> list[Found]:
    """One finding per fault whose clock ``name`` is overdue or breached (or ``extra`` says why)."""
    subjects = _Subjects(ctx.conn)
    out: list[Found] = []
    for row in _faults_until(ctx.conn, ctx.at):
        clock = _clock(row, name, ctx.at, rules, ctx.calendar)
        late = clock is not None and clock.state in ("overdue", "breached")
        message = what(row, clock) if late and clock is not None else (extra(row, clock) if extra else None)
        if message is None:
            continue
        start = row["started_at"]
        out.append(
            Found(
                key=f"fault:{row['id']}",
                message=message,
                period_start=start,
                period_end=clock.due_at if clock is not None else None,
                evidence=(Link("fault", str(row["id"])),),
                **subjects.about(row["device_id"], china_day(start), row["operator_id"]),
            )
        )
    return sorted(out, key=lambda f: f.key)


def _rules(ctx: RuleContext, **changes: Any) -> FaultRules:
    return replace(FaultRules.from_settings(ctx.settings), **changes)


def _restore(ctx: RuleContext) -> Iterable[Found]:
    days: int = ctx["workdays"]

    def what(row: Mapping[str, Any], clock: Clock) -> str:
        return (
            f"fault {row['id']} (began {_china(row['started_at'])}) not restored within {days} working days: "
            f"{_late(clock)} (故障未在{days}个工作日内修复)"
        )

    return _clock_findings(ctx, "restore", _rules(ctx, restore_within_workdays=days), what)


def _results(conn: Connection, at: datetime) -> dict[int, list[int]]:
    """Fault id → ids of its current manual results recorded by ``at``."""
    query = (
        select(_m.fault_id, _m.id)
        .where(current(manual_results), _m.recorded_at <= at)
        .order_by(_m.fault_id, _m.id)
    )
    out: dict[int, list[int]] = defaultdict(list)
    for fault_id, result_id in conn.execute(query):
        out[int(fault_id)].append(int(result_id))
    return out


def _backup_required(ctx: RuleContext) -> Iterable[Found]:
    hours: float = ctx["hours"]
    within = timedelta(hours=ctx["results_within_h"])
    results = _results(ctx.conn, ctx.at)

    def what(row: Mapping[str, Any], clock: Clock) -> str:
        return (
            f"fault {row['id']} (began {_china(row['started_at'])}) lasted more than {hours:g} h without a "
            f"backup device or manual monitoring: {_late(clock)} (故障超过{hours:g}小时未启用备用设备或手工监测)"
        )

    def no_results(row: Mapping[str, Any], clock: Clock | None) -> str | None:
        started = _at(row["backup_started_at"], ctx.at)
        if (
            clock is None
            or clock.state != "met"
            or row["backup_kind"] != "manual"
            or started is None
            or ctx.at <= started + within
            or results.get(row["id"])
        ):
            return None
        return (
            f"fault {row['id']}: manual monitoring began {_china(started)} but no result was uploaded within "
            f"{ctx['results_within_h']:g} h (手工监测结果未上传)"
        )

    return _clock_findings(
        ctx, "backup_required", _rules(ctx, backup_required_after=timedelta(hours=hours)), what, no_results
    )


def _backup_check(ctx: RuleContext) -> Iterable[Found]:
    after, within = ctx["after_days"], ctx["within_days"]
    rules = _rules(ctx, backup_check_after=timedelta(days=after), backup_check_within=timedelta(days=within))

    def what(row: Mapping[str, Any], clock: Clock) -> str:
        return (
            f"fault {row['id']}: backup ({row['backup_kind']}) used more than {after:g} days, not checked "
            f"within {within:g} days of switching: {_late(clock)} (备用设备超过{after:g}天未在{within:g}天内比对)"
        )

    return _clock_findings(ctx, "backup_check", rules, what)


def _backup_max(ctx: RuleContext) -> Iterable[Found]:
    days = ctx["max_days"]

    def what(row: Mapping[str, Any], clock: Clock) -> str:
        return (
            f"fault {row['id']}: backup ({row['backup_kind']}) used longer than {days:g} days: {_late(clock)} "
            f"(备用设备使用超过{days:g}天)"
        )

    return _clock_findings(ctx, "backup_max", _rules(ctx, backup_max=timedelta(days=days)), what)


# ---- SX-30.5: unmarked faults ----


def _unmarked(ctx: RuleContext) -> Iterable[Found]:
    grace = timedelta(hours=ctx["mark_within_h"])
    codes = set(ctx["mark_codes"])
    due = [r for r in _faults_until(ctx.conn, ctx.at - grace)]
    if not due:
        return []
    first = min(r["started_at"] for r in due)
    spans = effective_marks(
        ctx.conn, sorted({r["device_id"] for r in due}), first, ctx.at, as_of=ctx.at, require_approval=False
    )
    # a rejected mark (INFO once reviewed so) is no mark; the fault marks need no approval
    marks_of: dict[int, list[Any]] = defaultdict(list)
    for span in spans:
        if span.code in codes and span.effect is not MarkEffect.INFO:
            marks_of[span.device_id].append(span)
    subjects = _Subjects(ctx.conn)
    out: list[Found] = []
    for row in due:
        start = row["started_at"]
        targets: Sequence[str | None] = factors_of(row) or [None]
        covering = [s for s in marks_of[row["device_id"]] if s.start <= start < s.end]
        bare = [t for t in targets if not any(s.factor is None or s.factor == t for s in covering)]
        if not bare:
            continue
        what = ", ".join(t or "the whole device" for t in bare)
        state = "open" if _at(row["restored_at"], ctx.at) is None else "restored"
        out.append(
            Found(
                key=f"fault:{row['id']}",
                message=(
                    f"fault {row['id']} ({state}, began {_china(start)}) has no fault mark in force on {what} "
                    f"{ctx['mark_within_h']:g} h after it began (故障未标记)"
                ),
                period_start=start,
                period_end=_at(row["restored_at"], ctx.at),
                evidence=(Link("fault", str(row["id"])),),
                **subjects.about(row["device_id"], china_day(start), row["operator_id"]),
            )
        )
    return sorted(out, key=lambda f: f.key)


# ---- SX-30.8: outages without backup or manual monitoring ----


@dataclass(frozen=True)
class Outage:
    """Consecutive expected hours without data: [start, end), ``end`` the first hour with data, the first
    exempt hour, or the end of the last hour that ended (ongoing)."""

    device_id: int
    start: datetime
    end: datetime
    ongoing: bool

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)


def _received_masks(
    conn: Connection, first: date, last: date, device_ids: set[int]
) -> dict[int, dict[date, int]]:
    """Device → China day → the hours (bit h) with any factor received, over [first, last]."""
    c = factor_day_hours.c
    query = select(c.device_id, c.day, c.received).where(c.day >= first, c.day <= last, c.received != 0)
    out: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for device_id, day, received in conn.execute(query):
        if device_id in device_ids:
            out[device_id][day] |= received
    return out


def _masks_on(conn: Connection, days: Mapping[int, date]) -> list[tuple[int, date, int]]:
    """(device, day, received mask) of each factor row of the (device, day) pairs ``days``."""
    if not days:
        return []
    c = factor_day_hours.c
    query = select(c.device_id, c.day, c.received).where(c.day.in_(sorted(set(days.values()))))
    return [(d, day, received) for d, day, received in conn.execute(query) if days.get(d) == day]


def _last_data_day_before(conn: Connection, day: date) -> dict[int, date]:
    """Device → the last China day before ``day`` with any hour received."""
    c = factor_day_hours.c
    query = select(c.device_id, func.max(c.day)).where(c.day < day, c.received != 0).group_by(c.device_id)
    return {int(d): last for d, last in conn.execute(query)}


def _exempt_hours(
    ctx: RuleContext, devices: Mapping[int, DeviceInfo], start: datetime, end: datetime
) -> dict[int, set[datetime]]:
    """Per device, the hours in [start, end) a device-wide exempt mark decides (not owed, as in the rates)."""
    min_valid = {
        kind: CountRules.from_settings(ctx.settings, kind).min_valid_minutes for kind in ("gas", "water")
    }
    covered: dict[int, dict[datetime, timedelta]] = defaultdict(lambda: defaultdict(timedelta))
    for span in deciding_marks(ctx.conn, ctx.settings, sorted(devices), start, end):
        if span.effect is not MarkEffect.EXEMPT or span.factor is not None:
            continue
        s, e = max(span.start, start), min(span.end, end)
        hour = hour_floor(s)
        while hour < e:
            covered[span.device_id][hour] += min(e, hour + HOUR) - max(s, hour)
            hour += HOUR
    return {
        device_id: {
            h for h, span in hours.items() if mark_decides(span, HOUR, min_valid[devices[device_id].kind])
        }
        for device_id, hours in covered.items()
    }


def find_outages(ctx: RuleContext, min_hours: float, lookback: timedelta) -> list[Outage]:
    """Outages longer than ``min_hours`` that reach into [at - lookback, at), oldest first per device."""
    end = hour_floor(ctx.at)
    window = end - lookback
    devices = {d.id: d for d in fleet(ctx.conn).values() if d.outlet_id is not None}
    first_day, last_day = china_day(window), china_day(end)
    masks = _received_masks(ctx.conn, first_day, last_day, set(devices))
    before = _last_data_day_before(ctx.conn, first_day)
    origins: dict[int, date] = {}
    for device_id in devices:
        if device_id in before:
            origins[device_id] = before[device_id]
        elif masks.get(device_id):
            origins[device_id] = min(masks[device_id])
    if not origins:
        return []
    older = {d: day for d, day in origins.items() if day < first_day}
    for device_id, day, received in _masks_on(ctx.conn, older):  # each one's last day with data
        masks.setdefault(device_id, defaultdict(int))[day] |= received
    exempt = _exempt_hours(ctx, {d: devices[d] for d in origins}, day_start(min(origins.values())), end)
    out: list[Outage] = []
    for device_id, origin in sorted(origins.items()):
        out.extend(
            _runs(device_id, origin, end, masks.get(device_id, {}), exempt.get(device_id, set()), min_hours)
        )
    return [o for o in out if o.end > window]


def _runs(
    device_id: int,
    origin: date,
    end: datetime,
    masks: Mapping[date, int],
    exempt: set[datetime],
    min_hours: float,
) -> list[Outage]:
    """Runs of expected hours without data from the first hour with data on ``origin`` to ``end``."""
    out: list[Outage] = []
    hour, run_start, seen_data = day_start(origin), None, False

    def close(at: datetime, ongoing: bool) -> None:
        if run_start is not None and (at - run_start) / HOUR > min_hours:
            out.append(Outage(device_id, run_start, at, ongoing))

    while hour < end:
        day = china_day(hour)
        received = masks.get(day, 0) >> int((hour - day_start(day)) / HOUR) & 1
        if received or hour in exempt:
            close(hour, False)
            run_start = None
            seen_data = seen_data or bool(received)
        elif seen_data and run_start is None:
            run_start = hour
        hour += HOUR
    close(end, True)
    return out


def _backups(conn: Connection, at: datetime) -> dict[int, list[tuple[int, datetime, datetime | None]]]:
    """Device → (fault id, start, end or None) of each backup device (备机) run known at ``at``."""
    query = select(faults).where(_f.backup_kind == "backup_device", _f.backup_started_at <= at)
    out: dict[int, list[tuple[int, datetime, datetime | None]]] = defaultdict(list)
    for row in conn.execute(query.order_by(_f.id)).mappings():
        facts = facts_at(dict(row), at)
        ends = [m for m in (facts.backup_ended_at, facts.restored_at) if m is not None]
        assert facts.backup_started_at is not None
        out[int(row["device_id"])].append((int(row["id"]), facts.backup_started_at, min(ends, default=None)))
    return out


def _manual_samples(conn: Connection, start: datetime, at: datetime) -> dict[int, list[tuple[int, datetime]]]:
    """Device → (result id, sampling time) of its current manual results sampled since ``start``."""
    query = (
        select(_m.device_id, _m.id, _m.sampled_at)
        .where(current(manual_results), _m.sampled_at >= start, _m.sampled_at < at, _m.recorded_at <= at)
        .order_by(_m.device_id, _m.sampled_at, _m.id)
    )
    out: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for device_id, result_id, sampled_at in conn.execute(query):
        out[int(device_id)].append((int(result_id), sampled_at))
    return out


def _outages(ctx: RuleContext) -> Iterable[Found]:
    hours: float = ctx["hours"]
    # the hour coverage is the rates' derived day masks: bring them up to date first, as the rates do,
    # before this connection reads anything (a SQLite read snapshot would miss the refresh)
    refresh_day_counts(ctx.engine, ctx.settings, ctx.at)
    outages = find_outages(ctx, hours, timedelta(days=ctx["lookback_days"]))
    if not outages:
        return []
    backups = _backups(ctx.conn, ctx.at)
    samples = _manual_samples(ctx.conn, min(o.start for o in outages), ctx.at)
    subjects = _Subjects(ctx.conn)
    out: list[Found] = []
    for o in outages:
        due = o.start + timedelta(hours=hours)
        if any(s <= due and (e is None or e > due) for _, s, e in backups.get(o.device_id, ())):
            continue
        if any(o.start <= t < o.end for _, t in samples.get(o.device_id, ())):
            continue
        device = subjects.devices[o.device_id]
        until = "until now (ongoing)" if o.ongoing else f"to {_china(o.end)}"
        start_text = to_china(o.start).isoformat()
        out.append(
            Found(
                key=f"device:{o.device_id}:outage:{start_text}",
                message=(
                    f"device {device.mn} sent no hour data from {_china(o.start)} {until} China time "
                    f"({o.hours} h > {hours:g} h) without a backup device or manual monitoring results "
                    f"(超过{hours:g}小时无数据且未启用备用设备或手工监测)"
                ),
                period_start=o.start,
                period_end=o.end,
                evidence=(Link("device", str(o.device_id), device.mn),),
                **subjects.about(o.device_id, china_day(o.start)),
            )
        )
    return sorted(out, key=lambda f: f.key)


# ---- SX-18.4: production stops ----


def _stops(conn: Connection, *where: Any) -> list[dict[str, Any]]:
    query = select(production_stops).where(*where).order_by(_s.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def _about_outlet(subjects: _Subjects, stop: Mapping[str, Any], operator_id: int | None) -> dict[str, Any]:
    return {
        "subject_kind": "outlet",
        "subject_id": int(stop["outlet_id"]),
        "outlet_id": int(stop["outlet_id"]),
        "enterprise_id": int(stop["enterprise_id"]),
        "operator_id": operator_id,
    }


def _restart_check(ctx: RuleContext) -> Iterable[Found]:
    days: int = ctx["days"]
    subjects = _Subjects(ctx.conn)
    out: list[Found] = []
    for stop in _stops(ctx.conn, _s.restarted_at.is_not(None), _s.restarted_at <= ctx.at):
        devs = outlet_devices(ctx.conn, stop["outlet_id"])
        check = restart_check(ctx.conn, stop, devs, ctx.at, timedelta(days=days))
        if check is None or check["state"] != "overdue":
            continue
        missing = [d for d in check["devices"] if d["calibrated_at"] is None]
        day = china_day(stop["restarted_at"])
        operators = [op for d in missing if (op := subjects.operator(d["id"], day)) is not None]
        out.append(
            Found(
                key=f"stop:{stop['id']}",
                message=(
                    f"production stop {stop['id']} restarted {_china(stop['restarted_at'])}: "
                    f"{', '.join(d['mn'] for d in missing)} not calibrated within {days} days (by "
                    f"{_china(check['due_at'])}) (停产恢复后未在{days}天内校准核查)"
                ),
                period_start=stop["restarted_at"],
                period_end=check["due_at"],
                evidence=(
                    Link("stop", str(stop["id"])),
                    *(Link("device", str(d["id"]), d["mn"]) for d in missing),
                ),
                **_about_outlet(subjects, stop, operators[0] if operators else None),
            )
        )
    return sorted(out, key=lambda f: f.key)


def _reported_first(ctx: RuleContext) -> Iterable[Found]:
    grace = timedelta(minutes=ctx["grace_minutes"])
    subjects = _Subjects(ctx.conn)
    out: list[Found] = []
    for stop in _stops(ctx.conn, _s.start_at <= ctx.at, _s.submitted_at <= ctx.at):
        start, problems = stop["start_at"], []
        if stop["submitted_at"] > start + grace:
            problems.append(f"reported {_china(stop['submitted_at'])}, after it began (停产未事先报告)")
        decided = _at(stop["decided_at"], ctx.at)
        if stop["state"] in ("approved", "restarted") and decided is not None and decided > start:
            problems.append(f"approved {_china(decided)}, after it began (停产未经批准先行停运)")
        if not problems:
            continue
        out.append(
            Found(
                key=f"stop:{stop['id']}",
                message=f"production stop {stop['id']} planned from {_china(start)}: " + "; ".join(problems),
                period_start=start,
                period_end=stop["end_at"],
                evidence=(Link("stop", str(stop["id"])),),
                severity="warning",
                **_about_outlet(subjects, stop, None),
            )
        )
    return sorted(out, key=lambda f: f.key)


RULES: tuple[Rule, ...] = (
    Rule(
        id="SX-18.3-5WD",
        requirement="SX-18.3",
        title="Fault not restored within 5 working days",
        title_zh="故障未在5个工作日内修复",
        subject="device",
        inputs="faults (start, restore), the working-day calendar",
        evaluate=_restore,
        params=(
            Param(
                "workdays",
                "working days after the start day to restore a fault",
                setting="fault_restore_within_workdays",
            ),
        ),
    ),
    Rule(
        id="SX-18.3-24H",
        requirement="SX-18.3",
        title="Fault over 24 h without a backup device or manual monitoring",
        title_zh="故障超过24小时未启用备用设备或手工监测",
        subject="device",
        inputs="faults (start, restore, backup start and kind), manual_results",
        evaluate=_backup_required,
        params=(
            Param(
                "hours",
                "hours of fault after which a backup or manual monitoring runs",
                setting="fault_backup_required_after_h",
            ),
            Param(
                "results_within_h",
                "hours after manual monitoring began by which a result is uploaded [P]",
                default=72.0,
            ),
        ),
    ),
    Rule(
        id="SX-18.3-10D",
        requirement="SX-18.3",
        title="Backup used over 7 days without a check within 10 days",
        title_zh="备用设备超过7天未在10天内比对",
        subject="device",
        inputs="faults (backup start, check, end, restore)",
        evaluate=_backup_check,
        params=(
            Param(
                "after_days",
                "days of backup use after which a check is needed",
                setting="fault_backup_check_after_days",
            ),
            Param(
                "within_days",
                "days after switching by which the check is done",
                setting="fault_backup_check_within_days",
            ),
        ),
    ),
    Rule(
        id="SX-18.3-30D",
        requirement="SX-18.3",
        title="Backup used longer than 30 days",
        title_zh="备用设备使用超过30天",
        subject="device",
        inputs="faults (backup start, end, restore)",
        evaluate=_backup_max,
        params=(Param("max_days", "days a backup may be used at most", setting="fault_backup_max_days"),),
    ),
    Rule(
        id="SX-30.5-MARK",
        requirement="SX-30.5",
        title="Fault not marked",
        title_zh="故障未标记",
        subject="device",
        inputs="faults, marks in force",
        evaluate=_unmarked,
        params=(
            Param(
                "mark_within_h", "hours after a fault began by which its period is marked [P]", default=24.0
            ),
            Param("mark_codes", "mark codes that mark a fault [P]", default=(FAULT_MARK_CODE,)),
        ),
    ),
    Rule(
        id="SX-30.8-24H",
        requirement="SX-30.8",
        title="Data outage over 24 h without backup or manual monitoring",
        title_zh="超过24小时无数据且未启用备用设备或手工监测",
        subject="device",
        inputs="hour coverage (factor_day_hours), exempt marks, faults on backup, manual_results",
        evaluate=_outages,
        params=(
            Param(
                "hours",
                "consecutive expected hours without data that make an outage",
                setting="fault_backup_required_after_h",
            ),
            Param(
                "lookback_days", "days back from the judged moment an outage must reach into [P]", default=35
            ),
        ),
        judges=lookback("lookback_days"),
    ),
    Rule(
        id="SX-18.4-2W",
        requirement="SX-18.4",
        title="Device not calibrated within 2 weeks of a restart",
        title_zh="停产恢复后未在两周内校准核查",
        subject="outlet",
        inputs="production_stops (restart), calibration field records",
        evaluate=_restart_check,
        params=(
            Param(
                "days",
                "days after a restart by which every device is calibrated",
                setting="om_restart_check_within_days",
            ),
        ),
    ),
    Rule(
        id="SX-18.4-REPORT",
        requirement="SX-18.4",
        title="Production stop not reported and approved before it began",
        title_zh="停产未事先报告并经批准",
        subject="outlet",
        inputs="production_stops (start, submitted, decided)",
        evaluate=_reported_first,
        params=(
            Param(
                "grace_minutes",
                "minutes after the planned start a report still counts as before it (the submission form's tolerance) [P]",
                default=int(SUBMIT_GRACE.total_seconds() // 60),
            ),
        ),
    ),
)
