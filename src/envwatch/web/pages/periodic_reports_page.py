"""Pages of the periodic reports (定期报告, issue 9): the list with its generate form, and one report's figures.

- ``/reports/periodic?period=``: the reports the viewer may see (newest period first) with links to their
  xlsx and PDF (the API's downloads) and, for whoever may generate, a form (period kind, which period,
  scope); a refused form comes back with the reason (422) and what was typed;
- ``/reports/periodic/{id}``: the figures of one report: headline numbers, then the tables with simple CSS
  bars (no JavaScript, no chart library).

Every check is the API's (``web.api.reports_periodic``): same visibility, same 404/403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.reports.periodic_period import EXAMPLES, PERIOD_KINDS, SCOPE_KINDS
from envwatch.web.api import reports_periodic as api
from envwatch.web.api.common import engine_of
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, any_scope, check_csrf
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

PERIOD_LABELS = {
    "day": N_("Daily report"),
    "month": N_("Monthly report"),
    "quarter": N_("Quarterly report"),
    "year": N_("Yearly report"),
}
SCOPE_LABELS = {
    "all": N_("Whole platform"),
    "region": N_("Region"),
    "enterprise": N_("Enterprise"),
    "operator": N_("Operator"),
}
TRIGGER_LABELS = {"schedule": N_("Scheduled"), "demand": N_("On demand")}
assert set(PERIOD_LABELS) == set(PERIOD_KINDS) and set(SCOPE_LABELS) == set(SCOPE_KINDS)


def _scope_kinds(scope: Scope) -> list[str]:
    """The scopes the viewer's form offers (what the API would let it generate)."""
    offered: dict[str, list[str]] = {
        "admin": list(SCOPE_KINDS),
        "regulator": ["region", "enterprise"],
        "enterprise": ["enterprise"],
        "operator": ["operator"],
    }
    return offered.get(scope.role, [])


def _default_ref(scope: Scope) -> str:
    who = scope.principal
    if scope.role == "regulator":
        return who.region_code or ""
    if scope.role == "enterprise":
        return str(who.enterprise_id or "")
    if scope.role == "operator":
        return str(who.operator_id or "")
    return ""


def _list_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    period = request.query_params.get("period") or None
    with engine_of(request).connect() as conn:
        rows = api.listing(conn, scope, period if period in PERIOD_KINDS else None, None, None)
    return render(
        request,
        "reports_periodic.html",
        status,
        viewer=viewer,
        tab="reports",
        reports=rows,
        period=period,
        can_generate=scope.can_write("report"),
        scope_kinds=_scope_kinds(scope),
        default_ref=_default_ref(scope),
        period_kinds=PERIOD_KINDS,
        examples=EXAMPLES,
        period_labels=PERIOD_LABELS,
        scope_labels=SCOPE_LABELS,
        trigger_labels=TRIGGER_LABELS,
        problem=problem,
    )


@router.get("/reports/periodic", response_class=HTMLResponse)
def periodic_list(request: Request, viewer: CurrentViewer) -> Response:
    return _list_page(request, viewer)


@router.post("/reports/periodic", response_class=HTMLResponse)
def periodic_generate(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    period: Text = "",
    of: Text = "",
    scope_kind: Text = "",
    scope_ref: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    body = api.GenerateIn(period=period, of=of, scope_kind=scope_kind, scope_ref=scope_ref)
    try:
        made = api.generate_report(request, scope, body)
    except (InvalidInput, NotFound) as exc:
        values = {"period": period, "of": of, "scope_kind": scope_kind, "scope_ref": scope_ref}
        problem = FormProblem("generate", N_("No report was generated:"), exc.message, values)
        return _list_page(request, viewer, problem, 422 if isinstance(exc, InvalidInput) else 404)
    return RedirectResponse(f"/reports/periodic/{made['id']}?done=generated", status_code=303)


def bar_width(value: Any, top: float) -> float:
    """A bar's width in percent of the widest (0 for nothing)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if top <= 0 else round(min(number / top, 1.0) * 100, 1)


def _top(rows: list[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    return max(values, default=0.0)


@router.get("/reports/periodic/{report_id}", response_class=HTMLResponse)
def periodic_detail(request: Request, viewer: CurrentViewer, report_id: int) -> Response:
    scope = any_scope(request, viewer)
    with engine_of(request).connect() as conn:
        row = api.visible_report(conn, scope, report_id)
    figures = row["figures"]
    tops = {
        "kinds": _top(figures["alarms_by_kind"], "total"),
        "rules": _top(figures["findings_by_rule"], "new"),
        "factors": _top(figures["exceedances_by_factor"], "hours"),
    }
    return render(
        request,
        "reports_periodic_detail.html",
        viewer=viewer,
        tab="reports",
        report=row,
        f=figures,
        tops=tops,
        bar_width=bar_width,
        period_labels=PERIOD_LABELS,
        scope_labels=SCOPE_LABELS,
        trigger_labels=TRIGGER_LABELS,
        done=request.query_params.get("done"),
    )
