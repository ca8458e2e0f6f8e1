"""Effective transmission rate (有效传输率) per factor, device, outlet, enterprise, region or operator.

Definition (标记规则; monitoring-rules §4, ETR-01/02), counted on **hourly records per factor**:

- expected (应收) = the hours of the period that have ended, less hours under an exempt mark (停运
  shutdown, approved) and, for the water factors of ``rates_water_qc_exempt_factors``,
  ``rates_water_qc_exempt_hours_per_day`` per day for the automatic standard-sample check (ETR-02);
- received (实收) = expected hours with a record (``monitoring.day_counts``), at most expected per day;
- valid (有效) = received hours valid by their flags and not under an invalid mark;
- transmission rate = received / expected, validity rate = valid / received, effective rate = their
  product = valid / expected.

A mark decides an hour when it covers more of it than a valid hour may miss (60 − 45 = 15 minutes with the
HJ 75 threshold; ``validity.mark_decides``, the rule the explanations use too). Longer periods add the counts, never the percentages. Each row carries the counts behind
its rates, and the same counts with only on-time data (the real-time rate 即时; the main figures are the
completed rate 补全, after late back-fill).

Grouped by operator (运维单位), a device belongs to the operator whose contract in force on the query's last
day covers its outlet or, failing that, its whole enterprise (an outlet contract is the more specific one;
of several alike, the one that started last, then the newest row); devices without one form the
"(no operator)" group.

Thresholds flagged: SX-30.7 (quarter < 90 %), SX-30.6 (month < 90 % with ≥ 3 faults), CS-4.3.2.1
(< 95 %, the certified operator's line); all three are settings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, case, func, or_, select

from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.monitoring.day_counts import (
    DAY,
    HOUR,
    RECEIVED,
    RECEIVED_ON_TIME,
    VALID,
    VALID_ON_TIME,
    CountRules,
    bits_of,
    china_day,
    day_start,
    hour_floor,
    refresh_day_counts,
)
from envwatch.monitoring.derived_schema import factor_day_hours
from envwatch.monitoring.hourly_view import hour_views
from envwatch.monitoring.marking import MarkEffect, MarkSpan
from envwatch.monitoring.marks_store import deciding_marks
from envwatch.monitoring.validity import Outcome, mark_decides
from envwatch.registry.schema import contracts, device_factors, devices, enterprises, operators, outlets

OPERATOR_GROUP = "operator"  # by the operator in charge on the query's last day (运维单位)
GROUPS = ("factor", "device", "outlet", "enterprise", "region", OPERATOR_GROUP)
NO_OPERATOR = "(no operator)"
FAULT_CODE = "fault"


@dataclass(slots=True)
class Counts:
    expected: int = 0
    received: int = 0
    valid: int = 0
    received_on_time: int = 0
    valid_on_time: int = 0
    exempt_hours: int = 0  # expected hours taken out by exempt marks
    qc_exempt_hours: int = 0  # taken out for the water standard-sample check
    marked_invalid_hours: int = 0  # received hours made invalid by marks

    def add(self, other: Counts) -> None:
        self.expected += other.expected
        self.received += other.received
        self.valid += other.valid
        self.received_on_time += other.received_on_time
        self.valid_on_time += other.valid_on_time
        self.exempt_hours += other.exempt_hours
        self.qc_exempt_hours += other.qc_exempt_hours
        self.marked_invalid_hours += other.marked_invalid_hours


def percent(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass
class RateRow:
    key: dict[str, Any]
    counts: Counts = field(default_factory=Counts)
    faults: int = 0
    flags: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            **self.key,
            "expected": c.expected,
            "received": c.received,
            "valid": c.valid,
            "transmission_rate": percent(c.received, c.expected),
            "validity_rate": percent(c.valid, c.received),
            "effective_rate": percent(c.valid, c.expected),
            "realtime": {
                "received": c.received_on_time,
                "valid": c.valid_on_time,
                "transmission_rate": percent(c.received_on_time, c.expected),
                "validity_rate": percent(c.valid_on_time, c.received_on_time),
                "effective_rate": percent(c.valid_on_time, c.expected),
            },
            "exempt_hours": c.exempt_hours,
            "qc_exempt_hours": c.qc_exempt_hours,
            "marked_invalid_hours": c.marked_invalid_hours,
            "faults": self.faults,
            "flags": self.flags,
        }


@dataclass(frozen=True)
class RateQuery:
    first: date  # China calendar days, both included
    last: date
    group: str = "device"
    mns: Sequence[str] | None = None
    region_level: int = 6  # digits of the region code to group by: 2 province, 4 city, 6 county
    # the fleet a caller may see (web.scope); None = every device. Applied after ``mns`` is checked, so an
    # MN outside it is simply absent: callers that must refuse one (404) check it before asking.
    device_ids: Collection[int] | None = None

    def check(self) -> None:
        if self.last < self.first:
            raise InvalidInput(f"--to {self.last} is before --from {self.first}")
        if self.group not in GROUPS:
            raise InvalidInput(f"group must be one of {', '.join(GROUPS)}, not {self.group!r}")
        if self.region_level not in (2, 4, 6):
            raise InvalidInput("region level must be 2 (province), 4 (city) or 6 (county)")
        if (self.last - self.first).days > 3 * 366:
            raise InvalidInput("a rate period is at most three years; ask per year")


@dataclass(frozen=True)
class _Device:
    id: int
    mn: str
    name: str
    kind: str
    outlet_id: int | None
    outlet: str
    enterprise_id: int | None
    enterprise: str
    region_code: str
    operator_id: int | None = None  # filled for the operator group only
    operator: str = NO_OPERATOR


def compute_rates(
    engine: Engine, settings: Settings, query: RateQuery, now: datetime
) -> list[dict[str, Any]]:
    """Rates of every group in ``query`` as plain dicts (rates are percentages with two decimals)."""
    query.check()
    refresh_day_counts(engine, settings, now)
    start, end = day_start(query.first), min(day_start(query.last + DAY), hour_floor(now))
    with engine.connect() as conn:
        fleet = _devices(conn, query.mns, query.device_ids)
        if query.group == OPERATOR_GROUP:
            fleet = _with_operators(conn, fleet, query.last)
        rated = _rated_factors(conn, settings, fleet)
        spans = _marks(conn, settings, [d.id for d in fleet], start, end)
        rules = {kind: CountRules.from_settings(settings, kind) for kind in ("gas", "water")}
        min_valid = {d.id: rules[d.kind].min_valid_minutes for d in fleet}
        marked = _marked_hours(spans, start, end, min_valid)
        rows: dict[tuple[Any, ...], RateRow] = {}
        days = [
            (day, hours) for day in _days(query.first, query.last) if (hours := _elapsed_hours(day, now)) > 0
        ]
        whole = [day for day, hours in days if hours == 24]  # every day of the period but today
        # hours owed by a whole day without marks, per (device, factor): 24 less the check hour
        owed = {(d.id, f): 24 - min(_qc_hours(settings, d, f), 24) for d in fleet for f in rated[d.id]}
        sums = _period_sums(conn, owed, whole[0], whole[-1]) if whole else {}
        one_by_one = {d.id: _days_one_by_one(days, marked.get(d.id, {})) for d in fleet}
        per_day = _day_masks(conn, one_by_one, rated)
        for device in fleet:
            faults = sum(1 for s in spans.get(device.id, ()) if s.code == FAULT_CODE)
            device_marked = marked.get(device.id, {})
            device_days = one_by_one[device.id]
            for factor in rated[device.id]:
                counts = _factor_counts(
                    device,
                    factor,
                    device_days,
                    per_day,
                    device_marked,
                    settings,
                    _rejudge(conn, settings, device, now),
                )
                counts.add(
                    _summed_counts(
                        sums.get((device.id, factor)),
                        len(whole),
                        [per_day.get((device.id, factor, day)) for day, hours in device_days if hours == 24],
                        owed[(device.id, factor)],
                    )
                )
                _row_for(rows, query, device, factor).counts.add(counts)
            for row in _rows_of_device(rows, query, device):
                row.faults += faults
    out = list(rows.values())
    for row in out:
        row.flags = _threshold_flags(row, query, settings)
    return [r.as_dict() for r in sorted(out, key=lambda r: tuple(str(v) for v in r.key.values()))]


# --- the fleet and its factors ---------------------------------------------------------------------
def _devices(
    conn: Connection, mns: Sequence[str] | None, device_ids: Collection[int] | None = None
) -> list[_Device]:
    d, o, e = devices.c, outlets.c, enterprises.c
    stmt = (
        select(d.id, d.mn, d.name, d.kind, d.outlet_id, d.outlet, d.enterprise, o.code, e.id.label("eid"))
        .add_columns(e.name.label("ename"), e.region_code)
        .select_from(
            devices.outerjoin(outlets, o.id == d.outlet_id).outerjoin(enterprises, e.id == o.enterprise_id)
        )
        .order_by(d.mn)
    )
    if mns:
        stmt = stmt.where(d.mn.in_(list(mns)))
    fleet = [
        _Device(
            id=r.id,
            mn=r.mn,
            name=r.name,
            kind=r.kind,
            outlet_id=r.outlet_id,
            outlet=r.code or r.outlet,
            enterprise_id=r.eid,
            enterprise=r.ename or r.enterprise,
            region_code=r.region_code or "",
        )
        for r in conn.execute(stmt)
    ]
    if mns:
        missing = set(mns) - {dev.mn for dev in fleet}
        if missing:
            raise InvalidInput(f"no device with MN {', '.join(sorted(missing))}")
    if device_ids is not None:
        fleet = [dev for dev in fleet if dev.id in device_ids]
    return fleet


def _with_operators(conn: Connection, fleet: Sequence[_Device], day: date) -> list[_Device]:
    """The fleet with each device's operator on ``day``: the contract in force covering its outlet, else
    one covering its whole enterprise; of several alike the one that started last (then the newest row)."""
    c = contracts.c
    in_force = (
        select(c.operator_id, operators.c.name, c.enterprise_id, c.outlet_id)
        .join(operators, operators.c.id == c.operator_id)
        .where(c.valid_from <= day, or_(c.valid_to.is_(None), c.valid_to >= day))
        .order_by(c.valid_from, c.id)
    )
    by_outlet: dict[int, tuple[int, str]] = {}
    by_enterprise: dict[int, tuple[int, str]] = {}
    for row in conn.execute(in_force):  # in start order: a later contract overwrites an earlier one
        if row.outlet_id is None:
            by_enterprise[row.enterprise_id] = (row.operator_id, row.name)
        else:
            by_outlet[row.outlet_id] = (row.operator_id, row.name)
    out = []
    for dev in fleet:
        found = (dev.outlet_id is not None and by_outlet.get(dev.outlet_id)) or (
            dev.enterprise_id is not None and by_enterprise.get(dev.enterprise_id)
        )
        out.append(replace(dev, operator_id=found[0], operator=found[1]) if found else dev)
    return out


def _rated_factors(conn: Connection, settings: Settings, fleet: Sequence[_Device]) -> dict[int, list[str]]:
    """The factors each device is rated on: its registered rated factors, else the defaults of its kind."""
    registered: dict[int, list[str]] = defaultdict(list)
    f = device_factors.c
    for device_id, factor in conn.execute(
        select(f.device_id, f.factor).where(f.rated == 1).order_by(f.factor)
    ):
        registered[device_id].append(factor)
    defaults = {"gas": settings.rates_factors_gas, "water": settings.rates_factors_water}
    return {dev.id: registered.get(dev.id) or list(defaults[dev.kind]) for dev in fleet}


# devices asked by id in SQL (the primary key (device, factor, day) then finds their rows); a larger fleet
# is read whole and filtered here. Within SQLite's 32,766 bound parameters and PostgreSQL's 65,535.
_IN_LIST_MAX = 10_000


def _qc_hours(settings: Settings, device: _Device, factor: str) -> int:
    """Hours a day not owed for the water standard-sample check (ETR-02): 0 for other factors."""
    if device.kind == "water" and factor in settings.rates_water_qc_exempt_factors:
        return settings.rates_water_qc_exempt_hours_per_day
    return 0


Sums = tuple[int, int, int, int]  # received, valid, received_on_time, valid_on_time hours


def _period_sums(
    conn: Connection, owed: dict[tuple[int, str], int], first: date, last: date
) -> dict[tuple[int, str], Sums]:
    """Per (device, factor) of ``owed``, the stored hour counts summed over the days [first, last], each
    day's at most the hours it owes (as a day counted alone: 24 of 24, or 23 of 23 for a water factor
    with its check hour). One aggregate per number of hours owed, in SQL: a year of the fleet is ~1 M
    rows, too many to bring to Python (see docs/monitoring.md)."""
    c = factor_day_hours.c
    groups: dict[int, tuple[set[int], set[str]]] = defaultdict(lambda: (set(), set()))
    for (device_id, factor), hours in owed.items():
        groups[hours][0].add(device_id)
        groups[hours][1].add(factor)
    out: dict[tuple[int, str], Sums] = {}
    for hours, (device_ids, factors) in groups.items():
        columns = (c.received_hours, c.valid_hours, c.received_on_time_hours, c.valid_on_time_hours)
        stmt = (
            select(
                c.device_id, c.factor, *(func.sum(case((col > hours, hours), else_=col)) for col in columns)
            )
            .where(c.factor.in_(sorted(factors)), c.day >= first, c.day <= last)
            .group_by(c.device_id, c.factor)
        )
        if len(device_ids) <= _IN_LIST_MAX:
            stmt = stmt.where(c.device_id.in_(sorted(device_ids)))
        for device_id, factor, *sums in conn.execute(stmt):
            if owed.get((device_id, factor)) == hours:  # not a pair of another group, nor unrated
                out[(device_id, factor)] = (int(sums[0]), int(sums[1]), int(sums[2]), int(sums[3]))
    return out


def _days_one_by_one(days: Sequence[tuple[date, int]], marked: MarkedHours) -> list[tuple[date, int]]:
    """The days of a device counted hour by hour from their masks: today (only the hours that ended
    count) and the days its marks touch. The others are summed in SQL."""
    touched = {day for _, day in marked}
    return [(day, hours) for day, hours in days if hours < 24 or day in touched]


def _day_masks(
    conn: Connection, one_by_one: dict[int, list[tuple[date, int]]], rated: dict[int, list[str]]
) -> dict[tuple[int, str, date], tuple[int, int, int, int]]:
    """The stored masks of the days counted one by one, per (device, factor, day). One query per day
    (device, factor and day given: primary-key look-ups), as marks touch few days of few devices."""
    devices_of_day: dict[date, list[int]] = defaultdict(list)
    for device_id, days in one_by_one.items():
        for day, _ in days:
            devices_of_day[day].append(device_id)
    factors = sorted({factor for device_factors in rated.values() for factor in device_factors})
    c = factor_day_hours.c
    out: dict[tuple[int, str, date], tuple[int, int, int, int]] = {}
    for day, device_ids in sorted(devices_of_day.items()):
        stmt = select(c.device_id, c.factor, c.received, c.valid, c.received_on_time, c.valid_on_time).where(
            c.day == day, c.factor.in_(factors)
        )
        wanted = set(device_ids)
        if len(wanted) <= _IN_LIST_MAX:
            stmt = stmt.where(c.device_id.in_(sorted(wanted)))
        for device_id, factor, *masks in conn.execute(stmt):
            if device_id in wanted:
                out[(device_id, factor, day)] = (masks[0], masks[1], masks[2], masks[3])
    return out


# --- marks: which hours they decide -----------------------------------------------------------------
def _marks(
    conn: Connection, settings: Settings, device_ids: list[int], start: datetime, end: datetime
) -> dict[int, list[MarkSpan]]:
    out: dict[int, list[MarkSpan]] = defaultdict(list)
    if start >= end:
        return out
    # the same marks as validity and the explanations: approval and late rules in one place
    for span in deciding_marks(conn, settings, device_ids, start, end):
        out[span.device_id].append(span)
    return out


# (factor or None for the whole device, day) → (exempt, invalid, touched) hour indexes: the hours the marks
# decide either way, and the hours they touch without deciding alone (re-judged like the explanations)
MarkedHours = dict[tuple[str | None, date], tuple[set[int], set[int], set[int]]]


def _marked_hours(
    spans: dict[int, list[MarkSpan]], start: datetime, end: datetime, min_valid: dict[int, int]
) -> dict[int, MarkedHours]:
    """The hours each device's marks decide (``validity.mark_decides``: more than 15 of 60 minutes)."""
    out: dict[int, MarkedHours] = {}
    for device_id, device_spans in spans.items():
        by_target: dict[tuple[str | None, MarkEffect], list[tuple[datetime, datetime]]] = defaultdict(list)
        for s in device_spans:
            if s.effect in (MarkEffect.EXEMPT, MarkEffect.INVALID):
                by_target[(s.factor, s.effect)].append((max(s.start, start), min(s.end, end)))
        marked: MarkedHours = {}
        for (factor, effect), intervals in by_target.items():
            for hour_start, covered in _coverage(intervals).items():
                day = china_day(hour_start)
                index = int((hour_start - day_start(day)) / HOUR)
                exempt, invalid, touched = marked.setdefault((factor, day), (set(), set(), set()))
                if mark_decides(covered, HOUR, min_valid[device_id]):
                    (exempt if effect is MarkEffect.EXEMPT else invalid).add(index)
                else:
                    touched.add(index)
        out[device_id] = marked
    return out


def _coverage(intervals: Iterable[tuple[datetime, datetime]]) -> dict[datetime, timedelta]:
    """How much of each clock hour the (merged) intervals cover."""
    merged: list[list[datetime]] = []
    for s, e in sorted(i for i in intervals if i[0] < i[1]):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    covered: dict[datetime, timedelta] = defaultdict(timedelta)
    for s, e in merged:
        hour = hour_floor(s)
        while hour < e:
            covered[hour] += min(e, hour + HOUR) - max(s, hour)
            hour += HOUR
    return covered


def _merge(marked: MarkedHours, factor: str, day: date) -> tuple[set[int], set[int], set[int]]:
    """Marks of the factor and of the whole device on ``day``: (exempt, invalid, touched) hours; exempt
    wins over invalid, and a touched hour is one no mark decides alone."""
    exempt: set[int] = set()
    invalid: set[int] = set()
    touched: set[int] = set()
    for key in ((factor, day), (None, day)):
        if key in marked:
            exempt |= marked[key][0]
            invalid |= marked[key][1]
            touched |= marked[key][2]
    return exempt, invalid - exempt, touched - exempt - invalid


def _rejudge(conn: Connection, settings: Settings, device: _Device, now: datetime) -> Rejudge:
    def judge(factor: str, day: date, index: int) -> Outcome:
        start = day_start(day) + index * HOUR
        [view] = hour_views(conn, settings, device.id, factor, start, start + HOUR, now)
        return view.outcome

    return judge


# --- one factor-day --------------------------------------------------------------------------------
def _factor_counts(
    device: _Device,
    factor: str,
    days: Sequence[tuple[date, int]],
    per_day: dict[tuple[int, str, date], tuple[int, int, int, int]],
    marked: MarkedHours,
    settings: Settings,
    rejudge: Rejudge,
) -> Counts:
    """One factor of one device over ``days`` (hours that ended), hour by hour from the stored masks: the
    days ``_days_one_by_one`` chose (today, and the days marks touch); the others are ``_summed_counts``."""
    qc = _qc_hours(settings, device, factor)
    total = Counts()
    expected = received = valid = received_on_time = valid_on_time = qc_hours = 0
    get = per_day.get
    for day, hours in days:
        stored = get((device.id, factor, day))
        if marked:
            exempt, invalid, touched = _merge(marked, factor, day)
            if exempt or invalid or touched:
                bits = bits_of(stored) if stored else [0] * 24
                c = _marked_day(bits, hours, exempt, invalid, touched, partial(rejudge, factor, day))
                _qc_exemption(c, qc)
                total.add(c)
                continue
        owed = hours - min(qc, hours)
        qc_hours += hours - owed
        expected += owed
        if stored is not None:
            ended = (1 << hours) - 1  # today: only the hours that ended count (and data for later hours not)
            received += min((stored[0] & ended).bit_count(), owed)
            valid += min((stored[1] & ended).bit_count(), owed)
            received_on_time += min((stored[2] & ended).bit_count(), owed)
            valid_on_time += min((stored[3] & ended).bit_count(), owed)
    total.add(Counts(expected, received, valid, received_on_time, valid_on_time, 0, qc_hours, 0))
    return total


def _summed_counts(
    sums: Sums | None, whole_days: int, one_by_one: Sequence[tuple[int, int, int, int] | None], owed: int
) -> Counts:
    """A factor's counts on the whole days not counted one by one: the period's sums (``_period_sums``)
    less those of the whole days counted one by one (``one_by_one``: their stored masks, None where the
    day has no row), each day owing ``owed`` hours."""
    received, valid, received_on_time, valid_on_time = sums or (0, 0, 0, 0)
    for masks in one_by_one:
        if masks is not None:
            received -= min(masks[0].bit_count(), owed)
            valid -= min(masks[1].bit_count(), owed)
            received_on_time -= min(masks[2].bit_count(), owed)
            valid_on_time -= min(masks[3].bit_count(), owed)
    days = whole_days - len(one_by_one)
    return Counts(days * owed, received, valid, received_on_time, valid_on_time, 0, days * (24 - owed), 0)


# re-judges one hour a mark touches without deciding it alone, as the explanations do (hourly_view)
Rejudge = Callable[[str, date, int], Outcome]


def _marked_day(
    bits: list[int],
    hours: int,
    exempt: set[int],
    invalid: set[int],
    touched: set[int],
    judge: Callable[[int], Outcome],
) -> Counts:
    c = Counts()
    for index in range(hours):
        b = bits[index]
        if index in touched and b & RECEIVED:
            # several short marks together, or minutes under a mark, can still decide it: ask the same
            # rules the explanation of this hour uses, so that the rate and the API never disagree
            outcome = judge(index)
            if outcome is Outcome.EXEMPT:
                exempt = exempt | {index}
            elif outcome is Outcome.INVALID and b & VALID:
                invalid = invalid | {index}
        if index in exempt:
            c.exempt_hours += 1
            continue
        c.expected += 1
        c.received += bool(b & RECEIVED)
        c.received_on_time += bool(b & RECEIVED_ON_TIME)
        if index in invalid:
            c.marked_invalid_hours += bool(b & RECEIVED)
            continue
        c.valid += bool(b & VALID)
        c.valid_on_time += bool(b & VALID_ON_TIME)
    return c


def _qc_exemption(c: Counts, qc: int) -> None:
    """ETR-02: water analysers check a standard sample once a day (自动标样核查); that hour is not owed.
    A day that sent all 24 hours still counts 23 of 23, never more than 100 %."""
    exempt = min(qc, c.expected)
    c.qc_exempt_hours += exempt
    c.expected -= exempt
    c.received = min(c.received, c.expected)
    c.valid = min(c.valid, c.expected)
    c.received_on_time = min(c.received_on_time, c.expected)
    c.valid_on_time = min(c.valid_on_time, c.expected)


# --- grouping and thresholds -----------------------------------------------------------------------
def _key(query: RateQuery, device: _Device, factor: str) -> dict[str, Any]:
    if query.group == "region":
        return {"region_code": device.region_code[: query.region_level] or None}
    if query.group == OPERATOR_GROUP:
        return {"operator_id": device.operator_id, "operator": device.operator}
    enterprise = {"enterprise_id": device.enterprise_id, "enterprise": device.enterprise}
    if query.group == "enterprise":
        return enterprise
    outlet = {**enterprise, "outlet_id": device.outlet_id, "outlet": device.outlet}
    if query.group == "outlet":
        return outlet
    dev = {**outlet, "mn": device.mn, "device": device.name}
    return dev if query.group == "device" else {**dev, "factor": factor}


def _row_for(rows: dict[tuple[Any, ...], RateRow], query: RateQuery, device: _Device, factor: str) -> RateRow:
    key = _key(query, device, factor)
    ident = tuple(key.values())
    if ident not in rows:
        rows[ident] = RateRow(key)
    return rows[ident]


def _rows_of_device(rows: dict[tuple[Any, ...], RateRow], query: RateQuery, device: _Device) -> list[RateRow]:
    """The rows a device's faults belong to (one per group it is in; for ``factor`` every factor row)."""
    if query.group == "factor":
        return [r for r in rows.values() if r.key.get("mn") == device.mn]
    return [_row_for(rows, query, device, "")]


def _is_quarter(first: date, last: date) -> bool:
    return first.day == 1 and first.month in (1, 4, 7, 10) and last == _month_end(first, 3)


def _is_month(first: date, last: date) -> bool:
    return first.day == 1 and last == _month_end(first, 1)


def _month_end(first: date, months: int) -> date:
    month = first.month - 1 + months
    return date(first.year + month // 12, month % 12 + 1, 1) - DAY


def _threshold_flags(row: RateRow, query: RateQuery, settings: Settings) -> list[dict[str, str]]:
    rate = percent(row.counts.valid, row.counts.expected)
    if rate is None:
        return []
    flags: list[dict[str, str]] = []
    if _is_quarter(query.first, query.last) and rate < settings.rates_quarter_min_pct:
        flags.append(
            {
                "requirement": "SX-30.7",
                "text": f"quarterly effective transmission rate {rate} % < {settings.rates_quarter_min_pct} % "
                "(季度有效传输率不足)",
            }
        )
    if (
        _is_month(query.first, query.last)
        and rate < settings.rates_month_min_pct
        and row.faults >= settings.rates_month_min_faults
    ):
        flags.append(
            {
                "requirement": "SX-30.6",
                "text": f"monthly effective transmission rate {rate} % < {settings.rates_month_min_pct} % with "
                f"{row.faults} faults (≥ {settings.rates_month_min_faults}) (月有效传输率不足且故障频繁)",
            }
        )
    if rate < settings.rates_operator_min_pct:
        flags.append(
            {
                "requirement": "CS-4.3.2.1",
                "text": f"effective transmission rate {rate} % < {settings.rates_operator_min_pct} % "
                "(运维有效传输率低于认证要求)",
            }
        )
    return flags


# --- time ------------------------------------------------------------------------------------------
def _elapsed_hours(day: date, now: datetime) -> int:
    """Hours of ``day`` (China time) that have ended by ``now``: 24 for past days, fewer today."""
    return max(0, min(24, int((now - day_start(day)) / HOUR)))


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += DAY
