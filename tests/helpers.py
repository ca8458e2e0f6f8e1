"""Small builders shared by tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from envwatch.monitoring.schema import measurements
from envwatch.monitoring.store import MeasurementQuery, read_measurements
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
