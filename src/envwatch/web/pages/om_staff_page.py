"""O&M pages (issue 6): staff (运维人员), certificates (持证上岗), trainings and results (CS-4.5, WZ-A2-5).

- ``/om/staff``: the personnel files with their certificate state today (valid / expires in N days /
  expired / none), filters (operator for admin and regulators, working here or left, position, certificate
  state) and the certificates due for renewal; field staff see their operator's list (to pick a colleague
  with a valid certificate), without the files behind it;
- ``/om/staff/new``: the form adding a personnel file (admin, operator);
- ``/om/staff/{id}``: the personnel file, its edit form, the certificates (the one valid today marked) with
  the form recording one, a form correcting or withdrawing each current certificate (a new row; the
  corrected and withdrawn rows stay, struck through, with who, when and why), and the training results;
- ``/om/trainings…``: the training pages, in ``om_staff_trainings_page`` (included in this router).

Checks, in the JSON API's order (``web.api.om_staff``): the CSRF token, then what is not visible is 404
exactly like a missing one, then the role (403: reading needs admin, regulator or operator; writing the
``staff`` write, admin or operator), then the store (``operations.staff`` / ``operations.trainings``: the
message in the form, 422 / 409, nothing stored). A POST answers 303 back with a notice.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations import staff as store
from envwatch.operations.staff import POSITIONS
from envwatch.web.api import om_staff as api
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages import om_staff_view as view
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.om_staff_trainings_page import router as trainings_router
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope, china_today

router = APIRouter(include_in_schema=False)
router.include_router(trainings_router)  # /om/trainings…: a module of its own, served with these


# ---- the staff list --------------------------------------------------------------------------------------


@router.get("/om/staff", response_class=HTMLResponse)
def staff_list(
    request: Request,
    viewer: CurrentViewer,
    operator: str | None = None,
    active: str = "",
    position: str = "",
    certificate: str = "",
) -> Response:
    who = view.whose(request, viewer, operator, api.LIST_READERS)
    if active not in view.ACTIVE_FILTERS or certificate not in view.CERTIFICATE_FILTERS:
        raise HTTPException(422, f"unknown filter: active={active!r}, certificate={certificate!r}")
    if position and position not in POSITIONS:
        raise HTTPException(422, f"position must be one of {', '.join(POSITIONS)}, not {position!r}")
    warn_days = settings_of(request).om_certificate_warn_days
    today = china_today()
    reads_files = who.scope.role in api.READERS
    with engine_of(request).connect() as conn:
        rows = store.list_staff(
            conn,
            who.operators,
            today=today,
            warn_days=warn_days,
            active=None if not active else active == "yes",
            position=position or None,
            certificate=certificate or None,
        )
        due = store.expiring_certificates(conn, who.operators, today, warn_days) if reads_files else []
        names = view.operator_names(conn)
    return render(
        request,
        "om_staff.html",
        viewer=viewer,
        who=who,
        rows=rows,
        due=due,
        names=names,
        today=today,
        warn_days=warn_days,
        reads_files=reads_files,
        can_write=who.scope.can_write("staff"),
        filters={"active": active, "position": position, "certificate": certificate},
        active_filters=view.ACTIVE_FILTERS,
        certificate_filters=view.CERTIFICATE_FILTERS,
        **view.labels(),
    )


# ---- adding a personnel file -----------------------------------------------------------------------------


def _new_form(
    request: Request, viewer: Viewer, values: dict[str, str], problem: FormProblem | None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    scope.require_write("staff")
    with engine_of(request).connect() as conn:
        choices = view.operator_names(conn) if scope.principal.operator_id is None else {}
    return render(
        request,
        "om_staff_new.html",
        status,
        viewer=viewer,
        v=values,
        choices=choices,
        problem=problem,
        **view.labels(),
    )


@router.get("/om/staff/new", response_class=HTMLResponse)
def new_staff_form(request: Request, viewer: CurrentViewer, operator: str = "") -> Response:
    values = {"operator": operator, "position": "field_engineer", "active": "on"}
    return _new_form(request, viewer, values, None)


@router.post("/om/staff/new", response_class=HTMLResponse)
def add_staff(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    operator: Text = "",
    name: Text = "",
    position: Text = "",
    phone: Text = "",
    username: Text = "",
    active: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {
        "operator": operator, "name": name, "position": position, "phone": phone,
        "username": username, "active": active,
    }  # fmt: skip
    asked: int | None = None
    if operator.strip():
        if not operator.strip().isdigit():
            raise HTTPException(422, f"operator must be an operator id, not {operator!r}")
        asked = int(operator)
    elif scope.principal.operator_id is None:
        scope.require_write("staff")
        problem = FormProblem("new", N_("Not saved:"), "choose the operator the person works for", values)
        return _new_form(request, viewer, values, problem, 422)
    try:
        operator_id = api.writing_for(scope, asked)
    except NotFound as exc:
        raise view.not_found(exc) from None
    try:
        with engine_of(request).begin() as conn:
            api.require_staff_account(conn, username, operator_id)
            row = store.add_staff(
                conn, operator_id=operator_id, name=name, position=position, phone=phone,
                username=username, active=bool(active), now=utcnow(),
            )  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("new", N_("Not saved:"), exc.message, values)
        return _new_form(request, viewer, values, problem, view.status_of(exc))
    return RedirectResponse(f"/om/staff/{row['id']}?done=added", status_code=303)


# ---- one personnel file ----------------------------------------------------------------------------------


def _visible_staff(request: Request, scope: Scope, staff_id: int) -> dict[str, Any]:
    try:
        with engine_of(request).connect() as conn:
            return api.visible_staff(conn, scope, staff_id)
    except NotFound as exc:
        raise view.not_found(exc) from None


def _staff_page(
    request: Request, viewer: Viewer, staff_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    _visible_staff(request, scope, staff_id)
    api.require_reader(scope)
    today = china_today()
    warn_days = settings_of(request).om_certificate_warn_days
    with engine_of(request).connect() as conn:
        person = store.get_staff(conn, staff_id, today=today, warn_days=warn_days)
        operator_name = view.operator_names(conn).get(person["operator_id"], "")
    return render(
        request,
        "om_staff_one.html",
        status,
        viewer=viewer,
        person=person,
        operator_name=operator_name,
        back=f"/om/staff?operator={person['operator_id']}"
        if scope.principal.operator_id is None
        else "/om/staff",
        today=today,
        can_write=scope.can_write("staff"),
        problem=problem,
        done=view.done_of(request, problem),
        **view.labels(),
    )


@router.get("/om/staff/{staff_id}", response_class=HTMLResponse)
def staff_page(request: Request, viewer: CurrentViewer, staff_id: int) -> Response:
    return _staff_page(request, viewer, staff_id)


@router.post("/om/staff/{staff_id}", response_class=HTMLResponse)
def change_staff(
    request: Request,
    viewer: CurrentViewer,
    staff_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    name: Text = "",
    position: Text = "",
    phone: Text = "",
    username: Text = "",
    active: Text = "",
) -> Response:
    """Save the edit form (every field is sent: an unchecked "working here" box means the person left)."""
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    row = _visible_staff(request, scope, staff_id)
    scope.require_write("staff")
    changes = {
        "name": name,
        "position": position,
        "phone": phone,
        "username": username,
        "active": bool(active),
    }
    try:
        with engine_of(request).begin() as conn:
            if store.normalize_username(username) != row["username"]:
                api.require_staff_account(conn, username, row["operator_id"])
            store.update_staff(conn, staff_id, changes, now=utcnow())
    except (InvalidInput, Conflict) as exc:
        values = {k: str(v) for k, v in changes.items()} | {"active": active}
        problem = FormProblem("edit", N_("Not saved:"), exc.message, values)
        return _staff_page(request, viewer, staff_id, problem, view.status_of(exc))
    return RedirectResponse(f"/om/staff/{staff_id}?done=changed", status_code=303)


@router.post("/om/staff/{staff_id}/certificates", response_class=HTMLResponse)
def add_certificate(
    request: Request,
    viewer: CurrentViewer,
    staff_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    kind: Text = "",
    number: Text = "",
    issuer: Text = "",
    issued_on: Text = "",
    valid_until: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    _visible_staff(request, scope, staff_id)
    scope.require_write("staff")
    values = {
        "kind": kind,
        "number": number,
        "issuer": issuer,
        "issued_on": issued_on,
        "valid_until": valid_until,
    }
    try:
        with engine_of(request).begin() as conn:
            store.add_certificate(
                conn, staff_id, kind=kind, number=number, issuer=issuer,
                issued_on=view.day_of("issued_on", issued_on), valid_until=view.day_of("valid_until", valid_until),
                recorded_by=viewer.principal.name, now=utcnow(),
            )  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("certificate", N_("The certificate was not recorded:"), exc.message, values)
        return _staff_page(request, viewer, staff_id, problem, view.status_of(exc))
    return RedirectResponse(f"/om/staff/{staff_id}?done=certificate", status_code=303)


@router.post("/om/staff/{staff_id}/certificates/{certificate_id}/corrections", response_class=HTMLResponse)
def correct_certificate(
    request: Request,
    viewer: CurrentViewer,
    staff_id: int,
    certificate_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    action: Text = "correct",
    kind: Text = "",
    number: Text = "",
    issuer: Text = "",
    issued_on: Text = "",
    valid_until: Text = "",
    reason: Text = "",
) -> Response:
    """Correct a certificate row (the form's fields, all sent) or withdraw it (``action=withdraw``: the
    fields are ignored); the reason is required either way."""
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    try:
        with engine_of(request).connect() as conn:
            api.visible_certificate(conn, scope, staff_id, certificate_id)
    except NotFound as exc:
        raise view.not_found(exc) from None
    scope.require_write("staff")
    values = {
        "kind": kind, "number": number, "issuer": issuer, "issued_on": issued_on, "valid_until": valid_until,
        "reason": reason,
    }  # fmt: skip
    withdraw = action == "withdraw"
    try:
        draft = None if withdraw else view.certificate_draft(values)
        with engine_of(request).begin() as conn:
            store.correct_certificate(
                conn, certificate_id, draft, reason=reason, by=viewer.principal.name, now=utcnow()
            )
    except (InvalidInput, Conflict) as exc:
        lead = N_("Not withdrawn:") if withdraw else N_("The correction was not recorded:")
        problem = FormProblem(f"correct-{certificate_id}", lead, exc.message, values)
        return _staff_page(request, viewer, staff_id, problem, view.status_of(exc))
    done = "certificate_withdrawn" if withdraw else "certificate_corrected"
    return RedirectResponse(f"/om/staff/{staff_id}?done={done}", status_code=303)
