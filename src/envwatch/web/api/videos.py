"""REST API: video records (视频记录, WZ-A1): resumable uploads (tus 1.0.0), records, search, playback.

Uploads speak the tus 1.0.0 core protocol with the ``creation`` and ``expiration`` extensions, so
tus-js-client (browser) and tuspy (``envwatch evidence videos upload``) work unchanged:

- ``OPTIONS /uploads``: ``Tus-Version``, ``Tus-Extension``, ``Tus-Max-Size`` (no account needed);
- ``POST /uploads`` (``Upload-Length``, ``Upload-Metadata``): 201 with ``Location``; 413 over the limit;
- ``HEAD /uploads/{id}``: ``Upload-Offset``, ``Upload-Length``, ``Cache-Control: no-store``;
- ``PATCH /uploads/{id}`` (``application/offset+octet-stream``, ``Upload-Offset`` = the current offset,
  else 409): the body is streamed to disk as it arrives, never read whole; 204 with the new offset;
- every answer carries ``Tus-Resumable: 1.0.0``; a request with another version gets 412. There is no
  DELETE: an unfinished upload expires (``Upload-Expires``) and only its partial file is cleaned up.

Who: the ``video`` write kind (admin, agency). An upload belongs to the account that created it; any other
account gets 404. Records: ``POST /videos`` finishes an upload into a record (idempotent on the upload),
``GET /videos`` searches, ``GET /videos/{id}`` reads one, ``GET /videos/{id}/content`` plays it with HTTP
range requests (206/416), ``POST /videos/{id}/annotations`` adds a note. Records are seen as
``Scope.sees_video`` says; one outside the scope is 404 exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import EnvwatchError, InvalidInput
from envwatch.evidence import uploads
from envwatch.evidence.video_search import detail, record_row, search
from envwatch.evidence.video_stages import STAGES
from envwatch.evidence.videos import VideoDraft, annotate, finish
from envwatch.web.api.common import engine_of, jsonable, parse_time, settings_of
from envwatch.web.api.sampling_checks import moment_required, require_reader
from envwatch.web.api.sampling_common import own_agency, visible_agency_ids, visible_enterprise_ids
from envwatch.web.scope import CurrentScope, Scope

TUS_VERSION: Final = "1.0.0"
TUS: Final = {"Tus-Resumable": TUS_VERSION}
OFFSET_STREAM: Final = "application/offset+octet-stream"


class TusRoute(APIRoute):
    """A route of the tus protocol: 412 for another protocol version before anything else, and
    ``Tus-Resumable`` on every answer, errors included (authentication's 401 and scope's 403 too)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            if request.method != "OPTIONS" and request.headers.get("tus-resumable") != TUS_VERSION:
                return JSONResponse(
                    {"detail": f"this server speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}"},
                    status_code=412,
                    headers=TUS | {"Tus-Version": TUS_VERSION},
                )
            try:
                response = await handler(request)
            except HTTPException as exc:
                response = JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
            except EnvwatchError as exc:
                response = JSONResponse({"detail": exc.message}, exc.http_status)
            response.headers.update(TUS)
            return response

        return tus_handler


router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])
tus = APIRouter(route_class=TusRoute)


def _http_date(moment: datetime) -> str:
    """RFC 9110 date (``Upload-Expires``)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def byte_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """The one byte range a ``Range`` header asks for, as ``[start, end)``; "unsatisfiable" (416) when it
    starts past the end; None to send the whole file: no header, another unit, several ranges or a
    malformed one (a server may ignore Range, RFC 9110 §14.2; players ask for one range at a time)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or "," in spec or not dash:
        return None
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or first == last == "":
        return None
    if first == "":  # a suffix: the last N bytes
        suffix = int(last)
        return (max(size - suffix, 0), size) if suffix > 0 and size > 0 else "unsatisfiable"
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(int(last) + 1, size) if last else size


def _int_header(request: Request, name: str) -> int:
    text = request.headers.get(name)
    if text is None or not text.isdigit():
        raise uploads.BadUpload(f"{name} must be given as a non-negative integer")
    return int(text)


def _principal(scope: Scope) -> str:
    scope.require_write("video")
    return scope.principal.name


# ---- tus ----


@tus.options("/uploads", summary="tus: what this server supports (no account needed)")
@tus.options("/uploads/{upload_id}", include_in_schema=False)
def tus_options(request: Request) -> Response:
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": "creation,expiration",
            "Tus-Max-Size": str(settings_of(request).video_max_bytes),
        },
    )


@tus.post("/uploads", status_code=201, summary="tus creation: a new upload of Upload-Length bytes")
def tus_create(request: Request, scope: CurrentScope) -> Response:
    by = _principal(scope)
    if "upload-defer-length" in request.headers:
        raise uploads.BadUpload("Upload-Defer-Length is not supported: give Upload-Length")
    length = _int_header(request, "Upload-Length")
    meta = uploads.parse_meta(request.headers.get("upload-metadata"))
    settings = settings_of(request)
    with engine_of(request).begin() as conn:
        session = uploads.create(conn, settings, length=length, meta=meta, by=by, now=utcnow())
    location = f"{request.scope.get('root_path', '')}{router.prefix}/uploads/{session.id}"
    return Response(
        status_code=201,
        headers={
            "Location": location,
            "Upload-Offset": "0",
            "Upload-Expires": _http_date(session.expires_at),
        },
    )


@tus.head("/uploads/{upload_id}", summary="tus: how many bytes of the upload the server has")
def tus_head(upload_id: str, request: Request, scope: CurrentScope) -> Response:
    by = _principal(scope)
    with engine_of(request).connect() as conn:
        session = uploads.get(conn, settings_of(request), upload_id, by=by, now=utcnow())
    headers = {
        "Upload-Offset": str(session.offset),
        "Upload-Length": str(session.length),
        "Cache-Control": "no-store",
    }
    if not session.complete:
        headers["Upload-Expires"] = _http_date(session.expires_at)
    return Response(status_code=200, headers=headers)


@tus.patch("/uploads/{upload_id}", status_code=204, summary="tus: append bytes at Upload-Offset")
async def tus_patch(upload_id: str, request: Request, scope: CurrentScope) -> Response:
    by = _principal(scope)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != OFFSET_STREAM:
        raise HTTPException(415, f"send the bytes as Content-Type: {OFFSET_STREAM}")
    offset = _int_header(request, "Upload-Offset")
    settings, engine = settings_of(request), engine_of(request)

    def session_now() -> uploads.Session:
        with engine.connect() as conn:
            return uploads.get(conn, settings, upload_id, by=by, now=utcnow())

    session = await run_in_threadpool(session_now)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and offset + int(declared) > session.length:
        raise uploads.BadUpload(f"{offset} + {declared} bytes runs past Upload-Length {session.length}")
    try:
        new_offset = await uploads.append(settings, session, offset, request.stream())
    except ClientDisconnect:  # the bytes that arrived are kept; nobody is left to answer
        return Response(status_code=400)

    def slide() -> datetime:
        with engine.begin() as conn:
            return uploads.touch(conn, settings, upload_id, utcnow())

    expires_at = await run_in_threadpool(slide)
    return Response(
        status_code=204, headers={"Upload-Offset": str(new_offset), "Upload-Expires": _http_date(expires_at)}
    )


router.include_router(tus)

# ---- records ----


class VideoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: str = Field(description="the tus upload (its id is the last part of its Location)")
    stage: str = Field(description=f"one of {', '.join(STAGES)} (WZ-A1-2)")
    agency_id: int | None = Field(default=None, description="admin only; an agency uploads for itself")
    enterprise_id: int | None = None
    plan_id: int | None = Field(default=None, description="the sampling plan; its enterprise is taken")
    recorded_start: str = Field(description="ISO 8601; no offset = China time")
    recorded_end: str = Field(description="ISO 8601; no offset = China time")
    latitude: Decimal | None = Field(default=None, description="WGS-84, with longitude")
    longitude: Decimal | None = None
    landmark: str = Field(default="", max_length=200, description="标志性建筑物 filmed before sampling")
    device_numbers: list[str] = Field(default_factory=list, description="设备编号 shown in the video")
    sample_codes: list[str] = Field(default_factory=list, description="样品编号 (of this agency)")
    staff_ids: list[int] = Field(default_factory=list, description="agency staff shown")
    annotation: str = Field(default="", description="文字注释")


class AnnotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    at_second: int | None = Field(default=None, ge=0, description="the moment of the video it is about")


def _visible_record(request: Request, scope: Scope, video_id: int) -> dict[str, Any]:
    require_reader(scope)
    with engine_of(request).connect() as conn:
        row = record_row(conn, video_id)
    if not scope.sees_video(row):
        raise HTTPException(404, f"no video record with id {video_id}")
    return row


def _out(record: dict[str, Any]) -> dict[str, Any]:
    out = jsonable(record)
    for key in ("annotations",):
        if key in out:
            out[key] = [jsonable(a) for a in out[key]]
    if out.get("blob"):
        out["blob"] = jsonable(out["blob"])
    return out


@router.post("/videos", status_code=201, summary="Finish an upload into a video record (idempotent)")
def video_finish(body: VideoIn, request: Request, response: Response, scope: CurrentScope) -> dict[str, Any]:
    """Slow for a big file (it is hashed into the blob store): a plain function, so it runs in a worker
    thread and the event loop goes on serving the other requests."""
    by = _principal(scope)
    draft = VideoDraft(
        upload_id=body.upload_id,
        stage=body.stage,
        agency_id=own_agency(scope, body.agency_id),
        recorded_start=moment_required("recorded_start", body.recorded_start),
        recorded_end=moment_required("recorded_end", body.recorded_end),
        enterprise_id=body.enterprise_id,
        plan_id=body.plan_id,
        latitude=body.latitude,
        longitude=body.longitude,
        landmark=body.landmark,
        device_numbers=body.device_numbers,
        sample_codes=body.sample_codes,
        staff_ids=body.staff_ids,
        annotation=body.annotation,
    )
    engine, settings = engine_of(request), settings_of(request)
    video_id, made = finish(engine, settings, draft, by=by, now=utcnow())
    if not made:
        response.status_code = 200
    with engine.connect() as conn:
        return _out(detail(conn, video_id))


@router.get("/videos", summary="Search video records (sample code, enterprise, agency, staff, stage, time)")
def video_search(
    request: Request,
    scope: CurrentScope,
    sample_code: str | None = None,
    enterprise_id: int | None = None,
    agency_id: int | None = None,
    staff_id: int | None = None,
    stage: Annotated[str | None, Query(description=f"one of {', '.join(STAGES)}")] = None,
    from_: Annotated[str | None, Query(alias="from", description="recording overlaps [from, to)")] = None,
    to: Annotated[str | None, Query(description="ISO 8601; no offset = China time")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    require_reader(scope)
    if stage and stage not in STAGES:
        raise InvalidInput(f"stage {stage!r} is unknown; stages: {', '.join(STAGES)}")
    with engine_of(request).connect() as conn:
        total, rows = search(
            conn,
            agency_ids=visible_agency_ids(scope),
            enterprise_ids=visible_enterprise_ids(scope),
            sample_code=sample_code,
            enterprise_id=enterprise_id,
            agency_id=agency_id,
            staff_id=staff_id,
            stage=stage,
            since=parse_time("from", from_),
            until=parse_time("to", to),
            limit=limit,
            offset=offset,
        )
    rows = [r for r in rows if scope.sees_video(r)]  # the SQL already filtered: a second, independent check
    return {"total": total, "limit": limit, "offset": offset, "rows": [jsonable(r) for r in rows]}


@router.get("/videos/{video_id}", summary="One video record: metadata, links, annotations, digests")
def video_read(video_id: int, request: Request, scope: CurrentScope) -> dict[str, Any]:
    _visible_record(request, scope, video_id)
    with engine_of(request).connect() as conn:
        return _out(detail(conn, video_id))


@router.get("/videos/{video_id}/content", summary="The video file, with HTTP range requests (206, 416)")
def video_content(video_id: int, request: Request, scope: CurrentScope) -> Response:
    row = _visible_record(request, scope, video_id)
    sha256, size = row["blob_sha256"], int(row["size"])
    etag = f'"{sha256}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Cache-Control": "private, max-age=31536000, immutable",  # content-addressed: it never changes
        "X-Content-Type-Options": "nosniff",
        "X-Content-SHA256": sha256,
        "Content-Disposition": "inline",
    }
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != etag:
        wanted = None  # the client's copy is of other bytes: send the whole file
    chosen = byte_range(wanted, size)
    if chosen == "unsatisfiable":
        return Response(status_code=416, headers=headers | {"Content-Range": f"bytes */{size}"})
    start, end = chosen if chosen is not None else (0, size)
    # streamed from the store a chunk at a time; a missing file is a 404 before the first byte is sent
    body = BlobStore.from_settings(settings_of(request)).iter_range(sha256, start, end)
    headers["Content-Length"] = str(end - start)
    if chosen is None:
        return StreamingResponse(body, media_type=row["media_type"], headers=headers)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(body, status_code=206, media_type=row["media_type"], headers=headers)


@router.post("/videos/{video_id}/annotations", status_code=201, summary="Add a text note (文字注释)")
def video_annotate(
    video_id: int, body: AnnotationIn, request: Request, scope: CurrentScope
) -> dict[str, Any]:
    row = _visible_record(request, scope, video_id)
    by = _principal(scope)
    if scope.role == "agency":
        own_agency(scope, row["agency_id"])  # an agency notes its own records only
    with engine_of(request).begin() as conn:
        return jsonable(annotate(conn, video_id, body.text, body.at_second, by=by, now=utcnow()))
