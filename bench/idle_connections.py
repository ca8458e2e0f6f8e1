"""Idle-connection benchmark: how many silent data loggers one gateway holds, and what each costs.

Starts ``envwatch gateway`` as its own process on a fresh embedded store (like bench/ingest.py), with
``max_connections`` and ``idle_timeout_s`` set high, then:

1. times a *live* device (one connection sending CN 2011 packets with the ack bit, one at a time) to get
   the normal ack latency;
2. opens N idle connections from client processes (plain non-blocking sockets and ``selectors``, no
   event-loop framework), each process binding its sockets to its own source address 127.0.0.x and
   explicit ports (the ephemeral range holds ~28 k ports, and the kernel's search for a free one slows
   down as it fills);
3. measures the gateway's resident memory (VmRSS of the gateway process; its writer child is reported
   apart) before and after, divided by N: the memory per *connected* socket;
4. sends one heartbeat (CN 9015, answered with 9013 after the frame is stored) on every connection, so
   the gateway holds an authenticated device session per connection, and measures again;
5. times the live device again while all of them are held.

    .venv/bin/python -m bench.idle_connections --connections 100000

The bench raises RLIMIT_NOFILE for itself, the gateway and the clients (it runs as root here; see
docs/operations/capacity.md for the limits to set in production). Figures go in
docs/operations/capacity.md. This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import selectors
import shutil
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from bench.ingest import free_port, mn_of, packet, start_gateway, wait_port
from envwatch.core.clock import CHINA_TZ
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.hj212 import crc_hex
from envwatch.migrations import upgrade
from envwatch.registry.store import DeviceRow, import_devices

PER_SOURCE = 25_000  # connections per source address (the ephemeral port range holds ~28 k)
CONNECT_WINDOW = 256  # connects in flight per client process (the gateway's listen backlog is 1024)
FIRST_SOURCE_PORT = 2000  # source ports 2001... on each 127.0.0.x (PER_SOURCE of them)


def heartbeat(mn: str, seq: int) -> bytes:
    """A CN 9015 heartbeat (HJ 212-2025 §6.4.4); the gateway answers 9013 once the frame is stored."""
    qn = f"20260101000000{seq % 1000:03d}"
    segment = f"QN={qn};ST=91;CN=9015;PW=123456;MN={mn};Flag=4;CP=&&&&".encode()
    return b"##%04d%s%s\r\n" % (len(segment), segment, crc_hex(segment).encode())


# --- client processes ------------------------------------------------------------------------------


@dataclass
class ClientReport:
    opened: int
    failed: int
    seconds: float


def _open_all(source: str, port: int, first: int, count: int) -> tuple[list[socket.socket], ClientReport]:
    """Open ``count`` connections from ``source``, at most CONNECT_WINDOW in flight."""
    sel = selectors.DefaultSelector()
    done: list[socket.socket] = []
    failed = 0
    started = time.perf_counter()
    next_i = 0
    in_flight = 0
    port_no = FIRST_SOURCE_PORT
    while len(done) + failed < count:
        while in_flight < CONNECT_WINDOW and next_i < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            while True:  # explicit source ports: the kernel's search for a free one slows as they fill
                port_no += 1
                try:
                    s.bind((source, port_no))
                    break
                except OSError:
                    continue
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_WRITE, first + next_i)
            next_i += 1
            in_flight += 1
        for key, _ in sel.select(timeout=5):
            s = key.fileobj  # type: ignore[assignment]
            sel.unregister(s)
            in_flight -= 1
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                done.append(s)
            else:
                failed += 1
                s.close()
    sel.close()
    return done, ClientReport(len(done), failed, time.perf_counter() - started)


def _greet_all(socks: list[socket.socket], first: int) -> ClientReport:
    """Send one heartbeat on each connection and wait for every 9013 reply."""
    sel = selectors.DefaultSelector()
    started = time.perf_counter()
    failed = 0
    for i, s in enumerate(socks):
        s.send(heartbeat(mn_of(first + i), i))  # 80 bytes into an empty send buffer: never short
        sel.register(s, selectors.EVENT_READ, b"")
    waiting = len(socks)
    deadline = time.monotonic() + 600
    while waiting and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=5):
            s = key.fileobj  # type: ignore[assignment]
            data = key.data + s.recv(4096)
            if not data or b"\r\n" in data:
                sel.unregister(s)
                waiting -= 1
                if not data or b"CN=9013" not in data:
                    failed += 1
            else:
                sel.modify(s, selectors.EVENT_READ, data)
    failed += waiting
    sel.close()
    return ClientReport(len(socks) - failed, failed, time.perf_counter() - started)


def client_main(pipe: Pipe, source: str, port: int, first: int, count: int) -> None:
    """One client process: open, report, greet on request, report, hold until told to close."""
    socks, report = _open_all(source, port, first, count)
    pipe.send(report)
    while (order := pipe.recv()) != "close":
        if order == "greet":
            pipe.send(_greet_all(socks, first))
    for s in socks:
        s.close()
    pipe.send("closed")


# --- the live device -------------------------------------------------------------------------------


def live_latencies(port: int, mn: str, samples: int, spacing: float, base: datetime) -> list[float]:
    """Ack latency of ``samples`` packets of one live device, one at a time, ``spacing`` s apart."""
    out: list[float] = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        for seq in range(samples):
            frame, qn = packet(mn, seq, base)
            t0 = time.perf_counter()
            s.sendall(frame)
            buf = b""
            while not (b"CN=9014" in buf and qn in buf and buf.endswith(b"\r\n")):
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("the gateway closed the live device's connection")
                buf += chunk
            out.append(time.perf_counter() - t0)
            time.sleep(spacing)
    return out


def latency_summary(lat: list[float]) -> dict[str, float]:
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        "samples": len(lat),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(lat) * 1000, 2),
    }


# --- the gateway process ---------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def children_rss_kib(pid: int) -> int:
    total = 0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        total += rss_kib(int(child))
    return total


def raise_nofile(need: int) -> int:
    """Raise this process's open-file limit (inherited by the gateway and the clients)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
    except (ValueError, PermissionError):  # not root: as far as the hard limit allows
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run(
    connections: int, live_samples: int, spacing: float, settle_s: float, data_dir: Path | None = None
) -> dict[str, Any]:
    """The whole benchmark; the store goes into ``data_dir`` (a new temporary directory, removed after)."""
    limit = raise_nofile(connections + 1000)
    if limit < connections + 500:
        # the gateway holds one descriptor per connection: with a hard limit it may not raise (no
        # CAP_SYS_RESOURCE, as in some containers) the run is impossible, not smaller
        raise SystemExit(
            f"RLIMIT_NOFILE is {limit} and cannot be raised: at most {limit - 500} connections here"
        )
    own_dir = data_dir is None
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="envwatch-idle-"))
    settings = Settings(data_dir=data_dir, _env_file=None)
    engine = make_engine(settings)
    upgrade(engine)
    now = datetime.now(UTC)
    rows = [
        DeviceRow(mn_of(i), "123456", f"idle {i}", "bench", f"outlet {i}", "gas", "2017", None, "standard")
        for i in range(connections + 1)
    ]
    import_devices(engine, rows, now)
    engine.dispose()
    port = free_port()
    env = dict(
        os.environ,
        ENVWATCH_MAX_CONNECTIONS=str(connections + 1000),
        ENVWATCH_IDLE_TIMEOUT_S="86400",
    )
    server = start_gateway(data_dir, port, env)
    result: dict[str, Any] = {
        "when": now.isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "connections": connections,
    }
    ctx = mp.get_context("fork")
    clients: list[tuple[Any, Pipe]] = []
    base = datetime(2026, 1, 1, tzinfo=CHINA_TZ)
    live_mn = mn_of(connections)
    try:
        wait_port(port)
        time.sleep(settle_s)
        result["live_before"] = latency_summary(live_latencies(port, live_mn, live_samples, spacing, base))
        rss0 = rss_kib(server.pid)
        result["gateway_rss_before_kib"] = rss0
        result["writer_rss_before_kib"] = children_rss_kib(server.pid)

        # open: one process per source address
        started = time.perf_counter()
        for n, first in enumerate(range(0, connections, PER_SOURCE)):
            count = min(PER_SOURCE, connections - first)
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=client_main, args=(theirs, f"127.0.0.{n + 2}", port, first, count))
            proc.start()
            clients.append((proc, ours))
        opened = [pipe.recv() for _, pipe in clients]
        result["open_s"] = round(time.perf_counter() - started, 2)
        result["opened"] = sum(r.opened for r in opened)
        result["open_failed"] = sum(r.failed for r in opened)
        result["client_processes"] = len(clients)
        time.sleep(settle_s)  # accept callbacks still queued
        rss1 = rss_kib(server.pid)
        result["gateway_rss_connected_kib"] = rss1
        result["bytes_per_connection"] = round((rss1 - rss0) * 1024 / max(1, result["opened"]))

        # one heartbeat each: an authenticated device session per connection
        started = time.perf_counter()
        for _, pipe in clients:
            pipe.send("greet")
        greeted = [pipe.recv() for _, pipe in clients]
        result["heartbeat_all_s"] = round(time.perf_counter() - started, 2)
        result["heartbeats_answered"] = sum(r.opened for r in greeted)
        result["heartbeats_failed"] = sum(r.failed for r in greeted)
        time.sleep(settle_s)
        rss2 = rss_kib(server.pid)
        result["gateway_rss_sessions_kib"] = rss2
        result["writer_rss_sessions_kib"] = children_rss_kib(server.pid)
        result["bytes_per_device_session"] = round(
            (rss2 - rss0) * 1024 / max(1, result["heartbeats_answered"])
        )

        result["live_while_held"] = latency_summary(
            live_latencies(port, live_mn, live_samples, spacing, base + timedelta(hours=1))
        )
        result["gateway_alive"] = server.poll() is None
    finally:
        for _, pipe in clients:
            pipe.send("close")
        for proc, pipe in clients:
            pipe.recv()
            proc.join(timeout=60)
        server.terminate()
        server.wait(timeout=600)
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--live-samples", type=int, default=150, help="packets the live device sends each time")
    ap.add_argument("--spacing", type=float, default=0.1, help="seconds between the live device's packets")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds to wait before each memory reading")
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args()
    result = run(args.connections, args.live_samples, args.spacing, args.settle)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"idle-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
