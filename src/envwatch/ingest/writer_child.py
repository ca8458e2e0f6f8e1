"""The writer process: receives batches over a pipe, stores each in one transaction, answers.

Why a process: on a 2-core machine the gateway's event loop (parsing, replies) and the storing (building
rows, SQLite) both need most of a core; in one process they would share one interpreter lock. Messages are
pickled lists of plain tuples, which costs a few microseconds per packet.

Protocol (each message a pickled object):
  parent → child: ``list[Item]`` (a batch) or ``None`` (stop after what was sent)
  child → parent: ``list[Result]`` for each batch, in order: a FrameOutcome for a frame, an error text or
                  None for a statement.

Items are applied in the order they were submitted (consecutive frames together), so a status change
queued between two frames lands between them. Several queued batches go into one transaction (group
commit), and a busy writer begins a transaction no sooner than ``commit_gap_s`` after the one before
(:func:`child_main`). A transaction that fails is retried item by item, so one bad frame fails alone; a frame the
database refuses is kept raw with verdict ``store_failed``.
"""

from __future__ import annotations

import logging
import pickle
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Engine, event

from envwatch.core.db import engine_from_url
from envwatch.core.heap import settle_heap
from envwatch.ingest.store import FrameOutcome, InboundFrame, PacketData, PacketStore

log = logging.getLogger(__name__)

# wire forms: plain tuples pickle fast
# (received_at, peer, raw, verdict, device_id, mn, cn, qn, reason, PacketData as a tuple or None)
FrameWire = tuple[Any, ...]
StatementWire = tuple[str, tuple[Any, ...]]
Item = tuple[str, Any]  # ("f", FrameWire) | ("s", StatementWire)
Result = FrameOutcome | str | None

MAX_BATCHES_PER_TRANSACTION = 32


class ChildOptions(NamedTuple):
    """What the writer process starts with (the defaults are Writer's)."""

    sqlite_synchronous: str
    seen_every_s: float  # last_seen is written at most this often per device
    offline_grace_s: float  # the stored offline deadline after a packet
    # the writer connection's SQLite page cache. SQLite's default (2 MiB) is smaller than what one
    # transaction touches with 1,000 devices (a leaf of the measurements and one of the raw log's device
    # index per device, and their parents), so pages were read back from the file every transaction:
    # 22,720 reads/s at 5,000 packets/s, 1,263 with 64 MiB, the pipe's (bench/ingest.py, /proc/*/task/*/io)
    sqlite_cache_mib: int | None
    # a transaction begins at least this long after the one before began (0: at once). See child_main.
    commit_gap_s: float


def frame_to_wire(frame: InboundFrame) -> FrameWire:
    return (
        frame.received_at,
        frame.peer,
        frame.raw,
        frame.verdict,
        frame.device_id,
        frame.mn,
        frame.cn,
        frame.qn,
        frame.reason,
        None if frame.data is None else tuple(frame.data),
    )


def frame_from_wire(w: FrameWire) -> InboundFrame:
    return InboundFrame(
        received_at=w[0],
        peer=w[1],
        raw=w[2],
        verdict=w[3],
        device_id=w[4],
        mn=w[5],
        cn=w[6],
        qn=w[7],
        reason=w[8],
        data=None if w[9] is None else PacketData(*w[9]),
    )


class BatchApplier:
    """Applies items to the database; usable in-process (tests) and in the child."""

    def __init__(
        self,
        engine: Engine,
        *,
        busy_retry_s: float = 300.0,
        seen_every_s: float = 0.0,
        offline_grace_s: float = 600.0,
    ) -> None:
        self.engine = engine
        self.store = PacketStore(engine, seen_every_s=seen_every_s, offline_grace_s=offline_grace_s)
        self.failures = 0
        self.busy_retry_s = busy_retry_s

    def apply(self, items: Sequence[Item]) -> list[Result]:
        try:
            return self._transaction_while_busy(items)
        except _Busy as busy:
            # still busy after waiting: nothing was stored, so nothing is acknowledged (loggers re-send)
            reason = f"database busy for {self.busy_retry_s:.0f} s: {busy.__cause__}"
            return [_not_committed(item, reason) for item in items]
        except Exception as exc:
            log.warning("writer batch of %d items failed (%s); retrying one by one", len(items), exc)
            self.failures += 1
            return [self._alone(item) for item in items]

    def _transaction_while_busy(self, items: Sequence[Item]) -> list[Result]:
        """A database that is busy (locked by another writer, restarting) is waited for, not blamed on
        the data: only errors about the data itself go to the item-by-item path."""
        deadline = time.monotonic() + self.busy_retry_s
        pause = 0.05
        while True:
            try:
                return self._transaction(items)
            except (sqlite3.OperationalError, psycopg.OperationalError) as exc:
                if time.monotonic() + pause > deadline:
                    raise _Busy() from exc
                log.warning("database busy (%s); retrying in %.2f s", exc, pause)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _transaction(self, items: Sequence[Item]) -> list[Result]:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if self.store.d.name == "sqlite":
                # take the write lock first: a read that later upgrades to a write is refused at once
                # (SQLITE_BUSY) when another connection writes, instead of waiting for busy_timeout
                cursor.execute("BEGIN IMMEDIATE")
            results: list[Result] = []
            run: list[InboundFrame] = []
            for kind, body in items:
                if kind == "f":
                    run.append(frame_from_wire(body))
                    continue
                if run:
                    results.extend(self.store.write(cursor, run))
                    run = []
                cursor.execute(*body)
                self.store.forget_seen()
                results.append(None)
            if run:
                results.extend(self.store.write(cursor, run))
            self.store.evidence.write(cursor)  # the batch's raw_batch entry commits with its packets
            raw.commit()
            self.store.committed()
            return results
        except BaseException:
            self.store.rolled_back()
            raw.rollback()
            raise
        finally:
            raw.close()

    def _alone(self, item: Item) -> Result:
        try:
            return self._transaction_while_busy([item])[0]
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"[:500]
            log.error("writer item refused by the database: %s", problem)
        if item[0] == "s":
            return problem
        # keep the evidence: the raw bytes alone, with what went wrong
        frame = frame_from_wire(item[1])
        what = "its measurements" if frame.data is not None else "it"
        fallback = replace(
            frame, verdict="store_failed", reason=f"the database refused {what}: {problem}", data=None
        )
        try:
            return self._transaction_while_busy([("f", frame_to_wire(fallback))])[0]
        except Exception as exc:
            log.error("frame from %s could not be logged at all: %s", frame.peer, exc)
            return FrameOutcome(packet_id=None, verdict=frame.verdict, error=str(exc))


class _Busy(Exception):
    pass


def _not_committed(item: Item, reason: str) -> Result:
    if item[0] == "s":
        return reason
    return FrameOutcome(packet_id=None, verdict=item[1][3], error=reason)


def child_main(
    url: str,
    options: ChildOptions,
    inbox: Connection,
    outbox: Connection,
) -> None:
    """Entry point of the writer process."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s writer: %(message)s")
    engine = engine_from_url(
        url, sqlite_synchronous=options.sqlite_synchronous, sqlite_cache_mib=options.sqlite_cache_mib
    )
    applier = BatchApplier(engine, seen_every_s=options.seen_every_s, offline_grace_s=options.offline_grace_s)
    checkpoints = _Checkpointer(engine) if engine.dialect.name == "sqlite" else None
    settle_heap()
    stopping = False
    began = -options.commit_gap_s
    while not stopping:
        try:
            batches = [pickle.loads(inbox.recv_bytes())]
            # group commit: a busy writer waits out the gap so that what arrives meanwhile joins this
            # transaction (each has a fixed cost: interior B-tree pages, the commit's fsync, messages); a
            # writer that was idle for longer starts at once
            pause = began + options.commit_gap_s - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            began = time.monotonic()
            while len(batches) < MAX_BATCHES_PER_TRANSACTION and inbox.poll(0):
                batches.append(pickle.loads(inbox.recv_bytes()))
        except EOFError:
            break
        if None in batches:
            stopping = True
            batches = [b for b in batches if b is not None]
        if not batches:
            continue
        if checkpoints is not None:
            checkpoints.finish_tail()
        results = applier.apply([item for batch in batches for item in batch])
        offset = 0
        for batch in batches:
            outbox.send_bytes(pickle.dumps(results[offset : offset + len(batch)], pickle.HIGHEST_PROTOCOL))
            offset += len(batch)
    if checkpoints is not None:
        checkpoints.stop()
    outbox.close()


class _Checkpointer:
    """Copies the SQLite WAL back into the database file from a thread of its own.

    By default the connection that commits does this every 1000 pages, inside the commit; here the
    writer's connection never does (``wal_autocheckpoint=0``) and this thread checkpoints every second
    instead. SQLite releases the interpreter lock while it works, so on a 2-core machine checkpointing
    runs beside the writing instead of in its way. PASSIVE never waits for readers.

    The catch: SQLite starts the WAL file over only when a write transaction begins after *every*
    frame was copied back. Under steady load the writer always appends while this thread copies, so
    that moment never comes: the WAL grew past 1 GB in 20 s of the ingest benchmark, and every page
    lookup slowed down with it (ack latency climbed from 30 ms to 800 ms). So once this thread has
    caught up to a small tail, it asks the writer to copy that tail itself between two transactions
    (:meth:`finish_tail`); the writer's next transaction then restarts the WAL.

    How small the tail must be: the writer waits for its copy, which ends with an fdatasync of the
    database file, and on the disks measured that costs ~30 µs per page written since the last one
    (300 scattered pages 15 ms, 3,000 pages 87 ms). With a tail of up to 2,000 frames the writer stalled
    60–95 ms once a second, which set the p99 ack latency at 3,000 packets/s (docs/architecture.md,
    Performance). So this thread goes on copying in further rounds, each shorter than the one before,
    until a round finds at most ``TAIL_FRAMES`` new frames, or ``MAX_ROUNDS`` did not get there (the
    writer appends faster than a round copies: the tail is then handed over as it is, so that the WAL
    still starts over). Measured at 3,000 packets/s: the writer's stalls went from 36–69 ms to 7–18 ms.
    """

    TAIL_FRAMES = 256  # what the writer copies itself: ~1 MB with 4 KiB pages
    MAX_ROUNDS = 8

    def __init__(self, engine: Engine, period_s: float = 1.0) -> None:
        self.engine = engine
        self.period_s = period_s
        self._stop = threading.Event()
        self._tail_due = threading.Event()
        self.restarts = 0

        @event.listens_for(engine, "connect")
        def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")

        self._thread = threading.Thread(target=self._run, name="envwatch-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        raw = self.engine.raw_connection()
        try:
            while not self._stop.wait(self.period_s):
                if self._tail_due.is_set():
                    continue  # the writer has not taken the last tail yet
                if self.catch_up(raw) > 0:
                    self._tail_due.set()
            self._checkpoint(raw)
        except Exception as exc:  # a failed checkpoint loses nothing: the WAL keeps the data
            log.warning("WAL checkpoint failed: %s", exc)
        finally:
            raw.close()

    def catch_up(self, raw: Any) -> int:
        """Copy rounds until the last one found at most ``TAIL_FRAMES`` new frames (or ``MAX_ROUNDS``);
        returns the WAL's frames as of the last round's start (0: nothing to hand over).

        A round's counts are as of its start, so what the writer appended during a round shows only in
        the next one: a round is the last when the WAL grew by at most ``TAIL_FRAMES`` since the round
        before (whose copy, with its fdatasync, took long), or, for the first round, when the whole WAL
        is that small. A WAL that started over between two rounds counts as grown by its new length."""
        frames = before = -1
        for _round in range(self.MAX_ROUNDS):
            _busy, frames, _copied = self._checkpoint(raw)
            grown = frames - before if frames >= before else frames
            if grown <= self.TAIL_FRAMES or self._stop.is_set():
                break
            before = frames
        return max(frames, 0)

    @staticmethod
    def _checkpoint(raw: Any) -> tuple[int, int, int]:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        busy, frames, copied = cursor.fetchone()
        return int(busy), int(frames), int(copied)

    def finish_tail(self) -> None:
        """Called by the writer between transactions: copy the last frames so the WAL can restart."""
        if not self._tail_due.is_set():
            return
        self._tail_due.clear()
        raw = self.engine.raw_connection()
        try:
            _busy, frames, copied = self._checkpoint(raw)
            if frames == copied:
                self.restarts += 1
        except Exception as exc:
            log.warning("WAL checkpoint of the tail failed: %s", exc)
        finally:
            raw.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
