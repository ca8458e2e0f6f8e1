"""The in-flight window of one upstream link, sans-I/O: what is sent, what awaits its 9014, the cursor.

Theory of operation
-------------------
Raw packets enter in id order (:meth:`Window.offer`), forwarded or not: a packet that is not for this
upstream (other region, a refusal, a duplicate) is done at once, so the cursor passes it. A packet to
forward is *queued*; :meth:`next_to_send` hands out queued packets while fewer than ``size`` await an
ack. A packet whose Flag asks for a reply (A bit, HJ 212 §6.3) on an upstream that answers 9014 stays
*sent* until :meth:`ack` matches a 9014 by (MN, QN); any other packet is done once written (the standard
has the receiver reply only when the A bit is set, so nothing more can be learnt about it).

Replies are matched to the oldest sent packet with the same (MN, QN): the parts of a split message share
their QN and are answered one by one, in order, over an ordered TCP stream. A reply matching nothing (a
late answer to a packet already resent and answered) is only counted.

:meth:`expired` returns the sent packets whose ack is overdue (``timeout`` s) for resending; past
``retries`` resends it raises :class:`LinkDown`, and the caller reconnects: :meth:`reset` then queues again
every packet not done, in id order (so a reconnect resends them, with their original QN).

Invariant: ``cursor`` only moves over a prefix of done packets, so every id up to it was forwarded (or
was not for this upstream): resuming from it after a crash loses nothing (it may repeat what was in
flight, which the upstream de-duplicates by MN + QN (+ PNO), as for any HJ 212 resend).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

__all__ = ["Item", "LinkDown", "State", "Window", "flag_of"]


class LinkDown(Exception):
    """The link to the upstream is not usable (no ack after the retries, closed, refused)."""


class State(Enum):
    QUEUED = "queued"
    SENT = "sent"  # written, its 9014 awaited
    DONE = "done"


@dataclass(eq=False)
class Item:
    id: int
    received_at: datetime
    raw: bytes | None = None  # None: not for this upstream
    mn: str | None = None
    qn: str | None = None
    wants_ack: bool = False
    state: State = State.QUEUED
    sent_at: float = 0.0
    tries: int = 0  # resends of this packet since it was last queued


def flag_of(raw: bytes) -> int | None:
    """The Flag header value of a frame (plain text even in a 2025 encrypted frame), None when absent."""
    end = raw.find(b"CP=&&")
    header = raw[6 : end if end >= 0 else len(raw)]
    for part in header.split(b";"):
        if part.startswith(b"Flag="):
            value = part[5:]
            return int(value) if value.isdigit() else None
    return None


class Window:
    def __init__(self, *, size: int, timeout: float, retries: int, acks: bool) -> None:
        self.size = size
        self.timeout = timeout
        self.retries = retries
        self.acks = acks
        self.items: deque[Item] = deque()
        self.cursor: int | None = None  # the last id popped as done
        self.last_offered: int | None = None
        self.awaiting = 0
        self.queued = 0  # packets offered and not yet handed out (kept as a count: asked every round)

    # --- in --------------------------------------------------------------------------------------
    def offer(self, item: Item) -> None:
        if self.last_offered is not None and item.id <= self.last_offered:
            raise ValueError(f"packet {item.id} offered after {self.last_offered}: ids must increase")
        self.last_offered = item.id
        if item.raw is None:
            item.state = State.DONE
        else:
            item.wants_ack = self.acks and bool((flag_of(item.raw) or 0) & 1)
            self.queued += 1
        self.items.append(item)

    @property
    def pending(self) -> int:
        """Packets offered and not yet passed by the cursor."""
        return len(self.items)

    # --- out -------------------------------------------------------------------------------------
    def next_to_send(self, now: float) -> Item | None:
        """The next queued packet if the window has room (it is then sent or, without an ack, done)."""
        if self.awaiting >= self.size or not self.queued:
            return None
        for item in self.items:
            if item.state is State.QUEUED:
                self.queued -= 1
                if item.wants_ack:
                    item.state, item.sent_at = State.SENT, now
                    self.awaiting += 1
                else:
                    item.state = State.DONE
                return item
        return None

    def ack(self, mn: str | None, qn: str | None) -> Item | None:
        """The sent packet this 9014 answers (now done), or None when it answers none."""
        for item in self.items:
            if item.state is State.SENT and item.mn == mn and item.qn == qn:
                item.state = State.DONE
                self.awaiting -= 1
                return item
        return None

    def expired(self, now: float) -> list[Item]:
        """Sent packets whose ack is overdue, to write again now (their clock restarts)."""
        due = [i for i in self.items if i.state is State.SENT and now - i.sent_at >= self.timeout]
        for item in due:
            if item.tries >= self.retries:
                raise LinkDown(
                    f"no 9014 for QN={item.qn} MN={item.mn} (raw packet {item.id}) after {item.tries} resends"
                )
        for item in due:
            item.tries += 1
            item.sent_at = now
        return due

    def next_deadline(self) -> float | None:
        sent = [i.sent_at for i in self.items if i.state is State.SENT]
        return min(sent) + self.timeout if sent else None

    def advance(self) -> int | None:
        """Pop the leading done packets; the new cursor, or None when it did not move."""
        moved = None
        while self.items and self.items[0].state is State.DONE:
            moved = self.items.popleft().id
        if moved is not None:
            self.cursor = moved
        return moved

    def reset(self) -> None:
        """After a reconnect: every packet not done is queued again, its resend count cleared."""
        for item in self.items:
            if item.state is State.SENT:
                item.state, item.tries = State.QUEUED, 0
                self.queued += 1
        self.awaiting = 0

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)
