"""Compliance benchmark: the daily run of every rule (合规检查) over a province-sized fleet.

Builds the store of ``bench/rates.py`` (a quarter, 2026-07-01 – 09-30, of hourly records for N gas devices ×
6 rated factors, ~5 % invalid, ~1 % missing, shutdown and maintenance marks on a tenth of the devices) and
adds what the rules judge beyond the data: N/5 enterprises in the 11 cities of Shanxi with one outlet per
device, 10 operators holding contracts on every enterprise, and 3 alarms per device (offline, constant
value, jump), a third of them acknowledged late and a third never. There are no O&M records, so the
inspection and comparison rules find every device: the run stores thousands of findings, the store's worst
day.

Then it measures, as ``envwatch serve``'s daily run does it (``compliance.run.run_rules``):

1. ``first run``: every rule as of 2026-10-01 10:00 China time, opening every finding;
2. ``second run``: the same moment again (the steady state: every finding is still open, nothing opened);
   the time per rule of both runs is printed.

    .venv/bin/python -m bench.compliance                    # embedded SQLite, 1,000 devices
    .venv/bin/python -m bench.compliance --postgres         # PostgreSQL on 127.0.0.1 (database test)

Figures go in docs/compliance/engine.md (Performance). This is a benchmark, not a test: nothing asserts a speed.
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, make_url, text

from bench.rates import FIRST, NOW, add_marks, load_postgres, load_sqlite, mn_of, register
from envwatch.alarms.store import Action, Raised, apply, raise_alarm
from envwatch.compliance.rules import Rule
from envwatch.compliance.run import run_rules
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from envwatch.monitoring.day_counts import day_start, refresh_day_counts
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char

CITIES = [f"14{c:02d}{d:02d}" for c in range(1, 12) for d in (2, 3)]  # two districts of each Shanxi city
OPERATORS = 10
DEVICES_PER_ENTERPRISE = 5


def credit_code(n: int) -> str:
    first17 = f"9114010000{n:07d}"
    return first17 + credit_code_check_char(first17)


def build_registry(engine: Engine, ids: list[int]) -> int:
    """Enterprises with one outlet per device, operators with a contract on each enterprise."""
    now = NOW - timedelta(days=200)
    with engine.begin() as conn:
        operators = [
            ops.create_operator(
                conn, OperatorIn(name=f"基准运维{i}", credit_code=credit_code(900_000 + i)), now
            )["id"]
            for i in range(OPERATORS)
        ]
        enterprise_id = 0
        for index, _device_id in enumerate(ids):
            if index % DEVICES_PER_ENTERPRISE == 0:
                n = index // DEVICES_PER_ENTERPRISE
                enterprise_id = svc.create_enterprise(
                    conn,
                    EnterpriseIn(
                        name=f"基准企业{n}", credit_code=credit_code(n), region_code=CITIES[n % len(CITIES)]
                    ),
                    now,
                )["id"]
                ops.create_contract(
                    conn,
                    operators[n % OPERATORS],
                    ContractIn(
                        enterprise_id=enterprise_id, contract_no=f"HT-{n}", valid_from=date(2026, 1, 1)
                    ),
                    now,
                )
            outlet = svc.create_outlet(
                conn,
                enterprise_id,
                OutletIn(code=f"DA{index % 1000:03d}", name=f"排口{index}", kind="gas"),
                now,
            )
            svc.set_device_outlet(conn, mn_of(index), outlet["id"], now)
    return len(ids) // DEVICES_PER_ENTERPRISE


def add_alarms(engine: Engine, ids: list[int], rng: random.Random) -> int:
    """Three alarms per device in the quarter: a third answered in time, a third late, a third never."""
    n = 0
    with engine.begin() as conn:
        for device_id in ids:
            for i, kind in enumerate(("offline", "constant", "jump")):
                opened = day_start(FIRST + timedelta(days=rng.randrange(88))) + timedelta(
                    hours=rng.randrange(24)
                )
                raised = Raised(device_id, kind, "" if kind == "offline" else "a21026", opened, "bench", kind)
                alarm_id = raise_alarm(conn, raised, opened, ack_due_s=3600).alarm_id
                if i < 2:
                    late = timedelta(minutes=20) if i == 0 else timedelta(hours=5)
                    apply(conn, alarm_id, Action("acknowledge"), actor="bench", now=opened + late)
                n += 1
    return n


def timed(label: str, results: dict[str, Any], fn: Any) -> Any:
    t0 = time.perf_counter()
    value = fn()
    results[label] = round(time.perf_counter() - t0, 2)
    print(f"  {label}: {results[label]} s", flush=True)
    return value


def run(engine: Engine, settings: Settings, results: dict[str, Any], label: str) -> None:
    per_rule: dict[str, float] = {}
    started = time.perf_counter()
    last = [started]

    def progress(rule: Rule, outcome: dict[str, Any]) -> None:
        now = time.perf_counter()
        per_rule[rule.id] = round(now - last[0], 2)
        last[0] = now

    result = timed(f"{label}_s", results, lambda: run_rules(engine, settings, at=NOW, progress=progress))
    failed = {rule: o["error"] for rule, o in result.rules.items() if "error" in o}
    if failed:
        raise SystemExit(f"rules failed: {failed}")
    results[f"{label}_per_rule_s"] = per_rule
    results[f"{label}_opened"] = sum(o["opened"] for o in result.rules.values())
    results[f"{label}_still_open"] = sum(o["still_open"] for o in result.rules.values())
    slowest = sorted(per_rule.items(), key=lambda kv: -kv[1])[:5]
    print(f"  slowest rules: {', '.join(f'{r} {s} s' for r, s in slowest)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument(
        "--postgres", action="store_true", help="use PostgreSQL (ENVWATCH_TEST_POSTGRES_URL or local)"
    )
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args()
    rng = random.Random(212)
    results: dict[str, Any] = {"devices": args.devices, "at": NOW.isoformat()}
    with tempfile.TemporaryDirectory(prefix="envwatch-bench-compliance-") as tmp:
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
                f"filling {results['database']} with {args.devices} devices, a quarter of hours, registry, alarms …"
            )
            ids = register(engine, args.devices)
            results["enterprises"] = build_registry(engine, ids)
            results["hour_records"] = (load_postgres if args.postgres else load_sqlite)(engine, ids, rng)
            results["marks"] = add_marks(engine, ids, rng)
            results["alarms"] = add_alarms(engine, ids, rng)
            if args.postgres:
                with engine.begin() as conn:
                    conn.execute(text("ANALYZE"))
            refresh_day_counts(engine, settings, NOW, rebuild=True)
            print("running every rule …")
            run(engine, settings, results, "first_run")
            run(engine, settings, results, "second_run")
        finally:
            engine.dispose()
            if schema is not None:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"compliance-{results['database']}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if not k.endswith("per_rule_s")}, indent=2))


if __name__ == "__main__":
    main()
