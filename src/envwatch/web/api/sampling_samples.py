"""Samples and their chain of custody (WZ-A2-7/9/10): reading them, custody steps, reviews, photos.

- ``GET /samples``, ``GET /samples/{code}`` (custody and the steps allowed ``next``; a lowercase code or
  the whole verification URL, URL-encoded, also finds it);
- ``POST /samples/{code}/steps/{step}`` (dispatch, hand_over, reject, receive, open, analyse, dispose; the
  first print is recorded by printing, ``sampling_labels``);
- ``POST /samples/{code}/review``: a regulator's review of an entry flagged offline or mistimed;
- ``POST /photos``: evidence photos into the blob store; steps name them by SHA-256.

Registering samples: ``sampling_entries``. Order of the checks: a role without sampling (operator, field
staff, auditor) 403; a sample outside the scope 404 exactly as a missing one; the write kind
(``sampling``, ``sampling_review``) 403; the input 422; the store's rules 409 / 422.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from envwatch.core.blob_records import record_blob
from envwatch.core.blobs import BlobStore, StoredBlob
from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput
from envwatch.registry.agencies_schema import agencies, agency_staff
from envwatch.registry.schema import enterprises
from envwatch.sampling.custody import STATES
from envwatch.sampling.entry import Position
from envwatch.sampling.label_data import verify_url
from envwatch.sampling.reads import list_samples, sample_detail
from envwatch.sampling.steps import STEPS, StepInput, record_review, record_step
from envwatch.web.api.common import engine_of, jsonable, parse_time, settings_of
from envwatch.web.api.sampling_checks import (
    names_of,
    person_acting,
    read_form,
    require_blob,
    require_reader,
)
from envwatch.web.api.sampling_common import (
    require_sample,
    visible_agency_ids,
    visible_enterprise_ids,
)
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/sampling", tags=["sampling"])

# print_label is recorded by printing (POST …/label, sampling_labels): a first print without a label is none
API_STEPS: Final = tuple(s for s in STEPS if s != "print_label")


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: int | None = Field(default=None, description="admin: the person acting; an agency itself")
    check_result: Literal["intact", "abnormal", "damaged", "missing"] | None = Field(
        default=None, description="hand_over, open, reject: the seal and label check"
    )
    seal_no: str | None = None
    preservation: dict[str, bool] | None = Field(
        default=None, description="dispatch: {cold, dark, shockproof} (冷藏, 避光, 防震)"
    )
    photo_sha256: str | None = None
    note: str = ""
    latitude: Decimal | None = Field(
        default=None, description="where the step happened (GPS, WGS-84), if known"
    )
    longitude: Decimal | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["accepted", "questioned"]
    note: str = Field(default="", description="required when questioned")


# ---- reading ----


@router.get("/samples", summary="Samples, newest first, as the caller may see them")
def samples_list(
    request: Request,
    scope: CurrentScope,
    state: Annotated[str | None, Query(description=f"one of {', '.join(STATES)}")] = None,
    plan_id: int | None = None,
    needs_review: Annotated[bool | None, Query(description="flagged entries not yet reviewed")] = None,
    from_: Annotated[str | None, Query(alias="from", description="registered at or after (ISO 8601)")] = None,
    to: Annotated[str | None, Query(description="registered before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    require_reader(scope)
    if state is not None and state not in STATES:
        raise InvalidInput(f"state {state!r} is unknown; states: {', '.join(STATES)}")
    with engine_of(request).connect() as conn:
        rows = list_samples(
            conn,
            agency_ids=visible_agency_ids(scope),
            enterprise_ids=visible_enterprise_ids(scope),
            state=state,
            plan_id=plan_id,
            needs_review=needs_review,
            since=parse_time("from", from_),
            until=parse_time("to", to),
            limit=limit,
        )
        rows = [r for r in rows if scope.sees_sample(r)]
        agency_names = names_of(conn, agencies, {r["agency_id"] for r in rows})
        enterprise_names = names_of(
            conn, enterprises, {r["enterprise_id"] for r in rows if r["enterprise_id"]}
        )
        samplers = names_of(
            conn, agency_staff, {r["sampler_staff_id"] for r in rows if r["sampler_staff_id"]}
        )
    return [
        jsonable(r)
        | {
            "agency_name": agency_names.get(r["agency_id"]),
            "enterprise_name": enterprise_names.get(r["enterprise_id"]),
            "sampler_name": samplers.get(r["sampler_staff_id"]),
        }
        for r in rows
    ]


@router.get(
    "/samples/{code:path}",
    summary="One sample: its facts, chain of custody and the steps allowed next (code, any case, or its URL)",
)
def sample_one(request: Request, code: str, scope: CurrentScope) -> dict[str, Any]:
    require_reader(scope)
    with engine_of(request).connect() as conn:
        found = require_sample(conn, scope, code)
        detail = sample_detail(conn, found["code"])
    out = jsonable({k: v for k, v in detail.items() if k != "custody"})
    out["custody"] = [jsonable(e) for e in detail["custody"]]
    out["verify_url"] = verify_url(settings_of(request).public_base_url, detail["code"])
    out["can_act"] = scope.can_write("sampling")
    out["can_review"] = bool(detail["needs_review"]) and scope.can_write("sampling_review")
    return out


# ---- custody steps and reviews ----


@router.post(
    "/samples/{code}/steps/{step}",
    status_code=201,
    summary=f"Record a custody step ({', '.join(API_STEPS)}); the label is printed with POST …/label",
)
def custody_step(request: Request, code: str, step: str, body: StepIn, scope: CurrentScope) -> dict[str, Any]:
    require_reader(scope)
    with engine_of(request).connect() as conn:
        sample = require_sample(conn, scope, code)
    scope.require_write("sampling")
    if step == "print_label":
        raise InvalidInput(
            "the first print is recorded by printing: POST /api/v1/sampling/samples/{code}/label"
        )
    if step not in API_STEPS:
        raise InvalidInput(f"unknown step {step!r}; steps: {', '.join(API_STEPS)}")
    photo = require_blob(settings_of(request), body.photo_sha256, "photo_sha256")
    with engine_of(request).begin() as conn:
        staff_id = person_acting(conn, scope, body.staff_id)
        given = StepInput(
            staff_id=staff_id,
            check_result=body.check_result,
            seal_no=body.seal_no,
            preservation=body.preservation,
            photo_sha256=photo,
            note=body.note,
            position=(
                Position(body.latitude, body.longitude)
                if body.latitude is not None and body.longitude is not None
                else None
            ),
        )
        event = record_step(conn, sample["code"], step, given, actor=scope.principal.name, now=utcnow())
    return jsonable(event) | {"code": sample["code"]}


@router.post(
    "/samples/{code}/review",
    status_code=201,
    summary="Review an entry flagged as offline or mistimed: accepted or questioned (regulator)",
)
def review(request: Request, code: str, body: ReviewIn, scope: CurrentScope) -> dict[str, Any]:
    require_reader(scope)
    with engine_of(request).connect() as conn:
        sample = require_sample(conn, scope, code)
    scope.require_write("sampling_review")
    with engine_of(request).begin() as conn:
        event = record_review(
            conn,
            sample["code"],
            outcome=body.outcome,
            note=body.note,
            actor=scope.principal.name,
            now=utcnow(),
        )
    return jsonable(event) | {"code": sample["code"]}


# ---- evidence photos ----

PHOTO_TYPES: Final = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")


@router.post(
    "/photos",
    status_code=201,
    summary="Upload a photo (seal, label, sample) as multipart field 'file'; name it by its sha256 later",
)
async def upload_photo(request: Request, scope: CurrentScope) -> dict[str, Any]:
    scope.require_write("sampling")
    settings = settings_of(request)
    upload = await read_form(request, "file", settings.max_attachment_bytes)
    if upload.content is None:
        raise InvalidInput("send the photo in the form field 'file'")
    if upload.content_type.split(";")[0].strip().lower() not in PHOTO_TYPES:
        raise InvalidInput(f"a photo must be one of {', '.join(PHOTO_TYPES)}, not {upload.content_type}")
    stored = await run_in_threadpool(_store_photo, request, scope, upload.content, upload.content_type)
    request.state.audit_detail = {"photo": stored.sha256}
    return {"sha256": stored.sha256, "size": stored.size}


def _store_photo(request: Request, scope: Scope, content: bytes, content_type: str) -> StoredBlob:
    # The photo comes before the custody event that names it, so its storing is recorded on its own.
    settings = settings_of(request)
    stored = BlobStore.from_settings(settings).put(content, purpose="photo")
    with engine_of(request).begin() as conn:
        record_blob(
            conn, stored, purpose="photo", media_type=content_type, stored_by=scope.principal.name,
            now=utcnow(), settings=settings,
        )  # fmt: skip
    return stored
