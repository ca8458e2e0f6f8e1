"""Reading the raw packet log and device status (for the API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from envwatch.ingest.schema import device_status, raw_packets
from envwatch.registry.schema import devices


@dataclass(frozen=True)
class PacketQuery:
    mn: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    verdict: str | None = None
    before_id: int | None = None
    limit: int = 100


def read_packets(engine: Engine, q: PacketQuery) -> list[dict[str, Any]]:
    """Newest first; page with ``before_id`` = the smallest id of the previous page."""
    c = raw_packets.c
    query = select(raw_packets).order_by(c.id.desc()).limit(q.limit)
    if q.mn:
        query = query.where(c.mn == q.mn)
    if q.start:
        query = query.where(c.received_at >= q.start)
    if q.end:
        query = query.where(c.received_at < q.end)
    if q.verdict:
        query = query.where(c.verdict == q.verdict)
    if q.before_id:
        query = query.where(c.id < q.before_id)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def read_devices(engine: Engine) -> list[dict[str, Any]]:
    query = (
        select(
            devices.c.id,
            devices.c.mn,
            devices.c.name,
            devices.c.enterprise,
            devices.c.outlet,
            devices.c.kind,
            devices.c.protocol,
            devices.c.crc_variants,
            device_status.c.online,
            device_status.c.last_seen,
            device_status.c.last_peer,
            device_status.c.changed_at,
        )
        .outerjoin(device_status, device_status.c.device_id == devices.c.id)
        .order_by(devices.c.enterprise, devices.c.name)
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def device_id_for(engine: Engine, mn: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(select(devices.c.id).where(devices.c.mn == mn)).scalar()
