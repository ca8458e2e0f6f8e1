"""Upstream forwarding benchmark: how fast a back-log of the raw packet log reaches a province platform.

Builds an embedded SQLite store with N raw packets (``ok`` real-time data, Flag=5: each one answered with a
9014) of 100 devices, starts an HJ 212 upstream on loopback built on ``envwatch.hj212`` (it decodes each
frame and answers 9014 at once, as a province platform would), registers it, and times a ``Forwarder``
catching up from the start of the log (the back-fill after an outage), with ``upstream_max_rate`` out of
the way, for each ``--window`` (1 is HJ 212's stop-and-wait). Loopback has no network latency: over a WAN
with a round trip of R seconds, window 1 cannot exceed 1/R packets per second, window W about W/R.

    .venv/bin/python -m bench.upstream                  # 20,000 packets, windows 1 and 32
    .venv/bin/python -m bench.upstream --packets 50000 --window 1 --window 32 --window 128

Figures go in docs/operations/upstream.md. This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, insert

from envwatch.core.clock import utcnow
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.hj212 import NEED_DATA, Connection, Packet, data_ack, encode
from envwatch.ingest.schema import raw_packets
from envwatch.ingest.upstream import status
from envwatch.ingest.upstream.config import add_upstream
from envwatch.ingest.upstream.forwarder import Forwarder
from envwatch.migrations import upgrade


def fill(engine: Engine, n: int) -> None:
    now = utcnow()
    rows = []
    for i in range(1, n + 1):
        mn = f"{i % 100:024X}"
        qn = f"20261130{i:09d}"
        header = {"QN": qn, "ST": "31", "CN": "2011", "PW": "123456", "MN": mn, "Flag": "5"}
        raw = encode(header, {"DataTime": "20261130100000"}, {"a21026": {"Rtd": "12.5", "Flag": "N"}})
        rows.append(
            {"id": i, "received_at": now, "peer": "p", "device_id": 1 + i % 100, "mn": mn, "cn": "2011",
             "qn": qn, "verdict": "ok", "reason": None, "raw": raw}
        )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(raw_packets), rows)


async def province(counter: list[int]) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection()
        while data := await reader.read(65536):
            conn.receive_data(data)
            while (event := conn.next_event()) is not NEED_DATA:
                if isinstance(event, Packet):
                    counter[0] += 1
                    writer.write(data_ack(event))
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def one(engine: Engine, settings: Settings, n: int, window: int) -> dict[str, float]:
    counter = [0]
    server = await province(counter)
    port = server.sockets[0].getsockname()[1]
    with engine.begin() as conn:
        upstream_id = add_upstream(
            conn, name=f"w{window}", address=f"127.0.0.1:{port}", by="bench", now=utcnow(),
            since=utcnow().replace(year=2000),
        ).id  # fmt: skip
    forwarder = Forwarder(engine, settings.model_copy(update={"upstream_window": window}), upstream_id)
    started = time.perf_counter()
    task = asyncio.create_task(forwarder.run())
    while True:
        await asyncio.sleep(0.05)
        with engine.connect() as conn:
            row = next(r for r in status.figures(conn, settings, utcnow()) if r["id"] == upstream_id)
        if row["cursor"] >= n:
            break
    elapsed = time.perf_counter() - started
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    server.close()
    return {"window": window, "packets": n, "seconds": round(elapsed, 2), "per_second": round(n / elapsed),
            "received": counter[0], "resent": row["resent"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packets", type=int, default=20_000)
    parser.add_argument("--window", type=int, action="append")
    args = parser.parse_args()
    windows = args.window or [1, 32]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            upstream_max_rate=1e9,
            upstream_poll_s=0.05,
            _env_file=None,
        )
        engine = make_engine(settings)
        upgrade(engine)
        fill(engine, args.packets)
        results = [asyncio.run(one(engine, settings, args.packets, w)) for w in windows]
    print(json.dumps({"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                      "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
