"""What the service ticket pages (服务工单) read and how they word it: the visible tickets with their clocks,
one ticket with its journal, the forms its state and the viewer's role allow, the pickers of the forms,
and an operator's quarter figures.

Every read goes through ``operations.tickets`` / ``ticket_stats`` and the JSON API's scope rules
(``web.api.om_tickets``: ``ticket_query`` for lists, ``require_ticket`` for one ticket, 404 exactly like a
missing one). Which forms are offered comes from the lifecycle table and the API's write-kind rule
(``require_step_kind``), never from a second copy of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Connection, select

from envwatch.core.errors import NotFound
from envwatch.operations import tickets as store
from envwatch.operations.staff_schema import staff
from envwatch.operations.ticket_lifecycle import TICKET_TRANSITIONS
from envwatch.operations.ticket_sla import SlaRules
from envwatch.operations.ticket_stats import (
    Satisfaction,
    SlaStatistics,
    operators_with_tickets,
    satisfaction,
    sla_statistics,
)
from envwatch.registry.schema import devices, enterprises, operators, outlets
from envwatch.web.api import om_tickets as api
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.paging import PAGE_SIZE, Paged
from envwatch.web.scope import Scope

STATE_LABELS = {
    "requested": N_("Requested, awaiting a response"),
    "responded": N_("Responded, engineer on the way"),
    "on_site": N_("Engineer on site, work under way"),
    "resolved": N_("Resolved, awaiting confirmation"),
    "remote_fixed": N_("Solved remotely, awaiting confirmation"),
    "closed": N_("Closed (confirmed)"),
    "cancelled": N_("Cancelled"),
}
STATE_BADGES = {
    "requested": "bad",
    "responded": "info",
    "on_site": "info",
    "resolved": "info",
    "remote_fixed": "info",
    "closed": "ok",
    "cancelled": "info",
}
EVENT_LABELS = {
    "requested": N_("Service requested"),
    "respond": N_("Responded"),
    "arrive": N_("Arrived on site"),
    "resolve": N_("Resolved on site"),
    "resolve_remotely": N_("Solved remotely"),
    "reject": N_("Fix not accepted"),
    "confirm": N_("Confirmed and closed"),
    "cancel": N_("Request cancelled"),
    "survey": N_("Satisfaction survey"),
    "comment": N_("Comment"),
}
# the notice after a POST (?done=<event>)
DONE_LABELS = {
    "requested": N_("Your request was recorded; the operator's response clock is running."),
    "respond": N_("The response was recorded."),
    "arrive": N_("The arrival was recorded."),
    "resolve": N_("The fix was recorded; the enterprise confirms it."),
    "resolve_remotely": N_("The remote fix was recorded; the enterprise confirms it."),
    "reject": N_("The fix was not accepted; the ticket is back with the operator."),
    "confirm": N_("The ticket is closed. Thank you for rating the service."),
    "cancel": N_("The request was cancelled."),
    "survey": N_("Thank you: the survey was recorded."),
    "comment": N_("The comment was added."),
}
CLOCK_LABELS = {"respond": N_("Response clock"), "on_site": N_("On-site clock")}
CLOCK_STATE_LABELS = {
    "not_applicable": N_("Not applicable"),
    "running": N_("Running"),
    "met": N_("Met"),
    "overdue": N_("Overdue"),
    "breached": N_("Met late"),
}
CLOCK_BADGES = {"not_applicable": "info", "running": "info", "met": "ok", "overdue": "bad", "breached": "bad"}
ZONE_LABELS = {"urban": N_("urban"), "suburban": N_("suburban"), "remote": N_("remote")}
CHANNEL_LABELS = {"phone": N_("By phone"), "web": N_("Online (web)"), "app": N_("Mobile app")}
# 1..5 (ticket_sla.SlaRules: 4 and 5 count as satisfied)
SCORE_LABELS = {
    5: N_("Very satisfied"),
    4: N_("Satisfied"),
    3: N_("Neutral"),
    2: N_("Dissatisfied"),
    1: N_("Very dissatisfied"),
}
# the list's filters: "" = all; the open states; the clock states a ticket may have
FILTER_LABELS = {"": N_("All states"), **STATE_LABELS}
CLOCK_FILTER_LABELS = {
    "": N_("Any clock"),
    "overdue": N_("A clock overdue"),
    "running": N_("A clock running"),
    "breached": N_("A clock met late"),
}
# the forms of the ticket page, in the order they are shown
SERVICE_FORMS = ("respond", "arrive", "resolve_remotely", "resolve")
REQUESTER_FORMS = ("confirm", "reject", "cancel", "survey")


def remaining(delta: timedelta | None) -> dict[str, Any] | None:
    """A clock's time left (or late) in whole days, hours and minutes, for the page's wording."""
    if delta is None:
        return None
    late = delta < timedelta(0)
    minutes = int(abs(delta).total_seconds() // 60)
    return {"late": late, "days": minutes // 1440, "hours": minutes % 1440 // 60, "minutes": minutes % 60}


def _names(conn: Connection, table: Any, ids: Iterable[int | None], column: str = "name") -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = conn.execute(select(table.c.id, table.c[column]).where(table.c.id.in_(wanted)))
    return {int(r[0]): str(r[1]) for r in rows}


def names_of(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, dict[int, str]]:
    """Names of what ``rows`` (tickets the viewer sees) refer to: enterprises, outlets, operators, staff,
    devices (MN)."""
    outlet_rows = {}
    wanted = sorted({r["outlet_id"] for r in rows})
    if wanted:
        query = select(outlets.c.id, outlets.c.code, outlets.c.name).where(outlets.c.id.in_(wanted))
        outlet_rows = {int(r.id): f"{r.code} {r.name}" for r in conn.execute(query)}
    return {
        "enterprise": _names(conn, enterprises, (r["enterprise_id"] for r in rows)),
        "outlet": outlet_rows,
        "operator": _names(conn, operators, (r["operator_id"] for r in rows)),
        "staff": _names(conn, staff, (r.get("assigned_staff_id") for r in rows)),
        "device": _names(conn, devices, (r["device_id"] for r in rows), "mn"),
    }


# ---- the list ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketList:
    paged: Paged
    names: dict[str, dict[int, str]]


def read_filter(text: str | None, known: dict[str, str]) -> str | None:
    """A filter value of the list ("" = all), or None when the page does not know it."""
    value = text or ""
    return value if value in known else None


def ticket_list(
    conn: Connection,
    scope: Scope,
    state: str,
    clock: str,
    page_text: str | None,
    now: datetime,
    rules: SlaRules,
) -> TicketList:
    """One page (``PAGE_SIZE``) of the tickets the scope sees, open ones first."""
    seen = replace(api.ticket_query(scope), states=[state] if state else None, clock=clock or None)
    query = replace(seen, now=now, rules=rules, limit=1, offset=0)
    _rows, total = store.list_tickets(conn, query)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    try:
        page = min(max(int(page_text or "1"), 1), pages)
    except ValueError:
        page = 1
    rows, _total = store.list_tickets(conn, replace(query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE))
    return TicketList(Paged(rows, page, pages, total, ""), names_of(conn, rows))


# ---- one ticket ----------------------------------------------------------------------------------------


def visible_ticket(conn: Connection, scope: Scope, ticket_id: int) -> dict[str, Any]:
    """The ticket, or the page's 404 (the API's ``require_ticket``: missing and out of scope alike)."""
    try:
        return api.require_ticket(conn, scope, ticket_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None


def may_record(scope: Scope, event: str) -> bool:
    """The API's write-kind rule for one step, as a yes/no."""
    try:
        api.require_step_kind(scope, event)
    except HTTPException:
        return False
    return True


def allowed_forms(scope: Scope, row: dict[str, Any]) -> list[str]:
    """The action forms of the ticket page: what the lifecycle allows in the ticket's state and the
    viewer's role may record (a survey only once)."""
    allowed = TICKET_TRANSITIONS[row["state"]]
    forms: list[str] = [
        e for e in (*SERVICE_FORMS, *REQUESTER_FORMS) if e in allowed and may_record(scope, e)
    ]
    if "survey" in forms and row["score"] is not None:
        forms.remove("survey")
    if "comment" in allowed and may_record(scope, "comment"):
        forms.append("comment")
    return forms


def staff_choices(conn: Connection, operator_id: int) -> list[dict[str, Any]]:
    """The operator's active staff, for the arrival form (the store still checks the certificate)."""
    query = (
        select(staff.c.id, staff.c.name, staff.c.position, staff.c.username)
        .where(staff.c.operator_id == operator_id, staff.c.active.is_(True))
        .order_by(staff.c.name, staff.c.id)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def ticket_detail(
    conn: Connection, scope: Scope, ticket_id: int, now: datetime, rules: SlaRules
) -> dict[str, Any]:
    """The ticket with its names, journal (with staff names) and clocks (404 when not seen)."""
    visible_ticket(conn, scope, ticket_id)
    view = store.ticket_view(conn, ticket_id, now, rules)
    names = names_of(conn, [view.ticket])
    names["staff"] |= _names(conn, staff, (e["staff_id"] for e in view.journal))
    journal = [
        {**e, "entered_later": e["recorded_at"] - e["at"] > timedelta(minutes=5)} for e in view.journal
    ]
    return {"ticket": view.ticket, "journal": journal, "clocks": view.clocks, "names": names}


# ---- the request form's pickers ------------------------------------------------------------------------


def request_outlets(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """The outlets the viewer may request service for (those it sees), with their enterprise's name."""
    query = (
        select(
            outlets.c.id,
            outlets.c.code,
            outlets.c.name,
            outlets.c.service_zone,
            enterprises.c.name.label("enterprise"),
        )
        .join(enterprises, enterprises.c.id == outlets.c.enterprise_id)
        .order_by(enterprises.c.name, outlets.c.code)
    )
    return [dict(r._mapping) for r in conn.execute(query) if scope.sees_outlet(r.id)]


def request_devices(conn: Connection, scope: Scope, outlet_ids: list[int]) -> list[dict[str, Any]]:
    """The devices on those outlets (the form's optional device)."""
    if not outlet_ids:
        return []
    query = (
        select(devices.c.id, devices.c.mn, devices.c.name, devices.c.outlet_id)
        .where(devices.c.outlet_id.in_(outlet_ids))
        .order_by(devices.c.mn)
    )
    return [dict(r._mapping) for r in conn.execute(query) if scope.sees_device(r.id)]


# ---- an operator's figures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    operator_id: int
    name: str
    satisfaction: Satisfaction
    on_time: SlaStatistics


def operators_to_show(conn: Connection, scope: Scope, first: date, last: date) -> list[int]:
    """Whose figures the viewer gets for a period: its own operator; an enterprise its operators under
    contract and those it asked; admin and regulators every operator with tickets of theirs."""
    who = scope.principal
    if scope.role in ("operator", "field_staff", "auditor"):
        return [who.operator_id] if who.operator_id is not None else []
    asked = operators_with_tickets(conn, first, last, enterprise_ids=api.figures_enterprises(scope))
    if scope.role == "enterprise":
        return sorted(set(asked) | set(scope.operator_ids or ()))
    return asked


def figures(
    conn: Connection,
    scope: Scope,
    operator_ids: list[int],
    first: date,
    last: date,
    now: datetime,
    rules: SlaRules,
) -> list[Figures]:
    """Satisfaction and on-time figures per operator for first..last, over what the viewer may see."""
    ents = api.figures_enterprises(scope)
    names = _names(conn, operators, operator_ids)
    return [
        Figures(
            op,
            names.get(op, f"#{op}"),
            satisfaction(conn, op, first, last, rules, enterprise_ids=ents),
            sla_statistics(conn, op, first, last, now, rules, enterprise_ids=ents),
        )
        for op in operator_ids
    ]
