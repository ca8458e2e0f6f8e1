"""Evidence log benchmark: how fast entries are submitted, integrated into the Merkle tree, proved and verified.

On a fresh store (SQLite under a temporary directory, or ``--postgres URL``: a scratch database is made there
and dropped afterwards) it submits ``--entries`` evidence entries (100,000 by default; bodies like a custody
event's row copy) in transactions of 1,000, integrates them (``evidence.log.integrate``, 1,000 leaves a
transaction as the loop does), signs a checkpoint, computes and checks ``--proofs`` inclusion proofs of random
leaves and consistency proofs between random sizes from the database, and runs ``evidence.verify`` over the
whole log (files and source rows off: there are none). Reports the wall seconds and rates of each step and
the rows per table.

    .venv/bin/python bench/evidence.py                       # 100,000 entries on SQLite
    .venv/bin/python bench/evidence.py --entries 20000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

Figures go in docs/evidence/log.md (Performance). A benchmark, not a test: nothing asserts a speed.
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
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text

from envwatch.core.db import engine_from_url
from envwatch.core.evidence import submit
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import log as evidence_log
from envwatch.evidence import merkle
from envwatch.evidence.schema import evidence_leaves, evidence_nodes
from envwatch.evidence.verify import verify
from envwatch.migrations import upgrade

BATCH = 1000
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def payload(i: int) -> dict[str, Any]:
    """About the size of a custody event's row copy."""
    return {
        "table": "bench_events",
        "id": i,
        "row": {
            "sample_id": i // 6,
            "seq": i % 6 + 1,
            "event": "hand_over",
            "state_before": "in_transport",
            "state_after": "handed_over",
            "at": START + timedelta(seconds=i),
            "staff_id": 17,
            "latitude": "27.99381",
            "longitude": "120.69942",
            "seal_intact": True,
            "note": "封条完好，标签清晰" if i % 3 else "",
        },
    }


@contextmanager
def store(postgres: str | None, directory: Path) -> Iterator[tuple[Engine, Settings]]:
    if postgres is None:
        settings = Settings(data_dir=directory, _env_file=None)
        engine = engine_from_url(f"sqlite:///{directory / 'bench.db'}")
        upgrade(engine)
        yield engine, settings
        engine.dispose()
        return
    name = f"bench_evidence_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres.rsplit("/", 1)[0] + "/" + name
    engine = engine_from_url(url)
    try:
        upgrade(engine)
        yield engine, Settings(data_dir=directory, database_url=url, _env_file=None)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}"'))
        admin.dispose()


def timed(what: str, results: dict[str, Any], count: int, unit: str) -> Any:
    class Timer:
        def __enter__(self) -> None:
            self.started = time.perf_counter()

        def __exit__(self, *_exc: object) -> None:
            seconds = time.perf_counter() - self.started
            results[what] = {"seconds": round(seconds, 2), f"{unit}_per_s": round(count / seconds, 1)}
            print(f"{what:<22} {seconds:8.2f} s   {count / seconds:10.1f} {unit}/s", flush=True)

    return Timer()


def run(entries: int, proofs: int, postgres: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {
        "entries": entries,
        "proofs": proofs,
        "database": "postgresql" if postgres else "sqlite",
    }
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp, store(postgres, Path(tmp)) as (engine, settings):
        with timed("submit", results, entries, "entries"):
            for first in range(0, entries, BATCH):
                with engine.begin() as conn:
                    for i in range(first, min(first + BATCH, entries)):
                        submit(
                            conn, "bench_event", f"bench_events/{i}", payload(i), START + timedelta(seconds=i)
                        )
        with timed("integrate", results, entries, "leaves"):
            done = 0
            while done < entries:
                with engine.begin() as conn:
                    done += evidence_log.integrate(conn, START, BATCH)
        with engine.begin() as conn:
            made = evidence_log.make_checkpoint(conn, settings, START + timedelta(days=1))
        assert made is not None and made["tree_size"] == entries
        root = bytes.fromhex(made["root_hash"])
        with engine.connect() as conn:
            leaves = dict(
                conn.execute(select(evidence_leaves.c.leaf_index, evidence_leaves.c.leaf_hash)).all()
            )
            with timed("inclusion proofs", results, proofs, "proofs"):
                for _ in range(proofs):
                    index = rng.randrange(entries)
                    path = evidence_log.inclusion(conn, index, entries)
                    merkle.verify_inclusion(bytes.fromhex(leaves[index]), index, entries, path, root)
            results["inclusion_path_hashes"] = len(path)
            pairs = [(rng.randrange(1, entries), entries) for _ in range(proofs)]
            with timed("consistency proofs", results, proofs, "proofs"):
                for old, new in pairs:
                    old_root = evidence_log.root_at(conn, old)
                    merkle.verify_consistency(
                        old, new, old_root, root, evidence_log.consistency(conn, old, new)
                    )
            results["rows"] = {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (evidence_entries, evidence_leaves, evidence_nodes)
            }
        with timed("verify", results, entries, "entries"):
            report = verify(engine, settings, START + timedelta(days=1, hours=1), blobs=False, sources=False)
        assert report.ok, [p.as_dict() for p in report.problems[:5]]
        print(f"rows: {results['rows']}; inclusion path: {results['inclusion_path_hashes']} hashes")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument(
        "--postgres", default=None, help="SQLAlchemy URL of a server to make a scratch database on"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    results = run(args.entries, args.proofs, args.postgres)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
