"""The tables of a certification evidence pack (认证证据包 台账, CS-5/6): what each CSV file holds, for one
operator and China days first..last, read in one transaction.

Every table is a fixed column order and a row reader; rows come back sorted by id (the audit days by day),
so the same data always gives the same file. Which rows a table holds:

- ``ledgers/field_records.csv`` (运维记录, SX-20): the operator's O&M records performed in the period, the
  current ones and the ones a later row corrected (``supersedes_id`` / ``superseded_by``, ``current``);
- ``ledgers/equipment.csv`` (一机一档, CS-4.4.3): the operator's equipment purchased by the period's end, with
  its state, device and next verification *at the period's end* (the journal replayed up to that day);
  ``ledgers/equipment_events.csv`` the journal rows dated in the period;
- ``ledgers/spare_parts.csv``: the operator's spare parts registered by the period's end with the stock at
  its end; ``ledgers/spare_part_moves.csv`` the moves recorded in the period;
- ``ledgers/emergency_plans.csv`` (应急预案, CS-4.2.3): every plan revision in effect by the period's end;
  ``ledgers/drills.csv`` the drills held in the period;
- ``staff/staff.csv`` (人员档案, CS-4.5): the operator's personnel files (no phone numbers) with the certificate
  status on the period's last day; ``staff/certificates.csv`` every certificate row issued by the period's
  end, corrected and withdrawn ones included (the history); ``staff/trainings.csv`` the training rows
  planned or held in the period (plans and the rows recording them held); ``staff/training_results.csv``
  the results of those trainings;
- ``tickets/tickets.csv`` (服务工单, CS-4.3.3): the tickets requested in the period, with both clocks as the
  KPIs judged them; ``tickets/ticket_events.csv`` their whole journals; ``tickets/satisfaction.csv`` the
  survey answers recorded in the period (the satisfaction KPI's base);
- ``findings/findings.csv`` (合规问题): the operator's findings touching the period (``last_seen`` and
  ``updated_at`` are left out: each daily run moves them without changing the situation);
  ``findings/finding_events.csv`` their events;
- ``audits/audit_days.csv`` (数据审核, CS-4.3.2.2): each day of the period, how many devices the operator
  looked after and the sign-off that counts.

Cells: empty for none, ``true``/``false``, times in UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the evidence log's
form), exact decimals as text, JSON objects as canonical JSON (sorted keys).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import Connection, and_, func, or_, select

from envwatch.alarms.orders_schema import audit_days
from envwatch.compliance.schema import finding_events, findings
from envwatch.core.evidence import json_ready
from envwatch.core.settings import Settings
from envwatch.operations.certificates import certificate_status, certificates_of
from envwatch.operations.equipment_lifecycle import EQUIPMENT_TRANSITIONS, LEAVES_DEVICE, TAKES_DEVICE
from envwatch.operations.ledger_schema import (
    drills,
    emergency_plans,
    equipment,
    equipment_events,
    spare_part_moves,
    spare_parts,
)
from envwatch.operations.records_schema import field_records
from envwatch.operations.staff_schema import staff, staff_certificates, training_results, trainings
from envwatch.operations.ticket_sla import SlaRules, is_satisfied
from envwatch.operations.tickets import projected_clocks
from envwatch.operations.tickets_schema import ticket_events, tickets
from envwatch.registry.schema import devices
from envwatch.reports.certification_kpis import china_bounds, findings_touching

Row = dict[str, Any]


@dataclass(frozen=True)
class PackContext:
    """What every table reader needs: the transaction, the operator, the period and its UTC bounds, ``now``
    (for the ticket clocks, as the KPIs), the settings, and the devices looked after each day."""

    conn: Connection
    settings: Settings
    operator_id: int
    first: date
    last: date
    now: datetime
    covered: dict[date, frozenset[int]]

    @property
    def start(self) -> datetime:
        return china_bounds(self.first, self.last)[0]

    @property
    def end(self) -> datetime:
        return china_bounds(self.first, self.last)[1]


@dataclass(frozen=True)
class PackTable:
    """One CSV file: its path in the zip, what it is (English and Chinese), the requirement it evidences,
    its columns in order, its reader, and the database table its ids name (evidence refs ``<table>/<id>``;
    None when the rows are not rows of one table)."""

    path: str
    description: str
    description_zh: str
    requirement: str
    columns: tuple[str, ...]
    read: Callable[[PackContext], list[Row]]
    source: str | None


def cell(value: Any) -> str:
    """One CSV cell (module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(json_ready(value), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    ready = json_ready(value)
    return ready if isinstance(ready, str) else str(ready)


def _rows(conn: Connection, query: Any) -> list[Row]:
    return [dict(r) for r in conn.execute(query).mappings()]


# ---- ledgers ----


def _field_records(ctx: PackContext) -> list[Row]:
    f = field_records.c
    later = field_records.alias("later_record")
    query = (
        select(field_records, devices.c.mn, later.c.id.label("superseded_by"))
        .join(devices, devices.c.id == f.device_id)
        .outerjoin(later, later.c.supersedes_id == f.id)
        .where(f.operator_id == ctx.operator_id, f.performed_at >= ctx.start, f.performed_at < ctx.end)
        .order_by(f.id)
    )
    rows = _rows(ctx.conn, query)
    for r in rows:
        r["current"] = r["superseded_by"] is None
    return rows


def _equipment(ctx: PackContext) -> list[Row]:
    q, e = equipment.c, equipment_events.c
    files = _rows(ctx.conn, select(equipment).where(q.operator_id == ctx.operator_id).order_by(q.id))
    journal: dict[int, list[Row]] = {}
    if files:
        query = (
            select(equipment_events)
            .where(e.equipment_id.in_([r["id"] for r in files]), e.on <= ctx.last)
            .order_by(e.id)
        )
        for ev in _rows(ctx.conn, query):
            journal.setdefault(ev["equipment_id"], []).append(ev)
    out = []
    for r in files:
        events = journal.get(r["id"], [])
        if not events:  # purchased after the period
            continue
        state, device_id, due = "in_stock", None, None
        for ev in events:
            if ev["event"] != "purchased":
                state = EQUIPMENT_TRANSITIONS.get(state, {}).get(ev["event"], state)  # type: ignore[call-overload]
            if ev["event"] in TAKES_DEVICE:
                device_id = ev["device_id"]
            elif ev["event"] in LEAVES_DEVICE:
                device_id = None
            if ev["event"] == "verified":
                due = ev["next_due"]
        out.append(
            {**r, "state_at_end": state, "device_id_at_end": device_id, "next_verification_due_at_end": due}
        )
    return out


def _equipment_events(ctx: PackContext) -> list[Row]:
    e = equipment_events.c
    query = (
        select(equipment_events)
        .join(equipment, equipment.c.id == e.equipment_id)
        .where(equipment.c.operator_id == ctx.operator_id, e.on >= ctx.first, e.on <= ctx.last)
        .order_by(e.id)
    )
    return _rows(ctx.conn, query)


def _spare_parts(ctx: PackContext) -> list[Row]:
    p, m = spare_parts.c, spare_part_moves.c
    stock = (
        select(m.part_id, func.sum(m.quantity).label("stock"))
        .where(m.recorded_at < ctx.end)
        .group_by(m.part_id)
        .subquery("stock_at_end")
    )
    moved = (
        select(m.part_id, func.count().label("moves"))
        .where(m.recorded_at >= ctx.start, m.recorded_at < ctx.end)
        .group_by(m.part_id)
        .subquery("moves_in_period")
    )
    query = (
        select(spare_parts, stock.c.stock, moved.c.moves)
        .outerjoin(stock, stock.c.part_id == p.id)
        .outerjoin(moved, moved.c.part_id == p.id)
        .where(p.operator_id == ctx.operator_id, p.created_at < ctx.end)
        .order_by(p.id)
    )
    rows = _rows(ctx.conn, query)
    for r in rows:
        r["stock_at_end"] = int(r.pop("stock") or 0)
        r["moves_in_period"] = int(r.pop("moves") or 0)
    return rows


def _spare_part_moves(ctx: PackContext) -> list[Row]:
    m = spare_part_moves.c
    query = (
        select(spare_part_moves)
        .join(spare_parts, spare_parts.c.id == m.part_id)
        .where(
            spare_parts.c.operator_id == ctx.operator_id, m.recorded_at >= ctx.start, m.recorded_at < ctx.end
        )
        .order_by(m.id)
    )
    return _rows(ctx.conn, query)


def _emergency_plans(ctx: PackContext) -> list[Row]:
    pl = emergency_plans.c
    rows = _rows(
        ctx.conn,
        select(emergency_plans)
        .where(pl.operator_id == ctx.operator_id, pl.effective_on <= ctx.last)
        .order_by(pl.id),
    )
    newest: dict[str, int] = {}
    for r in rows:
        newest[r["event_type"]] = r["id"]  # ascending ids: the last one is the revision in force at the end
    for r in rows:
        r["current_at_end"] = newest[r["event_type"]] == r["id"]
    return rows


def _drills(ctx: PackContext) -> list[Row]:
    d, pl = drills.c, emergency_plans.c
    query = (
        select(drills, pl.event_type, pl.version.label("plan_version"))
        .join(emergency_plans, pl.id == d.plan_id)
        .where(pl.operator_id == ctx.operator_id, d.held_on >= ctx.first, d.held_on <= ctx.last)
        .order_by(d.id)
    )
    return _rows(ctx.conn, query)


# ---- staff ----


def _staff(ctx: PackContext) -> list[Row]:
    s = staff.c
    rows = _rows(
        ctx.conn, select(staff).where(s.operator_id == ctx.operator_id, s.created_at < ctx.end).order_by(s.id)
    )
    certs = certificates_of(ctx.conn, [r["id"] for r in rows])
    warn = int(ctx.settings.om_certificate_warn_days)
    for r in rows:
        status = certificate_status(certs[r["id"]], ctx.last, warn)
        r["certificate_status_at_end"] = status.status
        r["certificate_valid_until"] = status.valid_until
    return rows


def _certificates(ctx: PackContext) -> list[Row]:
    c = staff_certificates.c
    later = staff_certificates.alias("later_certificate")
    query = (
        select(staff_certificates, later.c.id.label("superseded_by"))
        .join(staff, staff.c.id == c.staff_id)
        .outerjoin(later, later.c.supersedes_id == c.id)
        .where(staff.c.operator_id == ctx.operator_id, c.issued_on <= ctx.last)
        .order_by(c.id)
    )
    rows = _rows(ctx.conn, query)
    for r in rows:
        r["current"] = r["superseded_by"] is None and not r["withdrawn"]
    return rows


def _training_condition(ctx: PackContext) -> Any:
    t = trainings.c
    return and_(
        t.operator_id == ctx.operator_id,
        or_(
            and_(t.planned_on >= ctx.first, t.planned_on <= ctx.last),
            and_(t.held_on >= ctx.first, t.held_on <= ctx.last),
        ),
    )


def _trainings(ctx: PackContext) -> list[Row]:
    t = trainings.c
    later = trainings.alias("later_training")
    query = (
        select(trainings, later.c.id.label("superseded_by"))
        .outerjoin(later, later.c.supersedes_id == t.id)
        .where(_training_condition(ctx))
        .order_by(t.id)
    )
    rows = _rows(ctx.conn, query)
    for r in rows:
        r["current"] = r["superseded_by"] is None
    return rows


def _training_results(ctx: PackContext) -> list[Row]:
    r = training_results.c
    chosen = select(trainings.c.id).where(_training_condition(ctx))
    return _rows(ctx.conn, select(training_results).where(r.training_id.in_(chosen)).order_by(r.id))


# ---- tickets ----


def _tickets(ctx: PackContext) -> list[Row]:
    t = tickets.c
    query = (
        select(tickets)
        .where(t.operator_id == ctx.operator_id, t.requested_at >= ctx.start, t.requested_at < ctx.end)
        .order_by(t.id)
    )
    rules = SlaRules.from_settings(ctx.settings)
    rows = _rows(ctx.conn, query)
    for row in rows:
        clocks = {c.name: c for c in projected_clocks(row, ctx.now, rules)}
        row["respond_clock"] = clocks["respond"].state
        row["respond_due_at"] = clocks["respond"].due_at
        row["on_site_clock"] = clocks["on_site"].state
        row["on_site_due_at"] = clocks["on_site"].due_at
    return rows


def _ticket_events(ctx: PackContext) -> list[Row]:
    t, e = tickets.c, ticket_events.c
    chosen = select(t.id).where(
        t.operator_id == ctx.operator_id, t.requested_at >= ctx.start, t.requested_at < ctx.end
    )
    return _rows(ctx.conn, select(ticket_events).where(e.ticket_id.in_(chosen)).order_by(e.id))


def _satisfaction(ctx: PackContext) -> list[Row]:
    t, e = tickets.c, ticket_events.c
    query = (
        select(e.id, e.ticket_id, e.at, e.score, t.enterprise_id)
        .select_from(ticket_events.join(tickets, t.id == e.ticket_id))
        .where(t.operator_id == ctx.operator_id, e.event == "survey", e.at >= ctx.start, e.at < ctx.end)
        .order_by(e.id)
    )
    rules = SlaRules.from_settings(ctx.settings)
    rows = _rows(ctx.conn, query)
    for r in rows:
        r["satisfied"] = None if r["score"] is None else is_satisfied(int(r["score"]), rules)
    return rows


# ---- findings and audits ----


def _findings(ctx: PackContext) -> list[Row]:
    c = findings.c
    return _rows(
        ctx.conn,
        select(findings).where(findings_touching(ctx.operator_id, ctx.first, ctx.last)).order_by(c.id),
    )


def _finding_events(ctx: PackContext) -> list[Row]:
    e = finding_events.c
    chosen = select(findings.c.id).where(findings_touching(ctx.operator_id, ctx.first, ctx.last))
    return _rows(ctx.conn, select(finding_events).where(e.finding_id.in_(chosen)).order_by(e.id))


def _audit_days(ctx: PackContext) -> list[Row]:
    a = audit_days.c
    query = (
        select(audit_days)
        .where(a.operator_id == ctx.operator_id, a.day >= ctx.first, a.day <= ctx.last)
        .order_by(a.id)
    )
    newest: dict[date, Row] = {}
    count: dict[date, int] = {}
    for r in _rows(ctx.conn, query):
        newest[r["day"]] = r  # ascending ids: the newest sign-off of a day counts
        count[r["day"]] = count.get(r["day"], 0) + 1
    out = []
    for day, devs in sorted(ctx.covered.items()):
        signed = newest.get(day)
        out.append(
            {
                "day": day,
                "devices": len(devs),
                "signoff_id": None if signed is None else signed["id"],
                "signed_by": None if signed is None else signed["signed_by"],
                "signed_at": None if signed is None else signed["signed_at"],
                "anomalies": None if signed is None else signed["anomalies"],
                "note": None if signed is None else signed["note"],
                "signoffs": count.get(day, 0),
            }
        )
    return out


RECORDED: Final = ("recorded_by", "recorded_at")

TABLES: Final[tuple[PackTable, ...]] = (
    PackTable(
        "audits/audit_days.csv", "Each day of the period: devices looked after and the sign-off that counts",
        "期内每日：运维设备数与有效的审核签字", "CS-4.3.2.2",
        ("day", "devices", "signoff_id", "signed_by", "signed_at", "anomalies", "note", "signoffs"),
        _audit_days, None,
    ),
    PackTable(
        "findings/finding_events.csv", "Events of those findings (opened, resolved, reopened, waived, unwaived)",
        "上述合规问题的处理记录", "CS-5/6",
        ("id", "finding_id", "event", "at", "from_state", "to_state", "reason", "run_id", "data", "recorded_by"),
        _finding_events, "finding_events",
    ),
    PackTable(
        "findings/findings.csv", "Compliance findings of the operator touching the period", "期内涉及本运维单位的合规问题",
        "CS-5/6",
        ("id", "rule", "key", "subject_kind", "subject_id", "enterprise_id", "outlet_id", "device_id", "severity",
         "period_start", "period_end", "state", "state_reason", "first_seen", "message", "evidence"),
        _findings, "findings",
    ),
    PackTable(
        "ledgers/drills.csv", "Emergency drills held in the period", "期内应急演练记录", "CS-4.2.3",
        ("id", "plan_id", "event_type", "plan_version", "held_on", "participants", "summary", *RECORDED),
        _drills, "drills",
    ),
    PackTable(
        "ledgers/emergency_plans.csv", "Emergency plan revisions in effect by the period's end", "期末前生效的应急预案（含历次修订）",
        "CS-4.2.3",
        ("id", "event_type", "title", "version", "effective_on", "current_at_end", "body", *RECORDED),
        _emergency_plans, "emergency_plans",
    ),
    PackTable(
        "ledgers/equipment.csv", "Equipment files (one per instrument) and their state at the period's end",
        "一机一档：设备档案及期末状态", "CS-4.4.3",
        ("id", "kind", "name", "model", "serial", "purchased_on", "state_at_end", "device_id_at_end",
         "next_verification_due_at_end", "created_at"),
        _equipment, "equipment",
    ),
    PackTable(
        "ledgers/equipment_events.csv", "Equipment journal entries dated in the period", "期内设备档案记录",
        "CS-4.4.3",
        ("id", "equipment_id", "event", "on", "device_id", "next_due", "comment", *RECORDED),
        _equipment_events, "equipment_events",
    ),
    PackTable(
        "ledgers/field_records.csv", "O&M field records performed in the period, current and corrected",
        "期内运维记录（含被更正的记录）", "SX-20.3",
        ("id", "kind", "device_id", "mn", "staff_id", "performed_at", "on_site", "distance_m", "latitude",
         "longitude", "verdict", "payload", "note", "supersedes_id", "superseded_by", "current", "keep_until",
         *RECORDED),
        _field_records, "field_records",
    ),
    PackTable(
        "ledgers/spare_part_moves.csv", "Spare part moves recorded in the period", "期内备品备件出入库记录", "CS-4.4.3",
        ("id", "part_id", "quantity", "reason", "device_id", *RECORDED),
        _spare_part_moves, "spare_part_moves",
    ),
    PackTable(
        "ledgers/spare_parts.csv", "Spare parts with the stock at the period's end", "备品备件及期末库存", "CS-4.4.3",
        ("id", "name", "model", "unit", "min_stock", "stock_at_end", "moves_in_period", "created_at"),
        _spare_parts, "spare_parts",
    ),
    PackTable(
        "staff/certificates.csv", "Certificate rows of the staff issued by the period's end (history)",
        "人员上岗证记录（含更正、撤销的历史）", "CS-4.5",
        ("id", "staff_id", "kind", "number", "issuer", "issued_on", "valid_until", "supersedes_id", "withdrawn",
         "reason", "superseded_by", "current", *RECORDED),
        _certificates, "staff_certificates",
    ),
    PackTable(
        "staff/staff.csv", "Personnel files with the certificate status on the last day", "人员档案及期末持证状态",
        "CS-4.5",
        ("id", "name", "position", "active", "username", "created_at", "certificate_status_at_end",
         "certificate_valid_until"),
        _staff, "staff",
    ),
    PackTable(
        "staff/training_results.csv", "Test results of those trainings", "上述培训的考核成绩", "CS-4.5",
        ("id", "training_id", "staff_id", "score", "passed", "tested_on", *RECORDED),
        _training_results, "training_results",
    ),
    PackTable(
        "staff/trainings.csv", "Trainings planned or held in the period (plans and held records)",
        "期内培训计划与培训记录", "CS-4.5",
        ("id", "kind", "title", "planned_on", "held_on", "pass_score", "supersedes_id", "superseded_by", "current",
         "note", *RECORDED),
        _trainings, "trainings",
    ),
    PackTable(
        "tickets/satisfaction.csv", "Satisfaction survey answers recorded in the period", "期内满意度回访记录",
        "CS-4.3.3",
        ("id", "ticket_id", "enterprise_id", "at", "score", "satisfied"),
        _satisfaction, "ticket_events",
    ),
    PackTable(
        "tickets/ticket_events.csv", "The whole journals of those tickets", "上述工单的全部处理记录", "CS-4.3.3",
        ("id", "ticket_id", "event", "at", "from_state", "to_state", "comment", "staff_id", "score", *RECORDED),
        _ticket_events, "ticket_events",
    ),
    PackTable(
        "tickets/tickets.csv", "Service tickets requested in the period, with their two clocks",
        "期内服务工单及响应、到场时限判定", "CS-4.3.3",
        ("id", "enterprise_id", "outlet_id", "device_id", "zone", "channel", "subject", "description", "state",
         "requested_at", "requested_by", "responded_at", "arrived_at", "resolved_at", "closed_at", "cancelled_at",
         "assigned_staff_id", "score", "respond_clock", "respond_due_at", "on_site_clock", "on_site_due_at"),
        _tickets, "tickets",
    ),
)  # fmt: skip


def row_cells(table: PackTable, row: Row) -> list[str]:
    return [cell(row.get(name)) for name in table.columns]


def ids_of(rows: Iterable[Row]) -> list[int]:
    return [int(r["id"]) for r in rows if r.get("id") is not None]
