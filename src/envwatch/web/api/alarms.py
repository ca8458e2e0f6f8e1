"""Alarms (报警) API: list, one alarm with its journal and the data behind it, people's actions, attachments.

Scopes (``web.scope``): an alarm is seen by whoever sees its device (an auditor: alarms opened in its period)
and is 404 otherwise, exactly as a missing one. Working on an alarm (acknowledge, handle, assign, comment,
close, attach) is the ``alarm`` write: admin, enterprise, operator, field staff. Times are ISO 8601; a time
without offset is China time; answers are in China time.
"""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from envwatch.alarms import store
from envwatch.alarms.lifecycle import STATES
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import NotFound
from envwatch.registry.attachments import get_attachment
from envwatch.web.api.common import attachment_download, engine_of, jsonable, parse_time, settings_of
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

PersonEvent = Literal["acknowledge", "start_handling", "assign", "comment", "close"]


class ActionIn(BaseModel):
    event: PersonEvent = Field(description="acknowledge | start_handling | assign | comment | close")
    comment: str = Field(default="", description="required for comment; optional otherwise")
    assignee: str | None = Field(default=None, description="assign: the username who takes the alarm")
    cause: str = Field(default="", description="close: the cause (原因), required")
    action: str = Field(default="", description="close: what was done (处理措施), required")


def require_alarm(conn: Connection, scope: Scope, alarm_id: int) -> dict[str, Any]:
    """The alarm, or 404 exactly as for a missing one when the scope does not see it."""
    try:
        row = store.get_alarm(conn, alarm_id)
    except NotFound:
        row = None
    if row is None or not scope.sees_device(row["device_id"]) or not scope.in_period(row["opened_at"]):
        raise NotFound(f"no alarm with id {alarm_id}")
    return row


def data_link(row: dict[str, Any], mn: str | None) -> str | None:
    """The data behind an alarm, from an hour before it began to an hour after its end (or last detection):
    the factor's judged hours, or the device's stored records when the alarm is not about one factor."""
    if mn is None:
        return None
    start = to_china(row["started_at"] - timedelta(hours=1)).strftime("%Y-%m-%dT%H:00")
    end_at = row["ended_at"] or row["last_detected_at"]
    end = to_china(end_at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:00")
    window = urlencode({"from": start, "to": end})
    if row["factor"]:
        return f"/api/v1/devices/{quote(mn)}/hours?{window}&factor={quote(row['factor'])}"
    return f"/api/v1/devices/{quote(mn)}/data?{window}"


def _out(row: dict[str, Any]) -> dict[str, Any]:
    out = jsonable(row)
    out["data_url"] = data_link(row, row.get("mn"))
    return out


@router.get("", summary="Alarms newest first (open ones unless state says otherwise)")
def list_(
    request: Request,
    scope: CurrentScope,
    state: Annotated[
        list[str] | None, Query(description="open | acknowledged | handling | closed | active | all")
    ] = None,
    kind: Annotated[list[str] | None, Query(description="offline, exceedance, constant, …")] = None,
    mn: str | None = None,
    factor: str | None = None,
    from_: Annotated[str | None, Query(alias="from", description="opened at or after (ISO 8601)")] = None,
    to: Annotated[str | None, Query(description="opened before (ISO 8601)")] = None,
    escalated: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    states = _states(state)
    engine = engine_of(request)
    device_ids = scope.device_ids
    if mn:
        with engine.connect() as conn:
            device_ids = frozenset({scope.device_id(conn, mn)})
    start, end = parse_time("from", from_), parse_time("to", to)
    if start is None and end is None and scope.period is not None:
        start, end = scope.period_bounds() or (None, None)  # an auditor lists its own period
    scope.require_period(start, end)
    query = store.AlarmQuery(
        device_ids=device_ids,
        states=states,
        kinds=kind or None,
        factor=factor or None,
        opened_from=start,
        opened_to=end,
        escalated=escalated,
        limit=limit,
        offset=offset,
    )
    with engine.connect() as conn:
        rows, total = store.list_alarms(conn, query)
    return {"total": total, "limit": limit, "offset": offset, "rows": [_out(r) for r in rows]}


def _states(asked: list[str] | None) -> frozenset[str] | None:
    if not asked or asked == ["active"]:
        return frozenset(s for s in STATES if s != "closed")
    if "all" in asked:
        return None
    unknown = sorted(set(asked) - set(STATES))
    if unknown:
        raise HTTPException(
            422, f"unknown state {', '.join(unknown)}: use {', '.join(STATES)}, active or all"
        )
    return frozenset(asked)


@router.get("/{alarm_id}", summary="One alarm with its journal, attachments and the link to its data")
def get(request: Request, alarm_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        row = require_alarm(conn, scope, alarm_id)
        out = _out({**row, **store.device_names(conn, row["device_id"])})
        out["events"] = [jsonable(e) for e in store.alarm_events_of(conn, alarm_id)]
        out["attachments"] = [jsonable(a) for a in store.alarm_attachments(conn, alarm_id)]
    return out


@router.post("/{alarm_id}/actions", summary="Acknowledge, start handling, assign, comment or close an alarm")
def act(request: Request, alarm_id: int, body: ActionIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        require_alarm(conn, scope, alarm_id)  # 404 first: a refusal must not reveal the alarm
        scope.require_write("alarm")
        row = store.apply(
            conn,
            alarm_id,
            store.Action(
                body.event, comment=body.comment, assignee=body.assignee, cause=body.cause, action=body.action
            ),
            actor=scope.principal.name,
            now=utcnow(),
        )
    return jsonable(row)


def _blobs(request: Request) -> BlobStore:
    return BlobStore.from_settings(settings_of(request))


@router.get("/{alarm_id}/attachments/{attachment_id}", summary="Download an attachment of an alarm")
def download(request: Request, alarm_id: int, attachment_id: int, scope: CurrentScope) -> Response:
    with engine_of(request).connect() as conn:
        require_alarm(conn, scope, alarm_id)
        found = get_attachment(conn, attachment_id)
    return attachment_download(request, found, "alarm", alarm_id, attachment_id)


MULTIPART = importlib.util.find_spec("python_multipart") is not None

if MULTIPART:  # pragma: no cover - depends on the environment
    from fastapi import UploadFile

    @router.post("/{alarm_id}/attachments", status_code=201, summary="Attach a file (record, photo)")
    def upload(request: Request, alarm_id: int, file: UploadFile, scope: CurrentScope) -> dict[str, Any]:
        with engine_of(request).connect() as conn:
            require_alarm(conn, scope, alarm_id)
        scope.require_write("alarm")
        content = file.file.read()
        with engine_of(request).begin() as conn:
            row = store.add_alarm_attachment(
                conn,
                _blobs(request),
                alarm_id,
                filename=file.filename or "attachment",
                content=content,
                content_type=file.content_type or "",
                actor=scope.principal.name,
                now=utcnow(),
            )
        return jsonable(row)
