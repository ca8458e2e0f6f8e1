"""Reading measurements and conflicts back (the API and, later, validity and aggregation use these)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from envwatch.monitoring.records import factor_values
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
    """One row per factor and DataTime, in time then factor order; the bool says whether ``limit`` cut
    the result. ``value`` is the exact Decimal of Rtd (rtd) or Avg, None when that is not a number."""
    out: list[dict[str, Any]] = []
    for row in _factor_rows(engine, q):
        if len(out) == q.limit:
            return out, True
        out.append(row)
    return out, False


def _factor_rows(engine: Engine, q: MeasurementQuery) -> Iterator[dict[str, Any]]:
    m = measurements.c
    query = (
        select(measurements)
        .where(m.device_id == q.device_id, m.kind == q.kind, m.data_time >= q.start, m.data_time < q.end)
        .order_by(m.data_time, m.part)
    )
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=500).execute(query).mappings()
        pending: list[dict[str, Any]] = []  # the parts of one DataTime, merged before they are given out
        for record in result:
            if pending and pending[0]["data_time"] != record["data_time"]:
                yield from sorted(pending, key=lambda r: r["factor"])
                pending = []
            factors = record["factors"]
            if isinstance(factors, str):
                factors = json.loads(factors)
            for fv in factor_values(q.kind, factors):
                if q.factor is None or fv.factor == q.factor:
                    pending.append(
                        {
                            "device_id": record["device_id"],
                            "kind": record["kind"],
                            "data_time": record["data_time"],
                            "factor": fv.factor,
                            "value": None if fv.value is None else Decimal(fv.value),
                            "flag": fv.flag,
                            "fields": dict(fv.fields),
                            "packet_id": record["packet_id"],
                            "backfill": record["backfill"],
                            "received_at": record["received_at"],
                        }
                    )
        yield from sorted(pending, key=lambda r: r["factor"])


def read_conflicts(engine: Engine, device_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    c = measurement_conflicts.c
    query = select(measurement_conflicts).where(c.device_id == device_id).order_by(c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
