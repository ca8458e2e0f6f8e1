"""Parquet export benchmark: export speed and size, and DuckDB query times over the export.

Two measurements, never mixed up:

* ``db``: the real ``envwatch export parquet`` path (monitoring.parquet_export.export_measurements) from a
  store filled with ``--db-devices`` devices × ``--db-days`` days of hourly records (9 factors each): rows
  per second from the database to Parquet, on SQLite and, with ``--postgres URL``, on PostgreSQL.
* ``generated``: ``--devices`` devices × ``--months`` months of hourly data (a year for 10 000 devices is
  87.6 M device-hours, 788 M rows) made in memory by vectorised NumPy/Arrow and written through the same
  PartitionedWriter (same schema, compression, row groups, manifest with SHA-256): the Parquet writing
  alone, as filling a database with a year first would take hours on this 2-core machine. Then DuckDB
  queries over the files: monthly averages per device, exceedance counts, effective data counts, and one
  device-day.

    .venv/bin/python -m bench.parquet --devices 10000 --months 12 --out-dir /work/tmp/parquet-bench

The output directory is deleted at the end unless ``--keep``. Figures go in docs/analytics.md.
This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, insert

from envwatch.core.clock import CHINA_TZ
from envwatch.core.db import engine_from_url, make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from envwatch.monitoring.parquet_export import (
    DECIMAL,
    SCHEMA,
    ExportQuery,
    PartitionedWriter,
    export_measurements,
    month_of,
)
from envwatch.monitoring.schema import measurements
from envwatch.registry.store import DeviceRow, import_devices

FACTORS = ("a00000", "a01011", "a01012", "a01013", "a01014", "a19001", "a21002", "a21026", "a34013")
START = datetime(2025, 1, 1, tzinfo=CHINA_TZ)  # a whole China year


def mn_of(i: int) -> str:
    return f"PQ{i:022X}"


def cents(device: Any, hour: Any, factor: Any) -> Any:
    """Deterministic values 0.00-49.99 (in hundredths) for (device, hour, factor): ints or arrays."""
    return (device * 7919 + hour * 31 + factor * 17) % 5000


# --- the database path ------------------------------------------------------------------------------


def fill_store(engine: Engine, devices: int, days: int) -> int:
    """devices × days × 24 hourly records with 9 factors; returns the number of factor values."""
    now = datetime.now(UTC)
    rows = [
        DeviceRow(mn_of(i), "123456", f"pq {i}", "bench", f"outlet {i}", "gas", "2017", None, "standard")
        for i in range(devices)
    ]
    import_devices(engine, rows, now)
    hours = days * 24
    with engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM devices ORDER BY id")]
    packet = 0
    for n, device_id in enumerate(ids):
        batch = []
        for h in range(hours):
            at = (START + timedelta(hours=h)).astimezone(UTC)
            factors = {}
            for f, code in enumerate(FACTORS):
                v = int(cents(n, h, f))
                factors[code] = {"Avg": f"{v / 100:.2f}", "Min": "0.00", "Max": "49.99", "Flag": "N"}
            packet += 1
            batch.append(
                {
                    "device_id": device_id,
                    "kind": "hour",
                    "data_time": at,
                    "part": 0,
                    "factors": factors,
                    "packet_id": packet,
                    "backfill": False,
                    "received_at": at + timedelta(hours=1),
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(measurements), batch)
    return devices * hours * len(FACTORS)


def db_export(engine: Engine, days: int, out: Path) -> dict[str, Any]:
    start = START.astimezone(UTC)
    query = ExportQuery(start, start + timedelta(days=days), ("hour",))
    t0 = time.perf_counter()
    manifest = export_measurements(engine, query, out)
    seconds = time.perf_counter() - t0
    size = sum(f["bytes"] for f in manifest["files"])
    return {
        "rows": manifest["rows"],
        "seconds": round(seconds, 2),
        "rows_per_s": round(manifest["rows"] / seconds),
        "bytes": size,
        "bytes_per_row": round(size / max(1, manifest["rows"]), 2),
    }


# --- the generated year ------------------------------------------------------------------------------


def _decimal_hundredths(values: np.ndarray) -> pa.Array:
    """int64 hundredths (non-negative) as decimal128(18, 2) without a Python loop."""
    words = np.zeros((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(values), [None, pa.py_buffer(words)])


def month_table(count: int, month_start: datetime, hours: int, hour0: int) -> pa.Table:
    """Rows of ``count`` devices over ``hours`` hours from month_start, in device, time, factor order;
    device columns are set per block by :func:`for_block` (the values repeat from block to block)."""
    nf = len(FACTORS)
    n = count * hours * nf
    idx = np.arange(n, dtype=np.int64)
    device = idx // (hours * nf)
    hour = (idx // nf) % hours
    factor = idx % nf
    value = cents(device, hour0 + hour, factor)
    dec2 = _decimal_hundredths(value)
    text = pc.cast(dec2, pa.string())
    base = np.datetime64(month_start.astimezone(UTC).replace(tzinfo=None), "us")
    times = base + hour.astype("timedelta64[h]")
    fields = pc.binary_join_element_wise('{"Avg":"', text, '","Min":"0.00","Max":"49.99","Flag":"N"}', "")
    columns = {
        "device_id": pa.array(device.astype(np.int32)),
        "mn": pa.array([""] * n),
        "data_time": pa.array(times, type=pa.timestamp("us", tz="UTC")),
        "factor": pa.array(FACTORS).take(pa.array(factor)),
        "value": text,
        "value_decimal": pc.cast(dec2, DECIMAL),
        "flag": pa.array(["N"]).take(pa.array(np.zeros(n, dtype=np.int8))),
        "fields": fields,
        "backfill": pa.array(np.zeros(n, dtype=bool)),
        "packet_id": pa.array(idx // nf),
        "received_at": pa.array(times + np.timedelta64(1, "h"), type=pa.timestamp("us", tz="UTC")),
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def for_block(template: pa.Table, first: int, count: int, packets_before: int) -> pa.Table:
    """The template for devices first..first+count-1: their ids, MNs and packet ids."""
    rows = template.num_rows * count // _template_devices(template)
    t = template.slice(0, rows)
    local = t.column("device_id").to_numpy()
    mns = pa.array([mn_of(i) for i in range(first, first + count)])
    t = t.set_column(0, SCHEMA.field("device_id"), pa.array((local + first + 1).astype(np.int32)))
    t = t.set_column(1, SCHEMA.field("mn"), mns.take(pa.array(local)))
    packets = t.column("packet_id").to_numpy() + packets_before
    return t.set_column(SCHEMA.get_field_index("packet_id"), SCHEMA.field("packet_id"), pa.array(packets))


def _template_devices(template: pa.Table) -> int:
    return int(pc.max(template.column("device_id")).as_py()) + 1


def generated_export(devices: int, months: int, out: Path, block: int) -> dict[str, Any]:
    """Returns the figures; ``write_s`` counts only the PartitionedWriter (writing, hashing, manifest)."""
    writer = PartitionedWriter(out, chunk_rows=1_000_000)
    t0 = time.perf_counter()
    write_s = 0.0
    hour0 = 0
    packets = 0
    for m in range(months):
        month_start = datetime(START.year + m // 12, m % 12 + 1, 1, tzinfo=CHINA_TZ)
        nxt = datetime(START.year + (m + 1) // 12, (m + 1) % 12 + 1, 1, tzinfo=CHINA_TZ)
        hours = int((nxt - month_start).total_seconds() // 3600)
        template = month_table(min(block, devices), month_start, hours, hour0)
        for first in range(0, devices, block):
            count = min(block, devices - first)
            table = for_block(template, first, count, packets)
            packets += count * hours
            w0 = time.perf_counter()
            writer.write_table("hour", month_of(month_start), table)
            write_s += time.perf_counter() - w0
        hour0 += hours
    w0 = time.perf_counter()
    manifest = writer.close({"generated": True, "devices": devices, "months": months})
    write_s += time.perf_counter() - w0
    seconds = time.perf_counter() - t0
    size = sum(f["bytes"] for f in manifest["files"])
    return {
        "device_hours": devices * hour0,
        "rows": manifest["rows"],
        "total_s": round(seconds, 1),
        "write_s": round(write_s, 1),
        "write_rows_per_s": round(manifest["rows"] / write_s),
        "bytes": size,
        "gib": round(size / 2**30, 2),
        "bytes_per_row": round(size / max(1, manifest["rows"]), 2),
    }


QUERIES = {
    "monthly_average_per_device_and_factor": """
        SELECT device_id, factor, month, avg(value_decimal) AS avg
        FROM hours GROUP BY ALL""",
    "exceedance_hours_per_device_month": """
        SELECT device_id, month, count(*) AS exceedances
        FROM hours JOIN (VALUES ('a21026', 35.0), ('a21002', 45.0), ('a34013', 8.0)) l(factor, hour_limit)
             USING (factor)
        WHERE flag = 'N' AND value_decimal > hour_limit GROUP BY ALL""",
    "effective_hours_per_device_factor_month": """
        SELECT device_id, factor, month, count(*) FILTER (WHERE flag = 'N' AND value IS NOT NULL) AS effective
        FROM hours GROUP BY ALL""",
    "one_device_day": """
        SELECT data_time, factor, value FROM hours
        WHERE device_id = 4321 AND data_time >= TIMESTAMPTZ '2025-06-01 00:00:00+08'
          AND data_time < TIMESTAMPTZ '2025-06-02 00:00:00+08' ORDER BY ALL""",
}


def _one(con: Any, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def duckdb_queries(out: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW hours AS SELECT * FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true)"
    )
    timings: dict[str, Any] = {"threads": _one(con, "SELECT current_setting('threads')")}
    for name, sql in QUERIES.items():
        t0 = time.perf_counter()
        n = _one(con, f"SELECT count(*) FROM ({sql})")
        timings[name] = {"seconds": round(time.perf_counter() - t0, 2), "result_rows": n}
    return timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--block", type=int, default=200, help="devices per generated table")
    ap.add_argument("--db-devices", type=int, default=1000)
    ap.add_argument("--db-days", type=int, default=30)
    ap.add_argument("--postgres", help="also a PostgreSQL server database URL (a scratch database)")
    ap.add_argument("--skip", choices=["db", "generated"], action="append", default=[])
    ap.add_argument("--out-dir", type=Path, default=None, help="where the files go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="envwatch-parquet-", dir=args.out_dir))
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "pyarrow": pa.__version__,
    }
    try:
        if "db" not in args.skip:
            stores: list[tuple[str, Engine]] = []
            settings = Settings(data_dir=work / "store", _env_file=None)
            stores.append(("sqlite", make_engine(settings)))
            if args.postgres:
                stores.append(("postgresql", engine_from_url(args.postgres)))
            for name, engine in stores:
                upgrade(engine)
                t0 = time.perf_counter()
                values = fill_store(engine, args.db_devices, args.db_days)
                fill_s = time.perf_counter() - t0
                shape = f"{args.db_devices} devices x {args.db_days} days hourly"
                result[f"db_{name}"] = {
                    "data": shape,
                    "fill_s": round(fill_s, 1),
                    "factor_values": values,
                    **db_export(engine, args.db_days, work / f"db-{name}"),
                }
                engine.dispose()
                print(json.dumps(result[f"db_{name}"]), flush=True)
        if "generated" not in args.skip:
            out = work / "generated"
            result["generated"] = {
                "data": f"{args.devices} devices x {args.months} months hourly, 9 factors",
                **generated_export(args.devices, args.months, out, args.block),
            }
            print(json.dumps(result["generated"]), flush=True)
            result["duckdb"] = duckdb_queries(out)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"parquet-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
