"""A background round repeated for ever (the loops of ``envwatch serve``: alarms, evidence, …).

Each round runs in a worker thread (rounds use the database synchronously), its result is logged when it
has one, and an error is logged and never ends the loop: the next round tries again, because every loop's
state lives in the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any


async def every(
    seconds: float, what: str, round_: Callable[[], Any], log: logging.Logger, level: int = logging.INFO
) -> None:
    """Run ``round_`` now and then every ``seconds`` until cancelled; ``what`` names it in the log, where a
    round's result goes at ``level`` (DEBUG for rounds that find something nearly every time)."""
    while True:
        try:
            result = await asyncio.to_thread(round_)
            if result:
                log.log(level, "%s: %s", what, result)
        except Exception:  # the next round tries again; the state is in the database
            log.exception("%s failed", what)
        await asyncio.sleep(seconds)
