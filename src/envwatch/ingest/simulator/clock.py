"""Simulated time: wall time scaled by ``speedup`` from a chosen start instant.

Device behaviour (sampling, minute/hour boundaries, heartbeats, how long a disconnect lasts) runs on
this clock, so a test can live through an hour boundary in a few wall seconds. Network behaviour
(ack timeouts, connect back-off) stays on wall time: latency does not speed up.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from envwatch.core.clock import CHINA_TZ

__all__ = ["SimClock", "local_datetime", "local_seconds"]

_EPOCH = datetime(1970, 1, 1)


def local_seconds(moment: datetime) -> float:
    """Aware datetime → local epoch seconds (China time, see :mod:`.model`)."""
    naive = moment.astimezone(CHINA_TZ).replace(tzinfo=None)
    return (naive - _EPOCH).total_seconds()


def local_datetime(t: float) -> datetime:
    """Local epoch seconds → aware datetime in China time."""
    return (_EPOCH + timedelta(seconds=t)).replace(tzinfo=CHINA_TZ)


class SimClock:
    """``now()`` in local epoch seconds of simulated time."""

    def __init__(self, start: datetime, speedup: float) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulation start must be an aware datetime")
        if speedup <= 0:
            raise ValueError(f"speedup must be > 0, got {speedup}")
        self.speedup = speedup
        # the event loop's clock, so that deadlines can be handed to asyncio.timeout_at
        self._wall = asyncio.get_running_loop().time
        self._wall0 = self._wall()
        self._sim0 = local_seconds(start)

    def now(self) -> float:
        return self._sim0 + (self._wall() - self._wall0) * self.speedup

    def wall_deadline(self, t: float) -> float:
        """The event-loop time at which simulated instant ``t`` arrives (for ``asyncio.timeout_at``)."""
        return self._wall0 + (t - self._sim0) / self.speedup

    async def sleep(self, sim_seconds: float) -> None:
        # Always yield, even for 0: a producer catching up after a stall must not starve the writer.
        await asyncio.sleep(max(0.0, sim_seconds) / self.speedup)
