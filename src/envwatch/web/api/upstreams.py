"""Upstream forwarding status API (数据转发, 市 → 省 → 部): ``GET /api/v1/upstreams``.

Each upstream platform with its current settings, whether its forwarder runs and is connected, its cursor
into the raw packet log, its lag (packets waiting, seconds the oldest has waited), its counters and last
error. Platform-wide configuration: the admin and regulators read it; other roles get 403. Changes are
made with ``envwatch upstream`` (docs/operations/upstream.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from envwatch.core.clock import utcnow
from envwatch.ingest.upstream.status import figures
from envwatch.web.api.common import engine_of, jsonable, settings_of
from envwatch.web.scope import CurrentScope

router = APIRouter(prefix="/api/v1/upstreams", tags=["upstreams"])

READERS = frozenset({"admin", "regulator"})


@router.get("", summary="Every upstream platform: settings, connection, cursor, lag and counters")
def upstreams(request: Request, scope: CurrentScope) -> list[dict[str, Any]]:
    if scope.role not in READERS:
        raise HTTPException(403, f"role {scope.role} may not read the upstream forwarding status")
    with engine_of(request).connect() as conn:
        rows = figures(conn, settings_of(request), utcnow())
    return [jsonable(row) for row in rows]
