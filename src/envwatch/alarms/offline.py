"""The offline watcher (掉线监控): devices silent past their stored deadline get an offline alarm.

Theory of operation
-------------------
DESIGN convention 7 (Healthchecks-style stored deadlines). Whenever the writer stores a device's
``last_seen`` it also stores ``alert_after = last_seen + offline_grace_s`` in ``device_status``; nothing else
on the ingest path knows about silence. Each round of this watcher then does two compare-and-set updates:

1. **Gone silent**: ``silent_since = alert_after`` where it is still empty and the deadline has passed. The
   update returns the rows it flipped, so with several watcher processes each device flips in exactly one
   of them, and only that one opens the alarm.
2. **Back**: ``silent_since`` emptied where a newer packet moved ``alert_after`` past now again; the open
   offline alarm records that the condition ended (a person still closes it with the cause, SX-24/25).

A round reads only due rows through the index on ``alert_after`` (and the few silent ones), so it costs
little with 100,000 devices; ``bench/detect.py --offline-devices`` measures it. A device that never sent a
packet has no deadline yet and is not watched (it shows as never connected on the device pages).

The silence starts at the last packet: ``started_at`` of the alarm is ``last_seen`` (which the writer stores
to within ``device_seen_write_s``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, update

from envwatch.alarms.store import Raised, condition_ended, raise_alarm
from envwatch.ingest.schema import device_status

KIND = "offline"
SOURCE = "SX-20.9/20.10 掉线 (no packet within the offline grace; DESIGN convention 7)"

_s = device_status.c


@dataclass(frozen=True)
class OfflineRound:
    silent: tuple[int, ...]  # devices this round found silent (alarm opened or repeated)
    back: tuple[int, ...]  # devices this round found sending again


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def check_offline(conn: Connection, now: datetime, *, grace_s: float, ack_due_s: float) -> OfflineRound:
    """One round of the watcher in ``conn``'s transaction (see module doc)."""
    gone = conn.execute(
        update(device_status)
        .where(and_(_s.silent_since.is_(None), _s.alert_after.is_not(None), _s.alert_after <= now))
        .values(silent_since=_s.alert_after)
        .returning(_s.device_id, _s.last_seen)
    ).all()
    for device_id, last_seen in gone:
        started = last_seen or now
        raise_alarm(
            conn,
            Raised(
                device_id=device_id,
                kind=KIND,
                factor="",
                started_at=started,
                source=SOURCE,
                summary=f"no packet since {started:%Y-%m-%d %H:%M:%S} UTC (grace {_minutes(grace_s)})",
                data={"last_seen": started.isoformat(), "grace_s": grace_s},
            ),
            now,
            ack_due_s=ack_due_s,
        )
    back = conn.execute(
        update(device_status)
        .where(and_(_s.silent_since.is_not(None), _s.alert_after > now))
        .values(silent_since=None)
        .returning(_s.device_id, _s.last_seen)
    ).all()
    for device_id, last_seen in back:
        condition_ended(
            conn,
            device_id,
            KIND,
            "",
            last_seen or now,
            now,
            f"sending again (packet stored at {(last_seen or now):%Y-%m-%d %H:%M:%S} UTC)",
        )
    return OfflineRound(tuple(d for d, _ in gone), tuple(d for d, _ in back))


def run_round(engine: Engine, now: datetime, *, grace_s: float, ack_due_s: float) -> OfflineRound:
    """One round in its own transaction (what the loop in ``envwatch serve`` calls every minute)."""
    with engine.begin() as conn:
        return check_offline(conn, now, grace_s=grace_s, ack_due_s=ack_due_s)
