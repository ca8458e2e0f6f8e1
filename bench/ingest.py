"""Ingest benchmark: packets/s, data points/s and ack latency of the HJ 212 gateway.

Starts ``envwatch gateway`` as its own process on a fresh embedded store (SQLite WAL, synchronous=FULL),
registers N devices, opens N concurrent TCP connections on loopback and sends CN 2011 packets with 9
factors each and the ack bit set, at a fixed total rate. The latency of a packet is the time from its
send to the 9014 that echoes its QN — and the gateway sends a 9014 only after the packet is committed.
At the end it checks that the store holds every acknowledged packet.

    .venv/bin/python bench/ingest.py --connections 1000 --rate 5000 --duration 30
    .venv/bin/python bench/ingest.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

With ``--postgres URL`` the store is a fresh PostgreSQL database created next to the one URL names (and
dropped afterwards unless ``--keep``), migrated to head like any production database.

Figures go in README.md (Performance). This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, make_url, text

from envwatch.core.clock import CHINA_TZ
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.hj212 import crc_hex
from envwatch.migrations import upgrade
from envwatch.registry.store import DeviceRow, import_devices

TICK = 0.005  # seconds between the load client's sending rounds
FACTORS = ("a21026", "a21002", "a34013", "a19001", "a01012", "a01013", "a01011", "a01014", "a00000")


@dataclass
class Load:
    sent: int = 0
    acked: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    last_ack: float = 0.0


def mn_of(i: int) -> str:
    return f"BE{i:022X}"


def packet(mn: str, seq: int, base: datetime) -> tuple[bytes, bytes]:
    """A 2011 packet with a unique DataTime per sequence number; returns (frame, qn)."""
    moment = base + timedelta(seconds=seq)
    qn = moment.strftime("%Y%m%d%H%M%S") + f"{seq % 1000:03d}"
    values = ";".join(
        f"{code}-Rtd={(seq * 7 + n) % 900 / 10:.1f},{code}-Flag=N" for n, code in enumerate(FACTORS)
    )
    segment = (
        f"QN={qn};ST=31;CN=2011;PW=123456;MN={mn};Flag=5;CP=&&DataTime={moment:%Y%m%d%H%M%S};{values}&&"
    ).encode()
    return b"##%04d%s%s\r\n" % (len(segment), segment, crc_hex(segment).encode()), qn.encode()


class LoggerProtocol(asyncio.Protocol):
    """One simulated data logger: sends pre-built packets, times each 9014 by the QN it echoes."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.pending: dict[bytes, float] = {}
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, frame: bytes, qn: bytes) -> None:
        assert self.transport is not None
        self.pending[qn] = time.perf_counter()
        self.transport.write(frame)
        self.load.sent += 1

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buf += data
        while (end := self.buf.find(b"\r\n")) >= 0:
            frame, self.buf = self.buf[:end], self.buf[end + 2 :]
            q = frame.find(b"QN=")
            if q >= 0 and b"CN=9014" in frame:
                sent_at = self.pending.pop(frame[q + 3 : q + 20], None)
                if sent_at is not None:
                    self.load.latencies.append(now - sent_at)
                    self.load.acked += 1
                    self.load.last_ack = now

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pending:
            self.load.errors += 1


async def drive(
    n: int,
    port: int | list[int],
    rate: float,
    duration: float,
    drain_s: float = 15.0,
    at_start: Callable[[], object] | None = None,
) -> tuple[Load, float]:
    """Open-loop load: device i sends every n/rate seconds, the devices evenly staggered; with several
    ports (bench/scaleout.py: several gateways) device i talks to port i mod len(ports). The last acks
    are awaited up to ``drain_s``. ``at_start`` is called once every connection is open, just before the
    first packet is sent."""
    ports = port if isinstance(port, list) else [port]
    load = Load()
    interval = n / rate
    per_device = int(duration / interval) + 1
    base = datetime(2026, 1, 1, tzinfo=CHINA_TZ) - timedelta(seconds=per_device + 10)
    # build every packet first, so that the client spends its time sending, not formatting
    frames = [[packet(mn_of(i), seq, base) for seq in range(per_device)] for i in range(n)]
    loop = asyncio.get_running_loop()
    protocols: list[LoggerProtocol] = []
    for i in range(n):
        _, proto = await loop.create_connection(
            lambda: LoggerProtocol(load), "127.0.0.1", ports[i % len(ports)]
        )
        protocols.append(proto)
    if at_start is not None:
        at_start()
    start = time.perf_counter()
    slot = interval / n
    total = n * per_device
    k = 0
    while k < total:
        due = start + k * slot
        now = time.perf_counter()
        if due > now:
            # wake at most every TICK: one wake-up per packet would cost the client more than the sending
            await asyncio.sleep(max(due - now, TICK))
            now = time.perf_counter()
        # everything due by now, in order (device k % n, its packet k // n)
        while k < total and start + k * slot <= now:
            protocols[k % n].send(*frames[k % n][k // n])
            k += 1
    deadline = time.perf_counter() + drain_s
    while any(p.pending for p in protocols) and time.perf_counter() < deadline:  # the last acks
        await asyncio.sleep(0.05)
    sending_ended = start + total * slot
    elapsed = max(load.last_ack, sending_ended) - start  # from the first send to the last ack
    for p in protocols:
        if p.transport is not None:
            p.transport.close()
    return load, elapsed


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gateway did not open port {port}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_postgres(url: str) -> str:
    """A new empty database on the server of ``url``; its URL."""
    name = f"envwatch_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_postgres(url: str, database_url: str) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {make_url(database_url).database} WITH (FORCE)"))
    admin.dispose()


def stored_counts(engine: Engine) -> tuple[int, int]:
    """(ok packets, data points) stored: one record per packet, a data point is one factor of it."""
    each = "jsonb_object_keys(m.factors)" if engine.dialect.name == "postgresql" else "json_each(m.factors)"
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM raw_packets WHERE verdict = 'ok'")).scalar_one()
        points = conn.execute(text(f"SELECT count(*) FROM measurements m, {each}")).scalar_one()
    return int(stored), int(points)


def load_figures(load: Load, elapsed: float) -> dict[str, Any]:
    """What a load run measured: packets sent and acked, rates, ack latency quantiles (shared by the benches)."""
    lat = sorted(load.latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) > 2 else [float("nan")] * 99
    return {
        "duration_s": round(elapsed, 2),
        "packets_sent": load.sent,
        "packets_acked": load.acked,
        "acked_per_s": round(load.acked / elapsed, 1),
        "data_points_per_s": round(load.acked * len(FACTORS) / elapsed, 1),
        "ack_latency_ms": {
            "p50": round(q[49] * 1000, 2),
            "p99": round(q[98] * 1000, 2),
            "max": round(lat[-1] * 1000, 2) if lat else None,
        },
    }


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time (user + system, seconds) used so far by process ``pid`` and by each of its descendants,
    keyed "pid name", read from /proc (Linux). Empty where /proc is not there."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            children = " ".join(c.read_text() for c in Path(f"/proc/{p}/task").glob("*/children"))
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        found[f"{p} {name}"] = round((int(fields[11]) + int(fields[12])) / tick, 2)  # utime, stime
        todo.extend(int(c) for c in children.split())
    return found


def start_gateway(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``envwatch gateway`` as its own process on ``data_dir``; its log goes to ``data_dir/gateway.log``."""
    with (data_dir / "gateway.log").open("wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "envwatch.cli",
                "gateway",
                "--data-dir",
                str(data_dir),
                "--gateway-port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=5000, help="total packets per second offered")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    ap.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to store in (see above)")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    args = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="envwatch-bench-"))
    database_url = fresh_postgres(args.postgres) if args.postgres else None
    settings = Settings(data_dir=data_dir, database_url=database_url, _env_file=None)
    engine = make_engine(settings)
    upgrade(engine)
    now = datetime.now(UTC)
    rows = [
        DeviceRow(mn_of(i), "123456", f"bench {i}", "bench", f"outlet {i}", "gas", "2017", None, "standard")
        for i in range(args.connections)
    ]
    import_devices(engine, rows, now)
    port = free_port()
    env = dict(os.environ, ENVWATCH_MAX_CONNECTIONS=str(args.connections + 100))
    if database_url:
        env["ENVWATCH_DATABASE_URL"] = database_url
    server = start_gateway(data_dir, port, env)
    try:
        wait_port(port)
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        before: dict[str, float] = {}

        def mark() -> None:  # CPU used so far, once the connections are open
            before.update(cpu_seconds(server.pid), client=time.process_time())

        with runner:
            load, elapsed = runner.run(drive(args.connections, port, args.rate, args.duration, at_start=mark))
        # what the load itself cost: CPU seconds from the first packet sent to the last ack
        cpu = {k: round(v - before.get(k, 0.0), 2) for k, v in cpu_seconds(server.pid).items()}
        cpu["load client"] = round(time.process_time() - before["client"], 2)
    finally:
        server.terminate()
        server.wait(timeout=600)  # it first stores everything it received
    stored, points = stored_counts(engine)
    engine.dispose()
    if database_url and not args.keep:
        drop_postgres(args.postgres, database_url)
    result = {
        "when": now.isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "store": engine.dialect.name,
        "connections": args.connections,
        "offered_rate": args.rate,
        **load_figures(load, elapsed),
        "stored_ok_packets": stored,
        "stored_data_points": points,
        "every_acked_packet_stored": stored >= load.acked,
        # the gateway's process tree (gateway, forkserver, writer) and the client, during the load
        "cpu_seconds": cpu,
        "client_errors": load.errors,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"ingest-{now:%Y%m%dT%H%M%S}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if server.returncode not in (0, -15):
        print(f"gateway exited with {server.returncode}: see {data_dir / 'gateway.log'}", file=sys.stderr)


if __name__ == "__main__":
    main()
