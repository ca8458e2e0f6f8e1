"""Registry API for the data loggers themselves (数采仪): create/update by MN, and their SM4 keys.

Placing a device on an outlet and its factors are in ``web.api.registry``. Writes are the admin's.
A key is shown once, when it is set; afterwards only its fingerprint.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from envwatch.core.clock import utcnow
from envwatch.registry.device_keys import add_key, key_history
from envwatch.registry.schema import devices
from envwatch.registry.service import device_by_mn
from envwatch.registry.store import put_device
from envwatch.web.api.common import engine_of, jsonable
from envwatch.web.scope import CurrentScope

router = APIRouter(prefix="/api/v1/registry/devices", tags=["registry"])


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pw: str
    name: str
    kind: str
    protocol: str
    enterprise: str | None = None
    outlet: str | None = None
    crc_variants: str | None = None
    sm4_key: str | None = None
    model: str | None = None
    serial: str | None = None


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sm4_key: str | None = None  # 32 hex digits; empty: the platform generates a random key


@router.get("/{mn}", summary="One data logger's registry record (without its password)")
def get_device(request: Request, mn: str, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        scope.device_id(conn, mn)  # out of scope: 404 as for a missing device
        row = device_by_mn(conn, mn)
    row.pop("pw", None)
    return jsonable(row)


@router.put("/{mn}", summary="Create or update a data logger by MN (same checks as the device file)")
def put(request: Request, mn: str, body: DeviceIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        if conn.execute(select(devices.c.id).where(devices.c.mn == mn)).scalar() is not None:
            scope.device_id(conn, mn)  # someone else's device: 404, before saying who may write
        scope.require_write("registry")
        return jsonable(put_device(conn, mn, body.model_dump(exclude_none=True), utcnow()))


@router.get("/{mn}/keys", summary="SM4 key history as fingerprints (current, previous, retired)")
def keys(request: Request, mn: str, scope: CurrentScope) -> list[dict[str, Any]]:
    with engine_of(request).connect() as conn:
        scope.device_id(conn, mn)
        return [jsonable(k) for k in key_history(conn, mn)]


@router.post("/{mn}/keys", status_code=201, summary="Set a new SM4 key (given, or generated); shown once")
def new_key(request: Request, mn: str, body: KeyIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        scope.device_id(conn, mn)
        scope.require_write("registry")
        return jsonable(add_key(conn, mn, body.sm4_key or None, utcnow()))
