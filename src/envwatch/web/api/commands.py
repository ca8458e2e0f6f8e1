"""Downlink commands: ask a connected data logger for its time, set it, or re-send history (补传)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from envwatch.core.clock import utcnow
from envwatch.core.errors import NotFound
from envwatch.ingest.commands import SPECS, CommandView, create_command, get_command
from envwatch.ingest.schema import commands
from envwatch.web.api.common import engine_of, time_out
from envwatch.web.scope import CurrentScope

router = APIRouter(prefix="/api/v1", tags=["commands"])


class CommandRequest(BaseModel):
    cn: str = Field(
        description="HJ 212 command code: " + ", ".join(f"{s.cn} {s.title}" for s in SPECS.values())
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="CP parameters: RtdInterval, MinInterval, SystemTime, BeginTime/EndTime (China time)",
        examples=[{"BeginTime": "20261122080000", "EndTime": "20261122120000"}],
    )


def _out(view: CommandView) -> dict[str, Any]:
    return {
        "id": view.id,
        "mn": view.mn,
        "cn": view.cn,
        "qn": view.qn,
        "params": view.params,
        "requested_by": view.requested_by,
        "created_at": time_out(view.created_at),
        "status": view.status,
        "final": view.final,
        "events": view.events,
    }


@router.post("/devices/{mn}/commands", status_code=202, summary="Queue a command for a device")
def post_command(request: Request, mn: str, body: CommandRequest, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        scope.device_id(conn, mn)  # 404 first: a refusal must not reveal that the device exists
    scope.require_write("command")
    view = create_command(
        engine_of(request),
        mn=mn,
        cn=body.cn,
        params=body.params,
        requested_by=scope.principal.name,
        now=utcnow(),
    )
    return _out(view)


@router.get("/commands/{command_id}", summary="A command and everything that happened to it")
def read_command(request: Request, command_id: int, scope: CurrentScope) -> dict[str, Any]:
    if not scope.everything:
        with engine_of(request).connect() as conn:
            row = conn.execute(
                select(commands.c.device_id, commands.c.created_at).where(commands.c.id == command_id)
            ).first()
        if row is None or not scope.sees_device(row.device_id) or not scope.in_period(row.created_at):
            raise NotFound(f"no command {command_id}")
    return _out(get_command(engine_of(request), command_id))
