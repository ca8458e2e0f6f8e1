"""The HJ 212 TCP gateway: accepts data-logger connections, applies the limits, runs the periodic work.

One ``Gateway`` per process. It owns the ``Writer`` thread, the ``DeviceDirectory`` (registry cache) and
the ``CommandTracker``; each TCP connection is a ``DeviceSession``.

Limits (DESIGN convention 2), all settings: ``max_connections`` (further connections are closed at once
and counted), ``idle_timeout_s`` (silent connections are closed), ``connection_buffer_bytes`` (per
connection, see session), ``writer_queue_max`` (when the writer falls this far behind, every connection
stops reading until it has caught up by half: TCP flow control slows the devices down, nothing is dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.ingest.command_claims import CommandClaims
from envwatch.ingest.directory import DeviceDirectory
from envwatch.ingest.downlink import CommandTracker
from envwatch.ingest.queue_publish import QueuePublisher, instance_name
from envwatch.ingest.session import DeviceSession
from envwatch.ingest.sink import FrameSink
from envwatch.ingest.store import sql_dialect
from envwatch.ingest.writer import Writer
from envwatch.registry.store import DeviceRecord

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.directory = DeviceDirectory(engine)
        self.sql = sql_dialect(engine)  # how hand-written statements bind values on this database
        self.instance = instance_name()
        # scale-out (docs/operations/scale-out.md): publish to JetStream, `envwatch worker` stores
        self.writer: FrameSink = (
            QueuePublisher(settings, instance=self.instance)
            if settings.queue_url
            else Writer(
                engine,
                batch_max=settings.writer_batch_max,
                lock_path=settings.data_dir / "writer.lock",
                sqlite_synchronous=settings.sqlite_synchronous,
                seen_every_s=settings.device_seen_write_s,
                offline_grace_s=settings.offline_grace_s,
                sqlite_cache_mib=settings.sqlite_writer_cache_mib,
                commit_gap_s=settings.writer_commit_gap_s,
            )
        )
        # several gateways may share a database: a command is sent by the one that claims it
        self.claims = (
            CommandClaims(engine, self.instance, settings.command_claim_lease_s)
            if engine.dialect.name != "sqlite"
            else None
        )
        self.started_commands: dict[int, Any] = {}  # id → created_at: sent (or expired) from here
        self.commands = CommandTracker(
            engine, self.writer, overtime_s=settings.command_overtime_s, recount=settings.command_recount
        )
        self.sessions: set[DeviceSession] = set()
        self.by_device: dict[int, DeviceSession] = {}
        self.paused: set[DeviceSession] = set()
        self.backlog_paused = False
        self.server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # counters shown by /api/v1/gateway
        self.accepted = 0
        self.refused = 0
        self.frames_in = 0
        self.acks_sent = 0
        self.idle_closed = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "gateway not started"
        return self._loop

    # --- life cycle -------------------------------------------------------------------------------
    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Start listening; returns the port (useful with port 0)."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.directory.reload)
        self.writer.dispatch = self.loop.call_soon_threadsafe
        self.writer.on_batch = lambda _backlog: self.loop.call_soon_threadsafe(self.check_backlog)
        self.writer.start()
        self._mark_stale_offline()
        self.server = await self.loop.create_server(
            lambda: DeviceSession(self),
            host if host is not None else self.settings.gateway_host,
            port if port is not None else self.settings.gateway_port,
            backlog=1024,
            reuse_address=True,
        )
        for coro in (self._refresh_registry(), self._sweep_idle(), self._poll_commands()):
            self._tasks.append(asyncio.create_task(coro))
        sock_port: int = self.server.sockets[0].getsockname()[1]
        log.info(
            "HJ 212 gateway listening on port %d (%d devices registered)", sock_port, len(self.directory)
        )
        return sock_port

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.server is not None:
            self.server.close()
            for session in list(self.sessions):
                session.close("gateway stopping")
            await self.server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost callbacks queue their last frames
        await asyncio.to_thread(self.writer.stop)

    # --- connections ------------------------------------------------------------------------------
    def admit(self, session: DeviceSession) -> bool:
        if len(self.sessions) >= self.settings.max_connections:
            self.refused += 1
            if self.refused % 100 == 1:
                log.warning(
                    "connection cap %d reached: refusing %s", self.settings.max_connections, session.peer
                )
            return False
        self.sessions.add(session)
        self.accepted += 1
        if self.backlog_paused:
            self.pause(session)
        return True

    def attach(self, device: DeviceRecord, session: DeviceSession) -> None:
        previous = self.by_device.get(device.id)
        self.by_device[device.id] = session
        if previous is not None and previous is not session:
            # the logger reconnected (the old socket is half-dead): the newest connection owns the device
            previous.device_ids.discard(device.id)

    def release(self, session: DeviceSession) -> None:
        self.sessions.discard(session)
        self.paused.discard(session)
        self.commands.session_closed(session)
        now = utcnow()
        for device_id in session.device_ids:
            if self.by_device.get(device_id) is session:
                del self.by_device[device_id]
                self._mark_offline(device_id, now)

    def pause(self, session: DeviceSession) -> None:
        if session not in self.paused and session.transport is not None and not session.closed:
            self.paused.add(session)
            session.transport.pause_reading()

    def maybe_resume(self, session: DeviceSession) -> None:
        if (
            session in self.paused
            and not self.backlog_paused
            and session.in_flight_bytes <= self.settings.connection_buffer_bytes // 2
            and session.transport is not None
            and not session.transport.is_closing()
        ):
            self.paused.discard(session)
            session.transport.resume_reading()

    def check_backlog(self) -> None:
        backlog = self.writer.backlog
        if not self.backlog_paused and backlog > self.settings.writer_queue_max:
            self.backlog_paused = True
            log.warning("writer backlog %d: pausing %d connections", backlog, len(self.sessions))
            for session in self.sessions:
                self.pause(session)
        elif self.backlog_paused and backlog <= self.settings.writer_queue_max // 2:
            self.backlog_paused = False
            for session in list(self.paused):
                self.maybe_resume(session)

    # --- device status ----------------------------------------------------------------------------
    def _mark_offline(self, device_id: int, at: Any) -> None:
        d = self.sql
        p = d.param
        sql = f"UPDATE device_status SET online = FALSE, changed_at = {p} WHERE device_id = {p} AND online = TRUE"
        params = (d.time(at), device_id)
        self.writer.submit_statement(sql, params)

    def _mark_stale_offline(self) -> None:
        """Devices marked online whose last packet is older than the idle timeout (e.g. after a crash)."""
        d = self.sql
        p = d.param
        now = utcnow()
        # last_seen may lag by up to device_seen_write_s (the writer does not store it for every packet)
        cutoff = now - timedelta(seconds=self.settings.idle_timeout_s + self.settings.device_seen_write_s)
        sql = (
            f"UPDATE device_status SET online = FALSE, changed_at = {p} "
            f"WHERE online = TRUE AND (last_seen IS NULL OR last_seen < {p})"
        )
        params = (d.time(now), d.time(cutoff))
        self.writer.submit_statement(sql, params)

    # --- periodic work ----------------------------------------------------------------------------
    async def _refresh_registry(self) -> None:
        while True:
            await asyncio.sleep(self.settings.registry_refresh_s)
            try:
                await asyncio.to_thread(self.directory.reload)
            except Exception:
                log.exception("registry reload failed; keeping the previous directory")

    async def _sweep_idle(self) -> None:
        period = max(0.05, min(self.settings.idle_timeout_s / 4, 5.0))
        ticks = 0
        while True:
            await asyncio.sleep(period)
            now = self.loop.time()
            for session in list(self.sessions):
                # the whole walk blocks the loop: with 100 000 idle connections only the few that hold
                # split messages must do more than compare a time (docs/operations/capacity.md)
                if session.conn.pending_messages:
                    session.conn.expire(now)  # split messages whose parts never came
                    session.drain_events()
                if now - session.last_activity > self.settings.idle_timeout_s:
                    self.idle_closed += 1
                    session.close(f"idle for more than {self.settings.idle_timeout_s:.0f} s")
            ticks += 1
            if ticks % max(1, int(60 / period)) == 0:
                self._mark_stale_offline()

    async def _poll_commands(self) -> None:
        polls = 0
        expiry_every = max(1, int(60 / self.settings.commands_poll_s))
        while True:
            await asyncio.sleep(self.settings.commands_poll_s)
            polls += 1
            try:
                if polls % expiry_every == 0:
                    # commands whose devices never connected in time: the window overlaps the last sweep
                    for row in await asyncio.to_thread(self.commands.overdue, 2 * 60.0):
                        if await self._claim(row):
                            self.commands.expire(row)
                            self.started_commands[row["id"]] = row["created_at"]
                if not self.by_device:
                    continue
                rows = await asyncio.to_thread(self.commands.queued)
            except Exception:
                log.exception("reading queued commands failed")
                continue
            for row in rows:
                session = self.by_device.get(row["device_id"])
                if session is None or session.closed or not await self._claim(row):
                    continue
                if self.commands.start(row, session):
                    self.started_commands[row["id"]] = row["created_at"]
            # commands past their time to live are no longer returned by queued(): forget them
            oldest = utcnow() - timedelta(seconds=self.commands.ttl_s + 300)
            for command_id in [i for i, at in self.started_commands.items() if at < oldest]:
                del self.started_commands[command_id]

    async def _claim(self, row: dict[str, Any]) -> bool:
        """Whether this gateway sends (or expires) the command: not twice from here (its events may not be
        stored yet), and, with several gateways, only by the one that wins the claim."""
        if row["id"] in self.started_commands:
            return False
        if self.claims is None:
            return True
        try:
            return await asyncio.to_thread(self.claims.claim, row["id"])
        except Exception:
            log.exception("claiming command %s failed", row["id"])
            return False

    def stats(self) -> dict[str, int]:
        return {
            "connections": len(self.sessions),
            "devices_connected": len(self.by_device),
            "connections_accepted": self.accepted,
            "connections_refused": self.refused,
            "connections_idle_closed": self.idle_closed,
            "connections_paused": len(self.paused),
            "frames_received": self.frames_in,
            "acks_sent": self.acks_sent,
            "writer_backlog": self.writer.backlog,
            "writer_batches": self.writer.batches,
            "writer_failures": self.writer.failures,
            "commands_in_progress": len(self.commands.by_qn),
        }
