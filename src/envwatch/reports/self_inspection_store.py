"""Submitted quarterly self-inspection reports (季度自查报告, SX-18.7) and each quarter's status.

- :func:`submit` generates the report of a finished quarter (content as of the submission, the xlsx, then
  the PDF naming the xlsx's SHA-256), stores both files in the content-addressed blob store, then writes
  the ``self_inspection_reports`` row in the caller's transaction. Blobs first: a crash in between leaves
  an unreferenced file, never a row without its files (as attachments do). The table is append-only: a
  resubmission is a new row, the earlier ones stay.
- :func:`quarter_status` / :func:`statuses`: ``not_due_yet``, ``due`` (with the due date), ``overdue``,
  ``submitted`` or ``submitted_late`` (the **first** submission after the due date), by
  ``reports.quarters.quarter_state``.

Lives in ``reports`` (it renders reports), above ``operations``, whose tables it reads.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

from sqlalchemy import Connection, insert, or_, select

from envwatch.core.blob_records import store_recorded
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.operations.ledger_schema import self_inspection_reports
from envwatch.registry.schema import contracts, enterprises
from envwatch.registry.service import get_enterprise, region_prefix
from envwatch.reports.quarters import Quarter, QuarterState, quarter_of, quarter_state
from envwatch.reports.self_inspection import gather_self_inspection
from envwatch.reports.self_inspection_data import RateLine, SelfInspection
from envwatch.reports.self_inspection_pdf import render_self_inspection_pdf
from envwatch.reports.self_inspection_xlsx import render_self_inspection_xlsx

NOTE_MAX: Final = 4000
BY_MAX: Final = 100  # self_inspection_reports.submitted_by
LIST_MAX: Final = 1000
PDF_TYPE: Final = "application/pdf"
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FileKind = Literal["pdf", "xlsx"]

_r = self_inspection_reports.c


@dataclass(frozen=True, slots=True)
class ReportFiles:
    pdf: bytes
    xlsx: bytes

    @property
    def pdf_sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()

    @property
    def xlsx_sha256(self) -> str:
        return hashlib.sha256(self.xlsx).hexdigest()


def render_files(data: SelfInspection) -> ReportFiles:
    """The xlsx, then the PDF that names the xlsx's SHA-256 on its last page."""
    xlsx = render_self_inspection_xlsx(data)
    return ReportFiles(pdf=render_self_inspection_pdf(data, hashlib.sha256(xlsx).hexdigest()), xlsx=xlsx)


def file_name(credit_code: str, quarter: Quarter, kind: FileKind, report_id: int | None = None) -> str:
    """季度自查报告-<credit code>-<2026Q1>[-<id>].<kind>; a preview has no id."""
    suffix = "" if report_id is None else f"-{report_id}"
    return f"季度自查报告-{credit_code}-{quarter.label}{suffix}.{kind}"


def submit(
    conn: Connection,
    blobs: BlobStore,
    settings: Settings,
    *,
    enterprise_id: int,
    year: int,
    quarter: int,
    note: str,
    by: str,
    now: datetime,
    rates: Sequence[RateLine] | None = None,
) -> dict[str, Any]:
    """Submit the report of a finished quarter; the new row (with the enterprise's name).

    InvalidInput for a quarter that is not over, a bad quarter or year, a note over ``NOTE_MAX``
    characters or no submitter; NotFound for an unknown enterprise (first). The caller checks who may
    submit."""
    get_enterprise(conn, enterprise_id)
    q = quarter_of(year, quarter)
    if not q.is_over(now):
        raise InvalidInput(
            f"quarter {q.label} is not over yet: it ends at {to_china(q.end):%Y-%m-%d %H:%M} China time; "
            "a self-inspection report is submitted for a finished quarter (preview it meanwhile)"
        )
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"the note is {len(note)} characters long; at most {NOTE_MAX} are kept")
    by = by.strip()
    if not by or len(by) > BY_MAX:
        raise InvalidInput(f"the submitter's name must be 1-{BY_MAX} characters")
    content = gather_self_inspection(conn, settings, enterprise_id, q, now, rates=rates)
    files = render_files(content)
    pdf = store_recorded(conn, blobs, files.pdf, purpose="report", media_type=PDF_TYPE, stored_by=by, now=now)
    xlsx = store_recorded(
        conn, blobs, files.xlsx, purpose="report", media_type=XLSX_TYPE, stored_by=by, now=now
    )
    row = {
        "enterprise_id": enterprise_id,
        "year": q.year,
        "quarter": q.quarter,
        "pdf_sha256": pdf.sha256,
        "xlsx_sha256": xlsx.sha256,
        "note": note,
        "submitted_by": by,
        "submitted_at": now,
    }
    new_id = conn.execute(insert(self_inspection_reports).values(**row)).inserted_primary_key[0]  # type: ignore[index]
    return get_submission(conn, int(new_id))


def _submission_query() -> Any:
    e = enterprises.c
    return select(
        self_inspection_reports,
        e.name.label("enterprise"),
        e.credit_code,
        e.region_code,
    ).join(enterprises, e.id == _r.enterprise_id)


def get_submission(conn: Connection, report_id: int) -> dict[str, Any]:
    row = conn.execute(_submission_query().where(_r.id == report_id)).mappings().first()
    if row is None:
        raise NotFound(f"no self-inspection report with id {report_id}")
    return dict(row)


def list_submissions(
    conn: Connection,
    *,
    enterprise_ids: Collection[int] | None = None,
    year: int | None = None,
    quarter: int | None = None,
    limit: int = LIST_MAX,
) -> list[dict[str, Any]]:
    """Submissions newest first; ``enterprise_ids`` None = every enterprise, empty = none."""
    query = _submission_query().order_by(_r.submitted_at.desc(), _r.id.desc()).limit(min(limit, LIST_MAX))
    if enterprise_ids is not None:
        if not enterprise_ids:
            return []
        query = query.where(_r.enterprise_id.in_(list(enterprise_ids)))
    if year is not None:
        query = query.where(_r.year == year)
    if quarter is not None:
        query = query.where(_r.quarter == quarter)
    return [dict(r) for r in conn.execute(query).mappings()]


def submission_file(blobs: BlobStore, row: dict[str, Any], kind: FileKind) -> tuple[bytes, dict[str, Any]]:
    """The stored file of a submission and the attachment-like row ``web.api.common.file_download`` takes
    (NotFound when the blob is missing; the blob store checks the SHA-256 before returning it)."""
    sha = row["pdf_sha256"] if kind == "pdf" else row["xlsx_sha256"]
    content = blobs.get(sha)
    q = Quarter(row["year"], row["quarter"])
    return content, {
        "filename": file_name(row["credit_code"], q, kind, row["id"]),
        "content_type": PDF_TYPE if kind == "pdf" else XLSX_TYPE,
        "sha256": sha,
    }


@dataclass(frozen=True, slots=True)
class QuarterStatus:
    """One enterprise's report for one quarter."""

    enterprise_id: int
    enterprise: str
    region_code: str
    year: int
    quarter: int
    state: QuarterState
    due_on: date
    submissions: int
    first_submitted_at: datetime | None
    latest_id: int | None
    latest_submitted_at: datetime | None
    latest_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def statuses(
    conn: Connection,
    enterprise_ids: Collection[int] | None,
    year: int,
    quarter: int,
    now: datetime,
    due_days: int,
) -> list[QuarterStatus]:
    """The status of every enterprise in ``enterprise_ids`` (None: all) for the quarter, by region and id."""
    q = quarter_of(year, quarter)
    e = enterprises.c
    query = select(e.id, e.name, e.region_code).order_by(e.region_code, e.id)
    if enterprise_ids is not None:
        if not enterprise_ids:
            return []
        query = query.where(e.id.in_(list(enterprise_ids)))
    found = list(conn.execute(query))
    ids = [r.id for r in found]
    submitted: dict[int, list[Any]] = defaultdict(list)
    for chunk in range(0, len(ids), 500):  # bounded IN lists (SQLite's variable limit)
        rows = conn.execute(
            select(_r.id, _r.enterprise_id, _r.submitted_at, _r.submitted_by)
            .where(_r.enterprise_id.in_(ids[chunk : chunk + 500]), _r.year == q.year, _r.quarter == q.quarter)
            .order_by(_r.submitted_at, _r.id)
        )
        for r in rows:
            submitted[r.enterprise_id].append(r)
    out = []
    for ent in found:
        mine = submitted.get(ent.id, [])
        first = mine[0].submitted_at if mine else None
        latest = mine[-1] if mine else None
        out.append(
            QuarterStatus(
                enterprise_id=ent.id,
                enterprise=ent.name,
                region_code=ent.region_code,
                year=q.year,
                quarter=q.quarter,
                state=quarter_state(q, now, due_days, first),
                due_on=q.due_on(due_days),
                submissions=len(mine),
                first_submitted_at=first,
                latest_id=None if latest is None else latest.id,
                latest_submitted_at=None if latest is None else latest.submitted_at,
                latest_by=None if latest is None else latest.submitted_by,
            )
        )
    return out


def quarter_status(
    conn: Connection, enterprise_id: int, year: int, quarter: int, now: datetime, due_days: int
) -> QuarterStatus:
    """One enterprise's status (NotFound for an unknown enterprise)."""
    found = statuses(conn, [enterprise_id], year, quarter, now, due_days)
    if not found:
        raise NotFound(f"no enterprise with id {enterprise_id}")
    return found[0]


def region_statuses(
    conn: Connection, region_code: str, year: int, quarter: int, now: datetime, due_days: int
) -> list[QuarterStatus]:
    """Every enterprise of a region (2, 4 or 6 digits; a code ending in 00 names the province or city)."""
    prefix = region_prefix(region_code)
    query = select(enterprises.c.id).where(enterprises.c.region_code.startswith(prefix, autoescape=True))
    return statuses(conn, list(conn.execute(query).scalars()), year, quarter, now, due_days)


def operator_contracted(conn: Connection, operator_id: int, enterprise_id: int, quarter: Quarter) -> bool:
    """Whether the operator had a contract with the enterprise (whole or one outlet) on a day of the quarter."""
    c = contracts.c
    query = select(c.id).where(
        c.operator_id == operator_id,
        c.enterprise_id == enterprise_id,
        c.valid_from <= quarter.last_day,
        or_(c.valid_to.is_(None), c.valid_to >= quarter.first_day),
    )
    return conn.execute(query.limit(1)).first() is not None
