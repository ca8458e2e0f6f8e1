"""The figures of a periodic report (定期报告统计数据): rates, exceedances, alarms and findings of one period
and scope, gathered from the services that own them (issue 9, "Reports").

- rates (有效传输率, ETR-01/02; thresholds SX-30.6/30.7, CS-4.3.2.1): ``monitoring.rates.compute_rates`` over
  the period, by device, by enterprise and by operator, on the scope's devices only — the same figures the
  rates page and API give for those days;
- exceedances (超标): alarms of kind ``exceedance`` / ``ph_out_of_range`` that began in the period, their
  count and device-hours (each one's duration inside the period; a condition still going counts up to the
  period's end, or up to now for a period not over), by enterprise and by factor, and the list;
- alarms (报警): every alarm that began in the period, by kind and by its state at the period's end (the
  last ``alarm_events`` row before it: a later close does not change a past month's report);
- findings (合规问题): by rule, those first seen in the period, open at its end (the last ``finding_events``
  row before it), resolved and waived in it;
- headline numbers (主要指标) over all of it.

Scopes: ``all`` every device and finding; ``region`` the enterprises whose region code starts with the
prefix and their devices (findings at those enterprises or of that region); ``enterprise`` its devices and
findings; ``operator`` the devices on the outlets its contracts covered on any day of the period and the
findings naming it. Same data and period → the same figures: every table is sorted, nothing reads a clock
(``now`` is passed in and only bounds a period that is not over: "to date").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sqlalchemy import Connection, Engine, select

from envwatch.alarms.lifecycle import STATES
from envwatch.alarms.schema import alarm_events, alarms
from envwatch.compliance.schema import finding_events, findings
from envwatch.core.clock import to_china
from envwatch.core.settings import Settings
from envwatch.monitoring.rates import RateQuery, compute_rates, percent
from envwatch.registry.schema import devices, enterprises, outlets
from envwatch.registry.service import get_enterprise
from envwatch.registry.service_operators import contracted_outlets, get_operator
from envwatch.reports.periodic_period import Period, ReportScope

EXCEEDANCE_KINDS: Final = ("exceedance", "ph_out_of_range")
HOURS_PLACES: Final = Decimal("0.01")
ALL_NAME: Final = "全平台 whole platform"


@dataclass(frozen=True, slots=True)
class RateLine:
    """One row of ``compute_rates``: whom it is about, its counts and rates (percent, two decimals)."""

    label: str  # MN, enterprise or operator name
    detail: str  # enterprise / outlet / device name for a device row
    expected: int
    received: int
    valid: int
    transmission_rate: Decimal | None
    validity_rate: Decimal | None
    effective_rate: Decimal | None
    faults: int
    flags: tuple[str, ...]  # the requirement IDs flagged (SX-30.7, SX-30.6, CS-4.3.2.1)


@dataclass(frozen=True, slots=True)
class ExceedanceLine:
    """One exceedance alarm that began in the period."""

    alarm_id: int
    mn: str
    enterprise: str
    factor: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    hours: Decimal  # inside the period (up to now for a period not over)
    peak: str
    limit_value: str
    multiple: str


@dataclass(frozen=True, slots=True)
class CountLine:
    """A count and its device-hours under one label (enterprise or factor)."""

    label: str
    count: int
    hours: Decimal


@dataclass(frozen=True, slots=True)
class AlarmKindLine:
    """Alarms of one kind that began in the period, by their state at the period's end."""

    kind: str
    total: int
    open: int
    acknowledged: int
    handling: int
    closed: int


@dataclass(frozen=True, slots=True)
class FindingRuleLine:
    """One rule's findings: first seen in the period, open at its end, resolved and waived in it."""

    rule: str
    new: int
    open_at_end: int
    resolved: int
    waived: int


@dataclass(frozen=True, slots=True)
class Headline:
    """The numbers on the report's first page (主要指标)."""

    devices: int
    enterprises: int
    expected: int
    received: int
    valid: int
    transmission_rate: Decimal | None
    validity_rate: Decimal | None
    effective_rate: Decimal | None
    devices_below_threshold: int  # device rows with a rate flag
    exceedances: int
    exceedance_hours: Decimal
    alarms: int
    alarms_not_closed: int  # at the period's end
    findings_new: int
    findings_open_at_end: int
    findings_resolved: int
    findings_waived: int


@dataclass(frozen=True, slots=True)
class PeriodicFigures:
    """Everything a periodic report shows; the xlsx, the PDF and the pages render it, the store keeps
    :meth:`as_json`."""

    period: Period
    scope: ReportScope
    scope_name: str
    complete: bool  # False: the period is not over, the figures run "to date"
    as_of: datetime  # the end of what was counted: the period's end, or now when it is not over
    headline: Headline
    rates_by_device: tuple[RateLine, ...]
    rates_by_enterprise: tuple[RateLine, ...]
    rates_by_operator: tuple[RateLine, ...]
    exceedances: tuple[ExceedanceLine, ...]
    exceedances_by_enterprise: tuple[CountLine, ...]
    exceedances_by_factor: tuple[CountLine, ...]
    alarms_by_kind: tuple[AlarmKindLine, ...]
    findings_by_rule: tuple[FindingRuleLine, ...]

    @property
    def alarms_by_state(self) -> dict[str, int]:
        return {s: sum(getattr(line, s) for line in self.alarms_by_kind) for s in STATES}

    def as_json(self) -> dict[str, Any]:
        """Plain JSON (decimals as exact strings, times as China-time ISO text, dates as ISO)."""
        out = _json(self)
        out["period"]["label"] = self.period.label
        out["period"]["label_zh"] = self.period.label_zh
        return dict(out)


def _json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return to_china(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- the scope's devices and enterprises -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Fleet:
    device_ids: frozenset[int] | None  # None: every device
    enterprise_ids: frozenset[int] | None
    name: str
    sees_finding: Callable[[dict[str, Any]], bool]


def _devices_of_outlets(conn: Connection, outlet_ids: Iterable[int]) -> frozenset[int]:
    wanted = set(outlet_ids)
    rows = conn.execute(select(devices.c.id, devices.c.outlet_id).where(devices.c.outlet_id.is_not(None)))
    return frozenset(r.id for r in rows if r.outlet_id in wanted)


def _outlets_of(conn: Connection, enterprise_ids: Iterable[int]) -> frozenset[int]:
    wanted = set(enterprise_ids)
    rows = conn.execute(select(outlets.c.id, outlets.c.enterprise_id))
    return frozenset(r.id for r in rows if r.enterprise_id in wanted)


def _fleet(conn: Connection, scope: ReportScope, period: Period) -> _Fleet:
    if scope.kind == "all":
        return _Fleet(None, None, ALL_NAME, lambda f: True)
    if scope.kind == "region":
        prefix = scope.ref
        query = select(enterprises.c.id).where(enterprises.c.region_code.startswith(prefix, autoescape=True))
        ents = frozenset(conn.execute(query).scalars())

        def in_region(f: dict[str, Any]) -> bool:
            return f["enterprise_id"] in ents or (f["region_code"] or "").startswith(prefix)

        devs = _devices_of_outlets(conn, _outlets_of(conn, ents))
        return _Fleet(devs, ents, f"行政区划 region {prefix}", in_region)
    if scope.kind == "enterprise":
        ent = get_enterprise(conn, scope.ident)  # NotFound for an unknown one
        ents = frozenset({scope.ident})
        devs = _devices_of_outlets(conn, _outlets_of(conn, ents))
        return _Fleet(devs, ents, str(ent["name"]), lambda f: f["enterprise_id"] == scope.ident)
    op = get_operator(conn, scope.ident)
    outs, _whole = contracted_outlets(conn, scope.ident, period.first_day, period.last_day)
    devs = _devices_of_outlets(conn, outs)
    rows = conn.execute(select(outlets.c.id, outlets.c.enterprise_id))
    ents = frozenset(r.enterprise_id for r in rows if r.id in outs)
    return _Fleet(devs, ents, str(op["name"]), lambda f: f["operator_id"] == scope.ident)


# --- rates ---------------------------------------------------------------------------------------------
def _rate_line(row: dict[str, Any], label: str, detail: str = "") -> RateLine:
    return RateLine(
        label=label,
        detail=detail,
        expected=row["expected"],
        received=row["received"],
        valid=row["valid"],
        transmission_rate=row["transmission_rate"],
        validity_rate=row["validity_rate"],
        effective_rate=row["effective_rate"],
        faults=row["faults"],
        flags=tuple(sorted({f["requirement"] for f in row["flags"]})),
    )


def _rates(
    engine: Engine, settings: Settings, period: Period, fleet: _Fleet, now: datetime
) -> tuple[tuple[RateLine, ...], tuple[RateLine, ...], tuple[RateLine, ...]]:
    def rows(group: str) -> list[dict[str, Any]]:
        query = RateQuery(period.first_day, period.last_day, group=group, device_ids=fleet.device_ids)
        return compute_rates(engine, settings, query, now)

    by_device = tuple(
        _rate_line(r, r["mn"], " / ".join(str(v) for v in (r["enterprise"], r["outlet"], r["device"]) if v))
        for r in rows("device")
    )
    by_enterprise = tuple(_rate_line(r, str(r["enterprise"] or "—")) for r in rows("enterprise"))
    by_operator = tuple(_rate_line(r, str(r["operator"])) for r in rows("operator"))
    return by_device, by_enterprise, by_operator


# --- alarms and exceedances ----------------------------------------------------------------------------
def _hours(seconds: float | Decimal) -> Decimal:
    return (Decimal(seconds) / 3600).quantize(HOURS_PLACES, ROUND_HALF_UP)


def _alarm_rows(conn: Connection, period: Period, fleet: _Fleet, as_of: datetime) -> list[dict[str, Any]]:
    a = alarms.c
    query = (
        select(alarms, devices.c.mn, enterprises.c.name.label("enterprise_name"))
        .select_from(
            alarms.join(devices, devices.c.id == a.device_id)
            .outerjoin(outlets, outlets.c.id == devices.c.outlet_id)
            .outerjoin(enterprises, enterprises.c.id == outlets.c.enterprise_id)
        )
        .where(a.started_at >= period.start, a.started_at < as_of)
        .order_by(a.started_at, a.id)
    )
    rows = [dict(r) for r in conn.execute(query).mappings()]
    return [r for r in rows if fleet.device_ids is None or r["device_id"] in fleet.device_ids]


def _alarm_states(conn: Connection, period: Period, as_of: datetime) -> dict[int, str]:
    """Each alarm's state at ``as_of``: the to_state of its last event before then."""
    e = alarm_events.c
    began = select(alarms.c.id).where(alarms.c.started_at >= period.start, alarms.c.started_at < as_of)
    query = select(e.alarm_id, e.to_state).where(e.alarm_id.in_(began), e.at < as_of).order_by(e.at, e.id)
    return {r.alarm_id: r.to_state for r in conn.execute(query)}  # the last one wins


def _exceedances(
    rows: list[dict[str, Any]], as_of: datetime
) -> tuple[tuple[ExceedanceLine, ...], tuple[CountLine, ...], tuple[CountLine, ...]]:
    lines = []
    for r in rows:
        if r["kind"] not in EXCEEDANCE_KINDS:
            continue
        end = min(r["ended_at"] or as_of, as_of)
        lines.append(
            ExceedanceLine(
                alarm_id=r["id"],
                mn=r["mn"],
                enterprise=r["enterprise_name"] or "—",
                factor=r["factor"],
                kind=r["kind"],
                started_at=r["started_at"],
                ended_at=r["ended_at"],
                hours=_hours(max((end - r["started_at"]).total_seconds(), 0)),
                peak=r["peak"] or "",
                limit_value=r["limit_value"] or "",
                multiple=r["multiple"] or "",
            )
        )

    def by(key: Callable[[ExceedanceLine], str]) -> tuple[CountLine, ...]:
        counts: Counter[str] = Counter()
        hours: dict[str, Decimal] = defaultdict(Decimal)
        for line in lines:
            counts[key(line)] += 1
            hours[key(line)] += line.hours
        return tuple(CountLine(k, counts[k], hours[k]) for k in sorted(counts))

    return tuple(lines), by(lambda x: x.enterprise), by(lambda x: x.factor)


def _alarms_by_kind(rows: list[dict[str, Any]], states: dict[int, str]) -> tuple[AlarmKindLine, ...]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        table[r["kind"]][states.get(r["id"], "open")] += 1
    return tuple(
        AlarmKindLine(kind, sum(c.values()), c["open"], c["acknowledged"], c["handling"], c["closed"])
        for kind, c in sorted(table.items())
    )


# --- findings ------------------------------------------------------------------------------------------
def _findings_by_rule(
    conn: Connection, period: Period, fleet: _Fleet, as_of: datetime
) -> tuple[FindingRuleLine, ...]:
    f = findings.c
    rows = [
        dict(r)
        for r in conn.execute(
            select(f.id, f.rule, f.first_seen, f.enterprise_id, f.operator_id, f.region_code).where(
                f.first_seen < as_of
            )
        ).mappings()
    ]
    mine = {r["id"]: r for r in rows if fleet.sees_finding(r)}
    e = finding_events.c
    state: dict[int, str] = {}
    resolved: set[int] = set()
    waived: set[int] = set()
    events = select(e.finding_id, e.event, e.to_state, e.at).where(e.at < as_of).order_by(e.at, e.id)
    for ev in conn.execute(events):
        if ev.finding_id not in mine:
            continue
        state[ev.finding_id] = ev.to_state
        if ev.at >= period.start and ev.event == "resolved":
            resolved.add(ev.finding_id)
        if ev.at >= period.start and ev.event == "waived":
            waived.add(ev.finding_id)
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for fid, r in mine.items():
        c = table[r["rule"]]
        c["new"] += r["first_seen"] >= period.start
        c["open"] += state.get(fid, "open") == "open"
        c["resolved"] += fid in resolved
        c["waived"] += fid in waived
    return tuple(
        FindingRuleLine(rule, c["new"], c["open"], c["resolved"], c["waived"])
        for rule, c in sorted(table.items())
        if any(c.values())
    )


# --- assembly ------------------------------------------------------------------------------------------
def _headline(
    by_device: tuple[RateLine, ...],
    by_enterprise: tuple[RateLine, ...],
    exceedances: tuple[ExceedanceLine, ...],
    kinds: tuple[AlarmKindLine, ...],
    rules: tuple[FindingRuleLine, ...],
) -> Headline:
    expected = sum(r.expected for r in by_device)
    received = sum(r.received for r in by_device)
    valid = sum(r.valid for r in by_device)
    return Headline(
        devices=len(by_device),
        enterprises=sum(1 for r in by_enterprise if r.label != "—"),
        expected=expected,
        received=received,
        valid=valid,
        transmission_rate=percent(received, expected),
        validity_rate=percent(valid, received),
        effective_rate=percent(valid, expected),
        devices_below_threshold=sum(1 for r in by_device if r.flags),
        exceedances=len(exceedances),
        exceedance_hours=sum((x.hours for x in exceedances), Decimal("0.00")),
        alarms=sum(k.total for k in kinds),
        alarms_not_closed=sum(k.total - k.closed for k in kinds),
        findings_new=sum(r.new for r in rules),
        findings_open_at_end=sum(r.open_at_end for r in rules),
        findings_resolved=sum(r.resolved for r in rules),
        findings_waived=sum(r.waived for r in rules),
    )


def gather_periodic(
    engine: Engine, settings: Settings, period: Period, scope: ReportScope, now: datetime
) -> PeriodicFigures:
    """The figures of ``period`` for ``scope`` as of ``now`` (NotFound for an unknown enterprise or
    operator; the caller checks that the period has begun: ``periodic_period.check_begun``)."""
    as_of = min(period.end, now)
    with engine.connect() as conn:
        fleet = _fleet(conn, scope, period)
    by_device, by_enterprise, by_operator = _rates(engine, settings, period, fleet, now)
    with engine.connect() as conn:
        rows = _alarm_rows(conn, period, fleet, as_of)
        states = _alarm_states(conn, period, as_of)
        rules = _findings_by_rule(conn, period, fleet, as_of)
    exceedances, by_ent, by_factor = _exceedances(rows, as_of)
    kinds = _alarms_by_kind(rows, states)
    return PeriodicFigures(
        period=period,
        scope=scope,
        scope_name=fleet.name,
        complete=period.is_over(now),
        as_of=as_of,
        headline=_headline(by_device, by_enterprise, exceedances, kinds, rules),
        rates_by_device=by_device,
        rates_by_enterprise=by_enterprise,
        rates_by_operator=by_operator,
        exceedances=exceedances,
        exceedances_by_enterprise=by_ent,
        exceedances_by_factor=by_factor,
        alarms_by_kind=kinds,
        findings_by_rule=rules,
    )
