"""Retention recorded per stored file (blob_records) and its evidence entry, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from envwatch.core.blob_records import record_blob, records_of, retained_until, store_recorded
from envwatch.core.blob_types import RetentionPolicy, add_years
from envwatch.core.blobs import BlobStore
from envwatch.core.evidence_schema import blob_records, evidence_entries
from envwatch.core.settings import Settings

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "years", "expected"),
    [
        (datetime(2026, 3, 10, 2, 0, tzinfo=UTC), 10, datetime(2036, 3, 10, 2, 0, tzinfo=UTC)),
        (
            datetime(2028, 2, 29, 23, 59, tzinfo=UTC),
            10,
            datetime(2038, 3, 1, 23, 59, tzinfo=UTC),
        ),  # no leap day
        (
            datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
            4,
            datetime(2032, 2, 29, 12, 0, tzinfo=UTC),
        ),  # leap to leap
        (datetime(2027, 12, 31, 16, 0, tzinfo=UTC), 1, datetime(2028, 12, 31, 16, 0, tzinfo=UTC)),
    ],
)
def test_calendar_years(moment: datetime, years: int, expected: datetime) -> None:
    assert add_years(moment, years) == expected


def test_record_blob_writes_the_row_and_its_evidence_entry(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    store = BlobStore(tmp_path / "blobs")
    stored = store.put(b"reprint video bytes", purpose="reprint_video")
    custom = settings.model_copy(update={"video_retention_years": 12, "attachment_retention_years": 3})
    with engine.begin() as conn:
        video_id = record_blob(
            conn, stored, purpose="reprint_video", media_type="video/mp4; codecs=avc1", stored_by="张三",
            now=NOW, settings=custom,
        )  # fmt: skip
        photo_id = record_blob(
            conn, stored, purpose="photo", media_type="", stored_by="李四", now=NOW, settings=custom
        )
    with engine.connect() as conn:
        rows = {r["id"]: r for r in records_of(conn, stored.sha256)}
        entries = conn.execute(select(evidence_entries).order_by(evidence_entries.c.id)).mappings().all()
        until = retained_until(conn, stored.sha256)
        assert retained_until(conn, "f" * 64) is None
    video = rows[video_id]
    assert video["sm3"] == stored.sm3 and video["size"] == stored.size and video["backend"] == "local"
    assert video["location"] == stored.location and video["version_id"] is None
    assert video["media_type"] == "video/mp4" and video["stored_by"] == "张三" and video["stored_at"] == NOW
    assert video["retain_until"] == datetime(2038, 3, 10, 2, 0, tzinfo=UTC)  # video: 12 years
    assert rows[photo_id]["retain_until"] == datetime(2029, 3, 10, 2, 0, tzinfo=UTC)  # other files: 3 years
    assert rows[photo_id]["media_type"] == "application/octet-stream"
    assert until == datetime(2038, 3, 10, 2, 0, tzinfo=UTC)  # the latest of the file's records
    logged = [e for e in entries if e["kind"] == "blob"]
    assert [e["ref"] for e in logged] == [f"blob_records/{video_id}", f"blob_records/{photo_id}"]
    body = json.loads(logged[0]["body"])
    assert body["payload"]["row"]["sha256"] == stored.sha256
    assert body["payload"]["row"]["sm3"] == stored.sm3
    assert body["payload"]["row"]["retain_until"] == "2038-03-10T02:00:00.000000Z"


def test_explicit_years_and_the_store_policy(engine: Engine, tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", retention=RetentionPolicy(video_years=15, attachment_years=11))
    with engine.begin() as conn:
        stored = store_recorded(
            conn,
            store,
            b"om report",
            purpose="report",
            media_type="application/pdf",
            stored_by="ops",
            now=NOW,
        )
        longer = record_blob(
            conn,
            stored,
            purpose="report",
            media_type="application/pdf",
            stored_by="ops",
            now=NOW,
            retain_years=30,
        )
    with engine.connect() as conn:
        rows = records_of(conn, stored.sha256)
        assert [r["retain_until"].year for r in rows] == [2037, 2056]
        assert retained_until(conn, stored.sha256) == datetime(2056, 3, 10, 2, 0, tzinfo=UTC)
    assert rows[1]["id"] == longer


def test_refuses_what_it_cannot_promise(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    stored = BlobStore(tmp_path / "blobs").put(b"x")
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="needs settings, a policy or retain_years"):
            record_blob(conn, stored, purpose="photo", media_type="image/png", stored_by="a", now=NOW)
        with pytest.raises(ValueError, match="stored_by"):
            record_blob(
                conn,
                stored,
                purpose="photo",
                media_type="image/png",
                stored_by="",
                now=NOW,
                settings=settings,
            )
        short_lock = replace(stored, backend="s3", locked_until=datetime(2030, 1, 1, tzinfo=UTC))
        with pytest.raises(ValueError, match="extend it first"):
            record_blob(
                conn,
                short_lock,
                purpose="video",
                media_type="video/mp4",
                stored_by="a",
                now=NOW,
                settings=settings,
            )
        assert conn.execute(select(blob_records)).first() is None


def test_blob_records_are_append_only(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    stored = BlobStore(tmp_path / "blobs").put(b"x")
    with engine.begin() as conn:
        row_id = record_blob(
            conn, stored, purpose="photo", media_type="image/png", stored_by="a", now=NOW, settings=settings
        )
    for statement in (
        f"UPDATE blob_records SET retain_until = stored_at WHERE id = {row_id}",
        f"DELETE FROM blob_records WHERE id = {row_id}",
    ):
        with (
            pytest.raises(Exception, match=r"(?i)append-only|not allowed|refused|forbidden"),
            engine.begin() as conn,
        ):
            conn.execute(text(statement))
