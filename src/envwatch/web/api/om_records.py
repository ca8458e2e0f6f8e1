"""O&M API (issue 6): field records (运维记录), reference-material certificates (标准物质) and operator
registrations (报备).

Who sees what (404 otherwise, exactly as a missing object):

- a field record: admin; a regulator or an enterprise when it sees the record's device (its region, its
  own devices); the record's operator's people (operator, field staff, and its auditor for work done inside
  the auditor's period), whatever device it was done on;
- a reference material: whoever sees its operator (``Scope.sees_operator``: the operator's people, the
  regulators and enterprises the operator works for);
- a registration: the same, and a regulator also every registration with a city of its region.

Writes: ``field_record`` (admin, operator, field staff: records, corrections, photos; an operator's people
write for their own operator only) and ``om_register`` (admin, operator: materials and registrations).
The order of the checks: what is named must be visible (404), then the role (403), then the store's own
checks (422 / 409). Times are ISO 8601; a time without offset is China time; answers are in China time.

The QA criteria (``ENVWATCH_OM_QA_LIMITS``) are checked when the app starts: a setting that does not parse
stops the start with the setting's name in the message.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import NotFound
from envwatch.operations import materials as mat
from envwatch.operations import registrations as reg
from envwatch.operations.qa_limits import limits_of
from envwatch.operations.record_due import comparison_due, inspection_due
from envwatch.operations.record_input import RecordIn, device_by_mn, device_of, to_draft
from envwatch.operations.records import (
    ATTACHMENT_KIND,
    RecordQuery,
    add_record,
    add_record_attachment,
    correct_record,
    get_record,
    list_records,
)
from envwatch.registry.attachments import get_attachment
from envwatch.registry.service import region_prefix
from envwatch.web.api.common import (
    attachment_download,
    engine_of,
    parse_time,
    settings_of,
    time_out,
    value_out,
)
from envwatch.web.scope import CurrentScope, Scope

OPERATOR_ROLES = frozenset({"operator", "field_staff", "auditor"})


@asynccontextmanager
async def check_qa_limits(app: FastAPI) -> AsyncIterator[None]:
    """At start-up: the QA criteria with the setting over them must load (InvalidInput names the setting)."""
    limits_of(app.state.settings)
    yield


router = APIRouter(prefix="/api/v1/om", tags=["om-records"], lifespan=check_qa_limits)


def out(value: Any) -> Any:
    """JSON-ready, recursively: times in China time, exact decimals as strings, dates as ISO dates."""
    if isinstance(value, dict):
        return {k: out(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [out(v) for v in value]
    if isinstance(value, datetime):
        return time_out(value)
    if isinstance(value, Decimal):
        return value_out(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def out_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: out(v) for k, v in row.items()}


# ---- who sees a record ------------------------------------------------------------------------------------


def own_operator(scope: Scope) -> int | None:
    """The operator an operator's person works for (None for the other roles)."""
    return scope.principal.operator_id if scope.role in OPERATOR_ROLES else None


def record_query(scope: Scope, **filters: Any) -> RecordQuery:
    """The records ``scope`` sees, with the caller's ``filters`` (the auditor's period narrows the time)."""
    if scope.role == "admin":
        return RecordQuery(**filters)
    if scope.role in OPERATOR_ROLES:
        op = own_operator(scope)
        query = RecordQuery(operator_ids=[op] if op is not None else [], **filters)
        bounds = scope.period_bounds()
        if bounds is not None:
            since = max(bounds[0], query.since) if query.since else bounds[0]
            until = min(bounds[1], query.until) if query.until else bounds[1]
            query = replace(query, since=since, until=until)
        return query
    return RecordQuery(device_ids=scope.device_ids or frozenset(), **filters)


def sees_record(scope: Scope, row: dict[str, Any]) -> bool:
    if scope.role == "admin":
        return True
    if scope.role in OPERATOR_ROLES:
        return row["operator_id"] == own_operator(scope) and scope.in_period(row["performed_at"])
    return scope.sees_device(row["device_id"])


def require_record(conn: Connection, scope: Scope, record_id: int) -> dict[str, Any]:
    """The record with everything :func:`get_record` adds, or 404 as for a missing one."""
    try:
        row = get_record(conn, record_id)
    except NotFound:
        row = None
    if row is None or not sees_record(scope, row):
        raise NotFound(f"no field record with id {record_id}")
    return row


def with_registration(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """The record and the operator's registration (SX-19) in the city of the outlet on the day of the work
    (None: not registered there, shown as a warning)."""
    region = row.get("region_code")
    city = reg.city_of(region) if region else None
    day = to_china(row["performed_at"]).date()
    found = reg.registration_in(conn, row["operator_id"], region, day) if region else None
    return {**row, "registration_city": city, "registration": found}


def writer_operator(scope: Scope, named: int | None) -> int | None:
    """The operator a write is for: an operator's people write for their own one (naming another is 404);
    other roles name one that must be visible (admin: any)."""
    own = own_operator(scope)
    if own is not None:
        if named is not None and named != own:
            raise NotFound(f"no operator with id {named}")
        return own
    if named is not None:
        scope.require_operator(named)
    return named


# ---- field records ----------------------------------------------------------------------------------------


@router.get("/records", summary="Field records, newest work first (current versions unless current=false)")
def list_(
    request: Request,
    scope: CurrentScope,
    mn: str | None = None,
    outlet_id: int | None = None,
    enterprise_id: int | None = None,
    operator_id: int | None = None,
    kind: Annotated[list[str] | None, Query(description="inspection, calibration, … (repeatable)")] = None,
    verdict: Annotated[str | None, Query(description="pass | fail | none")] = None,
    on_site: Annotated[str | None, Query(description="yes | no | unknown")] = None,
    from_: Annotated[str | None, Query(alias="from", description="performed at or after (ISO 8601)")] = None,
    to: Annotated[str | None, Query(description="performed before (ISO 8601)")] = None,
    current: bool = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    filters: dict[str, Any] = {
        "outlet_id": outlet_id,
        "enterprise_id": enterprise_id,
        "kinds": kind or None,
        "verdict": verdict,
        "on_site": on_site,
        "since": parse_time("from", from_),
        "until": parse_time("to", to),
        "current_only": current,
        "limit": limit,
        "offset": offset,
    }
    with engine_of(request).connect() as conn:
        query = record_query(scope, **filters)
        if mn is not None:
            # an operator's people see their records on any device; the others only on devices they see
            device = device_by_mn(conn, mn) if scope.role in OPERATOR_ROLES else scope.device_id(conn, mn)
            seen = query.device_ids
            query = replace(query, device_ids=[device] if seen is None or device in seen else [])
        if operator_id is not None:
            seen = query.operator_ids
            query = replace(query, operator_ids=[operator_id] if seen is None or operator_id in seen else [])
        rows, total = list_records(conn, query)
    return {"total": total, "limit": limit, "offset": offset, "rows": [out_row(r) for r in rows]}


@router.post(
    "/records", status_code=201, summary="Record field work (巡检, 校准, 比对, …) with its GPS sign-in"
)
def create(request: Request, body: RecordIn, scope: CurrentScope) -> dict[str, Any]:
    settings = settings_of(request)
    with engine_of(request).begin() as conn:
        device_id = visible_device(conn, scope, body)
        operator = writer_operator(scope, body.operator_id)
        scope.require_write("field_record")
        draft = to_draft(conn, body, device_id=device_id, operator_id=operator, username=scope.principal.name)
        row = add_record(conn, draft, scope.principal.name, utcnow(), settings)
        return out_row(with_registration(conn, row))


def visible_device(conn: Connection, scope: Scope, body: RecordIn) -> int:
    device_id = device_of(conn, body)  # an unknown device: 404 with the same words as an unseen one
    if not scope.sees_device(device_id):
        raise NotFound(
            f"no device with MN {body.mn}" if body.mn is not None else f"no device with id {device_id}"
        )
    return device_id


@router.get("/records/due", summary="Inspections (SX-20.3) and comparisons (SX-18.6) due now")
def due(request: Request, scope: CurrentScope, operator_id: int | None = None) -> dict[str, Any]:
    settings = settings_of(request)
    now = utcnow()
    operator = own_operator(scope)
    if operator is None and operator_id is not None:
        scope.require_operator(operator_id)
        operator = operator_id
    if operator is None and scope.role in OPERATOR_ROLES:
        return {"rows": []}  # an operator role without its operator sees nothing (fail closed)
    with engine_of(request).connect() as conn:
        rows = inspection_due(conn, operator, now, settings.om_inspection_every_days)
        rows += comparison_due(conn, operator, now)
    if scope.role not in OPERATOR_ROLES:
        rows = [r for r in rows if scope.sees_device(r["device_id"])]
    return {"every_days": settings.om_inspection_every_days, "rows": [out_row(r) for r in rows]}


@router.get("/records/{record_id}", summary="One record: payload and verdict, materials, photos, corrections")
def get(request: Request, record_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        row = require_record(conn, scope, record_id)
        return out_row(with_registration(conn, row))


@router.post("/records/{record_id}/corrections", status_code=201, summary="Correct a record (a new version)")
def correct(request: Request, record_id: int, body: RecordIn, scope: CurrentScope) -> dict[str, Any]:
    settings = settings_of(request)
    with engine_of(request).begin() as conn:
        original = require_record(conn, scope, record_id)
        device_id = visible_device(conn, scope, body)
        operator = writer_operator(scope, body.operator_id)
        scope.require_write("field_record")
        if operator is None:
            operator = original["operator_id"]
        draft = to_draft(conn, body, device_id=device_id, operator_id=operator, username=scope.principal.name)
        row = correct_record(conn, record_id, draft, scope.principal.name, utcnow(), settings)
        return out_row(with_registration(conn, row))


@router.get(
    "/records/{record_id}/attachments/{attachment_id}", summary="Download a photo or file of a record"
)
def download(request: Request, record_id: int, attachment_id: int, scope: CurrentScope) -> Response:
    with engine_of(request).connect() as conn:
        require_record(conn, scope, record_id)
        found = get_attachment(conn, attachment_id)
    return attachment_download(request, found, ATTACHMENT_KIND, record_id, attachment_id)


if importlib.util.find_spec("python_multipart") is not None:  # pragma: no cover - environment
    from fastapi import UploadFile

    @router.post(
        "/records/{record_id}/attachments", status_code=201, summary="Add a photo or file to a record"
    )
    def upload(request: Request, record_id: int, file: UploadFile, scope: CurrentScope) -> dict[str, Any]:
        with engine_of(request).connect() as conn:
            require_record(conn, scope, record_id)
        scope.require_write("field_record")
        content = file.file.read()
        with engine_of(request).begin() as conn:
            added = add_record_attachment(
                conn,
                BlobStore.from_settings(settings_of(request)),
                record_id,
                filename=file.filename or "photo",
                content=content,
                content_type=file.content_type or "",
                added_by=scope.principal.name,
                now=utcnow(),
            )
        return out_row(added)


# ---- reference materials -------------------------------------------------------------------------------


class MaterialIn(BaseModel):
    operator_id: int | None = Field(default=None, description="admin: the operator; operators: their own")
    kind: str = Field(description="gas 标准气体 | solution 标准溶液")
    name: str = Field(description="e.g. SO2 in N2")
    certificate_no: str = Field(description="证书编号")
    lot: str = ""
    concentration: Decimal | None = None
    unit: str = ""
    uncertainty: str = ""
    maker: str = ""
    valid_until: date = Field(description="the last day it may be used (有效期至)")


def operator_ids_of(scope: Scope) -> list[int] | None:
    if scope.operator_ids is None:
        return None
    return sorted(scope.operator_ids)


@router.get("/materials", summary="Reference-material certificates of the operators the caller sees")
def materials(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    valid_on: Annotated[date | None, Query(description="only those valid that day")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    wanted = operator_ids_of(scope)
    if operator_id is not None:
        wanted = [operator_id] if scope.sees_operator(operator_id) else []
    with engine_of(request).connect() as conn:
        rows = mat.list_materials(conn, wanted, valid_on, limit=limit, offset=offset)
    return [out_row(r) for r in rows]


@router.post("/materials", status_code=201, summary="Record a reference-material certificate (SX-20.5)")
def add_material(request: Request, body: MaterialIn, scope: CurrentScope) -> dict[str, Any]:
    operator = writer_operator(scope, body.operator_id)
    scope.require_write("om_register")
    if operator is None:
        raise HTTPException(422, "operator_id is required (the operator the certificate belongs to)")
    draft = mat.MaterialDraft(operator_id=operator, **body.model_dump(exclude={"operator_id"}))
    with engine_of(request).begin() as conn:
        return out_row(mat.add_material(conn, draft, scope.principal.name, utcnow()))


# ---- operator registrations (SX-19) ------------------------------------------------------------------


class RegistrationIn(BaseModel):
    operator_id: int | None = Field(default=None, description="admin: the operator; operators: their own")
    region_code: str = Field(description="the city registered with, e.g. 330100")
    bureau: str = Field(description="受理的生态环境局")
    reference_no: str = Field(description="备案编号")
    registered_on: date
    valid_until: date | None = None


class WithdrawIn(BaseModel):
    on: date | None = Field(default=None, description="the first day it no longer holds (default today)")


def sees_registration(scope: Scope, row: dict[str, Any]) -> bool:
    if scope.sees_operator(row["operator_id"]):
        return True
    code = scope.principal.region_code
    return (
        scope.role == "regulator"
        and bool(code)
        and str(row["region_code"]).startswith(region_prefix(code or ""))
    )


@router.get("/registrations", summary="Operator registrations (报备), newest first")
def registrations(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    with engine_of(request).connect() as conn:
        if scope.role == "regulator":
            code = scope.principal.region_code
            rows = reg.list_registrations(
                conn,
                operator_ids=operator_ids_of(scope),
                region_prefix=region_prefix(code) if code else "-",
                either=True,
                limit=limit,
                offset=offset,
            )
        else:
            rows = reg.list_registrations(
                conn, operator_ids=operator_ids_of(scope), limit=limit, offset=offset
            )
    if operator_id is not None:
        rows = [r for r in rows if r["operator_id"] == operator_id]
    return [out_row(r) for r in rows]


@router.post("/registrations", status_code=201, summary="Record a registration with a city's bureau (SX-19)")
def register(request: Request, body: RegistrationIn, scope: CurrentScope) -> dict[str, Any]:
    operator = writer_operator(scope, body.operator_id)
    scope.require_write("om_register")
    if operator is None:
        raise HTTPException(422, "operator_id is required (the operator that registers)")
    with engine_of(request).begin() as conn:
        row = reg.register(
            conn,
            operator_id=operator,
            region_code=body.region_code,
            bureau=body.bureau,
            reference_no=body.reference_no,
            registered_on=body.registered_on,
            valid_until=body.valid_until,
            recorded_by=scope.principal.name,
            now=utcnow(),
        )
    return out_row(row)


@router.post("/registrations/{registration_id}/withdraw", status_code=201, summary="Withdraw a registration")
def withdraw(request: Request, registration_id: int, body: WithdrawIn, scope: CurrentScope) -> dict[str, Any]:
    now = utcnow()
    with engine_of(request).begin() as conn:
        try:
            row = reg.get_registration(conn, registration_id)
        except NotFound:
            row = None
        if row is None or not sees_registration(scope, row):
            raise NotFound(f"no registration with id {registration_id}")
        scope.require_write("om_register")
        writer_operator(scope, row["operator_id"])
        on = body.on or to_china(now).date()
        return out_row(reg.withdraw(conn, registration_id, on=on, recorded_by=scope.principal.name, now=now))
