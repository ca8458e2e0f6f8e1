"""Sampling plan pages (采样计划, WZ-A2-6): the list, the plan form and one plan with its label printing.

- ``GET /sampling/plans``: the visible plans, newest window first;
- ``GET /sampling/plans/new`` and ``POST /sampling/plans`` (the ``sampling`` write: admin, agency): the plan
  form — agency (admin picks it first, so the team boxes are its staff), enterprise and outlet from the
  registry, point name and position, the window in China time, the team (who lacks a valid label-system
  training is said), the items (item, container, preservation requirement, quantity). Sampling time,
  sampler, appearance and preservative have no field: they are entered on site (WZ-A2-6);
- ``GET /sampling/plans/{id}``: the plan, planned against registered per item, its samples, the link to the
  on-site entry page (``/sampling/plans/{id}/entry``, ``sampling_field_page``) and the print form;
- ``POST /sampling/plans/{id}/labels``: one file with the labels of every registered, unprinted sample of the
  plan; records ``print_label`` for each (all or none).

Checks in the JSON API's order: CSRF, then 404 for what the viewer does not see, then the role (403), then
the store (422 / 409 shown in the form with what was typed, nothing stored).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from envwatch.sampling.plans import PlanDraft, PlanItemDraft, create_plan, list_plans
from envwatch.sampling.reads import list_samples
from envwatch.sampling.steps import StepInput
from envwatch.web.api import sampling_common as common
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages import sampling_common_view as view
from envwatch.web.pages.forms import FormProblem, form_time, local_input
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.sampling_labels_view import print_first
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

ROWS = 6  # item rows of a new form
ROWS_MAX = 30
FIELDS_MAX = 40 + 4 * ROWS_MAX + 200  # the form's fields (team boxes included)
DONE_LABELS = {
    "created": N_("The plan was saved. Its on-site entries can be made while its window is open."),
}


# ---- the list -------------------------------------------------------------------------------------------


@router.get("/sampling/plans", response_class=HTMLResponse)
def plans_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = view.sampling_scope(request, viewer)
    now = utcnow()
    with engine_of(request).connect() as conn:
        plans = list_plans(
            conn,
            agency_ids=common.visible_agency_ids(scope),
            enterprise_ids=common.visible_enterprise_ids(scope),
            limit=500,
        )
        names = view.enterprise_names(conn, plans)
        agencies = {p["agency_id"]: view.agency_name(conn, p["agency_id"]) for p in plans}
    return render(
        request,
        "sampling_plans.html",
        viewer=viewer,
        plans=plans,
        now=now,
        enterprise_names=names,
        agency_names=agencies,
        can_plan=scope.can_write("sampling"),
        **view.labels(),
    )


# ---- the form -------------------------------------------------------------------------------------------


def _new_page(
    request: Request,
    viewer: Viewer,
    problem: FormProblem | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
    team: list[str] | None = None,
) -> Response:
    scope = view.sampling_scope(request, viewer)
    scope.require_write("sampling")
    query = request.query_params
    v = values if values is not None else {"agency_id": query.get("agency", ""), "q": query.get("q", "")}
    try:
        rows = min(max(int(query.get("rows") or v.get("rows") or ROWS), ROWS), ROWS_MAX)
    except ValueError:
        rows = ROWS
    now = utcnow()
    with engine_of(request).connect() as conn:
        try:
            agency_id = view.form_agency(scope, v)
        except (InvalidInput, NotFound, Forbidden) as exc:
            raise view.page_error(exc) from None
        day = _training_day(v.get("window_start", ""), now)
        context: dict[str, Any] = {
            "agencies": view.agency_picks(conn, scope) if scope.role != "agency" else [],
            "agency_id": agency_id,
            "agency_name": view.agency_name(conn, agency_id) if agency_id is not None else "",
            "staff": view.staff_picks(conn, agency_id, day) if agency_id is not None else [],
            "sites": view.site_picks(conn, v.get("q", "")) if agency_id is not None else [],
        }
    return render(
        request,
        "sampling_plan_new.html",
        status,
        viewer=viewer,
        v=v,
        team=set(team or []),
        rows=rows,
        rows_max=ROWS_MAX,
        training_day=day,
        problem=problem,
        now_local=local_input(now),
        **context,
        **view.labels(),
    )


def _training_day(window_start: str, now: datetime) -> date:
    """The day the team's trainings are checked for: the window's first day, or today."""
    try:
        start = form_time("window_start", window_start) if window_start.strip() else now
    except InvalidInput:
        start = now
    return to_china(max(start, now)).date()


@router.get("/sampling/plans/new", response_class=HTMLResponse)
def new_plan_page(request: Request, viewer: CurrentViewer) -> Response:
    return _new_page(request, viewer)


def _decimal(text: str, what: str) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{what} {text!r} is not a number (decimal degrees, e.g. 28.0123)") from None


def _site(text: str) -> tuple[int, int | None]:
    """``"<enterprise id>"`` or ``"<enterprise id>:<outlet id>"`` from the site picker."""
    parts = text.strip().split(":")
    if not text.strip() or len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise InvalidInput("choose the enterprise (and outlet) from the list")
    return int(parts[0]), int(parts[1]) if len(parts) == 2 else None


def _items(values: dict[str, str], rows: int) -> list[PlanItemDraft]:
    """The filled item rows (a row left wholly empty is skipped)."""
    items: list[PlanItemDraft] = []
    for n in range(1, rows + 1):
        cells = [
            values.get(f"{name}_{n}", "").strip()
            for name in ("item", "container", "preservation", "quantity")
        ]
        if not any(cells):
            continue
        item, container, preservation, quantity = cells
        if quantity and not quantity.isdigit():
            raise InvalidInput(f"item {len(items) + 1}: quantity must be a whole number of containers")
        items.append(PlanItemDraft(item, container, preservation, int(quantity) if quantity else 1))
    return items


def plan_draft(scope: Scope, values: dict[str, str], team: list[str], rows: int) -> PlanDraft:
    """The store's draft from the posted form; InvalidInput names what is wrong."""
    agency_id = view.form_agency(scope, values)
    if agency_id is None:
        raise InvalidInput("choose the testing agency")
    enterprise_id, outlet_id = _site(values.get("site", ""))
    if not all(t.isdigit() for t in team):
        raise InvalidInput("choose the team from the list")
    return PlanDraft(
        agency_id=agency_id,
        enterprise_id=enterprise_id,
        outlet_id=outlet_id,
        point_name=values.get("point_name", ""),
        latitude=_decimal(values.get("latitude", ""), "the latitude"),
        longitude=_decimal(values.get("longitude", ""), "the longitude"),
        window_start=form_time("window_start", values.get("window_start", "")),
        window_end=form_time("window_end", values.get("window_end", "")),
        team=[int(t) for t in team],
        items=_items(values, rows),
        note=values.get("note", ""),
    )


def _create(request: Request, viewer: Viewer, values: dict[str, str], team: list[str]) -> Response:
    scope = view.sampling_scope(request, viewer)
    scope.require_write("sampling")
    request.state.audit_detail = {"sampling_plan": "new"}
    try:
        rows = min(max(int(values.get("rows") or ROWS), 1), ROWS_MAX)
    except ValueError:
        rows = ROWS
    try:
        draft = plan_draft(scope, values, team, rows)
        with engine_of(request).begin() as conn:
            plan = create_plan(conn, draft, actor=viewer.principal.name, now=utcnow())
    except (InvalidInput, Conflict, NotFound, Forbidden) as exc:
        problem = FormProblem("plan", N_("The plan was not saved:"), exc.message, values)
        return _new_page(request, viewer, problem, view.status_of(exc), values, team)
    return RedirectResponse(f"/sampling/plans/{plan['id']}?done=created", status_code=303)


@router.post("/sampling/plans", response_class=HTMLResponse)
async def create_plan_page(request: Request, viewer: CurrentViewer) -> Response:
    async with request.form(max_files=0, max_fields=FIELDS_MAX) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        values = view.form_fields(form)
        team = [t for t in form.getlist("team") if isinstance(t, str)]
    values.pop("team", None)
    return await run_in_threadpool(_create, request, viewer, values, team)


# ---- one plan -------------------------------------------------------------------------------------------


def _window_state(plan: dict[str, Any], now: datetime) -> str:
    if now < plan["window_start"]:
        return "upcoming"
    return "open" if now < plan["window_end"] else "closed"


def _plan_page(
    request: Request, viewer: Viewer, plan_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = view.sampling_scope(request, viewer)
    now = utcnow()
    with engine_of(request).connect() as conn:
        plan = view.visible_plan(conn, scope, plan_id)
        day = to_china(min(max(plan["window_start"], now), plan["window_end"])).date()
        samples = list_samples(conn, agency_ids=None, plan_id=plan_id, limit=2000)
        team = {p["id"]: p for p in view.staff_picks(conn, plan["agency_id"], day)}
        names = view.staff_names(conn, list(plan["team"]))
        can_print = scope.can_write("sampling")
        acting = view.acting_for(conn, scope, viewer, plan["agency_id"], day) if can_print else None
        context = {
            "agency_name": view.agency_name(conn, plan["agency_id"]),
            "enterprise_name": view.enterprise_name(conn, plan["enterprise_id"]),
            "outlet": view.outlet_of(conn, plan["outlet_id"]),
        }
    unprinted = [s for s in samples if s["state"] == "registered" and s["prints"] == 0]
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "sampling_plan.html",
        status,
        viewer=viewer,
        plan=plan,
        samples=samples,
        unprinted=unprinted,
        team=[team.get(i, {"id": i, "name": names.get(i, f"#{i}"), "inactive": True}) for i in plan["team"]],
        window=_window_state(plan, now),
        can_print=can_print,
        can_enter=can_print and _window_state(plan, now) != "closed",
        acting=acting,
        problem=problem,
        done=DONE_LABELS.get(done),
        **context,
        **view.labels(),
    )


@router.get("/sampling/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, viewer: CurrentViewer, plan_id: int) -> Response:
    return _plan_page(request, viewer, plan_id)


def _print(request: Request, viewer: Viewer, plan_id: int, values: dict[str, str]) -> Response:
    scope = view.sampling_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_plan(conn, scope, plan_id)
    scope.require_write("sampling")
    request.state.audit_detail = {"sampling_plan": plan_id, "event": "print_labels"}
    try:
        with engine_of(request).begin() as conn:
            staff_id = view.named_staff(conn, scope, values.get("staff_id", ""))
            rows = list_samples(conn, agency_ids=None, plan_id=plan_id, state="registered", limit=2000)
            codes = [r["code"] for r in reversed(rows) if r["prints"] == 0]  # oldest first: the order taken
            labels = print_first(
                conn,
                settings_of(request),
                codes,
                StepInput(staff_id=staff_id),
                size=values.get("size", ""),
                fmt=values.get("format", "pdf"),
                name=f"plan-{plan_id}-labels",
                actor=viewer.principal.name,
                now=utcnow(),
            )
    except (InvalidInput, Conflict, NotFound, Forbidden) as exc:
        problem = FormProblem("labels", N_("No label was printed:"), exc.message, values)
        return _plan_page(request, viewer, plan_id, problem, view.status_of(exc))
    return labels.response()


@router.post("/sampling/plans/{plan_id}/labels", response_class=HTMLResponse)
async def print_plan_labels(request: Request, viewer: CurrentViewer, plan_id: int) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        values = view.form_fields(form)
    return await run_in_threadpool(_print, request, viewer, plan_id, values)
