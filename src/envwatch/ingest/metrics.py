"""Prometheus metrics of a process (docs/operations/monitoring.md): the gateway's counters, the writer's
batch commit latency, and the process itself (CPU, memory, open files, GC).

Each process builds one :class:`~prometheus_client.CollectorRegistry` (:func:`metrics_registry`), served
at ``/metrics`` of the web app, or on ``metrics_port`` by ``envwatch gateway``. The gateway's counters are
read from ``Gateway.stats()`` at scrape time (a custom collector: the hot path keeps its plain integer
counters and pays nothing for metrics). Only the write latency is observed as it happens, through the
writer's ``on_commit`` hook, into a histogram.

No label names a device, an enterprise or a connection: the number of series stays fixed however many
data loggers connect (cardinality), and the metrics say nothing about whose data flows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# seconds from handing a batch to the writer process until its commit is answered
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# stats() key → (metric name without envwatch_gateway_, kind, help)
_GATEWAY = {
    "connections": ("connections", "gauge", "open HJ 212 TCP connections"),
    "devices_connected": ("devices_connected", "gauge", "data loggers with an authenticated connection"),
    "connections_paused": ("connections_paused", "gauge", "connections not read (writer backlog or buffer)"),
    "connections_accepted": ("connections_accepted", "counter", "connections accepted"),
    "connections_refused": ("connections_refused", "counter", "connections refused at max_connections"),
    "connections_idle_closed": ("connections_idle_closed", "counter", "connections closed as idle"),
    "frames_received": ("packets_received", "counter", "HJ 212 packets (frames) received"),
    "acks_sent": ("packets_acked", "counter", "acknowledgements (9014) sent, each after the commit"),
    "writer_backlog": (
        "writer_queue_depth",
        "gauge",
        "items submitted to the writer (or with --queue the JetStream publisher), not yet durable",
    ),
    "writer_batches": ("writer_batches", "counter", "batches (transactions) answered by the writer"),
    "writer_failures": ("writer_failures", "counter", "items the writer could not commit"),
    "commands_in_progress": ("commands_in_progress", "gauge", "downlink commands awaiting their answer"),
}


class GatewayCollector(Collector):
    """The gateway's counters (``Gateway.stats()``) at scrape time."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        stats = self.gateway.stats()
        for key, (name, kind, text) in _GATEWAY.items():
            if key not in stats:
                continue
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(f"envwatch_gateway_{name}", text, value=stats[key])
        writer = self.gateway.writer
        yield CounterMetricFamily(
            "envwatch_writer_restarts", "writer processes started again after one died", value=writer.restarts
        )
        yield GaugeMetricFamily(
            "envwatch_writer_alive",
            "1 when the writer process (or with --queue the JetStream publisher, connected) runs",
            value=1 if writer.alive else 0,
        )


class WorkerCollector(Collector):
    """A JetStream worker's counters (``QueueApplier.counters``) and its consumer's depth at scrape time."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        counters = self.worker.applier.counters
        for name, text in (
            ("batches", "transactions stored from the stream"),
            ("frames", "frames stored"),
            ("statements", "gateway statements applied"),
            ("skipped", "messages delivered again and skipped: already stored"),
            ("poison", "messages dropped as unreadable or not allowed"),
            ("store_failed", "frames refused alone by the store and kept raw as store_failed"),
        ):
            yield CounterMetricFamily(f"envwatch_worker_{name}", text, value=getattr(counters, name))
        for name, value, text in (
            ("queue_pending", self.worker.pending, "messages of the stream not yet delivered to the workers"),
            ("queue_ack_pending", self.worker.ack_pending, "messages delivered and not yet acknowledged"),
        ):
            if value is not None:  # not read from JetStream yet
                yield GaugeMetricFamily(f"envwatch_worker_{name}", text, value=value)


def worker_registry(worker: Any) -> CollectorRegistry:
    """The metrics of an ``envwatch worker`` process: its counters, queue depth and store latency."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(WorkerCollector(worker))
    latency = Histogram(
        "envwatch_worker_batch_seconds",
        "seconds from a fetched batch to its commit",
        buckets=BATCH_BUCKETS,
        registry=registry,
    )
    worker.on_commit = latency.observe
    return registry


def metrics_registry(gateway: Any = None) -> CollectorRegistry:
    """A registry of this process's metrics; with a gateway, its counters and the write latency too."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    if gateway is not None:
        registry.register(GatewayCollector(gateway))
        latency = Histogram(
            "envwatch_writer_batch_seconds",
            "seconds from handing a batch to the writer process until its commit is answered",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        gateway.writer.on_commit = latency.observe
    return registry


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Any:
    """prometheus_client's own HTTP server (a thread) for processes without the web app."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=host, registry=registry)
