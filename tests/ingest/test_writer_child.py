"""The writer process's parts, in-process: how often last_seen is written, and keeping the WAL small."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from envwatch.core.db import engine_from_url
from envwatch.ingest.schema import device_status
from envwatch.ingest.store import InboundFrame
from envwatch.ingest.writer_child import BatchApplier, _Checkpointer, frame_to_wire
from tests.helpers import GAS_MN, NOW, register_demo_devices
from tests.ingest.test_store import frame


def last_seen(engine: Engine) -> object:
    with engine.connect() as c:
        return c.execute(select(device_status.c.last_seen)).scalar_one()


def apply(applier: BatchApplier, *frames: InboundFrame) -> None:
    applier.apply([("f", frame_to_wire(f)) for f in frames])


def test_last_seen_is_written_at_most_every_few_seconds_per_device(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    applier = BatchApplier(engine, seen_every_s=5)
    first = frame(dev, {"a21026": "1"})
    apply(applier, first)
    assert last_seen(engine) == NOW
    apply(applier, replace(first, received_at=NOW + timedelta(seconds=4), qn="2"))
    assert last_seen(engine) == NOW  # skipped: written 4 s ago
    apply(applier, replace(first, received_at=NOW + timedelta(seconds=6), qn="3"))
    assert last_seen(engine) == NOW + timedelta(seconds=6)
    # another peer (a reconnect) is written at once
    apply(applier, replace(first, received_at=NOW + timedelta(seconds=7), peer="10.0.0.9:1"))
    assert last_seen(engine) == NOW + timedelta(seconds=7)


def test_a_statement_makes_the_next_frame_write_last_seen(engine: Engine) -> None:
    """The gateway marks devices offline with statements; the next frame must set them online again."""
    dev = register_demo_devices(engine)[GAS_MN]
    applier = BatchApplier(engine, seen_every_s=60)
    apply(applier, frame(dev, {"a21026": "1"}))
    applier.apply([("s", ("UPDATE device_status SET online = FALSE", ()))])
    apply(applier, replace(frame(dev, {"a21026": "2"}), received_at=NOW + timedelta(seconds=1)))
    with engine.connect() as c:
        online, seen = c.execute(select(device_status.c.online, device_status.c.last_seen)).one()
    assert online and seen == NOW + timedelta(seconds=1)


def test_a_rolled_back_batch_does_not_count_as_written(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    applier = BatchApplier(engine, seen_every_s=60)
    poison = frame(dev + 1000, {"a21026": "1"})  # no such device: the batch fails, then goes item by item
    good = frame(dev, {"a21026": "2"})
    apply(applier, good, poison)
    # the first try wrote good's last_seen and rolled back; the retry alone must still write it
    assert last_seen(engine) == NOW


def wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def write_steadily(engine: Engine, checkpoints: _Checkpointer | None, rounds: int) -> int:
    """~20 MB in small transactions, never pausing; returns the largest WAL seen."""
    largest = 0
    path = Path(engine.url.database or "")
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB)")
    for i in range(rounds):
        if checkpoints is not None:
            checkpoints.finish_tail()
        with engine.begin() as c:
            c.exec_driver_sql("INSERT INTO filler (body) VALUES (?)", (os.urandom(64 * 1024),))
        if i % 50 == 0:
            largest = max(largest, wal_size(path))
    return largest


def test_the_wal_starts_over_under_steady_writing(tmp_path: Path) -> None:
    """Without ``finish_tail`` the same loop grew the WAL past 10 MB in 7 of 7 runs (not kept as a test:
    whether the checkpoint thread ever catches up on its own is a matter of timing)."""
    engine = engine_from_url(f"sqlite:///{tmp_path / 'db.sqlite'}", sqlite_synchronous="OFF")
    checkpoints = _Checkpointer(engine, period_s=0.01)
    checkpoints.TAIL_FRAMES = 200
    try:
        largest = write_steadily(engine, checkpoints, rounds=300)
    finally:
        checkpoints.stop()
    assert checkpoints.restarts > 0
    assert largest < 10 * 1024 * 1024, f"WAL grew to {largest / 1e6:.0f} MB"


@pytest.mark.parametrize(
    ("wal_frames", "rounds", "handed_over"),
    [
        ([0], 1, 0),  # nothing in the WAL: no tail for the writer
        ([100], 1, 100),  # a small WAL is itself a small tail
        ([10_000, 10_300, 10_400], 3, 10_400),  # the third round found only 100 new frames
        ([5_000, 30, 60], 2, 30),  # the WAL started over: 30 frames are few enough
        ([1_000 * (n + 1) for n in range(20)], _Checkpointer.MAX_ROUNDS, 8_000),  # never caught up
    ],
)
def test_the_checkpoint_thread_hands_over_only_a_small_tail(
    tmp_path: Path, wal_frames: list[int], rounds: int, handed_over: int
) -> None:
    """The writer copies the tail itself and waits for it, so the thread copies in rounds until the WAL
    grew by at most TAIL_FRAMES during the last one (a round's counts are as of its start)."""
    engine = engine_from_url(f"sqlite:///{tmp_path / 'db.sqlite'}")
    checkpoints = _Checkpointer(engine, period_s=3600)
    seen = iter(wal_frames)
    calls: list[int] = []

    def fake_checkpoint(_raw: object) -> tuple[int, int, int]:
        frames = next(seen, 0)
        calls.append(frames)
        return 0, frames, frames

    checkpoints._checkpoint = fake_checkpoint  # type: ignore[method-assign,assignment]
    try:
        assert checkpoints.TAIL_FRAMES == 256
        assert checkpoints.catch_up(None) == handed_over
        assert len(calls) == rounds
    finally:
        checkpoints.stop()
