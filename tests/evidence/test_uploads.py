"""Upload sessions (evidence.uploads) on SQLite and PostgreSQL: the offset is the part file's size, appends
are checked against it, an append that runs past the length leaves nothing, one writer at a time, expiry,
and the clean-up of expired part files that never touches the blob store."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from envwatch.core.blob_records import record_blob
from envwatch.core.blobs import BlobStore
from envwatch.core.errors import Conflict, NotFound
from envwatch.core.settings import Settings
from envwatch.evidence import uploads
from envwatch.evidence.schema import video_uploads

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def _chunks(parts: Iterable[bytes], fail_after: int | None = None) -> AsyncIterator[bytes]:
    for i, part in enumerate(parts):
        if fail_after is not None and i == fail_after:
            raise ConnectionResetError("the client went away")
        yield part


def _append(
    settings: Settings, session: uploads.Session, offset: int, *parts: bytes, fail_after: int | None = None
) -> int:
    return asyncio.run(uploads.append(settings, session, offset, _chunks(parts, fail_after)))


def _new(
    engine: Engine, settings: Settings, length: int, by: str = "lab_a", now: datetime = NOW
) -> uploads.Session:
    with engine.begin() as conn:
        return uploads.create(conn, settings, length=length, meta={"filename": "a.mp4"}, by=by, now=now)


def _get(
    engine: Engine, settings: Settings, upload_id: str, by: str = "lab_a", now: datetime = NOW
) -> uploads.Session:
    with engine.connect() as conn:
        return uploads.get(conn, settings, upload_id, by=by, now=now)


def test_offset_is_what_reached_the_disk(engine: Engine, settings: Settings) -> None:
    session = _new(engine, settings, 3 * 1024 * 1024)
    assert session.offset == 0
    part = uploads.part_path(settings, session.id)
    assert part.exists() and part.stat().st_mode & 0o777 == 0o600
    big = os.urandom(1024 * 1024 + 17)  # more than one write buffer in one append
    assert _append(settings, session, 0, big[:5000], big[5000:]) == len(big)
    assert _get(engine, settings, session.id).offset == len(big)
    with pytest.raises(Conflict, match="resume there"):
        _append(settings, session, 0, b"again")
    # a client that goes away mid-body: what arrived before is kept and counted
    with pytest.raises(ConnectionResetError):
        _append(settings, session, len(big), b"a" * 1000, b"b" * 1000, b"c" * 1000, fail_after=2)
    assert _get(engine, settings, session.id).offset == len(big) + 2000
    assert part.read_bytes() == big + b"a" * 1000 + b"b" * 1000


def test_an_append_past_the_length_leaves_nothing(engine: Engine, settings: Settings) -> None:
    session = _new(engine, settings, 10)
    assert _append(settings, session, 0, b"12345") == 5
    with pytest.raises(uploads.BadUpload, match="past Upload-Length 10"):
        _append(settings, session, 5, b"678", b"9AB")
    assert uploads.part_path(settings, session.id).read_bytes() == b"12345"
    assert _append(settings, session, 5, b"67890") == 10
    assert _get(engine, settings, session.id).complete


def test_one_writer_at_a_time(engine: Engine, settings: Settings) -> None:
    session = _new(engine, settings, 100)
    with (
        uploads.locked(uploads.part_path(settings, session.id)),
        pytest.raises(Conflict, match="another request"),
    ):
        _append(settings, session, 0, b"x")


def test_sessions_belong_to_their_creator_and_expire(engine: Engine, settings: Settings) -> None:
    session = _new(engine, settings, 100)
    with pytest.raises(NotFound):
        _get(engine, settings, session.id, by="lab_b")
    with pytest.raises(NotFound):
        _get(engine, settings, "../../blobs/x")
    expires = session.expires_at
    assert expires == NOW + timedelta(hours=settings.video_upload_expiry_h)
    with pytest.raises(uploads.UploadGone):
        _get(engine, settings, session.id, now=expires)
    # writing slides the deadline
    with engine.begin() as conn:
        later = uploads.touch(conn, settings, session.id, NOW + timedelta(hours=100))
    assert _get(engine, settings, session.id, now=expires).expires_at == later


def test_over_the_limit(engine: Engine, settings: Settings) -> None:
    with pytest.raises(uploads.UploadTooLarge, match="ENVWATCH_VIDEO_MAX_BYTES"):
        _new(engine, settings, settings.video_max_bytes + 1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(video_uploads)).scalar_one() == 0


def test_cleanup_removes_expired_part_files_only_and_never_a_blob(engine: Engine, settings: Settings) -> None:
    content = b"\x00\x00\x00\x18ftypisom" + b"v" * 1000
    store = BlobStore.from_settings(settings)
    stored = store.put(content, purpose="video")
    with engine.begin() as conn:
        record_blob(
            conn, stored, purpose="video", media_type="video/mp4", stored_by="t", now=NOW, settings=settings
        )
    old = _new(engine, settings, len(content), now=NOW - timedelta(hours=settings.video_upload_expiry_h + 1))
    _append(settings, old, 0, content)  # the same bytes as the blob: still only the part file may go
    fresh = _new(engine, settings, 100)
    blobs_before = sorted(
        (p, p.stat().st_size) for p in settings.data_dir.joinpath("blobs").rglob("*") if p.is_file()
    )
    with engine.begin() as conn:
        removed = uploads.remove_expired(conn, settings, NOW)
    assert removed == [old.id]
    assert not uploads.part_path(settings, old.id).exists()
    assert uploads.part_path(settings, fresh.id).exists()
    blobs_after = sorted(
        (p, p.stat().st_size) for p in settings.data_dir.joinpath("blobs").rglob("*") if p.is_file()
    )
    assert blobs_after == blobs_before
    assert store.get(stored.sha256) == content
    with pytest.raises(uploads.UploadGone):  # the row stays, so the client hears 410 rather than 404
        _get(engine, settings, old.id)
    with engine.begin() as conn:
        assert uploads.remove_expired(conn, settings, NOW) == []


def test_parse_metadata() -> None:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    header = f"filename {b64('采样 1.mp4')},filetype {b64('video/mp4')},is_confidential"
    assert uploads.parse_meta(header) == {
        "filename": "采样 1.mp4",
        "filetype": "video/mp4",
        "is_confidential": "",
    }
    assert uploads.parse_meta(None) == {}
    for bad in ("a !!!", f"a {b64('x')},a {b64('y')}", "a b c", f"a {b64('x')[:-1]}"):
        with pytest.raises(uploads.BadUpload):
            uploads.parse_meta(bad)


def test_part_paths_stay_in_the_uploads_directory(settings: Settings) -> None:
    good = "0b0e5a4c-1f7a-4c2e-9d3e-2a1b3c4d5e6f"
    assert uploads.part_path(settings, good) == settings.data_dir / "uploads" / f"{good}.part"
    for bad in ("..", "../blobs/ab/abc", good.upper(), good + "/x", ""):
        with pytest.raises(NotFound):
            uploads.part_path(settings, bad)
    assert isinstance(uploads.uploads_dir(settings), Path)
