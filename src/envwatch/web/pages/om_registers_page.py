"""O&M pages (issue 6): reference-material certificates (标准物质, SX-20.5) and operator registrations (报备,
SX-19), with the forms of the ``om_register`` write (admin, operator).

- ``/om/materials``: the certificates of the operators the viewer sees, the latest validity first, expired
  ones marked; ``?valid=1`` keeps only those valid today; the form records a new certificate;
- ``/om/registrations``: the registrations the viewer sees (a regulator also every one with a city of its
  region), each withdrawn one marked; the form registers, a button withdraws from today.

Checks as everywhere: CSRF, then the operator named must be visible (404), then the role (403), then the
store (422 / 409 in the form, values kept).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations import materials as mat
from envwatch.operations import registrations as reg
from envwatch.registry.schema import operators
from envwatch.registry.service import region_prefix
from envwatch.web.api import om_records as api
from envwatch.web.api.common import engine_of
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

DONE = {
    "material": N_("The certificate was recorded."),
    "registered": N_("The registration was recorded."),
    "withdrawn": N_("The registration was withdrawn."),
}


def _operator_names(conn: Any, scope: Scope) -> dict[int, str]:
    query = select(operators.c.id, operators.c.name).order_by(operators.c.name)
    return {int(r.id): str(r.name) for r in conn.execute(query) if scope.sees_operator(r.id)}


def _day(text: str, what: str, *, required: bool = True) -> date | None:
    text = text.strip()
    if not text:
        if required:
            raise InvalidInput(f"{what} is required")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a date such as 2026-11-22") from None


def _operator_of_form(scope: Scope, text: str) -> int:
    """The operator a form writes for: one's own, or (admin) the one chosen; 404 for one not visible."""
    named = int(text) if text.strip().isdigit() else None
    try:
        operator = api.writer_operator(scope, named)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    scope.require_write("om_register")
    if operator is None:
        raise InvalidInput("choose the operator")
    return operator


# ---- reference materials ---------------------------------------------------------------------------------


def _materials_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    today = to_china(utcnow()).date()
    only_valid = request.query_params.get("valid") == "1"
    with engine_of(request).connect() as conn:
        rows = mat.list_materials(conn, api.operator_ids_of(scope), today if only_valid else None, limit=1000)
        names = _operator_names(conn, scope)
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "om_records_materials.html",
        status,
        viewer=viewer,
        rows=rows,
        names=names,
        today=today,
        only_valid=only_valid,
        can_write=scope.can_write("om_register"),
        is_admin=scope.role == "admin",
        v=problem.values if problem else {"kind": "gas"},
        problem=problem,
        done=DONE.get(done),
    )


@router.get("/om/materials", response_class=HTMLResponse)
def materials_page(request: Request, viewer: CurrentViewer) -> Response:
    return _materials_page(request, viewer)


@router.post("/om/materials", response_class=HTMLResponse)
def add_material_page(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    operator_id: Text = "",
    kind: Text = "",
    name: Text = "",
    certificate_no: Text = "",
    lot: Text = "",
    concentration: Text = "",
    unit: Text = "",
    uncertainty: Text = "",
    maker: Text = "",
    valid_until: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {
        "operator_id": operator_id, "kind": kind, "name": name, "certificate_no": certificate_no, "lot": lot,
        "concentration": concentration, "unit": unit, "uncertainty": uncertainty, "maker": maker,
        "valid_until": valid_until,
    }  # fmt: skip
    try:
        operator = _operator_of_form(scope, operator_id)
        try:
            amount = Decimal(concentration.strip()) if concentration.strip() else None
        except InvalidOperation:
            raise InvalidInput(f"the concentration {concentration!r} is not a number") from None
        until = _day(valid_until, "the last valid day (有效期至)")
        assert until is not None
        draft = mat.MaterialDraft(
            operator_id=operator, kind=kind, name=name, certificate_no=certificate_no, lot=lot, unit=unit,
            uncertainty=uncertainty, maker=maker, valid_until=until, concentration=amount,
        )  # fmt: skip
        with engine_of(request).begin() as conn:
            mat.add_material(conn, draft, viewer.principal.name, utcnow())
    except (InvalidInput, NotFound) as exc:
        problem = FormProblem("material", N_("The certificate was not recorded:"), exc.message, values)
        return _materials_page(request, viewer, problem, 422)
    return RedirectResponse("/om/materials?done=material", status_code=303)


# ---- registrations ------------------------------------------------------------------------------------------


def _visible_registrations(conn: Any, scope: Scope) -> list[dict[str, Any]]:
    if scope.role == "regulator":
        code = scope.principal.region_code
        return reg.list_registrations(
            conn,
            operator_ids=api.operator_ids_of(scope),
            region_prefix=region_prefix(code) if code else "-",
            either=True,
            limit=1000,
        )
    return reg.list_registrations(conn, operator_ids=api.operator_ids_of(scope), limit=1000)


def _registrations_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    today = to_china(utcnow()).date()
    with engine_of(request).connect() as conn:
        rows = _visible_registrations(conn, scope)
        names = _operator_names(conn, scope)
        for row in rows:  # a regulator may see a registration of an operator it has no contract with
            if row["operator_id"] not in names:
                found = conn.execute(
                    select(operators.c.name).where(operators.c.id == row["operator_id"])
                ).scalar()
                names[row["operator_id"]] = str(found)
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "om_records_registrations.html",
        status,
        viewer=viewer,
        rows=rows,
        names=names,
        today=today,
        can_write=scope.can_write("om_register"),
        is_admin=scope.role == "admin",
        own=api.own_operator(scope),
        v=problem.values if problem else {"registered_on": today.isoformat()},
        problem=problem,
        done=DONE.get(done),
    )


@router.get("/om/registrations", response_class=HTMLResponse)
def registrations_page(request: Request, viewer: CurrentViewer) -> Response:
    return _registrations_page(request, viewer)


@router.post("/om/registrations", response_class=HTMLResponse)
def register_page(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    operator_id: Text = "",
    region_code: Text = "",
    bureau: Text = "",
    reference_no: Text = "",
    registered_on: Text = "",
    valid_until: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {
        "operator_id": operator_id, "region_code": region_code, "bureau": bureau, "reference_no": reference_no,
        "registered_on": registered_on, "valid_until": valid_until,
    }  # fmt: skip
    try:
        operator = _operator_of_form(scope, operator_id)
        first = _day(registered_on, "the registration day")
        assert first is not None
        with engine_of(request).begin() as conn:
            reg.register(
                conn, operator_id=operator, region_code=region_code, bureau=bureau, reference_no=reference_no,
                registered_on=first, valid_until=_day(valid_until, "valid until", required=False),
                recorded_by=viewer.principal.name, now=utcnow(),
            )  # fmt: skip
    except (InvalidInput, NotFound) as exc:
        problem = FormProblem("register", N_("The registration was not recorded:"), exc.message, values)
        return _registrations_page(request, viewer, problem, 422)
    return RedirectResponse("/om/registrations?done=registered", status_code=303)


@router.post("/om/registrations/{registration_id}/withdraw", response_class=HTMLResponse)
def withdraw_page(
    request: Request,
    viewer: CurrentViewer,
    registration_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Withdraw from today (China date): a new row; the API's checks (visible: 404, then the role: 403)."""
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    now = utcnow()
    with engine_of(request).connect() as conn:
        try:
            row = reg.get_registration(conn, registration_id)
        except NotFound:
            row = None
    if row is None or not api.sees_registration(scope, row):
        raise HTTPException(404, f"no registration with id {registration_id}")
    scope.require_write("om_register")
    if api.own_operator(scope) not in (None, row["operator_id"]):
        raise HTTPException(404, f"no registration with id {registration_id}")
    try:
        with engine_of(request).begin() as conn:
            reg.withdraw(
                conn, registration_id, on=to_china(now).date(), recorded_by=viewer.principal.name, now=now
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("withdraw", N_("The registration was not withdrawn:"), exc.message)
        return _registrations_page(request, viewer, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse("/om/registrations?done=withdrawn", status_code=303)
