"""``envwatch worker --consume nats://…``: store frames from the JetStream stream into PostgreSQL.

Run as many as the database takes, on any machines: they share one durable consumer, each message is
stored once (docs/operations/scale-out.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Annotated

import typer

from envwatch.cli.common import DataDir, _fail, _logging, _prepare, _run, _settings


def worker(
    consume: Annotated[
        str | None, typer.Option("--consume", help="NATS URL of the JetStream server (or ENVWATCH_QUEUE_URL)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Store what the gateways publish to JetStream (``envwatch gateway --queue``) into PostgreSQL."""
    _logging()
    settings = _settings(data_dir, queue_url=consume)
    if not settings.queue_url:
        _fail("give --consume nats://host:4222 (or ENVWATCH_QUEUE_URL)")
    engine = _prepare(settings)
    if engine.dialect.name != "postgresql":
        _fail("envwatch worker stores into PostgreSQL: set ENVWATCH_DATABASE_URL")

    from envwatch.ingest.queue_consume import QueueWorker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        w = QueueWorker(settings, engine, name=f"envwatch-worker {socket.gethostname()}-{os.getpid()}")
        if settings.metrics_port:  # docs/operations/monitoring.md
            from envwatch.ingest.metrics import serve_metrics, worker_registry

            serve_metrics(worker_registry(w), settings.metrics_host, settings.metrics_port)
            typer.echo(f"metrics: http://{settings.metrics_host}:{settings.metrics_port}/metrics")
        await w.run(stop)
        logging.getLogger("envwatch.worker").info("worker stopped: %s", w.applier.counters)

    _run(main())
    engine.dispose()
