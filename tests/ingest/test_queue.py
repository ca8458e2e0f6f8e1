"""Scale-out ingest end to end: devices → gateways → JetStream → workers → PostgreSQL (all real).

A nats-server of this module's own (own port, own store directory) and a stream per test; PostgreSQL
from the ``pg_engine`` fixture. Skipped with the reason when either is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
import uvloop
from sqlalchemy import Engine, func, select, update

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.ingest.command_claims import CommandClaims
from envwatch.ingest.commands import create_command
from envwatch.ingest.gateway import Gateway
from envwatch.ingest.metrics import worker_registry
from envwatch.ingest.queue_consume import QueueApplier, QueueWorker
from envwatch.ingest.queue_publish import QueuePublisher
from envwatch.ingest.queue_schema import command_claims, queue_applied
from envwatch.ingest.queue_wire import ALLOWED_STATEMENTS, PoisonMessage, decode, encode_statement
from envwatch.ingest.schema import raw_packets
from tests.helpers import GAS_MN, WATER_MN, register_demo_devices
from tests.ingest.gw import Logger, data_packet
from tests.ingest.nats_server import NatsServer


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("jetstream")).start()
    yield server
    server.stop()


def queue_settings(tmp_path: Path, engine: Engine, url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "var",
        "database_url": engine.url.render_as_string(hide_password=False),
        "queue_url": url,
        "queue_stream": f"T{uuid.uuid4().hex[:10]}",  # a stream per test
        "queue_subject": f"t{uuid.uuid4().hex[:10]}",
        "queue_ack_wait_s": 1.0,
        "queue_fetch_batch": 20,
        "commands_poll_s": 0.05,
        "command_overtime_s": 5.0,
    }
    return Settings(_env_file=None, **{**values, **extra})  # type: ignore[call-arg]


def run(main: Callable[[], Awaitable[None]]) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(main(), 30))


@contextlib.asynccontextmanager
async def gateways(settings: Settings, engine: Engine, n: int = 1) -> Any:
    gws = [Gateway(settings, engine) for _ in range(n)]
    ports = [await gw.start("127.0.0.1", 0) for gw in gws]
    try:
        yield list(zip(gws, ports, strict=True))
    finally:
        for gw in gws:
            await gw.stop()


@contextlib.asynccontextmanager
async def workers(settings: Settings, engine: Engine, n: int = 1) -> Any:
    stop = asyncio.Event()
    ws = [QueueWorker(settings, engine, name=f"test-worker-{i}") for i in range(n)]
    tasks = [asyncio.create_task(w.run(stop)) for w in ws]
    try:
        yield ws
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def qns(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return list(c.execute(select(raw_packets.c.qn).order_by(raw_packets.c.qn)).scalars())


async def wait_count(engine: Engine, n: int, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = len(await asyncio.to_thread(qns, engine))
        if got >= n:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{got} of {n} packets stored")
        await asyncio.sleep(0.05)


async def stream_messages(settings: Settings) -> int:
    assert settings.queue_url
    nc = await nats.connect(settings.queue_url)
    try:
        info = await nc.jetstream().stream_info(settings.queue_stream)
        return int(info.state.messages)
    finally:
        await nc.close()


def packets(n: int, start: int = 0, mn: str = GAS_MN) -> list[tuple[str, bytes]]:
    out = []
    for i in range(start, start + n):
        qn = f"20261122{i:09d}"
        minute = f"2026112{1 + i // 1440}{(i % 1440) // 60:02d}{i % 60:02d}00"
        out.append((qn, data_packet(mn=mn, qn=qn, data_time=minute)))
    return out


async def send_all(dev: Logger, batch: list[tuple[str, bytes]]) -> None:
    await dev.send(b"".join(raw for _qn, raw in batch))
    acked = {(await dev.reply(10)).qn for _ in batch}
    assert acked == {qn for qn, _raw in batch}


async def queue_through_one_gateway(
    settings: Settings, engine: Engine, batch: list[tuple[str, bytes]]
) -> None:
    """One logger sends ``batch`` through one gateway, which queues it (no worker stores it yet)."""
    async with gateways(settings, engine) as [(_gw, port)]:
        dev = await Logger.connect(port)
        await send_all(dev, batch)
        await dev.close()


# --- the wire: what a worker accepts ---------------------------------------------------------------
def test_only_frames_and_the_gateways_statements_are_accepted() -> None:
    sql, params = decode(encode_statement("INSERT INTO command_events (x) VALUES (%s)", (utcnow(), b"\x00")))
    assert sql.startswith(ALLOWED_STATEMENTS) and isinstance(params[1], bytes)
    for bad in (b"not json", b'{"k": "x"}', encode_statement("DELETE FROM raw_packets", ())):
        with pytest.raises(PoisonMessage):
            decode(bad)


# --- end to end --------------------------------------------------------------------------------------
def test_device_is_acknowledged_after_the_puback_and_the_worker_stores_it(
    tmp_path: Path, pg_engine: Engine, nats_server: NatsServer
) -> None:
    register_demo_devices(pg_engine)
    settings = queue_settings(tmp_path, pg_engine, nats_server.url)

    async def main() -> None:
        async with gateways(settings, pg_engine) as [(gw, port)]:
            assert isinstance(gw.writer, QueuePublisher)
            dev = await Logger.connect(port)
            await dev.send(data_packet(qn="20261122120000123"))
            ack = await dev.reply()
            assert (ack.cn, ack.qn) == ("9014", "20261122120000123")
            # acknowledged: the frame is in the stream (no worker runs yet, nothing is in the database)
            # the start-up "stale devices offline" statement, then the frame
            assert await stream_messages(settings) == 2
            assert qns(pg_engine) == []
            async with workers(settings, pg_engine) as [w]:
                registry = worker_registry(w)
                await wait_count(pg_engine, 1)
                await dev.close()
                await asyncio.sleep(0.3)  # the "offline" statement travels the same way
            assert w.applier.counters.frames == 1
            # the worker's /metrics: what it stored, the consumer's depth as JetStream told it, the latency
            assert registry.get_sample_value("envwatch_worker_frames_total") == 1
            assert registry.get_sample_value("envwatch_worker_statements_total") == 2
            # read when the worker started (then every 5 s): the start-up statement and the frame waited
            assert registry.get_sample_value("envwatch_worker_queue_pending") == 2
            assert registry.get_sample_value("envwatch_worker_batch_seconds_count") >= 1
        with pg_engine.connect() as c:
            row = c.execute(select(raw_packets)).mappings().one()
            online = c.exec_driver_sql("SELECT online FROM device_status").scalar_one()
        assert (row["verdict"], row["mn"]) == ("ok", GAS_MN)
        assert online is False

    run(main)


def test_a_message_stored_but_not_acknowledged_is_skipped_when_delivered_again(
    tmp_path: Path, pg_engine: Engine, nats_server: NatsServer
) -> None:
    """The worker died between its commit and its acks: the redelivered messages are not stored again."""
    register_demo_devices(pg_engine)
    settings = queue_settings(tmp_path, pg_engine, nats_server.url)
    batch = packets(30)

    async def main() -> None:
        await queue_through_one_gateway(settings, pg_engine, batch)
        # "worker one": fetch, store, commit, and die before acknowledging
        nc = await nats.connect(settings.queue_url or "")
        js = nc.jetstream()
        w = QueueWorker(settings, pg_engine)
        sub = await js.pull_subscribe(
            f"{settings.queue_subject}.>", durable=settings.queue_consumer, config=w.consumer_config()
        )
        msgs = await sub.fetch(20, timeout=2)
        entries = [(m.metadata.sequence.stream, decode(m.data)) for m in msgs]
        first = QueueApplier(pg_engine, settings)
        await asyncio.to_thread(first.apply, entries)
        await nc.close()  # no acks
        frames = sum(1 for _seq, item in entries if not isinstance(item, tuple))  # not the statement
        assert len(qns(pg_engine)) == frames
        # "worker two" gets everything: the 20 again after ack_wait, and the rest
        async with workers(settings, pg_engine) as [second]:
            await wait_count(pg_engine, len(batch))
            deadline = asyncio.get_running_loop().time() + 10
            while second.applier.counters.skipped < len(entries):
                assert asyncio.get_running_loop().time() < deadline, second.applier.counters
                await asyncio.sleep(0.05)
        assert second.applier.counters.frames == len(batch) - frames

    run(main)
    assert qns(pg_engine) == sorted(qn for qn, _raw in batch)  # each exactly once


def test_worker_killed_mid_stream_and_another_finishes(
    tmp_path: Path, pg_engine: Engine, nats_server: NatsServer
) -> None:
    register_demo_devices(pg_engine)
    settings = queue_settings(tmp_path, pg_engine, nats_server.url)
    batch = packets(400)

    async def main() -> None:
        await queue_through_one_gateway(settings, pg_engine, batch)
        env = {
            **os.environ,
            "ENVWATCH_DATABASE_URL": settings.database_url or "",
            "ENVWATCH_QUEUE_STREAM": settings.queue_stream,
            "ENVWATCH_QUEUE_SUBJECT": settings.queue_subject,
            "ENVWATCH_QUEUE_FETCH_BATCH": "10",
            "ENVWATCH_QUEUE_ACK_WAIT_S": "1",
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "envwatch.cli",
                "worker",
                "--consume",
                settings.queue_url or "",
                "--data-dir",
                str(tmp_path / "w"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await wait_count(pg_engine, 40, timeout=20)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
        killed_at = len(qns(pg_engine))
        assert killed_at < len(batch), "the worker finished before it was killed: make the batch larger"
        async with workers(settings, pg_engine) as [second]:
            await wait_count(pg_engine, len(batch))
            await asyncio.sleep(1.5)  # past ack_wait: anything the killed worker held comes again
        assert second.applier.counters.frames == len(batch) - killed_at

    run(main)
    stored = qns(pg_engine)
    assert stored == sorted(qn for qn, _raw in batch)  # every packet exactly once
    with pg_engine.connect() as c:
        assert (
            c.execute(select(func.count()).select_from(queue_applied)).scalar_one() == len(batch) + 2
        )  # and the two offline statements
        ids = c.execute(select(raw_packets.c.id)).scalars().all()
    assert len(set(ids)) == len(batch)


def test_two_gateways_and_two_workers(tmp_path: Path, pg_engine: Engine, nats_server: NatsServer) -> None:
    register_demo_devices(pg_engine)
    settings = queue_settings(tmp_path, pg_engine, nats_server.url, queue_fetch_batch=10)
    gas, water = packets(150), packets(150, start=150, mn=WATER_MN)

    async def main() -> None:
        async with (
            gateways(settings, pg_engine, 2) as [(_g1, p1), (_g2, p2)],
            workers(settings, pg_engine, 2) as ws,
        ):
            d1, d2 = await Logger.connect(p1), await Logger.connect(p2)
            await asyncio.gather(send_all(d1, gas), send_all(d2, water))
            await wait_count(pg_engine, len(gas) + len(water))
            await d1.close()
            await d2.close()
            assert all(w.applier.counters.batches > 0 for w in ws), [w.applier.counters for w in ws]
            assert sum(w.applier.counters.frames for w in ws) == len(gas) + len(water)

    run(main)
    assert qns(pg_engine) == sorted(qn for qn, _raw in gas + water)


def test_jetstream_down_means_no_ack_and_nothing_lost(tmp_path: Path, pg_engine: Engine) -> None:
    register_demo_devices(pg_engine)
    server = NatsServer(tmp_path / "js").start()
    settings = queue_settings(
        tmp_path, pg_engine, server.url, writer_queue_max=10, queue_publish_timeout_s=0.5
    )
    batch = packets(30)

    async def main() -> None:
        async with gateways(settings, pg_engine) as [(gw, port)]:
            dev = await Logger.connect(port)
            await send_all(dev, batch[:1])
            await asyncio.to_thread(server.stop)
            await dev.send(b"".join(raw for _qn, raw in batch[1:]))
            await dev.no_reply(1.5)  # not stored anywhere yet: not acknowledged
            assert gw.backlog_paused  # and reading paused, as with a slow writer
            await asyncio.to_thread(server.start)  # same port, same store directory
            acked = {(await dev.reply(15)).qn for _ in batch[1:]}
            assert acked == {qn for qn, _raw in batch[1:]}
            async with workers(settings, pg_engine):
                await wait_count(pg_engine, len(batch))
            await dev.close()

    try:
        run(main)
    finally:
        server.stop()
    assert qns(pg_engine) == sorted(qn for qn, _raw in batch)


# --- downlink: one gateway sends a command -----------------------------------------------------------
def test_a_command_claim_is_won_by_exactly_one_gateway(pg_engine: Engine) -> None:
    register_demo_devices(pg_engine)
    command = create_command(pg_engine, mn=GAS_MN, cn="1011", params={}, requested_by="t", now=utcnow())
    claims = [CommandClaims(pg_engine, f"gw{i}") for i in range(8)]
    results: list[bool] = [False] * len(claims)
    start = threading.Barrier(len(claims))

    def claim(i: int) -> None:
        start.wait()
        results[i] = claims[i].claim(command.id)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(claims))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    winner = claims[results.index(True)]
    assert winner.claim(command.id)  # asking again: the same answer
    loser = claims[results.index(False)]
    assert not loser.claim(command.id)
    # the winner stopped (a restarted gateway has a new name): once its lease has run out, another
    # gateway holding the device takes the command over, and the old name no longer wins it back
    with pg_engine.begin() as c:
        c.execute(update(command_claims).values(claimed_at=utcnow() - timedelta(seconds=901)))
    assert loser.claim(command.id)
    assert not winner.claim(command.id)


def test_a_device_held_by_two_gateways_gets_its_command_once(
    tmp_path: Path, pg_engine: Engine, nats_server: NatsServer
) -> None:
    register_demo_devices(pg_engine)
    settings = queue_settings(tmp_path, pg_engine, nats_server.url)

    async def main() -> None:
        async with gateways(settings, pg_engine, 2) as [(_g1, p1), (_g2, p2)], workers(settings, pg_engine):
            # the logger reconnected through the second gateway; the first still holds the old socket
            old, new = await Logger.connect(p1), await Logger.connect(p2)
            for dev, qn in ((old, "20261122120000001"), (new, "20261122120000002")):
                await dev.send(data_packet(qn=qn))
                await dev.reply()
            cmd = create_command(pg_engine, mn=GAS_MN, cn="1011", params={}, requested_by="t", now=utcnow())
            got = []
            for dev in (old, new):
                with contextlib.suppress(TimeoutError):
                    request = await dev.reply(1.0)
                    if request.qn == cmd.qn:
                        got.append(dev)
            assert len(got) == 1
            with pg_engine.connect() as c:
                holders = c.exec_driver_sql("SELECT gateway FROM command_claims").scalars().all()
            assert len(holders) == 1
            await old.close()
            await new.close()

    run(main)
