"""Reading the raw packet log after a cursor, in id order, and waiting out ids not yet committed.

Raw packet ids are handed out before their transaction commits (``ingest.store.PacketStore.allocate_ids``:
a PostgreSQL sequence shared by every writer, or one writer's counter on SQLite). A reader can therefore
see id 12 committed while id 11 is still in an open transaction of another writer; a cursor moved past
11 would skip it for ever. An id missing below a present one is either such an open transaction or one
rolled back (or a sequence jump after a crash) and then never comes. :class:`GapWaiter` tells them apart
by time: the log is read only up to the first gap first seen less than ``upstream_gap_wait_s`` ago; an
older gap counts as rolled back. The wait is a bound on how long a writer's transaction stays open (one
batch of ``writer_batch_max`` frames: well under a second normally).

Only ``raw_packets.id`` is used to order and page (the table may be partitioned by time on PostgreSQL with a
primary key of (id, received_at); the id stays unique and increasing).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from envwatch.ingest.schema import raw_packets

__all__ = ["GapWaiter", "LogRow", "forwardable", "read_after", "start_cursor"]


@dataclass(frozen=True)
class LogRow:
    id: int
    received_at: datetime
    device_id: int | None
    mn: str | None
    qn: str | None
    raw: bytes | None  # only for a packet of a forwarded verdict and CN (the bytes of others are not read)


def forwardable(verdicts: Collection[str], cns: Collection[str]) -> ColumnElement[bool]:
    """The SQL condition of a raw packet eligible for forwarding (before the device filter)."""
    return and_(
        raw_packets.c.verdict.in_(list(verdicts)),
        raw_packets.c.cn.in_(list(cns)),
        raw_packets.c.device_id.is_not(None),
    )


def read_after(
    conn: Connection, after: int, limit: int, verdicts: Collection[str], cns: Collection[str]
) -> list[LogRow]:
    """Up to ``limit`` raw packets with id > ``after``, in id order; ``raw`` set on forwardable ones."""
    c = raw_packets.c
    raw = case((forwardable(verdicts, cns), c.raw), else_=None)
    rows = conn.execute(
        select(c.id, c.received_at, c.device_id, c.mn, c.qn, raw.label("raw"))
        .where(c.id > after)
        .order_by(c.id)
        .limit(limit)
    )
    return [LogRow(r.id, r.received_at, r.device_id, r.mn, r.qn, r.raw) for r in rows]


def start_cursor(conn: Connection, since: datetime | None) -> int:
    """Where a new upstream starts: after the last packet received before ``since`` (None: the log's end,
    so only packets from now on are forwarded)."""
    query = select(func.coalesce(func.max(raw_packets.c.id), 0))
    if since is not None:
        query = query.where(raw_packets.c.received_at < since)
    return int(conn.execute(query).scalar_one())


class GapWaiter:
    """Which rows read after a cursor may be taken now, given the ids missing between them (module doc)."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self._first_seen: dict[int, float] = {}  # present id after a gap -> when the gap was first seen
        self.waiting = False  # the last ``settle`` stopped at a gap

    def settle(self, after: int, rows: Sequence[LogRow], now: float) -> list[LogRow]:
        taken: list[LogRow] = []
        previous = after
        self.waiting = False
        for row in rows:
            if row.id > previous + 1:
                seen = self._first_seen.setdefault(row.id, now)
                if now - seen < self.wait_s:
                    self.waiting = True
                    break
                self._first_seen.pop(row.id, None)
            taken.append(row)
            previous = row.id
        for passed in [k for k in self._first_seen if k <= previous]:
            del self._first_seen[passed]
        return taken
