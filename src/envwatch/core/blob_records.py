"""Recording each storing of a file with its retention (存证文件登记, 保存期限): ``blob_records`` rows.

The store (:mod:`envwatch.core.blobs`) keeps bytes; this module says, in the database and in the evidence
log, *that* a file was stored, for what, by whom, and until when it must be kept (WZ-A1-13: videos at least
``video_retention_years``; other files ``attachment_retention_years``). Call :func:`record_blob` in the same
transaction as the record that refers to the file, so a rolled-back record leaves no row (the file itself
stays: it is content-addressed and harmless, and the store never deletes). A file stored twice has two
rows; the retention that applies is the latest ``retain_until`` (:func:`retained_until`).
"""

from __future__ import annotations

import mimetypes
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select

from envwatch.core import evidence
from envwatch.core.blob_types import RetentionPolicy, StoredBlob, add_years
from envwatch.core.evidence_schema import blob_records

if TYPE_CHECKING:
    from envwatch.core.blobs import BlobStore
    from envwatch.core.settings import Settings

PURPOSE_MAX = 40
MEDIA_TYPE_MAX = 100
STORED_BY_MAX = 100


def policy_of(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(settings.video_retention_years, settings.attachment_retention_years)


def media_type_of(content_type: str | None) -> str:
    """The bare media type of an upload's Content-Type (``image/png; q=…`` → ``image/png``)."""
    bare = (content_type or "").split(";")[0].strip().lower()
    return bare[:MEDIA_TYPE_MAX] or "application/octet-stream"


def media_type_of_name(filename: str) -> str:
    """The media type a file name suggests, for forms that do not say (``application/octet-stream``)."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def store_recorded(
    conn: Connection,
    store: BlobStore,
    content: bytes,
    *,
    purpose: str,
    media_type: str,
    stored_by: str,
    now: datetime,
) -> StoredBlob:
    """Put ``content`` into ``store`` and record it (:func:`record_blob`) in ``conn``'s transaction."""
    stored = store.put(content, purpose=purpose)
    record_blob(
        conn, stored, purpose=purpose, media_type=media_type, stored_by=stored_by, now=now,
        policy=store.retention,
    )  # fmt: skip
    return stored


def record_blob(
    conn: Connection,
    stored: StoredBlob,
    *,
    purpose: str,
    media_type: str,
    stored_by: str,
    now: datetime,
    settings: Settings | None = None,
    policy: RetentionPolicy | None = None,
    retain_years: int | None = None,
) -> int:
    """One ``blob_records`` row for ``stored`` plus its evidence entry (kind ``blob``); the row's id.

    ``retain_until`` = ``now`` + ``retain_years`` calendar years (default: the retention of ``purpose`` in
    ``settings``, or in ``policy`` where the caller has a store but no settings: ``BlobStore.retention``).
    On S3 the object's compliance lock must already cover that date (the store locks each upload a day past
    its purpose's retention); a lock that ends earlier is refused rather than recorded as a promise the
    storage does not keep."""
    if not purpose or len(purpose) > PURPOSE_MAX:
        raise ValueError(f"blob purpose {purpose!r} must be 1..{PURPOSE_MAX} characters")
    if not stored_by or len(stored_by) > STORED_BY_MAX:
        raise ValueError(f"stored_by {stored_by!r} must be 1..{STORED_BY_MAX} characters")
    if retain_years is not None and retain_years < 1:
        raise ValueError(f"retain_years must be at least 1, not {retain_years}")
    rules = policy if policy is not None else policy_of(settings) if settings is not None else None
    if rules is None and retain_years is None:
        raise ValueError("record_blob needs settings, a policy or retain_years to know the retention")
    retain_until = (
        add_years(now, retain_years) if retain_years is not None else rules.until(now, purpose)  # type: ignore[union-attr]
    )
    if stored.locked_until is not None and stored.locked_until < retain_until:
        raise ValueError(
            f"the S3 object lock of {stored.sha256} ends {stored.locked_until:%Y-%m-%d %H:%M}Z, before the "
            f"retention being recorded ({retain_until:%Y-%m-%d %H:%M}Z): extend it first "
            "(BlobStore.extend_retention) so the storage keeps what the record promises"
        )
    row: dict[str, Any] = {
        "sha256": stored.sha256,
        "sm3": stored.sm3,
        "size": stored.size,
        "media_type": media_type_of(media_type),
        "purpose": purpose,
        "backend": stored.backend,
        "location": stored.location,
        "version_id": stored.version_id,
        "retain_until": retain_until,
        "stored_by": stored_by,
        "stored_at": now,
    }
    (new_id,) = conn.execute(insert(blob_records).values(**row)).inserted_primary_key or (None,)
    if new_id is None:  # pragma: no cover - every backend we support returns the new key
        raise RuntimeError("the database did not return the new blob record's id")
    evidence.submit_row(conn, blob_records, int(new_id), kind="blob", now=now)
    return int(new_id)


def retained_until(conn: Connection, sha256: str) -> datetime | None:
    """Until when the file must be kept: the latest ``retain_until`` of its records (None: never recorded)."""
    latest = conn.execute(
        select(func.max(blob_records.c.retain_until)).where(blob_records.c.sha256 == sha256)
    ).scalar_one_or_none()
    return latest


def records_of(conn: Connection, sha256: str) -> list[dict[str, Any]]:
    """Every storing of the file, oldest first."""
    query = select(blob_records).where(blob_records.c.sha256 == sha256).order_by(blob_records.c.id)
    return [dict(r) for r in conn.execute(query).mappings()]
