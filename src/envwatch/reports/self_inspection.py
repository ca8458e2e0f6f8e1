"""The quarterly self-inspection report's content (季度自查报告, SX-18.7): one enterprise, one China quarter.

Gathered from the O&M tables directly with SQLAlchemy Core (the stores of ``operations`` are written by
their own areas; this module only reads), the registry, marks, alarms and the effective transmission rates
(``monitoring.rates.compute_rates``, the function behind ``/rates``). Nothing reads a clock: ``now`` is
passed in and is the report's generation time.

What counts:

- **Field records** (``field_records``, in ``self_inspection_records``): only current ones. A record
  superseded by a correction (``supersedes_id`` of a later row) is replaced by that correction; each
  current record counts in the quarter holding its own ``performed_at`` (China time).
- **Faults** overlapping the quarter (begun before its end, not restored before its start), with the
  SX-18.3 restore clock of ``operations.fault_clocks`` (5 working days, ``core.workdays``) as of ``now``.
- **Manual monitoring results**, **alarms** (opened in the quarter; still open = not closed now) and
  **service tickets** (requested in the quarter, CS-4.3.3 clocks of ``operations.ticket_sla``) by their
  own time; **production stops** and **marks** (in force: neither superseded nor withdrawals) when they
  overlap the quarter.
- **Rates**: per device over the quarter's days so far (``quarter_rates``); the caller computes them on an
  engine before its transaction (``compute_rates`` refreshes the stored day counts), or passes None and
  the report says they were not computed.

The problems found (:func:`problems_of`) are derived from all of the above; each names its clause.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, exists, or_, select

from envwatch.alarms.schema import alarms
from envwatch.core.clock import to_china
from envwatch.core.errors import Conflict
from envwatch.core.settings import Settings
from envwatch.core.workdays import WorkdayCalendar
from envwatch.monitoring.marks import mark_codes
from envwatch.monitoring.marks_schema import marks
from envwatch.monitoring.rates import RateQuery, compute_rates
from envwatch.operations.corrections import current
from envwatch.operations.fault_clocks import FaultFacts, FaultRules, fault_clocks
from envwatch.operations.faults_schema import faults, manual_results, production_stops
from envwatch.operations.ticket_sla import SlaRules, satisfaction_rate
from envwatch.operations.tickets import projected_clocks
from envwatch.operations.tickets_schema import tickets
from envwatch.registry.schema import contracts, devices, enterprises, operators, outlets
from envwatch.registry.service import get_enterprise
from envwatch.reports.quarters import Quarter
from envwatch.reports.self_inspection_data import (
    AlarmCount,
    DeviceInfo,
    EnterpriseInfo,
    FaultLine,
    ManualResultLine,
    MarkCount,
    MarkLine,
    OperatorInfo,
    OutletInfo,
    RateLine,
    SelfInspection,
    StopLine,
    TicketLine,
    TicketSummary,
)
from envwatch.reports.self_inspection_problems import problems_of
from envwatch.reports.self_inspection_records import (
    current_records,
    device_work,
    parameter_changes,
)

RATES_NOT_COMPUTED = "本报告未计算有效传输率 the effective transmission rate was not computed for this report"


def quarter_rates(
    engine: Engine, settings: Settings, mns: Sequence[str], quarter: Quarter, now: datetime
) -> tuple[RateLine, ...]:
    """Each device's effective transmission rate over the quarter's days up to today (China date)."""
    today = to_china(now).date()
    if not mns or today < quarter.first_day:
        return ()
    last = min(quarter.last_day, today)
    query = RateQuery(quarter.first_day, last, group="device", mns=list(mns))
    return tuple(
        RateLine(
            mn=row["mn"],
            expected=int(row["expected"]),
            received=int(row["received"]),
            valid=int(row["valid"]),
            effective_rate=row["effective_rate"],
            flags=tuple(f["requirement"] for f in row["flags"]),
        )
        for row in compute_rates(engine, settings, query, now)
    )


def _enterprise(conn: Connection, enterprise_id: int) -> EnterpriseInfo:
    row = get_enterprise(conn, enterprise_id)  # NotFound for an unknown id
    return EnterpriseInfo(row["id"], row["name"], row["credit_code"], row["region_code"], row["address"])


def _outlets(conn: Connection, enterprise_id: int) -> tuple[OutletInfo, ...]:
    o = outlets.c
    query = select(o.id, o.code, o.name, o.kind).where(o.enterprise_id == enterprise_id).order_by(o.code)
    return tuple(OutletInfo(r.id, r.code, r.name, r.kind) for r in conn.execute(query))


def _devices(conn: Connection, enterprise_id: int) -> tuple[DeviceInfo, ...]:
    d, o = devices.c, outlets.c
    query = (
        select(d.id, d.mn, d.name, d.kind, d.model, d.serial, o.code, o.name.label("outlet_name"))
        .join(outlets, o.id == d.outlet_id)
        .where(o.enterprise_id == enterprise_id)
        .order_by(o.code, d.mn)
    )
    return tuple(
        DeviceInfo(r.id, r.mn, r.name, r.kind, r.code, r.outlet_name, r.model, r.serial)
        for r in conn.execute(query)
    )


def _operators(conn: Connection, enterprise_id: int, quarter: Quarter) -> tuple[OperatorInfo, ...]:
    c, op = contracts.c, operators.c
    query = (
        select(op.id, op.name, op.credit_code, c.contract_no, c.valid_from, c.valid_to, outlets.c.code)
        .join(operators, op.id == c.operator_id)
        .outerjoin(outlets, outlets.c.id == c.outlet_id)
        .where(
            c.enterprise_id == enterprise_id,
            c.valid_from <= quarter.last_day,
            or_(c.valid_to.is_(None), c.valid_to >= quarter.first_day),
        )
        .order_by(c.valid_from, c.id)
    )
    return tuple(
        OperatorInfo(r.id, r.name, r.credit_code, r.contract_no, r.valid_from, r.valid_to, r.code or "")
        for r in conn.execute(query)
    )


def _faults(
    conn: Connection, by_id: Mapping[int, DeviceInfo], quarter: Quarter, settings: Settings, now: datetime
) -> tuple[FaultLine, ...]:
    if not by_id:
        return ()
    f = faults.c
    query = (
        select(faults)
        .where(
            f.device_id.in_(list(by_id)),
            f.started_at < quarter.end,
            or_(f.restored_at.is_(None), f.restored_at >= quarter.start),
        )
        .order_by(f.started_at, f.id)
    )
    rules, calendar = FaultRules.from_settings(settings), WorkdayCalendar.from_settings(settings)
    out = []
    for r in conn.execute(query):
        facts = FaultFacts(
            started_at=r.started_at,
            restored_at=r.restored_at,
            backup_started_at=r.backup_started_at,
            backup_ended_at=r.backup_ended_at,
            check_done_at=r.backup_checked_at,
        )
        clocks = {c.name: c for c in fault_clocks(facts, now, rules, calendar)}
        restore = clocks["restore"]
        assert restore.due_at is not None  # the restore clock always applies
        out.append(
            FaultLine(
                id=r.id,
                mn=by_id[r.device_id].mn,
                factors=r.factors,
                description=r.description,
                state=r.state,
                started_at=r.started_at,
                restored_at=r.restored_at,
                restore_due_at=restore.due_at,
                restore_state=restore.state,
                backup_kind=r.backup_kind,
                backup_started_at=r.backup_started_at,
                backup_required_state=clocks["backup_required"].state,
            )
        )
    return tuple(out)


def _manual_results(
    conn: Connection, by_id: Mapping[int, DeviceInfo], quarter: Quarter
) -> tuple[ManualResultLine, ...]:
    if not by_id:
        return ()
    m = manual_results.c
    query = (
        select(manual_results)
        .where(
            m.device_id.in_(list(by_id)),
            m.sampled_at >= quarter.start,
            m.sampled_at < quarter.end,
            current(manual_results),  # a corrected or withdrawn result is not reported
        )
        .order_by(m.sampled_at, m.id)
    )
    return tuple(
        ManualResultLine(
            r.fault_id, by_id[r.device_id].mn, r.factor, r.sampled_at, r.value, r.unit, r.agency, r.report_no
        )
        for r in conn.execute(query)
    )


def _stops(conn: Connection, enterprise_id: int, quarter: Quarter) -> tuple[StopLine, ...]:
    s = production_stops.c
    query = (
        select(production_stops, outlets.c.code)
        .join(outlets, outlets.c.id == s.outlet_id)
        .where(s.enterprise_id == enterprise_id, s.start_at < quarter.end, s.end_at > quarter.start)
        .order_by(s.start_at, s.id)
    )
    return tuple(
        StopLine(r.id, r.code, r.start_at, r.end_at, r.state, r.reason, r.restarted_at)
        for r in conn.execute(query)
    )


def _marks(
    conn: Connection, by_id: Mapping[int, DeviceInfo], quarter: Quarter
) -> tuple[tuple[MarkCount, ...], tuple[MarkLine, ...]]:
    """Marks in force (not superseded, not withdrawals) overlapping the quarter."""
    if not by_id:
        return (), ()
    m = marks.c
    later = marks.alias("later")
    query = (
        select(marks)
        .where(
            m.device_id.in_(list(by_id)),
            m.action == "mark",
            m.start_at < quarter.end,
            m.end_at > quarter.start,
            ~exists().where(later.c.supersedes_id == m.id),
        )
        .order_by(m.start_at, m.id)
    )
    codes = mark_codes()

    def name(code: str) -> str:
        known = codes.get(code)
        return code if known is None else known.name_zh

    lines = tuple(
        MarkLine(
            r.id,
            by_id[r.device_id].mn,
            r.factor or "",
            r.start_at,
            r.end_at,
            r.code,
            name(r.code),
            r.reason,
            r.source,
            bool(r.late),
        )
        for r in conn.execute(query)
    )
    counted = Counter((line.mn, line.code) for line in lines)
    counts = tuple(MarkCount(mn, code, name(code), n) for (mn, code), n in sorted(counted.items()))
    return counts, lines


def _alarms(conn: Connection, by_id: Mapping[int, DeviceInfo], quarter: Quarter) -> tuple[AlarmCount, ...]:
    if not by_id:
        return ()
    a = alarms.c
    query = select(a.kind, a.state).where(
        a.device_id.in_(list(by_id)), a.opened_at >= quarter.start, a.opened_at < quarter.end
    )
    total: Counter[str] = Counter()
    still_open: Counter[str] = Counter()
    for kind, state in conn.execute(query):
        total[kind] += 1
        still_open[kind] += state != "closed"
    return tuple(AlarmCount(kind, total[kind], still_open[kind]) for kind in sorted(total))


def _tickets(
    conn: Connection,
    enterprise_id: int,
    by_id: Mapping[int, DeviceInfo],
    quarter: Quarter,
    settings: Settings,
    now: datetime,
) -> tuple[tuple[TicketLine, ...], TicketSummary]:
    t = tickets.c
    query = (
        select(tickets)
        .where(
            t.enterprise_id == enterprise_id, t.requested_at >= quarter.start, t.requested_at < quarter.end
        )
        .order_by(t.requested_at, t.id)
    )
    rules = SlaRules.from_settings(settings)
    lines = []
    for r in conn.execute(query):
        clocks: dict[str, str]
        try:
            clocks = {
                c.name: c.state
                # the tickets store's own replay of the projection (a remote fix included)
                for c in projected_clocks(dict(r._mapping), now, rules)
            }
        except (ValueError, Conflict):  # a projection the lifecycle cannot replay: shown, not judged
            clocks = {"respond": "unknown", "on_site": "unknown"}
        device = by_id.get(r.device_id) if r.device_id is not None else None
        lines.append(
            TicketLine(
                id=r.id,
                mn="" if device is None else device.mn,
                subject=r.subject,
                zone=r.zone,
                state=r.state,
                requested_at=r.requested_at,
                responded_at=r.responded_at,
                arrived_at=r.arrived_at,
                respond=clocks["respond"],
                on_site=clocks["on_site"],
                score=r.score,
            )
        )
    scores = [line.score for line in lines if line.score is not None]
    rate = satisfaction_rate(scores, rules)
    late = ("breached", "overdue")
    summary = TicketSummary(
        total=len(lines),
        responded_on_time=sum(1 for line in lines if line.respond == "met"),
        respond_late=sum(1 for line in lines if line.respond in late),
        on_site_on_time=sum(1 for line in lines if line.on_site == "met"),
        on_site_late=sum(1 for line in lines if line.on_site in late),
        surveys=rate.n,
        satisfied=rate.satisfied,
        satisfaction_percent=rate.percent,
    )
    return tuple(lines), summary


def gather_self_inspection(
    conn: Connection,
    settings: Settings,
    enterprise_id: int,
    quarter: Quarter,
    now: datetime,
    *,
    rates: Sequence[RateLine] | None = None,
) -> SelfInspection:
    """The report of ``enterprise_id`` for ``quarter`` as of ``now`` (NotFound for an unknown enterprise).

    ``rates``: from :func:`quarter_rates` (None: not computed, and said so in the report)."""
    enterprise = _enterprise(conn, enterprise_id)
    devices_ = _devices(conn, enterprise_id)
    by_id = {d.id: d for d in devices_}
    today = to_china(now).date()
    records = current_records(conn, by_id, quarter)
    work = device_work(devices_, records, settings, quarter, today)
    faults_ = _faults(conn, by_id, quarter, settings, now)
    mark_counts, mark_lines = _marks(conn, by_id, quarter)
    alarm_counts = _alarms(conn, by_id, quarter)
    ticket_lines, ticket_summary = _tickets(conn, enterprise_id, by_id, quarter, settings, now)
    known = {d.mn for d in devices_}
    rate_lines = None if rates is None else tuple(r for r in rates if r.mn in known)
    complete = quarter.is_over(now)
    return SelfInspection(
        enterprise=enterprise,
        quarter=quarter,
        generated_at=now,
        complete=complete,
        inspection_every_days=settings.om_inspection_every_days,
        operators=_operators(conn, enterprise_id, quarter),
        outlets=_outlets(conn, enterprise_id),
        devices=devices_,
        work=work,
        records=records,
        parameter_changes=parameter_changes(conn, records, by_id),
        faults=faults_,
        manual_results=_manual_results(conn, by_id, quarter),
        stops=_stops(conn, enterprise_id, quarter),
        mark_counts=mark_counts,
        marks=mark_lines,
        alarms=alarm_counts,
        tickets=ticket_lines,
        ticket_summary=ticket_summary,
        rates=rate_lines,
        rates_note=RATES_NOT_COMPUTED if rate_lines is None else "",
        problems=problems_of(
            work, faults_, alarm_counts, ticket_lines, rate_lines, settings.rates_quarter_min_pct
        ),
    )


def build_self_inspection(
    engine: Engine, settings: Settings, enterprise_id: int, quarter: Quarter, now: datetime
) -> SelfInspection:
    """Rates and content in one call, for a caller outside any transaction (previews, the CLI)."""
    with engine.connect() as conn:
        mns = [d.mn for d in _devices(conn, enterprise_id)] if _exists(conn, enterprise_id) else []
    rates = quarter_rates(engine, settings, mns, quarter, now)
    with engine.connect() as conn:
        return gather_self_inspection(conn, settings, enterprise_id, quarter, now, rates=rates)


def device_mns(conn: Connection, enterprise_id: int) -> list[str]:
    """The MNs of the enterprise's devices (for :func:`quarter_rates`)."""
    return [d.mn for d in _devices(conn, enterprise_id)]


def _exists(conn: Connection, enterprise_id: int) -> bool:
    found = conn.execute(select(enterprises.c.id).where(enterprises.c.id == enterprise_id)).first()
    return found is not None
