"""Pages of the city's supervision: monthly full-coverage plans (SX-22.3/22.4) and the yearly spot test (SX-23).

- ``/compliance/supervision``: the plans and spot-test draws of the viewer's region with their coverage as
  bars (``<meter>``: no script, no inline style), and for writers the forms that make a plan or a draw;
- ``/compliance/supervision/plans/{id}``: the enterprises of a plan, each with its outlets, result history
  and a form with the nine SX-22.4 checklist items (a correction of the latest result is a tick);
- ``/compliance/supervision/spot-tests/{id}``: the drawn monitoring points, the seed and whether it redoes
  the list, each point's results and a form for the manual test (up to three factors; an automatic value
  left empty is the platform's daily value).

Every rule and refusal is the JSON API's (``web.api.compliance_supervision``); forms carry the CSRF token.
Who: admin and regulators (others get 403, enterprises included: the spot test is unannounced).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from envwatch.compliance.supervision_checklist import CHECKLIST, KEYS, STATES
from envwatch.core.errors import InvalidInput
from envwatch.web.api import compliance_supervision as api
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, any_scope, check_csrf
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

CHECKLIST_LABELS: Final = {
    "site_network": N_("Construction of the on-site equipment to standard and network transmission"),
    "acceptance_filing": N_("Acceptance and filing of the equipment"),
    "changes": N_("Changes to the equipment"),
    "operation": N_("Normal operation and maintenance of the equipment"),
    "comparison": N_("Comparison monitoring of the equipment"),
    "rules_ledgers": N_(
        "Rules and ledgers for operation, maintenance, repair, calibration, checks and comparison monitoring"
    ),
    "reference_materials": N_("Validity of the reference material certificates"),
    "production_correlation": N_("Consistency of production, treatment facilities and the monitoring data"),
    "other": N_("Other matters the inspectors found necessary to check"),
}
STATE_LABELS: Final = {"ok": N_("OK"), "problem": N_("Problem"), "na": N_("Not applicable")}
OUTCOME_LABELS: Final = {
    "ok": N_("No problem"),
    "problems": N_("Problems found"),
    "pass": N_("Passed"),
    "fail": N_("Failed"),
}
VALUE_ROWS: Final = 3  # factors a spot-test form offers
assert set(CHECKLIST_LABELS) == set(KEYS) and [c.text for c in CHECKLIST] == list(CHECKLIST_LABELS.values())
assert set(STATE_LABELS) == set(STATES)


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _list_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    region = request.query_params.get("region") or None
    try:
        plans = api.list_plans(request, scope, region, None)
        draws = api.list_draws(request, scope, region, None)
    except InvalidInput:
        region, plans, draws = (
            None,
            api.list_plans(request, scope, None, None),
            api.list_draws(request, scope, None, None),
        )
    today = api.china_today()
    own = scope.principal.region_code or ""
    return render(
        request,
        "compliance_supervision.html",
        status,
        viewer=viewer,
        tab="supervision",
        plans=plans,
        draws=draws,
        region=region or "",
        own_region=own,
        can_write=scope.can_write("supervision"),
        this_month=f"{today:%Y-%m}",
        this_year=today.year,
        problem=problem,
    )


@router.get("/compliance/supervision", response_class=HTMLResponse)
def supervision_page(request: Request, viewer: CurrentViewer) -> Response:
    return _list_page(request, viewer)


@router.post("/compliance/supervision/plans", response_class=HTMLResponse)
def plan_form(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    region: Text = "",
    month: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    try:
        made = api.make_plan(request, scope, api.PlanIn(region=region, month=month))
    except InvalidInput as exc:
        problem = FormProblem(
            "plan", N_("No plan was made:"), exc.message, {"region": region, "month": month}
        )
        return _list_page(request, viewer, problem, 422)
    done = "already" if made["already"] else "supplement" if made["supplementary"] else "made"
    return RedirectResponse(f"/compliance/supervision/plans/{made['id']}?done={done}", status_code=303)


@router.post("/compliance/supervision/spot-tests", response_class=HTMLResponse)
def draw_form(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    region: Text = "",
    year: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    values = {"region": region, "year": year}
    try:
        if _int(year) is None:
            raise InvalidInput(f"year {year!r} is not a year such as 2026")
        made = api.make_draw(request, scope, api.DrawIn(region=region, year=int(year)))
    except (InvalidInput, ValidationError) as exc:
        text = exc.message if isinstance(exc, InvalidInput) else f"year {year!r} is out of range"
        problem = FormProblem("draw", N_("Nothing was drawn:"), text, values)
        return _list_page(request, viewer, problem, 422)
    done = "already" if made["already"] else "drawn"
    return RedirectResponse(f"/compliance/supervision/spot-tests/{made['id']}?done={done}", status_code=303)


# ---- one plan or draw: what both pages and both result forms share ----


def _detail_page(
    request: Request,
    viewer: Viewer,
    template: str,
    found: Callable[[Scope], dict[str, Any]],
    problem: FormProblem | None,
    status: int,
    **context: Any,
) -> Response:
    """A plan's or a draw's page: ``found(scope)`` names what it shows (404 outside the viewer's scope);
    the outcome labels, the result forms for writers and the notice of what was just done come with it."""
    scope = any_scope(request, viewer)
    shown = found(scope)
    return render(
        request,
        template,
        status,
        viewer=viewer,
        tab="supervision",
        **shown,
        **context,
        outcome_labels=OUTCOME_LABELS,
        can_record=scope.can_write("supervision"),
        today=api.china_today().isoformat(),
        problem=problem,
        done=request.query_params.get("done"),
    )


async def _result_form(request: Request, viewer: Viewer) -> tuple[dict[str, str], Scope]:
    """A result form's fields and the writer's scope (CSRF checked; 403 for who may not record)."""
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, viewer, values.get("csrf_token"))
    scope = any_scope(request, viewer)
    scope.require_write("supervision")
    return values, scope


def _not_recorded(item_id: int, exc: InvalidInput, values: dict[str, str]) -> FormProblem:
    return FormProblem(f"item-{item_id}", N_("The result was not recorded:"), exc.message, values)


def _recorded(page: str, item_id: int) -> Response:
    """Back to the plan's or draw's page at the item just recorded."""
    query = urlencode({"done": "recorded"})
    return RedirectResponse(f"{page}?{query}#item-{item_id}", status_code=303)


# ---- one plan ----


def _plan_page(
    request: Request, viewer: Viewer, plan_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    return _detail_page(
        request,
        viewer,
        "compliance_supervision_plan.html",
        lambda scope: {"plan": api.plan_detail(request, scope, plan_id)},
        problem,
        status,
        checklist=CHECKLIST,
        checklist_labels=CHECKLIST_LABELS,
        state_labels=STATE_LABELS,
    )


@router.get("/compliance/supervision/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, viewer: CurrentViewer, plan_id: int) -> Response:
    return _plan_page(request, viewer, plan_id)


@router.post("/compliance/supervision/plans/{plan_id}/items/{item_id}/results", response_class=HTMLResponse)
async def plan_result_form(request: Request, viewer: CurrentViewer, plan_id: int, item_id: int) -> Response:
    values, scope = await _result_form(request, viewer)
    try:
        visited = _form_day(values.get("visited_on", ""), "the day visited")
        checklist = {
            key: api.AnswerIn(state=values.get(f"state_{key}", ""), note=values.get(f"note_{key}", "")[:4000])
            for key in KEYS
            if values.get(f"state_{key}")
        }
        supersedes = _int(values.get("supersedes_id")) if values.get("correct") else None
        body = api.PlanResultIn(
            visited_on=visited, inspectors=values.get("inspectors", "")[:4000], checklist=checklist,
            note=values.get("note", "")[:4000], supersedes_id=supersedes,
        )  # fmt: skip
        api.add_plan_result(request, scope, plan_id, item_id, body)
    except InvalidInput as exc:
        return _plan_page(request, viewer, plan_id, _not_recorded(item_id, exc, values), 422)
    return _recorded(f"/compliance/supervision/plans/{plan_id}", item_id)


def _form_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a day YYYY-MM-DD") from None


# ---- one spot-test draw ----


def _draw_page(
    request: Request, viewer: Viewer, draw_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    return _detail_page(
        request,
        viewer,
        "compliance_supervision_spot_test.html",
        lambda scope: {"draw": api.draw_detail(request, scope, draw_id)},
        problem,
        status,
        value_rows=range(VALUE_ROWS),
    )


@router.get("/compliance/supervision/spot-tests/{draw_id}", response_class=HTMLResponse)
def draw_page(request: Request, viewer: CurrentViewer, draw_id: int) -> Response:
    return _draw_page(request, viewer, draw_id)


@router.post(
    "/compliance/supervision/spot-tests/{draw_id}/items/{item_id}/results", response_class=HTMLResponse
)
async def spot_result_form(request: Request, viewer: CurrentViewer, draw_id: int, item_id: int) -> Response:
    values, scope = await _result_form(request, viewer)
    try:
        tested = _form_day(values.get("tested_on", ""), "the day tested")
        rows = [
            api.ValueIn(
                factor=values.get(f"factor_{n}", "").strip()[:32],
                manual=values.get(f"manual_{n}", "").strip()[:40],
                automatic=values.get(f"automatic_{n}", "").strip()[:40] or None,
                unit=values.get(f"unit_{n}", "").strip()[:32],
            )
            for n in range(VALUE_ROWS)
            if values.get(f"factor_{n}", "").strip() or values.get(f"manual_{n}", "").strip()
        ]
        supersedes = _int(values.get("supersedes_id")) if values.get("correct") else None
        body = api.SpotResultIn(
            tested_on=tested, agency=values.get("agency", "")[:4000], report_no=values.get("report_no", "")[:100],
            values=rows, note=values.get("note", "")[:4000], supersedes_id=supersedes,
        )  # fmt: skip
        api.add_spot_result(request, scope, draw_id, item_id, body)
    except InvalidInput as exc:
        return _draw_page(request, viewer, draw_id, _not_recorded(item_id, exc, values), 422)
    return _recorded(f"/compliance/supervision/spot-tests/{draw_id}", item_id)
