"""Resumable upload sessions of video files (断点续传, tus 1.0.0), the storage half of ``web.api.videos``.

A session (``video_uploads`` row) is created with the whole file's length; its bytes go to
``<data_dir>/uploads/<id>.part`` in order, and **the size of that file is the upload's offset**: there is
no offset column to keep in step, and bytes that reached the disk before a dropped connection count (the
tus spec asks a server to keep as much of an interrupted request as it can). Each append is written in
pieces of at most :data:`WRITE_BUFFER` bytes as they arrive, so memory stays flat whatever the file's size,
and is fsynced before the new offset is reported.

Only one request writes to a session at a time: an exclusive ``flock`` on the part file (held by the
appending request, or by the finishing one) makes a second writer get 409 instead of interleaving bytes;
``flock`` locks are per open file, so this also holds between worker processes.

An unfinished session expires ``video_upload_expiry_h`` hours after it was last written to (the deadline
slides with each append). :func:`remove_expired` then deletes the part files of expired unfinished
sessions. That is the only removal of anything this context does: a part file is not evidence yet, and the
function only ever touches ``<data_dir>/uploads`` (never the blob store).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Final

import anyio
from sqlalchemy import Connection, insert, select, update

from envwatch.core.errors import Conflict, EnvwatchError, NotFound
from envwatch.core.settings import Settings
from envwatch.evidence.schema import video_records, video_uploads

WRITE_BUFFER: Final = 1024 * 1024  # bytes gathered before one write to disk (bounds the memory per request)
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class UploadTooLarge(EnvwatchError):
    """The file is over ``video_max_bytes`` (413 Request Entity Too Large, as tus asks)."""

    http_status = 413


class UploadGone(EnvwatchError):
    """The session expired (410 Gone: tus's answer for an upload the server remembers but dropped)."""

    http_status = 410


class BadUpload(EnvwatchError):
    """A request that breaks the protocol (400), e.g. more bytes than the upload's length."""

    http_status = 400


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    length: int
    offset: int
    meta: dict[str, str]
    created_by: str
    created_at: datetime
    expires_at: datetime

    @property
    def complete(self) -> bool:
        return self.offset == self.length


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def part_path(settings: Settings, upload_id: str) -> Path:
    """Where the bytes of upload ``upload_id`` are collected (an id is a uuid4: nothing else reaches a path)."""
    if not _ID.match(upload_id):
        raise NotFound(f"no upload {upload_id}")
    return uploads_dir(settings) / f"{upload_id}.part"


def stored_path(settings: Settings, upload_id: str) -> Path:
    """What the blob store gave for the upload's file, kept until its record is committed."""
    return part_path(settings, upload_id).with_suffix(".stored.json")


def expiry(settings: Settings) -> timedelta:
    return timedelta(hours=settings.video_upload_expiry_h)


def create(
    conn: Connection, settings: Settings, *, length: int, meta: Mapping[str, str], by: str, now: datetime
) -> Session:
    """A new session for a file of ``length`` bytes, with an empty part file."""
    if length < 0:
        raise BadUpload("Upload-Length must be a non-negative integer")
    if length > settings.video_max_bytes:
        raise UploadTooLarge(
            f"the file of {length} bytes is over the limit of {settings.video_max_bytes} bytes "
            "(setting ENVWATCH_VIDEO_MAX_BYTES): split the recording"
        )
    upload_id = str(uuid.uuid4())
    path = part_path(settings, upload_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=False)
    expires_at = now + expiry(settings)
    row = {"id": upload_id, "length": length, "meta": dict(meta), "created_by": by}
    conn.execute(insert(video_uploads).values(row | {"created_at": now, "expires_at": expires_at}))
    return Session(upload_id, length, 0, dict(meta), by, now, expires_at)


def get(conn: Connection, settings: Settings, upload_id: str, *, by: str, now: datetime) -> Session:
    """Session ``upload_id`` of account ``by``: 404 when missing or someone else's (an upload belongs to its
    creator), 410 when expired and unfinished."""
    path = part_path(settings, upload_id)
    row = conn.execute(select(video_uploads).where(video_uploads.c.id == upload_id)).mappings().first()
    if row is None or row["created_by"] != by:
        raise NotFound(f"no upload {upload_id}")
    # a finished upload's file has moved into the blob store (also one whose record failed to commit and
    # waits for the finish to be retried, see evidence.videos): it is complete and does not expire
    stored = finished_record(conn, upload_id) is not None or stored_path(settings, upload_id).exists()
    if row["expires_at"] <= now and not stored:
        raise UploadGone(
            f"upload {upload_id} expired at {row['expires_at'].isoformat()} unfinished: start a new upload"
        )
    offset = row["length"] if stored else _size(path)
    if offset is None:
        raise UploadGone(f"the bytes of upload {upload_id} are gone: start a new upload")
    return Session(
        row["id"], row["length"], offset, row["meta"], row["created_by"], row["created_at"], row["expires_at"]
    )


def finished_record(conn: Connection, upload_id: str) -> int | None:
    """The video record made from this upload, if it was finished."""
    found = conn.execute(select(video_records.c.id).where(video_records.c.upload_id == upload_id)).scalar()
    return None if found is None else int(found)


def touch(conn: Connection, settings: Settings, upload_id: str, now: datetime) -> datetime:
    """Slide the expiry of an upload that was just written to; returns the new deadline."""
    expires_at = now + expiry(settings)
    conn.execute(update(video_uploads).where(video_uploads.c.id == upload_id).values(expires_at=expires_at))
    return expires_at


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def locked(path: Path, mode: str = "r+b") -> Iterator[IO[bytes]]:
    """The part file opened and exclusively locked, or 409 when another request holds it."""
    try:
        handle = path.open(mode)
    except FileNotFoundError:
        raise Conflict(f"upload {path.stem} is being finished or was finished: ask for its record") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                f"another request is writing to upload {path.stem}: wait for it, then ask for the offset (HEAD)"
            ) from None
        yield handle  # the lock goes with the file's closing


async def append(settings: Settings, session: Session, offset: int, body: AsyncIterator[bytes]) -> int:
    """Write ``body`` at ``offset`` (which must be the current offset, else 409) and return the new offset.

    The body is consumed as it arrives and written in pieces of at most :data:`WRITE_BUFFER` bytes; when
    the client goes away mid-body, what arrived is kept (fsynced) and the error propagates. A body that
    runs past the upload's length is refused (400) and the part file is cut back to ``offset``."""
    path = part_path(settings, session.id)
    with locked(path) as handle:
        current = os.fstat(handle.fileno()).st_size  # under the lock: the true offset
        if offset != current:
            raise Conflict(
                f"Upload-Offset {offset} is not the upload's offset {current}: ask for it (HEAD) and resume there"
            )
        room = session.length - current
        handle.seek(current)
        written = 0
        pending = bytearray()
        over = False
        try:
            async for chunk in body:
                if written + len(pending) + len(chunk) > room:
                    over = True
                    break
                pending += chunk
                if len(pending) >= WRITE_BUFFER:
                    written += await _write(handle, pending)
                    pending = bytearray()
        finally:
            # shielded: also when the client went away (or the request was cancelled) the bytes that
            # arrived are written and fsynced, so the next HEAD reports each one of them
            with anyio.CancelScope(shield=True):
                if over:
                    handle.truncate(current)
                elif pending:
                    written += await _write(handle, pending)
                await anyio.to_thread.run_sync(_sync, handle)
        if over:
            raise BadUpload(
                f"the body runs past Upload-Length {session.length} (offset {current}, {room} bytes left): "
                "send the remaining bytes only; nothing of this request was kept"
            )
        return current + written


async def _write(handle: IO[bytes], data: bytearray) -> int:
    # in a worker thread: a slow disk must not stall the event loop (other uploads, every other request)
    await anyio.to_thread.run_sync(handle.write, data)
    return len(data)


def _sync(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def read_head(settings: Settings, upload_id: str, size: int = 4096) -> bytes:
    """The first bytes of an upload's file (to tell its media type)."""
    with part_path(settings, upload_id).open("rb") as handle:
        return handle.read(size)


def remove_expired(conn: Connection, settings: Settings, now: datetime) -> list[str]:
    """Delete the part files of unfinished uploads whose expiry has passed; returns their ids.

    The rows stay (so a late client is told 410 Gone rather than 404) and nothing outside
    ``<data_dir>/uploads`` is touched: a finished upload's bytes are in the blob store and are never
    removed by this or any other function (WZ-A1-12)."""
    rows = conn.execute(
        select(video_uploads.c.id)
        .where(video_uploads.c.expires_at <= now)
        .where(
            ~video_uploads.c.id.in_(
                select(video_records.c.upload_id).where(video_records.c.upload_id.is_not(None))
            )
        )
    ).scalars()
    removed = []
    for upload_id in rows:
        path = part_path(settings, upload_id)
        if (
            path.parent != uploads_dir(settings) or path.suffix != ".part"
        ):  # pragma: no cover - by construction
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(upload_id)
    return removed


def parse_meta(header: str | None) -> dict[str, str]:
    """tus ``Upload-Metadata``: ``key base64value`` pairs separated by commas (a value may be absent)."""
    meta: dict[str, str] = {}
    for part in (header or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition(" ")
        if not key or key in meta or " " in value.strip():
            raise BadUpload(f"Upload-Metadata pair {part!r} is not 'key base64value' with a unique key")
        try:
            meta[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadUpload(f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text") from None
    if len(meta) > 20 or sum(len(k) + len(v) for k, v in meta.items()) > 4096:
        raise BadUpload("Upload-Metadata is too long: at most 20 pairs and 4096 characters")
    return meta
