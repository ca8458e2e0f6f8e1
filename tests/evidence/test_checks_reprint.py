"""Every label reprint has its video, in the blob store and intact (WZ-A2-8): reprints recorded through the
real custody store, videos stored in a real BlobStore on disk, one changed byte and one missing file."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from envwatch.core.blobs import BlobStore
from envwatch.core.settings import Settings
from envwatch.evidence.reprint_check import blob_state, check_reprints
from envwatch.sampling.journal import EventFacts, append
from envwatch.sampling.reads import sample_row
from envwatch.sampling.stats import period
from envwatch.sampling.steps import record_reprint
from tests.sampling.conftest import SamplingWorld, build_sampling_world

DAY = date(2026, 11, 23)
PERIOD = period(DAY, DAY + timedelta(days=1))


@pytest.fixture
def world(sqlite_engine: Engine) -> SamplingWorld:
    return build_sampling_world(sqlite_engine)


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def _alter(store: BlobStore, sha: str) -> None:
    path = store.path_of(sha)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))


def _reprint(world: SamplingWorld, code: str, sha: str, minutes: int) -> None:
    with world.engine.begin() as conn:
        record_reprint(
            conn, code, staff_id=world.staff["chen"], video_sha256=sha, reason="标签污损", actor="chen",
            now=world.now + timedelta(minutes=minutes),
        )  # fmt: skip


def test_blob_state_tells_ok_missing_and_altered(store: BlobStore) -> None:
    sha = store.put(b"reprint video").sha256
    assert blob_state(store, sha) == "ok"
    assert blob_state(store, "d" * 64) == "missing"
    _alter(store, sha)
    assert blob_state(store, sha) == "altered"


def test_each_reprint_video_is_checked(world: SamplingWorld, settings: Settings, store: BlobStore) -> None:
    good = store.put(b"good video").sha256
    changed = store.put(b"changed video").sha256
    with world.engine.begin() as conn:
        codes = [world.register(conn)["code"] for _ in range(3)]
        for code in codes:
            world.step(conn, code, "print_label", "chen")
    _reprint(world, codes[0], good, 5)
    _reprint(world, codes[1], changed, 6)
    _reprint(world, codes[2], "e" * 64, 7)  # never stored
    with world.engine.begin() as conn:  # a reprint without video, written around the store's rule
        sample = sample_row(conn, codes[0])
        append(conn, sample, "reprint", EventFacts(actor="old-import", details={"print": 3}), world.now + timedelta(minutes=8), changes={"prints": 3})  # fmt: skip
    with world.engine.connect() as conn:
        assert (
            check_reprints(conn, settings, world.now, period=PERIOD, store=store)[0].kind
            == "video_file_missing"
        )
        _alter(store, changed)
        found = check_reprints(conn, settings, world.now, period=PERIOD, store=store)
        assert (
            check_reprints(
                conn, settings, world.now, period=PERIOD, store=store, agency_id=world.other_agency
            )
            == []
        )
        later = period(DAY + timedelta(days=1), DAY + timedelta(days=2))
        assert check_reprints(conn, settings, world.now, period=later, store=store) == []
    assert [(f.kind, f.sample_codes) for f in found] == [
        ("video_altered", (codes[1],)),
        ("video_file_missing", (codes[2],)),
        ("no_video", (codes[0],)),
    ]
    altered = found[0]
    assert altered.rule == "WZ-A2-8" and altered.evidence["video_sha256"] == changed
    assert altered.evidence["print"] == 2 and altered.agency_id == world.agency
    assert f"names video {changed}" in altered.message and "altered" in altered.message
    assert "without a video" in found[2].message


def test_the_store_of_the_settings_is_used_by_default(world: SamplingWorld, settings: Settings) -> None:
    sha = BlobStore.from_settings(settings).put(b"video in data_dir").sha256
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
        world.step(conn, code, "print_label", "chen")
    _reprint(world, code, sha, 5)
    with world.engine.connect() as conn:
        assert check_reprints(conn, settings, world.now, period=PERIOD) == []
