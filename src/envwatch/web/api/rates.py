"""Effective transmission rates (有效传输率) API: ``GET /api/v1/rates``.

Same computation and rows as ``envwatch rates`` (``monitoring.rates``): each row carries the counts
behind its rates (expected, received, valid), the real-time variant, and the thresholds it fails.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from envwatch.core.clock import utcnow
from envwatch.monitoring.rates import RateQuery, compute_rates
from envwatch.web.api.common import engine_of
from envwatch.web.scope import CurrentScope

router = APIRouter(prefix="/api/v1/rates", tags=["rates"])


@router.get("", summary="Effective transmission rates per factor, device, outlet, enterprise or region")
def get_rates(
    request: Request,
    scope: CurrentScope,
    from_: Annotated[date, Query(alias="from", description="first China calendar day, YYYY-MM-DD")],
    to: Annotated[date, Query(description="last China calendar day (included), YYYY-MM-DD")],
    group: Literal["factor", "device", "outlet", "enterprise", "region", "operator"] = "device",
    mn: Annotated[list[str] | None, Query(description="only these devices (repeat the parameter)")] = None,
    region_level: Annotated[int, Query(description="region grouping: 2 province, 4 city, 6 county")] = 6,
) -> dict[str, Any]:
    if mn:
        with engine_of(request).connect() as conn:
            for one in mn:
                scope.device_id(conn, one)  # 404 for an MN outside the scope, as for a missing one
    scope.require_days(from_, to)
    query = RateQuery(
        from_, to, group=group, mns=mn or None, region_level=region_level, device_ids=scope.device_ids
    )
    rows = compute_rates(engine_of(request), request.app.state.settings, query, utcnow())
    return {"from": from_.isoformat(), "to": to.isoformat(), "group": group, "rows": [_json(r) for r in rows]}


def _json(row: dict[str, Any]) -> dict[str, Any]:
    """Rates travel as JSON numbers with two decimals (percent); counts are the exact base."""
    out = {k: (float(v) if k.endswith("_rate") and v is not None else v) for k, v in row.items()}
    out["realtime"] = _json(row["realtime"]) if "realtime" in row else None
    if out["realtime"] is None:
        del out["realtime"]
    return out
