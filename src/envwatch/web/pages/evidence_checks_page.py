"""Pages of the archive's checks: rule checks, storage capacity, monthly self-inspection (WZ-A1-5/13/14, WZ-A2-8).

- ``/evidence/checks?from=&to=&agency_id=``: every archive check over a period (China days, default this
  month), grouped by rule with counts, each finding with its subject, message and evidence; the latest storage
  level on top (not for enterprises);
- ``/evidence/storage``: the latest capacity level and the history; admin checks now (``POST``);
- ``/evidence/self-inspections``: the draws per month with their review progress and, for an agency and
  admin, the draw form; ``/evidence/self-inspections/{id}``: the drawn videos (each links to
  ``/evidence/videos/{id}``), the outcome history and a form to record an outcome.

Every check and every refusal is the JSON API's (``web.api.evidence_checks``); page forms carry the CSRF
token. Who: as the API (operators, field staff and auditors get 403).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from envwatch.core.errors import InvalidInput
from envwatch.evidence.archive_checks import KINDS, RULES
from envwatch.registry.agencies_schema import agencies
from envwatch.sampling.stats import month_of
from envwatch.web.api import evidence_checks as api
from envwatch.web.api.common import engine_of
from envwatch.web.api.sampling_stats import chosen_period
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, any_scope, check_csrf
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

KIND_LABELS = {
    "late": N_("Archived late"),
    "missing": N_("No sampling video"),
    "due": N_("Sampling video due"),
    "gap": N_("Not filmed whole"),
    "no_start_clip": N_("No start clip"),
    "no_end_clip": N_("No end clip"),
    "no_video": N_("Reprint without video"),
    "video_file_missing": N_("Reprint video file missing"),
    "video_altered": N_("Reprint video altered"),
}
RULE_TITLES = {
    "WZ-A1-13": N_("Videos archived within the deadline"),
    "WZ-A1-5": N_("Sampling filmed whole, or at start and end"),
    "WZ-A2-8": N_("Every label reprint has its video"),
}
LEVEL_LABELS = {"ok": N_("Normal"), "warn": N_("Warning"), "critical": N_("Critical")}
LEVEL_BADGES = {"ok": "ok", "warn": "info", "critical": "bad"}
OUTCOME_LABELS = {"ok": N_("No problem"), "problem": N_("Problem found")}
assert set(KIND_LABELS) == set(KINDS) and set(RULE_TITLES) == {r.rule for r in RULES}


def _agencies(request: Request, scope: Scope) -> list[dict[str, Any]]:
    """The agencies a filter or the draw form offers: the ones the scope sees (none for an enterprise)."""
    if scope.role == "enterprise":
        return []
    query = select(agencies.c.id, agencies.c.name, agencies.c.code).order_by(agencies.c.name)
    if scope.agency_ids is not None:
        query = query.where(agencies.c.id.in_(list(scope.agency_ids)))
    with engine_of(request).connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


@router.get("/evidence/checks", response_class=HTMLResponse)
def checks_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = any_scope(request, viewer)
    api.require_checks_reader(scope)
    query = request.query_params
    agency_id = _int(query.get("agency_id"))
    error = None
    try:
        chosen = chosen_period(query.get("from"), query.get("to"), api.china_today())
    except InvalidInput as exc:
        chosen, error = month_of(api.china_today()), exc.message
    body = None
    if error is None:
        body = api.checks_out(request, scope, chosen, api.findings_for(request, scope, chosen, agency_id))
    typed = {"from": query.get("from", ""), "to": query.get("to", "")}
    return render(
        request,
        "evidence_checks.html",
        200 if error is None else 422,
        viewer=viewer,
        body=body,
        error=error,
        typed=typed if error else {"from": chosen.first.isoformat(), "to": chosen.end.isoformat()},
        agency_id=agency_id,
        agencies=_agencies(request, scope),
        kind_labels=KIND_LABELS,
        rule_titles=RULE_TITLES,
        level_labels=LEVEL_LABELS,
        level_badges=LEVEL_BADGES,
    )


@router.get("/evidence/storage", response_class=HTMLResponse)
def storage_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = any_scope(request, viewer)
    body = api.storage(request, scope)
    return render(
        request,
        "evidence_checks_storage.html",
        viewer=viewer,
        body=body,
        can_check=scope.can_write("evidence_admin"),
        level_labels=LEVEL_LABELS,
        level_badges=LEVEL_BADGES,
        done=request.query_params.get("done"),
    )


@router.post("/evidence/storage/check")
def storage_check(
    request: Request, viewer: CurrentViewer, csrf_token: Annotated[str | None, Form()] = None
) -> Response:
    check_csrf(request, viewer, csrf_token)
    api.storage_check(request, any_scope(request, viewer))
    return RedirectResponse("/evidence/storage?done=checked", status_code=303)


def _list_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    query = request.query_params
    draws = api.list_self_inspections(request, scope, _int(query.get("agency_id")), None)
    names = {a["id"]: a["name"] for a in _agencies(request, scope)}
    return render(
        request,
        "evidence_checks_self_inspections.html",
        status,
        viewer=viewer,
        draws=draws,
        names=names,
        agencies=_agencies(request, scope),
        can_draw=scope.can_write("video_self_inspection"),
        is_admin=scope.role == "admin",
        this_month=api.china_today().strftime("%Y-%m"),
        problem=problem,
    )


@router.get("/evidence/self-inspections", response_class=HTMLResponse)
def self_inspections_page(request: Request, viewer: CurrentViewer) -> Response:
    return _list_page(request, viewer)


@router.post("/evidence/self-inspections", response_class=HTMLResponse)
def draw_form(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    month: Text = "",
    agency_id: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    scope.require_write("video_self_inspection")
    body = api.DrawIn(month=month, agency_id=_int(agency_id))
    try:
        made = api.make_draw(request, scope, body)
    except InvalidInput as exc:
        values = {"month": month, "agency_id": agency_id}
        problem = FormProblem("draw", N_("Nothing was drawn:"), exc.message, values)
        return _list_page(request, viewer, problem, 422)
    done = "already" if made["already"] else "drawn"
    return RedirectResponse(f"/evidence/self-inspections/{made['id']}?done={done}", status_code=303)


def _draw_page(
    request: Request, viewer: Viewer, draw_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    detail = api.draw_detail(request, scope, draw_id)
    names = {a["id"]: a["name"] for a in _agencies(request, scope)}
    return render(
        request,
        "evidence_checks_draw.html",
        status,
        viewer=viewer,
        draw=detail,
        agency_name=names.get(detail["agency_id"], str(detail["agency_id"])),
        can_review=scope.can_write("video_self_inspection"),
        outcome_labels=OUTCOME_LABELS,
        problem=problem,
        done=request.query_params.get("done"),
    )


@router.get("/evidence/self-inspections/{draw_id}", response_class=HTMLResponse)
def draw_page(request: Request, viewer: CurrentViewer, draw_id: int) -> Response:
    return _draw_page(request, viewer, draw_id)


@router.post("/evidence/self-inspections/{draw_id}/items/{item_id}/outcome", response_class=HTMLResponse)
def outcome_form(
    request: Request,
    viewer: CurrentViewer,
    draw_id: int,
    item_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    outcome: Text = "",
    note: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    scope.require_write("video_self_inspection")
    if outcome not in ("ok", "problem"):
        problem = FormProblem(f"item-{item_id}", N_("The outcome was not recorded:"), "choose an outcome",
                              {"note": note})  # fmt: skip
        return _draw_page(request, viewer, draw_id, problem, 422)
    try:
        api.add_outcome(request, scope, draw_id, item_id, api.OutcomeIn(outcome=outcome, note=note))
    except InvalidInput as exc:
        values = {"outcome": outcome, "note": note}
        problem = FormProblem(f"item-{item_id}", N_("The outcome was not recorded:"), exc.message, values)
        return _draw_page(request, viewer, draw_id, problem, 422)
    query = urlencode({"done": "recorded"})
    return RedirectResponse(f"/evidence/self-inspections/{draw_id}?{query}#item-{item_id}", status_code=303)
