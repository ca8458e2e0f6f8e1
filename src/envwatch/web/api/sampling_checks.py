"""Checks the sampling routers share besides ``sampling_common``: who may read sampling at all, evidence
files named by their SHA-256, the person acting, times typed by people and phones.

Sampling is read by admin, the testing agency itself, the regulators of its region and the enterprise a
sample was taken at; operators, their field staff and auditors have no part in it (``web.scope``) and are
refused with 403 naming their role, whatever the object (so nothing about a sample's existence leaks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fastapi import HTTPException, Request
from sqlalchemy import Connection, select
from starlette.datastructures import UploadFile

from envwatch.core.blobs import BlobStore
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.web.api.common import parse_time
from envwatch.web.api.sampling_common import acting_staff_id
from envwatch.web.scope import Scope

SAMPLING_READERS: Final = frozenset({"admin", "agency", "regulator", "enterprise"})
_MULTIPART_SLACK: Final = 64 * 1024  # the form's envelope and text fields around the file


def require_reader(scope: Scope) -> None:
    """403 for a role with no part in sampling (operator, field staff, auditor)."""
    if scope.role not in SAMPLING_READERS:
        raise HTTPException(403, f"role {scope.role} has no access to sampling (testing agencies' samples)")


def require_blob(settings: Settings, sha256: str | None, what: str) -> str | None:
    """``sha256`` when it names a file in the blob store (uploaded before), else 422 saying how to fix it."""
    if sha256 is None:
        return None
    store = BlobStore.from_settings(settings)
    if not store.exists(sha256):  # refuses a malformed digest (422)
        raise InvalidInput(
            f"{what} {sha256} names no uploaded file: upload it first (POST /api/v1/sampling/photos)"
        )
    return sha256


def person_acting(conn: Connection, scope: Scope, named: int | None, what: str = "the person acting") -> int:
    """The agency staff member acting: an agency account's linked person; admin must name one."""
    staff_id = acting_staff_id(conn, scope, named)
    if staff_id is None:
        raise InvalidInput(f"staff_id is required: name {what} (agency staff id)")
    return staff_id


def moment(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 time from a body field; no offset = China time (as the query parameters)."""
    return parse_time(name, text)


def moment_required(name: str, text: str) -> datetime:
    found = parse_time(name, text)
    if found is None:
        raise InvalidInput(f"{name} is required (ISO 8601, e.g. 2026-11-23T10:05:00+08:00)")
    return found


def pydantic_detail(errors: list[Any]) -> str:
    """One line from a pydantic ValidationError's ``errors()`` (for per-entry answers of a sync)."""
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts)


def names_of(conn: Connection, table: Any, ids: set[int]) -> dict[int, str]:
    """``{id: name}`` of the rows of ``table`` (agencies, enterprises, agency_staff) with these ids."""
    if not ids:
        return {}
    rows = conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(sorted(ids))))
    return {row.id: row.name for row in rows}


@dataclass(frozen=True, slots=True)
class Upload:
    content: bytes | None  # None: the form had no file in the field
    content_type: str
    fields: dict[str, str]


def too_large(limit: int) -> HTTPException:
    return HTTPException(
        413,
        f"the file is over the limit of {limit} bytes (setting ENVWATCH_MAX_ATTACHMENT_BYTES); nothing was stored",
    )


async def read_form(request: Request, file_field: str, limit: int, max_fields: int = 10) -> Upload:
    """A ``multipart/form-data`` request: the file in ``file_field`` (at most ``limit`` bytes, else 413,
    checked on the declared length before parsing and on the file itself after) and the text fields."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput(f"send a multipart/form-data form with the file in the field {file_field!r}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise too_large(limit)
    async with request.form(max_files=1, max_fields=max_fields) as form:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        upload = form.get(file_field)
        if not isinstance(upload, UploadFile):
            return Upload(None, "", fields)
        content = await upload.read(limit + 1)
        if len(content) > limit:
            raise too_large(limit)
        return Upload(content, upload.content_type or "application/octet-stream", fields)
