"""Video records over the REST API (WZ-A1): the tus 1.0.0 upload protocol through the real app, finishing
an upload into a record, search, playback with HTTP ranges, annotations, and who may do what.

The world is tests/web/sampling_world.py: agency A (温州检测, its accounts ``agency``/``receiver``) with a
sample taken at enterprise 甲, agency B (广州检测, ``other_agency``), regulators of 温州 and 广东.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from envwatch.core.clock import utcnow
from envwatch.core.evidence_schema import blob_records, evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence.schema import video_annotations, video_record_links, video_records
from envwatch.web.auth import authenticate
from tests.web.sampling_world import World, build_world, iso, ok, refused

UP = "/api/v1/evidence/uploads"
VID = "/api/v1/evidence/videos"
TUS = {"Tus-Resumable": "1.0.0"}
MAX = 4 * 1024 * 1024
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2avc1"


def mp4(size: int, seed: int = 1) -> bytes:
    """An MP4-looking file: the ftyp box, then pseudo-random bytes (never sent anywhere but the app)."""
    body = (seed.to_bytes(4, "big") + os.urandom(4)) * ((size // 8) + 1)
    return (MP4_HEAD + body)[:size]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", video_max_bytes=MAX, _env_file=None)


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    yield from build_world(settings, sqlite_engine)


def act(w: World, who: str) -> TestClient:
    """The test client acting as ``who`` (the identity is set until the next call)."""
    principal = w.principals()[who]
    w.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
    return w.client


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(w: World, length: int, who: str = "agency", **headers: str) -> str:
    response = act(w, who).post(
        UP,
        headers=TUS | {"Upload-Length": str(length), "Upload-Metadata": meta(filename="采样.mp4")} | headers,
    )
    assert response.status_code == 201, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"
    location = response.headers["Location"]
    assert location.startswith(f"{UP}/")
    return location


def patch(w: World, url: str, offset: int, data: bytes, who: str = "agency") -> Any:
    headers = TUS | {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    return act(w, who).patch(url, content=data, headers=headers)


def head(w: World, url: str, who: str = "agency") -> Any:
    return act(w, who).head(url, headers=TUS)


def upload(w: World, data: bytes, who: str = "agency", chunk: int = 256 * 1024) -> str:
    url = create(w, len(data), who)
    for start in range(0, len(data), chunk):
        response = patch(w, url, start, data[start : start + chunk], who)
        assert response.status_code == 204, response.text
        assert int(response.headers["Upload-Offset"]) == min(start + chunk, len(data))
    return url.rsplit("/", 1)[-1]


def sample_code(w: World) -> str:
    plan = w.plan()
    return str(w.sample(plan["items"][0]["id"])["code"])


def body(w: World, upload_id: str, **changes: Any) -> dict[str, Any]:
    now = utcnow()
    base: dict[str, Any] = {
        "upload_id": upload_id,
        "stage": "sampling",
        "enterprise_id": w.ent_a,
        "recorded_start": iso(now - timedelta(minutes=40)),
        "recorded_end": iso(now - timedelta(minutes=30)),
        "landmark": "永兴化工 北门 厂牌",
        "device_numbers": ["CYQ-2024-017"],
        "staff_ids": [w.staff["sampler"]],
        "annotation": "采样全过程",
    }
    return base | changes


def record(w: World, data: bytes | None = None, who: str = "agency", **changes: Any) -> dict[str, Any]:
    upload_id = upload(w, data if data is not None else mp4(300_000), who)
    return ok(act(w, who).post(VID, json=body(w, upload_id, **changes)), 201)  # type: ignore[no-any-return]


def count(w: World, table: Any, *where: Any) -> int:
    with w.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# ---- the tus protocol ----


def test_options_announces_version_extensions_and_limit(world: World) -> None:
    response = world.client.options(UP)
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Extension"] == "creation,expiration"
    assert response.headers["Tus-Max-Size"] == str(MAX)
    assert response.headers["Tus-Resumable"] == "1.0.0"


def test_upload_in_chunks_and_resume_from_the_offset_head_reports(world: World, settings: Settings) -> None:
    data = mp4(1_000_000)
    url = create(world, len(data))
    first = head(world, url)
    assert first.status_code == 200
    assert first.headers["Upload-Offset"] == "0"
    assert first.headers["Upload-Length"] == str(len(data))
    assert first.headers["Cache-Control"] == "no-store"
    assert first.headers["Tus-Resumable"] == "1.0.0"
    assert "GMT" in first.headers["Upload-Expires"]
    sent = patch(world, url, 0, data[:300_000])
    assert sent.status_code == 204
    assert sent.headers["Upload-Offset"] == "300000"
    assert sent.headers["Tus-Resumable"] == "1.0.0"
    # the client went away here; later it asks where to go on and sends the rest from there
    offset = int(head(world, url).headers["Upload-Offset"])
    assert offset == 300_000
    assert patch(world, url, offset, data[offset:]).status_code == 204
    assert head(world, url).headers["Upload-Offset"] == str(len(data))
    part = settings.data_dir / "uploads" / f"{url.rsplit('/', 1)[-1]}.part"
    assert part.read_bytes() == data


def test_wrong_offset_is_409_and_changes_nothing(world: World, settings: Settings) -> None:
    data = mp4(10_000)
    url = create(world, len(data))
    assert patch(world, url, 0, data[:4000]).status_code == 204
    for wrong in (0, 3000, 5000):
        response = patch(world, url, wrong, data[wrong : wrong + 1000])
        assert response.status_code == 409, response.text
        assert response.headers["Tus-Resumable"] == "1.0.0"
        assert "HEAD" in response.json()["detail"]
    assert head(world, url).headers["Upload-Offset"] == "4000"


def test_over_the_limit_is_413_before_anything_is_stored(world: World, settings: Settings) -> None:
    response = act(world, "agency").post(UP, headers=TUS | {"Upload-Length": str(MAX + 1)})
    assert response.status_code == 413, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "ENVWATCH_VIDEO_MAX_BYTES" in response.json()["detail"]
    assert not (settings.data_dir / "uploads").exists() or not any((settings.data_dir / "uploads").iterdir())


def test_wrong_or_missing_tus_version_is_412(world: World) -> None:
    url = create(world, 100)
    for headers in ({"Tus-Resumable": "0.2.2"}, {}):
        response = act(world, "agency").post(UP, headers=headers | {"Upload-Length": "10"})
        assert response.status_code == 412
        assert response.headers["Tus-Version"] == "1.0.0"
        assert response.headers["Tus-Resumable"] == "1.0.0"
        response = act(world, "agency").patch(
            url,
            content=b"x",
            headers=headers | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        assert response.status_code == 412
    assert head(world, url).headers["Upload-Offset"] == "0"


def test_protocol_errors(world: World) -> None:
    url = create(world, 100)
    wrong_type = act(world, "agency").patch(
        url, content=b"x", headers=TUS | {"Upload-Offset": "0", "Content-Type": "video/mp4"}
    )
    assert wrong_type.status_code == 415
    no_length = act(world, "agency").post(UP, headers=TUS)
    assert no_length.status_code == 400
    assert "Upload-Length" in no_length.json()["detail"]
    deferred = act(world, "agency").post(UP, headers=TUS | {"Upload-Defer-Length": "1"})
    assert deferred.status_code == 400
    bad_meta = act(world, "agency").post(UP, headers=TUS | {"Upload-Length": "5", "Upload-Metadata": "a b c"})
    assert bad_meta.status_code == 400
    too_long = patch(world, url, 0, b"y" * 101)
    assert too_long.status_code == 400
    assert head(world, url).headers["Upload-Offset"] == "0"
    unknown = head(world, f"{UP}/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    assert unknown.headers["Tus-Resumable"] == "1.0.0"


def test_an_upload_belongs_to_its_creator(world: World) -> None:
    data = mp4(20_000)
    url = create(world, len(data))
    for who in ("receiver", "other_agency", "admin"):  # another account, even of the same agency
        assert head(world, url, who).status_code == 404
        assert patch(world, url, 0, data, who).status_code == 404
    assert patch(world, url, 0, data).status_code == 204
    upload_id = url.rsplit("/", 1)[-1]
    other = body(world, upload_id, staff_ids=[world.staff["sampler_b"]], enterprise_id=None)
    refused(act(world, "other_agency").post(VID, json=other), 404, "no upload")
    assert count(world, video_records) == 0


def test_roles_without_the_video_right_cannot_upload(world: World) -> None:
    for who in ("regulator", "enterprise", "operator", "auditor"):
        response = act(world, who).post(UP, headers=TUS | {"Upload-Length": "10"})
        assert response.status_code == 403, who
        assert response.headers["Tus-Resumable"] == "1.0.0"
        assert "video" in response.json()["detail"]


def test_expired_upload_is_410(world: World, settings: Settings) -> None:
    from sqlalchemy import update

    from envwatch.evidence.schema import video_uploads

    url = create(world, 100)
    with world.engine.begin() as conn:
        conn.execute(update(video_uploads).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert head(world, url).status_code == 410
    assert patch(world, url, 0, b"x").status_code == 410


# ---- finishing ----


def test_finish_makes_one_record_with_its_links_blob_and_evidence(world: World, settings: Settings) -> None:
    code = sample_code(world)
    data = mp4(300_000)
    upload_id = upload(world, data)
    created = ok(
        act(world, "agency").post(VID, json=body(world, upload_id, sample_codes=[code.lower()])), 201
    )
    import hashlib

    assert created["blob_sha256"] == hashlib.sha256(data).hexdigest()
    assert created["size"] == len(data)
    assert created["media_type"] == "video/mp4"
    assert created["file_name"] == "采样.mp4"
    assert created["agency_id"] == world.agency_a
    assert created["sample_codes"] == [code]
    assert created["staff"] == [{"id": world.staff["sampler"], "name": "张三"}]
    assert created["blob"]["sm3"] == hashlib.new("sm3", data).hexdigest()
    assert created["evidence_entry_id"] is not None
    assert created["archived_at"] is not None
    assert created["stage_name"] == "现场采样或检测"
    # the part file has moved into the blob store
    assert not (settings.data_dir / "uploads" / f"{upload_id}.part").exists()
    assert head(world, f"{UP}/{upload_id}").headers["Upload-Offset"] == str(len(data))
    # a second finish (a retry) answers the same record and writes nothing
    again = ok(act(world, "agency").post(VID, json=body(world, upload_id, sample_codes=[code])), 200)
    assert again["id"] == created["id"]
    assert count(world, video_records) == 1
    assert count(world, video_record_links) == 2
    assert count(world, blob_records, blob_records.c.purpose == "video") == 1
    assert count(world, evidence_entries, evidence_entries.c.kind == "video_record") == 1


def test_finishing_an_incomplete_upload_is_409(world: World) -> None:
    data = mp4(50_000)
    url = create(world, len(data))
    assert patch(world, url, 0, data[:10_000]).status_code == 204
    refused(act(world, "agency").post(VID, json=body(world, url.rsplit("/", 1)[-1])), 409, "10000 of 50000")
    assert count(world, video_records) == 0


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\0" * 500, "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + b"\0" * 500, "video/webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska" + b"\0" * 500, "video/x-matroska"),
        (b"RIFF\x00\x10\x00\x00AVI LIST" + b"\0" * 500, "video/x-msvideo"),
        ((b"\x47" + b"\x11" * 187) * 4, "video/mp2t"),
    ],
)
def test_media_type_is_told_from_the_first_bytes(world: World, data: bytes, media_type: str) -> None:
    upload_id = upload(world, data)
    created = ok(act(world, "agency").post(VID, json=body(world, upload_id)), 201)
    assert created["media_type"] == media_type


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n" + b"\0" * 600, b"<html><script>alert(1)</script></html>", b"\x89PNG\r\n\x1a\n" * 40],
)
def test_files_that_are_no_video_are_refused(world: World, data: bytes) -> None:
    upload_id = upload(world, data)
    refused(act(world, "agency").post(VID, json=body(world, upload_id)), 422, "MP4", "first bytes")
    assert count(world, video_records) == 0
    assert count(world, blob_records) == 0


def test_metadata_is_checked_before_the_file_moves(world: World, settings: Settings) -> None:
    code = sample_code(world)
    upload_id = upload(world, mp4(100_000))
    bad: list[tuple[dict[str, Any], str]] = [
        ({"landmark": ""}, "WZ-A1-5"),
        ({"stage": "lunch"}, "stages: equipment"),
        ({"latitude": "27.99"}, "together"),
        ({"recorded_end": iso(utcnow() - timedelta(hours=2))}, "after recorded_start"),
        ({"recorded_end": iso(utcnow() + timedelta(hours=2))}, "future"),
        ({"staff_ids": [world.staff["sampler_b"]]}, "no staff member"),
        ({"sample_codes": ["WZJC-NOPE"]}, "no sample"),
    ]
    for changes, words in bad:
        refused(act(world, "agency").post(VID, json=body(world, upload_id, **changes)), 422, words)
    refused(act(world, "other_agency").post(VID, json=body(world, upload_id)), 404, "no upload")
    refused(
        act(world, "agency").post(VID, json=body(world, upload_id, agency_id=world.agency_b)),
        404,
        "no testing agency",
    )
    assert (settings.data_dir / "uploads" / f"{upload_id}.part").exists()
    # a sampling video may give the GPS position instead of a landmark
    created = ok(
        act(world, "agency").post(
            VID,
            json=body(
                world, upload_id, landmark="", latitude="27.9940", longitude="120.6996", sample_codes=[code]
            ),
        ),
        201,
    )
    assert created["latitude"] == "27.9940"


def test_admin_names_the_agency(world: World) -> None:
    upload_id = upload(world, mp4(50_000), "admin")
    refused(act(world, "admin").post(VID, json=body(world, upload_id)), 422, "agency_id is required")
    created = ok(act(world, "admin").post(VID, json=body(world, upload_id, agency_id=world.agency_a)), 201)
    assert created["agency_id"] == world.agency_a
    assert created["uploaded_by"] == "admin"


# ---- reading, scope, search ----


def test_scope_of_records(world: World) -> None:
    mine = record(world)
    path = f"{VID}/{mine['id']}"
    for who in ("agency", "receiver", "admin", "regulator", "enterprise"):
        assert act(world, who).get(path).status_code == 200, who
        assert act(world, who).get(f"{path}/content", headers={"Range": "bytes=0-9"}).status_code == 206
        assert [r["id"] for r in act(world, who).get(VID).json()["rows"]] == [mine["id"]], who
    for who in ("other_agency", "other_regulator", "other_enterprise"):
        refused(act(world, who).get(path), 404, f"no video record with id {mine['id']}")
        assert act(world, who).get(f"{path}/content").status_code == 404
        assert act(world, who).get(VID).json() == {"total": 0, "limit": 50, "offset": 0, "rows": []}, who
    for who in ("operator", "auditor"):
        assert act(world, who).get(path).status_code == 403
        assert act(world, who).get(VID).status_code == 403


def test_search_filters(world: World) -> None:
    code = sample_code(world)
    now = utcnow()
    a = record(world, sample_codes=[code])
    b = record(
        world,
        stage="transport",
        landmark="",
        enterprise_id=None,
        staff_ids=[world.staff["receiver"]],
        recorded_start=iso(now - timedelta(hours=5)),
        recorded_end=iso(now - timedelta(hours=4)),
    )
    c = act(world, "agency")

    def ids(**params: Any) -> list[int]:
        return [r["id"] for r in ok(c.get(VID, params=params))["rows"]]

    assert ids() == [a["id"], b["id"]]  # newest recording first
    assert ids(sample_code=code.lower()) == [a["id"]]
    assert ids(staff_id=world.staff["receiver"]) == [b["id"]]
    assert ids(stage="transport") == [b["id"]]
    assert ids(enterprise_id=world.ent_a) == [a["id"]]
    assert ids(agency_id=world.agency_a) == [a["id"], b["id"]]
    assert ids(agency_id=world.agency_b) == []
    # recorded time overlaps [from, to)
    window: dict[str, Any] = {
        "from": iso(now - timedelta(hours=4, minutes=30)),
        "to": iso(now - timedelta(hours=3)),
    }
    assert ids(**window) == [b["id"]]
    since: dict[str, Any] = {"from": iso(now - timedelta(minutes=35))}
    assert ids(**since) == [a["id"]]
    page = ok(c.get(VID, params={"limit": 1, "offset": 1}))
    assert page["total"] == 2
    assert [r["id"] for r in page["rows"]] == [b["id"]]
    refused(c.get(VID, params={"stage": "lunch"}), 422, "stages")
    # the regulator of 温州 sees B's record of agency A although it was filmed at no enterprise
    assert b["id"] in [r["id"] for r in ok(act(world, "regulator").get(VID))["rows"]]
    # enterprise 甲 sees the record filmed at it only
    assert [r["id"] for r in ok(act(world, "enterprise").get(VID))["rows"]] == [a["id"]]


# ---- playback ----


def test_range_requests(world: World) -> None:
    data = mp4(200_000)
    created = record(world, data)
    url = f"{VID}/{created['id']}/content"
    c = act(world, "agency")
    whole = c.get(url)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Content-Length"] == str(len(data))
    assert whole.headers["X-Content-SHA256"] == created["blob_sha256"]
    cases = {
        "bytes=0-99": (0, 100),
        "bytes=100000-100099": (100_000, 100_100),
        "bytes=-1000": (len(data) - 1000, len(data)),
        "bytes=199990-": (199_990, len(data)),
        "bytes=199990-300000": (199_990, len(data)),
        "bytes=-999999": (0, len(data)),
    }
    for header, (start, end) in cases.items():
        part = c.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == data[start:end], header
        assert part.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(data)}"
        assert part.headers["Content-Length"] == str(end - start)
    for header in ("bytes=200000-", "bytes=300000-300010", "bytes=-0"):
        unsatisfiable = c.get(url, headers={"Range": header})
        assert unsatisfiable.status_code == 416, header
        assert unsatisfiable.headers["Content-Range"] == f"bytes */{len(data)}"
    for header in ("bytes=0-1,5-9", "items=0-5", "bytes=9-1", "bytes=abc"):
        ignored = c.get(url, headers={"Range": header})  # a server may ignore a Range it does not serve
        assert ignored.status_code == 200, header
        assert ignored.content == data
    stale = c.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200
    fresh = c.get(url, headers={"Range": "bytes=0-9", "If-Range": f'"{created["blob_sha256"]}"'})
    assert fresh.status_code == 206


# ---- annotations ----


def test_annotations_are_appended_and_logged(world: World) -> None:
    created = record(world)
    path = f"{VID}/{created['id']}/annotations"
    note = ok(act(world, "agency").post(path, json={"text": "  03:12 开启采样瓶  ", "at_second": 192}), 201)
    assert note["text"] == "03:12 开启采样瓶"
    assert note["evidence_entry_id"] is not None
    ok(act(world, "admin").post(path, json={"text": "复核: 画面连续"}), 201)
    read = ok(act(world, "regulator").get(f"{VID}/{created['id']}"))
    assert [(a["text"], a["at_second"]) for a in read["annotations"]] == [
        ("03:12 开启采样瓶", 192),
        ("复核: 画面连续", None),
    ]
    assert count(world, evidence_entries, evidence_entries.c.kind == "video_annotation") == 2
    refused(act(world, "regulator").post(path, json={"text": "x"}), 403, "video")
    refused(act(world, "other_agency").post(path, json={"text": "x"}), 404)
    refused(act(world, "agency").post(path, json={"text": "   "}), 422, "annotation")
    assert act(world, "agency").post(path, json={"text": "x", "at_second": -1}).status_code == 422
    assert count(world, video_annotations) == 2
