"""O&M pages (issue 6): quarterly self-inspection reports (季度自查报告, SX-18.7).

- ``/om/self-inspection``: the enterprises in the viewer's scope × the last four quarters (``?year=&quarter=``
  names the newest column; default the running one), each cell a status badge (not due yet, due with its
  date, overdue, submitted, submitted late), the latest submission and preview links; for those who may
  submit (admin, the enterprise, its operator) the submit form (a finished quarter, a note);
- ``/om/self-inspection/preview.pdf|.xlsx``: the report generated on the fly, not stored;
- ``/om/self-inspection/{id}``: one submission: who, when, the note, both files with their SHA-256, the
  quarter's status; ``/{id}/pdf`` and ``/{id}/xlsx`` download them.

Every check is the JSON API's (``web.api.om_reports``), in its order: CSRF, not visible → 404 exactly as a
missing one, the role (403), then the store (its message in the form, 422, nothing stored).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.registry.service import get_enterprise
from envwatch.reports import self_inspection_store as store
from envwatch.reports.quarters import Quarter, quarter_containing, quarter_of, quarter_state
from envwatch.web.api import om_reports as api
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

COLUMNS = 4  # quarters shown side by side
STATE_LABELS = {
    "not_due_yet": N_("Not due yet"),
    "due": N_("Due"),
    "overdue": N_("Overdue"),
    "submitted": N_("Submitted"),
    "submitted_late": N_("Submitted late"),
}
STATE_BADGES = {
    "not_due_yet": "info",
    "due": "info",
    "overdue": "bad",
    "submitted": "ok",
    "submitted_late": "bad",
}


def _problem(exc: NotFound | InvalidInput) -> HTTPException:
    # the store's errors answer in JSON: a page shows its HTML error page with the same message
    return HTTPException(404 if isinstance(exc, NotFound) else 422, exc.message)


def _int(name: str, text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not text.strip().lstrip("-").isdigit():
        raise HTTPException(422, f"{name} must be a whole number, not {text!r}")
    return int(text)


def _newest_column(request: Request) -> Quarter:
    year = _int("year", request.query_params.get("year"))
    quarter = _int("quarter", request.query_params.get("quarter"))
    if year is None and quarter is None:
        return quarter_containing(utcnow())
    try:
        if year is None or quarter is None:
            raise InvalidInput("give both year and quarter, or neither (the running quarter)")
        return quarter_of(year, quarter)
    except InvalidInput as exc:
        raise _problem(exc) from None


def _grid(request: Request, scope: Scope, newest: Quarter) -> dict[str, Any]:
    """Rows per enterprise, one cell per quarter (oldest first)."""
    quarters = [newest]
    while len(quarters) < COLUMNS:
        quarters.insert(0, quarters[0].previous())
    due_days = settings_of(request).om_self_inspection_due_days
    now = utcnow()
    rows: dict[int, dict[str, Any]] = {}
    with engine_of(request).connect() as conn:
        for q in quarters:
            for status in store.statuses(conn, scope.enterprise_ids, q.year, q.quarter, now, due_days):
                row = rows.setdefault(
                    status.enterprise_id,
                    {
                        "id": status.enterprise_id,
                        "name": status.enterprise,
                        "region": status.region_code,
                        "cells": [],
                    },
                )
                row["cells"].append({"quarter": q, "status": status, "started": now >= q.start})
    return {"quarters": quarters, "rows": list(rows.values()), "newest": newest}


def _finished_choices(newest: Quarter) -> list[Quarter]:
    """The quarters the form offers: the last eight finished ones, newest first."""
    last = quarter_containing(utcnow()).previous()
    if newest.is_over(utcnow()) and (newest.year, newest.quarter) < (last.year, last.quarter):
        last = newest
    out = [last]
    while len(out) < 8:
        out.append(out[-1].previous())
    return out


def _list_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    newest = _newest_column(request)
    grid = _grid(request, scope, newest)
    can_submit = scope.can_write("self_inspection")
    return render(
        request,
        "om_self_inspection.html",
        status,
        viewer=viewer,
        grid=grid,
        previous=newest.previous(),
        following=newest.next(),
        can_submit=can_submit,
        choices=_finished_choices(newest) if can_submit else [],
        state_labels=STATE_LABELS,
        state_badges=STATE_BADGES,
        problem=problem,
        due_days=settings_of(request).om_self_inspection_due_days,
    )


@router.get("/om/self-inspection", response_class=HTMLResponse)
def self_inspection_page(request: Request, viewer: CurrentViewer) -> Response:
    return _list_page(request, viewer)


@router.post("/om/self-inspection", response_class=HTMLResponse)
def submit_report(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    enterprise_id: Text = "",
    quarter: Text = "",
    note: Text = "",
) -> Response:
    """``quarter`` is ``2026Q1``; the API's checks and the store's refusals in the form."""
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {"enterprise_id": enterprise_id, "quarter": quarter, "note": note}

    def refused(exc: InvalidInput) -> Response:
        problem = FormProblem("submit", N_("The report was not submitted:"), exc.message, values)
        return _list_page(request, viewer, problem, 422)

    if not enterprise_id.isdigit():
        scope.require_write("self_inspection")  # a role that may not submit learns nothing from the form
        return refused(InvalidInput("choose the enterprise"))
    year_text, _, number = quarter.partition("Q")
    if not (year_text.isdigit() and number.isdigit()):
        scope.require_write("self_inspection")
        return refused(InvalidInput(f"choose a quarter such as 2026Q1, not {quarter!r}"))
    body = api.SubmissionIn(
        enterprise_id=int(enterprise_id), year=int(year_text), quarter=int(number), note=note
    )
    try:
        row = api.submit_report(request, scope, body)
    except NotFound as exc:
        raise _problem(exc) from None
    except InvalidInput as exc:
        return refused(exc)
    return RedirectResponse(f"/om/self-inspection/{row['id']}?done=submitted", status_code=303)


def _preview(request: Request, viewer: Viewer, kind: api.FileKind) -> Response:
    scope = data_scope(request, viewer)
    enterprise_id = _int("enterprise_id", request.query_params.get("enterprise_id"))
    year = _int("year", request.query_params.get("year"))
    number = _int("quarter", request.query_params.get("quarter"))
    if enterprise_id is None or year is None or number is None:
        raise HTTPException(422, "enterprise_id, year and quarter are required")
    try:
        scope.require_enterprise(enterprise_id)
        q = quarter_of(year, number)
        api.require_readable_quarter(scope, q)
        files = api.preview_files(request, enterprise_id, q)
        with engine_of(request).connect() as conn:
            credit_code = str(get_enterprise(conn, enterprise_id)["credit_code"])
    except (NotFound, InvalidInput) as exc:
        raise _problem(exc) from None
    return api.preview_download(files, credit_code, q, kind)


@router.get("/om/self-inspection/preview.pdf")
def preview_pdf(request: Request, viewer: CurrentViewer) -> Response:
    return _preview(request, viewer, "pdf")


@router.get("/om/self-inspection/preview.xlsx")
def preview_xlsx(request: Request, viewer: CurrentViewer) -> Response:
    return _preview(request, viewer, "xlsx")


def _visible(request: Request, scope: Scope, report_id: int) -> dict[str, Any]:
    try:
        with engine_of(request).connect() as conn:
            return api.visible_submission(conn, scope, report_id)
    except NotFound as exc:
        raise _problem(exc) from None


@router.get("/om/self-inspection/{report_id}", response_class=HTMLResponse)
def report_page(request: Request, viewer: CurrentViewer, report_id: int) -> Response:
    scope = data_scope(request, viewer)
    row = _visible(request, scope, report_id)
    q = Quarter(row["year"], row["quarter"])
    due_days = settings_of(request).om_self_inspection_due_days
    with engine_of(request).connect() as conn:
        status = store.quarter_status(conn, row["enterprise_id"], q.year, q.quarter, utcnow(), due_days)
        others = store.list_submissions(
            conn, enterprise_ids=[row["enterprise_id"]], year=q.year, quarter=q.quarter
        )
    on_time = quarter_state(q, utcnow(), due_days, row["submitted_at"]) == "submitted"
    return render(
        request,
        "om_self_inspection_report.html",
        viewer=viewer,
        report=row,
        quarter=q,
        status=status,
        on_time=on_time,
        others=others,
        done=request.query_params.get("done") == "submitted",
        state_labels=STATE_LABELS,
        state_badges=STATE_BADGES,
    )


def _download(request: Request, viewer: Viewer, report_id: int, kind: api.FileKind) -> Response:
    scope = data_scope(request, viewer)
    row = _visible(request, scope, report_id)
    api.require_readable_quarter(scope, Quarter(row["year"], row["quarter"]))
    return api.stored_file(request, row, kind)


@router.get("/om/self-inspection/{report_id}/pdf")
def report_pdf(request: Request, viewer: CurrentViewer, report_id: int) -> Response:
    return _download(request, viewer, report_id, "pdf")


@router.get("/om/self-inspection/{report_id}/xlsx")
def report_xlsx(request: Request, viewer: CurrentViewer, report_id: int) -> Response:
    return _download(request, viewer, report_id, "xlsx")
