"""A month of hour records on one outlet, for the monthly outlet report's tests (unit, HTTP, browser).

Each device of the outlet sends, for every clock hour of the month, SO2 (rated) and O2 (not rated).
SO2 is ``day_value(d)`` all day on day d of the month, except: day 5 at 03:00 (China time) is 99.10
flagged C (calibration: invalid, above the hour limit), and day 6 at 10:00 is covered by a maintenance
mark (标记维护: invalid, decided by the mark). Day 10's value is above the day limit (30), never above
the hour limit (35).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count

from sqlalchemy import Connection, Engine, insert

from envwatch.monitoring.day_counts import day_start
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark
from envwatch.monitoring.schema import measurements
from envwatch.registry import service, service_limits
from envwatch.registry.models import DeviceFactorIn, EmissionLimitIn, OutletIn
from envwatch.registry.store import import_devices, load_devices
from tests.helpers import device_row

SO2, O2, NOX = "a21026", "a19001", "a21002"
HOUR = timedelta(hours=1)
CALIBRATION_DAY, CALIBRATION_HOUR = 5, 3
MARKED_DAY, MARKED_HOUR = 6, 10
ABOVE_DAY = 10
_packets = count(1_000_000)


def day_value(day: int) -> str:
    """SO2 of every hour of the month's day ``day`` (exact decimal text, two places)."""
    return "31.50" if day == ABOVE_DAY else f"{10 + day % 10}.50"


def china_hour(month: date, day: int, hour: int) -> datetime:
    return day_start(month.replace(day=day)) + hour * HOUR


def register(engine: Engine, mns: list[str], now: datetime) -> dict[str, int]:
    """The data loggers (outside any open transaction: the registry import writes on its own)."""
    import_devices(engine, [device_row(mn) for mn in mns], now)
    return {mn: rec.id for mn, rec in load_devices(engine).items()}


def add_outlet(
    conn: Connection,
    enterprise_id: int,
    mns: list[str],
    now: datetime,
    *,
    code: str = "DA001",
    factors: tuple[str, ...] = (SO2,),
) -> int:
    """A gas outlet with SO2 limits (hour 35, day 30 mg/m3) and the registered ``mns`` on it, ``factors``
    rated, O2 not."""
    outlet = service.create_outlet(conn, enterprise_id, OutletIn(code=code, name="锅炉排口", kind="gas"), now)
    limit = EmissionLimitIn(
        factor=SO2, hour_limit=Decimal("35"), day_limit=Decimal("30"), unit="mg/m3",
        valid_from=date(2020, 1, 1), legal_source="GB 13223-2011 表1",
    )  # fmt: skip
    service_limits.add_emission_limit(conn, outlet["id"], limit, now)
    for mn in mns:
        service.set_device_outlet(conn, mn, outlet["id"], now)
        rated = [DeviceFactorIn(factor=f, unit="mg/m3") for f in factors]
        service.upsert_device_factors(
            conn, mn, [*rated, DeviceFactorIn(factor=O2, unit="%", rated=False)], now
        )
    return int(outlet["id"])


def add_month(conn: Connection, device_id: int, month: date, *, factors: tuple[str, ...] = (SO2,)) -> None:
    """Every hour of ``month`` for the device, as described in the module docstring."""
    rows = []
    hour = day_start(month)
    end = day_start((month + timedelta(days=32)).replace(day=1))
    while hour < end:
        china = hour + timedelta(hours=8)
        value, flag = day_value(china.day), "N"
        if (china.day, china.hour) == (CALIBRATION_DAY, CALIBRATION_HOUR):
            value, flag = "99.10", "C"
        fields = {f: {"Avg": value, "Flag": flag} for f in factors}
        fields[O2] = {"Avg": "8.0", "Flag": "N"}
        rows.append(
            {
                "device_id": device_id, "kind": "hour", "data_time": hour, "part": 0, "factors": fields,
                "packet_id": next(_packets), "backfill": False, "received_at": hour + HOUR,
            }
        )  # fmt: skip
        hour += HOUR
    conn.execute(insert(measurements), rows)
    start = china_hour(month, MARKED_DAY, MARKED_HOUR)
    create_mark(
        conn,
        device_id,
        MarkDraft(
            factor=None,
            start=start,
            end=start + HOUR,
            code="maintenance",
            reason="更换滤芯",
            source="enterprise",
        ),
        created_by="tester",
        now=start + 2 * HOUR,  # entered in time: not a late mark
        policy=MarkPolicy(),
    )
