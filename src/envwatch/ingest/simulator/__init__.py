"""Simulated data loggers (数采仪) that connect to an HJ 212 TCP server and behave like real ones.

Used by ``envwatch simulate`` and the demo, and by tests of the gateway.

Theory of operation
-------------------
Each :class:`SimDevice` becomes a :class:`~.logger.SimLogger` with its own asyncio tasks (no threads):

* **Instruments** (:mod:`.model`) are a pure function of (device seed, factor, time): smooth random
  walks around a daily production curve, within realistic ranges, with runs of C/M/D data flags.
  Because nothing is stored, a history request is answered with the very numbers that went out live.
* **Schedule**: a 2011 real-time packet every ``interval_s`` on the clock grid, 2051 at each minute
  boundary, 2061 at each hour, 2031 at each day; statistics (Min/Avg/Max, Cou for flows and emission
  amounts, Zs* converted values) are over exactly the real-time samples of the period, whose start is
  the DataTime. Times are China local (UTC+8).
* **Simulated time** (:mod:`.clock`) runs ``speedup`` times faster than wall time from ``start``, so
  hour boundaries can be reached in seconds; network timeouts stay in wall time.
* **Delivery**: packets want a 9014 (Flag 5 for 2017, 9 for 2025); unacknowledged ones are re-sent
  after ``ack_timeout_s``, ``ack_retries`` times. With ``disturb`` a logger drops its connection now
  and then, stays away, reconnects and back-fills what it produced meanwhile (2025: header ``RF=1``);
  what was in flight is sent again, so the server sees some duplicates, as it does in the field.
  Messages over the 1024-character segment limit (or, encrypted, over the gateway's frame limit) are
  split into PNUM/PNO parts sharing one QN.
* **2025** loggers encrypt data CPs with their SM4 key and send a 9015 heartbeat every minute.
* **Host commands** are answered like a logger does: 9011 QnRtn, the work (1011 SystemTime upload,
  1012 set time, 1061-1064 intervals, 2051/2061/2031 history over BeginTime-EndTime), then 9012.

Bounds: the run stops when ``duration_s`` (wall seconds) elapses or the caller cancels it; connection
failures are retried with exponential back-off and counted in :class:`SimStats`, never raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from envwatch.core.clock import utcnow

from .clock import SimClock
from .devices import SimDevice, demo_devices
from .logger import SimLogger
from .model import DeviceModel
from .stats import SimOptions, SimStats

__all__ = ["DeviceModel", "SimDevice", "SimOptions", "SimStats", "demo_devices", "run_simulation"]


async def run_simulation(
    target_host: str,
    target_port: int,
    devices: Sequence[SimDevice],
    *,
    interval_s: float,
    duration_s: float | None,
    seed: int = 0,
    speedup: float = 1.0,
    stats: SimStats | None = None,
    disturb: bool = True,
    start: datetime | None = None,
    options: SimOptions | None = None,
) -> SimStats:
    """Run ``devices`` against ``target_host:target_port`` for ``duration_s`` wall seconds (None: until
    cancelled) and return the counters.

    ``interval_s`` is the real-time (2011) interval in simulated seconds; ``speedup`` makes simulated
    time run faster than wall time, starting at ``start`` (default: now). Pass ``stats`` to watch the
    counters while the run goes on (they are also what is left after a cancellation).
    """
    if interval_s <= 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s}")
    if duration_s is not None and duration_s < 0:
        raise ValueError(f"duration_s must be >= 0 or None, got {duration_s}")
    stats = stats if stats is not None else SimStats()
    if not devices:
        return stats
    clock = SimClock(start or utcnow(), speedup)
    loggers = [
        SimLogger(
            device,
            host=target_host,
            port=target_port,
            clock=clock,
            interval_s=interval_s,
            seed=seed,
            stats=stats,
            options=options or SimOptions(),
            disturb=disturb,
        )
        for device in devices
    ]
    try:
        async with asyncio.timeout(duration_s), asyncio.TaskGroup() as group:
            for logger in loggers:
                group.create_task(logger.run())
    except TimeoutError:
        pass  # the duration is over: every logger task has been cancelled and awaited
    return stats
