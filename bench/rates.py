"""Rates benchmark: every device's quarterly effective transmission rate (有效传输率) over a quarter of data.

Fills a fresh store with a quarter (92 days, 2,208 hours) of hourly records for N devices × 6 rated
factors (1,000 × 6 ≈ 13 M values), about 5 % of them flagged invalid and some hours missing, plus
shutdown (停运, approved) and maintenance marks on a tenth of the devices. Then it measures:

1. ``rebuild``: computing the per-day counts from every stored record (what a new installation or a
   ``--rebuild`` costs; in operation the counts follow the data as it arrives);
2. ``quarter``: every device's quarterly rate, with the counts up to date (the target: < 10 s);
3. ``after back-fill``: the same after a late back-fill of one day for 100 devices (the incremental
   refresh of the touched days plus the rates).

    .venv/bin/python bench/rates.py                       # embedded SQLite
    .venv/bin/python bench/rates.py --postgres             # PostgreSQL on 127.0.0.1 (database test)

Figures go in README.md (Performance). This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, make_url, select, text

from envwatch.core.db import SQLITE_TIME_FORMAT, make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from envwatch.monitoring.day_counts import day_start, refresh_day_counts
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark, review_mark
from envwatch.monitoring.rates import RateQuery, compute_rates
from envwatch.monitoring.schema import measurements
from envwatch.registry.schema import device_factors
from envwatch.registry.store import DeviceRow, import_devices, load_devices

FACTORS = ("a21026", "a21002", "a34013", "a19001", "a01012", "a01011")  # SO2 NOx PM O2 T v
FIRST, LAST = date(2026, 7, 1), date(2026, 9, 30)
NOW = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)  # 10:00 China time on the day after the quarter


def mn_of(i: int) -> str:
    return f"BR{i:022X}"


def factors_json(rng: random.Random) -> str:
    """One hour record: each factor flagged invalid with 5 % probability."""
    parts = []
    for code in FACTORS:
        flag = "N" if rng.random() >= 0.05 else rng.choice("CMD")
        value = f"{rng.uniform(1, 90):.2f}"
        parts.append(f'"{code}":{{"Min":"{value}","Avg":"{value}","Max":"{value}","Flag":"{flag}"}}')
    return "{" + ",".join(parts) + "}"


def rows(device_ids: list[int], rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """(device_id, data_time, factors, packet_id, received_at) for every stored hour; ~1 % missing."""
    start = day_start(FIRST)
    hours = (LAST - FIRST).days * 24 + 24
    variants = [factors_json(rng) for _ in range(512)]
    packet_id = 0
    for device_id in device_ids:
        for h in range(hours):
            if rng.random() < 0.01:
                continue
            packet_id += 1
            t = start + timedelta(hours=h)
            yield device_id, t, variants[rng.randrange(512)], packet_id, t + timedelta(hours=1, seconds=20)


def load_sqlite(engine: Engine, device_ids: list[int], rng: random.Random) -> int:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        n = 0
        batch: list[tuple[Any, ...]] = []
        for device_id, t, factors, packet_id, received in rows(device_ids, rng):
            batch.append(
                (
                    device_id,
                    "hour",
                    t.replace(tzinfo=None).strftime(SQLITE_TIME_FORMAT),
                    0,
                    factors,
                    packet_id,
                    0,
                    received.replace(tzinfo=None).strftime(SQLITE_TIME_FORMAT),
                )
            )
            if len(batch) == 50_000:
                cur.executemany("INSERT INTO measurements VALUES (?,?,?,?,?,?,?,?)", batch)
                n += len(batch)
                batch.clear()
        cur.executemany("INSERT INTO measurements VALUES (?,?,?,?,?,?,?,?)", batch)
        n += len(batch)
        raw.commit()
        return n
    finally:
        raw.close()


def load_postgres(engine: Engine, device_ids: list[int], rng: random.Random) -> int:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        n = 0
        cols = "(device_id, kind, data_time, part, factors, packet_id, backfill, received_at)"
        with cur.copy(f"COPY measurements {cols} FROM STDIN") as copy:
            for device_id, t, factors, packet_id, received in rows(device_ids, rng):
                copy.write_row((device_id, "hour", t, 0, factors, packet_id, False, received))
                n += 1
        raw.commit()
        return n
    finally:
        raw.close()


def register(engine: Engine, n: int) -> list[int]:
    now = NOW - timedelta(days=200)
    import_devices(
        engine,
        [
            DeviceRow(
                mn_of(i), "123456", f"bench {i}", "基准企业", f"排口{i}", "gas", "2017", None, "standard"
            )
            for i in range(n)
        ],
        now,
    )
    ids = sorted(d.id for d in load_devices(engine).values())
    with engine.begin() as conn:
        conn.execute(
            insert(device_factors),
            [
                {"device_id": d, "factor": f, "unit": "", "rated": 1, "created_at": now, "updated_at": now}
                for d in ids
                for f in FACTORS
            ],
        )
    return ids


def add_marks(engine: Engine, device_ids: list[int], rng: random.Random) -> int:
    """A shutdown (approved) and a maintenance mark on every tenth device."""
    n = 0
    with engine.begin() as conn:
        for device_id in device_ids[::10]:
            day = FIRST + timedelta(days=rng.randrange(90))
            start = day_start(day) + timedelta(hours=rng.randrange(20))
            for code, hours in (("shutdown", 10), ("maintenance", 3)):
                made = create_mark(
                    conn,
                    device_id,
                    MarkDraft(None, start, start + timedelta(hours=hours), code, "bench", "enterprise"),
                    created_by="bench",
                    now=start + timedelta(hours=hours + 1),
                    policy=MarkPolicy(),
                )
                if code == "shutdown":
                    review_mark(conn, made["id"], decision="approved", note="", reviewed_by="bench", now=NOW)
                n += 1
                start += timedelta(days=2)
    return n


def back_fill(engine: Engine, device_ids: list[int]) -> int:
    """A day of missing hours arrives late (补传) for 100 devices."""
    day = date(2026, 8, 15)
    records = []
    for device_id in device_ids[:100]:
        for h in range(24):
            t = day_start(day) + timedelta(hours=h)
            records.append((device_id, t))
    m = measurements.c
    with engine.connect() as conn:
        existing = set(
            conn.execute(
                select(m.device_id, m.data_time).where(
                    m.kind == "hour",
                    m.data_time >= day_start(day),
                    m.data_time < day_start(day + timedelta(days=1)),
                )
            ).all()
        )
    new = [
        {
            "device_id": d,
            "kind": "hour",
            "data_time": t,
            "part": 0,
            "factors": {f: {"Avg": "1.00", "Flag": "N"} for f in FACTORS},
            "packet_id": 10**9 + i,
            "backfill": True,
            "received_at": NOW + timedelta(minutes=5),
        }
        for i, (d, t) in enumerate(records)
        if (d, t) not in existing
    ]
    with engine.begin() as conn:
        if new:
            conn.execute(insert(measurements), new)
    return len(new)


def timed(label: str, results: dict[str, Any], fn: Any) -> Any:
    t0 = time.perf_counter()
    value = fn()
    results[label] = round(time.perf_counter() - t0, 2)
    print(f"  {label}: {results[label]} s", flush=True)
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument(
        "--postgres", action="store_true", help="use PostgreSQL (ENVWATCH_TEST_POSTGRES_URL or local)"
    )
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args()
    rng = random.Random(212)
    results: dict[str, Any] = {
        "devices": args.devices,
        "factors": len(FACTORS),
        "first": str(FIRST),
        "last": str(LAST),
    }
    with tempfile.TemporaryDirectory(prefix="envwatch-bench-rates-") as tmp:
        settings = Settings(data_dir=Path(tmp), _env_file=None)
        schema = None
        if args.postgres:
            url = os.environ.get(
                "ENVWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
            )
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(url)
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            engine = create_engine(make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}))
            results["database"] = "postgresql"
        else:
            engine = make_engine(settings)
            results["database"] = "sqlite"
        try:
            upgrade(engine)
            print(
                f"filling {results['database']} with {args.devices} devices × {len(FACTORS)} factors × 2,208 h …"
            )
            ids = timed("register_s", results, lambda: register(engine, args.devices))
            loader = load_postgres if args.postgres else load_sqlite
            results["hour_records"] = timed("load_s", results, lambda: loader(engine, ids, rng))
            results["values"] = results["hour_records"] * len(FACTORS)
            results["marks"] = add_marks(engine, ids, rng)
            if args.postgres:
                with engine.begin() as conn:
                    conn.execute(text("ANALYZE"))
            stats = timed(
                "rebuild_counts_s", results, lambda: refresh_day_counts(engine, settings, NOW, rebuild=True)
            )
            results["count_rows"] = stats.rows
            query = RateQuery(FIRST, LAST, group="device")
            out = timed("quarter_rates_s", results, lambda: compute_rates(engine, settings, query, NOW))
            results["rows"] = len(out)
            results["mean_effective_rate"] = round(sum(float(r["effective_rate"]) for r in out) / len(out), 2)
            results["backfilled_records"] = back_fill(engine, ids)
            later = NOW + timedelta(minutes=10)
            timed(
                "quarter_rates_after_backfill_s",
                results,
                lambda: compute_rates(engine, settings, query, later),
            )
        finally:
            engine.dispose()
            if schema is not None:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"rates-{results['database']}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
