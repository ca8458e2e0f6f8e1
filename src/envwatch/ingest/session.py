"""One TCP connection from a data logger: the asyncio adapter around the sans-I/O ``hj212.Connection``.

Theory of operation
-------------------
Bytes in → ``hj212.Connection`` → events. Every event becomes an ``InboundFrame`` for the writer with a
verdict: ``ok`` for a packet of a registered device with the right PW, otherwise the reason it was
refused (``unknown_mn``, ``bad_pw``, ``bad_data``, or the protocol error kind). Only ``ok`` data packets
carry measurements. Replies wait for the commit: the frame's ``done`` callback sends the 9014 (data
acknowledgement, only when the packet's Flag asks for one) or the 9013 (notify / heartbeat), so nothing is
acknowledged that is not on disk.

Limits: frames committed-but-not-yet are counted per connection; past ``connection_buffer_bytes`` the
connection stops reading (TCP then pushes back on the device) until the writer catches up. After
``auth_failures_before_close`` refused packets the connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from envwatch.core.clock import format_device_time, utcnow
from envwatch.hj212 import (
    NEED_DATA,
    Connection,
    ErrorKind,
    MessageComplete,
    Packet,
    ProtocolError,
    data_ack,
    decode_frame,
    key_update_reply,
    notify_ack,
)
from envwatch.ingest.store import FrameOutcome, InboundFrame, PacketData
from envwatch.monitoring.records import measurement_kind
from envwatch.monitoring.schema import KIND_BY_CN
from envwatch.registry.device_keys import new_key as random_key
from envwatch.registry.store import DeviceRecord

if TYPE_CHECKING:
    from envwatch.ingest.gateway import Gateway

log = logging.getLogger(__name__)

# verdicts after which the device gets its reply (the frame is durably logged; sending it again cannot help)
_ACKABLE = frozenset({"ok", "duplicate", "conflict", "bad_data"})
# device → host notifications answered with 9013: 9015 heartbeat (2025), 1013 time-calibration request
_NOTIFY_CNS = frozenset({"9015", "1013"})
# NewSK is 16 printable ASCII characters without ; , = & (the data-segment delimiters)
# Data packets' CP is parsed by the writer process, not on the event loop (the largest part of decoding;
# docs/architecture.md, Performance); a malformed CP comes back as the frame's verdict, not acknowledged.
_LAZY_CP_CNS = frozenset(KIND_BY_CN)


class DeviceSession(asyncio.Protocol):
    # a gateway holds one per connection, up to max_connections: no per-instance dict
    # (docs/operations/capacity.md, memory per connection)
    __slots__ = (
        "auth_failures",
        "closed",
        "conn",
        "device",
        "device_ids",
        "eof",
        "gw",
        "in_flight_bytes",
        "last_activity",
        "paused",
        "peer",
        "transport",
    )

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        s = gateway.settings
        self.conn = Connection(
            max_frame_bytes=s.max_frame_bytes,
            policy_for=gateway.directory.policy_for,
            reassembly_timeout=s.reassembly_timeout_s,
            lazy_cp_cns=_LAZY_CP_CNS,
        )
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.device: DeviceRecord | None = None  # the last device authenticated on this connection
        self.device_ids: set[int] = set()
        self.auth_failures = 0
        self.in_flight_bytes = 0
        self.paused = False
        self.closed = False
        self.eof = False
        self.last_activity = 0.0

    # --- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.last_activity = self.gw.loop.time()
        if not self.gw.admit(self):
            self.closed = True
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        now = self.gw.loop.time()
        self.last_activity = now
        self.conn.receive_data(data, now)
        self.drain_events()

    def eof_received(self) -> bool:
        self._end_of_stream()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self._end_of_stream()
            self.closed = True
        self.gw.release(self)

    def _end_of_stream(self) -> None:
        if not self.eof:
            self.eof = True
            self.conn.receive_data(b"", self.gw.loop.time())  # a half frame at disconnect becomes TRUNCATED
            self.drain_events()

    def pause_writing(self) -> None:  # the device reads slowly: stop reading from it too
        self.gw.pause(self)

    def resume_writing(self) -> None:
        self.gw.maybe_resume(self)

    # --- sending ----------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self, why: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            log.info("closing %s (%s): %s", self.peer, self.device.mn if self.device else "-", why)
            self.transport.close()

    # --- events -----------------------------------------------------------------------------------
    def drain_events(self) -> None:
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, Packet):
                self._on_packet(event)
            elif isinstance(event, ProtocolError):
                self._on_error(event)
            elif isinstance(event, MessageComplete):
                pass  # every part was stored (and acknowledged) as it arrived
        if self.auth_failures >= self.gw.settings.auth_failures_before_close:
            self.close(f"{self.auth_failures} packets with unknown MN or wrong PW")

    def _on_error(self, err: ProtocolError) -> None:
        if err.kind is ErrorKind.DECRYPT_FAILED and self._with_previous_key(err):
            return
        device = self.gw.directory.get(err.mn)
        self._submit(
            InboundFrame(
                received_at=utcnow(),
                peer=self.peer,
                raw=err.raw,
                verdict=err.kind.value,
                reason=err.reason,
                device_id=device.id if device else None,
                mn=err.mn,
                cn=err.cn,
                qn=err.qn,
            ),
            packet=None,
        )

    def _with_previous_key(self, err: ProtocolError) -> bool:
        """After a key rotation the logger may not have taken the new key (the NewSK reply was lost):
        its frames then decrypt with the key before, which the registry keeps accepting (and with which
        the logger can ask for a new key again)."""
        previous = self.gw.directory.previous_key(err.mn)
        policy = self.gw.directory.policy_for(err.mn) if err.mn else None
        if previous is None or policy is None:
            return False
        retried = decode_frame(err.raw, replace(policy, sm4_key=previous))
        if not isinstance(retried, Packet):
            return False
        log.warning("MN %s still uses the SM4 key before its latest rotation", err.mn)
        self._on_packet(retried)
        return True

    def _on_packet(self, packet: Packet) -> None:
        frame = InboundFrame(
            received_at=utcnow(),
            peer=self.peer,
            raw=packet.raw,
            verdict="ok",
            mn=packet.mn,
            cn=packet.cn,
            qn=packet.qn,
        )
        device = self.gw.directory.get(packet.mn)
        if packet.mn is None:
            frame.verdict, frame.reason = "malformed", "no MN in the header"
        elif device is None:
            frame.verdict, frame.reason = "unknown_mn", f"MN {packet.mn} is not registered"
            self.auth_failures += 1
        elif packet.pw != device.pw:
            frame.verdict, frame.reason = "bad_pw", f"wrong PW for MN {packet.mn}"
            frame.device_id = device.id
            self.auth_failures += 1
        else:
            frame.device_id = device.id
            self._authenticated(device)
            self.gw.commands.on_packet(self, packet)
            if packet.cn == "1014" and device.protocol == "2025":
                self._submit(frame, None)
                self._rotate_key(packet, device)
                return
            if measurement_kind(packet.cn) is not None:
                backfill = packet.backfill or self.gw.commands.is_history_upload(self, packet.cn)
                frame.data = PacketData(packet.cp, packet.factors, backfill, packet.cp_text)
        self._submit(frame, packet)

    def _rotate_key(self, packet: Packet, device: DeviceRecord) -> None:
        """CN 1014 (HJ 212-2025 §6.4.3): the logger asks for a new SM4 key.

        The new key is random (fixed or patterned keys are forbidden) and, as NewSK travels as 16 ASCII
        characters, drawn from 86 printable characters (about 103 bits); it is stored as a new ``device_keys`` row,
        and sent encrypted with the current key once that row is committed; from then on the gateway
        expects the new key. A logger that misses the reply keeps the old key, fails to decrypt, and asks
        again: its packets stay in the raw log meanwhile and are not acknowledged, so it sends them again.
        """
        new_key = random_key()
        now = utcnow()
        d = self.gw.sql
        p = d.param
        sql = f"INSERT INTO device_keys (device_id, key_hex, source, created_at) VALUES ({p}, {p}, {p}, {p})"

        def committed(error: str | None) -> None:
            if error is not None or self.closed:
                log.error("key rotation for %s not stored: %s", device.mn, error or "connection closed")
                return
            self.send(
                key_update_reply(
                    packet, new_key=new_key, sk_create_time=format_device_time(now), sm4_key=device.sm4_key
                )
            )
            self.gw.directory.set_key(device.mn, new_key)
            self.device = self.gw.directory.get(device.mn)

        self.gw.writer.submit_statement(
            sql, (device.id, new_key.hex().upper(), "cn1014", d.time(now)), committed
        )

    def _authenticated(self, device: DeviceRecord) -> None:
        self.device = device
        if device.id not in self.device_ids:
            self.device_ids.add(device.id)
            self.gw.attach(device, self)

    def _submit(self, frame: InboundFrame, packet: Packet | None) -> None:
        size = len(frame.raw)
        self.in_flight_bytes += size

        def done(outcome: FrameOutcome) -> None:
            self.in_flight_bytes -= size
            if packet is not None and outcome.committed and outcome.verdict in _ACKABLE:
                self._reply(packet)
            self.gw.maybe_resume(self)

        frame.done = done
        self.gw.writer.submit(frame)
        self.gw.frames_in += 1
        if self.in_flight_bytes > self.gw.settings.connection_buffer_bytes:
            self.gw.pause(self)
        self.gw.check_backlog()

    def _reply(self, packet: Packet) -> None:
        if self.closed:
            return
        if packet.cn in _NOTIFY_CNS:
            self.send(notify_ack(packet))
        elif packet.needs_ack and packet.cn not in ("9011", "9012", "9013", "9014"):
            self.send(data_ack(packet))
            self.gw.acks_sent += 1
