"""Counters of a simulation run and the knobs that are not part of the everyday API."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["SimOptions", "SimStats"]


@dataclass(frozen=True)
class SimOptions:
    """Limits and timings. ``*_sim_s`` are simulated seconds; the others are wall seconds."""

    ack_timeout_s: float = 10.0  # HJ 212 Table 1 OverTime default (GPRS/4G): 10 s ...
    ack_retries: int = 3  # ... and ReCount 3; then the packet is given up (it stays answerable as history)
    heartbeat_sim_s: float = 60.0  # 2025 CN 9015 period
    mean_uptime_sim_s: float = 2 * 3600.0  # disturb: mean time between dropped connections
    outage_sim_s: tuple[float, float] = (60.0, 600.0)  # disturb: how long the logger stays away
    connect_timeout_s: float = 5.0
    backoff_s: tuple[float, float] = (0.5, 30.0)  # first and largest delay between connect attempts
    max_buffer: int = 50_000  # packets kept for back-fill while offline; the oldest go beyond this
    max_history_packets: int = 1000  # per history request (a logger's storage is finite too)
    max_frame_bytes: int = 4096  # the gateway's default limit; encrypted 2025 packets are split to fit
    max_segment_chars: int = 1024  # HJ 212 §6.3 data segment limit (plaintext); bigger messages split
    start_spread_s: float = 1.0  # first connections are spread over this much wall time

    def __post_init__(self) -> None:
        if self.ack_timeout_s <= 0 or self.ack_retries < 0:
            raise ValueError("ack_timeout_s must be > 0 and ack_retries >= 0")
        if self.max_buffer < 1 or self.max_history_packets < 1:
            raise ValueError("max_buffer and max_history_packets must be >= 1")
        if self.max_frame_bytes < 256 or self.max_segment_chars < 128:
            raise ValueError("max_frame_bytes must be >= 256 and max_segment_chars >= 128")


@dataclass
class SimStats:
    """What a run did. Shared by all devices of a run; pass one in to watch it while it runs."""

    packets_sent: int = 0  # frames written, parts of split messages and re-sends included
    acks_received: int = 0  # 9014 replies
    reconnects: int = 0  # successful connections after a device's first
    resends: int = 0  # frames written again: no 9014 in time, or in flight when the link dropped
    commands_answered: int = 0  # host requests/notifications answered (9011 ... 9012, or 9013)
    connect_failures: int = 0  # refused / timed-out / reset connection attempts
    backfilled: int = 0  # packets generated while offline, sent after reconnecting (2025: RF=1)
    heartbeats: int = 0  # 9015 sent (2025)
    gave_up: int = 0  # packets never acknowledged after all retries
    dropped: int = 0  # packets lost because the offline buffer was full
    bad_replies: int = 0  # frames from the server that did not decode
    by_cn: Counter[str] = field(default_factory=Counter)  # frames sent per CN

    def summary(self) -> str:
        per_cn = ", ".join(f"{cn}: {n}" for cn, n in sorted(self.by_cn.items())) or "none"
        text = (
            f"sent {self.packets_sent} packets ({per_cn}); {self.acks_received} acks; "
            f"{self.resends} re-sent; {self.backfilled} back-filled; {self.reconnects} reconnects; "
            f"{self.connect_failures} failed connection attempts; "
            f"{self.commands_answered} commands answered"
        )
        extras = [
            (self.heartbeats, "heartbeats"),
            (self.gave_up, "given up without ack"),
            (self.dropped, "dropped (buffer full)"),
            (self.bad_replies, "unreadable replies"),
        ]
        more = [f"{n} {what}" for n, what in extras if n]
        return text + ("; " + "; ".join(more) if more else "")
