"""``/healthz``, ``/readyz`` and ``/metrics`` (web.health, ingest.metrics) on real stores, with packets going
through a real gateway on loopback; and the gateway-only metrics port (prometheus_client's server)."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, text

from envwatch.core.settings import Settings
from envwatch.ingest.gateway import Gateway
from envwatch.ingest.metrics import metrics_registry, serve_metrics
from envwatch.web.app import create_app
from tests.helpers import GAS_MN, register_demo_devices
from tests.ingest.gw import Logger, data_packet, run_with_gateway


def samples(body: str) -> dict[str, float]:
    """Unlabelled samples by name (and histogram counts), parsed as Prometheus would."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if not sample.labels or (set(sample.labels) == {"le"} and sample.labels["le"] == "+Inf"):
                found[sample.name] = sample.value
    return found


def read_url(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


def labels_used(body: str) -> set[str]:
    return {k for family in text_string_to_metric_families(body) for s in family.samples for k in s.labels}


def get(app: Any, path: str) -> Any:
    return TestClient(app).get(path)


def test_healthz_and_readyz_on_a_sound_store_without_a_token(
    settings: Settings, sqlite_engine: Engine
) -> None:
    app = create_app(settings, sqlite_engine)
    assert get(app, "/healthz").json() == {"status": "ok"}
    ready = get(app, "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}
    metrics = get(app, "/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "process_resident_memory_bytes" in samples(metrics.text)


def test_readyz_is_503_when_the_database_is_gone_or_behind(settings: Settings, tmp_path: Path) -> None:
    gone = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'envwatch.db'}")
    answer = get(create_app(settings, gone), "/readyz")
    assert answer.status_code == 503 and answer.json()["status"] == "not ready"
    assert answer.json()["checks"]["database"].startswith("failed: OperationalError")
    # a database that answers but was never migrated (or is at another release's schema)
    behind = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with behind.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0001_old')"))
    answer = get(create_app(settings, behind), "/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == "ok"
    assert answer.json()["checks"]["migrations"].startswith("schema at 0001_old, this release needs")


def test_readyz_answers_in_time_when_the_database_does_not(tmp_path: Path) -> None:
    # a "database" that accepts the connection and never says a word (a host dropping packets alike)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        quiet = create_engine(f"postgresql+psycopg://envwatch@127.0.0.1:{port}/envwatch")
        settings = Settings(data_dir=tmp_path / "var", ready_timeout_s=0.5, _env_file=None)  # type: ignore[call-arg]
        started = time.monotonic()
        answer = get(create_app(settings, quiet), "/readyz")
        assert time.monotonic() - started < 5
    quiet.dispose()
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == "no answer within 0.5 s (ready_timeout_s)"


def test_metrics_move_as_packets_go_through_a_real_gateway(settings: Settings, sqlite_engine: Engine) -> None:
    register_demo_devices(sqlite_engine)

    async def body(gw: Gateway, port: int) -> None:
        app = create_app(settings, sqlite_engine, gw)
        client = TestClient(app)

        async def fetch(path: str) -> Any:  # off the loop: the gateway keeps serving meanwhile
            return await asyncio.to_thread(client.get, path)

        before = samples((await fetch("/metrics")).text)
        dev = await Logger.connect(port)
        for minute in range(3):
            await dev.send(data_packet(qn=f"2026112212000{minute}001", data_time=f"2026112212{minute:02d}00"))
            assert (await dev.reply()).cn == "9014"
        response = await fetch("/metrics")
        after = samples(response.text)
        assert (await fetch("/readyz")).json()["checks"]["writer"] == "ok"
        # the writer process dies: not ready until it is running again
        child = gw.writer._child
        assert child is not None
        child.process.kill()
        await asyncio.to_thread(child.process.join, 5)
        dead = await fetch("/readyz")
        assert dead.status_code == 503 and dead.json()["checks"]["writer"] != "ok"
        await dev.close()
        assert (
            after["envwatch_gateway_packets_received_total"]
            - before["envwatch_gateway_packets_received_total"]
            == 3
        )
        assert (
            after["envwatch_gateway_packets_acked_total"] - before["envwatch_gateway_packets_acked_total"]
            == 3
        )
        assert after["envwatch_gateway_connections"] == 1 and after["envwatch_gateway_devices_connected"] == 1
        assert (
            after["envwatch_writer_batch_seconds_count"] >= before["envwatch_writer_batch_seconds_count"] + 1
        )
        assert after["envwatch_writer_batch_seconds_sum"] > 0
        assert "envwatch_gateway_writer_queue_depth" in after and after["envwatch_writer_alive"] == 1
        assert after["envwatch_gateway_connections_refused_total"] == 0
        assert "process_cpu_seconds_total" in after
        # no series names a device: labels are only the histogram's buckets and Python's own
        assert labels_used(response.text) <= {
            "le",
            "generation",
            "implementation",
            "major",
            "minor",
            "patchlevel",
            "version",
        }
        assert GAS_MN not in response.text

    run_with_gateway(settings, sqlite_engine, body)


def test_the_gateway_alone_serves_metrics_on_its_own_port(settings: Settings, sqlite_engine: Engine) -> None:
    async def body(gw: Gateway, port: int) -> None:
        server, thread = serve_metrics(metrics_registry(gw), "127.0.0.1", 0)
        try:
            url = f"http://127.0.0.1:{server.server_port}/metrics"
            text_body = await asyncio.to_thread(lambda: read_url(url))
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
        found = samples(text_body)
        assert (
            found["envwatch_gateway_connections"] == 0 and "envwatch_gateway_packets_received_total" in found
        )

    run_with_gateway(settings, sqlite_engine, body)
