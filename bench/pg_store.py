"""PacketStore.write on PostgreSQL alone: COPY (today's path) against the executemany it replaced.

No gateway, no TCP, no writer process: batches of ``--batch`` CN 2011 frames (9 factors, a realistic
~400-byte frame each) from ``--devices`` devices are written with ``PacketStore.write`` and committed, on a
fresh database of the server ``--postgres`` names (migrated to head, so partitioned by month), alternating
the two paths round by round so that both see the same machine load. A round writes ``--batches`` batches
with one path; rows/s is frames stored per second of wall time including the commit.

    .venv/bin/python -m bench.pg_store --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, text

from bench.ingest import drop_postgres, fresh_postgres
from envwatch.ingest.store import InboundFrame, PacketData, PacketStore
from envwatch.migrations import upgrade
from envwatch.registry.store import DeviceRow, import_devices

FACTORS = ("a21026", "a21002", "a34013", "a19001", "a01012", "a01013", "a01011", "a01014", "a00000")


class ExecutemanyStore(PacketStore):
    """The path before COPY: one prepared INSERT per row through psycopg's executemany."""

    def _insert_raw(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        cursor.executemany(self.sql_raw, rows)

    def _insert_measurements(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> int:
        cursor.executemany(self.sql_measure, rows)
        return int(cursor.rowcount)


def frames(devices: dict[int, str], batch: int, start: datetime, seq: int) -> list[InboundFrame]:
    out = []
    ids = sorted(devices)
    for n in range(batch):
        device = ids[n % len(ids)]
        moment = start + timedelta(seconds=seq + n // len(ids))
        factors = {
            code: {"Rtd": f"{(seq + n + i) % 900 / 10:.1f}", "Flag": "N"} for i, code in enumerate(FACTORS)
        }
        out.append(
            InboundFrame(
                received_at=datetime.now(UTC),
                peer="127.0.0.1:40000",
                raw=b"##0400QN=" + b"x" * 390 + b"\r\n",
                verdict="ok",
                device_id=device,
                mn=devices[device],
                cn="2011",
                qn=f"{seq + n:017d}",
                data=PacketData({"DataTime": f"{moment:%Y%m%d%H%M%S}"}, factors, False),
            )
        )
    return out


def run_round(engine: Engine, store: PacketStore, devices: dict[int, str], args: Any, seq: int) -> float:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    batches = [frames(devices, args.batch, start, seq + b * args.batch) for b in range(args.batches)]
    began = time.perf_counter()
    for batch in batches:
        raw = engine.raw_connection()
        try:
            store.write(raw.cursor(), batch)
            raw.commit()
            store.committed()
        finally:
            raw.close()
    return float(args.batch * args.batches / (time.perf_counter() - began))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postgres", required=True, metavar="URL")
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--batch", type=int, default=500, help="frames per transaction")
    ap.add_argument("--batches", type=int, default=20, help="transactions per round")
    ap.add_argument("--rounds", type=int, default=4, help="rounds of each path, alternating")
    args = ap.parse_args()
    database_url = fresh_postgres(args.postgres)
    engine = create_engine(database_url)
    try:
        upgrade(engine)
        now = datetime.now(UTC)
        rows = [
            DeviceRow(f"BS{i:022X}", "123456", f"b{i}", "bench", f"o{i}", "gas", "2017", None, "standard")
            for i in range(args.devices)
        ]
        import_devices(engine, rows, now)
        with engine.connect() as conn:
            devices: dict[int, str] = {
                int(i): str(mn) for i, mn in conn.execute(text("SELECT id, mn FROM devices"))
            }
        stores = {"copy": PacketStore(engine), "executemany": ExecutemanyStore(engine)}
        rates: dict[str, list[float]] = {k: [] for k in stores}
        seq = 0
        for _ in range(args.rounds):
            for label, store in stores.items():
                rates[label].append(run_round(engine, store, devices, args, seq))
                seq += args.batch * args.batches
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM measurements")).scalar_one()
        result = {
            "when": now.isoformat(timespec="seconds"),
            "frames_per_batch": args.batch,
            "frames_stored": stored,
            **{f"{k}_frames_per_s": {"median": round(statistics.median(v)), "all": [round(x) for x in v]}
               for k, v in rates.items()},
        }  # fmt: skip
        print(json.dumps(result, indent=2))
    finally:
        engine.dispose()
        drop_postgres(args.postgres, database_url)


if __name__ == "__main__":
    main()
