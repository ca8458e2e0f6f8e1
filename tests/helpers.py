"""Small builders shared by tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from envwatch.monitoring.schema import measurements
from envwatch.monitoring.store import MeasurementQuery, read_measurements
from envwatch.registry.schema import devices, enterprises, outlets
from envwatch.registry.store import DeviceRow, import_devices, load_devices

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
GAS_MN = "010000A8900016F000169DC0"
WATER_MN = "010000A8900016F000169DC1"
SM4_MN = "010000A8900016F000169DC2"
TEST_KEY_HEX = "30" * 16  # the HJ 212-2025 Appendix A.2 test key: 16 x "0"


def device_row(mn: str, *, kind: str = "gas", protocol: str = "2017", key: str | None = None) -> DeviceRow:
    return DeviceRow(
        mn=mn,
        pw="123456",
        name=f"logger {mn[-4:]}",
        enterprise="示例电厂",
        outlet="1号排口",
        kind=kind,
        protocol=protocol,
        sm4_key=key,
        crc_variants="standard",
    )


def register_demo_devices(engine: Engine) -> dict[str, int]:
    import_devices(
        engine,
        [
            device_row(GAS_MN),
            device_row(WATER_MN, kind="water"),
            device_row(SM4_MN, protocol="2025", key=TEST_KEY_HEX),
        ],
        NOW,
    )
    return {mn: rec.id for mn, rec in load_devices(engine).items()}


def stored_factors(engine: Engine, *, kind: str | None = None) -> list[dict[str, Any]]:
    """Every stored factor value (the per-factor view readers get), in time and factor order."""
    rows: list[dict[str, Any]] = []
    with engine.connect() as c:
        ids = c.execute(select(measurements.c.device_id, measurements.c.kind).distinct()).all()
    for device_id, k in sorted(ids):
        if kind is None or k == kind:
            query = MeasurementQuery(
                device_id, k, datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
            )
            rows.extend(read_measurements(engine, replace(query, limit=1_000_000))[0])
    return rows


def first_uncovered_year(after: int = 2025) -> int:
    """The first year after ``after`` that the installed chinese-calendar has no data for. It gains a year each
    winter (when the State Council publishes it), so a test about an unknown year must not name one."""
    from envwatch.core.workdays import WorkdayCalendar

    calendar = WorkdayCalendar()
    return next(y for y in range(after + 1, 2200) if not calendar.covers(y))


_packet_ids = count(1)


def put_measurement(
    engine: Engine,
    device_id: int,
    kind: str,
    at: datetime,
    factors: dict[str, dict[str, str]],
    *,
    part: int = 0,
    backfill: bool = False,
    received_at: datetime | None = None,
) -> None:
    """One measurement record stored directly (a made-up packet id), received an hour and 30 s after its
    data time unless ``received_at`` says otherwise."""
    with engine.begin() as conn:
        conn.execute(
            insert(measurements).values(
                device_id=device_id,
                kind=kind,
                data_time=at,
                part=part,
                factors=factors,
                packet_id=next(_packet_ids),
                backfill=backfill,
                received_at=received_at or at + timedelta(hours=1, seconds=30),
            )
        )


def add_enterprise(conn: Connection, *, name: str, credit_code: str, region_code: str) -> int:
    """An enterprise with the fields a test does not care about left empty; its id."""
    enterprise_id = conn.execute(
        insert(enterprises).values(
            name=name,
            credit_code=credit_code,
            region_code=region_code,
            industry="",
            attention_level="other",
            address="",
            created_at=NOW,
            updated_at=NOW,
        )
    ).inserted_primary_key[0]
    return int(enterprise_id)


def enterprise_with_outlet(
    conn: Connection, device_id: int, *, credit_code: str, region_code: str
) -> tuple[int, int]:
    """A power plant (示例电厂) in ``region_code`` with one gas outlet (1号排口, DA001) holding the device;
    returns (enterprise id, outlet id)."""
    enterprise_id = add_enterprise(conn, name="示例电厂", credit_code=credit_code, region_code=region_code)
    outlet_id = conn.execute(
        insert(outlets).values(
            enterprise_id=enterprise_id,
            code="DA001",
            name="1号排口",
            kind="gas",
            created_at=NOW,
            updated_at=NOW,
        )
    ).inserted_primary_key[0]
    conn.execute(update(devices).where(devices.c.id == device_id).values(outlet_id=outlet_id))
    return enterprise_id, int(outlet_id)
