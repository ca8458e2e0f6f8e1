"""Testing agencies, their staff and trainings (检测机构、人员与培训, WZ-A2-5) as pages.

- ``/sampling/agencies``: the agencies an admin or a regulator sees (a regulator: those seated in its
  region), each with the share of its active samplers trained today; the admin's form creating one. An agency
  account goes straight to its own agency; other roles have no such list (403).
- ``/sampling/agencies/{id}``: the agency (the admin's edit form: the code is shown, never editable), its
  training coverage (WZ-A2-5 wants every active sampler trained and tested) with the people lacking it, the
  staff with their training status today (each with its edit form), every training record (corrected and
  withdrawn ones struck through, with who, when and why; a withdraw form on each current one), and the forms
  adding a person and recording a training — the forms for those who may write (``agency_staff``: admin,
  the agency itself).

Checks, in the JSON API's order (``web.api.agencies``): the CSRF token, then what is not visible is 404
exactly like a missing one, then the role (403), then the store (the message in the form, 422 / 409,
nothing stored). A POST answers 303 back to the page with a notice.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry import agencies as store
from envwatch.registry import agency_staff as staff_store
from envwatch.registry import agency_trainings as training_store
from envwatch.registry.agency_trainings import TrainingFacts
from envwatch.web.api import agencies as api
from envwatch.web.api.common import engine_of
from envwatch.web.pages import agencies_view as view
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, any_scope, check_csrf
from envwatch.web.scope import Scope, WriteKind, china_today

router = APIRouter(include_in_schema=False)

LIST_ROLES = frozenset({"admin", "regulator"})
Csrf = Annotated[str | None, Form()]


# ---- the list ----------------------------------------------------------------------------------------------


def _list_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    if scope.role not in LIST_ROLES:
        raise HTTPException(403, f"role {scope.role} has no list of testing agencies")
    today = china_today()
    with engine_of(request).connect() as conn:
        rows = [
            {**r, "coverage": training_store.coverage(conn, r["id"], today)}
            for r in store.list_agencies(conn, scope.agency_ids)
        ]
    return render(
        request,
        "agencies.html",
        status,
        viewer=viewer,
        rows=rows,
        can_create=scope.can_write("agency_registry"),
        problem=problem,
        today=today,
    )


@router.get("/sampling/agencies", response_class=HTMLResponse)
def agency_list(request: Request, viewer: CurrentViewer) -> Response:
    if viewer.principal.role == "agency" and viewer.principal.agency_id is not None:
        return RedirectResponse(f"/sampling/agencies/{viewer.principal.agency_id}", status_code=303)
    return _list_page(request, viewer)


@router.post("/sampling/agencies", response_class=HTMLResponse)
def create_agency(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Csrf = None,
    name: Text = "",
    credit_code: Text = "",
    code: Text = "",
    region_code: Text = "",
    contact: Text = "",
    phone: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    any_scope(request, viewer).require_write("agency_registry")
    values = {
        "name": name, "credit_code": credit_code, "code": code, "region_code": region_code,
        "contact": contact, "phone": phone,
    }  # fmt: skip
    try:
        with engine_of(request).begin() as conn:
            row = store.create_agency(conn, values, utcnow())
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("new-agency", N_("Not saved:"), exc.message, values)
        return _list_page(request, viewer, problem, view.status_of(exc))
    return RedirectResponse(f"/sampling/agencies/{row['id']}?done=created", status_code=303)


# ---- one agency --------------------------------------------------------------------------------------------


def _visible(request: Request, scope: Scope, agency_id: int) -> dict[str, Any]:
    try:
        with engine_of(request).connect() as conn:
            return api.visible_agency(conn, scope, agency_id)
    except NotFound as exc:
        raise view.not_found(exc) from None


def _agency_page(
    request: Request, viewer: Viewer, agency_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    agency = _visible(request, scope, agency_id)
    today = china_today()
    with engine_of(request).connect() as conn:
        people = staff_store.list_staff(conn, agency_id, today=today)
        found = training_store.coverage(conn, agency_id, today)
        records = view.training_records(conn, people, today)
    return render(
        request,
        "agencies_one.html",
        status,
        viewer=viewer,
        a=agency,
        people=people,
        coverage=found,
        records=records,
        today=today,
        back=None if scope.role == "agency" else "/sampling/agencies",
        can_edit=scope.can_write("agency_registry"),
        can_write=scope.can_write("agency_staff"),
        problem=problem,
        done=view.done_of(request, problem),
        default_title=view.DEFAULT_TITLE,
        **view.labels(),
    )


@router.get("/sampling/agencies/{agency_id}", response_class=HTMLResponse)
def agency_page(request: Request, viewer: CurrentViewer, agency_id: int) -> Response:
    return _agency_page(request, viewer, agency_id)


def _writer(
    request: Request, viewer: Viewer, csrf_token: str | None, agency_id: int, kind: WriteKind
) -> Scope:
    """The checks before a page write: CSRF, then 404 for an agency out of scope, then 403 by role."""
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    _visible(request, scope, agency_id)
    scope.require_write(kind)
    return scope


@router.post("/sampling/agencies/{agency_id}", response_class=HTMLResponse)
def change_agency(
    request: Request,
    viewer: CurrentViewer,
    agency_id: int,
    csrf_token: Csrf = None,
    name: Text = "",
    credit_code: Text = "",
    region_code: Text = "",
    contact: Text = "",
    phone: Text = "",
    active: Text = "",
) -> Response:
    """Save the agency's edit form (every field is sent: an unchecked box means the agency stopped)."""
    _writer(request, viewer, csrf_token, agency_id, "agency_registry")
    changes: dict[str, Any] = {
        "name": name, "credit_code": credit_code, "region_code": region_code, "contact": contact,
        "phone": phone, "active": bool(active),
    }  # fmt: skip
    try:
        with engine_of(request).begin() as conn:
            store.update_agency(conn, agency_id, changes, utcnow())
    except (InvalidInput, Conflict) as exc:
        values = {k: str(v) for k, v in changes.items()} | {"active": active}
        problem = FormProblem("edit-agency", N_("Not saved:"), exc.message, values)
        return _agency_page(request, viewer, agency_id, problem, view.status_of(exc))
    return RedirectResponse(f"/sampling/agencies/{agency_id}?done=changed", status_code=303)


@router.post("/sampling/agencies/{agency_id}/staff", response_class=HTMLResponse)
def add_staff(
    request: Request,
    viewer: CurrentViewer,
    agency_id: int,
    csrf_token: Csrf = None,
    name: Text = "",
    position: Text = "",
    phone: Text = "",
    username: Text = "",
    active: Text = "",
) -> Response:
    _writer(request, viewer, csrf_token, agency_id, "agency_staff")
    values = {"name": name, "position": position, "phone": phone, "username": username, "active": active}
    try:
        with engine_of(request).begin() as conn:
            api.require_agency_account(conn, username, agency_id)
            row = staff_store.add_staff(
                conn, agency_id, name=name, position=position, phone=phone, username=username,
                active=bool(active), now=utcnow(),
            )  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("new-staff", N_("Not saved:"), exc.message, values)
        return _agency_page(request, viewer, agency_id, problem, view.status_of(exc))
    return RedirectResponse(f"/sampling/agencies/{agency_id}?done=added#staff-{row['id']}", status_code=303)


@router.post("/sampling/agencies/{agency_id}/staff/{staff_id}", response_class=HTMLResponse)
def change_staff(
    request: Request,
    viewer: CurrentViewer,
    agency_id: int,
    staff_id: int,
    csrf_token: Csrf = None,
    name: Text = "",
    position: Text = "",
    phone: Text = "",
    username: Text = "",
    active: Text = "",
) -> Response:
    """Save a person's edit form (every field is sent: an unchecked "works here" box means the person left)."""
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    person = view.visible_person(request, scope, agency_id, staff_id)
    scope.require_write("agency_staff")
    changes: dict[str, Any] = {
        "name": name, "position": position, "phone": phone, "username": username, "active": bool(active),
    }  # fmt: skip
    try:
        with engine_of(request).begin() as conn:
            if staff_store.normalize_username(username) != person["username"]:
                api.require_agency_account(conn, username, agency_id)
            staff_store.update_staff(conn, staff_id, changes, now=utcnow())
    except (InvalidInput, Conflict) as exc:
        values = {k: str(v) for k, v in changes.items()} | {"active": active}
        problem = FormProblem(f"edit-staff-{staff_id}", N_("Not saved:"), exc.message, values)
        return _agency_page(request, viewer, agency_id, problem, view.status_of(exc))
    return RedirectResponse(f"/sampling/agencies/{agency_id}?done=staff#staff-{staff_id}", status_code=303)


@router.post("/sampling/agencies/{agency_id}/trainings", response_class=HTMLResponse)
def record_training(
    request: Request,
    viewer: CurrentViewer,
    agency_id: int,
    csrf_token: Csrf = None,
    staff_id: Text = "",
    title: Text = "",
    held_on: Text = "",
    score: Text = "",
    passed: Text = "",
    valid_until: Text = "",
    note: Text = "",
) -> Response:
    """Record a held and tested training of the person chosen in the form (one of this agency's people)."""
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    _visible(request, scope, agency_id)
    values = {
        "staff_id": staff_id, "title": title, "held_on": held_on, "score": score, "passed": passed,
        "valid_until": valid_until, "note": note,
    }  # fmt: skip
    person_id = view.staff_id_of(staff_id)
    if person_id is not None:
        view.visible_person(request, scope, agency_id, person_id)
    scope.require_write("agency_staff")
    try:
        if person_id is None:
            raise InvalidInput("choose the person who was trained")
        facts = TrainingFacts(
            title=title,
            held_on=view.day_of("held_on", held_on),
            passed=view.passed_of(passed),
            valid_until=view.day_of("valid_until", valid_until),
            score=score,
        )
        with engine_of(request).begin() as conn:
            training_store.record_training(
                conn, person_id, facts, note=note, recorded_by=viewer.principal.name, now=utcnow()
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("training", N_("The training was not recorded:"), exc.message, values)
        return _agency_page(request, viewer, agency_id, problem, view.status_of(exc))
    return RedirectResponse(f"/sampling/agencies/{agency_id}?done=training#trainings", status_code=303)


@router.post("/sampling/agencies/{agency_id}/trainings/{training_id}/withdraw", response_class=HTMLResponse)
def withdraw_training(
    request: Request,
    viewer: CurrentViewer,
    agency_id: int,
    training_id: int,
    csrf_token: Csrf = None,
    reason: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    view.visible_training(request, scope, agency_id, training_id)
    scope.require_write("agency_staff")
    try:
        with engine_of(request).begin() as conn:
            training_store.withdraw_training(
                conn, training_id, reason=reason, by=viewer.principal.name, now=utcnow()
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem(
            f"withdraw-{training_id}", N_("Not withdrawn:"), exc.message, {"reason": reason}
        )
        return _agency_page(request, viewer, agency_id, problem, view.status_of(exc))
    return RedirectResponse(f"/sampling/agencies/{agency_id}?done=withdrawn#trainings", status_code=303)
