"""The alarm loops a running platform keeps going (``envwatch serve``, or ``envwatch alarms watch`` alone).

Each loop is one small round repeated: the offline watcher, missing hour records, the detectors over today's
hours, escalation of overdue alarms and orders, and the notification dispatcher (the outbox). Every round is
safe in several processes at once (compare-and-set in the store), takes ``now`` from the clock once, and
never ends the loop on an error: the error is logged and the next round tries again (nothing is lost, the
state lives in the database).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine

from envwatch.alarms import missing_hours, orders
from envwatch.alarms.detect_run import run_day
from envwatch.alarms.dispatch import NotifyConfig, build_channels, run_dispatcher
from envwatch.alarms.offline import run_round
from envwatch.alarms.store import escalate_overdue
from envwatch.core.clock import to_china, utcnow
from envwatch.core.loops import every
from envwatch.core.settings import Settings

log = logging.getLogger("envwatch.alarms")


def escalate_round(engine: Engine) -> dict[str, int] | None:
    """Alarms not acknowledged and orders not answered by their deadlines."""
    with engine.begin() as conn:
        now = utcnow()
        found = {
            "alarms": len(escalate_overdue(conn, now)),
            "orders": len(orders.escalate_overdue(conn, now)),
        }
    return found if any(found.values()) else None


def alarm_loops(engine: Engine, settings: Settings) -> list[Any]:
    """The coroutines to run as tasks."""
    grace, ack = settings.offline_grace_s, settings.alarm_ack_due_s

    def offline() -> Any:
        found = run_round(engine, utcnow(), grace_s=grace, ack_due_s=ack)
        return {"silent": len(found.silent), "back": len(found.back)} if found.silent or found.back else None

    def missing() -> Any:
        found = missing_hours.run_round(engine, utcnow(), due_s=settings.hour_data_due_s, ack_due_s=ack)
        return {"missing hour": len(found)} if found else None

    judged_yesterday: set[date] = set()

    def detect() -> Any:
        """Today's hours so far; yesterday's whole day once per process after midnight (its last hours)."""
        now = utcnow()
        today = to_china(now).date()
        days = [today]
        if today - timedelta(days=1) not in judged_yesterday:
            days.insert(0, today - timedelta(days=1))
        found = {}
        for day in days:
            run = run_day(engine, settings, day, now)
            if day < today:
                judged_yesterday.add(day)
            if run.detections:
                found[day.isoformat()] = {"detections": run.detections, "opened": run.opened}
        return found or None

    return [
        every(settings.offline_check_every_s, "offline watcher", offline, log),
        every(settings.detect_every_s, "detectors", detect, log),
        every(settings.offline_check_every_s, "missing hours", missing, log),
        every(settings.alarm_escalate_every_s, "escalation", lambda: escalate_round(engine), log),
        _dispatch(engine, settings),
    ]


async def _dispatch(engine: Engine, settings: Settings) -> None:
    """The notification dispatcher until cancelled (the outbox keeps what it did not send)."""
    config = NotifyConfig.from_settings(settings)
    await run_dispatcher(engine, build_channels(config), config, asyncio.Event())
