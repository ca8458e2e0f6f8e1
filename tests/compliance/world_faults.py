"""Builders for the ``rates`` and ``faults`` rule-pack tests, on top of ``tests/operations/faults_world``
(the registry: 甲 with GAS, GAS2 on gas outlet DA001 and WATER on DW001, 运维甲's contract on 甲; 乙 with B and
no contract; LOOSE on no outlet) and ``tests/reports/month_world`` (a month of hour records).

- :func:`add_hours`: hour records of a device over [start, end), every hour, for the given factors;
- :func:`calibrate`: a calibration field record (SX-18.4's restart check reads them);
- :func:`judge`: one rule evaluated through ``rule.evaluate(RuleContext(...))`` on a connection of its own;
- :func:`with_params`: the settings with ``compliance_params`` overridden.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import Connection, insert

from envwatch.core.settings import Settings
from envwatch.monitoring.schema import measurements
from envwatch.operations.records_schema import field_records
from envwatch.operations.staff_schema import staff
from tests.compliance.judging import judge as judge

HOUR = timedelta(hours=1)
_packets = count(3_000_000)


def add_hours(
    conn: Connection,
    device_id: int,
    start: datetime,
    end: datetime,
    factors: tuple[str, ...],
    *,
    received_at: datetime | None = None,
) -> None:
    """One normal hour record (value 12.50, flag N) per hour of [start, end) with ``factors``; received an
    hour after the hour ended unless ``received_at`` is given (a back-fill, 补传)."""
    rows = []
    hour = start
    while hour < end:
        rows.append(
            {
                "device_id": device_id, "kind": "hour", "data_time": hour, "part": 0,
                "factors": {f: {"Avg": "12.50", "Flag": "N"} for f in factors},
                "packet_id": next(_packets), "backfill": received_at is not None,
                "received_at": received_at or hour + HOUR,
            }
        )  # fmt: skip
        hour += HOUR
    if rows:
        conn.execute(insert(measurements), rows)


def add_staff(conn: Connection, operator_id: int, now: datetime) -> int:
    return int(
        conn.execute(
            insert(staff).values(
                operator_id=operator_id, name="张工", position="field_engineer", phone="", username=None,
                active=True, created_at=now, updated_at=now,
            ).returning(staff.c.id)
        ).scalar_one()
    )  # fmt: skip


def calibrate(conn: Connection, device_id: int, operator_id: int, staff_id: int, at: datetime) -> int:
    """A passing calibration record of the device performed (and recorded) at ``at``."""
    return int(
        conn.execute(
            insert(field_records).values(
                kind="calibration", device_id=device_id, operator_id=operator_id, staff_id=staff_id,
                performed_at=at, on_site="unknown", payload={}, verdict="pass", note="",
                supersedes_id=None, keep_until=date(2030, 1, 1), recorded_by="fs1", recorded_at=at,
            ).returning(field_records.c.id)
        ).scalar_one()
    )  # fmt: skip


def with_params(settings: Settings, params: dict[str, dict[str, Any]]) -> Settings:
    return settings.model_copy(update={"compliance_params": params})
