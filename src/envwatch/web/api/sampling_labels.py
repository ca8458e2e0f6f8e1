"""Sample labels (识别标识码, WZ-A2-7/8): printing and reprints, REST API.

Printing is recorded, so a label cannot be printed freely (reprint control, WZ-A2-8):

- ``POST /samples/{code}/label``: the first print (custody event ``print_label``); a second call is 409;
- ``POST /samples/{code}/reprint``: a form with the video of the whole reprint (field ``video``, kept in
  the blob store) and the reason; records ``reprint`` and returns the label marked "补打 第n次";
- ``POST /labels``: the first prints of many samples in one PDF or ZPL, all or nothing (409 listing the
  codes already printed or not found).

A label shows only facts on record (``sampling.label_data``); its QR code carries
``<public_base_url>/v/<code>``. The label is rendered before the print is recorded, so a rendering error
records nothing, and the recording re-checks the sample under compare-and-set, so two people printing the
same label at once get one print and one 409. Writes need ``sampling`` (admin, the agency); the person
acting is the agency account's own staff member, or the one admin names (``staff_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool

from envwatch.core.blob_records import record_blob
from envwatch.core.blobs import BlobStore, StoredBlob
from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.core.settings import Settings
from envwatch.sampling.codes import normalise
from envwatch.sampling.label_data import label_data, reprint_of
from envwatch.sampling.labels import LabelData, render_pdf, render_zpl
from envwatch.sampling.reads import sample_row
from envwatch.sampling.schema import samples
from envwatch.sampling.steps import StepInput, record_reprint, record_step
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.api.sampling_checks import person_acting, pydantic_detail, read_form, require_reader
from envwatch.web.api.sampling_common import require_sample
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/sampling", tags=["sampling"])

MAX_BATCH: Final = 2000
VIDEO_TYPES_PREFIX: Final = "video/"
Format = Literal["pdf", "zpl"]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: str = Field(default="50x30", description="40x30, 50x30, 60x40, 70x50 (thermal rolls) or a4")
    format: Format = Field(default="pdf", description="pdf, or zpl for Zebra printers (rolls only)")
    dpi: Literal[203, 300, 600] = Field(default=203, description="zpl: the printer head's resolution")
    staff_id: int | None = Field(default=None, description="admin: the person printing")
    seal_no: str | None = Field(default=None, description="封条编号, when the seal has one")


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: list[str] = Field(min_length=1, max_length=MAX_BATCH, description="samples never printed")
    size: str = "50x30"
    format: Format = "pdf"
    dpi: Literal[203, 300, 600] = 203
    staff_id: int | None = None


class ReprintIn(BaseModel):
    """The text fields of the reprint form (the video comes as the file field ``video``)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, description="why the label is printed again (damaged, unreadable …)")
    size: str = "50x30"
    format: Format = "pdf"
    dpi: Literal[203, 300, 600] = 203
    staff_id: int | None = None


# ---- rendering ----


def render(labels: Sequence[LabelData], size: str, fmt: Format, dpi: int, settings: Settings) -> bytes:
    if fmt == "zpl":
        return render_zpl(labels, size, dpi=dpi).encode()
    return render_pdf(labels, size, font=settings.sampling_label_font)


def label_response(content: bytes, fmt: Format, name: str, prints: int | None = None) -> Response:
    media = "application/pdf" if fmt == "pdf" else "text/plain; charset=utf-8"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    if prints is not None:
        headers["X-Sample-Prints"] = str(prints)
    return Response(content, media_type=media, headers=headers)


def _labels(
    conn: Connection, settings: Settings, rows: Sequence[dict[str, Any]], reprint: int = 0
) -> list[LabelData]:
    reprints = {row["code"]: reprint for row in rows} if reprint else None
    return label_data(conn, rows, public_base_url=settings.public_base_url, reprints=reprints)


def _visible_writable(request: Request, scope: Scope, code: str) -> dict[str, Any]:
    require_reader(scope)
    with engine_of(request).connect() as conn:
        sample = require_sample(conn, scope, code)
    scope.require_write("sampling")
    return sample


# ---- first print ----


@router.post(
    "/samples/{code}/label",
    summary="Print a sample's label the first time (recorded; a second print is a reprint with video)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "text/plain": {}}}},
)
def print_label(request: Request, code: str, body: LabelIn, scope: CurrentScope) -> Response:
    sample = _visible_writable(request, scope, code)
    settings = settings_of(request)
    if sample["prints"] > 0:
        raise Conflict(
            f"the label of {sample['code']} was printed already: a reprint needs a video of the reprint "
            "(POST …/reprint, WZ-A2-8)"
        )
    with engine_of(request).connect() as conn:
        content = render(_labels(conn, settings, [sample]), body.size, body.format, body.dpi, settings)
    with engine_of(request).begin() as conn:
        staff_id = person_acting(conn, scope, body.staff_id, "the person printing")
        given = StepInput(staff_id=staff_id, seal_no=body.seal_no)
        record_step(conn, sample["code"], "print_label", given, actor=scope.principal.name, now=utcnow())
    return label_response(content, body.format, f"label-{sample['code']}", prints=1)


@router.post(
    "/labels",
    summary=f"First prints of many samples in one PDF or ZPL (all or nothing, at most {MAX_BATCH})",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "text/plain": {}}}},
)
def print_many(request: Request, body: BatchIn, scope: CurrentScope) -> Response:
    require_reader(scope)
    scope.require_write("sampling")
    settings = settings_of(request)
    codes = [normalise(c) for c in body.codes]
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise InvalidInput(f"codes given more than once: {', '.join(repeated)}")
    with engine_of(request).connect() as conn:
        found = {
            r["code"]: dict(r)
            for r in conn.execute(select(samples).where(samples.c.code.in_(codes))).mappings()
        }
        unseen = [c for c in codes if c not in found or not scope.sees_sample(found[c])]
        printed = [c for c in codes if c in found and c not in unseen and found[c]["prints"] > 0]
        if unseen or printed:
            parts = [f"not found: {', '.join(unseen)}"] if unseen else []
            if printed:
                parts.append(f"printed already (reprint each with its video): {', '.join(printed)}")
            raise Conflict("nothing printed; " + "; ".join(parts))
        rows = [found[c] for c in codes]
        content = render(_labels(conn, settings, rows), body.size, body.format, body.dpi, settings)
    with engine_of(request).begin() as conn:  # one transaction: all recorded, or none
        staff_id = person_acting(conn, scope, body.staff_id, "the person printing")
        now = utcnow()
        for code in codes:
            record_step(
                conn, code, "print_label", StepInput(staff_id=staff_id), actor=scope.principal.name, now=now
            )
    request.state.audit_detail = {"event": "print_label", "samples": len(codes)}
    name = f"labels-{len(codes)}-{codes[0]}"
    return label_response(content, body.format, name)


# ---- reprints ----


def _reprint(
    request: Request, scope: Scope, code: str, form: ReprintIn, video: StoredBlob, video_type: str
) -> tuple[bytes, int]:
    settings = settings_of(request)
    with engine_of(request).connect() as conn:
        sample = sample_row(conn, code)
        number = sample["prints"] + 1  # this print's number; the label shows reprint number - 1
        content = render(
            _labels(conn, settings, [sample], reprint=reprint_of(number)),
            form.size,
            form.format,
            form.dpi,
            settings,
        )
    with engine_of(request).begin() as conn:
        staff_id = person_acting(conn, scope, form.staff_id, "the person reprinting")
        now = utcnow()
        event = record_reprint(
            conn,
            code,
            staff_id=staff_id,
            video_sha256=video.sha256,
            reason=form.reason,
            actor=scope.principal.name,
            now=now,
        )
        if event["details"]["print"] != number:  # another reprint came between: this label's count is wrong
            raise Conflict(f"sample {code} was reprinted meanwhile: reload it and try again")
        record_blob(
            conn, video, purpose="reprint_video", media_type=video_type, stored_by=scope.principal.name,
            now=now, settings=settings,
        )  # fmt: skip
    return content, number


@router.post(
    "/samples/{code}/reprint",
    summary="Reprint a label (补打, WZ-A2-8): multipart form with the video of the reprint and the reason",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "text/plain": {}}}},
)
async def reprint(request: Request, code: str, scope: CurrentScope) -> Response:
    sample = await run_in_threadpool(_visible_writable, request, scope, code)
    if sample["prints"] == 0:  # before the video is even read
        raise Conflict(f"the label of {sample['code']} was never printed: print it first (POST …/label)")
    settings = settings_of(request)
    upload = await read_form(request, "video", settings.max_attachment_bytes)
    try:
        form = ReprintIn.model_validate({k: v for k, v in upload.fields.items() if v.strip()})
    except ValidationError as exc:
        raise InvalidInput(pydantic_detail(exc.errors())) from None
    if upload.content is None or not upload.content:
        raise InvalidInput(
            "a reprint needs the video of the whole reprint (WZ-A2-8): send it in the form field 'video'"
        )
    if not upload.content_type.lower().startswith(VIDEO_TYPES_PREFIX):
        raise InvalidInput(f"the reprint's evidence must be a video (video/*), not {upload.content_type}")
    store = BlobStore.from_settings(settings)
    stored = await run_in_threadpool(lambda: store.put(upload.content or b"", purpose="reprint_video"))
    content, number = await run_in_threadpool(
        _reprint, request, scope, sample["code"], form, stored, upload.content_type
    )
    name = f"label-{sample['code']}-reprint-{reprint_of(number)}"
    response = label_response(content, form.format, name, prints=number)
    response.headers["X-Video-SHA256"] = stored.sha256
    request.state.audit_detail = {"sample": sample["code"], "event": "reprint", "video": stored.sha256}
    return response
