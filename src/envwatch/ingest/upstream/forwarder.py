"""The forwarder: one asyncio task per upstream, sending the raw log after its cursor over HJ 212.

Theory of operation
-------------------
``upstream_loops`` starts a :class:`Forwarder` for every registered upstream (and for ones added later).
A forwarder takes its upstream's lease in ``upstream_status`` (so ``serve`` and ``envwatch forward`` may
run side by side: one sends, the other waits), connects, and loops:

1. reads the log after the last packet it took (:mod:`.source`, waiting out uncommitted ids), and offers
   every row to the :class:`~.window.Window`, those not for this upstream as already done;
2. writes queued frames, exactly as received, while the window has room and the rate allows
   (``upstream_max_rate``, a token bucket: back-fill after an outage is catching up at that pace);
3. reads the upstream's replies with :class:`envwatch.hj212.Connection`; a 9014 completes the packet with
   its MN and QN; an overdue ack is resent (same bytes, same QN), and after ``upstream_retries`` resends
   the link is dropped and retried with exponential backoff (``upstream_backoff_s`` doubled up to
   ``upstream_backoff_max_s``); a reconnect resends everything not done;
4. after writing (``drain``) moves the cursor over the done prefix and saves it with its counters at most
   every ``upstream_poll_s``, renewing the lease.

A change of the upstream's settings (a new version: address, devices, acks, pause) is seen within
``upstream_poll_s``: the link is closed and opened again with the new settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.hj212 import NEED_DATA, Connection, Packet
from envwatch.ingest.upstream import status as store
from envwatch.ingest.upstream.config import UpstreamConfig, all_current, current_by_id, device_ids_for
from envwatch.ingest.upstream.source import GapWaiter, LogRow, read_after
from envwatch.ingest.upstream.window import Item, LinkDown, Window

__all__ = ["Forwarder", "upstream_loops"]

log = logging.getLogger(__name__)


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Changed(Exception):
    """The upstream's settings changed (or it was paused): reconnect with the new ones."""


class Forwarder:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        upstream_id: int,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.upstream_id = upstream_id
        self.owner = owner or process_owner()
        self.clock = clock
        self.lease_s = max(30.0, 10 * settings.upstream_poll_s)
        self.counters = store.Counters()
        self.cursor = 0
        self.window: Window | None = None
        self.config: UpstreamConfig | None = None
        self._devices: frozenset[int] | None = None
        self._gaps = GapWaiter(settings.upstream_gap_wait_s)
        self._wake = asyncio.Event()
        self._tokens = 0.0
        self._token_time = 0.0
        self._read_again = 0.0  # loop time before which the log is not read again (its end, or a gap)

    # --- the loop ----------------------------------------------------------------------------------
    async def run(self) -> None:
        s = self.settings
        backoff = s.upstream_backoff_s
        loaded = False
        while True:
            config = await asyncio.to_thread(self._load_config)
            if config is None or not config.enabled:
                await asyncio.sleep(s.upstream_poll_s)
                continue
            if not await asyncio.to_thread(self._claim):
                await asyncio.sleep(s.upstream_poll_s)
                loaded = False  # another process forwards it; read its cursor when we take over
                continue
            if not loaded:
                await asyncio.to_thread(self._load_state)
                loaded = True
            try:
                await self._session(config)
                backoff = s.upstream_backoff_s
            except _Changed:
                backoff = s.upstream_backoff_s
            except (OSError, LinkDown, TimeoutError) as exc:
                self.counters.attempts += 1
                self.counters.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self.counters.last_error_at = self.clock()
                log.warning("upstream %s (%s): %s", config.name, config.address, self.counters.last_error)
                self.counters.connected, self.counters.connected_since = False, None
                await asyncio.to_thread(self._save)
                await self._back_off(backoff)
                backoff = min(backoff * 2, s.upstream_backoff_max_s)
            finally:
                self.counters.connected, self.counters.connected_since = False, None

    async def _back_off(self, seconds: float) -> None:
        """Wait before reconnecting, keeping the lease (a backoff may outlast it) unless another took it."""
        step = self.lease_s / 3
        while seconds > 0:
            await asyncio.sleep(min(seconds, step))
            seconds -= step
            if seconds > 0 and not await asyncio.to_thread(self._save):
                return

    async def _session(self, config: UpstreamConfig) -> None:
        s = self.settings
        self._devices = await asyncio.to_thread(self._device_ids, config)
        if self.window is None or self.config is None or self.config.version_id != config.version_id:
            # new settings (devices, acks): what was offered under the old ones is read again from the cursor
            self.window = Window(
                size=s.upstream_window,
                timeout=s.upstream_ack_timeout_s,
                retries=s.upstream_retries,
                acks=config.acks,
            )
            self._gaps = GapWaiter(s.upstream_gap_wait_s)
        self.config = config
        window = self.window
        window.reset()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(config.host, config.port), s.upstream_connect_timeout_s
        )
        loop = asyncio.get_running_loop()
        self.counters.connected, self.counters.connected_since = True, self.clock()
        self.counters.attempts = 0
        replies = asyncio.create_task(self._read_replies(reader))
        last_check = last_save = loop.time()
        saved_cursor = self.cursor
        self._tokens, self._token_time, self._read_again = 1.0, loop.time(), 0.0
        try:
            await asyncio.to_thread(self._save)
            while True:
                if replies.done():
                    replies.result()  # raises LinkDown / OSError
                self._wake.clear()  # an ack from now on wakes the sleep at the end of this round
                now = loop.time()
                await self._fill(window, now)
                for late in window.expired(now):  # resent at once, outside the rate: they were counted
                    writer.write(late.raw or b"")
                    self.counters.sent += 1
                    self.counters.resent += 1
                while self._take_token(now) and (item := window.next_to_send(now)) is not None:
                    writer.write(item.raw or b"")
                    self.counters.sent += 1
                    self.counters.last_sent_at = self.clock()
                    if not item.wants_ack:  # done once written: the upstream will not answer it
                        self.counters.forwarded += 1
                await writer.drain()  # what is done without an ack is in the socket before the cursor moves
                if window.advance() is not None and window.cursor is not None:
                    self.cursor = window.cursor
                # the cursor is saved at most twice a second while it moves, and the lease renewed
                if (self.cursor != saved_cursor and (now - last_save >= 0.5 or not window.pending)) or (
                    now - last_save >= self.lease_s / 3
                ):
                    if not await asyncio.to_thread(self._save):
                        raise _Changed("another process took the lease")
                    last_save, saved_cursor = now, self.cursor
                if now - last_check >= s.upstream_poll_s:
                    last_check = now
                    fresh = await asyncio.to_thread(self._load_config)
                    if fresh is None or fresh.version_id != config.version_id:
                        raise _Changed("settings changed")
                await self._sleep(window, loop.time())
        finally:
            replies.cancel()
            with contextlib.suppress(BaseException):
                await replies
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self.counters.connected, self.counters.connected_since = False, None
            await asyncio.to_thread(self._save)

    async def _fill(self, window: Window, now: float) -> None:
        """Offer more of the log when the window runs short of queued packets."""
        s = self.settings
        if (
            now < self._read_again
            or window.queued >= s.upstream_window
            or window.pending >= 4 * s.upstream_batch
        ):
            return
        after = window.last_offered if window.last_offered is not None else self.cursor
        rows = await asyncio.to_thread(self._read, after)
        taken = self._gaps.settle(after, rows, now)
        for row in taken:
            window.offer(self._item(row))
        if self._gaps.waiting:  # look again soon: the gap fills or grows old
            self._read_again = now + min(s.upstream_poll_s, s.upstream_gap_wait_s / 5)
        elif len(rows) < s.upstream_batch:  # the end of the log: new packets are looked for every poll
            self._read_again = now + s.upstream_poll_s

    def _item(self, row: LogRow) -> Item:
        raw = row.raw
        if raw is not None and self._devices is not None and row.device_id not in self._devices:
            raw = None
        return Item(id=row.id, received_at=row.received_at, raw=raw, mn=row.mn, qn=row.qn)

    def _take_token(self, now: float) -> bool:
        rate = self.settings.upstream_max_rate
        self._tokens = min(max(1.0, rate), self._tokens + (now - self._token_time) * rate)
        self._token_time = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def _sleep(self, window: Window, now: float) -> None:
        s = self.settings
        delay = s.upstream_poll_s
        if window.queued and window.awaiting < window.size:
            delay = min(delay, max(0.0, (1.0 - self._tokens) / s.upstream_max_rate))
        if self._read_again > now:
            delay = min(delay, self._read_again - now)
        elif window.queued < s.upstream_window and window.pending < 4 * s.upstream_batch:
            delay = 0.0  # more of the log to read
        deadline = window.next_deadline()
        if deadline is not None:
            delay = min(delay, max(0.0, deadline - now))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        conn = Connection(max_frame_bytes=self.settings.max_frame_bytes)
        loop = asyncio.get_running_loop()
        while True:
            data = await reader.read(65536)
            conn.receive_data(data, loop.time())
            while (event := conn.next_event()) is not NEED_DATA:
                if isinstance(event, Packet) and event.cn == "9014" and self.window is not None:
                    if self.window.ack(event.mn, event.qn) is not None:
                        self.counters.acked += 1
                        self.counters.forwarded += 1
                        self.counters.last_ack_at = self.clock()
                        self._wake.set()
                    else:
                        log.info(
                            "upstream %s: a 9014 for QN=%s MN=%s answers nothing in flight",
                            self.upstream_id,
                            event.qn,
                            event.mn,
                        )
            if not data:
                raise LinkDown("the upstream closed the connection")

    # --- the store (run in a thread) ---------------------------------------------------------------
    def _load_config(self) -> UpstreamConfig | None:
        with self.engine.connect() as conn:
            return current_by_id(conn, self.upstream_id)

    def _device_ids(self, config: UpstreamConfig) -> frozenset[int] | None:
        with self.engine.connect() as conn:
            return device_ids_for(conn, config)

    def _read(self, after: int) -> list[LogRow]:
        s = self.settings
        with self.engine.connect() as conn:
            return read_after(conn, after, s.upstream_batch, s.upstream_verdicts, s.upstream_cns)

    def _claim(self) -> bool:
        with self.engine.begin() as conn:
            return store.claim(conn, self.upstream_id, self.owner, self.clock(), self.lease_s)

    def _load_state(self) -> None:
        with self.engine.connect() as conn:
            state = store.load(conn, self.upstream_id)
        if state is not None:
            self.cursor, self.counters = state
        self.window = None  # what was in flight is read again from the cursor

    def _save(self, *, release: bool = False) -> bool:
        with self.engine.begin() as conn:
            return store.save(
                conn,
                self.upstream_id,
                self.owner,
                self.cursor,
                self.counters,
                self.clock(),
                self.lease_s,
                release=release,
            )

    def release(self) -> None:
        """Give the lease back (on a clean stop) so another process can take over at once."""
        self._save(release=True)


async def upstream_loops(engine: Engine, settings: Settings, *, owner: str | None = None) -> None:
    """A forwarder per registered upstream, started as upstreams are added (``serve``, ``forward``)."""
    owner = owner or process_owner()
    running: dict[int, tuple[Forwarder, asyncio.Task[None]]] = {}

    def listed() -> list[UpstreamConfig]:
        with engine.connect() as conn:
            return all_current(conn)

    try:
        while True:
            for config in await asyncio.to_thread(listed):
                if config.id not in running:
                    forwarder = Forwarder(engine, settings, config.id, owner=owner)
                    running[config.id] = (forwarder, asyncio.create_task(forwarder.run()))
            for upstream_id, (_forwarder, task) in list(running.items()):
                if task.done():  # a bug, not a link failure (those are retried inside): log and restart
                    exc = task.exception() if not task.cancelled() else None
                    log.error("upstream forwarder %s stopped: %r", upstream_id, exc)
                    del running[upstream_id]
            await asyncio.sleep(settings.registry_refresh_s)
    finally:
        for forwarder, task in running.values():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            with contextlib.suppress(Exception):
                await asyncio.to_thread(forwarder.release)
