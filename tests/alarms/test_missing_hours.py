"""Missing hour data: the due hour, who owes it, one alarm for consecutive missing hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from envwatch.alarms.missing_hours import check_missing_hours, due_hour, run_round
from envwatch.alarms.store import open_alarms
from envwatch.ingest.schema import device_status
from envwatch.monitoring.schema import measurements
from tests.helpers import GAS_MN, SM4_MN, WATER_MN, register_demo_devices

T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)  # 08:00 China time
DUE = 3600.0


def _status(engine: Engine, device_id: int, last_seen: datetime, silent: bool = False) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(device_status).values(
                device_id=device_id,
                online=True,
                last_seen=last_seen,
                changed_at=last_seen,
                alert_after=last_seen + timedelta(minutes=10),
                silent_since=last_seen + timedelta(minutes=10) if silent else None,
            )
        )


def _hour(engine: Engine, device_id: int, start: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(measurements).values(
                device_id=device_id,
                kind="hour",
                data_time=start,
                part=1,
                factors={"a21026": {"Avg": "1"}},
                packet_id=1,
                backfill=False,
                received_at=start + timedelta(hours=1),
            )
        )


def test_due_hour() -> None:
    assert due_hour(T0 + timedelta(hours=2), DUE) == T0  # 00:00–01:00 ended at 01:00, due at 02:00
    assert due_hour(T0 + timedelta(hours=2) - timedelta(seconds=1), DUE) == T0 - timedelta(hours=1)
    assert due_hour(T0 + timedelta(hours=1, minutes=30), 0) == T0


def test_who_owes_the_hour_and_consecutive_hours_are_one_alarm(engine: Engine) -> None:
    ids = register_demo_devices(engine)
    gas, water, sm4 = ids[GAS_MN], ids[WATER_MN], ids[SM4_MN]
    now = T0 + timedelta(hours=2)  # the hour T0 is due
    for device in (gas, water, sm4):
        _hour(engine, device, T0 - timedelta(hours=1))  # all had data before
    _status(engine, gas, now)  # sending, but no record for T0: owes it
    _hour(engine, water, T0)
    _status(engine, water, now)  # sent its hour
    _status(engine, sm4, now, silent=True)  # silent: its offline alarm covers it
    assert run_round(engine, now, due_s=DUE, ack_due_s=60) == [gas]
    assert run_round(engine, now + timedelta(minutes=1), due_s=DUE, ack_due_s=60) == []  # counted once
    later = now + timedelta(hours=1)  # T0+1h is due: missing for gas again, sent by water
    _hour(engine, water, T0 + timedelta(hours=1))
    with engine.begin() as conn:
        assert check_missing_hours(conn, later, due_s=DUE, ack_due_s=60) == [gas]
        (alarm,) = open_alarms(conn, kinds=["missing_hour"])
    assert alarm["device_id"] == gas and alarm["detections"] == 2
    assert alarm["started_at"] == T0 and alarm["ended_at"] == T0 + timedelta(hours=2)


def test_a_logger_installed_since_owes_nothing(engine: Engine) -> None:
    ids = register_demo_devices(engine)
    now = T0 + timedelta(hours=2)
    _status(engine, ids[GAS_MN], now)  # first data after the hour: nothing before T0
    _hour(engine, ids[GAS_MN], T0 + timedelta(hours=1))
    assert run_round(engine, now, due_s=DUE, ack_due_s=60) == []
