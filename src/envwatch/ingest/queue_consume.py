"""The worker's side of scale-out ingest: frames from JetStream into PostgreSQL, each exactly once.

Theory of operation
-------------------
Every worker binds to one durable pull consumer (``queue_consumer``, explicit acks); JetStream hands each
message to one of them. A worker fetches up to ``queue_fetch_batch`` messages and stores them in ONE
transaction with the existing ``PacketStore`` (raw packets, measurements, conflicts, last seen, the
batch's evidence entry) and statements in stream order, then commits, then acknowledges the messages.

Exactly once: the transaction first inserts the batch's stream sequences into ``queue_applied``
(``ON CONFLICT DO NOTHING RETURNING seq``) and applies only the messages whose sequence it inserted.
The sequences and the packets commit together, so:

* worker dies before the commit: nothing of the batch is stored and no sequence recorded; JetStream
  delivers the messages again after ``queue_ack_wait_s`` (to this or another worker), which stores them;
* worker dies after the commit, before the acks: the redelivered messages find their sequences recorded
  and are only acknowledged;
* two workers holding the same message at once (a redelivery while the first is still storing it): the
  second insert of the sequence waits on the first transaction's row lock and returns nothing once it
  commits (or inserts it, if the first rolled back), so exactly one of them stores it.

A publish retried by a gateway carries the same message id and JetStream keeps one copy within its
duplicate window, so every frame received is one stream message and one ``raw_packets`` row. Packet
ids come from the PostgreSQL sequence, so any number of workers write at once.

Failures: a batch the database refuses for its data is retried message by message; a frame refused alone
is stored raw with verdict ``store_failed`` (as the local writer does); a statement refused alone is
logged and acknowledged. A database that is down or busy: nothing is acknowledged, the messages are
delivered again after a pause. A message that is not a frame or an allowed statement is logged and
terminated (never stored).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import psycopg
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.ingest.queue_wire import PoisonMessage, connect, decode, ensure_stream
from envwatch.ingest.store import InboundFrame, PacketStore

log = logging.getLogger(__name__)

Entry = tuple[int, InboundFrame | tuple[str, tuple[Any, ...]]]  # (stream sequence, frame or statement)


class DatabaseUnavailable(Exception):
    """The database could not be written (down, busy): acknowledge nothing, fetch again later."""


@dataclass
class Counters:
    batches: int = 0
    frames: int = 0
    statements: int = 0
    skipped: int = 0  # delivered again but already stored
    poison: int = 0
    store_failed: int = 0


class QueueApplier:
    """Stores fetched messages; blocking (the worker runs it in a thread)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("envwatch worker stores into PostgreSQL (several writers share its sequence)")
        self.engine = engine
        self.stream = settings.queue_stream
        self.store = PacketStore(
            engine, seen_every_s=settings.device_seen_write_s, offline_grace_s=settings.offline_grace_s
        )
        self.counters = Counters()

    def apply(self, entries: Sequence[Entry]) -> None:
        """Store the entries (each once); raises DatabaseUnavailable when nothing could be stored."""
        try:
            self._transaction(entries)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        except Exception as exc:
            log.warning("batch of %d messages failed (%s); storing them one by one", len(entries), exc)
            for entry in entries:
                self._alone(entry)

    def _transaction(self, entries: Sequence[Entry]) -> None:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(
                "INSERT INTO queue_applied (stream, seq, applied_at) "
                "SELECT %s, s, %s FROM unnest(%s::bigint[]) AS s ON CONFLICT DO NOTHING RETURNING seq",
                (self.stream, utcnow(), [seq for seq, _item in entries]),
            )
            mine = {row[0] for row in cursor.fetchall()}
            run: list[InboundFrame] = []
            frames = statements = 0
            for seq, item in entries:
                if seq not in mine:
                    continue
                if isinstance(item, InboundFrame):
                    run.append(item)
                    continue
                if run:
                    self.store.write(cursor, run)
                    frames, run = frames + len(run), []
                cursor.execute(*item)
                self.store.forget_seen()
                statements += 1
            if run:
                self.store.write(cursor, run)
                frames += len(run)
            self.store.evidence.write(cursor)  # the batch's raw_batch entry commits with its packets
            raw.commit()
            self.store.committed()
        except BaseException:
            self.store.rolled_back()
            raw.rollback()
            raise
        finally:
            raw.close()
        c = self.counters
        c.batches += 1
        c.frames += frames
        c.statements += statements
        c.skipped += len(entries) - len(mine)

    def _alone(self, entry: Entry) -> None:
        seq, item = entry
        try:
            self._transaction([entry])
            return
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"[:500]
            log.error("message %d refused by the database: %s", seq, problem)
        if isinstance(item, InboundFrame):
            # keep the evidence: the raw bytes alone, with what went wrong
            what = "its measurements" if item.data is not None else "it"
            fallback = replace(
                item, verdict="store_failed", reason=f"the database refused {what}: {problem}", data=None
            )
            self.counters.store_failed += 1
            try:
                self._transaction([(seq, fallback)])
            except Exception as exc:  # not even the raw bytes: leave it unacknowledged, it comes again
                raise DatabaseUnavailable(f"frame {seq} could not be logged at all: {exc}") from exc
        else:  # a statement the database refuses will not do better next time: recorded as applied
            self._mark_applied(seq)

    def _mark_applied(self, seq: int) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO queue_applied (stream, seq, applied_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (self.stream, seq, utcnow()),
            )

    def prune(self, keep_s: float) -> int:
        """Forget sequences older than ``keep_s``: JetStream no longer redelivers them (they were acked)."""
        with self.engine.begin() as conn:
            result = conn.exec_driver_sql(
                "DELETE FROM queue_applied WHERE stream = %s AND applied_at < %s",
                (self.stream, utcnow() - timedelta(seconds=keep_s)),
            )
        return int(result.rowcount or 0)


class QueueWorker:
    """One worker: fetch, store, acknowledge, until ``stop`` is set."""

    def __init__(self, settings: Settings, engine: Engine, name: str = "envwatch-worker") -> None:
        assert settings.queue_url, "queue_url is not set"
        self.settings = settings
        self.applier = QueueApplier(engine, settings)
        self.name = name
        # the consumer's depth as JetStream last told it (messages not yet delivered, and delivered but not
        # acknowledged), read every ``queue_depth_every_s``: the queue depth of /metrics
        self.pending: int | None = None
        self.ack_pending: int | None = None
        # called with a fetched batch's seconds from fetch to commit (metrics)
        self.on_commit: Callable[[float], object] | None = None

    def consumer_config(self) -> ConsumerConfig:
        s = self.settings
        return ConsumerConfig(
            durable_name=s.queue_consumer,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=s.queue_ack_wait_s,
            max_deliver=-1,  # a frame is never given up on: the database may be down for a while
            max_ack_pending=max(10 * s.queue_fetch_batch, 1000),
        )

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        assert s.queue_url is not None
        nc = await connect(s.queue_url, self.name, stop)
        try:
            js = nc.jetstream(timeout=10)
            await ensure_stream(js, s)
            sub = await js.pull_subscribe(
                f"{s.queue_subject}.>",
                durable=s.queue_consumer,
                stream=s.queue_stream,
                config=self.consumer_config(),
            )
            log.info("worker %s consuming %s/%s", self.name, s.queue_stream, s.queue_consumer)
            pruned_at = depth_at = 0.0
            while not stop.is_set():
                if time.monotonic() - pruned_at > 60:
                    pruned_at = time.monotonic()
                    await asyncio.to_thread(self.applier.prune, s.queue_applied_keep_s)
                if time.monotonic() - depth_at > s.queue_depth_every_s:
                    depth_at = time.monotonic()
                    await self._read_depth(sub)
                try:
                    msgs = await sub.fetch(s.queue_fetch_batch, timeout=1.0)
                except NatsTimeout:
                    continue
                except Exception as exc:  # reconnecting, server restarting: fetch again shortly
                    log.warning("fetch failed: %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                await self.handle(msgs)
        finally:
            await nc.close()

    async def _read_depth(self, sub: Any) -> None:
        try:
            info = await sub.consumer_info()
        except Exception as exc:  # only a figure for the operator: next time
            log.debug("consumer info: %s", exc)
            return
        self.pending, self.ack_pending = int(info.num_pending), int(info.num_ack_pending)

    async def handle(self, msgs: list[Msg]) -> None:
        entries: list[Entry] = []
        keep: list[Msg] = []
        for msg in msgs:
            try:
                entries.append((msg.metadata.sequence.stream, decode(msg.data)))
                keep.append(msg)
            except PoisonMessage as exc:
                self.applier.counters.poison += 1
                log.error("dropping message %s: %s", msg.metadata.sequence.stream, exc)
                await msg.term()
        if not entries:
            return
        started = time.monotonic()
        try:
            await asyncio.to_thread(self.applier.apply, entries)
        except DatabaseUnavailable as exc:
            log.warning("database unavailable (%s): %d messages will be delivered again", exc, len(keep))
            for msg in keep:
                await msg.nak(delay=1.0)
            await asyncio.sleep(1.0)
            return
        if self.on_commit is not None:
            self.on_commit(time.monotonic() - started)
        for msg in keep:
            await msg.ack()  # after the commit; a lost ack only means a redelivery that is skipped
