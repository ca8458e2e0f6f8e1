"""Upstream forwarding against a real HJ 212 upstream on loopback (fake_upstream.FakeUpstream)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.ingest.upstream import status
from envwatch.ingest.upstream.config import add_upstream, change_upstream
from envwatch.ingest.upstream.forwarder import Forwarder, upstream_loops
from tests.ingest.upstream.fake_upstream import FakeUpstream
from tests.ingest.upstream.world import EPOCH, T0, Log, add_device, fast, frame, until


def run(body: Callable[[FakeUpstream], Awaitable[None]]) -> None:
    async def main() -> None:
        upstream = FakeUpstream()
        await upstream.start()
        try:
            await body(upstream)
        finally:
            with contextlib.suppress(Exception):
                await upstream.stop()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def forwarding(
    engine: Engine, settings: Settings, upstream_id: int, **kw: Any
) -> AsyncIterator[Forwarder]:
    forwarder = Forwarder(engine, settings, upstream_id, **kw)
    task = asyncio.create_task(forwarder.run())
    try:
        yield forwarder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def register(engine: Engine, fake: FakeUpstream, name: str = "province", **kw: Any) -> int:
    with engine.begin() as conn:
        return add_upstream(conn, name=name, address=fake.address, by="test", now=T0, since=EPOCH, **kw).id


def figures(engine: Engine, settings: Settings) -> dict[str, Any]:
    with engine.connect() as conn:
        return status.figures(conn, settings, utcnow())[0]


def test_forwards_accepted_packets_in_order_exactly_once(engine: Engine, settings: Settings) -> None:
    """ok and conflict packets of known devices, in id order, once; no refusal, duplicate or reply."""
    settings = fast(settings)
    _e, dev, mn = add_device(engine, 1, "330102")
    log = Log(engine)
    expected = []
    for seq in range(1, 13):
        raw = frame(mn, seq, ack=seq % 3 != 0)  # every third one without the A bit: no 9014 for it
        log.add(raw, device_id=dev, mn=mn)
        expected.append(raw)
    log.add(frame(mn, 5), device_id=dev, mn=mn, verdict="duplicate")  # a re-send of 5: already forwarded
    log.add(b"##0010QN=1;CP=&&&&0000\r\n", device_id=None, mn=None, verdict="bad_crc", cn="")
    log.add(frame("F" * 24, 1), device_id=None, mn="F" * 24, verdict="unknown_mn")
    log.add(frame(mn, 50, cn="9011"), device_id=dev, mn=mn, cn="9011")  # its reply to our command
    conflict = frame(mn, 6, value="7.5")
    log.add(conflict, device_id=dev, mn=mn, verdict="conflict")
    expected.append(conflict)
    last = log.add(frame(mn, 13), device_id=dev, mn=mn)
    expected.append(frame(mn, 13))

    async def body(fake: FakeUpstream) -> None:
        upstream_id = register(engine, fake)
        async with forwarding(engine, settings, upstream_id):
            await until(lambda: len(fake.received) >= len(expected), what="every packet upstream")
            await until(lambda: figures(engine, settings)["cursor"] == last, what="the cursor at the end")
            await asyncio.sleep(0.2)  # nothing more arrives
        assert fake.errors == []
        assert fake.received == expected
        got = figures(engine, settings)
        assert got["sent"] == got["forwarded"] == len(expected)
        assert got["acked"] == len([r for r in expected if b"Flag=5" in r])
        assert got["resent"] == 0 and got["lag_packets"] == 0 and got["lag_seconds"] == 0.0
        assert got["last_error"] is None and got["attempts"] == 0

    run(body)


def test_filters_by_region_and_enterprise(engine: Engine, settings: Settings) -> None:
    settings = fast(settings)
    log = Log(engine)
    hangzhou = add_device(engine, 1, "330102")  # region 3301: forwarded
    ningbo = add_device(engine, 2, "330201")  # region 3302: not
    hefei = add_device(engine, 3, "340102")  # other province, but named by enterprise id: forwarded
    expected = []
    for seq in range(1, 4):
        for ent, dev, mn in (hangzhou, ningbo, hefei):
            raw = frame(mn, seq)
            log.add(raw, device_id=dev, mn=mn)
            if ent != ningbo[0]:
                expected.append(raw)

    async def body(fake: FakeUpstream) -> None:
        upstream_id = register(engine, fake, region_prefixes=["3301"], enterprise_ids=[hefei[0]])
        async with forwarding(engine, settings, upstream_id):
            await until(lambda: figures(engine, settings)["cursor"] == log.next_id - 1, what="the cursor")
        assert fake.received == expected
        assert figures(engine, settings)["lag_packets"] == 0

    run(body)


def test_outage_then_backfill_of_everything_missed(sqlite_engine: Engine, settings: Settings) -> None:
    engine = sqlite_engine
    settings = fast(settings)
    _e, dev, mn = add_device(engine, 1, "330102")
    log = Log(engine)
    before = [frame(mn, seq) for seq in range(1, 6)]
    during = [frame(mn, seq) for seq in range(6, 16)]
    for raw in before:
        log.add(raw, device_id=dev, mn=mn)

    async def body(fake: FakeUpstream) -> None:
        upstream_id = register(engine, fake)
        async with forwarding(engine, settings, upstream_id):
            await until(lambda: len(fake.received) == 5, what="the first five")
            await until(lambda: figures(engine, settings)["cursor"] == 5, what="the cursor after five")
            await fake.stop()  # the province goes down
            for raw in during:
                log.add(raw, device_id=dev, mn=mn)
            await until(lambda: (figures(engine, settings)["attempts"] or 0) >= 2, what="failed reconnects")
            down = figures(engine, settings)
            assert down["connected"] is False or down["connected"] == 0
            assert down["last_error"] and down["lag_packets"] == 10 and down["cursor"] == 5
            assert down["lag_seconds"] > 0
            await fake.start()  # back on the same port
            await until(lambda: len(fake.received) == 15, what="the back-fill")
            await until(lambda: figures(engine, settings)["cursor"] == 15, what="the cursor after back-fill")
            await asyncio.sleep(0.2)
        assert fake.received == before + during  # nothing lost, nothing twice
        up = figures(engine, settings)
        assert up["lag_packets"] == 0 and up["attempts"] == 0 and up["forwarded"] == 15
        assert fake.connections == 2

    run(body)


def test_lost_ack_is_resent_with_the_same_qn(engine: Engine, settings: Settings) -> None:
    settings = fast(settings)
    _e, dev, mn = add_device(engine, 1, "330102")
    log = Log(engine)
    raws = [frame(mn, seq) for seq in range(1, 6)]
    for raw in raws:
        log.add(raw, device_id=dev, mn=mn)

    async def body(fake: FakeUpstream) -> None:
        fake.drop_acks["20261130100000003"] = 1  # the province's 9014 to packet 3 is lost once
        upstream_id = register(engine, fake)
        async with forwarding(engine, settings, upstream_id):
            await until(lambda: figures(engine, settings)["cursor"] == 5, what="all acknowledged")
        # the repeat is packet 3 again, byte for byte (same QN): the upstream de-duplicates by MN + QN
        assert fake.received.count(raws[2]) == 2
        assert sorted(set(fake.received)) == sorted(raws) and len(fake.received) == 6
        got = figures(engine, settings)
        assert got["resent"] == 1 and got["sent"] == 6 and got["acked"] == 5 and got["forwarded"] == 5

    run(body)


def test_silent_upstream_means_reconnect_and_resend(sqlite_engine: Engine, settings: Settings) -> None:
    """No 9014 after the retries: the link is dropped, reopened, and the packet sent again."""
    engine = sqlite_engine
    settings = fast(settings, upstream_retries=1, upstream_ack_timeout_s=0.2)
    _e, dev, mn = add_device(engine, 1, "330102")
    log = Log(engine)
    raw = frame(mn, 1)
    log.add(raw, device_id=dev, mn=mn)

    async def body(fake: FakeUpstream) -> None:
        fake.drop_acks["20261130100000001"] = 2  # the send and its one resend go unanswered
        upstream_id = register(engine, fake)
        async with forwarding(engine, settings, upstream_id):
            await until(lambda: fake.connections == 2, what="a new connection")
            await until(lambda: figures(engine, settings)["cursor"] == 1, what="acknowledged at last")
        assert fake.received == [raw] * 3
        assert "no 9014" in (figures(engine, settings)["last_error"] or "")

    run(body)


def test_waits_for_an_uncommitted_id_then_passes_a_rolled_back_one(
    sqlite_engine: Engine, settings: Settings
) -> None:
    engine = sqlite_engine
    settings = fast(settings, upstream_gap_wait_s=1.0)
    _e, dev, mn = add_device(engine, 1, "330102")
    log = Log(engine)
    raws = {seq: frame(mn, seq) for seq in range(1, 8)}
    for seq in (1, 2, 4, 5, 7):  # 3 is still in a writer's transaction; 6 was rolled back
        log.add(raws[seq], device_id=dev, mn=mn, packet_id=seq)

    async def body(fake: FakeUpstream) -> None:
        upstream_id = register(engine, fake)
        async with forwarding(engine, settings, upstream_id):
            await until(lambda: len(fake.received) == 2, what="the packets before the gap")
            await asyncio.sleep(0.3)
            assert len(fake.received) == 2  # 4 waits for 3
            log.add(raws[3], device_id=dev, mn=mn, packet_id=3)  # the transaction commits
            await until(lambda: figures(engine, settings)["cursor"] == 7, what="past the rolled-back 6")
        assert fake.received == [raws[s] for s in (1, 2, 3, 4, 5, 7)]

    run(body)


def test_paused_upstream_gets_nothing_and_one_lease_per_upstream(
    sqlite_engine: Engine, settings: Settings
) -> None:
    """Two processes' loops (serve and forward) send each packet once; a pause stops the flow."""
    engine = sqlite_engine
    settings = fast(settings)
    _e, dev, mn = add_device(engine, 1, "330102")
    log = Log(engine)
    for seq in range(1, 4):
        log.add(frame(mn, seq), device_id=dev, mn=mn)

    async def body(fake: FakeUpstream) -> None:
        register(engine, fake)
        loops = [asyncio.create_task(upstream_loops(engine, settings, owner=f"p{i}")) for i in (1, 2)]
        try:
            await until(lambda: figures(engine, settings)["cursor"] == 3, what="three forwarded")
            with engine.begin() as conn:
                change_upstream(conn, "province", enabled=False, by="test", now=utcnow(), note="maintenance")
            await asyncio.sleep(0.3)
            log.add(frame(mn, 4), device_id=dev, mn=mn)
            await asyncio.sleep(0.4)
            assert len(fake.received) == 3 and figures(engine, settings)["lag_packets"] == 1
            with engine.begin() as conn:
                change_upstream(conn, "province", enabled=True, by="test", now=utcnow())
            await until(lambda: figures(engine, settings)["cursor"] == 4, what="the fourth after resume")
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        assert fake.received == [frame(mn, seq) for seq in range(1, 5)]

    run(body)
