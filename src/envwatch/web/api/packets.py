"""The raw packet log: every frame received, valid or not, with its verdict."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from envwatch.ingest.queries import PacketQuery, read_packets
from envwatch.web.api.common import engine_of, jsonable, parse_time
from envwatch.web.auth import CurrentPrincipal

router = APIRouter(prefix="/api/v1/packets", tags=["packets"])


@router.get("", summary="Raw packets, newest first (page with before_id)")
def list_packets(
    request: Request,
    _who: CurrentPrincipal,
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
    out = []
    for row in read_packets(engine_of(request), q):
        raw = bytes(row.pop("raw"))
        row["raw_text"] = raw.decode("utf-8", errors="backslashreplace")
        row["raw_base64"] = base64.b64encode(raw).decode()
        out.append(jsonable(row))
    return out
