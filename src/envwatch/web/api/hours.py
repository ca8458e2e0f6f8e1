"""The explained hourly and daily data of a device (小时/日数据及有效性说明).

``GET /api/v1/devices/{mn}/hours`` and ``/days``: each hour or China day with its value, its verdict
(valid, invalid or exempt) and the reasons, the value computed from finer data next to the device's own
(never replacing it) and, for gas, the converted concentration 折算浓度 (``monitoring.hourly_view``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from envwatch.core.clock import utcnow
from envwatch.monitoring.daily_view import device_days
from envwatch.monitoring.hourly_view import MAX_DAYS, device_hours
from envwatch.web.api.common import engine_of, jsonable, parse_time, time_out
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/devices", tags=["data"])

Factor = Annotated[str, Query(min_length=1, max_length=32, description="HJ 212 factor code, e.g. a21026")]


def _device_id(request: Request, scope: Scope, mn: str) -> int:
    """The device's id; 404 when it is missing or outside the caller's scope (same answer)."""
    with engine_of(request).connect() as conn:
        return scope.device_id(conn, mn)


@router.get("/{mn}/hours", summary="Each hour of a factor: value, validity and why, cross-check, 折算浓度")
def hours(
    request: Request,
    mn: str,
    scope: CurrentScope,
    factor: Factor,
    from_: Annotated[str | None, Query(alias="from", description="ISO 8601; no offset = China time")] = None,
    to: Annotated[str | None, Query(description="ISO 8601, exclusive; default now")] = None,
) -> dict[str, Any]:
    device_id = _device_id(request, scope, mn)
    now = utcnow()
    end = parse_time("to", to) or now
    start = parse_time("from", from_) or end - timedelta(days=1)
    if start >= end:
        raise HTTPException(422, "from must be before to")
    if end - start > timedelta(days=MAX_DAYS):
        raise HTTPException(422, f"from..to spans more than {MAX_DAYS} days: ask for at most {MAX_DAYS} days")
    scope.require_period(start, end)
    with engine_of(request).connect() as conn:
        rows = device_hours(conn, request.app.state.settings, device_id, factor, start, end, now)
    return {
        "mn": mn,
        "factor": factor,
        "from": time_out(start),
        "to": time_out(end),
        "rows": [jsonable(r) for r in rows],
    }


@router.get(
    "/{mn}/days", summary="Each China day of a factor: daily value from the hours, device value, check"
)
def days(
    request: Request,
    mn: str,
    scope: CurrentScope,
    factor: Factor,
    from_: Annotated[date, Query(alias="from", description="first China calendar day, YYYY-MM-DD")],
    to: Annotated[date, Query(description="last China calendar day (included), YYYY-MM-DD")],
) -> dict[str, Any]:
    device_id = _device_id(request, scope, mn)
    if from_ > to:
        raise HTTPException(422, "from must not be after to")
    if (to - from_).days + 1 > MAX_DAYS:
        raise HTTPException(422, f"from..to spans more than {MAX_DAYS} days: ask for at most {MAX_DAYS} days")
    scope.require_days(from_, to)
    with engine_of(request).connect() as conn:
        rows = device_days(conn, request.app.state.settings, device_id, factor, from_, to, utcnow())
    out = []
    for row in rows:
        rendered = jsonable(row)
        rendered["day"] = row["day"].isoformat()
        out.append(rendered)
    return {"mn": mn, "factor": factor, "from": from_.isoformat(), "to": to.isoformat(), "rows": out}
