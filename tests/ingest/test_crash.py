"""A crash never loses an acknowledged packet: SIGKILL the gateway process mid-stream, then look."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from tests.helpers import GAS_MN, register_demo_devices
from tests.ingest.gw import Logger, data_packet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "gateway died"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("gateway did not start")


def test_sigkill_loses_no_acknowledged_packet(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(settings)
    upgrade(engine)
    register_demo_devices(engine)
    engine.dispose()
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "envwatch.cli",
            "gateway",
            "--data-dir",
            str(settings.data_dir),
            "--gateway-port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ, ENVWATCH_REGISTRY_REFRESH_S="60"),
    )
    acked: list[str] = []
    try:
        wait_port(port, proc)

        async def stream() -> None:
            dev = await Logger.connect(port)
            sent = 0

            async def collect() -> None:
                while True:
                    acked.append((await dev.reply(timeout=10)).qn or "")

            collector = asyncio.create_task(collect())

            async def send_minutes(minutes: range) -> None:
                nonlocal sent
                for minute in minutes:
                    for second in range(0, 60, 5):
                        qn = f"20261122{10 + minute // 60:02d}{minute % 60:02d}{second:02d}000"
                        await dev.send(data_packet(qn=qn, data_time=qn[:14]))
                        sent += 1

            await send_minutes(range(0, 20))
            # wait (however slow the machine) until a good number is acknowledged ...
            deadline = asyncio.get_running_loop().time() + 30
            while len(acked) < 150 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            # ... then send more and kill while those are still in flight
            await send_minutes(range(20, 40))
            proc.send_signal(signal.SIGKILL)
            await asyncio.sleep(0.3)
            collector.cancel()

        asyncio.run(stream())
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert len(acked) >= 150, f"only {len(acked)} acks before the kill"
    with sqlite3.connect(settings.data_dir / "envwatch.db") as db:
        stored = {
            r[0] for r in db.execute("SELECT qn FROM raw_packets WHERE mn = ? AND verdict = 'ok'", (GAS_MN,))
        }
    missing = [qn for qn in acked if qn not in stored]
    assert not missing, f"{len(missing)} acknowledged packets lost, e.g. {missing[:3]}"
