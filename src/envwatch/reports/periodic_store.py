"""Generated periodic reports (定期报告): made, stored, listed and read back (``report_files``).

:func:`generate` gathers the figures (outside any transaction: the rates refresh their stored day counts),
renders the xlsx and the PDF, then in one transaction puts both files into the content-addressed blob store
with a ``blob_records`` row each (``record_blob``, purpose ``report``), inserts the ``report_files`` row with
the figures as JSON and logs it as evidence (kind ``report_file``). Blobs first: a crash in between leaves
an unreferenced file, never a row without its files. The table is append-only: generating a report again
makes a new row, and the newest of a (period, scope) is the one shown first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import Connection, Engine, insert, select

from envwatch.core.blob_records import store_recorded
from envwatch.core.blobs import BlobStore
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.settings import Settings
from envwatch.reports.periodic import PeriodicFigures, gather_periodic
from envwatch.reports.periodic_pdf import render_periodic_pdf
from envwatch.reports.periodic_period import KIND_ZH, Period, ReportScope, check_begun
from envwatch.reports.periodic_schema import report_files
from envwatch.reports.periodic_xlsx import render_periodic_xlsx

PDF_TYPE: Final = "application/pdf"
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BY_MAX: Final = 100  # report_files.generated_by
LIST_MAX: Final = 1000
Trigger = Literal["schedule", "demand"]
FileKind = Literal["pdf", "xlsx"]

_r = report_files.c


@dataclass(frozen=True, slots=True)
class RenderedReport:
    figures: PeriodicFigures
    xlsx: bytes
    pdf: bytes


def render_report(
    engine: Engine, settings: Settings, period: Period, scope: ReportScope, now: datetime
) -> RenderedReport:
    """The figures and both files, nothing stored (InvalidInput for a period that has not begun)."""
    check_begun(period, now)
    figures = gather_periodic(engine, settings, period, scope, now)
    return RenderedReport(figures, render_periodic_xlsx(figures), render_periodic_pdf(figures))


def generate(
    engine: Engine,
    settings: Settings,
    blobs: BlobStore,
    period: Period,
    scope: ReportScope,
    *,
    trigger: Trigger,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Make, store and record one report; the new ``report_files`` row."""
    by = by.strip()
    if not by or len(by) > BY_MAX:
        raise InvalidInput(f"the name of who generates a report must be 1-{BY_MAX} characters")
    made = render_report(engine, settings, period, scope, now)
    with engine.begin() as conn:
        xlsx = store_recorded(conn, blobs, made.xlsx, purpose="report", media_type=XLSX_TYPE, stored_by=by,
                              now=now)  # fmt: skip
        pdf = store_recorded(
            conn, blobs, made.pdf, purpose="report", media_type=PDF_TYPE, stored_by=by, now=now
        )
        row = {
            "period_kind": period.kind,
            "first_day": period.first_day,
            "last_day": period.last_day,
            "scope_kind": scope.kind,
            "scope_ref": scope.ref,
            "xlsx_sha256": xlsx.sha256,
            "pdf_sha256": pdf.sha256,
            "figures": made.figures.as_json(),
            "trigger": trigger,
            "generated_by": by,
            "generated_at": now,
        }
        new_id = int(conn.execute(insert(report_files).values(**row)).inserted_primary_key[0])  # type: ignore[index]
        submit_row(conn, report_files, new_id, kind="report_file", now=now)
        return get_report(conn, new_id)


def get_report(conn: Connection, report_id: int) -> dict[str, Any]:
    row = conn.execute(select(report_files).where(_r.id == report_id)).mappings().first()
    if row is None:
        raise NotFound(f"no periodic report with id {report_id}")
    return dict(row)


def list_reports(
    conn: Connection,
    *,
    period_kind: str | None = None,
    scope_kind: str | None = None,
    scope_ref: str | None = None,
    limit: int = LIST_MAX,
    with_figures: bool = False,
) -> list[dict[str, Any]]:
    """Reports newest period first, then newest made first (the figures only when asked: they are big)."""
    columns = [c for c in report_files.c if with_figures or c.name != "figures"]
    query = select(*columns).order_by(_r.first_day.desc(), _r.period_kind, _r.id.desc())
    if period_kind:
        query = query.where(_r.period_kind == period_kind)
    if scope_kind:
        query = query.where(_r.scope_kind == scope_kind)
    if scope_ref is not None:
        query = query.where(_r.scope_ref == scope_ref)
    return [dict(r) for r in conn.execute(query.limit(min(limit, LIST_MAX))).mappings()]


def exists(conn: Connection, period: Period, scope: ReportScope) -> bool:
    """Whether a report of this period and scope has been made (by anyone, either trigger)."""
    query = select(_r.id).where(
        _r.period_kind == period.kind,
        _r.first_day == period.first_day,
        _r.last_day == period.last_day,
        _r.scope_kind == scope.kind,
        _r.scope_ref == scope.ref,
    )
    return conn.execute(query.limit(1)).first() is not None


def file_name(row: dict[str, Any], kind: FileKind) -> str:
    """定期报告-<月报>-<2026-10>-<scope>-<id>.<kind>"""
    period = Period(row["period_kind"], row["first_day"], row["last_day"])
    scope = ReportScope(row["scope_kind"], row["scope_ref"])
    return f"定期报告-{KIND_ZH[period.kind]}-{period.label}-{scope.label}-{row['id']}.{kind}"


def file_meta(row: dict[str, Any], kind: FileKind) -> dict[str, Any]:
    """What ``web.api.common.file_download`` takes: file name, content type, SHA-256."""
    return {
        "filename": file_name(row, kind),
        "content_type": PDF_TYPE if kind == "pdf" else XLSX_TYPE,
        "sha256": row["pdf_sha256"] if kind == "pdf" else row["xlsx_sha256"],
    }
