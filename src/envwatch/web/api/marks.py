"""Marks (标记) API: mark, supersede, withdraw, review; list marks of a device; codes; attachments.

Marks are append-only: a correction is ``POST /{id}/supersede`` (a new mark, the old one kept), a
cancellation ``POST /{id}/withdraw``. Who did it is the caller (``created_by`` = the principal). Times are
ISO 8601; a time without offset is China time; answers are in China time.

Scopes (``web.scope``): a mark is seen by whoever sees its device (an auditor: only marks overlapping its
period) and is 404 otherwise, exactly as a missing one; marking is for admin, the enterprise and its
operator, reviewing (审核) for admin and the regulator.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.monitoring import marks_store as store
from envwatch.monitoring.marks import MarkDraft, MarkPolicy, effect_in_force, mark_codes
from envwatch.registry.attachments import get_attachment
from envwatch.registry.schema import devices
from envwatch.web.api.common import attachment_download, engine_of, jsonable, parse_time, settings_of
from envwatch.web.auth import CurrentPrincipal
from envwatch.web.scope import CurrentScope

router = APIRouter(prefix="/api/v1/marks", tags=["marks"])

Source = Literal["enterprise", "operator", "regulator", "auto", "api"]


class MarkIn(BaseModel):
    factor: str | None = Field(default=None, description="HJ 212 factor code; empty = the whole device")
    start: str = Field(description="ISO 8601, inclusive; no offset = China time")
    end: str = Field(description="ISO 8601, exclusive")
    code: str = Field(description="a mark code from GET /api/v1/marks/codes")
    reason: str = Field(description="标记原因")
    source: Source = "api"


class NewMarkIn(MarkIn):
    mn: str = Field(description="the device (数采仪) MN")


class WithdrawIn(BaseModel):
    reason: str
    source: Source = "api"


class ReviewIn(BaseModel):
    decision: Literal["approved", "rejected"]
    note: str = ""


def _policy(request: Request) -> MarkPolicy:
    return MarkPolicy.from_settings(settings_of(request))


def _draft(body: MarkIn) -> MarkDraft:
    start = parse_time("start", body.start)
    end = parse_time("end", body.end)
    if start is None or end is None:
        raise HTTPException(422, "start and end are required")
    return MarkDraft(body.factor, start, end, body.code, body.reason, body.source)


def _mn_of(conn: Connection, device_id: int) -> str | None:
    mn: str | None = conn.execute(select(devices.c.mn).where(devices.c.id == device_id)).scalar()
    return mn


def _out(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    out = jsonable(row)
    out["late"] = bool(row["late"])
    out["mn"] = _mn_of(conn, row["device_id"])
    code = mark_codes().get(row["code"])
    out["code_name_zh"] = code.name_zh if code else None
    return out


@router.get("/codes", summary="Mark codes: working-condition, equipment and HJ 212 flag codes, with effect")
def list_codes(_who: CurrentPrincipal) -> list[dict[str, Any]]:
    return [c.as_dict() for c in mark_codes().values()]


@router.post(
    "", status_code=201, summary="Mark a time range of a device or one factor (late ones are flagged)"
)
def create(request: Request, body: NewMarkIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        device_id = scope.device_id(conn, body.mn)  # 404 first: a refusal must not reveal the device
        scope.require_write("mark")
        row = store.create_mark(
            conn,
            device_id,
            _draft(body),
            created_by=scope.principal.name,
            now=utcnow(),
            policy=_policy(request),
        )
        return _out(conn, row)


@router.get("", summary="Marks overlapping a period (only those in force unless include_superseded)")
def list_(
    request: Request,
    scope: CurrentScope,
    mn: str | None = None,
    from_: Annotated[str | None, Query(alias="from", description="ISO 8601; default to - 31 days")] = None,
    to: Annotated[str | None, Query(description="ISO 8601, exclusive; default now + 31 days")] = None,
    include_superseded: bool = False,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[dict[str, Any]]:
    engine = engine_of(request)
    device_id = None
    if mn:
        with engine.connect() as conn:
            device_id = scope.device_id(conn, mn)
    # marks may end a little ahead (planned maintenance), so the default window reaches past now
    end = parse_time("to", to) or utcnow() + timedelta(days=31)
    start = parse_time("from", from_) or end - timedelta(days=62)
    if start >= end:
        raise HTTPException(422, "from must be before to")
    scope.require_period(start, end)
    # every device, one device, or each visible device merged in start order (``list_marks`` takes one
    # device; each query's first ``limit`` rows hold the merge's first ``limit``)
    targets: Sequence[int | None] = (
        [device_id] if device_id is not None or scope.device_ids is None else sorted(scope.device_ids)
    )
    with engine.connect() as conn:
        rows = [
            r
            for one in targets
            for r in store.list_marks(
                conn, one, start, end, include_superseded=include_superseded, limit=limit
            )
        ]
        rows.sort(key=lambda r: (r["start_at"], r["id"]))
        return [_out(conn, r) for r in rows[:limit]]


@router.get("/{mark_id}", summary="One mark with its history chain, reviews, attachments and effect now")
def get(request: Request, mark_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        scope.require_mark(conn, mark_id)
        row = store.get_mark(conn, mark_id)
        chain = store.mark_history(conn, mark_id)
        reviews = store.mark_reviews_of(conn, mark_id)
        in_force = chain[-1]["id"] == mark_id and row["action"] == "mark"
        out = _out(conn, row)
        out["in_force"] = in_force
        # the effect this version has now (None when superseded or a withdrawal): what rates will use
        out["effect"] = (
            effect_in_force(row["code"], reviews[-1]["decision"] if reviews else None).value
            if in_force
            else None
        )
        out["history"] = [_out(conn, r) for r in chain]
        out["reviews"] = [jsonable(r) for r in reviews]
        out["attachments"] = [jsonable(a) for a in store.mark_attachments(conn, mark_id)]
        return out


@router.post("/{mark_id}/supersede", status_code=201, summary="Correct a mark: a new version supersedes it")
def supersede(request: Request, mark_id: int, body: MarkIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        scope.require_mark(conn, mark_id)
        scope.require_write("mark")
        row = store.supersede_mark(
            conn,
            mark_id,
            _draft(body),
            created_by=scope.principal.name,
            now=utcnow(),
            policy=_policy(request),
        )
        return _out(conn, row)


@router.post(
    "/{mark_id}/withdraw", status_code=201, summary="Withdraw a mark (a withdrawal row supersedes it)"
)
def withdraw(request: Request, mark_id: int, body: WithdrawIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        scope.require_mark(conn, mark_id)
        scope.require_write("mark")
        row = store.withdraw_mark(
            conn,
            mark_id,
            reason=body.reason,
            source=body.source,
            created_by=scope.principal.name,
            now=utcnow(),
            policy=_policy(request),
        )
        return _out(conn, row)


@router.post("/{mark_id}/reviews", status_code=201, summary="Approve or reject (审核) the latest version")
def review(request: Request, mark_id: int, body: ReviewIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        scope.require_mark(conn, mark_id)
        scope.require_write("mark_review")
        row = store.review_mark(
            conn,
            mark_id,
            decision=body.decision,
            note=body.note,
            reviewed_by=scope.principal.name,
            now=utcnow(),
        )
        return jsonable(row)


def _blobs(request: Request) -> BlobStore:
    return BlobStore.from_settings(settings_of(request))


@router.get("/{mark_id}/attachments/{attachment_id}", summary="Download an attachment of a mark")
def download(request: Request, mark_id: int, attachment_id: int, scope: CurrentScope) -> Response:
    with engine_of(request).connect() as conn:
        scope.require_mark(conn, mark_id)
        found = get_attachment(conn, attachment_id)
    return attachment_download(request, found, "mark", mark_id, attachment_id)


# Uploading needs python-multipart (FastAPI refuses to declare a form route without it); while it is not
# installed the endpoint is absent, and the rest of the API works.
MULTIPART = importlib.util.find_spec("python_multipart") is not None

if MULTIPART:  # pragma: no cover - depends on the environment
    from fastapi import UploadFile

    @router.post("/{mark_id}/attachments", status_code=201, summary="Attach a file (proof, record) to a mark")
    def upload(request: Request, mark_id: int, file: UploadFile, scope: CurrentScope) -> dict[str, Any]:
        with engine_of(request).connect() as conn:
            scope.require_mark(conn, mark_id)
        scope.require_write("mark")
        content = file.file.read()  # a sync route: FastAPI runs it in a thread, the DB work does not block
        with engine_of(request).begin() as conn:
            row = store.add_mark_attachment(
                conn,
                _blobs(request),
                mark_id,
                filename=file.filename or "attachment",
                content=content,
                content_type=file.content_type or "",
                added_by=scope.principal.name,
                now=utcnow(),
            )
        return jsonable(row)
