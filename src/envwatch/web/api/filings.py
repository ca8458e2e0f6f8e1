"""Filings (备案) API: acceptance, filing and change filings, their steps, deadlines and attachments.

Deadline status (SX-14, SX-15) is computed at the time of the request (``envwatch.core.clock.utcnow``).

Scopes (``web.scope``): a filing is seen by whoever sees its outlet or device (an enterprise-wide one by
whoever sees the whole enterprise); recording filings, steps and attachments is the enterprise's (and
admin's). A filing outside the scope is 404 exactly as a missing one.

Uploading an attachment (附件) takes either a ``multipart/form-data`` form with one ``file`` field (needs
the ``python-multipart`` package, which Starlette uses for forms) or the raw file as the request body,
its name in ``?filename=`` and its type in ``Content-Type``. The raw form needs no extra package and
lets a script upload with ``curl --data-binary @scan.pdf``.
"""

from __future__ import annotations

import importlib.util
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.workdays import WorkdayCalendar
from envwatch.registry import filings as service
from envwatch.web.api.common import engine_of, file_download, jsonable, parse_time, settings_of
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/filings", tags=["filings"])

Kind = Literal["acceptance", "filing", "major_change", "gas_core_part", "content_change"]
Step = Literal["filed", "accepted", "debug_tested", "reconnected", "withdrawn"]
Status = Literal["none", "due", "met", "overdue", "withdrawn", "unknown"]

# A multipart body carries boundaries and part headers around the file; this much slack on top of the
# file limit keeps a file just under the limit from being refused for its envelope.
_MULTIPART_SLACK = 16 * 1024
_MAX_LIST = 10000


def visible_filing(request: Request, scope: Scope, filing_id: int) -> None:
    """404 for a filing outside the scope, exactly as for a missing one."""
    with engine_of(request).connect() as conn:
        scope.require_filing(conn, filing_id)


class FilingIn(BaseModel):
    kind: Kind
    enterprise_id: int
    outlet_id: int | None = None
    device_id: int | None = None
    title: str = Field(min_length=1, max_length=300)
    event_at: str = Field(description="ISO 8601; no offset = China time. What the deadline counts from")
    notes: str = ""


class StepIn(BaseModel):
    step: Step
    done_at: str = Field(description="ISO 8601; no offset = China time. Not in the future")
    note: str = ""


def workday_calendar(request: Request) -> WorkdayCalendar:
    return WorkdayCalendar.from_settings(settings_of(request))


def blob_store(request: Request) -> BlobStore:
    return BlobStore.from_settings(settings_of(request))


def _time(name: str, text: str) -> datetime:
    moment = parse_time(name, text)
    if moment is None:
        raise HTTPException(422, f"{name} is required (ISO 8601, e.g. 2026-11-22T08:00:00+08:00)")
    return moment


def _filing_out(row: dict[str, Any]) -> dict[str, Any]:
    out = jsonable({k: v for k, v in row.items() if k not in ("steps", "attachments", "deadline")})
    if "deadline" in row:
        out["deadline"] = jsonable(row["deadline"])
    if "steps" in row:
        out["steps"] = [jsonable(s) for s in row["steps"]]
    if "attachments" in row:
        out["attachments"] = [jsonable(a) for a in row["attachments"]]
    return out


@router.post("", status_code=201, summary="Record a filing (备案记录); event_at may lie ahead")
def create_filing(request: Request, body: FilingIn, scope: CurrentScope) -> dict[str, Any]:
    # what the body names must be visible (404 as for a missing one), then the right to file (403)
    scope.require_enterprise(body.enterprise_id)
    if body.outlet_id is not None:
        scope.require_outlet(body.outlet_id)
    if body.device_id is not None:
        scope.require_device_id(body.device_id)
    scope.require_write("filing")
    now = utcnow()
    row = service.create_filing(
        engine_of(request),
        kind=body.kind,
        enterprise_id=body.enterprise_id,
        outlet_id=body.outlet_id,
        device_id=body.device_id,
        title=body.title,
        event_at=_time("event_at", body.event_at),
        notes=body.notes,
        created_by=scope.principal.name,
        now=now,
    )
    return _filing_out(service.get_filing(engine_of(request), row["id"], now, workday_calendar(request)))


@router.get("", summary="Filings with their deadline status now (SX-14, SX-15)")
def list_filings(
    request: Request,
    scope: CurrentScope,
    enterprise_id: int | None = None,
    outlet_id: int | None = None,
    kind: Kind | None = None,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=_MAX_LIST)] = 1000,
) -> list[dict[str, Any]]:
    now, calendar = utcnow(), workday_calendar(request)
    if scope.enterprise_ids is None:
        rows = service.list_filings(
            engine_of(request),
            now,
            calendar,
            enterprise_id=enterprise_id,
            outlet_id=outlet_id,
            kind=kind,
            status=status,
            limit=limit,
        )
        return [_filing_out(r) for r in rows]
    # One query per visible enterprise, merged newest event first (``list_filings`` takes one enterprise).
    # Where only some outlets of an enterprise are seen, rows are filtered after the query, so that query
    # reads up to the route's maximum instead of ``limit``.
    wanted = scope.enterprise_ids if enterprise_id is None else scope.enterprise_ids & {enterprise_id}
    merged: list[dict[str, Any]] = []
    for one in sorted(wanted):
        whole = scope.whole_enterprise_ids is not None and one in scope.whole_enterprise_ids
        found = service.list_filings(
            engine_of(request),
            now,
            calendar,
            enterprise_id=one,
            outlet_id=outlet_id,
            kind=kind,
            status=status,
            limit=limit if whole and scope.period is None else _MAX_LIST,
        )
        merged.extend(r for r in found if scope.sees_filing(r))
    merged.sort(key=lambda r: (r["event_at"], r["id"]), reverse=True)
    return [_filing_out(r) for r in merged[:limit]]


@router.get("/{filing_id}", summary="One filing with its steps, attachments and deadline status")
def get_filing(request: Request, filing_id: int, scope: CurrentScope) -> dict[str, Any]:
    visible_filing(request, scope, filing_id)
    return _filing_out(service.get_filing(engine_of(request), filing_id, utcnow(), workday_calendar(request)))


@router.get(
    "/{filing_id}/status",
    summary="Deadline status only; 422 when the working-day calendar does not cover the year",
)
def filing_status(request: Request, filing_id: int, scope: CurrentScope) -> dict[str, Any]:
    visible_filing(request, scope, filing_id)
    return jsonable(service.filing_status(engine_of(request), filing_id, utcnow(), workday_calendar(request)))


@router.post("/{filing_id}/steps", status_code=201, summary="Append a step (append-only; first one counts)")
def add_step(request: Request, filing_id: int, body: StepIn, scope: CurrentScope) -> dict[str, Any]:
    visible_filing(request, scope, filing_id)
    scope.require_write("filing")
    now = utcnow()
    service.add_step(
        engine_of(request),
        filing_id,
        step=body.step,
        done_at=_time("done_at", body.done_at),
        note=body.note,
        recorded_by=scope.principal.name,
        now=now,
    )
    return _filing_out(service.get_filing(engine_of(request), filing_id, now, workday_calendar(request)))


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        413,
        f"attachment is over the limit of {limit} bytes (setting ENVWATCH_MAX_ATTACHMENT_BYTES); "
        "nothing was stored",
    )


async def _read_capped(request: Request, cap: int, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``cap`` (not after buffering it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:  # Content-Length may be absent (chunked) or lie
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/{filing_id}/attachments",
    status_code=201,
    summary="Upload an attachment (附件): multipart field 'file', or the raw body with ?filename=",
)
async def upload_attachment(
    request: Request,
    filing_id: int,
    scope: CurrentScope,
    filename: Annotated[str | None, Query(description="file name when the body is the raw file")] = None,
) -> dict[str, Any]:
    # checked before the body is read: nothing is stored, nor even received, for a refused upload
    await run_in_threadpool(visible_filing, request, scope, filing_id)
    scope.require_write("filing")
    limit = settings_of(request).max_attachment_bytes
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        if (
            importlib.util.find_spec("python_multipart") is None
            and importlib.util.find_spec("multipart") is None
        ):
            raise HTTPException(
                415,
                "multipart uploads need the python-multipart package on the server; send the raw file "
                "as the body with ?filename= instead",
            )
        # The envelope is checked before parsing, the file itself after (Starlette spools it to disk).
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
            raise _too_large(limit)
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(422, "multipart upload needs one file in the field 'file'")
            content = await upload.read(limit + 1)
            if len(content) > limit:
                raise _too_large(limit)
            name = upload.filename or filename or ""
            file_type = upload.content_type or "application/octet-stream"
    else:
        content = await _read_capped(request, limit, limit)
        name = filename or ""
        file_type = content_type or "application/octet-stream"
    if not name:
        raise HTTPException(422, "attachment needs a file name (?filename= for a raw upload)")
    row = await run_in_threadpool(
        service.attach_to_filing,
        engine_of(request),
        blob_store(request),
        filing_id,
        filename=name,
        content=content,
        content_type=file_type,
        added_by=scope.principal.name,
        now=utcnow(),
    )
    return jsonable(row)


@router.get("/{filing_id}/attachments", summary="Attachments of a filing")
def list_attachments(request: Request, filing_id: int, scope: CurrentScope) -> list[dict[str, Any]]:
    visible_filing(request, scope, filing_id)
    filing = service.get_filing(engine_of(request), filing_id, utcnow(), workday_calendar(request))
    return [jsonable(a) for a in filing["attachments"]]


@router.get(
    "/{filing_id}/attachments/{attachment_id}",
    summary="Download an attachment (its SHA-256 is checked before a byte is sent)",
    response_class=Response,
)
def download_attachment(
    request: Request, filing_id: int, attachment_id: int, scope: CurrentScope
) -> Response:
    visible_filing(request, scope, filing_id)
    row, content = service.read_filing_attachment(
        engine_of(request), blob_store(request), filing_id, attachment_id
    )
    return file_download(content, row)
