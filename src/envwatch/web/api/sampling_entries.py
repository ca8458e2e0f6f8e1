"""On-site entries and self-delivered samples: registering a sample (WZ-A2-4/6), REST API.

- ``POST /samples``: the on-site entry of one sample (现场录入, WZ-A2-6): appearance, preservative, the
  phone's time and GPS position; the server judges it against the plan's point and window
  (``sampling.entry``) and issues the code. An entry with an ``entry_id`` seen before answers 200 with
  ``"already": true`` and the sample registered the first time; a new one 201.
- ``POST /samples/sync``: a phone's offline queue; each entry in its own transaction, answered one by one
  in input order, so a refused entry never costs the others. Two syncs racing with one ``entry_id``: the
  loser's insert hits the unique ``uq_samples_entry_id``, is rolled back and answered ``already``.
- ``POST /samples/self-delivered``: a sample the client brought (自送样品, WZ-A2-4), registered by the
  receiver at hand-over with the seal and label check.

Writes need ``sampling`` (admin, the agency); the plan item must be the caller's (404 otherwise, exactly
as a missing one). An agency account enters as its linked staff member; admin names ``staff_id``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, EnvwatchError, NotFound
from envwatch.sampling.entry import Position
from envwatch.sampling.plans import plan_of_item
from envwatch.sampling.registration import (
    OnSiteEntry,
    SelfDelivered,
    register_on_site,
    register_self_delivered,
)
from envwatch.web.api.common import engine_of, jsonable, settings_of
from envwatch.web.api.sampling_checks import (
    moment,
    moment_required,
    person_acting,
    pydantic_detail,
    require_blob,
)
from envwatch.web.api.sampling_common import acting_staff_id, entry_rules, own_agency
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/sampling", tags=["sampling"])

MAX_SYNC_ENTRIES: Final = 500


class EntryIn(BaseModel):
    """One on-site entry (现场录入): what the sampler enters on site, with where and when the phone was."""

    model_config = ConfigDict(extra="forbid")

    plan_item_id: int = Field(description="the plan item sampled (item, container, point come from it)")
    staff_id: int | None = Field(
        default=None, description="admin: the sampler; an agency account is its own linked staff member"
    )
    appearance: str = Field(description="样品性状, e.g. 微黄 无异味 少量悬浮物")
    preservative: str = Field(default="", description="固定剂 added; empty = none")
    device_at: str = Field(description="the phone's time of the entry (ISO 8601 with offset)")
    latitude: Decimal | None = Field(default=None, description="GPS of the phone (WGS-84)")
    longitude: Decimal | None = None
    offline: bool = Field(default=False, description="captured without network, sent later (flagged)")
    sampled_at: str | None = Field(default=None, description="采样时间 if not the entry's own time")
    seal_no: str | None = None
    photo_sha256: str | None = Field(default=None, description="from POST /api/v1/sampling/photos")
    note: str = ""
    entry_id: str | None = Field(
        default=None, description="the phone's id of this entry: sent twice, kept once"
    )


class SyncEntryIn(EntryIn):
    entry_id: str = Field(min_length=1, max_length=64, description="required in a sync")


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[Any] = Field(max_length=MAX_SYNC_ENTRIES, description="the queued entries, oldest first")


class SelfDeliveredIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency_id: int | None = Field(default=None, description="admin: the agency; an agency its own")
    staff_id: int | None = Field(default=None, description="admin: the receiver; an agency account itself")
    enterprise_id: int | None = Field(default=None, description="the enterprise, when in the registry")
    client_name: str = Field(default="", description="送样单位 (required without enterprise_id)")
    point_name: str
    item: str
    container: str = ""
    appearance: str = ""
    preservative: str = ""
    sampled_at: str | None = Field(default=None, description="the sampling time as the client declares it")
    check_result: Literal["intact", "abnormal", "damaged", "missing"] = Field(
        description="the seal and label check at hand-over (damaged / missing: not accepted, WZ-A2-9)"
    )
    seal_no: str | None = None
    photo_sha256: str | None = None
    note: str = ""


# ---- registering ----


def sample_out(row: dict[str, Any]) -> dict[str, Any]:
    return jsonable({k: v for k, v in row.items() if k != "already"}) | {"already": bool(row.get("already"))}


def register_entry(request: Request, scope: Scope, entry: EntryIn) -> dict[str, Any]:
    """Register one on-site entry in a transaction of its own; ``already`` True when its entry_id was
    registered before (also when a concurrent request registered it first)."""
    settings = settings_of(request)
    photo = require_blob(settings, entry.photo_sha256, "photo_sha256")
    device_at = moment_required("device_at", entry.device_at)
    sampled_at = moment("sampled_at", entry.sampled_at)
    position = (
        Position(entry.latitude, entry.longitude)
        if entry.latitude is not None and entry.longitude is not None
        else None
    )
    for attempt in (1, 2):
        try:
            with engine_of(request).begin() as conn:
                plan, _item = plan_of_item(conn, entry.plan_item_id)
                if not scope.sees_sample(plan):
                    raise NotFound(f"no sampling plan item with id {entry.plan_item_id}")
                sampler = person_acting(conn, scope, entry.staff_id, "the sampler")
                on_site = OnSiteEntry(
                    plan_item_id=entry.plan_item_id,
                    sampler_staff_id=sampler,
                    appearance=entry.appearance,
                    preservative=entry.preservative,
                    device_at=device_at,
                    position=position,
                    offline=entry.offline,
                    sampled_at=sampled_at,
                    seal_no=entry.seal_no,
                    photo_sha256=photo,
                    note=entry.note,
                    entry_id=entry.entry_id,
                )
                return register_on_site(
                    conn,
                    on_site,
                    actor=scope.principal.name,
                    now=utcnow(),
                    rules=entry_rules(settings),
                    random_chars=settings.sampling_code_random_chars,
                )
        except IntegrityError:
            # another request registered the same entry_id between our look-up and our insert: the
            # second attempt finds it and answers "already"
            if attempt == 2:
                raise Conflict("the entry collided with a concurrent one twice: send it again") from None
    raise AssertionError("unreachable")  # pragma: no cover


@router.post(
    "/samples",
    status_code=201,
    summary="On-site entry of one sample (WZ-A2-6): 201 registered, 200 when its entry_id was seen before",
)
def new_sample(request: Request, body: EntryIn, scope: CurrentScope, response: Response) -> dict[str, Any]:
    scope.require_write("sampling")
    row = register_entry(request, scope, body)
    if row.get("already"):
        response.status_code = 200
    request.state.audit_detail = {
        "sample": row["code"],
        "event": "already" if row.get("already") else "register",
    }
    return sample_out(row)


def _refused(entry_id: Any, status: int, detail: str) -> dict[str, Any]:
    return {
        "entry_id": entry_id if isinstance(entry_id, str) else None,
        "status": "refused",
        "http_status": status,
        "detail": detail,
    }


def _sync_one(request: Request, scope: Scope, raw: Any) -> dict[str, Any]:
    entry_id = raw.get("entry_id") if isinstance(raw, dict) else None
    try:
        entry = SyncEntryIn.model_validate(raw)
    except ValidationError as exc:
        return _refused(entry_id, 422, pydantic_detail(exc.errors()))
    try:
        row = register_entry(request, scope, entry)
    except EnvwatchError as exc:
        return _refused(entry.entry_id, exc.http_status, exc.message)
    except HTTPException as exc:
        return _refused(entry.entry_id, exc.status_code, str(exc.detail))
    return {
        "entry_id": entry.entry_id,
        "status": "already" if row.get("already") else "registered",
        "code": row["code"],
        "needs_review": row["needs_review"],
    }


@router.post(
    "/samples/sync",
    summary=f"A phone's offline queue (at most {MAX_SYNC_ENTRIES} entries): each answered on its own",
)
def sync_entries(request: Request, body: SyncIn, scope: CurrentScope) -> dict[str, Any]:
    scope.require_write("sampling")
    if scope.role == "agency":  # an account without its person fails the whole request, not each entry
        with engine_of(request).connect() as conn:
            acting_staff_id(conn, scope, None)
    results = [_sync_one(request, scope, raw) for raw in body.entries]
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("registered", "already", "refused")}
    request.state.audit_detail = {"event": "sync", **counts}
    return {"results": results, **counts}


@router.post(
    "/samples/self-delivered",
    status_code=201,
    summary="Register a sample the client brought (自送样品, WZ-A2-4) at the hand-over",
)
def self_delivered(request: Request, body: SelfDeliveredIn, scope: CurrentScope) -> dict[str, Any]:
    scope.require_write("sampling")
    settings = settings_of(request)
    agency_id = own_agency(scope, body.agency_id)
    photo = require_blob(settings, body.photo_sha256, "photo_sha256")
    sampled_at = moment("sampled_at", body.sampled_at)
    with engine_of(request).begin() as conn:
        receiver = person_acting(conn, scope, body.staff_id, "the receiver")
        delivery = SelfDelivered(
            agency_id=agency_id,
            receiver_staff_id=receiver,
            point_name=body.point_name,
            item=body.item,
            check_result=body.check_result,
            enterprise_id=body.enterprise_id,
            client_name=body.client_name,
            container=body.container,
            appearance=body.appearance,
            preservative=body.preservative,
            sampled_at=sampled_at,
            seal_no=body.seal_no,
            photo_sha256=photo,
            note=body.note,
        )
        row = register_self_delivered(
            conn,
            delivery,
            actor=scope.principal.name,
            now=utcnow(),
            random_chars=settings.sampling_code_random_chars,
        )
    request.state.audit_detail = {"sample": row["code"], "event": "register_self_delivered"}
    return sample_out(row)
