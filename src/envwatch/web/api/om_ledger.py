"""O&M API (issue 6): the equipment ledger (一机一档, CS-4.4.3), spare parts, emergency plans and drills
(CS-4.2.3).

Everything here belongs to one operator (运维单位). Who reads an operator's ledger (:func:`ledger_operators`):
admin (every operator); the operator's people (operator, field staff, auditor: their own); a regulator the
operators with a contract with an enterprise of its region (``Scope.operator_ids``, as ``web.api.audit``
reads them). An enterprise reads none of it. Anything else answers exactly like a missing object (404), and
the lists hold only what may be read.

Who writes (the ``ledger`` write: admin, operator, field staff): their own operator's ledger (admin: any,
naming ``operator_id``). Order of the checks: what is named must be readable (404), then the write (403),
then the store's own checks (422 / 409). Days are China calendar days (``YYYY-MM-DD``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import NotFound
from envwatch.operations import emergency, equipment, spare_parts
from envwatch.operations.equipment import EquipmentFilter
from envwatch.operations.ledger_checks import china_today
from envwatch.registry.attachments import get_attachment
from envwatch.web.api.common import attachment_download, engine_of, jsonable, settings_of
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/om", tags=["om-ledger"])

OPERATOR_PEOPLE = frozenset({"operator", "field_staff", "auditor"})


# ---- who reads what ----


def ledger_operators(scope: Scope) -> frozenset[int] | None:
    """The operators whose ledger ``scope`` reads (None: every operator)."""
    if scope.role == "admin":
        return None
    if scope.role == "regulator":
        return scope.operator_ids or frozenset()
    own = scope.principal.operator_id
    if scope.role in OPERATOR_PEOPLE and own is not None:
        return frozenset({own})
    return frozenset()


def sees_ledger(scope: Scope, operator_id: int) -> bool:
    readable = ledger_operators(scope)
    return readable is None or operator_id in readable


def require_ledger(scope: Scope, operator_id: int) -> None:
    if not sees_ledger(scope, operator_id):
        raise NotFound(f"no operator with id {operator_id}")


def read_operators(scope: Scope, asked: int | None) -> Collection[int] | None:
    """The operators a list holds: the one asked for (404 when it may not be read), else all readable."""
    if asked is None:
        return ledger_operators(scope)
    require_ledger(scope, asked)
    return [asked]


def write_operator(scope: Scope, asked: int | None) -> int:
    """The operator a new record belongs to: the one named (404 when not readable), else one's own; the
    ``ledger`` write (403) before the missing-operator error (422)."""
    if asked is not None:
        require_ledger(scope, asked)
    scope.require_write("ledger")
    operator_id = asked if asked is not None else scope.principal.operator_id
    if operator_id is None:
        raise HTTPException(422, "operator_id is required")
    return operator_id


def status_operator(scope: Scope, asked: int | None) -> int:
    """The one operator a status is asked for: the one named, else one's own (422 without either)."""
    operator_id = asked if asked is not None else scope.principal.operator_id
    if operator_id is None:
        raise HTTPException(422, "operator_id is required")
    require_ledger(scope, operator_id)
    return operator_id


def require_equipment(conn: Connection, scope: Scope, equipment_id: int) -> dict[str, Any]:
    """The equipment row, or 404 exactly as for a missing one."""
    try:
        row = equipment.get_equipment_row(conn, equipment_id)
    except NotFound:
        row = None
    if row is None or not sees_ledger(scope, row["operator_id"]):
        raise NotFound(f"no equipment with id {equipment_id}")
    return row


def require_part(conn: Connection, scope: Scope, part_id: int) -> dict[str, Any]:
    try:
        row = spare_parts.get_part(conn, part_id)
    except NotFound:
        row = None
    if row is None or not sees_ledger(scope, row["operator_id"]):
        raise NotFound(f"no spare part with id {part_id}")
    return row


def require_plan(conn: Connection, scope: Scope, plan_id: int) -> dict[str, Any]:
    try:
        row = emergency.get_plan(conn, plan_id)
    except NotFound:
        row = None
    if row is None or not sees_ledger(scope, row["operator_id"]):
        raise NotFound(f"no emergency plan with id {plan_id}")
    return row


def require_drill(conn: Connection, scope: Scope, drill_id: int) -> dict[str, Any]:
    try:
        row = emergency.get_drill(conn, drill_id)
    except NotFound:
        row = None
    if row is None or not sees_ledger(scope, row["operator_id"]):
        raise NotFound(f"no drill with id {drill_id}")
    return row


def device_of(conn: Connection, scope: Scope, mn: str | None) -> int | None:
    """The id of the device named by MN (404 when the caller does not see it)."""
    return None if mn is None or mn == "" else scope.device_id(conn, mn)


def _with_status(row: dict[str, Any], today: date, within_days: int) -> dict[str, Any]:
    out = jsonable(row)
    out["verification"] = equipment.verification_status(
        row["next_verification_due"], row["state"], today, within_days
    )
    return out


# ---- equipment (一机一档) ----


class EquipmentIn(BaseModel):
    operator_id: int | None = Field(default=None, description="admin: the operator; others: their own")
    kind: str = Field(description="analyser 分析仪 | tool 工具 | meter 计量器具 | other")
    name: str
    model: str = Field(description="型号")
    serial: str = Field(description="出厂编号; model + serial are unique per operator")
    purchased_on: date = Field(description="purchase day, YYYY-MM-DD (China date), not in the future")
    comment: str = ""


class EquipmentEventIn(BaseModel):
    event: str = Field(
        description="installed | moved | removed | sent_to_repair | repaired | maintained | verified | scrapped"
    )
    on: date = Field(description="the day it happened, YYYY-MM-DD (China date)")
    mn: str | None = Field(default=None, description="installed, moved: the device it goes to")
    next_due: date | None = Field(default=None, description="verified: the next verification due day")
    comment: str = Field(default="", description="required for sent_to_repair, repaired, scrapped")


@router.get("/equipment", summary="Equipment files (一机一档) the caller may read")
def list_equipment(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    mn: Annotated[str | None, Query(description="only equipment installed at this device")] = None,
    state: Annotated[
        list[str] | None, Query(description="in_stock | installed | repairing | scrapped")
    ] = None,
    due_within: Annotated[
        int | None, Query(ge=0, le=3650, description="verification due within N days (overdue included)")
    ] = None,
    overdue: Annotated[bool, Query(description="only those whose verification is overdue")] = False,
) -> dict[str, Any]:
    today = china_today(utcnow())
    with engine_of(request).connect() as conn:
        f = EquipmentFilter(
            operator_ids=read_operators(scope, operator_id),
            device_id=device_of(conn, scope, mn),
            states=state or None,
            due_by=None if due_within is None else today + timedelta(days=due_within),
            overdue_on=today if overdue else None,
        )
        rows = equipment.list_equipment(conn, f, limit=equipment.LIST_MAX)
    within = equipment.VERIFICATION_WARN_DAYS
    return {"today": today.isoformat(), "rows": [_with_status(r, today, within) for r in rows]}


@router.post("/equipment", status_code=201, summary="Open an equipment file (purchased, in stock)")
def add_equipment(request: Request, body: EquipmentIn, scope: CurrentScope) -> dict[str, Any]:
    operator_id = write_operator(scope, body.operator_id)
    now = utcnow()
    with engine_of(request).begin() as conn:
        row = equipment.add_equipment(
            conn,
            operator_id=operator_id,
            kind=body.kind,
            name=body.name,
            model=body.model,
            serial=body.serial,
            purchased_on=body.purchased_on,
            comment=body.comment,
            recorded_by=scope.principal.name,
            now=now,
        )
    return _file_out(row, china_today(now))


@router.get(
    "/equipment/verification-due", summary="Equipment whose verification (检定/校准) is due or overdue"
)
def verification_due(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    within_days: Annotated[int, Query(ge=0, le=3650)] = equipment.VERIFICATION_WARN_DAYS,
) -> dict[str, Any]:
    today = china_today(utcnow())
    with engine_of(request).connect() as conn:
        rows = equipment.verification_due(conn, read_operators(scope, operator_id), today, within_days)
    return {"today": today.isoformat(), "within_days": within_days, "rows": [jsonable(r) for r in rows]}


def _file_out(row: dict[str, Any], today: date) -> dict[str, Any]:
    out = _with_status(row, today, equipment.VERIFICATION_WARN_DAYS)
    out["events"] = [jsonable(e) for e in row.get("events", [])]
    return out


@router.get("/equipment/{equipment_id}", summary="One equipment file: identity, state, journal")
def get_equipment(request: Request, equipment_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        require_equipment(conn, scope, equipment_id)
        row = equipment.get_equipment(conn, equipment_id)
    return _file_out(row, china_today(utcnow()))


@router.post("/equipment/{equipment_id}/events", summary="Record an event in an equipment file")
def record_event(
    request: Request, equipment_id: int, body: EquipmentEventIn, scope: CurrentScope
) -> dict[str, Any]:
    now = utcnow()
    with engine_of(request).begin() as conn:
        require_equipment(conn, scope, equipment_id)  # 404 first
        scope.require_write("ledger")
        device_id = device_of(conn, scope, body.mn)
        row = equipment.record_event(
            conn,
            equipment_id,
            event=body.event,
            on=body.on,
            device_id=device_id,
            next_due=body.next_due,
            comment=body.comment,
            recorded_by=scope.principal.name,
            now=now,
        )
    return _file_out(row, china_today(now))


# ---- spare parts (备品备件) ----


class PartIn(BaseModel):
    operator_id: int | None = Field(default=None, description="admin: the operator; others: their own")
    name: str
    model: str
    unit: str = Field(description="个, 瓶, 套, …")
    min_stock: int = Field(default=0, description="reorder below this")


class MoveIn(BaseModel):
    quantity: int = Field(description="in > 0, out < 0")
    reason: str
    mn: str | None = Field(default=None, description="an outgoing move: the device the parts were used at")


@router.get("/spare-parts", summary="Spare parts with their stock and the below-minimum flag")
def list_parts(request: Request, scope: CurrentScope, operator_id: int | None = None) -> dict[str, Any]:
    wanted = read_operators(scope, operator_id)
    with engine_of(request).connect() as conn:
        rows = spare_parts.stock(conn, None)
    if wanted is not None:
        rows = [r for r in rows if r["operator_id"] in wanted]
    return {"rows": [jsonable(r) for r in rows], "below_min": sum(1 for r in rows if r["below_min"])}


@router.post("/spare-parts", status_code=201, summary="Register a spare part (stock 0 until its first move)")
def add_part(request: Request, body: PartIn, scope: CurrentScope) -> dict[str, Any]:
    operator_id = write_operator(scope, body.operator_id)
    with engine_of(request).begin() as conn:
        row = spare_parts.add_part(
            conn,
            operator_id=operator_id,
            name=body.name,
            model=body.model,
            unit=body.unit,
            min_stock=body.min_stock,
            now=utcnow(),
        )
    return jsonable(row)


@router.get("/spare-parts/{part_id}", summary="One spare part with its stock and its moves, newest first")
def get_part(request: Request, part_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        row = require_part(conn, scope, part_id)
        moves = spare_parts.part_moves(conn, part_id)
    return {**jsonable(row), "moves": [jsonable(m) for m in moves]}


@router.post("/spare-parts/{part_id}/moves", status_code=201, summary="Record a move in (+) or out (−)")
def move_part(request: Request, part_id: int, body: MoveIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        require_part(conn, scope, part_id)  # 404 first
        scope.require_write("ledger")
        row = spare_parts.move(
            conn,
            part_id,
            body.quantity,
            body.reason,
            device_of(conn, scope, body.mn),
            recorded_by=scope.principal.name,
            now=utcnow(),
        )
    return jsonable(row)


# ---- emergency plans and drills (应急预案, 应急演练) ----


class PlanIn(BaseModel):
    operator_id: int | None = Field(default=None, description="admin: the operator; others: their own")
    event_type: str = Field(description=" | ".join(emergency.EVENT_TYPES))
    title: str
    version: str = Field(description="a revision is a new plan of the same event type with a new version")
    effective_on: date = Field(description="YYYY-MM-DD, not in the future")
    body: str = Field(description="the plan's text")


class DrillIn(BaseModel):
    plan_id: int = Field(description="the plan revision the drill was held under")
    held_on: date = Field(description="YYYY-MM-DD (China date), not in the future")
    participants: int = Field(description="at least 1")
    summary: str = Field(description="演练记录: what was done, what was found")


@router.get("/emergency-plans", summary="Emergency plans (all revisions, or the current ones)")
def list_plans(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    event_type: str | None = None,
    current: Annotated[bool, Query(description="only the current revision of each event type")] = False,
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        rows = emergency.list_plans(
            conn, read_operators(scope, operator_id), event_type=event_type, current_only=current
        )
    return {"rows": [jsonable(r) for r in rows]}


@router.post("/emergency-plans", status_code=201, summary="Record a plan or a revision (it becomes current)")
def add_plan(request: Request, body: PlanIn, scope: CurrentScope) -> dict[str, Any]:
    operator_id = write_operator(scope, body.operator_id)
    with engine_of(request).begin() as conn:
        row = emergency.add_plan(
            conn,
            operator_id=operator_id,
            event_type=body.event_type,
            title=body.title,
            version=body.version,
            effective_on=body.effective_on,
            body=body.body,
            recorded_by=scope.principal.name,
            now=utcnow(),
        )
    return jsonable(row)


@router.get("/drills", summary="Drills, newest first")
def list_drills(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    year: Annotated[int | None, Query(ge=1900, le=9999)] = None,
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        rows = emergency.list_drills(conn, read_operators(scope, operator_id), year=year)
    return {"rows": [jsonable(r) for r in rows]}


@router.post("/drills", status_code=201, summary="Record a drill held under a plan")
def add_drill(request: Request, body: DrillIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        require_plan(conn, scope, body.plan_id)  # 404 first
        scope.require_write("ledger")
        row = emergency.add_drill(
            conn,
            body.plan_id,
            held_on=body.held_on,
            participants=body.participants,
            summary=body.summary,
            recorded_by=scope.principal.name,
            now=utcnow(),
        )
    return jsonable(row)


@router.get("/drills/status", summary="CS-4.2.3 for one operator and year: drills held, plans missing")
def drill_status(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    year: Annotated[int | None, Query(ge=1900, le=9999, description="default: this China year")] = None,
) -> dict[str, Any]:
    operator = status_operator(scope, operator_id)
    with engine_of(request).connect() as conn:
        status = emergency.drill_status(conn, operator, year or china_today(utcnow()).year)
    return {
        "operator_id": status.operator_id,
        "year": status.year,
        "drills": [jsonable(d) for d in status.drills],
        "required": status.required,
        "met": status.met,
        "current_plans": [jsonable(p) for p in status.plans],
        "missing_event_types": list(status.missing_event_types),
    }


@router.get("/drills/{drill_id}", summary="One drill with its attachments")
def get_drill(request: Request, drill_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        row = require_drill(conn, scope, drill_id)
        files = emergency.drill_attachments(conn, drill_id)
    return {**jsonable(row), "attachments": [jsonable(a) for a in files]}


@router.get("/drills/{drill_id}/attachments/{attachment_id}", summary="Download a drill's attachment")
def download(request: Request, drill_id: int, attachment_id: int, scope: CurrentScope) -> Response:
    with engine_of(request).connect() as conn:
        require_drill(conn, scope, drill_id)
        found = get_attachment(conn, attachment_id)
    return attachment_download(request, found, emergency.ATTACHMENT_KIND, drill_id, attachment_id)


if importlib.util.find_spec("python_multipart") is not None:  # pragma: no cover - environment
    from fastapi import UploadFile

    @router.post(
        "/drills/{drill_id}/attachments",
        status_code=201,
        summary="Attach a photo or sign-in sheet to a drill",
    )
    def upload(request: Request, drill_id: int, file: UploadFile, scope: CurrentScope) -> dict[str, Any]:
        with engine_of(request).connect() as conn:
            require_drill(conn, scope, drill_id)
        scope.require_write("ledger")
        content = file.file.read()
        with engine_of(request).begin() as conn:
            added = emergency.add_drill_attachment(
                conn,
                BlobStore.from_settings(settings_of(request)),
                drill_id,
                filename=file.filename or "attachment",
                content=content,
                content_type=file.content_type or "",
                added_by=scope.principal.name,
                now=utcnow(),
            )
        return jsonable(added)
