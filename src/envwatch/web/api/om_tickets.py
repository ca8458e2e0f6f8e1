"""Service tickets API (服务工单, CS-4.3.3): request, list, one ticket with its journal and clocks, record a
step, an operator's satisfaction and on-time figures.

Who sees a ticket (404 otherwise, exactly as a missing one): admin; a regulator when the requesting
enterprise lies in its region; the enterprise its own; the operator and its field staff the tickets of
their operator (whatever the contract says today: the ticket was theirs when it was made); the auditor
those of its operator requested in its period.

Who writes (``web.scope`` write kinds): ``ticket_request`` (admin, enterprise) requests, cancels, confirms,
rejects and answers the survey; ``ticket_service`` (admin, operator, field staff) responds, arrives,
resolves (on site or remotely); anyone with either kind comments. Checks in this order: what is not
visible is 404, then the role (403), then the store (422 / 409). Times are ISO 8601 (no offset = China
time); days are China calendar days.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.operations import tickets as store
from envwatch.operations.ticket_lifecycle import ENTERPRISE_EVENTS, OPERATOR_EVENTS
from envwatch.operations.ticket_sla import CLAUSE, SlaClock, SlaRules
from envwatch.operations.ticket_stats import ClockStats, quarter_of, satisfaction, sla_statistics
from envwatch.registry.schema import outlets
from envwatch.web.api.common import engine_of, jsonable, parse_time, settings_of, time_out, value_out
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/om", tags=["om-tickets"])

# which write kind each step needs (the lifecycle's split of who sends what)
SERVICE_STEPS = OPERATOR_EVENTS - {"comment"}  # respond, arrive, resolve, resolve_remotely
REQUESTER_STEPS = ENTERPRISE_EVENTS - {"comment", "requested"}  # cancel, reject, confirm, survey


class TicketIn(BaseModel):
    outlet_id: int = Field(description="the outlet the request is about")
    enterprise_id: int | None = Field(default=None, description="default: the outlet's enterprise")
    device_id: int | None = Field(default=None, description="the device, when the request names one")
    subject: str = Field(description="at most 200 characters")
    description: str = Field(description="what is wrong (at most 4000 characters)")
    channel: str = Field(default="web", description="phone | web | app")
    requested_at: str | None = Field(
        default=None, description="when it was asked (ISO 8601; a phone call entered afterwards); default now"
    )


class TicketStepIn(BaseModel):
    event: str = Field(
        description="respond | arrive | resolve | resolve_remotely | reject | confirm | cancel | survey | comment"
    )
    at: str | None = Field(default=None, description="when it happened (ISO 8601); default now")
    comment: str = Field(default="", description="required for reject (why) and comment")
    staff_id: int | None = Field(default=None, description="arrive: the staff member on site")
    score: int | None = Field(default=None, description="survey: 1-5 (4 and 5 count as satisfied)")


def rules_of(request: Request) -> SlaRules:
    return SlaRules.from_settings(settings_of(request))


# ---- scope ----


def sees_ticket(scope: Scope, row: dict[str, Any]) -> bool:
    role, who = scope.role, scope.principal
    if role == "admin":
        return True
    if role == "regulator":
        return scope.enterprise_ids is not None and row["enterprise_id"] in scope.enterprise_ids
    if role == "enterprise":
        return who.enterprise_id is not None and row["enterprise_id"] == who.enterprise_id
    if who.operator_id is None or row["operator_id"] != who.operator_id:
        return False
    return role != "auditor" or scope.in_period(row["requested_at"])


def require_ticket(conn: Connection, scope: Scope, ticket_id: int) -> dict[str, Any]:
    try:
        row = store.get_ticket(conn, ticket_id)
    except NotFound:
        row = None
    if row is None or not sees_ticket(scope, row):
        raise NotFound(f"no ticket with id {ticket_id}")
    return row


def ticket_query(scope: Scope) -> store.TicketQuery:
    """The tickets ``scope`` sees, as a list query (the rule of :func:`sees_ticket`)."""
    who = scope.principal
    if scope.role == "admin":
        return store.TicketQuery()
    if scope.role == "regulator":
        return store.TicketQuery(enterprise_ids=scope.enterprise_ids or frozenset())
    if scope.role == "enterprise":
        return store.TicketQuery(enterprise_ids=[who.enterprise_id] if who.enterprise_id is not None else [])
    mine = store.TicketQuery(operator_ids=[who.operator_id] if who.operator_id is not None else [])
    if scope.period is not None:
        return replace(mine, first_day=scope.period[0], last_day=scope.period[1])
    return mine


def figures_enterprises(scope: Scope) -> frozenset[int] | None:
    """Whose requests an operator's figures count for this caller: an enterprise its own, a regulator its
    region's, the others (who see the operator whole) all."""
    if scope.role == "enterprise":
        return frozenset({scope.principal.enterprise_id} if scope.principal.enterprise_id is not None else ())
    if scope.role == "regulator":
        return scope.enterprise_ids or frozenset()
    return None


def require_step_kind(scope: Scope, event: str) -> None:
    """403 unless the caller's role may record ``event`` (an unknown event is the store's 422 first)."""
    store.recordable(event)
    if event in SERVICE_STEPS:
        scope.require_write("ticket_service")
    elif event in REQUESTER_STEPS:
        scope.require_write("ticket_request")
    elif not (scope.can_write("ticket_request") or scope.can_write("ticket_service")):
        raise HTTPException(403, f"role {scope.role} may not comment on service tickets")


# ---- JSON ----


def clock_out(clock: SlaClock) -> dict[str, Any]:
    remaining = None if clock.remaining is None else int(clock.remaining.total_seconds())
    return {
        "name": clock.name,
        "clause": clock.clause,
        "state": clock.state,
        "started_at": time_out(clock.started_at),
        "due_at": time_out(clock.due_at),
        "stopped_at": time_out(clock.stopped_at),
        "remaining_s": remaining,
    }


def ticket_out(row: dict[str, Any], clocks: list[SlaClock]) -> dict[str, Any]:
    out = jsonable({k: v for k, v in row.items() if k != "clocks"})
    out["clocks"] = [clock_out(c) for c in clocks]
    return out


def view_out(view: store.TicketView) -> dict[str, Any]:
    out = ticket_out(view.ticket, view.clocks)
    out["events"] = [jsonable(e) for e in view.journal]
    return out


def _stats_out(stats: ClockStats) -> dict[str, Any]:
    return {
        "met": stats.met,
        "late": stats.late,
        "running": stats.running,
        "not_applicable": stats.not_applicable,
        "percent": value_out(stats.percent),
    }


# ---- routes (the fixed paths before /tickets/{ticket_id}) ----


@router.get(
    "/tickets/satisfaction", summary="An operator's satisfaction rate and on-time figures for a period"
)
def satisfaction_of(
    request: Request,
    scope: CurrentScope,
    operator_id: int,
    from_: Annotated[
        date | None, Query(alias="from", description="first China day; default: this quarter")
    ] = None,
    to: Annotated[date | None, Query(description="last China day (included); default: this quarter")] = None,
) -> dict[str, Any]:
    scope.require_operator(operator_id)  # 404 for an operator the caller does not see
    first, last = quarter_of(to_china(utcnow()).date())
    first, last = from_ or first, to or last
    scope.require_days(first, last)
    rules, now, ents = rules_of(request), utcnow(), figures_enterprises(scope)
    with engine_of(request).connect() as conn:
        got = satisfaction(conn, operator_id, first, last, rules, enterprise_ids=ents)
        stats = sla_statistics(conn, operator_id, first, last, now, rules, enterprise_ids=ents)
    return {
        "operator_id": operator_id,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "clause": CLAUSE,
        "surveys": got.rate.n,
        "satisfied": got.rate.satisfied,
        "percent": value_out(got.rate.percent),
        "target_percent": value_out(got.target),
        "meets_target": got.rate.meets_target,
        "tickets": stats.tickets,
        "on_time": {name: _stats_out(s) for name, s in stats.clocks.items()},
    }


def enterprise_of_outlet(conn: Connection, outlet_id: int) -> int:
    """The enterprise of an outlet (a request names the outlet; its enterprise is implied)."""
    found = conn.execute(select(outlets.c.enterprise_id).where(outlets.c.id == outlet_id)).scalar()
    if found is None:
        raise InvalidInput(f"no outlet {outlet_id}")
    return int(found)


@router.post("/tickets", status_code=201, summary="Request service (报修) for an outlet")
def request_service(request: Request, body: TicketIn, scope: CurrentScope) -> dict[str, Any]:
    # 404 first for an outlet, enterprise or device the caller does not see
    scope.require_outlet(body.outlet_id)
    if body.enterprise_id is not None:
        scope.require_enterprise(body.enterprise_id)
    if body.device_id is not None:
        scope.require_device_id(body.device_id)
    # The enterprise asks; the operator's 7×24 hotline (CS-4.3.3) may also record a request it took by
    # phone, with the time of the call, so that no request goes unrecorded.
    if not (body.channel == "phone" and scope.can_write("ticket_service")):
        scope.require_write("ticket_request")
    now = utcnow()
    requested_at = parse_time("requested_at", body.requested_at) or now
    with engine_of(request).begin() as conn:
        enterprise_id = body.enterprise_id or enterprise_of_outlet(conn, body.outlet_id)
        row = store.request_ticket(
            conn,
            enterprise_id=enterprise_id,
            outlet_id=body.outlet_id,
            device_id=body.device_id,
            subject=body.subject,
            description=body.description,
            channel=body.channel,
            requested_at=requested_at,
            by=scope.principal.name,
            now=now,
        )
        view = store.ticket_view(conn, row["id"], now, rules_of(request))
    return view_out(view)


@router.get("/tickets", summary="Tickets as the caller may see them, open ones first")
def list_(
    request: Request,
    scope: CurrentScope,
    enterprise_id: int | None = None,
    operator_id: int | None = None,
    outlet_id: int | None = None,
    state: Annotated[
        list[str] | None,
        Query(description="requested | responded | on_site | resolved | remote_fixed | closed | cancelled"),
    ] = None,
    clock: Annotated[str | None, Query(description="a clock running, overdue or breached (met late)")] = None,
    from_: Annotated[date | None, Query(alias="from", description="first China day of the request")] = None,
    to: Annotated[date | None, Query(description="last China day of the request (included)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    seen = ticket_query(scope)
    narrowed: dict[str, Any] = {}
    if enterprise_id is not None:
        scope.require_enterprise(enterprise_id)
        narrowed["enterprise_ids"] = [enterprise_id] if _within(seen.enterprise_ids, enterprise_id) else []
    if operator_id is not None:
        scope.require_operator(operator_id)
        narrowed["operator_ids"] = [operator_id] if _within(seen.operator_ids, operator_id) else []
    if outlet_id is not None:
        scope.require_outlet(outlet_id)
        narrowed["outlet_ids"] = [outlet_id]
    if scope.period is not None and (from_ is not None or to is not None):
        scope.require_days(from_ or scope.period[0], to or scope.period[1])
    query = replace(
        seen,
        **narrowed,
        states=state or None,
        clock=clock or None,
        first_day=from_ or seen.first_day,
        last_day=to or seen.last_day,
        now=utcnow(),
        rules=rules_of(request),
        limit=limit,
        offset=offset,
    )
    with engine_of(request).connect() as conn:
        rows, total = store.list_tickets(conn, query)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "rows": [ticket_out(r, r["clocks"]) for r in rows],
    }


def _within(ids: Any, wanted: int) -> bool:
    return ids is None or wanted in ids


@router.get("/tickets/{ticket_id}", summary="One ticket with its journal and its two clocks")
def get(request: Request, ticket_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        require_ticket(conn, scope, ticket_id)
        view = store.ticket_view(conn, ticket_id, utcnow(), rules_of(request))
    return view_out(view)


@router.post("/tickets/{ticket_id}/events", summary="Record a step: respond, arrive, resolve, confirm, …")
def record(request: Request, ticket_id: int, body: TicketStepIn, scope: CurrentScope) -> dict[str, Any]:
    now = utcnow()
    rules = rules_of(request)
    with engine_of(request).begin() as conn:
        require_ticket(conn, scope, ticket_id)  # 404 first
        require_step_kind(scope, body.event)
        at: datetime = parse_time("at", body.at) or now
        store.record_event(
            conn,
            ticket_id,
            event=body.event,
            at=at,
            comment=body.comment,
            staff_id=body.staff_id,
            score=body.score,
            by=scope.principal.name,
            now=now,
            rules=rules,
        )
        view = store.ticket_view(conn, ticket_id, now, rules)
    return view_out(view)
