"""Helpers shared by the API routers: the engine, time parameters, value rendering."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request, Response
from sqlalchemy import Engine

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.errors import NotFound
from envwatch.core.settings import Settings


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def parse_time(name: str, text: str | None) -> datetime | None:
    """ISO 8601; a time without offset is China time (what users and devices mean)."""
    if text is None or text == "":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            422, f"{name}={text!r} is not an ISO 8601 time such as 2026-11-22T08:00:00+08:00"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TZ)).astimezone(UTC)


def time_out(moment: datetime | None) -> str | None:
    return None if moment is None else to_china(moment).isoformat()


def value_out(value: Decimal | None) -> str | None:
    """Exact values travel as strings (a JSON number would go through a float in most clients)."""
    return None if value is None else format(value, "f")


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = time_out(value)
        elif isinstance(value, Decimal):
            out[key] = value_out(value)
        else:
            out[key] = value
    return out


def attachment_download(
    request: Request, found: dict[str, Any] | None, owner_kind: str, owner_id: int, attachment_id: int
) -> Response:
    """The file of attachment ``found`` when it belongs to (owner_kind, owner_id), else 404 (also when its
    blob is missing: an HTTP 404, so the pages show their HTML 404 and the API its JSON one)."""
    if found is None or found["owner_kind"] != owner_kind or found["owner_id"] != owner_id:
        raise HTTPException(404, f"{owner_kind} {owner_id} has no attachment {attachment_id}")
    try:
        content = BlobStore.from_settings(settings_of(request)).get(found["sha256"])
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    return file_download(content, found)


def file_download(content: bytes, row: dict[str, Any]) -> Response:
    """An attachment row's file as a download: always ``attachment`` and nosniff, so an uploaded HTML file
    never runs in the platform's origin; an ASCII ``filename`` for old clients and the exact UTF-8 one (RFC
    5987) for the others; the SHA-256 the blob store checked before a byte is sent."""
    name: str = row["filename"]
    fallback = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return Response(
        content,
        media_type=row["content_type"] or "application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "X-Content-SHA256": row["sha256"],
        },
    )
