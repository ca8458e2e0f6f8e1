"""Page: forwarding to upstream platforms (数据转发, 市 → 省 → 部), ``/upstreams``.

One row per registered upstream: where it is, which devices it receives, whether its forwarder runs and is
connected, how far behind it is (packets waiting after its cursor, how long the oldest has waited), its
counters and its last error. The figures and the rule of who reads them are the JSON API's
(``web.api.upstreams``: admin and regulators; others 403); the page only reads. Upstreams are added and
changed with ``envwatch upstream`` (docs/operations/upstream.md), which keeps every version.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from envwatch.core.clock import utcnow
from envwatch.ingest.upstream.status import figures
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.api.upstreams import READERS
from envwatch.web.pages.render import china_time, render
from envwatch.web.pages.session import CurrentViewer

router = APIRouter(include_in_schema=False)


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """What a row shows, in the viewer's terms (times in China time, lag rounded to the second)."""
    lag_s = item.get("lag_seconds")
    return {
        "name": item["name"],
        "address": f"{item['host']}:{item['port']}",
        "regions": ", ".join(item["region_prefixes"]),
        "enterprises": ", ".join(str(i) for i in item["enterprise_ids"]),
        "everything": not item["region_prefixes"] and not item["enterprise_ids"],
        "acks": item["acks"],
        "enabled": item["enabled"],
        "known": "cursor" in item,  # no forwarder has run for it yet: no status row
        "running": item.get("running", False),
        "connected": item.get("connected", False),
        "cursor": item.get("cursor"),
        "lag_packets": item.get("lag_packets"),
        "lag_seconds": None if lag_s is None else round(lag_s),
        "sent": item.get("sent"),
        "acked": item.get("acked"),
        "resent": item.get("resent"),
        "attempts": item.get("attempts"),
        "last_error": item.get("last_error"),
        "last_error_at": china_time(item.get("last_error_at")),
        "last_sent_at": china_time(item.get("last_sent_at")),
        "changed": f"{china_time(item['changed_at'])} {item['changed_by']}",
    }


@router.get("/upstreams", response_class=HTMLResponse)
def upstreams_page(request: Request, viewer: CurrentViewer) -> Response:
    if viewer.principal.role not in READERS:
        raise HTTPException(403, f"role {viewer.principal.role} may not read the upstream forwarding status")
    with engine_of(request).connect() as conn:
        rows = [_row(item) for item in figures(conn, settings_of(request), utcnow())]
    return render(request, "upstreams.html", viewer=viewer, rows=rows)
