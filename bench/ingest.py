"""Ingest benchmark: packets/s, data points/s and ack latency of the HJ 212 gateway.

Starts ``envwatch gateway`` as its own process on a fresh embedded store (SQLite WAL, synchronous=FULL),
registers N devices, opens N concurrent TCP connections on loopback and sends CN 2011 packets with 9
factors each and the ack bit set, at a fixed total rate. The latency of a packet is the time from its
send to the 9014 that echoes its QN — and the gateway sends a 9014 only after the packet is committed.
At the end it checks that the store holds every acknowledged packet.

    .venv/bin/python bench/ingest.py --connections 1000 --rate 5000 --duration 30

Figures go in README.md (Performance). This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from envwatch.core.clock import CHINA_TZ
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.hj212 import crc_hex
from envwatch.migrations import upgrade
from envwatch.registry.store import DeviceRow, import_devices

FACTORS = ("a21026", "a21002", "a34013", "a19001", "a01012", "a01013", "a01011", "a01014", "a00000")


@dataclass
class Load:
    sent: int = 0
    acked: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


def mn_of(i: int) -> str:
    return f"BE{i:022X}"


def packet(mn: str, seq: int, base: datetime) -> tuple[bytes, bytes]:
    """A 2011 packet with a unique DataTime per sequence number; returns (frame, qn)."""
    moment = base + timedelta(seconds=seq)
    qn = moment.strftime("%Y%m%d%H%M%S") + f"{seq % 1000:03d}"
    values = ",".join(
        f"{code}-Rtd={(seq * 7 + n) % 900 / 10:.1f},{code}-Flag=N" for n, code in enumerate(FACTORS)
    )
    values = values.replace(",a", ";a")
    segment = (
        f"QN={qn};ST=31;CN=2011;PW=123456;MN={mn};Flag=5;CP=&&DataTime={moment:%Y%m%d%H%M%S};{values}&&"
    ).encode()
    return b"##%04d%s%s\r\n" % (len(segment), segment, crc_hex(segment).encode()), qn.encode()


async def device(i: int, port: int, interval: float, until: float, load: Load, base: datetime) -> None:
    mn = mn_of(i)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        load.errors += 1
        return
    pending: dict[bytes, float] = {}

    async def read_acks() -> None:
        buf = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            buf += chunk
            while (end := buf.find(b"\r\n")) >= 0:
                frame, buf = buf[:end], buf[end + 2 :]
                q = frame.find(b"QN=")
                if q >= 0 and b"CN=9014" in frame:
                    sent_at = pending.pop(frame[q + 3 : q + 20], None)
                    if sent_at is not None:
                        load.latencies.append(time.perf_counter() - sent_at)
                        load.acked += 1

    acks = asyncio.create_task(read_acks())
    await asyncio.sleep((i % 1000) / 1000 * interval)  # spread the connections over the interval
    seq = 0
    next_at = time.perf_counter()
    try:
        while next_at < until:
            frame, qn = packet(mn, seq, base)
            pending[qn] = time.perf_counter()
            writer.write(frame)
            load.sent += 1
            seq += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await writer.drain()
        deadline = time.perf_counter() + 10
        while pending and time.perf_counter() < deadline:  # wait for the last acks
            await asyncio.sleep(0.05)
    except OSError:
        load.errors += 1
    finally:
        acks.cancel()
        writer.close()


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


async def drive(n: int, port: int, rate: float, duration: float) -> tuple[Load, float]:
    load = Load()
    interval = n / rate
    base = datetime(2026, 1, 1, tzinfo=CHINA_TZ) - timedelta(seconds=int(duration * rate / n) + 10)
    start = time.perf_counter()
    await asyncio.gather(*(device(i, port, interval, start + duration, load, base) for i in range(n)))
    return load, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=5000, help="total packets per second offered")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="envwatch-bench-"))
    settings = Settings(data_dir=data_dir, _env_file=None)
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
    server = subprocess.Popen(
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
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(port)
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            load, elapsed = runner.run(drive(args.connections, port, args.rate, args.duration))
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    with sqlite3.connect(data_dir / "envwatch.db") as db:
        stored = db.execute("SELECT count(*) FROM raw_packets WHERE verdict = 'ok'").fetchone()[0]
        points = db.execute("SELECT count(*) FROM measurements").fetchone()[0]
    lat = sorted(load.latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) > 2 else [float("nan")] * 99
    result = {
        "when": now.isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "connections": args.connections,
        "offered_rate": args.rate,
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
        "stored_ok_packets": stored,
        "stored_data_points": points,
        "every_acked_packet_stored": stored >= load.acked,
        "client_errors": load.errors,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"ingest-{now:%Y%m%dT%H%M%S}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if server.returncode not in (0, -15):
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
