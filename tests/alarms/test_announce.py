"""Alarm and order events reach the outbox in the same transaction, addressed by the registry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from envwatch.alarms.notify_schema import notifications
from envwatch.alarms.notify_targets import add_target
from envwatch.alarms.orders import accept, comment, respond
from envwatch.alarms.store import Action, Raised, apply, escalate_overdue, raise_alarm
from tests.alarms.test_orders import World, _issue, build_world
from tests.helpers import NOW

DAY = timedelta(days=1)


def _rows(engine: Engine, topic: str, ref_id: int) -> list[dict[str, object]]:
    with engine.connect() as conn:
        query = (
            select(notifications)
            .where(notifications.c.topic == topic, notifications.c.ref_id == ref_id)
            .order_by(notifications.c.id)
        )
        return [dict(r) for r in conn.execute(query).mappings()]


def test_an_opened_alarm_tells_enterprise_operator_region_and_targets(engine: Engine) -> None:
    w: World = build_world(engine)
    opened = _rows(engine, "alarm", w.alarms["A1"])  # the builder raised it: 甲's gas outlet
    assert {(n["channel"], n["recipient"], n["event"]) for n in opened} == {
        ("inapp", f"enterprise:{w.jia}", "opened"),
        ("inapp", f"operator:{w.op}", "opened"),
        ("inapp", "region:350102", "opened"),
    }
    subject = str(opened[0]["subject"])
    assert subject.startswith("【报警】甲 排口A1：超标 a21026"), subject
    assert "请于" in str(opened[0]["body"]) and opened[0]["state"] == "pending"
    assert opened[0]["payload"]["alarm_id"] == w.alarms["A1"]  # type: ignore[index]
    # a device on no outlet has nobody to tell
    assert _rows(engine, "alarm", w.alarms["loose"]) == []

    with engine.begin() as conn:
        add_target(
            conn, channel="email", address="hb@fz.gov.cn", region_code="3501", created_by="admin", now=NOW
        )
        repeat = raise_alarm(conn, _same(w), NOW + timedelta(minutes=5), ack_due_s=3600)
        assert not repeat.opened
        escalate_overdue(conn, NOW + 2 * DAY)
        apply(conn, w.alarms["A1"], Action("comment", comment="在查"), actor="op", now=NOW + 2 * DAY)
    events = [(n["channel"], n["event"]) for n in _rows(engine, "alarm", w.alarms["A1"])]
    # repeats and comments are not announced; the escalation is, to the e-mail target of the region too
    assert events.count(("inapp", "opened")) == 3 and ("email", "escalate") in events
    assert len([e for e in events if e[1] == "escalate"]) == 4 and len(events) == 7


def _same(w: World) -> Raised:
    return Raised(w.devices["A1"], "exceedance", "a21026", NOW, "test rule", "again")


def test_order_events_reach_receiver_and_region(engine: Engine) -> None:
    w = build_world(engine)
    with engine.begin() as conn:
        order = _issue(conn, w)
        comment(conn, order["id"], text="补充说明", actor="reg_fz", now=NOW)
        respond(conn, order["id"], text="已整改", attachment_ids=[], actor="jia", now=NOW + DAY)
        accept(conn, order["id"], actor="reg_fz", now=NOW + 2 * DAY)
    rows = _rows(engine, "order", order["id"])
    assert [n["event"] for n in rows if n["recipient"] == "region:350100"] == ["issued", "respond", "accept"]
    assert {n["recipient"] for n in rows} == {f"enterprise:{w.jia}", "region:350100"}
    assert str(rows[0]["subject"]) == "【督办下达】SO2 超标整改"
