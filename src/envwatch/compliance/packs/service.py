"""Rule pack ``service``: the certification KPIs of an operator (运维服务认证, CS-4.2.3, CS-4.3.2.2, CS-4.3.3,
CS-4.5).

Each rule reads the O&M records the operator keeps on the platform and judges them with the same helpers
the O&M pages use, so a finding shows exactly what the page shows:

- **CS-4.3.3-1H / CS-4.3.3-4H8H**: the response and on-site clocks of each service ticket (服务工单), replayed
  with ``operations.ticket_sla.ticket_clocks`` from the ticket's journal as it stood at ``at`` (events
  after ``at`` are not known yet). A ticket is a finding once its clock is *decided late*: overdue (nobody
  answered / came and the limit has passed) or met late (breached). A clock still running is not.
- **CS-4.3.3-SAT**: the satisfaction rate (满意度) of the operator's surveys recorded in the last complete
  quarter, by ``operations.ticket_stats.satisfaction`` (exact comparison with the target).
- **CS-4.2.3-DRILL**: at least one emergency drill (应急演练) in the last 365 days.
- **CS-4.5-CERT**: every active staff member's certificate (上岗证) valid on ``at``
  (``operations.certificates.certificate_status``, the rule ``operations.assignment`` applies).
- **CS-4.5-TRAIN**: a quarterly re-training (季度再培训) held in the last complete quarter.
- **CS-4.3.2.2-AUDIT**: every China day signed off by the operator's auditor (每日数据审核,
  ``alarms.audit_days``), judged once the following day has ended.

Every finding names the operator (subject ``operator``); ticket findings also name the enterprise, outlet
and device of the request, so the enterprise sees the findings about its own requests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, or_, select

from envwatch.alarms.orders_schema import audit_days
from envwatch.compliance.rules import (
    Found,
    Link,
    Param,
    Rule,
    RuleContext,
    last_quarter,
    lookback,
    quarter_before,
)
from envwatch.compliance.subjects import fleet, operators_on
from envwatch.core.clock import to_china
from envwatch.operations.certificates import certificate_status, certificates_of
from envwatch.operations.ledger_schema import drills, emergency_plans
from envwatch.operations.staff_schema import staff
from envwatch.operations.ticket_sla import ClockName, ServiceZone, SlaClock, SlaRules, ticket_clocks
from envwatch.operations.ticket_stats import operators_with_tickets, quarter_name, satisfaction
from envwatch.operations.tickets import china_midnight
from envwatch.operations.tickets_schema import ticket_events, tickets
from envwatch.operations.trainings import list_trainings
from envwatch.registry.schema import contracts, enterprises, operators, outlets

_t = tickets.c
_e = ticket_events.c
_c = contracts.c

ZONE_ZH = {"urban": "市区", "suburban": "郊区", "remote": "偏远地区"}


# ---- shared readers ----


def china_day(at: datetime) -> date:
    return to_china(at).date()


def china_text(at: datetime) -> str:
    return f"{to_china(at):%Y-%m-%d %H:%M}"


def operator_names(conn: Connection) -> dict[int, str]:
    return {int(r.id): r.name for r in conn.execute(select(operators.c.id, operators.c.name))}


def operators_under_contract(conn: Connection, first: date, last: date) -> list[int]:
    """Operators with a contract in force on at least one day of first..last."""
    query = select(_c.operator_id).where(
        _c.valid_from <= last, or_(_c.valid_to.is_(None), _c.valid_to >= first)
    )
    return sorted({int(i) for i in conn.execute(query).scalars()})


def about_operator(operator_id: int) -> dict[str, Any]:
    return {"subject_kind": "operator", "subject_id": operator_id, "operator_id": operator_id}


def hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def limit_text(value: float) -> str:
    return f"{value:g} h"


# ---- CS-4.3.3 clocks of the service tickets ----


def _histories(conn: Connection, at: datetime) -> dict[int, list[tuple[str, datetime]]]:
    """Each ticket's journal as it stood at ``at``: its events that happened by then, in order."""
    query = (
        select(_e.ticket_id, _e.event, _e.at)
        .join(tickets, _t.id == _e.ticket_id)
        .where(_t.requested_at <= at, _e.at <= at)
        .order_by(_e.ticket_id, _e.id)
    )
    out: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for row in conn.execute(query):
        out[int(row.ticket_id)].append((row.event, row.at))
    return out


def _ticket_rows(conn: Connection, at: datetime) -> list[dict[str, Any]]:
    query = (
        select(
            _t.id,
            _t.enterprise_id,
            _t.outlet_id,
            _t.device_id,
            _t.operator_id,
            _t.zone,
            _t.subject,
            _t.requested_at,
            enterprises.c.name.label("enterprise"),
            outlets.c.code.label("outlet"),
        )
        .join(enterprises, enterprises.c.id == _t.enterprise_id)
        .join(outlets, outlets.c.id == _t.outlet_id)
        .where(_t.requested_at <= at)
        .order_by(_t.requested_at, _t.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def _late_clock(
    ctx: RuleContext, clock_name: ClockName, rules: SlaRules
) -> Iterator[tuple[dict[str, Any], SlaClock, list[tuple[str, datetime]]]]:
    histories = _histories(ctx.conn, ctx.at)
    for row in _ticket_rows(ctx.conn, ctx.at):
        history = histories.get(int(row["id"]))
        if not history:
            continue
        zone = cast(ServiceZone, row["zone"])
        clock = next(c for c in ticket_clocks(history, zone, ctx.at, rules) if c.name == clock_name)
        if clock.state in ("overdue", "breached"):
            yield row, clock, history


def _what_happened(clock: SlaClock, history: list[tuple[str, datetime]], stop_event: str, done: str) -> str:
    """How a late clock ended (or did not), in words."""
    stopped = next((when for event, when in history if event == stop_event), None)
    if clock.state == "overdue":
        return f"has not been {done} by {china_text(clock.due_at)} China time, when it was due"
    late_by = hours(cast(datetime, clock.stopped_at) - clock.started_at)
    when = china_text(cast(datetime, clock.stopped_at))
    if stopped is not None and stopped == clock.stopped_at:
        return f"was {done} at {when} China time, {late_by} after the request"
    if any(event == "cancel" and at == clock.stopped_at for event, at in history):
        return f"was cancelled at {when} China time without being {done}, {late_by} after the request"
    return f"was solved remotely at {when} China time, {late_by} after the request"


def _ticket_found(row: dict[str, Any], clock: SlaClock, message: str) -> Found:
    return Found(
        key=f"ticket:{row['id']}",
        message=message,
        period_start=clock.started_at,
        period_end=clock.due_at,
        enterprise_id=row["enterprise_id"],
        outlet_id=row["outlet_id"],
        device_id=row["device_id"],
        evidence=(Link("ticket", str(row["id"]), row["subject"]),),
        **about_operator(int(row["operator_id"])),
    )


def _ticket_label(row: dict[str, Any]) -> str:
    return (
        f"service ticket {row['id']} ({row['enterprise']} {row['outlet']}, requested "
        f"{china_text(row['requested_at'])} China time)"
    )


def respond_late(ctx: RuleContext) -> Iterator[Found]:
    """CS-4.3.3-1H: tickets not responded to within the limit."""
    limit = float(ctx["respond_within_h"])
    rules = replace(SlaRules.from_settings(ctx.settings), respond_within=timedelta(hours=limit))
    for row, clock, history in _late_clock(ctx, "respond", rules):
        what = _what_happened(clock, history, "respond", "responded to")
        yield _ticket_found(
            row,
            clock,
            f"{_ticket_label(row)} {what} (> {limit_text(limit)}) (服务工单未在{limit:g}小时内响应)",
        )


def on_site_late(ctx: RuleContext) -> Iterator[Found]:
    """CS-4.3.3-4H8H: tickets nobody reached on site within the limit of the outlet's service zone."""
    limits = {
        "urban": float(ctx["urban_h"]),
        "suburban": float(ctx["suburban_h"]),
        "remote": float(ctx["remote_h"]),
    }
    rules = replace(
        SlaRules.from_settings(ctx.settings),
        on_site_urban=timedelta(hours=limits["urban"]),
        on_site_suburban=timedelta(hours=limits["suburban"]),
        on_site_remote=timedelta(hours=limits["remote"]),
    )
    for row, clock, history in _late_clock(ctx, "on_site", rules):
        zone = row["zone"]
        limit = limits[zone]
        what = _what_happened(clock, history, "arrive", "reached on site")
        yield _ticket_found(
            row,
            clock,
            f"{_ticket_label(row)} {what} (> {limit_text(limit)}, {zone} outlet) "
            f"(服务工单未在{limit:g}小时内到达现场, {ZONE_ZH.get(zone, zone)})",
        )


# ---- CS-4.3.3 satisfaction ----


def satisfaction_low(ctx: RuleContext) -> Iterator[Found]:
    """CS-4.3.3-SAT: an operator's satisfaction rate of the last complete quarter under the target."""
    first, last = quarter_before(ctx.at)
    target = Decimal(str(ctx["min_percent"]))
    rules = replace(SlaRules.from_settings(ctx.settings), satisfaction_min_percent=target)
    names = operator_names(ctx.conn)
    quarter = quarter_name(first)
    for operator_id in operators_with_tickets(ctx.conn, first, last):
        rate = satisfaction(ctx.conn, operator_id, first, last, rules).rate
        if rate.n < int(ctx["min_answers"]) or rate.meets_target is not False:
            continue
        unhappy = _unsatisfied_tickets(ctx.conn, operator_id, first, last, rules.satisfied_min_score)
        yield Found(
            key=f"operator:{operator_id}:quarter:{quarter}",
            message=(
                f"operator {names.get(operator_id, operator_id)}: satisfaction {rate.percent} % in {quarter} "
                f"({rate.satisfied} of {rate.n} surveys satisfied) is below {target} % (满意度低于{target}%)"
            ),
            period_start=china_midnight(first),
            period_end=china_midnight(last + timedelta(days=1)),
            evidence=(
                Link("operator", str(operator_id), names.get(operator_id, "")),
                *(Link("ticket", str(t), f"score {s}") for t, s in unhappy),
            ),
            **about_operator(operator_id),
        )


def _unsatisfied_tickets(
    conn: Connection, operator_id: int, first: date, last: date, min_score: int
) -> list[tuple[int, int]]:
    """(ticket, score) of the surveys of the quarter that were not satisfied: what the finding rests on."""
    query = (
        select(_e.ticket_id, _e.score)
        .join(tickets, _t.id == _e.ticket_id)
        .where(
            _t.operator_id == operator_id,
            _e.event == "survey",
            _e.at >= china_midnight(first),
            _e.at < china_midnight(last + timedelta(days=1)),
            _e.score < min_score,
        )
        .order_by(_e.ticket_id)
    )
    return [(int(r.ticket_id), int(r.score)) for r in conn.execute(query)]


# ---- CS-4.2.3 yearly drill ----


def drill_missing(ctx: RuleContext) -> Iterator[Found]:
    """CS-4.2.3-DRILL: an operator under contract at ``at`` without a drill in the last ``days`` days.

    The year runs from the last drill, or for an operator that never held one from its first contract:
    a new operator has its first year to hold one."""
    today = china_day(ctx.at)
    days = int(ctx["days"])
    names = operator_names(ctx.conn)
    for operator_id in operators_under_contract(ctx.conn, today, today):
        last_drill = ctx.conn.execute(
            select(drills.c.held_on, drills.c.id)
            .join(emergency_plans, emergency_plans.c.id == drills.c.plan_id)
            .where(
                emergency_plans.c.operator_id == operator_id,
                drills.c.held_on <= today,
                drills.c.recorded_at <= ctx.at,
            )
            .order_by(drills.c.held_on.desc(), drills.c.id.desc())
            .limit(1)
        ).first()
        if last_drill is not None:
            since: date = last_drill.held_on
            said = f"the last drill was held on {since.isoformat()}"
        else:
            first_contract = ctx.conn.execute(
                select(_c.valid_from).where(_c.operator_id == operator_id).order_by(_c.valid_from).limit(1)
            ).scalar_one()
            since = first_contract
            said = f"no drill recorded since its first contract began on {since.isoformat()}"
        due = since + timedelta(days=days)
        if due > today:
            continue
        name = names.get(operator_id, str(operator_id))
        evidence = [Link("operator", str(operator_id), name)]
        if last_drill is not None:
            evidence.append(Link("drill", str(last_drill.id), since.isoformat()))
        yield Found(
            key=f"operator:{operator_id}:since:{since.isoformat() if last_drill is not None else 'never'}",
            message=(
                f"operator {name} held no emergency drill in the {days} days before {today.isoformat()}: "
                f"{said}, the next was due by {due.isoformat()} (未按年度开展应急演练)"
            ),
            period_start=china_midnight(due),
            evidence=tuple(evidence),
            **about_operator(operator_id),
        )


# ---- CS-4.5 certificates and training ----


def certificate_invalid(ctx: RuleContext) -> Iterator[Found]:
    """CS-4.5-CERT: active staff without a certificate valid on ``at``: a certificate that lapsed (expired,
    or corrected to an earlier end), or none at all for the field positions in ``positions`` (a withdrawn
    certificate counts as none)."""
    today = china_day(ctx.at)
    field_positions = set(ctx["positions"])
    names = operator_names(ctx.conn)
    people = [
        dict(r)
        for r in ctx.conn.execute(
            select(staff.c.id, staff.c.operator_id, staff.c.name, staff.c.position)
            .where(staff.c.active.is_(True), staff.c.created_at <= ctx.at)
            .order_by(staff.c.operator_id, staff.c.id)
        ).mappings()
    ]
    held = certificates_of(ctx.conn, [p["id"] for p in people])
    for person in people:
        status = certificate_status(held[person["id"]], today, 0)
        cert = status.certificate
        operator_id = int(person["operator_id"])
        who = f"{person['name']} (staff {person['id']}, {person['position']}) of {names.get(operator_id, operator_id)}"
        evidence = [Link("staff", str(person["id"]), person["name"])]
        if status.status == "expired" and cert is not None:
            evidence.append(Link("certificate", str(cert["id"]), cert["number"]))
            key = f"staff:{person['id']}:until:{cert['valid_until'].isoformat()}"
            message = (
                f"{who} holds no certificate valid on {today.isoformat()}: the latest, {cert['number']}, "
                f"was valid until {cert['valid_until'].isoformat()} (运维人员上岗证已过期)"
            )
        elif status.status == "none" and person["position"] in field_positions:
            key = f"staff:{person['id']}:until:none"
            message = f"{who} holds no certificate (运维人员无上岗证)"
        else:
            continue
        yield Found(key=key, message=message, evidence=tuple(evidence), **about_operator(operator_id))


def training_missing(ctx: RuleContext) -> Iterator[Found]:
    """CS-4.5-TRAIN: an operator under contract in the last complete quarter that held no training of the
    kinds in ``kinds`` (default: the quarterly re-training) in it."""
    first, last = quarter_before(ctx.at)
    kinds = tuple(ctx["kinds"])
    quarter = quarter_name(first)
    names = operator_names(ctx.conn)
    for operator_id in operators_under_contract(ctx.conn, first, last):
        held = [
            t
            for t in list_trainings(ctx.conn, operator_id, held=True)
            if t["kind"] in kinds and first <= t["held_on"] <= last and t["recorded_at"] <= ctx.at
        ]
        if held:
            continue
        name = names.get(operator_id, str(operator_id))
        yield Found(
            key=f"operator:{operator_id}:quarter:{quarter}",
            message=(
                f"operator {name} held no {' or '.join(kinds)} training in {quarter} "
                f"({first.isoformat()}..{last.isoformat()}) (未按季度开展再培训)"
            ),
            period_start=china_midnight(first),
            period_end=china_midnight(last + timedelta(days=1)),
            evidence=(Link("operator", str(operator_id), name),),
            **about_operator(operator_id),
        )


# ---- CS-4.3.2.2 daily data audit ----


def audit_missing(ctx: RuleContext) -> Iterator[Found]:
    """CS-4.3.2.2-AUDIT: days of the lookback that an operator with contracted devices did not sign off.

    A day is judged once the next China day has ended (the auditor has that day to sign); a sign-off
    counts when it was made by ``at``."""
    last = china_day(ctx.at) - timedelta(days=2)
    days = [last - timedelta(days=i) for i in range(int(ctx["lookback_days"]) - 1, -1, -1)]
    if not days:
        return
    devices_by_id = fleet(ctx.conn)
    names = operator_names(ctx.conn)
    signed = {
        (int(r.operator_id), r.day)
        for r in ctx.conn.execute(
            select(audit_days.c.operator_id, audit_days.c.day).where(
                audit_days.c.day >= days[0], audit_days.c.day <= days[-1], audit_days.c.signed_at <= ctx.at
            )
        )
    }
    found: list[Found] = []
    for day in days:
        counted: dict[int, int] = defaultdict(int)
        for operator_id in operators_on(ctx.conn, day, devices_by_id).values():
            counted[operator_id] += 1
        for operator_id, devices in sorted(counted.items()):
            if (operator_id, day) in signed:
                continue
            name = names.get(operator_id, str(operator_id))
            found.append(
                Found(
                    key=f"operator:{operator_id}:day:{day.isoformat()}",
                    message=(
                        f"operator {name} did not sign off the data audit of {day.isoformat()} "
                        f"({devices} device(s) under contract) by the end of the next day (每日数据审核缺失)"
                    ),
                    period_start=china_midnight(day),
                    period_end=china_midnight(day + timedelta(days=1)),
                    evidence=(
                        Link("operator", str(operator_id), name),
                        Link("audit_day", f"{operator_id}:{day.isoformat()}", day.isoformat()),
                    ),
                    **about_operator(operator_id),
                )
            )
    yield from sorted(found, key=lambda f: f.key)


RULES: tuple[Rule, ...] = (
    Rule(
        id="CS-4.3.3-1H",
        requirement="CS-4.3.3",
        title="Service requests responded to within 1 h",
        title_zh="服务请求1小时内响应",
        subject="operator",
        inputs="service tickets and their journal (tickets, ticket_events)",
        evaluate=respond_late,
        params=(
            Param(
                "respond_within_h",
                "hours from the request to the response (7×24 clock)",
                setting="ticket_respond_within_h",
            ),
        ),
    ),
    Rule(
        id="CS-4.3.3-4H8H",
        requirement="CS-4.3.3",
        title="On site within 4 h (urban) / 8 h (suburban, remote)",
        title_zh="市区4小时、郊区及偏远地区8小时内到达现场",
        subject="operator",
        inputs="service tickets, their journal and the service zone of the outlet at request time",
        evaluate=on_site_late,
        params=(
            Param(
                "urban_h",
                "hours from the request to the arrival, urban outlets",
                setting="ticket_on_site_urban_h",
            ),
            Param(
                "suburban_h",
                "hours from the request to the arrival, suburban outlets",
                setting="ticket_on_site_suburban_h",
            ),
            Param(
                "remote_h",
                "hours from the request to the arrival, remote outlets",
                setting="ticket_on_site_remote_h",
            ),
        ),
    ),
    Rule(
        id="CS-4.3.3-SAT",
        requirement="CS-4.3.3",
        title="Satisfaction rate at least 85 % (last complete quarter)",
        title_zh="满意度不低于85%",
        subject="operator",
        inputs="survey scores of the service tickets (ticket_events 'survey')",
        evaluate=satisfaction_low,
        params=(
            Param(
                "min_percent",
                "the satisfaction rate to reach, percent",
                setting="ticket_satisfaction_min_percent",
            ),
            Param("min_answers", "fewer surveys in the quarter than this: not judged", default=1),
        ),
        judges=last_quarter,
    ),
    Rule(
        id="CS-4.2.3-DRILL",
        requirement="CS-4.2.3",
        title="At least one emergency drill a year",
        title_zh="每年至少开展一次应急演练",
        subject="operator",
        inputs="drills under the operator's emergency plans, contracts in force",
        evaluate=drill_missing,
        params=(Param("days", "days a drill covers", default=365),),
    ),
    Rule(
        id="CS-4.5-CERT",
        requirement="CS-4.5",
        title="Staff certificates valid (renewed before expiry)",
        title_zh="运维人员持有效上岗证",
        subject="operator",
        inputs="active staff and their current certificates",
        evaluate=certificate_invalid,
        params=(
            Param(
                "positions",
                "positions that must hold a certificate even if they never had one",
                default=("field_engineer", "sampler"),
            ),
        ),
    ),
    Rule(
        id="CS-4.5-TRAIN",
        requirement="CS-4.5",
        title="Quarterly re-training held",
        title_zh="按季度开展再培训",
        subject="operator",
        inputs="held trainings of the operator (trainings.held_on), contracts in force",
        evaluate=training_missing,
        params=(Param("kinds", "training kinds that count", default=("quarterly",)),),
        judges=last_quarter,
    ),
    Rule(
        id="CS-4.3.2.2-AUDIT",
        requirement="CS-4.3.2.2",
        title="Daily data audit signed off",
        title_zh="每日数据审核",
        subject="operator",
        inputs="audit sign-offs (audit_days), devices under contract",
        evaluate=audit_missing,
        params=(Param("lookback_days", "judged days back from the last day that can be judged", default=7),),
        judges=lookback("lookback_days"),
    ),
)
