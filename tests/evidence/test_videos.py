"""Video records in the store (evidence.videos, evidence.video_search) on SQLite and PostgreSQL: finishing
an upload into a record in one transaction with its blob row, links and evidence entry; idempotency; a
finish whose transaction failed after the file moved can be retried; what the metadata check refuses;
search with the scope's id sets; annotations; the media type from the first bytes.

The world is tests/sampling/conftest.py's (agency 温州检测 with its staff and plan at enterprise 甲)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import DBAPIError

from envwatch.core.blob_records import record_blob
from envwatch.core.blob_types import add_years
from envwatch.core.blobs import BlobStore
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence_schema import blob_records, evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import uploads
from envwatch.evidence.schema import video_record_links, video_records
from envwatch.evidence.video_search import detail, search
from envwatch.evidence.videos import VideoDraft, annotate, finish, sniff
from tests.sampling.conftest import SamplingWorld, build_sampling_world, count

BY = "wzjc_uploader"
MP4 = b"\x00\x00\x00\x1cftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 400


@pytest.fixture
def world(engine: Engine) -> Iterator[SamplingWorld]:
    yield build_sampling_world(engine)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def uploaded(world: SamplingWorld, settings: Settings, data: bytes = MP4, by: str = BY) -> str:
    with world.engine.begin() as conn:
        session = uploads.create(
            conn, settings, length=len(data), meta={"filename": "a.mp4"}, by=by, now=world.now
        )
    asyncio.run(uploads.append(settings, session, 0, _one(data)))
    return session.id


def draft(world: SamplingWorld, upload_id: str, **changes: Any) -> VideoDraft:
    values: dict[str, Any] = {
        "upload_id": upload_id,
        "stage": "sampling",
        "agency_id": world.agency,
        "recorded_start": world.now - timedelta(minutes=50),
        "recorded_end": world.now - timedelta(minutes=40),
        "plan_id": world.plan["id"],
        "landmark": "甲化工 东门",
        "device_numbers": ["YQ-01", " YQ-01 ", "YQ-02"],
        "staff_ids": [world.staff["chen"], world.staff["zhou"], world.staff["chen"]],
    }
    return VideoDraft(**(values | changes))


def test_finish_writes_record_links_blob_and_entry_in_one_go(
    world: SamplingWorld, settings: Settings
) -> None:
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    upload_id = uploaded(world, settings)
    video_id, made = finish(
        world.engine, settings, draft(world, upload_id, sample_codes=[code.lower()]), by=BY, now=world.now
    )
    assert made
    with world.engine.connect() as conn:
        record = detail(conn, video_id)
        blob = conn.execute(select(blob_records)).mappings().one()
        body = json.loads(
            conn.execute(
                select(evidence_entries.c.body).where(evidence_entries.c.kind == "video_record")
            ).scalar_one()
        )
    sha256 = hashlib.sha256(MP4).hexdigest()
    assert record["blob_sha256"] == sha256
    assert record["enterprise_id"] == world.enterprises["jia"]  # taken from the plan
    assert record["device_numbers"] == ["YQ-01", "YQ-02"]
    assert record["sample_codes"] == [code]
    assert [s["id"] for s in record["staff"]] == [world.staff["chen"], world.staff["zhou"]]
    assert record["archived_at"] == world.now
    assert record["media_type"] == "video/mp4"
    assert blob["purpose"] == "video"
    assert blob["sm3"] == hashlib.new("sm3", MP4).hexdigest()
    assert blob["retain_until"] == add_years(world.now, settings.video_retention_years)
    assert body["ref"] == f"video_records/{video_id}"
    payload = body["payload"]
    assert payload["table"] == "video_records"
    assert payload["row"]["upload_id"] == upload_id
    assert payload["row"]["landmark"] == "甲化工 东门"
    assert payload["blob"] == {"sha256": sha256, "sm3": blob["sm3"], "size": len(MP4)}
    assert payload["links"] == [
        {"kind": "sample", "value": code},
        {"kind": "staff", "value": str(world.staff["chen"])},
        {"kind": "staff", "value": str(world.staff["zhou"])},
    ]
    assert record["evidence_entry_id"] is not None
    assert BlobStore.from_settings(settings).get(sha256) == MP4
    # finishing again is the same record, and nothing new is written
    assert finish(world.engine, settings, draft(world, upload_id), by=BY, now=world.now) == (video_id, False)
    with world.engine.connect() as conn:
        assert count(conn, video_records) == 1
        assert count(conn, video_record_links) == 3
        assert count(conn, blob_records) == 1


def test_a_record_is_append_only(world: SamplingWorld, settings: Settings) -> None:
    video_id, _ = finish(
        world.engine, settings, draft(world, uploaded(world, settings)), by=BY, now=world.now
    )
    with pytest.raises(DBAPIError), world.engine.begin() as conn:
        conn.execute(update(video_records).where(video_records.c.id == video_id).values(landmark="别处"))


def test_a_finish_whose_transaction_failed_can_be_retried(
    world: SamplingWorld, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload_id = uploaded(world, settings)
    real = record_blob

    def crash(*args: Any, **kwargs: Any) -> int:
        real(*args, **kwargs)
        raise RuntimeError("the database went away")  # after the file moved, before the commit

    monkeypatch.setattr("envwatch.evidence.videos.record_blob", crash)
    with pytest.raises(RuntimeError):
        finish(world.engine, settings, draft(world, upload_id), by=BY, now=world.now)
    assert not uploads.part_path(settings, upload_id).exists()  # the file is in the blob store now
    with world.engine.connect() as conn:
        assert count(conn, video_records) == 0 and count(conn, blob_records) == 0  # rolled back together
    monkeypatch.setattr("envwatch.evidence.videos.record_blob", real)
    video_id, made = finish(world.engine, settings, draft(world, upload_id), by=BY, now=world.now)
    assert made
    with world.engine.connect() as conn:
        assert detail(conn, video_id)["blob"]["sha256"] == hashlib.sha256(MP4).hexdigest()
        assert count(conn, blob_records) == 1
    assert not list(uploads.uploads_dir(settings).glob("*.stored.json"))


def test_incomplete_foreign_and_expired_uploads(world: SamplingWorld, settings: Settings) -> None:
    with world.engine.begin() as conn:
        session = uploads.create(conn, settings, length=len(MP4), meta={}, by=BY, now=world.now)
    asyncio.run(uploads.append(settings, session, 0, _one(MP4[:1000])))
    with pytest.raises(Conflict, match=f"1000 of {len(MP4)} bytes"):
        finish(world.engine, settings, draft(world, session.id), by=BY, now=world.now)
    with pytest.raises(NotFound):
        finish(world.engine, settings, draft(world, session.id), by="someone_else", now=world.now)
    with pytest.raises(uploads.UploadGone):
        finish(world.engine, settings, draft(world, session.id), by=BY, now=session.expires_at)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"stage": "picnic"}, "stages: equipment, sampling"),
        ({"landmark": "  "}, "WZ-A1-5"),
        ({"landmark": "", "latitude": Decimal("27.99")}, "together"),
        ({"latitude": Decimal("95"), "longitude": Decimal("120")}, "±90"),
        ({"staff_ids": [-1]}, "no staff member with id -1"),
        ({"sample_codes": ["HZJC-20261123-ABCDEF-001"]}, "no sample"),
        ({"plan_id": 999_999}, "no sampling plan"),
        ({"enterprise_id": 999_999, "plan_id": None}, "no enterprise"),
        ({"device_numbers": ["x" * 101]}, "device_numbers"),
    ],
)
def test_metadata_refusals_leave_the_upload_as_it_was(
    world: SamplingWorld, settings: Settings, changes: dict[str, Any], words: str
) -> None:
    upload_id = uploaded(world, settings)
    with pytest.raises(InvalidInput, match=words):
        finish(world.engine, settings, draft(world, upload_id, **changes), by=BY, now=world.now)
    assert uploads.part_path(settings, upload_id).stat().st_size == len(MP4)


def test_staff_and_samples_of_another_agency_are_unknown(world: SamplingWorld, settings: Settings) -> None:
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    upload_id = uploaded(world, settings)
    other = draft(
        world, upload_id, agency_id=world.other_agency, plan_id=None, staff_ids=[world.staff["stranger"]]
    )
    with pytest.raises(InvalidInput, match=f"no sample with code {code}"):
        finish(world.engine, settings, replace(other, sample_codes=[code]), by=BY, now=world.now)
    with pytest.raises(InvalidInput, match="no staff member"):
        finish(
            world.engine,
            settings,
            draft(world, upload_id, staff_ids=[world.staff["stranger"]]),
            by=BY,
            now=world.now,
        )


def test_search_by_visibility_and_filters(world: SamplingWorld, settings: Settings) -> None:
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    first, _ = finish(
        world.engine,
        settings,
        draft(world, uploaded(world, settings), sample_codes=[code]),
        by=BY,
        now=world.now,
    )
    second, _ = finish(
        world.engine,
        settings,
        draft(
            world,
            uploaded(world, settings, MP4 + b"2"),
            stage="analysis",
            plan_id=None,
            landmark="",
            staff_ids=[world.staff["analyst"]],
            recorded_start=world.now - timedelta(hours=30),
            recorded_end=world.now - timedelta(hours=29),
        ),
        by=BY,
        now=world.now,
    )
    jia = world.enterprises["jia"]

    def ids(agency_ids: Any = None, enterprise_ids: Any = None, **filters: Any) -> list[int]:
        with world.engine.connect() as conn:
            total, rows = search(conn, agency_ids=agency_ids, enterprise_ids=enterprise_ids, **filters)
        assert total == len(rows)
        return [r["id"] for r in rows]

    assert ids() == [first, second]
    assert ids({world.agency}, set()) == [first, second]  # the agency itself
    assert ids({world.other_agency}, set()) == []
    assert ids(set(), {jia}) == [first]  # the enterprise it was filmed at
    assert ids(set(), set()) == []
    assert ids(sample_code=code.lower()) == [first]
    assert ids(staff_id=world.staff["analyst"]) == [second]
    assert ids(stage="analysis") == [second]
    assert ids(enterprise_id=jia) == [first]
    assert ids(since=world.now - timedelta(hours=29, minutes=30), until=world.now - timedelta(hours=1)) == [
        second
    ]
    assert ids(since=world.now - timedelta(minutes=45)) == [first]
    assert ids(until=world.now - timedelta(hours=29)) == [second]
    with world.engine.connect() as conn:
        total, rows = search(conn, agency_ids=None, enterprise_ids=None, limit=1, offset=1)
    assert (total, [r["id"] for r in rows]) == (2, [second])
    assert rows[0]["stage_name"] == "实验室分析" and rows[0]["agency_name"] == "温州检测"


def test_annotations(world: SamplingWorld, settings: Settings) -> None:
    video_id, _ = finish(
        world.engine, settings, draft(world, uploaded(world, settings)), by=BY, now=world.now
    )
    with world.engine.begin() as conn:
        note = annotate(conn, video_id, " 封样完整 ", 75, by="reviewer", now=world.now)
        with pytest.raises(NotFound):
            annotate(conn, video_id + 1, "x", None, by="reviewer", now=world.now)
        with pytest.raises(InvalidInput):
            annotate(conn, video_id, "", None, by="reviewer", now=world.now)
    with world.engine.connect() as conn:
        record = detail(conn, video_id)
        entry = json.loads(
            conn.execute(
                select(evidence_entries.c.body).where(evidence_entries.c.kind == "video_annotation")
            ).scalar_one()
        )
        assert conn.execute(select(func.count()).select_from(evidence_entries)).scalar_one() >= 3
    assert [(a["text"], a["at_second"]) for a in record["annotations"]] == [("封样完整", 75)]
    assert entry["ref"] == f"video_annotations/{note['id']}"
    assert entry["payload"]["row"]["video_id"] == video_id


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00\x00\x1f\x42\x82\x84webm", "video/webm"),
        (b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00\x00\x23\x42\x82\x88matroska", "video/x-matroska"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "video/x-msvideo"),
        ((b"\x47" + bytes(187)) * 3, "video/mp2t"),
        ((b"\x00\x00\x00\x00\x47" + bytes(187)) * 3, "video/mp2t"),  # M2TS (Blu-ray, camcorders)
        ((b"\x47" + bytes(187)) * 2, None),  # two packets are not enough to tell
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"ftyp", None),
        (b"", None),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None),
    ],
)
def test_sniff(head: bytes, media_type: str | None) -> None:
    assert sniff(head) == media_type
