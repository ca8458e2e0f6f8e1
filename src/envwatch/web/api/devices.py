"""Devices, their data and their conflicts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from envwatch.core.clock import utcnow
from envwatch.ingest.queries import read_devices
from envwatch.monitoring.store import MeasurementQuery, read_conflicts, read_measurements
from envwatch.web.api.common import engine_of, jsonable, parse_time
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


@router.get("", summary="Registered devices with online status and last packet time")
def list_devices(request: Request, scope: CurrentScope) -> list[dict[str, Any]]:
    rows = scope.filter(read_devices(engine_of(request)), "id", scope.device_ids)
    for row in rows:
        row["online"] = bool(row["online"])
    return [jsonable(r) for r in rows]


def _device_id(request: Request, scope: Scope, mn: str) -> int:
    """The device's id; 404 when it is missing or outside the caller's scope (same answer)."""
    with engine_of(request).connect() as conn:
        return scope.device_id(conn, mn)


@router.get("/{mn}/data", summary="Measurements of one device (values are exact decimal strings)")
def device_data(
    request: Request,
    mn: str,
    scope: CurrentScope,
    kind: Literal["rtd", "minute", "hour", "day"] = "rtd",
    factor: str | None = None,
    from_: Annotated[str | None, Query(alias="from", description="ISO 8601; no offset = China time")] = None,
    to: Annotated[str | None, Query(description="ISO 8601, exclusive; default now")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    device_id = _device_id(request, scope, mn)
    end = parse_time("to", to) or utcnow()
    start = parse_time("from", from_) or end - timedelta(days=1)
    if start >= end:
        raise HTTPException(422, "from must be before to")
    scope.require_period(start, end)
    rows, truncated = read_measurements(
        engine_of(request), MeasurementQuery(device_id, kind, start, end, factor or None, limit)
    )
    for row in rows:
        row["backfill"] = bool(row["backfill"])
        del row["device_id"], row["kind"]
    return {
        "mn": mn,
        "kind": kind,
        "from": jsonable({"t": start})["t"],
        "to": jsonable({"t": end})["t"],
        "truncated": truncated,
        "rows": [jsonable(r) for r in rows],
    }


@router.get("/{mn}/conflicts", summary="Re-sent values that disagreed with the stored ones")
def device_conflicts(
    request: Request, mn: str, scope: CurrentScope, limit: Annotated[int, Query(ge=1, le=10000)] = 1000
) -> list[dict[str, Any]]:
    rows = read_conflicts(engine_of(request), _device_id(request, scope, mn), limit)
    # an auditor sees the conflicts about data of its period only (the query has no time filter, so a
    # page may hold fewer than limit rows for it)
    return [jsonable(r) for r in rows if scope.in_period(r["data_time"])]
