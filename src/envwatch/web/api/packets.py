"""The raw packet log: every frame received, valid or not, with its verdict.

Outside admin, a caller sees the frames of the devices in its scope (``web.scope``) only: frames with
no device (unknown MN, garbage) are admin's, since nothing ties them to a tenant.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from envwatch.ingest.queries import PacketQuery, read_packets
from envwatch.registry.schema import devices
from envwatch.web.api.common import engine_of, jsonable, parse_time
from envwatch.web.scope import CurrentScope

router = APIRouter(prefix="/api/v1/packets", tags=["packets"])


@router.get("", summary="Raw packets, newest first (page with before_id)")
def list_packets(
    request: Request,
    scope: CurrentScope,
    mn: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    verdict: Annotated[
        str | None, Query(description="ok, duplicate, conflict, bad_crc, unknown_mn, ...")
    ] = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> list[dict[str, Any]]:
    q = PacketQuery(mn, parse_time("from", from_), parse_time("to", to), verdict, before_id, limit)
    scope.require_period(q.start, q.end)
    engine = engine_of(request)
    if scope.device_ids is None:
        rows = read_packets(engine, q)
    else:
        with engine.connect() as conn:
            if mn:
                mns = [mn] if scope.device_id(conn, mn) else []
            else:
                ids = list(scope.device_ids)
                mns = list(conn.execute(select(devices.c.mn).where(devices.c.id.in_(ids))).scalars())
        # one query per visible device, merged newest first: each returns its newest ``limit`` frames, so
        # the merge's first ``limit`` are exactly the page (``read_packets`` takes one MN at a time)
        merged = [row for one in mns for row in read_packets(engine, replace(q, mn=one))]
        rows = sorted(merged, key=lambda r: r["id"], reverse=True)[:limit]
    out = []
    for row in rows:
        raw = bytes(row.pop("raw"))
        row["raw_text"] = raw.decode("utf-8", errors="backslashreplace")
        row["raw_base64"] = base64.b64encode(raw).decode()
        out.append(jsonable(row))
    return out
