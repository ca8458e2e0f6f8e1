"""Attachments (附件) of registry and monitoring records: filings, marks, and later O&M records.

The file goes into the content-addressed :class:`~envwatch.core.blobs.BlobStore`; an ``attachments``
row (append-only) ties it to its record by ``owner_kind`` and ``owner_id``, and a ``blob_records`` row
(:func:`~envwatch.core.blob_records.record_blob`, same transaction) records its storing and retention. The
blob is written before the rows: a crash between the two leaves an unreferenced file, never a row without
its file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from envwatch.core.blob_records import record_blob
from envwatch.core.blobs import BlobStore
from envwatch.core.errors import InvalidInput
from envwatch.registry.schema import attachments

OWNER_KINDS = ("filing", "mark", "alarm", "order", "drill", "field_record")
_MAX_NAME = 255


def add_attachment(
    conn: Connection,
    blobs: BlobStore,
    *,
    owner_kind: str,
    owner_id: int,
    filename: str,
    content: bytes,
    content_type: str,
    added_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Store ``content`` and record it as an attachment of (owner_kind, owner_id), in ``conn``'s transaction.

    The caller checks that the owner exists (it knows the owner's table)."""
    if owner_kind not in OWNER_KINDS:
        raise InvalidInput(f"attachments belong to one of {', '.join(OWNER_KINDS)}, not {owner_kind!r}")
    name = filename.strip().replace("/", "_").replace("\\", "_")
    if not name or len(name) > _MAX_NAME:
        raise InvalidInput(f"attachment file name must be 1-{_MAX_NAME} characters")
    if not content:
        raise InvalidInput(f"attachment {name} is empty")
    stored = blobs.put(content)
    record_blob(
        conn, stored, purpose="attachment", media_type=content_type, stored_by=added_by, now=now,
        policy=blobs.retention,
    )  # fmt: skip
    row = {
        "owner_kind": owner_kind,
        "owner_id": owner_id,
        "sha256": stored.sha256,
        "filename": name,
        "content_type": content_type or "application/octet-stream",
        "size": stored.size,
        "added_by": added_by,
        "added_at": now,
    }
    new_id = conn.execute(insert(attachments).values(**row)).inserted_primary_key[0]  # type: ignore[index]
    return {"id": new_id, **row}


def list_attachments(conn: Connection, owner_kind: str, owner_id: int) -> list[dict[str, Any]]:
    a = attachments.c
    query = select(attachments).where(a.owner_kind == owner_kind, a.owner_id == owner_id).order_by(a.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def get_attachment(conn: Connection, attachment_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(attachments).where(attachments.c.id == attachment_id)).mappings().first()
    return None if row is None else dict(row)
