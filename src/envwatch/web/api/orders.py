"""Supervision orders (电子督办) API: issue, list, one order with its journal, respond, accept, return.

Who sees an order (404 otherwise, exactly as a missing one): admin; a regulator when the order was issued in
its region or its receiver enterprise lies there; the receiving enterprise; the receiving operator's people
(operator, field staff, auditor). Who acts: a regulator (or admin) issues, accepts, returns and withdraws
(the ``order`` write); the receiver responds with evidence (``order_response``: the enterprise or operator
the order is addressed to, or admin); anyone who sees it may comment. Times are ISO 8601; a time without
offset is China time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from envwatch.alarms import orders as store
from envwatch.alarms.order_lifecycle import InvalidTransition, is_closed
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import NotFound
from envwatch.registry.attachments import add_attachment, get_attachment, list_attachments
from envwatch.registry.service import region_prefix
from envwatch.web.api.alarms import require_alarm
from envwatch.web.api.common import attachment_download, engine_of, jsonable, parse_time, settings_of
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


class OrderIn(BaseModel):
    enterprise_id: int | None = Field(default=None, description="the receiving enterprise (or operator_id)")
    operator_id: int | None = Field(default=None, description="the receiving operator (or enterprise_id)")
    title: str = Field(description="督办事项, at most 200 characters")
    body: str = Field(description="what must be done (督办要求)")
    deadline: str = Field(description="ISO 8601; no offset = China time")
    alarm_ids: list[int] = Field(default_factory=list, description="the alarms the order is made from")
    region_code: str | None = Field(default=None, description="admin only: the issuing region (2/4/6 digits)")


class OrderActionIn(BaseModel):
    event: Literal["respond", "accept", "return", "withdraw", "comment"]
    text: str = Field(default="", description="the response, the reason (return, withdraw) or the comment")
    attachment_ids: list[int] = Field(default_factory=list, description="respond: evidence uploaded before")
    new_deadline: str | None = Field(default=None, description="return: a new deadline (ISO 8601)")


def sees_order(scope: Scope, row: dict[str, Any]) -> bool:
    role, who = scope.role, scope.principal
    if role == "admin":
        return True
    if role == "regulator":
        if row["enterprise_id"] is not None and scope.sees_enterprise(row["enterprise_id"]):
            return True
        return bool(who.region_code) and str(row["region_code"]).startswith(
            region_prefix(who.region_code or "")
        )
    if role == "enterprise":
        return row["enterprise_id"] is not None and row["enterprise_id"] == who.enterprise_id
    return row["operator_id"] is not None and row["operator_id"] == who.operator_id


def require_order(conn: Connection, scope: Scope, order_id: int) -> dict[str, Any]:
    try:
        row = store.get_order(conn, order_id)
    except NotFound:
        row = None
    if row is None or not sees_order(scope, row):
        raise NotFound(f"no order with id {order_id}")
    return row


def require_receiver(scope: Scope, row: dict[str, Any]) -> None:
    scope.require_write("order_response")
    who = scope.principal
    mine = scope.role == "admin" or (
        (scope.role == "enterprise" and row["enterprise_id"] == who.enterprise_id)
        or (scope.role == "operator" and row["operator_id"] == who.operator_id)
    )
    if not mine:
        raise HTTPException(403, "only the order's receiver responds to it")


@router.post("", status_code=201, summary="Issue a supervision order (督办) to an enterprise or an operator")
def issue(request: Request, body: OrderIn, scope: CurrentScope) -> dict[str, Any]:
    # 404 first for a receiver or an alarm the caller does not see (a refusal must not reveal them)
    if body.enterprise_id is not None:
        scope.require_enterprise(body.enterprise_id)
    if body.operator_id is not None:
        scope.require_operator(body.operator_id)
    with engine_of(request).connect() as conn:
        for alarm_id in body.alarm_ids:
            require_alarm(conn, scope, alarm_id)
    scope.require_write("order")
    region = scope.principal.region_code if scope.role == "regulator" else body.region_code
    if not region:
        raise HTTPException(422, "region_code is required (the issuing region, 2, 4 or 6 digits)")
    deadline = parse_time("deadline", body.deadline)
    if deadline is None:
        raise HTTPException(422, "deadline is required")
    with engine_of(request).begin() as conn:
        row = store.issue_order(
            conn,
            region_code=region,
            enterprise_id=body.enterprise_id,
            operator_id=body.operator_id,
            title=body.title,
            body=body.body,
            deadline=deadline,
            alarm_ids=body.alarm_ids,
            issued_by=scope.principal.name,
            now=utcnow(),
        )
    return jsonable(row)


@router.get("", summary="Orders newest first, as the caller may see them")
def list_(
    request: Request,
    scope: CurrentScope,
    state: Annotated[
        list[str] | None, Query(description="issued | responded | returned | accepted | withdrawn")
    ] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        f = replace(order_filter(scope), states=state or None, overdue_at=utcnow() if overdue else None)
        rows = store.list_orders(conn, f, limit=limit, offset=offset)
        total = store.count_orders(conn, f)
    return {"total": total, "limit": limit, "offset": offset, "rows": [jsonable(r) for r in rows]}


def order_filter(scope: Scope) -> store.OrderFilter:
    """The orders ``scope`` sees, as a list filter (the same rule as :func:`sees_order`)."""
    who = scope.principal
    if scope.role == "admin":
        return store.OrderFilter()
    if scope.role == "regulator":
        prefix = region_prefix(who.region_code) if who.region_code else "-"  # no region: nothing matches
        return store.OrderFilter(regulator=(prefix, scope.enterprise_ids or frozenset()))
    if scope.role == "enterprise":
        return store.OrderFilter(enterprise_ids=[who.enterprise_id] if who.enterprise_id is not None else [])
    return store.OrderFilter(operator_ids=[who.operator_id] if who.operator_id is not None else [])


@router.get("/{order_id}", summary="One order with its journal, alarms and evidence")
def get(request: Request, order_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        row = require_order(conn, scope, order_id)
        out = jsonable(row)
        out["events"] = [jsonable(e) for e in store.order_events_of(conn, order_id)]
        out["alarm_ids"] = store.alarm_ids_of(conn, order_id)
        out["attachments"] = [jsonable(a) for a in list_attachments(conn, "order", order_id)]
    return out


@router.post("/{order_id}/actions", summary="Respond, accept, return, withdraw or comment on an order")
def act(request: Request, order_id: int, body: OrderActionIn, scope: CurrentScope) -> dict[str, Any]:
    now = utcnow()
    with engine_of(request).begin() as conn:
        row = require_order(conn, scope, order_id)  # 404 first
        who = scope.principal.name
        if body.event == "respond":
            require_receiver(scope, row)
            result = store.respond(
                conn, order_id, text=body.text, attachment_ids=body.attachment_ids, actor=who, now=now
            )
        elif body.event == "comment":
            result = store.comment(conn, order_id, text=body.text, actor=who, now=now)
        else:
            scope.require_write("order")
            if body.event == "accept":
                result = store.accept(conn, order_id, comment=body.text, actor=who, now=now)
            elif body.event == "return":
                new_deadline = parse_time("new_deadline", body.new_deadline)
                result = store.return_order(
                    conn, order_id, reason=body.text, new_deadline=new_deadline, actor=who, now=now
                )
            else:
                result = store.withdraw(conn, order_id, reason=body.text, actor=who, now=now)
    return jsonable(result)


def _blobs(request: Request) -> BlobStore:
    return BlobStore.from_settings(settings_of(request))


@router.get("/{order_id}/attachments/{attachment_id}", summary="Download evidence of an order")
def download(request: Request, order_id: int, attachment_id: int, scope: CurrentScope) -> Response:
    with engine_of(request).connect() as conn:
        require_order(conn, scope, order_id)
        found = get_attachment(conn, attachment_id)
    return attachment_download(request, found, "order", order_id, attachment_id)


if importlib.util.find_spec("python_multipart") is not None:  # pragma: no cover - environment
    from fastapi import UploadFile

    @router.post("/{order_id}/attachments", status_code=201, summary="Upload evidence for a response")
    def upload(request: Request, order_id: int, file: UploadFile, scope: CurrentScope) -> dict[str, Any]:
        with engine_of(request).connect() as conn:
            row = require_order(conn, scope, order_id)
        require_receiver(scope, row)
        if is_closed(row["state"]):
            raise InvalidTransition(f"order {order_id} is {row['state']}: it takes no more evidence")
        content = file.file.read()
        with engine_of(request).begin() as conn:
            added = add_attachment(
                conn,
                _blobs(request),
                owner_kind="order",
                owner_id=order_id,
                filename=file.filename or "evidence",
                content=content,
                content_type=file.content_type or "",
                added_by=scope.principal.name,
                now=utcnow(),
            )
        return jsonable(added)
