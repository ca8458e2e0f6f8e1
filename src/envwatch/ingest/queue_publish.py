"""The gateway's side of scale-out ingest: frames go to a JetStream stream instead of a local writer.

Theory of operation
-------------------
``QueuePublisher`` has the interface of ``ingest.writer.Writer`` (submit, submit_statement, backlog,
flush, start, stop, ``dispatch``/``on_batch``), so the gateway and its sessions work unchanged. A thread
of its own runs an asyncio loop with the NATS client: submitted items wait in a queue, at most
``queue_inflight_max`` are published at once, each as one message with a ``Nats-Msg-Id`` header
(``<gateway instance>-<counter>``) and each waiting for JetStream's PubAck. Only a PubAck, which JetStream
sends once the message is stored in the stream (on file, and on a majority of replicas with R>1), counts
as committed: that is when the session acknowledges the device (9014/9013). The outcomes go back to the
gateway's loop through ``dispatch`` in batches.

Failures: a publish that times out or fails (server down, reconnecting, stream full) is retried with the
*same* message id, so a message whose PubAck was lost is stored once (JetStream drops the re-publish as a
duplicate within ``queue_duplicate_window_s``). After ``queue_publish_give_up_s`` (kept below the
duplicate window) it is reported not committed: the device is not acknowledged and sends the packet again.
Meanwhile the queue grows; the gateway's ``writer_queue_max`` logic pauses reading from every connection
until it has drained by half, exactly as with a slow local writer.

What a gateway decides locally is unchanged, with one exception kept equivalent: a data packet whose CP
the session left unparsed is parsed here before publishing, so that a malformed CP gets its ``malformed``
verdict (and no acknowledgement), as the local writer would report it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext

from envwatch.core.settings import Settings
from envwatch.hj212 import HJ212Error
from envwatch.hj212.segment import parse_cp
from envwatch.ingest.queue_wire import connect, encode_frame, encode_statement, ensure_stream
from envwatch.ingest.store import FrameOutcome, InboundFrame
from envwatch.ingest.writer import Dispatch, StatementDone

log = logging.getLogger(__name__)


def instance_name() -> str:
    """A name unique to this process run: message ids and command claims carry it."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass
class _Item:
    frame: InboundFrame | None
    statement: tuple[str, tuple[Any, ...]] | None
    done: StatementDone | None = None


class QueuePublisher:
    def __init__(self, settings: Settings, *, instance: str | None = None) -> None:
        self.settings = settings
        self.instance = instance or instance_name()
        self.subject = f"{settings.queue_subject}.{_token(self.instance)}"
        # retrying past the duplicate window could store a message twice: give up before it
        self.give_up_s = min(
            settings.queue_publish_give_up_s,
            settings.queue_duplicate_window_s - settings.queue_publish_timeout_s,
        )
        self.dispatch: Dispatch = lambda fn: fn()
        self.on_batch: Callable[[int], object] | None = None
        # called (publisher thread) with an item's seconds from its first publish to JetStream's PubAck:
        # the write latency of /metrics, as the local writer's batch commit is
        self.on_commit: Callable[[float], object] | None = None
        self._pending: collections.deque[_Item] = collections.deque()
        self._inflight = 0
        self._counter = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._idle = False
        self._stopping = False
        self._abandon = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._completed: list[tuple[_Item, Any]] = []
        self._report_due = False
        self.nc: Client | None = None
        # counters for the operator (and the benchmark), named as the local writer's
        self.batches = 0
        self.frames_written = 0  # frames stored in the stream (PubAck received)
        self.failures = 0
        self.retries = 0
        self.restarts = 0

    # --- the Writer interface ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="envwatch-queue-publisher", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        """Publish everything already submitted (up to ``timeout``), then close the connection; what is
        still unpublished then is reported not committed (its devices were not acknowledged)."""
        if self._thread is None:
            return
        self._stopping = True
        self._poke()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("queue publisher did not drain in %.0f s; giving up on %d items", timeout, self.backlog)
            self._abandon = True
            self._poke()
            self._thread.join(10)
        self._thread = None

    @property
    def alive(self) -> bool:
        """The publisher runs and holds a NATS connection (readiness, /readyz): while it reconnects
        nothing is acknowledged."""
        thread, nc = self._thread, self.nc
        return thread is not None and thread.is_alive() and nc is not None and nc.is_connected

    @property
    def backlog(self) -> int:
        """Items submitted and not yet stored in the stream (or given up)."""
        return len(self._pending) + self._inflight

    def submit(self, frame: InboundFrame) -> None:
        self._pending.append(_Item(frame, None))
        self._poke_if_idle()

    def submit_statement(self, sql: str, params: tuple[Any, ...], done: StatementDone | None = None) -> None:
        """A statement the workers run in stream order with the frames; ``done`` once it is in the stream."""
        self._pending.append(_Item(None, (sql, params), done))
        self._poke_if_idle()

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything submitted so far is in the stream (tests and scripts; not from the loop
        that receives the outcomes)."""
        deadline = time.monotonic() + timeout
        while self.backlog:
            if time.monotonic() > deadline:
                raise TimeoutError("queue publisher did not drain in time")
            time.sleep(0.005)

    # --- waking the publisher loop from the gateway's thread ----------------------------------------
    def _poke_if_idle(self) -> None:
        if self._idle:  # set by the publisher just before it sleeps (and re-checked after: no lost wake)
            self._idle = False
            self._poke()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)

    # --- the publisher thread -----------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._ready.set()
        stop = asyncio.Event()
        connecting = asyncio.create_task(self._connect(stop))
        tasks: set[asyncio.Task[None]] = set()
        while True:
            if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
                js = connecting.result()
                while self._pending and self._inflight < self.settings.queue_inflight_max:
                    item = self._pending.popleft()
                    self._inflight += 1
                    task = asyncio.create_task(self._publish(js, item))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            if self._stopping and not self.backlog:
                break
            if self._abandon:
                break
            self._idle = True
            if self._pending and self._inflight < self.settings.queue_inflight_max and connecting.done():
                self._idle = False
                continue
            waker = asyncio.create_task(self._wake.wait())
            await asyncio.wait({waker, connecting} if not connecting.done() else {waker})
            waker.cancel()
            self._idle = False
            self._wake.clear()
        stop.set()
        if not connecting.done():
            connecting.cancel()
        for task in list(tasks):
            task.cancel()
        lost = [(item, "the gateway stopped before the stream stored it") for item in self._pending]
        self._pending.clear()
        self._complete(lost)
        self._report()
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.close(), 5)
            except Exception as exc:
                log.warning("closing the NATS connection: %s", exc)

    async def _connect(self, stop: asyncio.Event) -> JetStreamContext:
        url = self.settings.queue_url
        assert url, "queue_url is not set"
        self.nc = await connect(url, f"envwatch-gateway {self.instance}", stop)
        js = self.nc.jetstream(timeout=self.settings.queue_publish_timeout_s)
        pause = 0.2
        while True:
            try:
                await ensure_stream(js, self.settings)
                break
            except Exception as exc:
                log.warning("JetStream stream %s not ready (%s)", self.settings.queue_stream, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
        log.info("publishing to JetStream stream %s as %s", self.settings.queue_stream, self.subject)
        assert self._wake is not None
        self._wake.set()
        return js

    async def _publish(self, js: JetStreamContext, item: _Item) -> None:
        result: Any = None
        try:
            if item.frame is not None:
                item.frame = _judge_cp(item.frame)
                payload = encode_frame(item.frame)
            else:
                assert item.statement is not None
                payload = encode_statement(*item.statement)
            headers = {"Nats-Msg-Id": f"{self.instance}-{next(self._counter)}"}
            started = time.monotonic()
            deadline = started + self.give_up_s
            pause = 0.05
            while True:
                try:
                    await js.publish(
                        self.subject, payload, timeout=self.settings.queue_publish_timeout_s, headers=headers
                    )
                    if self.on_commit is not None:
                        self.on_commit(time.monotonic() - started)
                    break
                except Exception as exc:  # timeout, no responders, reconnecting, stream full: retry
                    if self._abandon or time.monotonic() + pause > deadline:
                        result = f"JetStream did not store it within {self.give_up_s:.0f} s: {exc}"
                        break
                    self.retries += 1
                    if self.retries % 1000 == 1:
                        log.warning("JetStream publish failed (%s); retrying", exc)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 1.0)
        except asyncio.CancelledError:
            result = "the gateway stopped before the stream stored it"
        except Exception as exc:  # an item that cannot be encoded: not acknowledged, and said why
            log.exception("cannot publish an item")
            result = f"{type(exc).__name__}: {exc}"
        finally:
            self._inflight -= 1
            self._complete([(item, result)])
            if self._wake is not None:
                self._wake.set()

    # --- outcomes back to the gateway -----------------------------------------------------------------
    def _complete(self, done: list[tuple[_Item, Any]]) -> None:
        self._completed.extend(done)
        if not self._report_due and self._loop is not None:
            self._report_due = True
            self._loop.call_soon(self._report)  # one dispatch for all that completed meanwhile

    def _report(self) -> None:
        self._report_due = False
        done, self._completed = self._completed, []
        if not done:
            return
        self.batches += 1
        for _item, error in done:
            if error is None:
                self.frames_written += _item.frame is not None
            else:
                self.failures += 1

        def report() -> None:
            for item, error in done:
                if item.frame is not None:
                    frame = item.frame
                    if frame.done is not None:
                        frame.done(FrameOutcome(packet_id=None, verdict=frame.verdict, error=error))
                elif item.done is not None:
                    item.done(error)

        self.dispatch(report)
        if self.on_batch is not None:
            self.on_batch(self.backlog)


def _judge_cp(frame: InboundFrame) -> InboundFrame:
    """A CP left unparsed by the session is checked here: a malformed one gets its verdict now (the
    worker would find the same), so that the device is not acknowledged for it."""
    data = frame.data
    if data is None or data.cp_text is None or frame.verdict != "ok":
        return frame
    try:
        parse_cp(data.cp_text)
    except HJ212Error as exc:
        return replace(frame, verdict=exc.kind.value, reason=exc.reason, data=None)
    return frame


def _token(name: str) -> str:
    """A NATS subject token: no dots, spaces or wildcards."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
