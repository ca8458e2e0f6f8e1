"""Storage capacity checks (WZ-A1-13): levels against the thresholds, one appended row per check, the alarm
in the log, the real local store's figures, and the loop."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from envwatch.core.blobs import BlobStore, StorageUsage
from envwatch.core.settings import Settings
from envwatch.evidence.schema import storage_checks
from envwatch.evidence.storage import (
    Usage,
    check_storage,
    latest_checks,
    level_of,
    measure,
    storage_loop,
    used_percent,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
GB = 1024**3


class SizedStore(BlobStore):
    """A local store whose disk reports the figures a test needs (the disk itself cannot be filled)."""

    def __init__(self, root: Path, figures: StorageUsage) -> None:
        super().__init__(root)
        self.figures = figures

    def usage(self) -> StorageUsage:
        return self.figures


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    found: Engine = request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
    return found


def test_levels_follow_the_thresholds(settings: Settings) -> None:
    assert [level_of(p, settings) for p in (None, 0.0, 79.99, 80.0, 89.99, 90.0, 100.0)] == [
        "ok",
        "ok",
        "ok",
        "warn",
        "warn",
        "critical",
        "critical",
    ]
    stricter = settings.model_copy(update={"storage_warn_percent": 50.0, "storage_critical_percent": 60.0})
    assert level_of(55.0, stricter) == "warn"


def test_percent_counts_everything_that_fills_the_disk() -> None:
    # 100 GB disk, 30 GB of blobs, 20 GB free: 80 % of the disk is taken, whoever took it
    assert used_percent(Usage("local:/x", 100 * GB, 30 * GB, 20 * GB)) == 80.0
    assert used_percent(Usage("s3://b", None, 30 * GB, None)) is None  # a bucket has no total
    assert used_percent(Usage("other", 100 * GB, 30 * GB, None)) == 30.0


def test_each_check_appends_a_row_and_warns(
    engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="envwatch.evidence.storage")
    figures = [(100 * GB, 10 * GB, 50 * GB), (100 * GB, 10 * GB, 15 * GB), (100 * GB, 10 * GB, 5 * GB)]
    with engine.begin() as conn:
        rows = [
            check_storage(conn, settings, NOW + timedelta(hours=i), SizedStore(tmp_path, StorageUsage(*f)))
            for i, f in enumerate(figures)
        ]
    assert [r["level"] for r in rows] == ["ok", "warn", "critical"]
    assert [r["percent"] for r in rows] == [50.0, 85.0, 95.0]
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in records] == [logging.WARNING, logging.ERROR]
    assert "evidence storage warn: 85.0 % used" in records[0][1] and "threshold 80.0 %" in records[0][1]
    assert "evidence storage critical: 95.0 % used" in records[1][1]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(storage_checks)).scalar_one() == 3
        latest = latest_checks(conn)
    assert [r["level"] for r in latest] == ["critical", "warn", "ok"]  # newest first
    assert latest[0]["percent"] == 95.0 and latest[0]["target"] == f"local:{tmp_path}"
    assert latest[0]["free_bytes"] == 5 * GB and latest[0]["checked_at"] == NOW + timedelta(hours=2)


def test_the_real_local_store_is_measured(settings: Settings, sqlite_engine: Engine) -> None:
    store = BlobStore.from_settings(settings)
    store.put(b"x" * 1000)
    store.put(b"y" * 24)
    usage = measure(settings)
    assert usage.used == 1024 and usage.target == f"local:{settings.data_dir / 'blobs'}"
    assert usage.total is not None and usage.free is not None and 0 < usage.free < usage.total


def test_the_loop_checks_until_cancelled(settings: Settings, sqlite_engine: Engine) -> None:
    fast = settings.model_copy(update={"storage_check_every_s": 0.05})

    def checks() -> int:
        with sqlite_engine.connect() as conn:
            found: int = conn.execute(select(func.count()).select_from(storage_checks)).scalar_one()
        return found

    async def run() -> None:
        # Wait for two rounds rather than a fixed time: on a loaded machine 0.4 s may hold only one.
        task = asyncio.create_task(storage_loop(sqlite_engine, fast))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if checks() >= 2:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert checks() >= 2
