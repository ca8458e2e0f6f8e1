"""The offline watcher: stored deadlines written by the writer, flipped with compare-and-set."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from envwatch.alarms.offline import check_offline, run_round
from envwatch.alarms.store import alarm_events_of, open_alarms
from envwatch.ingest.schema import device_status
from envwatch.ingest.store import InboundFrame, PacketStore
from tests.helpers import GAS_MN, NOW, WATER_MN, register_demo_devices

GRACE = 600.0


def _packet(engine: Engine, device_id: int, mn: str, at_s: float) -> None:
    """What the writer does for a stored packet: last_seen and the offline deadline."""
    store = PacketStore(engine, seen_every_s=0, offline_grace_s=GRACE)
    frame = InboundFrame(
        received_at=NOW + timedelta(seconds=at_s),
        peer="127.0.0.1:5000",
        raw=b"##0000&&0000\r\n",
        verdict="ok",
        device_id=device_id,
        mn=mn,
        cn="9015",
    )
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        store._mark_seen(cursor, [frame])


def test_writer_stores_the_deadline_with_last_seen(engine: Engine) -> None:
    ids = register_demo_devices(engine)
    _packet(engine, ids[GAS_MN], GAS_MN, 0)
    with engine.connect() as conn:
        row = conn.execute(select(device_status).where(device_status.c.device_id == ids[GAS_MN])).one()
    assert row.last_seen == NOW and row.alert_after == NOW + timedelta(seconds=GRACE)
    assert row.silent_since is None


def test_silent_device_gets_one_alarm_and_its_return_is_recorded(engine: Engine) -> None:
    ids = register_demo_devices(engine)
    gas, water = ids[GAS_MN], ids[WATER_MN]
    _packet(engine, gas, GAS_MN, 0)
    _packet(engine, water, WATER_MN, 300)

    def round_at(seconds: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
        r = run_round(engine, NOW + timedelta(seconds=seconds), grace_s=GRACE, ack_due_s=3600)
        return r.silent, r.back

    assert round_at(599) == ((), ())  # inside the grace
    assert round_at(600) == ((gas,), ())  # the deadline passed: silent
    assert round_at(660) == ((), ())  # flipped once: no second detection
    assert round_at(900) == ((water,), ())
    with engine.connect() as conn:
        alarms = {a["device_id"]: a for a in open_alarms(conn, kinds=["offline"])}
    assert set(alarms) == {gas, water}
    assert alarms[gas]["started_at"] == NOW and alarms[gas]["detections"] == 1
    assert alarms[gas]["ended_at"] is None

    _packet(engine, gas, GAS_MN, 1000)  # the gas logger sends again
    assert round_at(1020) == ((), (gas,))
    assert round_at(1080) == ((), ())
    with engine.connect() as conn:
        gas_alarm = next(a for a in open_alarms(conn) if a["device_id"] == gas)
        events = alarm_events_of(conn, gas_alarm["id"])
    # the case stays open until a person closes it with the cause; the end of the silence is recorded
    assert gas_alarm["state"] == "open" and gas_alarm["ended_at"] == NOW + timedelta(seconds=1000)
    assert [e["event"] for e in events] == ["opened", "condition_ended"]

    # silent again while the first case is still open: a repeat of that case, not a second alarm
    assert round_at(1000 + GRACE) == ((gas,), ())
    with engine.connect() as conn:
        offline = [a for a in open_alarms(conn, kinds=["offline"]) if a["device_id"] == gas]
    assert len(offline) == 1 and offline[0]["detections"] == 2


def test_a_second_watcher_finds_nothing_the_first_flipped(engine: Engine) -> None:
    """Two watcher processes at the same moment: the compare-and-set lets only the first flip a device (on
    PostgreSQL the second's UPDATE waits for the first's row locks and then re-checks silent_since)."""
    ids = register_demo_devices(engine)
    for mn, device_id in ids.items():
        _packet(engine, device_id, mn, 0)
    later = NOW + timedelta(seconds=GRACE + 1)
    with engine.begin() as first:
        found_first = check_offline(first, later, grace_s=GRACE, ack_due_s=60).silent
    found_second = run_round(engine, later, grace_s=GRACE, ack_due_s=60).silent
    assert sorted(found_first) == sorted(ids.values()) and found_second == ()
    with engine.connect() as conn:
        assert len(open_alarms(conn, kinds=["offline"])) == len(ids)


def test_devices_that_never_sent_are_not_watched(engine: Engine) -> None:
    register_demo_devices(engine)
    assert run_round(engine, NOW + timedelta(days=1), grace_s=GRACE, ack_due_s=60).silent == ()
