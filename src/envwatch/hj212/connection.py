"""The sans-I/O connection: bytes in, events out (h11 style).

Theory of operation
-------------------
The caller owns the socket and the clock::

    conn = Connection(policy_for=registry_lookup)
    conn.receive_data(chunk, now=loop_time)        # b"" when the peer closed
    while not isinstance(event := conn.next_event(), NeedData):
        ...                                       # Packet / MessageComplete / ProtocolError
        if isinstance(event, Packet) and event.needs_ack:
            transport.write(data_ack(event))      # after the packet is durably stored

``receive_data`` frames the bytes (:mod:`framing`), decodes each frame (:mod:`decode`) with the
policy of the frame's MN, and feeds split parts to the reassembler (:mod:`reassembly`); the
resulting events wait in a queue for ``next_event``. Work is done eagerly in ``receive_data`` so
that ``buffered_bytes`` (what a gateway caps) only counts bytes of a frame still in progress.

Invariants
----------
* ``receive_data`` and ``next_event`` never raise because of the bytes received: every problem is
  a :class:`ProtocolError` event with a specific reason (only a ``policy_for`` callback that
  raises can make them raise).
* ``buffered_bytes <= max_frame_bytes + 1`` whenever ``receive_data`` has returned.
* Events come out in stream order; a MessageComplete follows the Packet that completed it.
* Partial split messages quiet for ``reassembly_timeout`` seconds become INCOMPLETE_MESSAGE events,
  checked on every ``receive_data(now)`` and ``expire(now)``; at EOF they are reported at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from envwatch.hj212 import codes
from envwatch.hj212.decode import decode_with
from envwatch.hj212.encode import encode
from envwatch.hj212.framing import Framer, RawFrame
from envwatch.hj212.packet import NEED_DATA, DevicePolicy, Event, NeedData, Packet
from envwatch.hj212.reassembly import Reassembler
from envwatch.hj212.version import ProtocolVersion

__all__ = ["Connection", "OutgoingPacket"]


@dataclass(frozen=True)
class OutgoingPacket:
    """A packet to send, for :meth:`Connection.send` (``encode`` takes the same parts)."""

    header: Mapping[str, str]
    cp: Mapping[str, str] | str = field(default_factory=dict)
    factors: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # None: encrypt when the device's policy has an SM4 key and HJ 212-2025 §6.4.4 requires
    # encryption for this CN (2000-2999, 1014, 3020). True: always (a key is required). False: never.
    encrypt: bool | None = None


class Connection:
    # one per TCP connection and a gateway may hold 100 000 of them: no per-instance dict
    __slots__ = (
        "_events",
        "_framer",
        "_lazy_cp_cns",
        "_next",
        "_peer_mn",
        "_peer_version",
        "_policy_for",
        "_reassembler",
        "max_frame_bytes",
    )

    def __init__(
        self,
        *,
        max_frame_bytes: int = 4096,
        policy_for: Callable[[str], DevicePolicy | None] | None = None,
        reassembly_timeout: float = 60.0,
        max_pending_messages: int = 64,
        lazy_cp_cns: frozenset[str] = frozenset(),
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._policy_for = policy_for
        self._lazy_cp_cns = lazy_cp_cns  # CNs whose CP stays text (see decode.decode_details)
        self._framer = Framer(max_frame_bytes)
        self._reassembler = Reassembler(timeout=reassembly_timeout, max_pending=max_pending_messages)
        # events not yet taken, from index _next: a list, as an empty deque costs ~700 bytes per connection
        self._events: list[Event] = []
        self._next = 0
        self._peer_mn: str | None = None
        self._peer_version: ProtocolVersion | None = None

    # --- receiving -------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float = 0.0) -> None:
        """Feed bytes read from the peer; ``b""`` means the peer closed (end of stream)."""
        events = self._events
        events.extend(self._reassembler.expire(now))
        eof = not data
        for chunk in self._framer.feed(data, eof=eof):
            if not isinstance(chunk, RawFrame):
                events.append(chunk)
                continue
            event = decode_with(chunk.data, self._policy_for, self._lazy_cp_cns)
            events.append(event)
            if isinstance(event, Packet):
                self._peer_mn = event.mn or self._peer_mn
                self._peer_version = event.version
                if event.is_split:
                    events.extend(self._reassembler.add(event, now))
        if eof:
            events.extend(self._reassembler.flush("the connection closed"))

    def next_event(self) -> Event | NeedData:
        """The next event, or ``NEED_DATA`` when everything received so far has been consumed."""
        events = self._events
        if self._next < len(events):
            event = events[self._next]
            self._next += 1
            if self._next == len(events):  # all taken: drop the list's storage
                events.clear()
                self._next = 0
            return event
        return NEED_DATA

    def expire(self, now: float) -> None:
        """Report partial split messages quiet for ``reassembly_timeout`` seconds (as events)."""
        self._events.extend(self._reassembler.expire(now))

    @property
    def buffered_bytes(self) -> int:
        """Bytes of an unfinished frame (or unclassified garbage) held; at most max_frame_bytes + 1."""
        return self._framer.buffered_bytes

    @property
    def pending_messages(self) -> int:
        """Split messages with parts still missing."""
        return self._reassembler.pending

    @property
    def peer_mn(self) -> str | None:
        """The MN of the latest packet decoded on this connection."""
        return self._peer_mn

    @property
    def peer_version(self) -> ProtocolVersion | None:
        """The protocol version of the latest packet decoded on this connection."""
        return self._peer_version

    # --- sending ---------------------------------------------------------------------------------

    def send(self, packet: OutgoingPacket) -> bytes:
        """The bytes to write for ``packet`` (standard CRC, encrypted per ``packet.encrypt``)."""
        key: bytes | None = None
        if packet.encrypt is not False:
            mn = packet.header.get("MN")
            policy = self._policy_for(mn) if self._policy_for is not None and mn is not None else None
            key = policy.sm4_key if policy is not None else None
            if packet.encrypt is None and not codes.must_encrypt(packet.header.get("CN", "")):
                key = None
            if packet.encrypt and key is None:
                raise ValueError(f"encryption requested but no SM4 key is configured for MN={mn}")
        return encode(packet.header, packet.cp, packet.factors, sm4_key=key)
