"""Sending commands to connected data loggers and following each exchange (see ``exchange``).

The tracker lives in the gateway process that holds the device's TCP connection. It polls for queued
commands of the devices connected here, sends them, and appends an event for every step (through the
single writer, so the embedded store keeps one writing connection). Timers implement OverTime/ReCount.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, and_, exists, select

from envwatch.core.clock import format_device_time, utcnow
from envwatch.hj212 import HJ212Error, Packet, ProtocolVersion, command
from envwatch.hj212.segment import parse_cp
from envwatch.ingest import exchange as ex
from envwatch.ingest.schema import command_events, commands
from envwatch.ingest.store import sql_dialect

if TYPE_CHECKING:
    from envwatch.ingest.session import DeviceSession
    from envwatch.ingest.sink import FrameSink

log = logging.getLogger(__name__)


# HJ 212-2025 §6.4.4: data (2000-2999), key (1014) and site-information (3020) exchanges are encrypted.
def _encrypted_cn(cn: str) -> bool:
    return cn.startswith("2") or cn in ("1014", "3020")


@dataclass
class Active:
    id: int
    device_id: int
    cn: str
    qn: str
    params: dict[str, str]
    session: DeviceSession
    state: str = ex.QUEUED
    attempts: int = 0
    data_packets: int = 0
    timer: asyncio.TimerHandle | None = None
    sent_cp: dict[str, str] = field(default_factory=dict)


class CommandTracker:
    def __init__(
        self,
        engine: Engine,
        writer: FrameSink,
        *,
        overtime_s: float,
        recount: int,
        exec_timeout_s: float = 300.0,
        ttl_s: float = 3600.0,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.overtime_s = overtime_s
        self.recount = recount
        self.exec_timeout_s = exec_timeout_s
        self.ttl_s = ttl_s
        self.now = now
        self.by_qn: dict[str, Active] = {}
        self.sql = sql_dialect(engine)
        p = self.sql.param
        self.sql_event = (
            "INSERT INTO command_events (command_id, at, event, final, detail) "
            f"VALUES ({p}, {p}, {p}, {p}, {self.sql.json_param})"
        )

    # --- picking up queued commands ---------------------------------------------------------------
    def queued(self) -> list[dict[str, Any]]:
        """Blocking read (worker thread): commands still waiting to be sent, oldest first.

        Runs every ``commands_poll_s`` beside 5,000 packets/s, so it must stay cheap as the command log
        grows: it looks only at commands created within their time to live (an index range), and a
        command is waiting while nothing but its ``queued`` event was recorded. Every device's commands
        are read and the caller picks those of connected devices: an IN list of 1,000 ids cost the event
        loop more (compiling, binding under the interpreter lock) than the read itself.
        """
        since = self.now() - timedelta(seconds=self.ttl_s)
        return self._waiting(commands.c.created_at >= since)

    def overdue(self, window_s: float) -> list[dict[str, Any]]:
        """Waiting commands whose time to live ran out within the last ``window_s`` (see expire)."""
        cutoff = self.now() - timedelta(seconds=self.ttl_s)
        since = cutoff - timedelta(seconds=window_s)
        return self._waiting(and_(commands.c.created_at >= since, commands.c.created_at < cutoff))

    def _waiting(self, when: Any) -> list[dict[str, Any]]:
        later = select(command_events.c.id).where(
            command_events.c.command_id == commands.c.id, command_events.c.event != ex.QUEUED
        )
        query = select(commands).where(when, ~exists(later)).order_by(commands.c.id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def expire(self, row: dict[str, Any]) -> None:
        """Record that a command was never sent within its time to live (its device did not connect)."""
        self._record(row["id"], ex.EXPIRED, {"reason": f"not sent within {self.ttl_s:.0f} s"}, final=True)

    def start(self, row: dict[str, Any], session: DeviceSession) -> bool:
        """Send a queued command; False when it must wait (in progress, or another of its CN is)."""
        if row["qn"] in self.by_qn:
            return False
        created: datetime = row["created_at"]
        if self.now() - created > timedelta(seconds=self.ttl_s):
            self.expire(row)
            return True
        if any(a.session is session and a.cn == row["cn"] for a in self.by_qn.values()):
            return False  # one exchange per CN per connection at a time: uploads are matched by CN
        active = Active(row["id"], row["device_id"], row["cn"], row["qn"], dict(row["params"]), session)
        self.by_qn[active.qn] = active
        self._send(active)
        return True

    # --- the exchange -----------------------------------------------------------------------------
    def _send(self, active: Active) -> None:
        device = active.session.device
        if device is None or active.session.closed:
            self._finish(active, ex.CONNECTION_LOST, {"reason": "connection closed before sending"})
            return
        cp = dict(active.params)
        if active.cn == "1012" and "SystemTime" not in cp:
            cp["SystemTime"] = format_device_time(self.now())
        version = ProtocolVersion.V2025 if device.protocol == "2025" else ProtocolVersion.V2017
        key = device.sm4_key if version is ProtocolVersion.V2025 and _encrypted_cn(active.cn) else None
        data = command(
            cn=active.cn,
            mn=device.mn,
            pw=device.pw,
            qn=active.qn,
            version=version,
            cp=cp,
            st="31" if device.kind == "gas" else "32",
            sm4_key=key,
        )
        event = ex.RETRY if active.attempts else ex.SEND
        active.state = ex.next_state(active.state, event)
        active.attempts += 1
        active.sent_cp = cp
        active.session.send(data)
        self._record(active.id, ex.SENT, {"attempt": active.attempts, "cp": cp, "bytes": len(data)})
        self._arm(active, self.overtime_s, self._on_overtime)

    def _arm(self, active: Active, delay: float, fn: Callable[[Active], None]) -> None:
        if active.timer is not None:
            active.timer.cancel()
        active.timer = asyncio.get_running_loop().call_later(delay, fn, active)

    def _on_overtime(self, active: Active) -> None:
        if active.state != ex.SENT:
            return
        if active.attempts <= self.recount:
            self._send(active)  # HJ 212 Table 1: resend after OverTime, ReCount times
        else:
            self._finish(active, ex.GAVE_UP, {"reason": f"no reply after {active.attempts} sends"})

    def _on_exec_timeout(self, active: Active) -> None:
        if active.state == ex.ACCEPTED:
            self._finish(active, ex.EXEC_TIMEOUT, {"reason": f"no 9012 within {self.exec_timeout_s:.0f} s"})

    def on_packet(self, session: DeviceSession, packet: Packet) -> bool:
        """A packet from a device: is it part of a command exchange? Returns True when it is a reply."""
        if not self.by_qn:
            return False  # the common case, on the hot path
        cn = packet.cn
        if cn in ("9011", "9012"):
            active = self.by_qn.get(packet.qn or "")
            if active is None or active.session is not session:
                return False
            if cn == "9011":
                code = packet.cp.get("QnRtn", "")
                if code == "1":
                    if active.state == ex.SENT:
                        active.state = ex.next_state(active.state, ex.QN_RTN_OK)
                        self._record(active.id, ex.ACCEPTED, {"QnRtn": code})
                        self._arm(active, self.exec_timeout_s, self._on_exec_timeout)
                else:
                    self._finish(active, ex.QN_RTN_REFUSED, {"QnRtn": code})
            else:
                code = packet.cp.get("ExeRtn", "")
                event = ex.EXE_RTN_OK if code == "1" else ex.EXE_RTN_FAILED
                self._finish(active, event, {"ExeRtn": code, "data_packets": active.data_packets})
            return True
        # an upload with the CN of a command in progress on this connection is its data
        for active in self.by_qn.values():
            if active.session is session and active.cn == cn and active.state in (ex.SENT, ex.ACCEPTED):
                if active.state == ex.SENT:
                    active.state = ex.next_state(active.state, ex.DATA)
                    self._arm(active, self.exec_timeout_s, self._on_exec_timeout)
                active.data_packets += 1
                if cn == "1011" or cn.startswith("106"):  # small answers worth keeping in the event
                    self._record(active.id, "data", _cp_of(packet))
                return False  # still stored as data by the session
        return False

    def is_history_upload(self, session: DeviceSession, cn: str | None) -> bool:
        return bool(self.by_qn) and any(
            a.session is session and a.cn == cn and cn in ("2051", "2061", "2031")
            for a in self.by_qn.values()
        )

    def session_closed(self, session: DeviceSession) -> None:
        for active in [a for a in self.by_qn.values() if a.session is session]:
            self._finish(active, ex.CONNECTION_LOST, {"reason": "connection lost"})

    def _finish(self, active: Active, event: str, detail: dict[str, Any]) -> None:
        active.state = ex.next_state(active.state, event)
        if active.timer is not None:
            active.timer.cancel()
        self.by_qn.pop(active.qn, None)
        self._record(active.id, active.state, detail, final=True)

    def _record(self, command_id: int, event: str, detail: dict[str, Any], *, final: bool = False) -> None:
        at = self.now()

        d = self.sql
        self.writer.submit_statement(self.sql_event, (command_id, d.time(at), event, final, d.json(detail)))


def _cp_of(packet: Packet) -> dict[str, str]:
    """The CP keys of a data packet, parsing the text the gateway left for the writer (a history upload
    during a command is rare; the command's journal keeps its DataTime)."""
    if packet.cp_text is None:
        return dict(packet.cp)
    try:
        return dict(parse_cp(packet.cp_text)[0])
    except HJ212Error as exc:
        return {"error": exc.reason}
