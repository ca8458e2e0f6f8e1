"""Rule pack ``duties``: the periodic O&M duties (周期性运维义务) of operators and enterprises.

- **SX-20.3-7D** inspection (巡检) at least every ``days`` (7) days. Each device's current inspections form a
  timeline; every interval longer than ``days`` is a finding: the one running now (overdue as of ``at``)
  and those that ended within the last ``lookback_days`` (the duty was missed even if fixed later). The
  clock of an interval starts at the earlier inspection, or, when the operator in charge took the device
  over later (its contracts without a break) or the device was registered later, at that moment: an
  operator answers only for its own time.
- **SX-18.6-Q / SX-18.6-M** comparison monitoring (比对监测): a gas device at least once per calendar quarter,
  a water device once per calendar month (``operations.record_due.period_of``), judged for the last
  complete period. A device is judged when an operator was in charge on the period's last (else first) day
  and it was registered before the period began.
- **SX-20.5** certified reference materials (标准气体 / 标准溶液) within their validity: each current record
  that cites a material whose ``valid_until`` is before the record's China day.
- **SX-32-GAS** the same fact as a ground for an operator warning (标气过期), per operator and last complete
  quarter.
- **SX-18.7-Q** the quarterly self-inspection report (季度自查报告) of each enterprise with a monitored outlet,
  judged for the latest quarter whose due date (``reports.quarters``) has passed: none by then is a
  violation, a late one a warning (same key: the finding follows the report).
- **SX-19** registration (报备) with the city bureau of every city where an operator has a contract in force.
- **CS-4.4.3-VERIFY** equipment (一机一档) past its verification (检定/校准) due date and not scrapped, its file
  replayed as it stood on ``at``'s China day.

"Current" records are those no correction supersedes, as in ``operations.record_due``. Every rule judges
the store as of ``at``: records performed, reports submitted and ledger events dated after it are unknown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select

from envwatch.compliance.rules import (
    Found,
    Link,
    Param,
    Rule,
    RuleContext,
    Window,
    last_month,
    last_quarter,
    lookback,
)
from envwatch.compliance.subjects import DeviceInfo, about_device, fleet, operators_on
from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.operations.equipment_lifecycle import (
    EQUIPMENT_TRANSITIONS,
    LEAVES_DEVICE,
    TAKES_DEVICE,
)
from envwatch.operations.ledger_schema import equipment, equipment_events, self_inspection_reports
from envwatch.operations.record_due import period_of
from envwatch.operations.records_schema import field_record_materials, field_records, reference_materials
from envwatch.operations.registrations import city_of, registration_in
from envwatch.registry.schema import contracts, devices, enterprises, operators, outlets
from envwatch.reports.quarters import Quarter, last_finished, quarter_state

_f = field_records.c
_later = field_records.alias("later_duty_record")
_m = reference_materials.c


# ---- shared readers ----


def _current() -> ColumnElement[bool]:
    """A field record no correction supersedes (``operations.record_due``'s rule)."""
    return ~exists().where(_later.c.supersedes_id == _f.id)


def _midnight(day: date) -> datetime:
    """00:00 China time of ``day``, in UTC."""
    return datetime.combine(day, time(0), tzinfo=CHINA_TZ).astimezone(UTC)


def _text(moment: datetime) -> str:
    return f"{to_china(moment):%Y-%m-%d %H:%M}"


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86400:.1f}"


def _registered(conn: Connection) -> dict[int, datetime]:
    """When each device was registered (devices.created_at)."""
    return {int(r.id): r.created_at for r in conn.execute(select(devices.c.id, devices.c.created_at))}


@dataclass(frozen=True, slots=True)
class _Contract:
    operator_id: int
    enterprise_id: int
    outlet_id: int | None
    valid_from: date
    valid_to: date | None

    def covers(self, device: DeviceInfo) -> bool:
        if self.outlet_id is not None:
            return self.outlet_id == device.outlet_id
        return self.enterprise_id == device.enterprise_id


def _contracts(conn: Connection) -> list[_Contract]:
    c = contracts.c
    query = select(c.operator_id, c.enterprise_id, c.outlet_id, c.valid_from, c.valid_to).order_by(
        c.valid_from, c.id
    )
    return [_Contract(*row) for row in conn.execute(query)]


def in_charge_since(
    all_contracts: Iterable[_Contract], device: DeviceInfo, operator_id: int, day: date
) -> date | None:
    """The first day of the operator's unbroken stretch of contracts covering ``device`` that holds ``day``
    (a renewal the day after the last one ended continues the stretch); None when none holds it."""
    stretches: list[list[date | None]] = []  # [first, last or None (open)]
    for c in sorted(
        (c for c in all_contracts if c.operator_id == operator_id and c.covers(device)),
        key=lambda c: c.valid_from,
    ):
        if stretches:
            last = stretches[-1]
            end = last[1]
            if end is None or c.valid_from <= end + timedelta(days=1):
                last[1] = None if end is None or c.valid_to is None else max(end, c.valid_to)
                continue
        stretches.append([c.valid_from, c.valid_to])
    for first, last_day in stretches:
        assert first is not None
        if first <= day and (last_day is None or day <= last_day):
            return first
    return None


class _InCharge:
    """``subjects.operators_on`` per China day, asked once per day."""

    def __init__(self, conn: Connection, devices_by_id: dict[int, DeviceInfo]) -> None:
        self._conn = conn
        self._fleet = devices_by_id
        self._days: dict[date, dict[int, int]] = {}

    def on(self, day: date, device_id: int) -> int | None:
        if day not in self._days:
            self._days[day] = operators_on(self._conn, day, self._fleet)
        return self._days[day].get(device_id)


# ---- SX-20.3: inspection every 7 days ----


def _inspections(
    conn: Connection, since: datetime, at: datetime
) -> tuple[dict[int, tuple[int, datetime]], dict[int, list[tuple[int, datetime]]]]:
    """Per device: the last current inspection before ``since`` (id, time), and those in [since, at]."""
    base = and_(_f.kind == "inspection", _current())
    latest = (
        select(_f.device_id.label("device_id"), func.max(_f.performed_at).label("last"))
        .where(base, _f.performed_at < since)
        .group_by(_f.device_id)
        .subquery()
    )
    before: dict[int, tuple[int, datetime]] = {}
    query = (
        select(_f.id, _f.device_id, _f.performed_at)
        .join(latest, and_(latest.c.device_id == _f.device_id, latest.c.last == _f.performed_at))
        .where(base)
        .order_by(_f.id)
    )
    for row in conn.execute(query):
        before[int(row.device_id)] = (int(row.id), row.performed_at)  # of equal times the last id wins
    within: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    query = (
        select(_f.id, _f.device_id, _f.performed_at)
        .where(base, _f.performed_at >= since, _f.performed_at <= at)
        .order_by(_f.device_id, _f.performed_at, _f.id)
    )
    for row in conn.execute(query):
        within[int(row.device_id)].append((int(row.id), row.performed_at))
    return before, within


def inspection_gaps(ctx: RuleContext) -> Iterator[Found]:
    """SX-20.3-7D (module docstring)."""
    every = timedelta(days=ctx["days"])
    since = ctx.at - timedelta(days=ctx["lookback_days"])
    devices_by_id = fleet(ctx.conn)
    in_charge = _InCharge(ctx.conn, devices_by_id)
    all_contracts = _contracts(ctx.conn)
    registered = _registered(ctx.conn)
    before, within = _inspections(ctx.conn, since, ctx.at)
    for device_id, device in devices_by_id.items():
        previous: tuple[int, datetime] | None = before.get(device_id)
        ends: list[tuple[int | None, datetime]] = [*within.get(device_id, []), (None, ctx.at)]
        for end_id, end in ends:
            gap_from = previous
            previous = (end_id, end) if end_id is not None else previous
            if gap_from is not None and end - gap_from[1] <= every:
                continue  # the usual case, decided without the contracts (the clock starts no earlier)
            day = to_china(end).date()
            operator_id = in_charge.on(day, device_id)
            if operator_id is None:
                continue
            taken_over = in_charge_since(all_contracts, device, operator_id, day)
            if taken_over is None:  # defensive: operators_on and the contracts read here agree
                continue
            clock = max(_midnight(taken_over), registered[device_id])
            if gap_from is not None:
                clock = max(clock, gap_from[1])
            if end - clock <= every:
                continue
            after = "never" if gap_from is None else to_china(gap_from[1]).date().isoformat()
            evidence = [Link("device", str(device_id), device.mn)]
            if gap_from is not None:
                evidence.append(Link("record", str(gap_from[0]), _text(gap_from[1])))
            since_text = "the operator took it over" if gap_from is None else "the last inspection"
            if end_id is not None:
                evidence.append(Link("record", str(end_id), _text(end)))
                message = (
                    f"device {device.mn} was not inspected for {_days(end - clock)} days, from "
                    f"{_text(clock)} to {_text(end)} (> {ctx['days']} days) (巡检间隔超过{ctx['days']}天)"
                )
            else:
                message = (
                    f"device {device.mn} has not been inspected for {_days(end - clock)} days since "
                    f"{since_text} at {_text(clock)} (> {ctx['days']} days) (超过{ctx['days']}天未巡检)"
                )
            yield Found(
                key=f"device:{device_id}:after:{after}",
                message=message,
                period_start=clock,
                period_end=end,
                evidence=tuple(evidence),
                **about_device(device, operator_id),
            )


# ---- SX-18.6: comparison monitoring per quarter (gas) / month (water) ----


def last_complete_period(kind: str, at: datetime) -> tuple[date, date, str]:
    """The last complete comparison period before ``at`` (a quarter for gas, a month for water), first and
    last China day, and its label (2026Q3, 2026-10)."""
    current_first, _ = period_of(kind, to_china(at).date())
    first, last = period_of(kind, current_first - timedelta(days=1))
    label = f"{first.year}Q{(first.month - 1) // 3 + 1}" if kind == "gas" else f"{first:%Y-%m}"
    return first, last, label


def comparisons_missing(ctx: RuleContext, kind: str) -> Iterator[Found]:
    first, last, label = last_complete_period(kind, ctx.at)
    start, end = _midnight(first), _midnight(last + timedelta(days=1))
    devices_by_id = {i: d for i, d in fleet(ctx.conn).items() if d.kind == kind}
    registered = _registered(ctx.conn)
    on_last = operators_on(ctx.conn, last, devices_by_id)
    on_first = operators_on(ctx.conn, first, devices_by_id)
    done = set(
        ctx.conn.execute(
            select(_f.device_id)
            .where(_f.kind == "comparison", _current(), _f.performed_at >= start, _f.performed_at < end)
            .distinct()
        ).scalars()
    )
    period_zh = "季度" if kind == "gas" else "月"
    for device_id, device in devices_by_id.items():
        operator_id = on_last.get(device_id) or on_first.get(device_id)
        if operator_id is None or device_id in done or registered[device_id] > start:
            continue
        yield Found(
            key=f"device:{device_id}:{label}",
            message=f"{kind} device {device.mn} had no comparison monitoring in {label} "
            f"({first.isoformat()}..{last.isoformat()}) (每{period_zh}至少开展一次比对监测)",
            period_start=start,
            period_end=end,
            evidence=(Link("device", str(device_id), device.mn),),
            **about_device(device, operator_id),
        )


def gas_comparison_missing(ctx: RuleContext) -> Iterator[Found]:
    """SX-18.6-Q: a gas device without comparison monitoring in the last complete quarter."""
    return comparisons_missing(ctx, "gas")


def water_comparison_missing(ctx: RuleContext) -> Iterator[Found]:
    """SX-18.6-M: a water device without comparison monitoring in the last complete month."""
    return comparisons_missing(ctx, "water")


# ---- SX-20.5 / SX-32: expired reference materials ----


@dataclass(frozen=True, slots=True)
class ExpiredUse:
    """One current record citing a reference material past its validity on the record's China day."""

    record_id: int
    record_kind: str
    device_id: int
    operator_id: int
    performed_at: datetime
    material_id: int
    material_kind: str
    material: str
    certificate_no: str
    valid_until: date


def expired_uses(conn: Connection, at: datetime, since: datetime | None = None) -> list[ExpiredUse]:
    """Uses of expired materials by records performed in [since, at], by record then material."""
    query = (
        select(
            _f.id, _f.kind, _f.device_id, _f.operator_id, _f.performed_at,
            _m.id.label("material_id"), _m.kind.label("material_kind"), _m.name, _m.certificate_no,
            _m.valid_until,
        )
        .select_from(field_record_materials)
        .join(field_records, _f.id == field_record_materials.c.record_id)
        .join(reference_materials, _m.id == field_record_materials.c.material_id)
        # a use on day d is expired only if valid_until < d <= at's day: narrows the scan in the database
        .where(_current(), _f.performed_at <= at, _m.valid_until < to_china(at).date())
        .order_by(_f.id, _m.id)
    )  # fmt: skip
    if since is not None:
        query = query.where(_f.performed_at >= since)
    out = []
    for r in conn.execute(query):
        if r.valid_until < to_china(r.performed_at).date():
            out.append(
                ExpiredUse(
                    int(r.id), r.kind, int(r.device_id), int(r.operator_id), r.performed_at,
                    int(r.material_id), r.material_kind, r.name, r.certificate_no, r.valid_until,
                )
            )  # fmt: skip
    return out


_MATERIAL_ZH = {"gas": "标准气体", "solution": "标准溶液"}


def expired_material_used(ctx: RuleContext) -> Iterator[Found]:
    """SX-20.5 (module docstring)."""
    devices_by_id = fleet(ctx.conn)
    for use in expired_uses(ctx.conn, ctx.at):
        device = devices_by_id[use.device_id]
        day = to_china(use.performed_at).date()
        yield Found(
            key=f"record:{use.record_id}:material:{use.material_id}",
            message=f"{use.record_kind} record {use.record_id} at device {device.mn} on {day.isoformat()} used "
            f"{use.material} (certificate {use.certificate_no}) valid until {use.valid_until.isoformat()}, "
            f"{(day - use.valid_until).days} days after it expired (使用过期{_MATERIAL_ZH.get(use.material_kind, '标准物质')})",
            period_start=use.performed_at,
            period_end=use.performed_at,
            evidence=(
                Link("record", str(use.record_id), _text(use.performed_at)),
                Link("material", str(use.material_id), use.certificate_no),
            ),
            **about_device(device, use.operator_id),
        )


def operator_expired_materials(ctx: RuleContext) -> Iterator[Found]:
    """SX-32-GAS: an operator that used expired materials in the last complete quarter (a warning ground)."""
    quarter = last_finished(ctx.at)
    uses = [u for u in expired_uses(ctx.conn, ctx.at, since=quarter.start) if u.performed_at < quarter.end]
    by_operator: dict[int, list[ExpiredUse]] = defaultdict(list)
    for use in uses:
        by_operator[use.operator_id].append(use)
    names = {int(r.id): r.name for r in ctx.conn.execute(select(operators.c.id, operators.c.name))}
    for operator_id in sorted(by_operator):
        mine = by_operator[operator_id]
        records = sorted({u.record_id: u for u in mine}.values(), key=lambda u: u.record_id)
        materials = sorted({u.material_id: u for u in mine}.values(), key=lambda u: u.material_id)
        if len(records) < ctx["min_records"]:
            continue
        yield Found(
            key=f"operator:{operator_id}:{quarter.label}",
            subject_kind="operator",
            subject_id=operator_id,
            operator_id=operator_id,
            message=f"operator {names.get(operator_id, operator_id)} used expired reference materials in "
            f"{len(records)} O&M record(s) in {quarter.label} ({len(materials)} certificate(s)) "
            f"(标气过期, 警示情形)",
            period_start=quarter.start,
            period_end=quarter.end,
            evidence=(
                Link("operator", str(operator_id), names.get(operator_id, "")),
                *(Link("record", str(u.record_id), _text(u.performed_at)) for u in records),
                *(Link("material", str(u.material_id), u.certificate_no) for u in materials),
            ),
            severity="warning",
        )


# ---- SX-18.7: quarterly self-inspection report ----


def judged_quarter(at: datetime, due_days: int) -> Quarter:
    """The latest quarter whose report was due before ``at``."""
    quarter = last_finished(at)
    while quarter.due_at(due_days) >= at:
        quarter = quarter.previous()
    return quarter


def self_inspection_quarter(ctx: RuleContext) -> Window:
    """``Rule.judges`` of SX-18.7-Q: the quarter judged (an earlier quarter's finding stays as it is)."""
    quarter = judged_quarter(ctx.at, int(ctx["due_days"]))
    return quarter.start, quarter.end


def self_inspection_missing(ctx: RuleContext) -> Iterator[Found]:
    """SX-18.7-Q (module docstring)."""
    due_days = int(ctx["due_days"])
    quarter = judged_quarter(ctx.at, due_days)
    monitored = (
        select(outlets.c.enterprise_id)
        .join(devices, devices.c.outlet_id == outlets.c.id)
        .where(devices.c.created_at < quarter.end)
    )
    e = enterprises.c
    query = select(e.id, e.name).where(e.id.in_(monitored), e.created_at < quarter.end).order_by(e.id)
    r = self_inspection_reports.c
    first: dict[int, tuple[int, datetime]] = {}
    submitted = (
        select(r.id, r.enterprise_id, r.submitted_at)
        .where(r.year == quarter.year, r.quarter == quarter.quarter, r.submitted_at <= ctx.at)
        .order_by(r.submitted_at.desc(), r.id.desc())
    )
    for row in ctx.conn.execute(submitted):  # newest first: the first submission is written last
        first[int(row.enterprise_id)] = (int(row.id), row.submitted_at)
    for ent in ctx.conn.execute(query):
        report = first.get(ent.id)
        state = quarter_state(quarter, ctx.at, due_days, None if report is None else report[1])
        if state not in ("overdue", "submitted_late"):
            continue
        evidence = [Link("enterprise", str(ent.id), ent.name)]
        if report is None:
            message = (
                f"{ent.name} has not submitted the self-inspection report of {quarter.label}, due by "
                f"{quarter.due_on(due_days).isoformat()} (未按季度报送自查报告)"
            )
        else:
            evidence.append(Link("self_inspection_report", str(report[0]), _text(report[1])))
            message = (
                f"{ent.name} submitted the self-inspection report of {quarter.label} on {_text(report[1])}, "
                f"after it was due by {quarter.due_on(due_days).isoformat()} (自查报告逾期报送)"
            )
        yield Found(
            key=f"enterprise:{ent.id}:{quarter.label}",
            subject_kind="enterprise",
            subject_id=int(ent.id),
            enterprise_id=int(ent.id),
            message=message,
            period_start=quarter.start,
            period_end=quarter.end,
            evidence=tuple(evidence),
            severity="violation" if report is None else "warning",
        )


# ---- SX-19: operator registration with the city ----


def unregistered_operators(ctx: RuleContext) -> Iterator[Found]:
    """SX-19: an operator with a contract in force in a city without a registration holding that day."""
    day = to_china(ctx.at).date()
    c = contracts.c
    e = enterprises.c
    query = (
        select(
            c.operator_id,
            operators.c.name.label("operator"),
            e.id.label("enterprise_id"),
            e.name,
            e.region_code,
        )
        .join(enterprises, e.id == c.enterprise_id)
        .join(operators, operators.c.id == c.operator_id)
        .where(c.valid_from <= day, or_(c.valid_to.is_(None), c.valid_to >= day))
        .order_by(c.operator_id, e.region_code, e.id)
    )
    places: dict[tuple[int, str], dict[int, str]] = defaultdict(dict)
    names: dict[int, str] = {}
    for row in ctx.conn.execute(query):
        places[(int(row.operator_id), city_of(row.region_code))][int(row.enterprise_id)] = row.name
        names[int(row.operator_id)] = row.operator
    for (operator_id, city), where in sorted(places.items()):
        if registration_in(ctx.conn, operator_id, city, day) is not None:
            continue
        yield Found(
            key=f"operator:{operator_id}:region:{city}",
            subject_kind="operator",
            subject_id=operator_id,
            operator_id=operator_id,
            message=f"operator {names[operator_id]} works for {len(where)} enterprise(s) in city {city} "
            f"without a registration holding on {day.isoformat()} (运营单位未向市级生态环境部门报备)",
            evidence=(
                Link("operator", str(operator_id), names[operator_id]),
                *(Link("enterprise", str(i), n) for i, n in sorted(where.items())),
            ),
        )


# ---- CS-4.4.3: equipment verification ----


@dataclass
class _File:
    id: int
    operator_id: int
    name: str
    serial: str
    state: str = "in_stock"
    device_id: int | None = None
    next_due: date | None = None


# the lifecycle table with plain keys (the journal holds only transitions the ledger allowed)
_TRANSITIONS: dict[str, dict[str, str]] = {
    state: {str(event): str(to) for event, to in moves.items()}
    for state, moves in EQUIPMENT_TRANSITIONS.items()
}


def equipment_as_of(conn: Connection, day: date) -> list[_File]:
    """Each equipment file replayed from its journal up to ``day`` (events in recording order, as the
    ledger keeps them); files purchased after ``day`` are absent."""
    q = equipment.c
    ev = equipment_events.c
    files = {
        int(r.id): _File(int(r.id), int(r.operator_id), r.name, r.serial)
        for r in conn.execute(select(q.id, q.operator_id, q.name, q.serial))
    }
    seen: set[int] = set()
    query = (
        select(ev.equipment_id, ev.event, ev.device_id, ev.next_due)
        .where(ev.on <= day)
        .order_by(ev.equipment_id, ev.id)
    )
    for r in conn.execute(query):
        file = files[int(r.equipment_id)]
        seen.add(file.id)
        if r.event == "purchased":
            continue
        file.state = _TRANSITIONS.get(file.state, {}).get(r.event, file.state)
        if r.event in TAKES_DEVICE:
            file.device_id = r.device_id
        elif r.event in LEAVES_DEVICE:
            file.device_id = None
        if r.event == "verified":
            file.next_due = r.next_due
    return [files[i] for i in sorted(seen)]


def verification_overdue(ctx: RuleContext) -> Iterator[Found]:
    """CS-4.4.3-VERIFY (module docstring): overdue when the next verification was due before ``at``'s day."""
    day = to_china(ctx.at).date()
    devices_by_id = fleet(ctx.conn)
    for file in equipment_as_of(ctx.conn, day):
        if file.state == "scrapped" or file.next_due is None or file.next_due >= day:
            continue
        # the operator's ledger duty; the device, outlet and enterprise where it is installed are named too
        device = devices_by_id.get(file.device_id) if file.device_id is not None else None
        evidence = [Link("equipment", str(file.id), f"{file.name} {file.serial}")]
        if device is not None:
            evidence.append(Link("device", str(device.id), device.mn))
        yield Found(
            key=f"equipment:{file.id}:due:{file.next_due.isoformat()}",
            subject_kind="operator",
            subject_id=file.operator_id,
            operator_id=file.operator_id,
            device_id=None if device is None else device.id,
            outlet_id=None if device is None else device.outlet_id,
            enterprise_id=None if device is None else device.enterprise_id,
            message=f"equipment {file.id} ({file.name}, serial {file.serial}) was due for verification on "
            f"{file.next_due.isoformat()}, {(day - file.next_due).days} days ago (仪器超期未检定/校准)",
            period_start=_midnight(file.next_due + timedelta(days=1)),
            evidence=tuple(evidence),
        )


RULES: tuple[Rule, ...] = (
    Rule(
        id="SX-20.3-7D",
        requirement="SX-20.3",
        title="Devices inspected at least every 7 days",
        title_zh="至少每7天巡检维护一次",
        subject="device",
        inputs="inspection records (field_records), contracts, devices",
        evaluate=inspection_gaps,
        params=(
            Param(
                "days",
                "longest allowed interval between inspections, days",
                setting="om_inspection_every_days",
            ),
            Param(
                "lookback_days", "past intervals ending within this many days are judged too [P]", default=92
            ),
        ),
        judges=lookback("lookback_days"),
    ),
    Rule(
        id="SX-18.6-Q",
        requirement="SX-18.6",
        title="Gas devices: comparison monitoring every quarter",
        title_zh="废气自动监测设备至少每季度比对监测一次",
        subject="device",
        inputs="comparison records (field_records), contracts, devices",
        evaluate=gas_comparison_missing,
        judges=last_quarter,
    ),
    Rule(
        id="SX-18.6-M",
        requirement="SX-18.6",
        title="Water devices: comparison monitoring every month",
        title_zh="废水自动监测设备至少每月比对监测一次",
        subject="device",
        inputs="comparison records (field_records), contracts, devices",
        evaluate=water_comparison_missing,
        judges=last_month,
    ),
    Rule(
        id="SX-20.5",
        requirement="SX-20.5",
        title="Reference materials used within their validity",
        title_zh="使用有效期内的有证标准物质",
        subject="device",
        inputs="O&M records and the reference materials they cite (field_record_materials)",
        evaluate=expired_material_used,
    ),
    Rule(
        id="SX-32-GAS",
        requirement="SX-32",
        title="Operator warning: expired standard gases or solutions used",
        title_zh="运营单位使用过期标气(警示)",
        subject="operator",
        inputs="O&M records and the reference materials they cite, last complete quarter",
        evaluate=operator_expired_materials,
        params=(
            Param(
                "min_records",
                "records with expired materials in the quarter that make a warning [P]",
                default=1,
            ),
        ),
        judges=last_quarter,
    ),
    Rule(
        id="SX-18.7-Q",
        requirement="SX-18.7",
        title="Quarterly self-inspection report submitted on time",
        title_zh="每季度报送自查报告",
        subject="enterprise",
        inputs="self-inspection reports, enterprises with monitored outlets",
        evaluate=self_inspection_missing,
        params=(
            Param(
                "due_days",
                "days after the quarter by which the report is due [P]",
                setting="om_self_inspection_due_days",
            ),
        ),
        judges=self_inspection_quarter,
    ),
    Rule(
        id="SX-19",
        requirement="SX-19",
        title="Operators registered with the city where they work",
        title_zh="运营单位向市级生态环境部门报备",
        subject="operator",
        inputs="contracts in force, operator registrations",
        evaluate=unregistered_operators,
    ),
    Rule(
        id="CS-4.4.3-VERIFY",
        requirement="CS-4.4.3",
        title="Equipment verified before its due date",
        title_zh="仪器设备按期检定/校准",
        subject="operator",
        inputs="equipment ledger (equipment, equipment_events)",
        evaluate=verification_overdue,
    ),
)
