"""Pages: the quarterly operator ranking (运维单位季度考核排名, SX-26), credit files and the blacklist (SX-27).

- ``/compliance/operators?quarter=2026Q3&region=3301``: the ranking computed live (score, rank, each
  component's figure and sub-score, the components left out for lack of data), the last place flagged, a
  blacklist badge, the newest publication of the quarter if any, the blacklist; admin and regulators
  publish the quarter (``POST /compliance/operators/publish``).
- ``/compliance/operators/{id}``: the operator's credit file (every event), its blacklist state and
  history, its published assessments; admin and regulators add an event
  (``POST /compliance/operators/{id}/credit``).

Every figure, check and refusal is the JSON API's (``web.api.compliance_assessment``): an operator, its
staff and its auditor see only their own row, its rank and how many were ranked; enterprises and agencies
get 403. Forms carry the CSRF token; nothing needs JavaScript.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.compliance.assessment import COMPONENTS, previous_quarter
from envwatch.compliance.credit import KINDS
from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.web.api import compliance_assessment as api
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, any_scope, check_csrf

router = APIRouter(include_in_schema=False)

COMPONENT_LABELS: Final = {
    "effective_rate": N_("Effective transmission rate"),
    "response": N_("Response and on-site on time"),
    "inspection": N_("Inspections every 7 days"),
    "findings": N_("Violations per device"),
    "satisfaction": N_("Satisfaction"),
}
KIND_LABELS: Final = {
    "warning": N_("Warning"),
    "penalty": N_("Penalty"),
    "bad_record": N_("Bad record"),
    "blacklisted": N_("Blacklisted"),
    "unblacklisted": N_("Taken off the blacklist"),
    "note": N_("Note"),
}
SOURCE_LABELS: Final = {"system": N_("System"), "manual": N_("Manual")}
assert set(COMPONENT_LABELS) == set(COMPONENTS) and set(KIND_LABELS) == set(KINDS)


def _quarters(today: date, back: int = 8) -> list[str]:
    """The quarter selector's choices: this quarter and the ``back`` before it, newest first."""
    year, quarter = today.year, (today.month - 1) // 3 + 1
    out = []
    for _ in range(back + 1):
        out.append(f"{year}Q{quarter}")
        year, quarter = (year - 1, 4) if quarter == 1 else (year, quarter - 1)
    return out


def _ranking_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    api.require_reader(scope)
    query = request.query_params
    quarter = query.get("quarter") or previous_quarter(utcnow())
    region = query.get("region", "")
    body, error = None, None
    try:
        body = api.ranking_out(request, scope, api.live_ranking(request, scope, quarter, region))
    except InvalidInput as exc:
        error, status = exc.message, 422
    blacklist = [] if scope.role in api.OWN_ONLY else api.blacklist_out(request, scope)
    return render(
        request,
        "compliance_operators.html",
        status,
        viewer=viewer,
        tab="operators",
        body=body,
        error=error,
        quarter=quarter,
        region=region if body is None else body["region"],
        quarters=_quarters(to_china(utcnow()).date()),
        can_publish=scope.can_write("assessment"),
        blacklist=[b for b in blacklist if b["blacklisted"]],
        components=COMPONENTS,
        component_labels=COMPONENT_LABELS,
        problem=problem,
        done=query.get("done"),
    )


@router.get("/compliance/operators", response_class=HTMLResponse)
def ranking_page(request: Request, viewer: CurrentViewer) -> Response:
    return _ranking_page(request, viewer)


@router.post("/compliance/operators/publish", response_class=HTMLResponse)
def publish_form(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    quarter: Text = "",
    region: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    scope.require_write("assessment")
    try:
        done = api.publish_ranking(request, scope, api.PublishIn(quarter=quarter, region=region))
    except InvalidInput as exc:
        problem = FormProblem("publish", N_("Nothing was published:"), exc.message)
        return _ranking_page(request, viewer, problem, 422)
    target = urlencode({"quarter": done["quarter"], "region": done["region"], "done": "published"})
    return RedirectResponse(f"/compliance/operators?{target}", status_code=303)


def _operator_page(
    request: Request, viewer: Viewer, operator_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    file = api.credit_file(request, scope, operator_id)
    return render(
        request,
        "compliance_operator.html",
        status,
        viewer=viewer,
        tab="operators",
        file=file,
        can_add=scope.can_write("credit"),
        kinds=KINDS,
        kind_labels=KIND_LABELS,
        source_labels=SOURCE_LABELS,
        component_labels=COMPONENT_LABELS,
        today=to_china(utcnow()).date().isoformat(),
        problem=problem,
        done=request.query_params.get("done"),
    )


@router.get("/compliance/operators/{operator_id}", response_class=HTMLResponse)
def operator_page(request: Request, viewer: CurrentViewer, operator_id: int) -> Response:
    return _operator_page(request, viewer, operator_id)


def _as_day(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"the day {text!r} is not a date such as 2026-11-22") from None


def _as_id(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise InvalidInput(f"finding {text!r} is not a finding number")
    return int(text.strip())


@router.post("/compliance/operators/{operator_id}/credit", response_class=HTMLResponse)
def credit_form(
    request: Request,
    viewer: CurrentViewer,
    operator_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    kind: Text = "",
    reason: Text = "",
    on: Text = "",
    finding_id: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    api.require_visible_operator(request, scope, operator_id)
    scope.require_write("credit")
    values = {"kind": kind, "reason": reason, "on": on, "finding_id": finding_id}
    try:
        body = api.CreditIn(kind=kind, reason=reason, on=_as_day(on), finding_id=_as_id(finding_id))
        api.add_credit_event(request, scope, operator_id, body)
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("credit", N_("Nothing was recorded:"), exc.message, values)
        return _operator_page(request, viewer, operator_id, problem, exc.http_status)
    return RedirectResponse(f"/compliance/operators/{operator_id}?done=recorded", status_code=303)
