"""The evidence log's status page (/evidence, 存证状态): checkpoints, proofs, verification.

- ``/evidence``: tree size and pending entries; the newest checkpoint (size, root, time, the signed note,
  whether its signature verifies with the platform key, its RFC 3161 time-stamp if any); the platform's
  verifier key (what a third party pins to check bundles); the last verification runs with their problems;
  and a "verify an item" box: ``?item=`` a sample code, a video record id, or any bundle item
  (``sample:…``, ``video:…``; ``entry:…``, ``leaf:…``, ``blob:…`` for administrators) shows its entries with
  their leaf and whether the inclusion proof verifies against the newest checkpoint;
- ``/evidence/bundle?item=…``: the item's evidence bundle (zip, ``evidence.bundle``) to download.

Who: administrators and regulators (others 403). A regulator's items are those its scope sees (a sample or
video of its region); anything else answers as not found, so the box cannot probe other regions.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import Connection, Engine, select
from starlette.background import BackgroundTask

from envwatch.core.errors import EnvwatchError, InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.evidence import bundle, keys
from envwatch.evidence import log as evidence_log
from envwatch.evidence.checkpoint import NoteError, open_note
from envwatch.evidence.schema import evidence_timestamps, video_records
from envwatch.evidence.sources import kind_name
from envwatch.evidence.verify import last_runs, pending_entries
from envwatch.sampling.schema import samples
from envwatch.web.pages import i18n
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, any_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

READERS = frozenset({"admin", "regulator"})
ADMIN_ITEMS = frozenset({"entry", "leaf", "blob"})


def _scope(request: Request, viewer: Viewer) -> Scope:
    if viewer.principal.role not in READERS:
        raise HTTPException(403, "the evidence log's status is for administrators and regulators")
    return any_scope(request, viewer)


def item_of(typed: str) -> str:
    """What the box was given as a bundle item: ``kind:value`` as is, a number as a video record id, anything
    else as a sample code."""
    text = typed.strip()
    kind = text.partition(":")[0]
    if kind in bundle.KINDS:
        return text
    return f"video:{text}" if text.isdigit() else f"sample:{text}"


def require_item(conn: Connection, scope: Scope, item: str) -> str:
    """The item, parsed, if the viewer may see it (NotFound otherwise, as for a missing one)."""
    kind, value = bundle.parse_item(item)
    if kind in ADMIN_ITEMS:
        if scope.everything:
            return item
        raise NotFound(f"no {kind} {value} that you may see (regulators look up samples and videos)")
    table, column = (samples, samples.c.code) if kind == "sample" else (video_records, video_records.c.id)
    key: Any = value if kind == "sample" else int(value)
    row = (
        conn.execute(select(table.c.agency_id, table.c.enterprise_id).where(column == key)).mappings().first()
    )
    visible = row is not None and (
        scope.sees_video(dict(row)) if kind == "video" else scope.sees_sample(dict(row))
    )
    if not visible:
        raise NotFound(
            f"no {'sample with code' if kind == 'sample' else 'video record'} {value} that you may see"
        )
    return item


def _checkpoint(conn: Connection, settings: Settings) -> dict[str, Any] | None:
    latest = evidence_log.latest_checkpoint(conn)
    if latest is None:
        return None
    try:
        open_note(latest["note"], keys.public_vkey(settings))
        signature = ""
    except NoteError as exc:
        signature = str(exc)
    stamp = conn.execute(
        select(evidence_timestamps.c.gen_time, evidence_timestamps.c.tsa_url)
        .where(evidence_timestamps.c.checkpoint_id == latest["id"])
        .order_by(evidence_timestamps.c.id)
        .limit(1)
    ).first()
    return {**latest, "signature_problem": signature, "timestamp": stamp}


def _inspect(
    conn: Connection, settings: Settings, scope: Scope, typed: str
) -> tuple[dict[str, Any] | None, str]:
    if not typed.strip():
        return None, ""
    try:
        item = require_item(conn, scope, item_of(typed))
        return bundle.inspect_item(conn, settings, item), ""
    except (InvalidInput, NotFound) as exc:
        return None, exc.message


def _runs_for(scope: Scope, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A problem line names the row it is about (table, id, column, the values logged and found), of any
    tenant: a regulator sees each run's result and count, the admin also the lines."""
    if scope.role == "admin":
        return runs
    return [run | {"problems": []} for run in runs]


@router.get("/evidence", response_class=HTMLResponse)
def evidence_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = _scope(request, viewer)
    settings: Settings = request.app.state.settings
    engine: Engine = request.app.state.engine
    typed = request.query_params.get("item", "")
    locale = i18n.locale_of(request)
    with engine.connect() as conn:
        checked, error = _inspect(conn, settings, scope, typed)
        context = {
            "tree_size": evidence_log.tree_size(conn),
            "pending": pending_entries(conn),
            "checkpoint": _checkpoint(conn, settings),
            "runs": _runs_for(scope, last_runs(conn, 5)),
        }
    return render(
        request,
        "evidence_status.html",
        200 if not error else 404,
        viewer=viewer,
        vkey=keys.public_vkey(settings),
        typed=typed,
        checked=checked,
        error=error,
        kind_name=lambda kind: kind_name(kind, locale),
        bundle_url=("/evidence/bundle?" + urlencode({"item": checked["item"]})) if checked else "",
        **context,
    )


@router.get("/evidence/bundle")
def evidence_bundle(request: Request, viewer: CurrentViewer, item: str = "") -> Response:
    """The item's bundle as a download; written to a temporary file first (a video may be GBs)."""
    scope = _scope(request, viewer)
    settings: Settings = request.app.state.settings
    engine: Engine = request.app.state.engine
    fd, path = tempfile.mkstemp(prefix="envwatch-bundle-", suffix=".zip")
    try:
        with engine.connect() as conn, os.fdopen(fd, "wb") as out:
            checked = require_item(conn, scope, item_of(item))
            bundle.write_bundle(conn, settings, checked, out)
    except EnvwatchError as exc:
        os.unlink(path)
        raise HTTPException(exc.http_status, exc.message) from None
    except BaseException:
        os.unlink(path)
        raise
    name = "evidence-" + checked.replace(":", "-") + ".zip"
    return FileResponse(
        path, media_type="application/zip", filename=name, background=BackgroundTask(os.unlink, path)
    )
