"""The single writer: stores frames in batches (group commit) in a separate process and reports back.

Theory of operation
-------------------
The gateway submits each received frame (and small SQL statements such as "device went offline"). A
feeder thread sends whatever is queued, up to ``batch_max`` items, as one message to the writer process
(``writer_child``), which stores it in one transaction, commits, and answers with the outcomes. At most
``MAX_MESSAGES_IN_FLIGHT`` messages wait for their answer; meanwhile frames gather in the queue, so a busy
writer gets few large messages instead of one per packet. A
receiver thread hands those outcomes back through ``dispatch`` (in the gateway:
``loop.call_soon_threadsafe``), once per batch. The gateway acknowledges a packet (9014) from that
callback, so an acknowledged packet is always on disk: with SQLite ``synchronous=FULL`` the commit has
been fsynced.

If the writer process dies, everything sent to it and not answered is reported uncommitted (those packets
are not acknowledged; loggers send them again) and a new writer process is started.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import multiprocessing
import os
import pickle
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from envwatch.core.errors import Conflict
from envwatch.ingest.store import FrameOutcome, InboundFrame
from envwatch.ingest.writer_child import ChildOptions, Item, Result, child_main, frame_to_wire

log = logging.getLogger(__name__)

Dispatch = Callable[[Callable[[], None]], object]  # e.g. loop.call_soon_threadsafe
StatementDone = Callable[[str | None], None]

_STOP = object()

# Messages sent to the writer process and not answered yet, at most. The feeder then waits for an answer
# instead of for the queue, and sends everything that arrived meanwhile as one message. Without the bound
# it woke for nearly every packet (2,141 wake-ups/s at 5,000 packets/s, each taking the interpreter lock
# from the event loop) and sent tiny messages; with it 984/s, its CPU 8.8 % -> 4.9 % of a core. Two, not
# one: the writer finds the next message waiting when it commits, instead of idling while the answer
# travels to the receiver and the feeder.
MAX_MESSAGES_IN_FLIGHT = 2


class _Statement:
    __slots__ = ("done", "params", "sql")

    def __init__(self, sql: str, params: tuple[Any, ...], done: StatementDone | None) -> None:
        self.sql, self.params, self.done = sql, params, done


class WriterLock:
    """One writer per embedded store: a second gateway on the same data directory is refused."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise Conflict(
                f"another envwatch process is writing to {self.path.parent} (lock {self.path}); "
                "stop it or use another --data-dir"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class Writer:
    def __init__(
        self,
        engine: Engine,
        *,
        batch_max: int = 2000,
        dispatch: Dispatch | None = None,
        lock_path: Path | None = None,
        sqlite_synchronous: str = "FULL",
        seen_every_s: float = 0.0,
        offline_grace_s: float = 600.0,
        sqlite_cache_mib: int | None = None,
        commit_gap_s: float = 0.0,
    ) -> None:
        self.url = engine.url.render_as_string(hide_password=False)
        self.options = ChildOptions(
            sqlite_synchronous, seen_every_s, offline_grace_s, sqlite_cache_mib, commit_gap_s
        )
        self.batch_max = batch_max
        self.dispatch: Dispatch = dispatch or (lambda fn: fn())
        self.on_batch: Callable[[int], object] | None = None  # called (receiver thread) with the backlog
        # called (receiver thread) with a batch's seconds from its send to its commit answer (metrics)
        self.on_commit: Callable[[float], object] | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = WriterLock(lock_path) if lock_path and engine.dialect.name == "sqlite" else None
        self._feeder: threading.Thread | None = None
        self._child: _Child | None = None
        # counters for the operator (and the benchmark)
        self.batches = 0
        self.frames_written = 0
        self.failures = 0
        self.restarts = 0

    # --- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._lock:
            self._lock.acquire()
        self._child = self._spawn()
        self._feeder = threading.Thread(target=self._feed, name="envwatch-writer-feeder", daemon=True)
        self._feeder.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Store everything already submitted, then stop the writer process."""
        if self._feeder is None:
            return
        self._queue.put(_STOP)
        self._feeder.join(timeout)
        self._feeder = None
        if self._child is not None:
            self._child.join(timeout)
            self._child = None
        if self._lock:
            self._lock.release()

    @property
    def alive(self) -> bool:
        """The writer process is running (readiness, /readyz)."""
        child = self._child
        return child is not None and child.alive and child.process.is_alive()

    @property
    def backlog(self) -> int:
        """Items submitted and not yet answered."""
        child = self._child
        return self._queue.qsize() + (child.inflight_items if child is not None else 0)

    def submit(self, frame: InboundFrame) -> None:
        self._queue.put(frame)

    def submit_statement(self, sql: str, params: tuple[Any, ...], done: StatementDone | None = None) -> None:
        """One SQL statement, run by the writer in order with the frames (status changes, events)."""
        self._queue.put(_Statement(sql, params, done))

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything submitted so far is committed.

        For tests and scripts only: with the gateway's dispatch (the event loop) calling this from the
        loop thread would wait for a callback that cannot run.
        """
        done = threading.Event()
        self.submit_statement("SELECT 1", (), lambda _err: done.set())
        if not done.wait(timeout):
            raise TimeoutError("writer did not drain in time")

    # --- the feeder thread: queue → writer process ------------------------------------------------
    def _feed(self) -> None:
        stopping = False
        while not stopping:
            child = self._child
            if child is not None:
                child.wait_for_room()
            items = [self._queue.get()]
            while len(items) < self.batch_max:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in items:
                stopping = True
                items = [i for i in items if i is not _STOP]
            if items:
                self._send(items)
        assert self._child is not None
        self._child.send(None)

    def _send(self, items: list[Any]) -> None:
        wire: list[Item] = [
            ("f", frame_to_wire(i)) if isinstance(i, InboundFrame) else ("s", (i.sql, i.params))
            for i in items
        ]
        payload = pickle.dumps(wire, pickle.HIGHEST_PROTOCOL)
        child = self._child
        assert child is not None
        # The lock only guards the books, never the send: a send blocks while the pipe is full, and the
        # receiver must still be able to take answers off the books meanwhile (else both sides wait).
        with child.lock:
            booked = child.alive
            if booked:
                child.inflight.append(items)
                child.inflight_items += len(items)
                child.sent_at.append(time.monotonic())
        if booked:
            try:
                child.send_bytes(payload)
                return
            except (OSError, ValueError):
                pass  # the process is gone: its receiver reports these as not committed
        self._respawn(child)
        if not booked:  # never reached the dead process's books: report them here
            self._report(items, [_lost(i) for i in items])

    def _respawn(self, dead: _Child) -> None:
        dead.join(5)
        self.restarts += 1
        log.error("writer process died; starting a new one (restart %d)", self.restarts)
        self._child = self._spawn()

    # --- the receiver thread: answers → callbacks -------------------------------------------------
    def _receive(self, child: _Child) -> None:
        while True:
            try:
                results: list[Result] = pickle.loads(child.outbox.recv_bytes())
            except (EOFError, OSError):
                break
            with child.lock:
                items = child.inflight.popleft()
                child.inflight_items -= len(items)
                sent = child.sent_at.popleft()
                child.room.notify()
            self._report(items, results)
            if self.on_commit is not None:
                self.on_commit(time.monotonic() - sent)
        with child.lock:  # the process ended: whatever it did not answer was not committed
            child.alive = False
            child.room.notify()
            lost = list(child.inflight)
            child.inflight.clear()
            child.sent_at.clear()
            child.inflight_items = 0
        for items in lost:
            self._report(items, [_lost(i) for i in items])

    def _report(self, items: Sequence[Any], results: Sequence[Result]) -> None:
        self.batches += 1
        self.frames_written += sum(1 for r in results if isinstance(r, FrameOutcome) and r.committed)
        self.failures += sum(
            1 for r in results if isinstance(r, str) or (isinstance(r, FrameOutcome) and not r.committed)
        )

        def report() -> None:
            for item, result in zip(items, results, strict=True):
                if item.done is not None:  # FrameOutcome for a frame, error text or None for a statement
                    item.done(result)

        self.dispatch(report)
        if self.on_batch is not None:
            self.on_batch(self.backlog)

    def _spawn(self) -> _Child:
        child = _Child(self.url, self.options)
        # kept on the child so that stop() waits for it: the last answers are dispatched before stop()
        # returns (without it a loaded machine could return from stop() with outcomes still unreported)
        child.receiver = threading.Thread(
            target=self._receive, args=(child,), name="envwatch-writer-receiver", daemon=True
        )
        child.receiver.start()
        return child


def _lost(item: Any) -> Result:
    if isinstance(item, InboundFrame):
        return FrameOutcome(
            packet_id=None, verdict=item.verdict, error="writer process died before committing"
        )
    return "writer process died before committing"


class _Child:
    """The writer process and its two pipes."""

    # forkserver: children start from a clean, single-threaded server process (fork from a threaded
    # gateway is unsafe) and much faster than spawn after the first one.
    _context = multiprocessing.get_context("forkserver")

    def __init__(self, url: str, options: ChildOptions) -> None:
        inbox_read, self.inbox = self._context.Pipe(duplex=False)
        self.outbox, outbox_write = self._context.Pipe(duplex=False)
        self.process = self._context.Process(
            target=child_main,
            args=(url, options, inbox_read, outbox_write),
            name="envwatch-writer",
            daemon=True,
        )
        self.process.start()
        inbox_read.close()
        outbox_write.close()
        self.lock = threading.Lock()
        self.room = threading.Condition(self.lock)  # notified when an answer frees a place in flight
        self.alive = True
        self.inflight: collections.deque[list[Any]] = collections.deque()  # sent, not yet answered
        self.inflight_items = 0
        self.sent_at: collections.deque[float] = collections.deque()  # when each in-flight batch was sent
        self.receiver: threading.Thread | None = None

    def wait_for_room(self) -> None:
        """Until fewer than MAX_MESSAGES_IN_FLIGHT messages wait for their answer (or the process ended)."""
        with self.room:
            self.room.wait_for(lambda: len(self.inflight) < MAX_MESSAGES_IN_FLIGHT or not self.alive)

    def send_bytes(self, payload: bytes) -> None:
        self.inbox.send_bytes(payload)

    def send(self, message: object) -> None:
        with contextlib.suppress(OSError, ValueError):  # already gone: nothing to tell it
            self.inbox.send_bytes(pickle.dumps(message))

    def join(self, timeout: float) -> None:
        self.process.join(timeout)
        if self.process.is_alive():
            log.error("writer process did not stop in %.0f s; terminating it", timeout)
            self.process.terminate()
            self.process.join(5)
        if self.receiver is not None:
            self.receiver.join(timeout)  # the last answers are dispatched before stop() returns
        self.inbox.close()
