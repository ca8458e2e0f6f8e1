"""Devices, their data and their conflicts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from envwatch.core.clock import utcnow
from envwatch.ingest.queries import device_id_for, read_devices
from envwatch.monitoring.store import MeasurementQuery, read_conflicts, read_measurements
from envwatch.web.api.common import engine_of, jsonable, parse_time
from envwatch.web.auth import CurrentPrincipal

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


@router.get("", summary="Registered devices with online status and last packet time")
def list_devices(request: Request, _who: CurrentPrincipal) -> list[dict[str, Any]]:
    rows = read_devices(engine_of(request))
    for row in rows:
        row["online"] = bool(row["online"])
    return [jsonable(r) for r in rows]


def _device_id(request: Request, mn: str) -> int:
    device_id = device_id_for(engine_of(request), mn)
    if device_id is None:
        raise HTTPException(404, f"no device with MN {mn}")
    return device_id


@router.get("/{mn}/data", summary="Measurements of one device (values are exact decimal strings)")
def device_data(
    request: Request,
    mn: str,
    _who: CurrentPrincipal,
    kind: Literal["rtd", "minute", "hour", "day"] = "rtd",
    factor: str | None = None,
    from_: Annotated[str | None, Query(alias="from", description="ISO 8601; no offset = China time")] = None,
    to: Annotated[str | None, Query(description="ISO 8601, exclusive; default now")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    device_id = _device_id(request, mn)
    end = parse_time("to", to) or utcnow()
    start = parse_time("from", from_) or end - timedelta(days=1)
    if start >= end:
        raise HTTPException(422, "from must be before to")
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
    request: Request, mn: str, _who: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=10000)] = 1000
) -> list[dict[str, Any]]:
    return [jsonable(r) for r in read_conflicts(engine_of(request), _device_id(request, mn), limit)]
