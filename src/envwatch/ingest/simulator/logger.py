"""One simulated data logger on the wire: produce, send, retry, back-fill, answer the host.

Three kinds of task per logger:

* the **producer** walks simulated time sample by sample and queues a 2011 packet at each real-time
  instant and 2051/2061/2031 packets at minute/hour/day boundaries. It never waits for the network,
  so while the link is down its packets pile up in the outbox (bounded), marked as back-fill;
* the **link** connects (with exponential back-off on failure), then runs a session: a writer draining
  the outbox, a reader decoding the server's replies with :class:`hj212.Connection`, a re-send timer,
  a command worker, the 2025 heartbeat and (``disturb``) a timer that drops the line to simulate a
  flaky 4G link. When a session ends, packets still waiting for their 9014 go back to the head of the
  outbox, so the server sees them again: duplicates are part of the realism;
* the **command worker** answers host requests one at a time (:mod:`.commands`).

Frames are built by :mod:`.wire`. Split messages share one QN and each part is acknowledged with its
own 9014, so a pending message counts its acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from envwatch.hj212 import (
    NEED_DATA,
    Connection,
    DevicePolicy,
    Packet,
    ProtocolError,
    ProtocolVersion,
    encode,
    new_qn,
)

from .clock import SimClock, local_datetime
from .commands import answer
from .devices import SimDevice
from .model import DeviceModel
from .stats import SimOptions, SimStats
from .wire import Outgoing, build_frames, header_for

__all__ = ["Session", "SimLogger"]

log = logging.getLogger(__name__)

# How a connection ends when the server or the network goes away.
_LINK_ERRORS = (OSError, EOFError, asyncio.IncompleteReadError)


@dataclass
class _Pending:
    out: Outgoing
    frames: list[bytes]
    deadline: float
    tries: int = 1
    acked: int = 0  # parts acknowledged so far (acks arrive in order over TCP)


@dataclass
class Session:
    writer: asyncio.StreamWriter
    commands: asyncio.Queue[Packet] = field(default_factory=asyncio.Queue)


class SimLogger:
    """A logger; :meth:`run` until cancelled."""

    def __init__(
        self,
        device: SimDevice,
        *,
        host: str,
        port: int,
        clock: SimClock,
        interval_s: float,
        seed: int,
        stats: SimStats,
        options: SimOptions,
        disturb: bool,
    ) -> None:
        self.device = device
        self.host, self.port = host, port
        self.clock = clock
        self.interval = interval_s
        self.min_interval = 1
        self.stats = stats
        self.options = options
        self.disturb = disturb
        device_seed = seed * 1_000_003 + zlib.crc32(device.mn.encode())
        self.model = DeviceModel(device.kind, device.protocol, device_seed)
        self.rng = random.Random(device_seed)
        self.version = ProtocolVersion(device.protocol)
        self.offset = 0.0  # device clock minus simulated time, changed by CN 1012
        self.realtime_on = True
        self.outbox: deque[Outgoing] = deque()
        self.pending: dict[str, _Pending] = {}
        self.connected = False
        self._attempted = False
        self._wake = asyncio.Event()
        self._resync = asyncio.Event()  # the producer must restart its schedule (time/interval changed)
        self._last_qn = local_datetime(0)
        self._policy = DevicePolicy(sm4_key=device.sm4_key)

    # -- time and identity -------------------------------------------------------------------------

    def now(self) -> float:
        """The logger's own clock (local epoch seconds)."""
        return self.clock.now() + self.offset

    def _next_qn(self) -> str:
        # QN identifies an exchange, so it must not repeat even when several packets leave within the
        # same millisecond (common under speedup): step 1 ms past the last one.
        moment = max(local_datetime(self.now()), self._last_qn + timedelta(milliseconds=1))
        self._last_qn = moment
        return new_qn(moment)

    # -- main loops --------------------------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._produce())
            group.create_task(self._link())

    async def _produce(self) -> None:
        cursor = self.now()
        while True:
            interval, minute = self.interval, 60
            next_rt = (math.floor(cursor / interval) + 1) * interval
            next_boundary = (math.floor(cursor / minute) + 1) * minute
            t = min(next_rt, next_boundary)
            # sleep until t, unless a command changes the clock or the interval first
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(self.clock.wall_deadline(t - self.offset)):
                    await self._resync.wait()
            if self._resync.is_set():
                self._resync.clear()
                cursor = self.now()
                continue
            if t == next_boundary:
                self._boundary(int(t))
            if t == next_rt and self.realtime_on:
                cp, factors = self.model.realtime(t)
                self._enqueue(Outgoing("2011", cp, factors, encrypt=True))
            cursor = t

    def _boundary(self, end: int) -> None:
        """Statistics for periods that end at ``end``; DataTime is the period start."""
        minutes = self.min_interval * 60
        if end % minutes == 0:
            self._enqueue(self._period_out("2051", end - minutes, minutes))
        if end % 3600 == 0:
            self._enqueue(self._period_out("2061", end - 3600, 3600))
        if end % 86400 == 0:
            self._enqueue(self._period_out("2031", end - 86400, 86400))

    def _period_out(self, cn: str, start: int, seconds: int) -> Outgoing:
        cp, factors = self.model.period(start, seconds, self.interval)
        return Outgoing(cn, cp, factors, encrypt=True)

    def _enqueue(self, out: Outgoing) -> None:
        # Made while offline = back-fill; but not what piles up before the very first connection attempt.
        out.backfill = not self.connected and self._attempted
        if len(self.outbox) >= self.options.max_buffer:
            self.outbox.popleft()  # a full logger overwrites its oldest records
            self.stats.dropped += 1
        self.outbox.append(out)
        self._wake.set()

    async def _link(self) -> None:
        opts = self.options
        await asyncio.sleep(self.rng.uniform(0.0, opts.start_spread_s))  # no thundering herd
        failures = 0
        sessions = 0
        while True:
            self._attempted = True
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races
                # with a successful connect, and the run would then never stop
                async with asyncio.timeout(opts.connect_timeout_s):
                    reader, writer = await asyncio.open_connection(self.host, self.port)
            except (OSError, TimeoutError):
                self.stats.connect_failures += 1
                failures += 1
                delay = min(opts.backoff_s[1], opts.backoff_s[0] * 2 ** (failures - 1))
                await asyncio.sleep(delay * self.rng.uniform(0.5, 1.0))
                continue
            failures = 0
            sessions += 1
            if sessions > 1:
                self.stats.reconnects += 1
            dropped_on_purpose = await self._session(reader, writer)
            if dropped_on_purpose:
                # a flaky link: stay away a while (the producer keeps producing, as back-fill)
                await self.clock.sleep(self.rng.uniform(*opts.outage_sim_s))
            else:
                await asyncio.sleep(opts.backoff_s[0] * self.rng.uniform(0.5, 1.0))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Run one connection; True when it ended because we dropped it on purpose."""
        session = Session(writer)
        self.connected = True
        jobs: list[Callable[[], Awaitable[None]]] = [
            lambda: self._read(reader, session),
            lambda: self._write(session),
            lambda: self._resend(session),
            lambda: self._commands(session),
        ]
        if self.version is ProtocolVersion.V2025:
            jobs.append(lambda: self._heartbeat(session))
        tasks = [asyncio.ensure_future(job()) for job in jobs]
        disturber = asyncio.ensure_future(self._disturbance()) if self.disturb else None
        try:
            watched = tasks + ([disturber] if disturber else [])
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            return disturber is not None and disturber in done
        finally:
            self.connected = False
            for task in [*tasks, *([disturber] if disturber else [])]:
                task.cancel()
            # collect every outcome: a reset connection is an expected way for a session to end, anything
            # else is a bug worth a log line, but must not take the other devices down
            outcomes = await asyncio.gather(
                *tasks, *([disturber] if disturber else []), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, Exception) and not isinstance(outcome, _LINK_ERRORS):
                    log.error("simulated logger %s: session task failed", self.device.mn, exc_info=outcome)
            self._requeue_pending()
            writer.close()
            try:
                async with asyncio.timeout(self.options.connect_timeout_s):
                    await writer.wait_closed()
            except TimeoutError:
                writer.transport.abort()  # the peer does not read what is left: do not wait forever
            except OSError:
                pass

    async def _disturbance(self) -> None:
        await self.clock.sleep(self.rng.expovariate(1.0 / self.options.mean_uptime_sim_s))

    def _requeue_pending(self) -> None:
        """Packets sent but not acknowledged go back first, to be sent again after reconnecting; they and
        whatever was still queued will arrive late, so all of it is back-fill now."""
        for item in reversed(list(self.pending.values())):
            item.out.resend = True
            self.outbox.appendleft(item.out)
        self.pending.clear()
        for out in self.outbox:
            out.backfill = True

    # -- sending -----------------------------------------------------------------------------------

    async def _write(self, session: Session) -> None:
        while True:
            if not self.outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            out = self.outbox.popleft()
            try:
                await self.send(session, out)
            except BaseException:
                if out.qn not in self.pending:  # (a pending one is requeued with the others)
                    self.outbox.appendleft(out)  # not sent: keep it for the next session
                raise

    async def send(self, session: Session, out: Outgoing) -> None:
        if out.qn is None:
            out.qn = self._next_qn()
        frames = build_frames(
            self.device,
            out,
            max_segment_chars=self.options.max_segment_chars,
            max_frame_bytes=self.options.max_frame_bytes,
        )
        for frame in frames:
            session.writer.write(frame)
        self._count(out.cn, len(frames), resend=out.resend)
        if out.backfill:
            self.stats.backfilled += 1
        if out.ack:
            deadline = asyncio.get_running_loop().time() + self.options.ack_timeout_s
            self.pending[out.qn] = _Pending(out, frames, deadline)
        await session.writer.drain()

    def _count(self, cn: str, frames: int, *, resend: bool = False) -> None:
        self.stats.packets_sent += frames
        self.stats.by_cn[cn] += frames
        if resend:
            self.stats.resends += frames

    async def _resend(self, session: Session) -> None:
        opts = self.options
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(0.5, opts.ack_timeout_s / 4))
            now = loop.time()
            for qn, item in list(self.pending.items()):
                if item.deadline > now:
                    continue
                if item.tries > opts.ack_retries:
                    del self.pending[qn]  # the logger gives up; the host can still ask for history
                    self.stats.gave_up += 1
                    continue
                remaining = item.frames[item.acked :]
                for frame in remaining:
                    session.writer.write(frame)
                self._count(item.out.cn, len(remaining), resend=True)
                item.tries += 1
                item.deadline = now + opts.ack_timeout_s
            await session.writer.drain()

    async def _heartbeat(self, session: Session) -> None:
        while True:
            frame = encode(header_for(self.device, self._next_qn(), "9015", ack=True), {})
            session.writer.write(frame)
            self._count("9015", 1)
            self.stats.heartbeats += 1
            await session.writer.drain()
            await self.clock.sleep(self.options.heartbeat_sim_s)

    # -- receiving ---------------------------------------------------------------------------------

    async def _read(self, reader: asyncio.StreamReader, session: Session) -> None:
        connection = Connection(max_frame_bytes=self.options.max_frame_bytes, policy_for=self._policy_for)
        loop = asyncio.get_running_loop()
        while True:
            data = await reader.read(65536)
            if not data:
                return  # the server closed the connection
            connection.receive_data(data, now=loop.time())
            while True:
                event = connection.next_event()
                if event is NEED_DATA:
                    break
                if isinstance(event, Packet):
                    self._on_packet(event, session)
                elif isinstance(event, ProtocolError):
                    self.stats.bad_replies += 1

    def _policy_for(self, mn: str) -> DevicePolicy:
        return self._policy

    def _on_packet(self, packet: Packet, session: Session) -> None:
        if packet.cn == "9014":
            self.stats.acks_received += 1
            item = self.pending.get(packet.qn or "")
            if item is not None:
                item.acked += 1
                if item.acked >= len(item.frames):
                    del self.pending[packet.qn or ""]
        elif packet.cn in ("9013", "9011", "9012"):
            return  # heartbeat answers and the like: nothing to do
        elif packet.qn:
            session.commands.put_nowait(packet)

    # -- host commands -----------------------------------------------------------------------------

    async def _commands(self, session: Session) -> None:
        while True:
            packet = await session.commands.get()
            await answer(self, session, packet)
            self.stats.commands_answered += 1

    async def write(self, session: Session, cn: str, frame: bytes) -> None:
        """Write a frame that wants no ack (replies, uploads inside a request exchange)."""
        session.writer.write(frame)
        self._count(cn, 1)
        await session.writer.drain()

    def set_clock(self, device_time: float) -> None:
        """CN 1012: the host sets the logger's clock; the schedule restarts from the new time."""
        self.offset = device_time - self.clock.now()
        self._resync.set()

    def set_interval(self, seconds: float) -> None:
        """CN 1062: a new real-time interval, effective from the next sample."""
        self.interval = seconds
        self._resync.set()
