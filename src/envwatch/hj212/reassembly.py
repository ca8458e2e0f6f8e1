"""Reassembly of split messages (PNUM/PNO).

Theory of operation
-------------------
A message too long for one packet is sent as PNUM packets numbered PNO 1..PNUM, all carrying the
same MN, QN and CN, with the D bit of Flag set. Each part is useful on its own (it is a complete
packet with its own DataTime/factors, and with Flag=7 it must be acknowledged on arrival), so the
connection emits every part as a :class:`Packet` as it arrives and the reassembler only adds a
:class:`MessageComplete` event once every PNO has been seen.

Invariants
----------
* At most ``max_pending`` messages are incomplete at a time; opening one more evicts the one that
  has been quiet longest, reported as INCOMPLETE_MESSAGE (memory stays bounded whatever a device
  sends).
* A message quiet for ``timeout`` seconds (measured from its *latest* part, so a long history
  upload that keeps making progress is not cut off) is reported as INCOMPLETE_MESSAGE.
* A repeated PNO (a retransmission) replaces the earlier copy; a different PNUM for the same key
  reports the old message incomplete and starts over.
* Time is an argument (``now``); nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envwatch.hj212.errors import ErrorKind, ProtocolError
from envwatch.hj212.packet import MessageComplete, Packet

__all__ = ["Reassembler"]

Key = tuple[str | None, str | None, str | None]


@dataclass
class _Pending:
    pnum: int
    last_seen: float
    parts: dict[int, Packet] = field(default_factory=dict)


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"`` (keeps reasons short for big PNUMs)."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs) or "none"


class Reassembler:
    __slots__ = ("_max", "_pending", "_timeout")  # one per connection (see Connection)

    def __init__(self, *, timeout: float, max_pending: int) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._timeout = timeout
        self._max = max_pending
        # Insertion order == order of last activity (entries are moved to the end on update).
        self._pending: dict[Key, _Pending] = {}

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, packet: Packet, now: float) -> list[MessageComplete | ProtocolError]:
        """Record one split part; returns a MessageComplete when it was the last one missing."""
        pnum, pno = packet.pnum, packet.pno
        assert pnum is not None and pno is not None, "only split packets are reassembled"
        key: Key = (packet.mn, packet.qn, packet.cn)
        events: list[MessageComplete | ProtocolError] = []
        entry = self._pending.pop(key, None)
        if entry is not None and entry.pnum != pnum:
            events.append(self._incomplete(key, entry, f"PNUM changed to {pnum}; started over"))
            entry = None
        if entry is None:
            if len(self._pending) >= self._max:
                old_key = next(iter(self._pending))
                old = self._pending.pop(old_key)
                events.append(self._incomplete(old_key, old, f"evicted: over {self._max} pending messages"))
            entry = _Pending(pnum=pnum, last_seen=now)
        entry.parts[pno] = packet
        entry.last_seen = now
        if len(entry.parts) == pnum:
            parts = tuple(entry.parts[number] for number in sorted(entry.parts))
            events.append(MessageComplete(mn=key[0], qn=key[1], cn=key[2], parts=parts))
        else:
            self._pending[key] = entry
        return events

    def expire(self, now: float) -> list[ProtocolError]:
        """Messages quiet for at least ``timeout`` seconds, reported and forgotten."""
        if not self._pending:  # nearly always: this runs on every read of every connection
            return []
        due = [key for key, entry in self._pending.items() if now - entry.last_seen >= self._timeout]
        return [
            self._incomplete(key, self._pending.pop(key), f"no new part for {self._timeout:g} s")
            for key in due
        ]

    def flush(self, why: str) -> list[ProtocolError]:
        """Every pending message, reported incomplete (e.g. the connection closed)."""
        events = [self._incomplete(key, entry, why) for key, entry in self._pending.items()]
        self._pending.clear()
        return events

    def _incomplete(self, key: Key, entry: _Pending, why: str) -> ProtocolError:
        mn, qn, cn = key
        have = sorted(entry.parts)
        missing = [n for n in range(1, entry.pnum + 1) if n not in entry.parts]
        parts = tuple(entry.parts[n] for n in have)
        return ProtocolError(
            kind=ErrorKind.INCOMPLETE_MESSAGE,
            reason=(
                f"MN={mn} QN={qn} CN={cn}: have PNO {_ranges(have)} of PNUM {entry.pnum}, "
                f"missing {_ranges(missing)}; {why}"
            ),
            raw=b"",
            mn=mn,
            header=parts[0].header if parts else {},
            parts=parts,
        )
