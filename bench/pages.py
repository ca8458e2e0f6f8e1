"""Page benchmark: how long the pages take with a year of data for 1,000 devices in the embedded store.

Fills a fresh SQLite store (the embedded default) with:

- a registry of 100 enterprises in 10 counties, 10 gas outlets each (1,000 outlets with coordinates and
  hour limits), one data logger per outlet, 6 rated factors per logger;
- a year (365 days, 8,760 hours) of hour records per logger (≈ 8.7 M records), ~5 % of values flagged
  invalid and ~1 % of hours missing; the minute records of the last two days (≈ 2.9 M); a real-time
  record and an online/offline state per logger;
- users: an admin, a regulator of one county (a tenth of the fleet), an enterprise user and an operator
  contracted by ten enterprises (100 devices).

The clock is set (time-machine, ticking) to ``--china-time`` of today, 23:30 by default: the regional
overview judges "today" from China midnight, so late evening is its heaviest hour. Then it logs each user
in and times every page (wall time of the full request in process, through the
ASGI app: routing, scope, queries, rendering) ``--repeat`` times, after one warm-up request, and prints
the first request's time, the median and the worst. Before that it warms the dashboard's cache as
``serve`` does at start (``monitoring.overview.warm``) and says how long that took. The target (issue 4) is under 1 s per page.

    .venv/bin/python bench/pages.py                 # 1,000 devices, a year
    .venv/bin/python bench/pages.py --devices 100 --days 30   # a quick look

Figures go in docs/web.md (Performance). This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from envwatch.core.clock import CHINA_TZ, utcnow
from envwatch.core.db import SQLITE_TIME_FORMAT, make_engine
from envwatch.core.settings import Settings
from envwatch.demo import credit_code
from envwatch.ingest.schema import device_status
from envwatch.migrations import upgrade
from envwatch.monitoring.day_counts import refresh_day_counts
from envwatch.monitoring.overview import warm
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EmissionLimitIn, EnterpriseIn, OperatorIn, OutletIn
from envwatch.registry.schema import device_factors, devices, enterprises
from envwatch.registry.service_limits import add_emission_limit
from envwatch.registry.store import DeviceRow, import_devices, load_devices
from envwatch.web.accounts.store import create_user, user_for_login
from envwatch.web.app import create_app

FACTORS = ("a21026", "a21002", "a34013", "a19001", "a01012", "a01011")  # SO2 NOx PM O2 T v
RATED = ("a21026", "a21002", "a34013")
COUNTIES = [f"1401{n:02d}" for n in range(5, 15)]  # ten county codes of one city
PASSWORD = "bench password 1"


def mn_of(i: int) -> str:
    return f"BP{i:022X}"


def _factors(rng: random.Random, field: str) -> str:
    parts = []
    for code in FACTORS:
        flag = "N" if rng.random() >= 0.05 else rng.choice("CMD")
        value = f"{rng.uniform(1, 90):.2f}"
        if field == "Avg":
            parts.append(f'"{code}":{{"Min":"{value}","Avg":"{value}","Max":"{value}","Flag":"{flag}"}}')
        else:
            parts.append(f'"{code}":{{"{field}":"{value}","Flag":"{flag}"}}')
    return "{" + ",".join(parts) + "}"


def register(engine: Engine, n: int, now: datetime) -> tuple[list[int], list[int]]:
    """Enterprises, outlets with limits, loggers on them; returns (device ids, enterprise ids)."""
    created = now - timedelta(days=400)
    import_devices(
        engine,
        [
            DeviceRow(mn_of(i), "123456", f"bench {i}", "", "", "gas", "2017", None, "standard")
            for i in range(n)
        ],
        created,
    )
    by_mn = {mn: d.id for mn, d in load_devices(engine).items()}
    enterprise_ids = []
    with engine.begin() as conn:
        for e in range(max(1, n // 10)):
            county = COUNTIES[e % len(COUNTIES)]
            ent = svc.create_enterprise(
                conn,
                EnterpriseIn(
                    name=f"基准企业{e:03d}",
                    credit_code=credit_code(county, e + 1),
                    region_code=county,
                    longitude=f"{112.3 + (e % 10) * 0.05:.4f}",
                    latitude=f"{37.6 + (e // 10) * 0.03:.4f}",
                ),
                created,
            )
            enterprise_ids.append(ent["id"])
            for o in range(10):
                i = e * 10 + o
                if i >= n:
                    break
                outlet = svc.create_outlet(
                    conn,
                    ent["id"],
                    OutletIn(code=f"DA{o + 1:03d}", name=f"{o + 1}号排口", kind="gas"),
                    created,
                )
                for factor, limit in (("a21026", "35"), ("a21002", "50"), ("a34013", "10")):
                    add_emission_limit(
                        conn,
                        outlet["id"],
                        EmissionLimitIn(
                            factor=factor,
                            hour_limit=limit,
                            unit="mg/m3",
                            reference_o2="6",
                            valid_from=(now - timedelta(days=400)).date(),
                            legal_source="bench",
                        ),
                        created,
                    )
                svc.set_device_outlet(conn, mn_of(i), outlet["id"], created)
        ids = sorted(by_mn.values())
        conn.execute(
            insert(device_factors),
            [
                {"device_id": d, "factor": f, "unit": "mg/m3", "rated": f in RATED, "created_at": created,
                 "updated_at": created}
                for d in ids
                for f in FACTORS
            ],
        )  # fmt: skip
        conn.execute(
            insert(device_status),
            [{"device_id": d, "online": d % 7 != 0, "last_seen": now, "changed_at": now} for d in ids],
        )
    return ids, enterprise_ids


def records(ids: list[int], now: datetime, days: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """(device_id, kind, data_time, factors, received_at) rows: hours of ``days``, minutes of 2 days, one rtd."""
    last_hour = now.replace(minute=0, second=0, microsecond=0)
    hours = [_factors(rng, "Avg") for _ in range(512)]
    minutes = [_factors(rng, "Avg") for _ in range(512)]
    rtds = [_factors(rng, "Rtd") for _ in range(64)]
    for d in ids:
        for h in range(days * 24, 0, -1):
            if rng.random() >= 0.01:
                t = last_hour - timedelta(hours=h)
                yield d, "hour", t, hours[rng.randrange(512)], t + timedelta(hours=1, seconds=20)
        for m in range(2 * 24 * 60, 0, -1):
            t = now.replace(second=0, microsecond=0) - timedelta(minutes=m)
            yield d, "minute", t, minutes[rng.randrange(512)], t + timedelta(minutes=1, seconds=5)
        yield d, "rtd", now - timedelta(seconds=30), rtds[rng.randrange(64)], now


def load(engine: Engine, ids: list[int], now: datetime, days: int, rng: random.Random) -> int:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        n = 0
        batch: list[tuple[Any, ...]] = []

        def flush() -> None:
            cur.executemany("INSERT INTO measurements VALUES (?,?,?,?,?,?,?,?)", batch)
            batch.clear()

        for packet, (d, kind, t, factors, received) in enumerate(records(ids, now, days, rng), start=1):
            batch.append(
                (d, kind, t.replace(tzinfo=None).strftime(SQLITE_TIME_FORMAT), 0, factors, packet, 0,
                 received.replace(tzinfo=None).strftime(SQLITE_TIME_FORMAT))
            )  # fmt: skip
            if len(batch) == 50_000:
                n += len(batch)
                flush()
        n += len(batch)
        flush()
        raw.commit()
        return n
    finally:
        raw.close()


def users(engine: Engine, enterprise_id: int, now: datetime) -> None:
    with engine.begin() as conn:
        for name, fields in (
            ("admin", {"role": "admin"}),
            ("regulator", {"role": "regulator", "region_code": COUNTIES[0]}),
            ("enterprise", {"role": "enterprise", "enterprise_id": enterprise_id}),
        ):
            create_user(conn, name, PASSWORD, fields, now, min_password_length=10)


def operator_user(engine: Engine, enterprise_ids: list[int], now: datetime) -> None:
    """An operating company contracted by the first ten enterprises (100 devices) and its user ``operator``
    (idempotent: a kept store gets them on its next run)."""
    with engine.begin() as conn:
        if user_for_login(conn, "operator") is not None:
            return
        operator = ops.create_operator(
            conn, OperatorIn(name="基准运维", credit_code=credit_code("140100", 999)), now
        )
        for n, enterprise_id in enumerate(enterprise_ids[:10], start=1):
            ops.create_contract(
                conn,
                operator["id"],
                ContractIn(
                    enterprise_id=enterprise_id,
                    contract_no=f"BENCH-{n:03d}",
                    valid_from=(now - timedelta(days=400)).date(),
                ),
                now,
            )
        create_user(
            conn,
            "operator",
            PASSWORD,
            {"role": "operator", "operator_id": operator["id"]},
            now,
            min_password_length=10,
        )


def pages(engine: Engine, enterprise_id: int) -> list[str]:
    """The page URLs to time (concrete ids of the first enterprise)."""
    with engine.connect() as conn:
        mn, outlet_id = conn.execute(
            select(devices.c.mn, devices.c.outlet_id)
            .where(devices.c.outlet_id.is_not(None))
            .order_by(devices.c.id)
        ).first()  # type: ignore[misc]
    today = datetime.now(CHINA_TZ).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    code = credit_code(COUNTIES[0], 1)
    return [
        "/home",
        "/devices",
        f"/devices/{mn}",
        "/rates",
        f"/rates?from={today.replace(month=1, day=1)}&to={today}&group=enterprise",
        "/marks",
        "/region",
        "/region/outlets.json",
        "/region/ranking?group=enterprise",
        "/region/ranking?group=operator",
        "/region/exceedances",
        "/outlets",
        f"/outlets/{outlet_id}",
        "/filings",
        "/public",
        f"/public/{code}",
        "/reports",
        f"/reports/outlet-month.xlsx?outlet={outlet_id}&month={last_month}",
        "/workbench",
        "/workbench/attention",
        "/workbench/quality",
        "/workbench/rates",
    ]


def time_pages(app: Any, urls: list[str], repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for user in ("admin", "regulator", "enterprise", "operator"):
        client = TestClient(app, base_url="https://testserver")
        r = client.post(
            "/login", data={"username": user, "password": PASSWORD, "next": "/home"}, follow_redirects=False
        )
        if r.status_code != 303:
            raise SystemExit(f"login of {user} failed: {r.status_code}")
        for url in urls:
            t0 = time.perf_counter()
            first = client.get(url, follow_redirects=False)  # warm-up (and the status to report)
            first_ms = (time.perf_counter() - t0) * 1000
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                client.get(url, follow_redirects=False)
                times.append((time.perf_counter() - t0) * 1000)
            out[f"{user} {url}"] = {
                "status": first.status_code,
                "bytes": len(first.content),
                "first_ms": round(first_ms, 1),
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
            }
            print(
                f"{user:<11} {url:<60} {first.status_code}  first {first_ms:8.1f} ms  median {statistics.median(times):8.1f} ms  max {max(times):8.1f} ms",
                flush=True,
            )
    return out


def _has_data(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(enterprises.c.id).limit(1)).first() is not None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--china-time", default="23:30", help="China time of day to run at (HH:MM)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the store here and keep it (default: a temporary directory); a store already there "
        "(built the same China day with the same --china-time) is timed again without rebuilding",
    )
    args = parser.parse_args()
    rng = random.Random(7)
    today = utcnow().astimezone(CHINA_TZ).date()
    hour, minute = (int(x) for x in args.china_time.split(":"))
    now = datetime.combine(today, clock_time(hour, minute), CHINA_TZ).astimezone(UTC)
    with tempfile.TemporaryDirectory() as tmp, time_machine.travel(now, tick=True):
        data_dir = args.keep or Path(tmp) / "var"
        settings = Settings(data_dir=data_dir, cookie_secure=False, _env_file=None)
        engine = make_engine(settings)
        upgrade(engine)
        # "today" starts at China midnight: the dashboard's work grows through the day, so say when it ran
        print(f"China time now: {now.astimezone(CHINA_TZ):%Y-%m-%d %H:%M}", flush=True)
        results: dict[str, Any] = {"when": now.isoformat(timespec="seconds"), "devices": args.devices, "days": args.days,
                                   "china_time": f"{now.astimezone(CHINA_TZ):%H:%M}",
                                   "machine": f"{platform.machine()}, {platform.python_version()}"}  # fmt: skip
        reuse = args.keep is not None and _has_data(engine)
        if reuse:
            print(f"timing the store in {args.keep} again (not rebuilt)", flush=True)
            with engine.connect() as conn:
                enterprise_ids = list(
                    conn.execute(select(enterprises.c.id).order_by(enterprises.c.id)).scalars()
                )
        else:
            t0 = time.perf_counter()
            ids, enterprise_ids = register(engine, args.devices, now)
            users(engine, enterprise_ids[0], now)
            results["records"] = load(engine, ids, now, args.days, rng)
            results["load_s"] = round(time.perf_counter() - t0, 1)
            print(f"loaded {results['records']:,} records in {results['load_s']} s", flush=True)
            t0 = time.perf_counter()
            refresh_day_counts(engine, settings, now)
            results["day_counts_s"] = round(time.perf_counter() - t0, 1)
            print(f"day counts built in {results['day_counts_s']} s", flush=True)
        operator_user(engine, enterprise_ids, now)
        app = create_app(settings, engine)
        # what `serve` does at start (and every minute): judge today's hours of the fleet for the dashboard
        t0 = time.perf_counter()
        warm(engine, settings, app.state.hour_cache, utcnow())
        results["dashboard_warm_s"] = round(time.perf_counter() - t0, 1)
        print(f"dashboard warmed in {results['dashboard_warm_s']} s", flush=True)
        results["pages"] = time_pages(app, pages(engine, enterprise_ids[0]), args.repeat)
        out = Path(__file__).parent / "results" / f"pages-{now:%Y%m%dT%H%M%S}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
        print(f"results: {out}")
        engine.dispose()


if __name__ == "__main__":
    main()
