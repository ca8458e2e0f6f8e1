"""Notifications API: one's in-app inbox (站内消息), and the administrator's notification targets (e-mail,
SMS, webhook addresses of enterprises, operators and regions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from envwatch.alarms import notify_targets as targets
from envwatch.alarms.inbox import Mailbox, inbox
from envwatch.core.clock import utcnow
from envwatch.registry.service import region_prefix
from envwatch.web.api.common import engine_of, jsonable
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


def mailbox_of(scope: Scope) -> Mailbox:
    who = scope.principal
    if scope.role == "admin":
        return Mailbox(everything=True)
    if scope.role == "regulator":
        return Mailbox(region_prefixes=(region_prefix(who.region_code),) if who.region_code else ())
    if scope.role == "enterprise":
        return Mailbox(scopes=(f"enterprise:{who.enterprise_id}",) if who.enterprise_id is not None else ())
    if scope.role in ("operator", "field_staff"):
        return Mailbox(scopes=(f"operator:{who.operator_id}",) if who.operator_id is not None else ())
    return Mailbox()  # the auditor reads data, it is not told of events


@router.get("/inbox", summary="In-app notifications addressed to the caller's enterprise, operator or region")
def get_inbox(
    request: Request,
    scope: CurrentScope,
    topic: Literal["alarm", "order", "audit"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        rows, total = inbox(conn, mailbox_of(scope), topic=topic, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "rows": [jsonable(r) for r in rows]}


class TargetIn(BaseModel):
    channel: Literal["email", "webhook", "sms"]
    address: str = Field(description="e-mail address, https URL or phone number")
    enterprise_id: int | None = None
    operator_id: int | None = None
    region_code: str | None = Field(default=None, description="a regulator's region, 2/4/6 digits")
    topics: list[str] = Field(default_factory=list, description="alarm, order, audit; empty = all")


def require_admin(scope: Scope) -> None:
    if scope.role != "admin":
        raise HTTPException(403, f"role {scope.role} may not manage notification targets")


@router.get("/targets", summary="Notification targets (admin)")
def list_targets(
    request: Request, scope: CurrentScope, include_inactive: bool = False
) -> list[dict[str, Any]]:
    require_admin(scope)
    with engine_of(request).connect() as conn:
        return [jsonable(t) for t in targets.list_targets(conn, include_inactive=include_inactive)]


@router.post("/targets", status_code=201, summary="Add an e-mail, SMS or webhook target (admin)")
def add_target(request: Request, body: TargetIn, scope: CurrentScope) -> dict[str, Any]:
    require_admin(scope)
    with engine_of(request).begin() as conn:
        row = targets.add_target(
            conn,
            channel=body.channel,
            address=body.address,
            enterprise_id=body.enterprise_id,
            operator_id=body.operator_id,
            region_code=body.region_code,
            topics=body.topics,
            created_by=scope.principal.name,
            now=utcnow(),
        )
    return jsonable(row)


@router.post("/targets/{target_id}/deactivate", summary="Stop sending to a target (admin; kept as history)")
def deactivate(request: Request, target_id: int, scope: CurrentScope) -> dict[str, Any]:
    require_admin(scope)
    with engine_of(request).begin() as conn:
        return jsonable(targets.deactivate_target(conn, target_id))
