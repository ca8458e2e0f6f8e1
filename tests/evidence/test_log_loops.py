"""The evidence loops' rounds (evidence.loops) on a real store: integrate, then a checkpoint only when the
tree grew; the coroutines keep going after a failed round."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from envwatch.core.evidence import submit
from envwatch.core.loops import every
from envwatch.core.settings import Settings
from envwatch.evidence import log, loops

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def add(engine: Engine, count: int) -> None:
    with engine.begin() as conn:
        for n in range(count):
            submit(conn, "test", "things/1", {"n": n}, NOW)


def test_rounds_integrate_and_checkpoint_only_when_grown(engine: Engine, settings: Settings) -> None:
    assert loops.integrate_round(engine) is None
    assert loops.checkpoint_round(engine, settings) is None  # empty: nothing to sign
    add(engine, 3)
    assert loops.integrate_round(engine) == {"integrated": 3}
    made = loops.checkpoint_round(engine, settings)
    assert made is not None and made["tree_size"] == 3 and "integrated" not in made
    assert loops.checkpoint_round(engine, settings) is None  # did not grow
    add(engine, 2)
    made = loops.checkpoint_round(engine, settings)  # sweeps (integrates) before it signs
    assert made is not None and made["integrated"] == 2 and made["tree_size"] == 5
    with engine.connect() as conn:
        assert log.checkpoint_count(conn) == 2


def test_integrate_round_repeats_until_the_queue_is_empty(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loops, "BATCH", 2)
    add(sqlite_engine, 5)
    assert loops.integrate_round(sqlite_engine) == {"integrated": 5}


def test_no_tsa_means_no_timestamp_request(sqlite_engine: Engine, settings: Settings) -> None:
    assert settings.evidence_tsa_url is None
    assert loops.request_timestamps(sqlite_engine, settings, 1) is None


def test_the_loops_survive_a_failing_round(sqlite_engine: Engine, settings: Settings) -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise RuntimeError("database went away")

    async def run() -> None:
        task = asyncio.create_task(every(0.01, "test round", failing, logging.getLogger("test")))
        await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(run())
    assert len(calls) >= 2
    coroutines = loops.evidence_loops(sqlite_engine, settings)
    assert len(coroutines) == 4  # storage check, expired uploads, integrate, checkpoint
    for coroutine in coroutines:
        coroutine.close()  # not started: closing avoids the "never awaited" warning
