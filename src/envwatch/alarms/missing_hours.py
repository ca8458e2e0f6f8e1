"""Missing hour data (小时数据缺失): a connected device whose hour record (CN 2061) did not come in time.

Theory of operation
-------------------
An hour's record is due ``hour_data_due_s`` after the hour ended (default one hour, the same grace as the
real-time transmission rate, ``rates_on_time_grace_s``). Each round looks at the latest hour that is due:
every device that had data before that hour and has been heard since it began, is not silent (a silent device
already has its offline alarm; a second alarm for each of its hours would only be noise) and has no ``hour``
measurement for that hour gets a ``missing_hour`` detection. Consecutive missing hours are one alarm: each
is a repeat, and the alarm's ``ended_at`` is the end of the latest missing hour, which is also how a second
round (or a second process) knows that hour was already counted.

A record that arrives later (补传) does not undo the detection: it was late, and the rates count it as such.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, exists, select

from envwatch.alarms.schema import alarms
from envwatch.alarms.store import Raised, raise_alarm
from envwatch.core.clock import to_china
from envwatch.ingest.schema import device_status
from envwatch.monitoring.schema import measurements

KIND = "missing_hour"
SOURCE = "SX-20.9/20.10 数据缺失 (hour record CN 2061 not received in time; HJ 212-2017 §6)"
HOUR = timedelta(hours=1)


def due_hour(now: datetime, due_s: float) -> datetime:
    """The start (UTC) of the latest hour whose record is due by ``now``."""
    ended_by = now - timedelta(seconds=due_s)
    top = ended_by.replace(minute=0, second=0, microsecond=0)
    return top - HOUR


def check_missing_hours(conn: Connection, now: datetime, *, due_s: float, ack_due_s: float) -> list[int]:
    """One round in ``conn``'s transaction; returns the devices found missing the due hour."""
    hour = due_hour(now, due_s)
    s, m, a = device_status.c, measurements.c, alarms.c
    has_hour = exists().where(and_(m.device_id == s.device_id, m.kind == "hour", m.data_time == hour))
    counted = exists().where(
        and_(
            a.device_id == s.device_id,
            a.kind == KIND,
            a.state != "closed",
            a.ended_at >= hour + HOUR,
        )
    )
    # it was sending before that hour, so the hour is owed (a logger installed since owes nothing yet)
    sent_before = exists().where(and_(m.device_id == s.device_id, m.data_time < hour))
    missing = conn.execute(
        select(s.device_id)
        .where(s.last_seen >= hour, s.silent_since.is_(None))
        .where(sent_before, ~has_hour, ~counted)
        .order_by(s.device_id)
    ).scalars()
    found = list(missing)
    label = f"{to_china(hour):%Y-%m-%d %H}:00"
    for device_id in found:
        raise_alarm(
            conn,
            Raised(
                device_id=device_id,
                kind=KIND,
                factor="",
                started_at=hour,
                ended_at=hour + HOUR,
                source=SOURCE,
                summary=f"no hour record for {label} (China time) within {due_s / 60:.0f} min of its end",
                data={"hour": hour.isoformat()},
            ),
            now,
            ack_due_s=ack_due_s,
        )
    return found


def run_round(engine: Engine, now: datetime, *, due_s: float, ack_due_s: float) -> list[int]:
    with engine.begin() as conn:
        return check_missing_hours(conn, now, due_s=due_s, ack_due_s=ack_due_s)
