"""Raising alarms and working them, on the real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from envwatch.alarms.lifecycle import InvalidTransition
from envwatch.alarms.store import (
    Action,
    Raised,
    alarm_events_of,
    apply,
    escalate_overdue,
    get_alarm,
    open_alarms,
    raise_alarm,
)
from envwatch.core.errors import InvalidInput
from tests.helpers import GAS_MN, NOW, WATER_MN, register_demo_devices

SO2 = "a21026"


def _exceedance(device_id: int, hour: int, peak: str, multiple: str) -> Raised:
    start = NOW + timedelta(hours=hour)
    return Raised(
        device_id=device_id,
        kind="exceedance",
        factor=SO2,
        started_at=start,
        ended_at=start + timedelta(hours=1),
        source="HJ 75-2017 hour limit",
        summary=f"SO2 {peak} mg/m3 over the limit 35",
        peak=peak,
        limit_value="35",
        multiple=multiple,
        data={"points": [[start.isoformat(), peak]]},
    )


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return register_demo_devices(engine)


def test_one_open_alarm_per_device_kind_factor_repeats_update_it(engine: Engine, ids: dict[str, int]) -> None:
    gas = ids[GAS_MN]
    with engine.begin() as conn:
        first = raise_alarm(conn, _exceedance(gas, 0, "40", "0.14"), NOW, ack_due_s=3600)
        again = raise_alarm(conn, _exceedance(gas, 1, "70", "1.00"), NOW + timedelta(hours=1), ack_due_s=3600)
        lower = raise_alarm(conn, _exceedance(gas, 2, "50", "0.43"), NOW + timedelta(hours=2), ack_due_s=3600)
        other_factor = raise_alarm(
            conn, Raised(gas, "exceedance", "a21002", NOW, "src", "NOx"), NOW, ack_due_s=3600
        )
        other_device = raise_alarm(
            conn, Raised(ids[WATER_MN], "exceedance", SO2, NOW, "src", "x"), NOW, ack_due_s=3600
        )
    assert first.opened and not again.opened and not lower.opened
    assert again.alarm_id == lower.alarm_id == first.alarm_id
    assert other_factor.opened and other_device.opened
    assert len({first.alarm_id, other_factor.alarm_id, other_device.alarm_id}) == 3
    with engine.connect() as conn:
        alarm = get_alarm(conn, first.alarm_id)
        events = alarm_events_of(conn, first.alarm_id)
    assert alarm["detections"] == 3
    assert alarm["peak"] == "70" and alarm["multiple"] == "1.00"  # the worst detection, not the latest
    assert alarm["started_at"] == NOW and alarm["ended_at"] == NOW + timedelta(hours=3)
    assert alarm["summary"] == "SO2 50 mg/m3 over the limit 35"  # the latest
    assert alarm["ack_due_at"] == NOW + timedelta(hours=1)
    assert [e["event"] for e in events] == ["opened", "repeat", "repeat"]
    # every detection keeps the values behind it
    assert events[1]["data"]["points"] == [[(NOW + timedelta(hours=1)).isoformat(), "70"]]
    assert events[1]["data"]["peak"] == "70"


def test_a_detection_the_alarm_already_holds_writes_nothing(engine: Engine, ids: dict[str, int]) -> None:
    gas = ids[GAS_MN]
    with engine.begin() as conn:
        first = raise_alarm(conn, _exceedance(gas, 0, "70", "1.00"), NOW, ack_due_s=3600)
        same = raise_alarm(
            conn, _exceedance(gas, 0, "70", "1.00"), NOW + timedelta(minutes=15), ack_due_s=3600
        )
        lower = raise_alarm(
            conn, _exceedance(gas, 0, "50", "0.43"), NOW + timedelta(minutes=30), ack_due_s=3600
        )
        worse = raise_alarm(
            conn, _exceedance(gas, 0, "80", "1.29"), NOW + timedelta(minutes=45), ack_due_s=3600
        )
        longer = raise_alarm(
            conn, _exceedance(gas, 1, "40", "0.14"), NOW + timedelta(hours=1), ack_due_s=3600
        )
        events = [e["event"] for e in alarm_events_of(conn, first.alarm_id)]
    assert same.known and lower.known and not worse.known and not longer.known
    assert events == ["opened", "repeat", "repeat"]  # the worse peak and the longer period only


def test_the_database_refuses_a_second_open_alarm(engine: Engine, ids: dict[str, int]) -> None:
    """The partial unique index, not only the code, keeps one open alarm (a racing second process)."""
    gas = ids[GAS_MN]
    with engine.begin() as conn:
        raise_alarm(conn, _exceedance(gas, 0, "40", "0.14"), NOW, ack_due_s=3600)
    dup = (
        "INSERT INTO alarms (device_id, kind, factor, state, source, summary, started_at, detections, "
        "opened_at, last_detected_at, ack_due_at) SELECT device_id, kind, factor, 'acknowledged', source, "
        "summary, started_at, 1, opened_at, last_detected_at, ack_due_at FROM alarms"
    )
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text(dup))
    # once closed, the same condition opens a new alarm
    with engine.begin() as conn:
        alarm_id = open_alarms(conn)[0]["id"]
        apply(
            conn, alarm_id, Action("close", cause="sensor drift", action="recalibrated"), actor="op", now=NOW
        )
        again = raise_alarm(conn, _exceedance(gas, 3, "41", "0.17"), NOW, ack_due_s=3600)
    assert again.opened and again.alarm_id != alarm_id


def test_a_case_from_open_to_closed(engine: Engine, ids: dict[str, int]) -> None:
    with engine.begin() as conn:
        alarm_id = raise_alarm(conn, _exceedance(ids[GAS_MN], 0, "40", "0.14"), NOW, ack_due_s=60).alarm_id
    t = NOW + timedelta(minutes=5)
    with engine.begin() as conn:
        acked = apply(conn, alarm_id, Action("acknowledge"), actor="field1", now=t)
        assert acked["state"] == "acknowledged" and acked["assignee"] == "field1"
        assigned = apply(conn, alarm_id, Action("assign", assignee="field2"), actor="operator1", now=t)
        assert assigned["assignee"] == "field2" and assigned["state"] == "acknowledged"
        apply(conn, alarm_id, Action("start_handling", comment="on the way"), actor="field2", now=t)
        with pytest.raises(InvalidInput, match="cause"):
            apply(conn, alarm_id, Action("close", action="replaced the filter"), actor="field2", now=t)
        with pytest.raises(InvalidInput, match="action"):
            apply(conn, alarm_id, Action("close", cause="blocked filter"), actor="field2", now=t)
        closed = apply(
            conn,
            alarm_id,
            Action("close", cause="blocked filter", action="replaced the filter"),
            actor="field2",
            now=t + timedelta(hours=1),
        )
        assert closed["state"] == "closed" and closed["closed_at"] == t + timedelta(hours=1)
        assert closed["cause"] == "blocked filter" and closed["action"] == "replaced the filter"
        with pytest.raises(InvalidTransition):
            apply(conn, alarm_id, Action("acknowledge"), actor="field2", now=t)
        apply(conn, alarm_id, Action("comment", comment="report filed"), actor="operator1", now=t)
        events = alarm_events_of(conn, alarm_id)
    assert [(e["event"], e["from_state"], e["to_state"], e["actor"]) for e in events] == [
        ("opened", None, "open", "system"),
        ("acknowledge", "open", "acknowledged", "field1"),
        ("assign", "acknowledged", "acknowledged", "operator1"),
        ("start_handling", "acknowledged", "handling", "field2"),
        ("close", "handling", "closed", "field2"),
        ("comment", "closed", "closed", "operator1"),
    ]
    assert events[4]["data"] == {"cause": "blocked filter", "action": "replaced the filter"}


def test_people_cannot_send_system_events_and_comments_need_text(engine: Engine, ids: dict[str, int]) -> None:
    with engine.begin() as conn:
        alarm_id = raise_alarm(conn, _exceedance(ids[GAS_MN], 0, "40", "0.14"), NOW, ack_due_s=60).alarm_id
        with pytest.raises(InvalidInput, match="platform"):
            apply(conn, alarm_id, Action("escalate"), actor="x", now=NOW)
        with pytest.raises(InvalidInput, match="comment"):
            apply(conn, alarm_id, Action("comment", comment="   "), actor="x", now=NOW)
        with pytest.raises(InvalidInput, match="at most"):
            apply(conn, alarm_id, Action("comment", comment="x" * 2001), actor="x", now=NOW)
        with pytest.raises(InvalidInput, match="username"):
            apply(conn, alarm_id, Action("assign", assignee=""), actor="x", now=NOW)


def test_escalation_once_and_only_while_unacknowledged(engine: Engine, ids: dict[str, int]) -> None:
    with engine.begin() as conn:
        late = raise_alarm(conn, _exceedance(ids[GAS_MN], 0, "40", "0.14"), NOW, ack_due_s=600).alarm_id
        seen = raise_alarm(
            conn, Raised(ids[WATER_MN], "constant", "w01018", NOW, "src", "flat"), NOW, ack_due_s=600
        ).alarm_id
        apply(conn, seen, Action("acknowledge"), actor="field1", now=NOW + timedelta(minutes=5))
    with engine.begin() as conn:
        assert escalate_overdue(conn, NOW + timedelta(seconds=599)) == []
        assert escalate_overdue(conn, NOW + timedelta(seconds=600)) == [late]
        assert escalate_overdue(conn, NOW + timedelta(hours=5)) == []  # once
        assert get_alarm(conn, late)["escalated_at"] == NOW + timedelta(seconds=600)
        assert [e["event"] for e in alarm_events_of(conn, late)] == ["opened", "escalate"]


def test_the_journal_is_append_only(engine: Engine, ids: dict[str, int]) -> None:
    with engine.begin() as conn:
        raise_alarm(conn, _exceedance(ids[GAS_MN], 0, "40", "0.14"), NOW, ack_due_s=60)
    for sql in ("UPDATE alarm_events SET comment = 'rewritten'", "DELETE FROM alarm_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
