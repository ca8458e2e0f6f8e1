"""The single writer: a thread that stores frames in batches (group commit) and reports back.

Theory of operation
-------------------
The gateway submits each received frame; the writer thread takes everything queued (up to
``batch_max``), stores it in one transaction (``PacketStore.write``), commits, and only then hands the
outcomes back through ``dispatch`` (in the gateway: ``loop.call_soon_threadsafe``), once per batch. The
gateway acknowledges a packet (9014) from that callback, so an acknowledged packet is always on disk:
with SQLite ``synchronous=FULL`` the commit has been fsynced.

Other writes of the gateway (connection status, command events) are ``Job`` callables run in the same
transactions, so the embedded store has exactly one writing connection.

A batch that fails is retried frame by frame, so one frame the database refuses cannot take its
neighbours down; such a frame is logged raw with verdict ``store_failed``, and a frame that cannot be
stored at all is reported uncommitted (never acknowledged; the device will send it again).
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from envwatch.core.errors import Conflict
from envwatch.ingest.store import FrameOutcome, InboundFrame, PacketStore

log = logging.getLogger(__name__)

Job = Callable[[Any], None]  # gets a DB-API cursor inside the writer's transaction
Dispatch = Callable[[Callable[[], None]], object]  # e.g. loop.call_soon_threadsafe


@dataclass
class _JobItem:
    job: Job
    done: Callable[[str | None], None] | None = None


_STOP = object()


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
    ) -> None:
        self.engine = engine
        self.store = PacketStore(engine)
        self.batch_max = batch_max
        self.dispatch: Dispatch = dispatch or (lambda fn: fn())
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = WriterLock(lock_path) if lock_path and engine.dialect.name == "sqlite" else None
        self.on_batch: Callable[[int], object] | None = None  # called (in the writer thread) with the backlog
        # counters for the operator (and the benchmark)
        self.batches = 0
        self.frames_written = 0
        self.failures = 0

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._lock:
            self._lock.acquire()
        self._thread = threading.Thread(target=self._run, name="envwatch-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Store everything already submitted, then stop."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
        if self._lock:
            self._lock.release()

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def submit(self, frame: InboundFrame) -> None:
        self._queue.put(frame)

    def submit_job(self, job: Job, done: Callable[[str | None], None] | None = None) -> None:
        self._queue.put(_JobItem(job, done))

    # --- the thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            items = [self._queue.get()]
            while len(items) < self.batch_max:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in items:
                stopping = True
                items = [i for i in items if i is not _STOP]
                # drain what was queued before the stop request
                while True:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is not _STOP:
                        items.append(nxt)
            if items:
                self._write(items)

    def _write(self, items: Sequence[Any]) -> None:
        frames = [i for i in items if isinstance(i, InboundFrame)]
        jobs = [i for i in items if isinstance(i, _JobItem)]
        try:
            outcomes = self._transaction(frames, jobs)
            job_errors: list[str | None] = [None] * len(jobs)
        except Exception as exc:  # the batch failed: retry piece by piece so only the culprit fails
            log.warning("writer batch of %d frames failed (%s); retrying one by one", len(frames), exc)
            self.failures += 1
            outcomes = [self._write_alone(f) for f in frames]
            job_errors = [self._job_alone(j) for j in jobs]
        self.batches += 1
        self.frames_written += sum(1 for o in outcomes if o.committed)

        def report() -> None:
            for frame, outcome in zip(frames, outcomes, strict=True):
                if frame.done is not None:
                    frame.done(outcome)
            for item, error in zip(jobs, job_errors, strict=True):
                if item.done is not None:
                    item.done(error)

        self.dispatch(report)
        if self.on_batch is not None:
            self.on_batch(self.backlog)

    def _transaction(self, frames: Sequence[InboundFrame], jobs: Sequence[_JobItem]) -> list[FrameOutcome]:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            outcomes = self.store.write(cursor, frames) if frames else []
            for item in jobs:
                item.job(cursor)
            raw.commit()
            return outcomes
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()

    def _write_alone(self, frame: InboundFrame) -> FrameOutcome:
        try:
            return self._transaction([frame], [])[0]
        except Exception as exc:
            log.error("frame from %s refused by the database: %s", frame.peer, exc)
            problem = f"{type(exc).__name__}: {exc}"[:500]
        # keep the evidence: the raw bytes alone, with what went wrong
        fallback = replace(
            frame,
            verdict="store_failed",
            reason=f"{len(frame.measurements)} measurement rows could not be stored ({problem})",
            measurements=(),
        )
        try:
            return self._transaction([fallback], [])[0]
        except Exception as exc:
            log.error("frame from %s could not be logged at all: %s", frame.peer, exc)
            return FrameOutcome(packet_id=None, verdict=frame.verdict, error=str(exc))

    def _job_alone(self, item: _JobItem) -> str | None:
        try:
            self._transaction([], [item])
            return None
        except Exception as exc:
            log.error("writer job failed: %s", exc)
            return str(exc)

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything submitted so far is committed.

        For tests and scripts only: with the gateway's dispatch (the event loop) calling this from the
        loop thread would wait for a callback that cannot run.
        """
        done = threading.Event()
        self.submit_job(lambda _cursor: None, lambda _err: done.set())
        deadline = time.monotonic() + timeout
        while not done.wait(0.01):
            if time.monotonic() > deadline:
                raise TimeoutError("writer did not drain in time")
