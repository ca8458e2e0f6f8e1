"""What the supervision order pages (电子督办) read and how they word it: the visible orders with their counts,
one order with its journal, evidence and cited alarms, the forms its state and the viewer's role allow, and
the pickers of the issue form.

Every read goes through ``alarms.orders`` and the JSON API's own scope rules (``web.api.orders``:
``order_filter`` for lists, ``require_order`` for one order, 404 exactly like a missing one;
``web.api.alarms.require_alarm`` for an alarm). Which forms are offered comes from the lifecycle table
(``alarms.order_lifecycle.ORDER_TRANSITIONS``) and the API's role checks, never from a second copy of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Connection, select

from envwatch.alarms import orders as store
from envwatch.alarms.lifecycle import STATES as ALARM_STATES
from envwatch.alarms.order_lifecycle import AWAITING_RECEIVER, ORDER_STATES, ORDER_TRANSITIONS
from envwatch.alarms.store import AlarmQuery, device_names, list_alarms
from envwatch.core.errors import NotFound
from envwatch.registry.attachments import list_attachments
from envwatch.registry.schema import enterprises, operators, outlets
from envwatch.registry.service import list_enterprises
from envwatch.registry.service_operators import list_operators
from envwatch.web.api import orders as api
from envwatch.web.api.alarms import require_alarm
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.paging import PAGE_SIZE, Paged
from envwatch.web.scope import Scope

STATE_LABELS = {
    "issued": N_("Issued, awaiting a response"),
    "responded": N_("Responded, awaiting review"),
    "returned": N_("Returned, awaiting a new response"),
    "accepted": N_("Accepted (closed)"),
    "withdrawn": N_("Withdrawn"),
}
STATE_BADGES = {
    "issued": "info",
    "responded": "info",
    "returned": "bad",
    "accepted": "ok",
    "withdrawn": "info",
}
# the list's state filter: "" = every state; "overdue" = waiting on the receiver past the deadline
FILTER_LABELS = {"": N_("All states"), **STATE_LABELS, "overdue": N_("Overdue")}
EVENT_LABELS = {
    "issued": N_("Issued"),
    "respond": N_("Response"),
    "accept": N_("Accepted"),
    "return": N_("Returned"),
    "withdraw": N_("Withdrawn"),
    "escalate": N_("Escalated: no response by the deadline"),
    "comment": N_("Comment"),
}
# the notice after a POST (?done=<event>)
DONE_LABELS = {
    "issued": N_("The order was issued."),
    "respond": N_("Your response was sent."),
    "accept": N_("The order was accepted and closed."),
    "return": N_("The order was returned to its receiver."),
    "withdraw": N_("The order was withdrawn."),
    "comment": N_("The comment was added."),
}
# the forms of the order page, in the order they are shown
RECEIVER_FORMS = ("respond",)
ISSUER_FORMS = ("accept", "return", "withdraw")
ISSUE_ALARMS_MAX = 100  # active alarms offered as checkboxes in the issue form (newest first)
ACTIVE_ALARM_STATES = frozenset(s for s in ALARM_STATES if s != "closed")


def is_overdue(row: dict[str, Any], now: datetime) -> bool:
    """Waiting on the receiver (issued or returned) with the deadline passed (the store's rule)."""
    return row["state"] in AWAITING_RECEIVER and row["deadline"] <= now


def _names(conn: Connection, table: Any, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(wanted)))
    return {int(r.id): str(r.name) for r in rows}


def receiver_names(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, dict[int, str]]:
    """Names of the receivers of ``rows`` (orders the viewer sees, so it may see whom they went to)."""
    return {
        "enterprise": _names(conn, enterprises, (r["enterprise_id"] for r in rows)),
        "operator": _names(conn, operators, (r["operator_id"] for r in rows)),
    }


# ---- the list ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderList:
    paged: Paged
    counts: dict[str, int]  # per state, and "overdue"
    names: dict[str, dict[int, str]]


def read_filter(text: str | None) -> str | None:
    """The state filter of the list ("" = all), or None when it is not one the page knows."""
    value = text or ""
    return value if value in FILTER_LABELS else None


def order_list(conn: Connection, scope: Scope, state: str, page_text: str | None, now: datetime) -> OrderList:
    """One page (``PAGE_SIZE``) of the orders the scope sees, newest first, filtered by ``state``."""
    seen = api.order_filter(scope)
    counts: dict[str, int] = {s: store.count_orders(conn, replace(seen, states=[s])) for s in ORDER_STATES}
    counts["overdue"] = store.count_orders(conn, replace(seen, overdue_at=now))
    wanted = seen
    if state == "overdue":
        wanted = replace(seen, overdue_at=now)
    elif state:
        wanted = replace(seen, states=[state])
    total = store.count_orders(conn, wanted)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    try:
        page = min(max(int(page_text or "1"), 1), pages)
    except ValueError:
        page = 1
    rows = store.list_orders(conn, wanted, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return OrderList(Paged(rows, page, pages, total, ""), counts, receiver_names(conn, rows))


# ---- one order -----------------------------------------------------------------------------------------


def visible_order(conn: Connection, scope: Scope, order_id: int) -> dict[str, Any]:
    """The order, or the page's 404 (the API's ``require_order``: missing and out of scope alike)."""
    try:
        return api.require_order(conn, scope, order_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None


def is_receiver(scope: Scope, row: dict[str, Any]) -> bool:
    """The API's receiver rule (``require_receiver``), as a yes/no for showing the response form."""
    try:
        api.require_receiver(scope, row)
    except HTTPException:
        return False
    return True


def allowed_forms(scope: Scope, row: dict[str, Any]) -> list[str]:
    """The action forms of the order page: what the lifecycle allows in the order's state and the viewer's
    role may send (the receiver responds; admin and regulators accept, return, withdraw; anyone who sees
    the order comments)."""
    allowed = ORDER_TRANSITIONS[row["state"]]
    forms: list[str] = [e for e in RECEIVER_FORMS if e in allowed and is_receiver(scope, row)]
    if scope.can_write("order"):
        forms += [e for e in ISSUER_FORMS if e in allowed]
    if "comment" in allowed:
        forms.append("comment")
    return forms


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def journal(events: list[dict[str, Any]], files: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal entries with what their ``data`` holds made readable: the late flag and evidence files of
    a response, a new deadline (issue, return), the deadline an escalation was for."""
    out = []
    for e in events:
        data = e["data"] or {}
        evidence = [
            files.get(int(a), {"id": int(a), "filename": f"#{a}"}) for a in data.get("attachments", [])
        ]
        out.append(
            {
                **e,
                "late": bool(data.get("late")),
                "evidence": evidence,
                "deadline": _moment(data.get("deadline")),
            }
        )
    return out


def cited_alarms(conn: Connection, scope: Scope, alarm_ids: list[int]) -> list[dict[str, Any]]:
    """The alarms the order was made from; one the viewer does not see (e.g. after its operator's contract
    ended) is listed by number only."""
    out = []
    for alarm_id in alarm_ids:
        try:
            row = require_alarm(conn, scope, alarm_id)
        except NotFound:
            out.append({"id": alarm_id, "visible": False})
            continue
        out.append({**row, **device_names(conn, row["device_id"]), "visible": True})
    return out


def order_detail(conn: Connection, scope: Scope, order_id: int) -> dict[str, Any]:
    """The order with its receiver's name, journal, evidence files and cited alarms (404 when not seen)."""
    row = visible_order(conn, scope, order_id)
    files = list_attachments(conn, store.ATTACHMENT_KIND, order_id)
    by_id = {int(f["id"]): f for f in files}
    return {
        "order": row,
        "names": receiver_names(conn, [row]),
        "journal": journal(store.order_events_of(conn, order_id), by_id),
        "files": files,
        "alarms": cited_alarms(conn, scope, store.alarm_ids_of(conn, order_id)),
    }


# ---- the issue form's pickers --------------------------------------------------------------------------


def receivers(conn: Connection, scope: Scope) -> dict[str, list[dict[str, Any]]]:
    """The enterprises and operators the viewer may name as receiver: only those in its scope (the store
    still checks the region and the alarms)."""
    ents = [e for e in list_enterprises(conn) if scope.sees_enterprise(e["id"])]
    ops = [o for o in list_operators(conn) if scope.sees_operator(o["id"])]
    return {"enterprises": ents, "operators": ops}


def issue_alarms(conn: Connection, scope: Scope, preselect: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The visible active alarms, newest first (at most ``ISSUE_ALARMS_MAX``), the preselected one first."""
    rows, _total = list_alarms(
        conn, AlarmQuery(device_ids=scope.device_ids, states=ACTIVE_ALARM_STATES, limit=ISSUE_ALARMS_MAX)
    )
    if preselect is not None:
        rows = [preselect] + [r for r in rows if r["id"] != preselect["id"]]
    return rows


def alarm_to_cite(conn: Connection, scope: Scope, alarm_id: int) -> dict[str, Any]:
    """An alarm named by ``?alarm=`` with its device's names and its enterprise (the receiver proposed);
    404 when the viewer does not see it."""
    try:
        row = require_alarm(conn, scope, alarm_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    names = device_names(conn, row["device_id"])
    enterprise_id = None
    if names["outlet_id"] is not None:
        query = select(outlets.c.enterprise_id).where(outlets.c.id == names["outlet_id"])
        enterprise_id = conn.execute(query).scalar()
    return {**row, **names, "enterprise_id": enterprise_id}
