"""Partition pruning on PostgreSQL: the plans of the API's queries on the monthly partitions.

Creates a scratch database on the server ``--postgres`` names, migrates it, adds the past 12 months of
partitions and ``--packets`` raw packets (one a minute back from now), ``ANALYZE``s, prints
``EXPLAIN (COSTS OFF)`` of the queries docs/operations/postgresql.md quotes, then drops the database.

    .venv/bin/python -m bench.pg_explain --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from bench.ingest import drop_postgres, fresh_postgres
from envwatch.core.partitions import add_months, create_month, month_start
from envwatch.migrations import upgrade

QUERIES = {
    "packets of one device over a day (web/api/packets.py, ingest/queries.py)": (
        "SELECT * FROM raw_packets WHERE mn = 'MN7' AND received_at >= :s AND received_at < :e "
        "ORDER BY id DESC LIMIT 100"
    ),
    "newest packets, no filter": "SELECT * FROM raw_packets ORDER BY id DESC LIMIT 100",
    "measurements of a device, kind and day (monitoring/store.py)": (
        "SELECT * FROM measurements WHERE device_id = 1 AND kind = 'hour' AND data_time >= :s "
        "AND data_time < :e ORDER BY data_time, part"
    ),
    "evidence re-check of a raw batch (evidence/sources.py)": (
        "SELECT id, raw FROM raw_packets WHERE id >= 1000 AND id <= 1100 ORDER BY id"
    ),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postgres", required=True, metavar="URL")
    ap.add_argument("--packets", type=int, default=200_000)
    args = ap.parse_args()
    database_url = fresh_postgres(args.postgres)
    engine = create_engine(database_url)
    try:
        upgrade(engine)
        now = datetime.now(UTC)
        with engine.begin() as conn:
            for n in range(1, 13):
                for table in ("raw_packets", "measurements"):
                    create_month(conn, table, add_months(month_start(now), -n))
            conn.execute(
                text(
                    "INSERT INTO raw_packets (id, received_at, peer, mn, cn, verdict, raw) "
                    "SELECT g, now() - g * interval '1 minute', 'p', 'MN' || (g % 50), '2011', 'ok', 'x' "
                    "FROM generate_series(1, :n) g"
                ),
                {"n": args.packets},
            )
            conn.execute(text("ANALYZE raw_packets"))
        start = now - timedelta(days=3)
        with engine.connect() as conn:
            for title, query in QUERIES.items():
                print(f"-- {title}\n{query}")
                plan = conn.execute(
                    text(f"EXPLAIN (COSTS OFF) {query}"), {"s": start, "e": start + timedelta(days=1)}
                )
                for line in plan.scalars():
                    print(f"  {line}")
                print()
    finally:
        engine.dispose()
        drop_postgres(args.postgres, database_url)


if __name__ == "__main__":
    main()
