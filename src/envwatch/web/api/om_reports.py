"""O&M API (issue 6): quarterly self-inspection reports (季度自查报告, SX-18.7).

- ``GET /self-inspection``: the status of each visible enterprise's report for one quarter (default: the
  last finished one): ``not_due_yet``, ``due`` (with ``due_on``), ``overdue``, ``submitted``,
  ``submitted_late``, with its submissions; ``enterprise_id`` narrows it to one (404 when not visible);
- ``GET /self-inspection/preview.pdf|.xlsx``: the report generated now, not stored (a running quarter
  gives the quarter so far);
- ``POST /self-inspection``: submit a finished quarter's report (write ``self_inspection``: admin; the
  enterprise for itself; an operator for an enterprise it had a contract with during that quarter);
- ``GET /self-inspection/{id}`` and ``/{id}/pdf``, ``/{id}/xlsx``: a submission and its stored files.

Who reads: whoever sees the enterprise (regulators their region's, operators their contracted ones). An
auditor reads a report's content (previews, files) only for a quarter inside its period (403 otherwise).
Checks in the order of the other routers: not visible → 404 exactly as missing, then the role (403), then
the store (422). The report's content and files come from ``reports`` (``self_inspection*``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.registry.service import get_enterprise
from envwatch.reports import self_inspection_store as store
from envwatch.reports.quarters import Quarter, last_finished, quarter_of
from envwatch.reports.self_inspection import build_self_inspection, device_mns, quarter_rates
from envwatch.web.api.common import engine_of, file_download, jsonable, settings_of
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/om", tags=["om-reports"])

FileKind = Literal["pdf", "xlsx"]


class SubmissionIn(BaseModel):
    enterprise_id: int
    year: int = Field(description="the calendar year of the quarter")
    quarter: int = Field(description="1..4; the quarter must be over")
    note: str = Field(default="", description="a note to the bureau, at most 4000 characters")


def chosen_quarter(year: int | None, quarter: int | None) -> Quarter:
    """Both given: that quarter (422 when impossible); neither: the last finished one; one alone: 422."""
    if year is None and quarter is None:
        return last_finished(utcnow())
    if year is None or quarter is None:
        raise InvalidInput("give both year and quarter, or neither (the last finished quarter)")
    return quarter_of(year, quarter)


def require_readable_quarter(scope: Scope, quarter: Quarter) -> None:
    """The auditor reads a report's content only for a quarter inside its period (403 naming it)."""
    scope.require_days(quarter.first_day, quarter.last_day)


def require_submitter(conn: Connection, scope: Scope, enterprise_id: int, quarter: Quarter) -> None:
    """After visibility: the write kind, and an operator only for an enterprise it served that quarter."""
    scope.require_write("self_inspection")
    who = scope.principal
    if scope.role == "operator" and (
        who.operator_id is None
        or not store.operator_contracted(conn, who.operator_id, enterprise_id, quarter)
    ):
        raise HTTPException(
            403,
            f"operator {who.operator_id} had no contract with enterprise {enterprise_id} during {quarter.label}: "
            "only an operator under contract submits its report",
        )


def visible_submission(conn: Connection, scope: Scope, report_id: int) -> dict[str, Any]:
    """A submission of a visible enterprise, or NotFound exactly as for a missing one."""
    try:
        row = store.get_submission(conn, report_id)
    except NotFound:
        row = None
    if row is None or not scope.sees_enterprise(row["enterprise_id"]):
        raise NotFound(f"no self-inspection report with id {report_id}")
    return row


def status_rows(
    conn: Connection, scope: Scope, quarter: Quarter, due_days: int, enterprise_id: int | None
) -> list[dict[str, Any]]:
    """Each visible enterprise's status, with its submissions of the quarter newest first."""
    ids = scope.enterprise_ids if enterprise_id is None else [enterprise_id]
    found = store.statuses(conn, ids, quarter.year, quarter.quarter, utcnow(), due_days)
    submitted = store.list_submissions(
        conn, enterprise_ids=[s.enterprise_id for s in found], year=quarter.year, quarter=quarter.quarter
    )
    out = []
    for status in found:
        row = jsonable(status.as_dict())
        row["submissions"] = [jsonable(s) for s in submitted if s["enterprise_id"] == status.enterprise_id]
        out.append(row)
    return out


def preview_files(request: Request, enterprise_id: int, quarter: Quarter) -> store.ReportFiles:
    """The report of the quarter so far, generated now (422 for a quarter that has not begun)."""
    now = utcnow()
    if now < quarter.start:
        raise InvalidInput(f"quarter {quarter.label} has not begun: there is nothing to report yet")
    settings = settings_of(request)
    return store.render_files(
        build_self_inspection(engine_of(request), settings, enterprise_id, quarter, now)
    )


def submit_report(request: Request, scope: Scope, body: SubmissionIn) -> dict[str, Any]:
    """Check, compute the rates (outside the transaction: they refresh stored counts), submit."""
    scope.require_enterprise(body.enterprise_id)  # 404 first
    quarter = quarter_of(body.year, body.quarter)
    engine, settings = engine_of(request), settings_of(request)
    with engine.connect() as conn:
        require_submitter(conn, scope, body.enterprise_id, quarter)
        mns = device_mns(conn, body.enterprise_id)
    now = utcnow()
    rates = quarter_rates(engine, settings, mns, quarter, now) if quarter.is_over(now) else None
    with engine.begin() as conn:
        return store.submit(
            conn,
            BlobStore.from_settings(settings),
            settings,
            enterprise_id=body.enterprise_id,
            year=body.year,
            quarter=body.quarter,
            note=body.note,
            by=scope.principal.name,
            now=now,
            rates=rates,
        )


def stored_file(request: Request, row: dict[str, Any], kind: FileKind) -> Response:
    try:
        content, meta = store.submission_file(BlobStore.from_settings(settings_of(request)), row, kind)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    return file_download(content, meta)


def preview_download(
    files: store.ReportFiles, credit_code: str, quarter: Quarter, kind: FileKind
) -> Response:
    content = files.pdf if kind == "pdf" else files.xlsx
    meta = {
        "filename": store.file_name(credit_code, quarter, kind),
        "content_type": store.PDF_TYPE if kind == "pdf" else store.XLSX_TYPE,
        "sha256": files.pdf_sha256 if kind == "pdf" else files.xlsx_sha256,
    }
    return file_download(content, meta)


@router.get("/self-inspection", summary="Quarterly self-inspection reports: each visible enterprise's status")
def statuses(
    request: Request,
    scope: CurrentScope,
    enterprise_id: int | None = None,
    year: int | None = None,
    quarter: Annotated[
        int | None, Query(description="1..4, with year; neither: the last finished quarter")
    ] = None,
) -> dict[str, Any]:
    if enterprise_id is not None:
        scope.require_enterprise(enterprise_id)
    q = chosen_quarter(year, quarter)
    due_days = settings_of(request).om_self_inspection_due_days
    with engine_of(request).connect() as conn:
        if enterprise_id is not None:
            get_enterprise(conn, enterprise_id)  # NotFound for admin too
        rows = status_rows(conn, scope, q, due_days, enterprise_id)
    return {"year": q.year, "quarter": q.quarter, "due_on": q.due_on(due_days), "rows": rows}


def _preview(
    request: Request, scope: Scope, enterprise_id: int, year: int, quarter: int, kind: FileKind
) -> Response:
    scope.require_enterprise(enterprise_id)
    q = quarter_of(year, quarter)
    require_readable_quarter(scope, q)
    files = preview_files(request, enterprise_id, q)
    with engine_of(request).connect() as conn:
        credit_code = str(get_enterprise(conn, enterprise_id)["credit_code"])
    return preview_download(files, credit_code, q, kind)


@router.get("/self-inspection/preview.pdf", summary="The report generated now as PDF (not stored)")
def preview_pdf(
    request: Request, scope: CurrentScope, enterprise_id: int, year: int, quarter: int
) -> Response:
    return _preview(request, scope, enterprise_id, year, quarter, "pdf")


@router.get("/self-inspection/preview.xlsx", summary="The report generated now as xlsx (not stored)")
def preview_xlsx(
    request: Request, scope: CurrentScope, enterprise_id: int, year: int, quarter: int
) -> Response:
    return _preview(request, scope, enterprise_id, year, quarter, "xlsx")


@router.post(
    "/self-inspection", status_code=201, summary="Submit a finished quarter's self-inspection report"
)
def submit(request: Request, body: SubmissionIn, scope: CurrentScope) -> dict[str, Any]:
    return jsonable(submit_report(request, scope, body))


@router.get("/self-inspection/{report_id}", summary="One submitted report: who, when, the files' SHA-256")
def submission(request: Request, report_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        return jsonable(visible_submission(conn, scope, report_id))


def _download(request: Request, scope: Scope, report_id: int, kind: FileKind) -> Response:
    with engine_of(request).connect() as conn:
        row = visible_submission(conn, scope, report_id)
    require_readable_quarter(scope, Quarter(row["year"], row["quarter"]))
    return stored_file(request, row, kind)


@router.get("/self-inspection/{report_id}/pdf", summary="The submitted PDF")
def submission_pdf(request: Request, report_id: int, scope: CurrentScope) -> Response:
    return _download(request, scope, report_id, "pdf")


@router.get("/self-inspection/{report_id}/xlsx", summary="The submitted xlsx")
def submission_xlsx(request: Request, report_id: int, scope: CurrentScope) -> Response:
    return _download(request, scope, report_id, "xlsx")
