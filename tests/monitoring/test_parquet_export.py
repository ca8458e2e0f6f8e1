"""The Parquet export (monitoring.parquet_export, ``envwatch export parquet``) over real stores, read back
with PyArrow and DuckDB."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.monitoring.day_counts import day_start
from envwatch.monitoring.hourly_view import device_hours
from envwatch.monitoring.parquet_export import (
    ExportQuery,
    china_period,
    export_measurements,
    read_rows,
    verify_export,
)
from envwatch.monitoring.schema import measurements
from envwatch.monitoring.store import MeasurementQuery, read_measurements
from tests.helpers import (
    GAS_MN,
    NOW,
    WATER_MN,
    enterprise_with_outlet,
    put_measurement,
    register_demo_devices,
)

SO2, NOX, O2 = "a21026", "a21002", "a19001"
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
_packets = count(1)


def china(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CHINA_TZ).astimezone(UTC)


def put(
    engine: Engine,
    device_id: int,
    kind: str,
    at: datetime,
    factors: dict[str, dict[str, str]],
    part: int = 0,
) -> None:
    put_measurement(
        engine, device_id, kind, at, factors, part=part, backfill=part == 1, received_at=at + HOUR
    )


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return fill(engine)


def fill(engine: Engine) -> dict[str, int]:
    ids = register_demo_devices(engine)
    gas, water = ids[GAS_MN], ids[WATER_MN]
    # hours across a month boundary in China time (2026-10-31 23:00 is 15:00 UTC, still October)
    for h, at in enumerate([china(2026, 10, 31, 22), china(2026, 10, 31, 23), china(2026, 11, 1, 0)]):
        put(engine, gas, "hour", at, {SO2: {"Avg": f"12.{h}0", "Min": "1", "Max": "20", "Flag": "N"}})
    put(engine, gas, "hour", china(2026, 11, 1, 1), {SO2: {"Avg": "--", "Flag": "D"}, O2: {"Avg": "6.5"}})
    # a later packet added a factor to the same hour (part 1)
    put(engine, gas, "hour", china(2026, 11, 1, 1), {NOX: {"Avg": "0.0000000001", "Flag": "N"}}, part=1)
    put(engine, gas, "minute", china(2026, 11, 1, 1, 5), {SO2: {"Avg": "3.25", "Flag": "N"}})
    put(engine, water, "hour", china(2026, 11, 1, 0), {"w01018": {"Avg": "123456.789", "Flag": "N"}})
    put(engine, gas, "hour", china(2026, 12, 1, 0), {SO2: {"Avg": "9", "Flag": "N"}})  # outside the period
    return ids


PERIOD = china_period(date(2026, 10, 1), date(2026, 11, 30))


def platform_rows(engine: Engine, device_id: int, kind: str) -> list[dict[str, Any]]:
    q = MeasurementQuery(device_id, kind, *PERIOD, limit=100_000)
    return read_measurements(engine, q)[0]


def comparable(row: dict[str, Any]) -> tuple[Any, ...]:
    value = row["value"]
    return (
        row["device_id"],
        row["data_time"],
        row["factor"],
        None if value is None else Decimal(value),
        row["flag"],
        row["fields"] if isinstance(row["fields"], dict) else json.loads(row["fields"]),
        row["packet_id"],
        row["backfill"],
    )


def test_the_export_holds_exactly_what_the_store_gives_out(
    engine: Engine, ids: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "export"
    manifest = export_measurements(engine, ExportQuery(*PERIOD, kinds=("hour", "minute")), out)
    files = {(f["kind"], f["month"]): f for f in manifest["files"]}
    assert set(files) == {("hour", "2026-10"), ("hour", "2026-11"), ("minute", "2026-11")}
    assert files[("hour", "2026-10")]["rows"] == 2  # the China month, not the UTC one

    for kind in ("hour", "minute"):
        exported = read_rows(out / f["path"] for f in manifest["files"] if f["kind"] == kind)
        expected = platform_rows(engine, ids[GAS_MN], kind) + platform_rows(engine, ids[WATER_MN], kind)
        assert sorted(map(comparable, exported), key=repr) == sorted(map(comparable, expected), key=repr)
        # the text exactly as sent, and the same number as an exact decimal
        for row in exported:
            if row["value"] is not None and row["value"] != "0.0000000001":
                assert row["value_decimal"] == Decimal(row["value"])
    rows = read_rows(out / f["path"] for f in manifest["files"])
    assert {r["value"] for r in rows} >= {"12.00", "12.10", "12.20", "123456.789", "3.25"}
    [tiny] = [r for r in rows if r["factor"] == NOX]
    assert (tiny["value"], tiny["value_decimal"]) == ("0.0000000001", None)  # too fine: never rounded
    assert manifest["values_not_in_decimal"] == 1
    assert manifest["rows"] == len(rows) == sum(f["rows"] for f in manifest["files"])
    assert verify_export(out) == []


def test_verify_finds_a_changed_file_and_the_cli_says_so(sqlite_engine: Engine, tmp_path: Path) -> None:
    fill(sqlite_engine)
    out = tmp_path / "export"
    manifest = export_measurements(sqlite_engine, ExportQuery(*PERIOD), out)
    assert CliRunner().invoke(app, ["export", "verify", str(out)]).exit_code == 0
    victim = out / manifest["files"][0]["path"]
    data = bytearray(victim.read_bytes())
    data[10] ^= 1
    victim.write_bytes(bytes(data))
    assert verify_export(out) == [f"{manifest['files'][0]['path']}: SHA-256 differs from the manifest"]
    result = CliRunner().invoke(app, ["export", "verify", str(out)])
    assert result.exit_code == 1 and "SHA-256 differs" in result.output


def test_region_and_enterprise_choose_the_devices(
    engine: Engine, ids: dict[str, int], tmp_path: Path
) -> None:
    with engine.begin() as conn:
        eid, _ = enterprise_with_outlet(
            conn, ids[GAS_MN], credit_code="91320500MA00000001", region_code="320505"
        )
    by_region = export_measurements(engine, ExportQuery(*PERIOD, region="3205"), tmp_path / "a")
    by_enterprise = export_measurements(engine, ExportQuery(*PERIOD, enterprise_id=eid), tmp_path / "b")
    elsewhere = export_measurements(engine, ExportQuery(*PERIOD, region="11"), tmp_path / "c")
    assert by_region["devices"] == by_enterprise["devices"] == 1 and by_region["rows"] == 6
    assert (elsewhere["devices"], elsewhere["rows"], elsewhere["files"]) == (0, 0, [])


def test_bad_queries_and_a_used_directory_are_refused(sqlite_engine: Engine, tmp_path: Path) -> None:
    engine = sqlite_engine
    start, end = PERIOD
    for q in (
        ExportQuery(end, start),
        ExportQuery(start, end, kinds=("second",)),
        ExportQuery(start, end, region="32x"),
        ExportQuery(start.replace(tzinfo=None), end),
    ):
        with pytest.raises(InvalidInput):
            export_measurements(engine, q, tmp_path / "x")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="not empty"):
        export_measurements(engine, ExportQuery(start, end), tmp_path / "used")


def test_duckdb_over_the_export_gives_the_platforms_hourly_average(
    sqlite_engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    engine = sqlite_engine  # the export's reading is checked on both stores above
    ids = register_demo_devices(engine)
    device = ids[GAS_MN]
    day = date(2026, 11, 20)
    rows = []
    for h in range(3):
        for m in range(60):
            # 48 valid minutes with varied exact values, 12 calibration minutes (flag C) that must not count
            fields = {"Avg": f"{10 + h}.{m:02d}", "Flag": "N"} if m < 48 else {"Avg": "1000", "Flag": "C"}
            rows.append((day_start(day) + h * HOUR + m * MINUTE, fields))
    with engine.begin() as conn:
        conn.execute(
            insert(measurements),
            [
                {
                    "device_id": device,
                    "kind": "minute",
                    "data_time": at,
                    "part": 0,
                    "factors": {SO2: fields},
                    "packet_id": next(_packets),
                    "backfill": False,
                    "received_at": at + MINUTE,
                }
                for at, fields in rows
            ],
        )
    out = tmp_path / "export"
    export_measurements(engine, ExportQuery(*china_period(day, day), kinds=("minute",)), out)
    with engine.connect() as conn:
        platform = device_hours(conn, settings, device, SO2, day_start(day), day_start(day) + 3 * HOUR, NOW)
    # the hourly average of valid (flag N) minutes with the 45-minute rule, as docs/analytics.md shows it
    query = f"""
        SELECT epoch(date_trunc('hour', data_time)) AS hour, avg(value_decimal) AS avg, count(*) AS n
        FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true)
        WHERE kind = 'minute' AND device_id = {device} AND factor = '{SO2}' AND flag = 'N'
        GROUP BY ALL HAVING count(*) >= 45 ORDER BY hour
    """
    duck = duckdb.sql(query).fetchall()
    assert [row["source"] for row in platform] == ["minutes"] * 3
    assert len(duck) == 3
    for p, (hour, avg, n) in zip(platform, duck, strict=True):
        assert hour == p["start"].timestamp() and n == 48
        assert abs(Decimal(str(avg)) - p["value"]) < Decimal("1e-9"), (avg, p["value"])


def test_the_cli_exports_with_a_summary(sqlite_engine: Engine, settings: Settings, tmp_path: Path) -> None:
    ids = register_demo_devices(sqlite_engine)
    put(sqlite_engine, ids[GAS_MN], "hour", china(2026, 11, 2, 3), {SO2: {"Avg": "7.5", "Flag": "N"}})
    out = tmp_path / "export"
    args = ["export", "parquet", str(out), "--from", "2026-11-01", "--to", "2026-11-30"]
    result = CliRunner().invoke(app, [*args, "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "1 rows from 3 devices in 1 files" in result.output
    assert json.loads((out / "manifest.json").read_text())["query"]["kinds"] == ["hour"]
