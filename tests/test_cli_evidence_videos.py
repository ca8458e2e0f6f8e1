"""``envwatch evidence videos upload|search|show`` as a user runs them (Typer's runner), the upload against
the real app under uvicorn on 127.0.0.1 (tests/web/pages/conftest.py ``serving``), the reads on the store.

The upload is interrupted after a few chunks (the network fails: tuspy's chunk sender raises), and the same
command run again continues from the offset the server reports, then records the video.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from tusclient.exceptions import TusUploadFailed
from tusclient.uploader.uploader import Uploader
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.evidence import uploads
from envwatch.evidence.schema import video_records, video_uploads
from tests.sampling.conftest import SamplingWorld, build_sampling_world
from tests.web.pages.conftest import serving

runner = CliRunner()
TOKEN = "cli-video-admin-token-0123456789"
CHUNK = 256 * 1024


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", admin_token=TOKEN, _env_file=None)


@pytest.fixture
def world(sqlite_engine: Engine) -> SamplingWorld:
    return build_sampling_world(sqlite_engine)


@pytest.fixture
def server(settings: Settings, sqlite_engine: Engine) -> Iterator[str]:
    with serving(settings, sqlite_engine) as url:
        yield url


def _video(path: Path, size: int) -> bytes:
    data = (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * (size // 256 + 1))[
        :size
    ]
    path.write_bytes(data)
    return data


def _upload_args(world: SamplingWorld, server: str, file: Path, state: Path, code: str) -> list[str]:
    now = utcnow()
    args = [
        "evidence", "videos", "upload", str(file),
        "--server", server, "--token", TOKEN, "--stage", "sampling", "--agency", str(world.agency),
        "--sample", code, "--staff", str(world.staff["chen"]), "--staff", str(world.staff["zhou"]),
        "--start", to_china(now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"),
        "--end", to_china(now - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S"),
        "--lat", "27.9938", "--lon", "120.6993", "--device-number", "YQ-01",
        "--annotation", "全程录像", "--chunk-size", str(CHUNK), "--state", str(state),
    ]  # fmt: skip
    return args


def test_upload_resumes_after_an_interruption_then_search_and_show(
    world: SamplingWorld,
    server: str,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    file = tmp_path / "采样.mp4"
    data = _video(file, 10 * CHUNK + 12345)
    state = tmp_path / "state.json"
    args = _upload_args(world, server, file, state, code)

    real = Uploader.upload_chunk
    sent: list[int] = []

    def flaky(self: Any) -> None:
        if len(sent) == 3:
            raise TusUploadFailed("connection reset by peer")  # type: ignore[no-untyped-call]
        real(self)  # type: ignore[no-untyped-call]
        sent.append(self.offset)

    monkeypatch.setattr(Uploader, "upload_chunk", flaky)
    first = runner.invoke(app, args)
    assert first.exit_code == 2, first.output
    assert "run the same command again to resume" in first.output
    assert sent == [CHUNK, 2 * CHUNK, 3 * CHUNK]
    (entry,) = json.loads(state.read_text()).values()
    assert "/api/v1/evidence/uploads/" in entry["url"]
    assert "video_id" not in entry

    monkeypatch.setattr(Uploader, "upload_chunk", real)
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert f"resuming at byte {3 * CHUNK} of {len(data)}" in second.output
    sha256 = hashlib.sha256(data).hexdigest()
    assert f"SHA-256 {sha256}" in second.output
    with world.engine.connect() as conn:
        row = conn.execute(select(video_records)).mappings().one()
    assert row["blob_sha256"] == sha256
    assert row["file_name"] == "采样.mp4"
    assert row["upload_id"] == entry["url"].rsplit("/", 1)[-1]  # the same upload, continued
    assert f"video record {row['id']}" in second.output

    third = runner.invoke(app, args)  # the file is not sent twice
    assert third.exit_code == 0, third.output
    assert f"already recorded as video record {row['id']}" in third.output
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(video_records)).scalar_one() == 1

    data_dir = ["--data-dir", str(settings.data_dir)]
    found = runner.invoke(
        app, ["evidence", "videos", "search", "--sample", code.lower(), "--json", *data_dir]
    )
    assert found.exit_code == 0, found.output
    result = json.loads(found.output)
    assert result["total"] == 1 and result["rows"][0]["id"] == row["id"]
    table = runner.invoke(app, ["evidence", "videos", "search", "--stage", "sampling", *data_dir])
    assert table.exit_code == 0 and "温州检测" in table.output
    none = runner.invoke(app, ["evidence", "videos", "search", "--stage", "analysis", "--json", *data_dir])
    assert json.loads(none.output)["total"] == 0
    shown = runner.invoke(app, ["evidence", "videos", "show", str(row["id"]), *data_dir])
    assert shown.exit_code == 0, shown.output
    for text in (sha256, code, "陈采样", "YQ-01", "27.9938, 120.6993", "全程录像", "现场采样或检测"):
        assert text in shown.output, text
    as_json = json.loads(
        runner.invoke(app, ["evidence", "videos", "show", str(row["id"]), "--json", *data_dir]).output
    )
    assert as_json["blob"]["sm3"] == hashlib.new("sm3", data).hexdigest()
    missing = runner.invoke(app, ["evidence", "videos", "show", "999", *data_dir])
    assert missing.exit_code == 2 and "no video record with id 999" in missing.output


def test_refusals_are_reported(world: SamplingWorld, server: str, tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_bytes(b"not a video at all\n" * 100)
    args = _upload_args(world, server, file, tmp_path / "state.json", "WZJC-NONE")
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "the server refused the record (422)" in result.output
    bad_token = [a if a != TOKEN else "wrong" for a in args]
    result = runner.invoke(app, bad_token)
    assert result.exit_code == 2 and "401" in result.output


def test_an_expired_upload_starts_over(
    world: SamplingWorld, server: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    file = tmp_path / "v.mp4"
    data = _video(file, 3 * CHUNK)
    args = _upload_args(world, server, file, tmp_path / "state.json", code)
    real = Uploader.upload_chunk

    def broken(self: Any) -> None:
        real(self)  # type: ignore[no-untyped-call]
        raise TusUploadFailed("connection reset by peer")  # type: ignore[no-untyped-call]

    monkeypatch.setattr(Uploader, "upload_chunk", broken)
    assert runner.invoke(app, args).exit_code == 2
    monkeypatch.undo()
    with world.engine.begin() as conn:  # a week later: expired, and its part file cleaned up
        conn.execute(update(video_uploads).values(expires_at=utcnow() - timedelta(minutes=1)))
        assert len(uploads.remove_expired(conn, settings, utcnow())) == 1
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "cannot be resumed (410): starting a new one" in again.output
    with world.engine.connect() as conn:
        row = conn.execute(select(video_records)).mappings().one()
    assert row["blob_sha256"] == hashlib.sha256(data).hexdigest()
