"""The messages pages (站内消息, 通知地址): one's in-app inbox and the administrator's notification targets.

- ``/inbox?topic=&page=``: the in-app notifications addressed to the viewer's enterprise, operator or region
  (``web.api.notifications.mailbox_of``, the API's rule; the administrator sees all), newest first, 50 a
  page, filtered by topic; each links to its alarm or order (topic + ``ref_id``);
- ``/inbox/targets`` (admin): the e-mail, SMS and webhook addresses of enterprises, operators and regions,
  a form adding one (``alarms.notify_targets.add_target``: addresses are checked when added) and a button
  deactivating one (``POST /inbox/targets/{id}/deactivate``; targets are never deleted).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.alarms import notify_targets as targets
from envwatch.alarms.inbox import inbox
from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry.service import list_enterprises
from envwatch.registry.service_operators import list_operators
from envwatch.web.api.common import engine_of
from envwatch.web.api.notifications import mailbox_of, require_admin
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.paging import PAGE_SIZE, Paged
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope

router = APIRouter(include_in_schema=False)

TOPIC_LABELS = {"alarm": N_("Alarm"), "order": N_("Supervision order"), "audit": N_("Daily audit")}
CHANNEL_LABELS = {"email": N_("E-mail"), "sms": N_("SMS"), "webhook": N_("Webhook")}


def message_link(row: dict[str, Any]) -> str:
    """Where a message points: its alarm, its order, or the audit page."""
    if row["topic"] == "alarm":
        return f"/alarms/{row['ref_id']}"
    if row["topic"] == "order":
        return f"/orders/{row['ref_id']}"
    return "/audit"


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, viewer: CurrentViewer, topic: str = "", page: str = "1") -> Response:
    scope = data_scope(request, viewer)
    status, problem = 200, None
    if topic and topic not in targets.TOPICS:
        problem = FormProblem("filter", N_("The filter is not valid:"), f"topic={topic}")
        status, topic = 422, ""
    try:
        number = max(int(page), 1)
    except ValueError:
        number = 1
    box = mailbox_of(scope)
    with engine_of(request).connect() as conn:
        rows, total = inbox(conn, box, topic=topic or None, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if number > pages:  # past the end: the last page
            number = pages
            rows, total = inbox(
                conn, box, topic=topic or None, limit=PAGE_SIZE, offset=(pages - 1) * PAGE_SIZE
            )
    return render(
        request,
        "inbox.html",
        status,
        viewer=viewer,
        messages=Paged(rows, number, pages, total, ""),
        topic=topic,
        topic_labels=TOPIC_LABELS,
        link_of=message_link,
        is_admin=scope.role == "admin",
        problem=problem,
        targets=None,
    )


# ---- notification targets (admin) ----------------------------------------------------------------------


def _targets_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    require_admin(scope)
    with engine_of(request).connect() as conn:
        rows = targets.list_targets(conn, include_inactive=True)
        ents, ops = list_enterprises(conn), list_operators(conn)
    return render(
        request,
        "inbox.html",
        status,
        viewer=viewer,
        targets=rows,
        enterprises=ents,
        operators=ops,
        names={
            "enterprise": {e["id"]: e["name"] for e in ents},
            "operator": {o["id"]: o["name"] for o in ops},
        },
        topics=targets.TOPICS,
        channels=targets.TARGET_CHANNELS,
        topic_labels=TOPIC_LABELS,
        channel_labels=CHANNEL_LABELS,
        saved=request.query_params.get("saved", "") if problem is None else "",
        problem=problem,
    )


@router.get("/inbox/targets", response_class=HTMLResponse)
def targets_page(request: Request, viewer: CurrentViewer) -> Response:
    return _targets_page(request, viewer)


def _party(party: str, region_code: str) -> dict[str, Any]:
    """``enterprise:ID``, ``operator:ID`` or ``region`` (with the region code) from the party picker."""
    kind, _, number = party.partition(":")
    if kind in ("enterprise", "operator") and number.isdigit():
        return {f"{kind}_id": int(number)}
    if kind == "region":
        return {"region_code": region_code.strip()}
    raise InvalidInput("choose whose address it is: an enterprise, an operator or a region")


@router.post("/inbox/targets", response_class=HTMLResponse)
def add_target(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    channel: Text = "",
    address: Text = "",
    party: Text = "",
    region_code: Text = "",
    topics: Annotated[list[str] | None, Form()] = None,
) -> Response:
    check_csrf(request, viewer, csrf_token)
    require_admin(data_scope(request, viewer))
    chosen = topics or []
    try:
        with engine_of(request).begin() as conn:
            targets.add_target(
                conn,
                channel=channel,
                address=address,
                topics=chosen,
                created_by=viewer.principal.name,
                now=utcnow(),
                **_party(party, region_code),
            )
    except (InvalidInput, Conflict, NotFound) as exc:
        values = {
            "channel": channel, "address": address, "party": party, "region_code": region_code,
            "topics": ",".join(chosen),
        }  # fmt: skip
        problem = FormProblem("target", N_("The address was not added:"), exc.message, values)
        return _targets_page(request, viewer, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse("/inbox/targets?saved=added", status_code=303)


@router.post("/inbox/targets/{target_id}/deactivate", response_class=HTMLResponse)
def deactivate_target(
    request: Request, viewer: CurrentViewer, target_id: int, csrf_token: Annotated[str | None, Form()] = None
) -> Response:
    check_csrf(request, viewer, csrf_token)
    require_admin(data_scope(request, viewer))
    try:
        with engine_of(request).begin() as conn:
            targets.deactivate_target(conn, target_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    return RedirectResponse("/inbox/targets?saved=deactivated", status_code=303)
