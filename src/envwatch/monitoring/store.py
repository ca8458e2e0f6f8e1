"""Reading measurements and conflicts back (the API and, later, validity and aggregation use these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from envwatch.monitoring.schema import measurement_conflicts, measurements


@dataclass(frozen=True)
class MeasurementQuery:
    device_id: int
    kind: str
    start: datetime
    end: datetime
    factor: str | None = None
    limit: int = 1000


def read_measurements(engine: Engine, q: MeasurementQuery) -> tuple[list[dict[str, Any]], bool]:
    """Rows in time order; the bool says whether ``limit`` cut the result."""
    m = measurements.c
    query = (
        select(measurements)
        .where(m.device_id == q.device_id, m.kind == q.kind, m.data_time >= q.start, m.data_time < q.end)
        .order_by(m.data_time, m.factor)
        .limit(q.limit + 1)
    )
    if q.factor:
        query = query.where(m.factor == q.factor)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return rows[: q.limit], len(rows) > q.limit


def read_conflicts(engine: Engine, device_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    c = measurement_conflicts.c
    query = select(measurement_conflicts).where(c.device_id == device_id).order_by(c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
