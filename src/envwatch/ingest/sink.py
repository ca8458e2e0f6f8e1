"""Where a gateway sends what it received: the local writer process, or a JetStream stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from envwatch.ingest.store import InboundFrame
from envwatch.ingest.writer import Dispatch, StatementDone


class FrameSink(Protocol):
    """What the gateway, its sessions and its command tracker use (``Writer``, ``QueuePublisher``).

    A frame's ``done`` and a statement's ``done`` are called through ``dispatch`` once the item is
    durable (committed in the database, or stored in the stream); only then is a device acknowledged."""

    dispatch: Dispatch
    on_batch: Callable[[int], object] | None
    on_commit: Callable[[float], object] | None  # seconds to durability, for /metrics
    batches: int
    failures: int
    restarts: int

    @property
    def alive(self) -> bool: ...

    def start(self) -> None: ...
    def stop(self, timeout: float = ...) -> None: ...
    @property
    def backlog(self) -> int: ...
    def submit(self, frame: InboundFrame) -> None: ...
    def submit_statement(
        self, sql: str, params: tuple[Any, ...], done: StatementDone | None = None
    ) -> None: ...
    def flush(self, timeout: float = ...) -> None: ...
