"""Pages of the compliance findings (合规问题) and rules (合规规则), issue 9.

- ``/compliance/findings``: the findings the viewer sees (open ones by default), filtered by state, rule,
  severity, subject kind, enterprise, operator and text, 50 a page, with the counts per rule and state of
  the filtered set; each row links to its finding;
- ``/compliance/findings/{id}``: one finding: rule and clause, subject with links to the pages of the
  device, outlet, enterprise's and operator's findings, agency; period, first and last seen, message, the
  evidence as links to the pages of faults, alarms, tickets, records, videos, samples, filings, rates…; its
  history; for admin and regulator the waive or withdraw form (a reason is required, 豁免理由);
- ``/compliance/rules``: every rule with its clause, inputs and parameters (effective value, default, whether
  a setting overrides it), the latest runs, and for admin and regulator "Run all rules now".

Every role has the pages, each seeing its own findings (``Scope.sees_finding``, as ``GET /api/v1/findings``);
a finding outside the scope is 404 like a missing one. Forms POST with the CSRF token, then 303 back with
a notice; a refusal of the store comes back in its form (422 / 409).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select

from envwatch.compliance.findings import unwaive, waive
from envwatch.compliance.rules import SUBJECT_KINDS
from envwatch.compliance.schema import compliance_runs
from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.web.api import compliance_findings as api
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages import findings_view as view
from envwatch.web.pages import paging
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.paging import Paged
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, any_scope, check_csrf
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

RUNS_SHOWN = 10


def _not_found(exc: NotFound) -> HTTPException:
    # the store's NotFound would answer in JSON: a page shows its HTML 404 with the same message
    return HTTPException(404, exc.message)


def _labels() -> dict[str, Any]:
    return {
        "state_labels": view.STATE_LABELS,
        "state_badges": view.STATE_BADGES,
        "severity_labels": view.SEVERITY_LABELS,
        "subject_labels": view.SUBJECT_LABELS,
        "event_labels": view.EVENT_LABELS,
    }


def _int(text: str | None, what: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"{what}={text!r} is not an id")
    return int(text)


def _filter(query: Any) -> tuple[api.FindingFilter, dict[str, str]]:
    """The list's filter from the URL (``state`` defaults to open; ``all`` for every state) and the values
    the pager links carry on."""
    state = query.get("state") or "open"
    kept = {
        k: query.get(k, "")
        for k in ("state", "rule", "severity", "subject_kind", "enterprise_id", "operator_id", "agency_id", "device_id", "q")
    }  # fmt: skip
    kept["state"] = state
    if state not in view.FILTER_LABELS:
        raise InvalidInput(f"state={state!r} is not one of {', '.join(view.FILTER_LABELS)}")
    flt = api.FindingFilter(
        rules=(kept["rule"],) if kept["rule"] else (),
        states=() if state == "all" else (state,),
        severity=kept["severity"] or None,
        subject_kind=kept["subject_kind"] or None,
        enterprise_id=_int(kept["enterprise_id"], "enterprise_id"),
        operator_id=_int(kept["operator_id"], "operator_id"),
        agency_id=_int(kept["agency_id"], "agency_id"),
        device_id=_int(kept["device_id"], "device_id"),
        q=kept["q"].strip(),
    )
    flt.check()
    return flt, kept


def _rule_titles(request: Request) -> dict[str, dict[str, str]]:
    return {r.id: {"en": r.title, "zh_CN": r.title_zh} for r in api.rule_set_of(request)}


def _page_of(
    conn: Connection, flt: api.FindingFilter, scope: Scope, page_text: str | None
) -> tuple[api.FindingPage, Paged]:
    """One page of the list (``paging.PAGE_SIZE`` rows, the page number kept in range), paged by the query."""
    size = paging.PAGE_SIZE
    try:
        wanted = max(1, int(page_text or "1"))
    except ValueError:
        wanted = 1
    found = api.select_findings(conn, flt, scope, limit=size, offset=(wanted - 1) * size)
    pages = max(1, math.ceil(found.total / size))
    if wanted > pages:  # past the end: the last page
        wanted = pages
        found = api.select_findings(conn, flt, scope, limit=size, offset=(wanted - 1) * size)
    return found, Paged(found.rows, wanted, pages, found.total, flt.q)


@router.get("/compliance/findings", response_class=HTMLResponse)
def findings_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = any_scope(request, viewer)
    problem, status = None, 200
    try:
        flt, kept = _filter(request.query_params)
    except InvalidInput as exc:
        problem, status = FormProblem("filter", N_("The filter is not valid:"), exc.message), 422
        flt, kept = api.FindingFilter(states=("open",)), {"state": "open"}
    try:
        api.narrowed(scope, flt)
    except NotFound as exc:
        raise _not_found(exc) from None
    with engine_of(request).connect() as conn:
        found, paged = _page_of(conn, flt, scope, request.query_params.get("page"))
        names = view.names_of(conn, paged.rows)
    return render(
        request,
        "compliance_findings.html",
        status,
        viewer=viewer,
        tab="findings",
        paged=paged,
        names=names,
        by_rule=found.by_rule,
        by_state=found.by_state,
        kept=kept,
        filter_labels=view.FILTER_LABELS,
        rule_ids=list(api.rule_set_of(request).rules),
        rule_titles=_rule_titles(request),
        subject_kinds=SUBJECT_KINDS,
        problem=problem,
        **_labels(),
    )


def _detail_page(
    request: Request, viewer: Viewer, finding_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    with engine_of(request).connect() as conn:
        try:
            row = api.visible_finding(conn, scope, finding_id)
        except NotFound as exc:
            raise _not_found(exc) from None
        detail = api.detail_out(conn, row, api.rule_set_of(request))
        names = view.names_of(conn, [row])
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "compliance_finding.html",
        status,
        viewer=viewer,
        tab="findings",
        f=row,
        history=detail["history"],
        rule=detail["rule_info"],
        subjects=view.subjects_of(row, names, scope),
        evidence=view.evidence_of(row, names),
        can_waive=scope.can_write("finding_waive"),
        done=view.DONE_LABELS.get(done),
        problem=problem,
        **_labels(),
    )


@router.get("/compliance/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(request: Request, viewer: CurrentViewer, finding_id: int) -> Response:
    return _detail_page(request, viewer, finding_id)


def _decide(
    request: Request, viewer: Viewer, finding_id: int, csrf_token: str | None, reason: str, waived: bool
) -> Response:
    """The API's waive / unwaive: CSRF, then 404 outside the scope, then 403 for the role, then the store."""
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    with engine_of(request).connect() as conn:
        try:
            api.visible_finding(conn, scope, finding_id)
        except NotFound as exc:
            raise _not_found(exc) from None
    scope.require_write("finding_waive")
    event = "waived" if waived else "unwaived"
    try:
        with engine_of(request).begin() as conn:
            (waive if waived else unwaive)(conn, finding_id, reason, by=viewer.principal.name, now=utcnow())
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem(event, N_("Not saved:"), exc.message, {"reason": reason})
        return _detail_page(request, viewer, finding_id, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/compliance/findings/{finding_id}?done={event}", status_code=303)


@router.post("/compliance/findings/{finding_id}/waive", response_class=HTMLResponse)
def waive_form(
    request: Request,
    viewer: CurrentViewer,
    finding_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    reason: Text = "",
) -> Response:
    return _decide(request, viewer, finding_id, csrf_token, reason, waived=True)


@router.post("/compliance/findings/{finding_id}/unwaive", response_class=HTMLResponse)
def unwaive_form(
    request: Request,
    viewer: CurrentViewer,
    finding_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    reason: Text = "",
) -> Response:
    return _decide(request, viewer, finding_id, csrf_token, reason, waived=False)


# ---- the rules -----------------------------------------------------------------------------------------


def _runs(request: Request, scope: Scope) -> list[dict[str, Any]]:
    with engine_of(request).connect() as conn:
        rows = api.recent_runs(conn, RUNS_SHOWN)
    return [api.run_out(r, scope.role in api.RUN_DETAIL_ROLES) | {"row": r} for r in rows]


def _rules_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = any_scope(request, viewer)
    runs = _runs(request, scope)
    shown_run = None
    wanted = request.query_params.get("run", "")
    if problem is None and wanted.isdigit() and scope.role in api.RUN_DETAIL_ROLES:
        with engine_of(request).connect() as conn:
            row = (
                conn.execute(select(compliance_runs).where(compliance_runs.c.id == int(wanted)))
                .mappings()
                .first()
            )
        shown_run = api.run_out(dict(row), True) if row is not None else None
    return render(
        request,
        "compliance_rules.html",
        status,
        viewer=viewer,
        tab="findings",
        rules=api.rules_out(api.rule_set_of(request), settings_of(request)),
        runs=runs,
        shown_run=shown_run,
        can_run=scope.can_write("compliance_run"),
        problem=problem,
    )


@router.get("/compliance/rules", response_class=HTMLResponse)
def rules_page(request: Request, viewer: CurrentViewer) -> Response:
    return _rules_page(request, viewer)


@router.post("/compliance/rules/run", response_class=HTMLResponse)
def run_now(
    request: Request, viewer: CurrentViewer, csrf_token: Annotated[str | None, Form()] = None
) -> Response:
    """Run every enabled rule now (the API's ``POST /api/v1/compliance/runs`` without a body)."""
    check_csrf(request, viewer, csrf_token)
    scope = any_scope(request, viewer)
    scope.require_write("compliance_run")
    try:
        result = api.start_run(request, scope, None, None)
    except InvalidInput as exc:
        return _rules_page(
            request, viewer, FormProblem("run", N_("The rules were not run:"), exc.message), 422
        )
    return RedirectResponse(f"/compliance/rules?run={result.run_id}#run-result", status_code=303)
