"""Scale-out ingest benchmark: 3 gateways + 2 workers + JetStream + PostgreSQL on this one machine.

Starts a nats-server of its own (JetStream, file storage in a temporary directory), a fresh PostgreSQL
database (migrated), ``--gateways`` processes of ``envwatch gateway --queue`` and ``--workers`` processes
of ``envwatch worker --consume``, registers N devices and drives them with the load client of
``bench/ingest.py`` (device i connects to gateway i mod G): CN 2011 packets with 9 factors and the ack bit,
at a fixed total rate. The ack latency is send → 9014, and a gateway sends the 9014 once JetStream's PubAck
says the frame is stored in the stream. Then it waits until the workers have stored every acknowledged
packet in PostgreSQL and reports how long that took.

``--mode single`` runs the same load against one ``envwatch gateway`` with its local writer on PostgreSQL
(no JetStream), for comparison on the same machine at the same time.

    .venv/bin/python -m bench.scaleout --connections 600 --rate 3000 --duration 20
    .venv/bin/python -m bench.scaleout --mode single --connections 600 --rate 3000 --duration 20

This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from bench.ingest import drive, free_port, load_figures, mn_of, wait_port
from envwatch.migrations import upgrade
from envwatch.registry.store import DeviceRow, import_devices

PG = os.environ.get("ENVWATCH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def stored_ok(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM raw_packets WHERE verdict = 'ok'")).scalar_one())
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["queue", "single"], default="queue")
    ap.add_argument("--gateways", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=600)
    ap.add_argument("--rate", type=float, default=3000, help="total packets per second offered")
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args()
    nats_server = shutil.which("nats-server") or "/usr/sbin/nats-server"

    tmp = Path(tempfile.mkdtemp(prefix="envwatch-scaleout-"))
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    db = f"envwatch_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {db}"))
    url = make_url(PG).set(database=db).render_as_string(hide_password=False)
    engine = create_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    rows = [
        DeviceRow(mn_of(i), "123456", f"bench {i}", "bench", f"outlet {i}", "gas", "2017", None, "standard")
        for i in range(args.connections)
    ]
    import_devices(engine, rows, now)
    engine.dispose()

    procs: list[subprocess.Popen[bytes]] = []
    nats_port = free_port()
    queue_url = f"nats://127.0.0.1:{nats_port}"
    env = dict(
        os.environ,
        ENVWATCH_DATABASE_URL=url,
        ENVWATCH_MAX_CONNECTIONS=str(args.connections + 100),
    )

    def spawn(argv: list[str], log: str) -> None:
        procs.append(
            subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=(tmp / log).open("wb"))
        )

    gateways = args.gateways if args.mode == "queue" else 1
    ports = [free_port() for _ in range(gateways)]
    cli = [sys.executable, "-m", "envwatch.cli"]
    try:
        if args.mode == "queue":
            spawn(
                [nats_server, "-js", "-sd", str(tmp / "js"), "-a", "127.0.0.1", "-p", str(nats_port)],
                "nats.log",
            )
            wait_port(nats_port)
            for i in range(args.workers):
                spawn(
                    [*cli, "worker", "--consume", queue_url, "--data-dir", str(tmp / f"w{i}")],
                    f"worker{i}.log",
                )
        for i, port in enumerate(ports):
            queue = ["--queue", queue_url] if args.mode == "queue" else []
            spawn(
                [*cli, "gateway", "--data-dir", str(tmp / f"g{i}"), "--gateway-port", str(port), *queue],
                f"gateway{i}.log",
            )
        for port in ports:
            wait_port(port, 180)  # several interpreters start at once on a shared machine
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            load, elapsed = runner.run(drive(args.connections, ports, args.rate, args.duration, drain_s=30))
        load_ended = time.perf_counter()
        stored = stored_ok(url)
        while stored < load.acked and time.perf_counter() - load_ended < 300:
            time.sleep(0.5)
            stored = stored_ok(url)
        drained_after = time.perf_counter() - load_ended
    finally:
        for proc in reversed(procs):  # gateways first, then workers, then the server
            proc.terminate()
            proc.wait(timeout=120)
    result = {
        "when": now.isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "mode": args.mode,
        "gateways": gateways,
        "workers": args.workers if args.mode == "queue" else 0,
        "connections": args.connections,
        "offered_rate": args.rate,
        **load_figures(load, elapsed),
        "stored_ok_packets": stored,
        "every_acked_packet_stored": stored >= load.acked,
        "stored_all_acked_within_s_after_load": round(drained_after, 2),
        "client_errors": load.errors,
        "load_average_at_end": os.getloadavg(),
    }
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
    admin.dispose()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"scaleout-{args.mode}-{now:%Y%m%dT%H%M%S}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
