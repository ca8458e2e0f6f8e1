"""Per-upstream state: the forwarder's row in ``upstream_status`` (cursor, counters, lease) and the figures
shown by ``envwatch upstream status`` and ``GET /api/v1/upstreams`` (lag in packets and seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from envwatch.core.settings import Settings
from envwatch.ingest.schema import raw_packets
from envwatch.ingest.upstream.config import UpstreamConfig, all_current, device_query
from envwatch.ingest.upstream.schema import upstream_status
from envwatch.ingest.upstream.source import forwardable

__all__ = ["Counters", "claim", "figures", "save"]


@dataclass
class Counters:
    """What a forwarder counts in memory and writes with its cursor."""

    sent: int = 0
    acked: int = 0
    resent: int = 0
    forwarded: int = 0
    attempts: int = 0
    connected: bool = False
    connected_since: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_sent_at: datetime | None = None
    last_ack_at: datetime | None = None

    def values(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load(conn: Connection, upstream_id: int) -> tuple[int, Counters] | None:
    row = conn.execute(select(upstream_status).where(upstream_status.c.upstream_id == upstream_id)).first()
    if row is None:
        return None
    counters = Counters(**{k: getattr(row, k) for k in Counters().values() if k != "connected"})
    return int(row.cursor), counters


def claim(conn: Connection, upstream_id: int, owner: str, now: datetime, lease_s: float) -> bool:
    """Take (or keep) the lease of ``upstream_id``: one forwarder per upstream across processes."""
    c = upstream_status.c
    result = conn.execute(
        update(upstream_status)
        .where(c.upstream_id == upstream_id)
        .where((c.owner.is_(None)) | (c.owner == owner) | (c.lease_until < now))
        .values(owner=owner, lease_until=now + timedelta(seconds=lease_s))
    )
    return result.rowcount == 1


def save(
    conn: Connection,
    upstream_id: int,
    owner: str,
    cursor: int,
    counters: Counters,
    now: datetime,
    lease_s: float,
    *,
    release: bool = False,
) -> bool:
    """Write the cursor and counters and renew the lease; False when another process holds the lease."""
    c = upstream_status.c
    result = conn.execute(
        update(upstream_status)
        .where(c.upstream_id == upstream_id, c.owner == owner)
        .values(
            cursor=cursor,
            updated_at=now,
            owner=None if release else owner,
            lease_until=None if release else now + timedelta(seconds=lease_s),
            **counters.values(),
        )
    )
    return result.rowcount == 1


def lag(
    conn: Connection, config: UpstreamConfig, cursor: int, settings: Settings, now: datetime
) -> dict[str, Any]:
    """Packets for ``config`` after its cursor, and how long the oldest of them has waited."""
    c = raw_packets.c
    where = [c.id > cursor, forwardable(settings.upstream_verdicts, settings.upstream_cns)]
    devices = device_query(config)
    if devices is not None:
        where.append(c.device_id.in_(devices))
    count = conn.execute(select(func.count()).select_from(raw_packets).where(*where)).scalar_one()
    oldest = conn.execute(select(c.received_at).where(*where).order_by(c.id).limit(1)).scalar()
    return {
        "lag_packets": int(count),
        "lag_seconds": 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()),
        "oldest_waiting": oldest,
    }


def figures(conn: Connection, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Every upstream: its current settings, its forwarder's state and its lag."""
    out = []
    for config in all_current(conn):
        row = conn.execute(select(upstream_status).where(upstream_status.c.upstream_id == config.id)).first()
        item = config.as_dict()
        state = {} if row is None else dict(row._mapping)
        state.pop("upstream_id", None)
        lease_until = state.get("lease_until")
        state["running"] = lease_until is not None and lease_until > now
        item.update(state)
        if row is not None:
            item.update(lag(conn, config, int(row.cursor), settings, now))
        out.append(item)
    return out
