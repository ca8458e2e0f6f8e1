"""What the filings pages (备案) read: the visible filings, one filing, and the pickers of the form.

The list is the JSON API's own ``GET /api/v1/filings`` function (``web.api.filings.list_filings``): its
per-enterprise merge and ``Scope.sees_filing`` filter exist once, so the page can never list a filing the
API would hide. The API answers in JSON form (China-time ISO strings); the times are read back here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from fastapi import HTTPException, Request
from sqlalchemy import Connection

from envwatch.core.clock import utcnow
from envwatch.core.errors import NotFound
from envwatch.ingest.queries import read_devices
from envwatch.registry import filings as service
from envwatch.registry import service as registry
from envwatch.web.api import filings as api
from envwatch.web.api.common import engine_of
from envwatch.web.scope import Scope

_TIMES = ("event_at", "created_at")
_DEADLINE_TIMES = ("event_at", "due_at", "met_at", "withdrawn_at")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """An API row with its times as datetimes again (the pages format them with ``china_time``)."""
    out = {**row, **{k: _moment(row[k]) for k in _TIMES if k in row}}
    deadline = dict(row["deadline"])
    out["deadline"] = {**deadline, **{k: _moment(deadline.get(k)) for k in _DEADLINE_TIMES}}
    return out


def visible_filings(
    request: Request, scope: Scope, kind: str | None, status: str | None
) -> list[dict[str, Any]]:
    """The filings the scope sees, newest event first, with their deadline status now; ``kind`` and
    ``status`` must be keys of ``KIND_RULES`` / members of ``STATUSES`` (checked by the caller)."""
    rows = api.list_filings(
        request, scope, kind=cast(api.Kind | None, kind), status=cast(api.Status | None, status), limit=1000
    )
    return [_typed(r) for r in rows]


def visible_filing(request: Request, scope: Scope, filing_id: int) -> dict[str, Any]:
    """One filing with steps, attachments and deadline status; a page 404 for a missing or out-of-scope
    one alike (the API's check, ``_visible``, answers NotFound; the page shows its HTML error)."""
    try:
        api.visible_filing(request, scope, filing_id)
        return service.get_filing(engine_of(request), filing_id, utcnow(), api.workday_calendar(request))
    except NotFound:
        raise HTTPException(404, f"no filing with id {filing_id}") from None


def choices(conn: Connection, request: Request, scope: Scope) -> dict[str, list[dict[str, Any]]]:
    """The enterprises, outlets and devices the form may name: only visible ones (the service still
    checks that they belong together)."""
    ents = [e for e in registry.list_enterprises(conn) if scope.sees_enterprise(e["id"])]
    names = {e["id"]: e["name"] for e in ents}
    outlets = [
        {**o, "enterprise_name": names[e["id"]]}
        for e in ents
        for o in registry.list_outlets(conn, e["id"])
        if scope.sees_outlet(o["id"])
    ]
    devices = scope.filter(read_devices(engine_of(request)), "id", scope.device_ids)
    return {"enterprises": ents, "outlets": outlets, "devices": devices}


def names(picks: dict[str, list[dict[str, Any]]]) -> dict[str, dict[int, str]]:
    """id → display name of the enterprises, outlets and devices the viewer sees (for the list)."""
    return {
        "enterprise": {e["id"]: e["name"] for e in picks["enterprises"]},
        "outlet": {o["id"]: f"{o['code']} {o['name']}" for o in picks["outlets"]},
        "device": {d["id"]: d["mn"] for d in picks["devices"]},
    }
