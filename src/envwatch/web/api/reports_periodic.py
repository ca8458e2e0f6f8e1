"""REST API: periodic reports (定期报告: 日报 / 月报 / 季报 / 年报; issue 9, ``reports.periodic*``).

- ``GET /reports/periodic?period=&scope_kind=&scope_ref=``: the generated reports the caller may see,
  newest period first (without their figures);
- ``POST /reports/periodic`` ``{period, of, scope_kind, scope_ref}``: generate one now (write ``report``);
  a period that has begun but not ended is reported "to date";
- ``GET /reports/periodic/{id}``: one report with its figures (JSON);
- ``GET /reports/periodic/{id}/xlsx`` and ``/pdf``: the stored files, streamed from the blob store.

Who sees a report: admin every one; a regulator those of a region inside its own and of the enterprises it
sees (the platform-wide ``all`` reports and operator reports: admin only, since they cover other regions);
an enterprise its own enterprise reports; an operator its own operator reports; field staff, auditors and
testing agencies none (403). Who generates: the same, for what they would see — an enterprise for itself,
an operator for itself, a regulator for its region, a region inside it or an enterprise in it; ``all`` is
admin only. Order of checks: not visible → 404 exactly as missing, then the role (403), then the input (422).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import NotFound
from envwatch.registry.service import get_enterprise, region_prefix
from envwatch.registry.service_operators import get_operator
from envwatch.reports import periodic_store as store
from envwatch.reports.periodic_period import ReportScope, parse_period, report_scope
from envwatch.web.api.common import engine_of, jsonable, settings_of
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1", tags=["reports"])

READERS = frozenset({"admin", "regulator", "enterprise", "operator"})
FileKind = Literal["pdf", "xlsx"]


class GenerateIn(BaseModel):
    period: str = Field(description="day | month | quarter | year")
    of: str = Field(description="2026-10-05 (day), 2026-10 (month), 2026Q3 (quarter), 2026 (year)")
    scope_kind: str = Field(default="all", description="all | region | enterprise | operator")
    scope_ref: str = Field(default="", description="region code, enterprise id or operator id ('' for all)")


def require_reader(scope: Scope) -> None:
    if scope.role not in READERS:
        raise HTTPException(403, f"role {scope.role} has no periodic reports")


def _regulator_prefix(scope: Scope) -> str | None:
    code = scope.principal.region_code
    return region_prefix(code) if code else None


def sees_report(scope: Scope, kind: str, ref: str) -> bool:
    """Whether the caller may read (or generate) a report of scope (kind, ref)."""
    role, who = scope.role, scope.principal
    if role == "admin":
        return True
    if role == "regulator":
        mine = _regulator_prefix(scope)
        if mine is None:
            return False
        if kind == "region":
            return ref.startswith(mine)
        return kind == "enterprise" and ref.isdigit() and scope.sees_enterprise(int(ref))
    if role == "enterprise":
        return kind == "enterprise" and who.enterprise_id is not None and ref == str(who.enterprise_id)
    if role == "operator":
        return kind == "operator" and who.operator_id is not None and ref == str(who.operator_id)
    return False


def visible_report(conn: Connection, scope: Scope, report_id: int) -> dict[str, Any]:
    """A report the caller sees, or NotFound exactly as for a missing one."""
    require_reader(scope)
    try:
        row = store.get_report(conn, report_id)
    except NotFound:
        row = None
    if row is None or not sees_report(scope, row["scope_kind"], row["scope_ref"]):
        raise NotFound(f"no periodic report with id {report_id}")
    return row


def require_generator(conn: Connection, scope: Scope, wanted: ReportScope) -> None:
    """The subject exists and is visible (404 otherwise), then the role may generate for it (403)."""
    require_reader(scope)
    if wanted.kind == "enterprise":
        if not scope.sees_enterprise(wanted.ident):
            raise NotFound(f"no enterprise with id {wanted.ident}")
        get_enterprise(conn, wanted.ident)
    elif wanted.kind == "operator":
        if not scope.sees_operator(wanted.ident):
            raise NotFound(f"no operator with id {wanted.ident}")
        get_operator(conn, wanted.ident)
    scope.require_write("report")
    if not sees_report(scope, wanted.kind, wanted.ref):
        what = "the whole platform" if wanted.kind == "all" else f"{wanted.kind} {wanted.ref}"
        raise HTTPException(403, f"role {scope.role} may not generate periodic reports for {what}")


def listing(
    conn: Connection, scope: Scope, period: str | None, scope_kind: str | None, scope_ref: str | None
) -> list[dict[str, Any]]:
    require_reader(scope)
    rows = store.list_reports(conn, period_kind=period, scope_kind=scope_kind, scope_ref=scope_ref)
    return [r for r in rows if sees_report(scope, r["scope_kind"], r["scope_ref"])]


def generate_report(request: Request, scope: Scope, body: GenerateIn) -> dict[str, Any]:
    period = parse_period(body.period, body.of)
    wanted = report_scope(body.scope_kind, body.scope_ref)
    engine, settings = engine_of(request), settings_of(request)
    with engine.connect() as conn:
        require_generator(conn, scope, wanted)
    return store.generate(engine, settings, BlobStore.from_settings(settings), period, wanted,
                          trigger="demand", by=scope.principal.name, now=utcnow())  # fmt: skip


def report_out(row: dict[str, Any]) -> dict[str, Any]:
    out = jsonable(row)
    out["first_day"], out["last_day"] = row["first_day"].isoformat(), row["last_day"].isoformat()
    return out


def stored_file(request: Request, row: dict[str, Any], kind: FileKind) -> Response:
    """The file streamed from the blob store (404 when it is missing there)."""
    blobs = BlobStore.from_settings(settings_of(request))
    meta = store.file_meta(row, kind)
    try:
        size = blobs.size(meta["sha256"])
        chunks: Iterator[bytes] = blobs.iter_range(meta["sha256"])
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    name = meta["filename"]
    fallback = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return StreamingResponse(
        chunks,
        media_type=meta["content_type"],
        headers={
            "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}",
            "Content-Length": str(size),
            "X-Content-Type-Options": "nosniff",
            "X-Content-SHA256": meta["sha256"],
        },
    )


@router.get("/reports/periodic", summary="Generated periodic reports the caller may see")
def list_periodic(
    request: Request,
    scope: CurrentScope,
    period: str | None = None,
    scope_kind: str | None = None,
    scope_ref: str | None = None,
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        rows = listing(conn, scope, period, scope_kind, scope_ref)
    return {"reports": [report_out(r) for r in rows]}


@router.post("/reports/periodic", status_code=201, summary="Generate a periodic report now (xlsx + PDF)")
def generate(request: Request, body: GenerateIn, scope: CurrentScope) -> dict[str, Any]:
    return report_out(generate_report(request, scope, body))


@router.get("/reports/periodic/{report_id}", summary="One periodic report with its figures")
def get_periodic(request: Request, report_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        return report_out(visible_report(conn, scope, report_id))


def _download(request: Request, scope: Scope, report_id: int, kind: FileKind) -> Response:
    with engine_of(request).connect() as conn:
        row = visible_report(conn, scope, report_id)
    return stored_file(request, row, kind)


@router.get("/reports/periodic/{report_id}/xlsx", summary="The report's stored xlsx")
def periodic_xlsx(request: Request, report_id: int, scope: CurrentScope) -> Response:
    return _download(request, scope, report_id, "xlsx")


@router.get("/reports/periodic/{report_id}/pdf", summary="The report's stored PDF")
def periodic_pdf(request: Request, report_id: int, scope: CurrentScope) -> Response:
    return _download(request, scope, report_id, "pdf")
