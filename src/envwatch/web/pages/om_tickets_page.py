"""Service ticket pages (服务工单, CS-4.3.3): the list, the request form, one ticket with its journal and the
forms its state and the viewer's role allow, and the operators' quarter figures.

- ``/om/tickets``: the visible tickets, open ones first (50 a page), each with its two clocks as badges and
  the time left; a state and a clock filter; at the top the satisfaction rate of the viewer's operator(s)
  for this quarter against the 85 % target;
- ``/om/tickets/new``: the enterprise's request form (admin too): outlet, device, subject, what is wrong,
  how it was asked and, for a call entered afterwards, when. Made for a 375 px phone;
- ``/om/tickets/{id}``: the ticket, its clocks, its journal, and the forms: the operator's people respond,
  arrive (naming who is on site), resolve on site or remotely; the enterprise confirms, rejects, cancels
  (before a response) and, once closed, answers the survey (1-5 stars as radio buttons); both comment.
  A POST answers 303 back to the ticket with a notice; a refusal of the store comes back in its form;
- ``/om/tickets/satisfaction``: per operator and quarter, surveys and the rate against the target, and the
  on-time shares of both clocks.

Checks, in the JSON API's order (``web.api.om_tickets``): the CSRF token, then what is not visible is 404
exactly like a missing one, then the role (403), then the store (``operations.tickets``: 422 / 409 in the
form).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations import tickets as store
from envwatch.operations.ticket_sla import SlaRules
from envwatch.operations.ticket_stats import parse_quarter, quarter_name, quarter_of
from envwatch.web.api import om_tickets as api
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages import om_ticket_view as view
from envwatch.web.pages.forms import FormProblem, Text, form_time
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

QUARTERS_OFFERED = 8  # the satisfaction page's quarter picker: this one and the seven before


def _rules(request: Request) -> SlaRules:
    return SlaRules.from_settings(settings_of(request))


def _labels() -> dict[str, Any]:
    return {
        "state_labels": view.STATE_LABELS,
        "state_badges": view.STATE_BADGES,
        "event_labels": view.EVENT_LABELS,
        "clock_labels": view.CLOCK_LABELS,
        "clock_state_labels": view.CLOCK_STATE_LABELS,
        "clock_badges": view.CLOCK_BADGES,
        "zone_labels": view.ZONE_LABELS,
        "channel_labels": view.CHANNEL_LABELS,
        "score_labels": view.SCORE_LABELS,
        "remaining": view.remaining,
    }


def _not_found(exc: NotFound) -> HTTPException:
    # the scope's NotFound would answer in JSON: a page shows its HTML 404 with the same message
    return HTTPException(404, exc.message)


def _this_quarter() -> tuple[date, date]:
    return quarter_of(to_china(utcnow()).date())


# ---- the list ------------------------------------------------------------------------------------------


@router.get("/om/tickets", response_class=HTMLResponse)
def tickets_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = data_scope(request, viewer)
    now, rules = utcnow(), _rules(request)
    query = request.query_params
    state = view.read_filter(query.get("state"), view.FILTER_LABELS)
    clock = view.read_filter(query.get("clock"), view.CLOCK_FILTER_LABELS)
    problem, status = None, 200
    if state is None or clock is None:
        text = f"state={query.get('state', '')} clock={query.get('clock', '')}"
        problem, status = FormProblem("filter", N_("The filter is not valid:"), text), 422
        state, clock = state or "", clock or ""
    first, last = _this_quarter()
    with engine_of(request).connect() as conn:
        listing = view.ticket_list(conn, scope, state, clock, query.get("page"), now, rules)
        top: list[view.Figures] = []
        if scope.role in ("operator", "field_staff", "enterprise"):
            shown = view.operators_to_show(conn, scope, first, last)
            top = view.figures(conn, scope, shown, first, last, now, rules)
    return render(
        request,
        "om_tickets.html",
        status,
        viewer=viewer,
        listing=listing,
        state=state,
        clock=clock,
        filter_labels=view.FILTER_LABELS,
        clock_filter_labels=view.CLOCK_FILTER_LABELS,
        can_request=scope.can_write("ticket_request"),
        top=top,
        quarter=quarter_name(first),
        problem=problem,
        **_labels(),
    )


# ---- the request form ----------------------------------------------------------------------------------


def _require_requester(scope: Scope) -> None:
    scope.require_write("ticket_request")


def _new_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    _require_requester(scope)
    with engine_of(request).connect() as conn:
        places = view.request_outlets(conn, scope)
        loggers = view.request_devices(conn, scope, [o["id"] for o in places])
    return render(
        request,
        "om_tickets_new.html",
        status,
        viewer=viewer,
        outlets=places,
        devices=loggers,
        channels=store.CHANNELS,
        problem=problem,
        values=problem.values if problem else {},
        **_labels(),
    )


@router.get("/om/tickets/new", response_class=HTMLResponse)
def new_ticket_page(request: Request, viewer: CurrentViewer) -> Response:
    return _new_page(request, viewer)


def _id(text: str, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"{what} must be chosen from the list, not {text!r}")
    return int(text)


@router.post("/om/tickets/new", response_class=HTMLResponse)
def request_ticket(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    outlet_id: Text = "",
    device_id: Text = "",
    subject: Text = "",
    description: Text = "",
    channel: Text = "web",
    requested_at: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {
        "outlet_id": outlet_id, "device_id": device_id, "subject": subject, "description": description,
        "channel": channel, "requested_at": requested_at,
    }  # fmt: skip

    def refused(exc: InvalidInput | Conflict) -> Response:
        problem = FormProblem("request", N_("The request was not recorded:"), exc.message, values)
        return _new_page(request, viewer, problem, 409 if isinstance(exc, Conflict) else 422)

    try:
        outlet, device = _id(outlet_id, "the outlet"), _id(device_id, "the device")
        if outlet is None:
            raise InvalidInput("choose the outlet the request is about")
    except InvalidInput as exc:
        _require_requester(scope)  # a role that may not request learns nothing from the form's errors
        return refused(exc)
    try:  # what the form names must be visible (404 as for a missing one), as the API checks it
        scope.require_outlet(outlet)
        if device is not None:
            scope.require_device_id(device)
    except NotFound as exc:
        raise _not_found(exc) from None
    _require_requester(scope)
    now = utcnow()
    try:
        asked = form_time("requested_at", requested_at) if requested_at.strip() else now
        with engine_of(request).begin() as conn:
            row = store.request_ticket(
                conn,
                enterprise_id=api.enterprise_of_outlet(conn, outlet),
                outlet_id=outlet,
                device_id=device,
                subject=subject,
                description=description,
                channel=channel,
                requested_at=asked,
                by=viewer.principal.name,
                now=now,
            )
    except (InvalidInput, Conflict) as exc:
        return refused(exc)
    return RedirectResponse(f"/om/tickets/{row['id']}?done=requested", status_code=303)


# ---- the operators' figures ----------------------------------------------------------------------------


@router.get("/om/tickets/satisfaction", response_class=HTMLResponse)
def satisfaction_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = data_scope(request, viewer)
    this_first, _ = _this_quarter()
    text = request.query_params.get("quarter", "")
    try:
        first, last = parse_quarter(text) if text else _this_quarter()
    except InvalidInput as exc:
        raise HTTPException(422, exc.message) from None
    scope.require_days(first, last)
    offered, start = [], this_first
    for _ in range(QUARTERS_OFFERED):
        offered.append(quarter_name(start))
        start = quarter_of(date.fromordinal(start.toordinal() - 1))[0]
    now, rules = utcnow(), _rules(request)
    with engine_of(request).connect() as conn:
        shown = view.operators_to_show(conn, scope, first, last)
        rows = view.figures(conn, scope, shown, first, last, now, rules)
    return render(
        request,
        "om_tickets_satisfaction.html",
        viewer=viewer,
        rows=rows,
        quarter=quarter_name(first),
        quarters=offered if quarter_name(first) in offered else [quarter_name(first), *offered],
        first=first,
        last=last,
        target=rules.satisfaction_min_percent,
        partial=scope.role in ("enterprise", "regulator"),
    )


# ---- one ticket ----------------------------------------------------------------------------------------


def _detail_page(
    request: Request, viewer: Viewer, ticket_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    now, rules = utcnow(), _rules(request)
    with engine_of(request).connect() as conn:
        detail = view.ticket_detail(conn, scope, ticket_id, now, rules)
        ticket = detail["ticket"]
        forms = view.allowed_forms(scope, ticket)
        people = view.staff_choices(conn, ticket["operator_id"]) if "arrive" in forms else []
    done = request.query_params.get("done", "") if problem is None else ""
    me = next((p["id"] for p in people if p["username"] == viewer.principal.name), None)
    return render(
        request,
        "om_tickets_ticket.html",
        status,
        viewer=viewer,
        t=ticket,
        names=detail["names"],
        journal=detail["journal"],
        clocks=detail["clocks"],
        forms=forms,
        people=people,
        me=me,
        done=view.DONE_LABELS.get(done),
        problem=problem,
        **_labels(),
    )


@router.get("/om/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, viewer: CurrentViewer, ticket_id: int) -> Response:
    return _detail_page(request, viewer, ticket_id)


def _optional_int(text: str, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{what} must be a whole number, not {text!r}") from None


@router.post("/om/tickets/{ticket_id}/events", response_class=HTMLResponse)
def record_step(
    request: Request,
    viewer: CurrentViewer,
    ticket_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    event: Text = "",
    at: Text = "",
    comment: Text = "",
    staff_id: Text = "",
    score: Text = "",
) -> Response:
    """One step of the ticket (the API's ``POST /api/v1/om/tickets/{id}/events``); ``at`` empty = now."""
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_ticket(conn, scope, ticket_id)  # 404 first
    try:
        store.recordable(event)
    except InvalidInput as exc:
        raise HTTPException(422, exc.message) from None
    api.require_step_kind(scope, event)  # 403 for a role that may not record it
    now = utcnow()
    try:
        with engine_of(request).begin() as conn:
            store.record_event(
                conn,
                ticket_id,
                event=event,
                at=form_time("at", at) if at.strip() else now,
                comment=comment,
                staff_id=_optional_int(staff_id, "the staff member"),
                score=_optional_int(score, "the score"),
                by=viewer.principal.name,
                now=now,
                rules=_rules(request),
            )
    except NotFound as exc:  # a staff member of another operator: as for a missing one
        raise _not_found(exc) from None
    except (InvalidInput, Conflict) as exc:
        values = {"at": at, "comment": comment, "staff_id": staff_id, "score": score}
        problem = FormProblem(event, N_("Not saved:"), exc.message, values)
        return _detail_page(request, viewer, ticket_id, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/om/tickets/{ticket_id}?done={event}", status_code=303)
