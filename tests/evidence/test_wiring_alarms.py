"""Alarm and supervision-order state changes in the evidence log (报警/督办处理记录)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from envwatch.alarms.orders import accept, issue_order, respond
from envwatch.alarms.orders_schema import order_events
from envwatch.alarms.schema import alarm_events, alarms
from envwatch.alarms.store import Action, Raised, apply, raise_alarm
from envwatch.core.errors import InvalidInput
from tests.alarms.test_orders import build_world
from tests.evidence.test_wiring_support import (
    assert_one_entry_per_new_row,
    by_kind,
    entries,
    last_entry_id,
    recheck_all,
    remove,
    snapshot,
    tamper,
)
from tests.helpers import NOW

H = timedelta(hours=1)


def test_alarm_and_order_changes(engine: Engine) -> None:
    w = build_world(engine)  # opens six alarms: each with its identity and its first event
    with engine.connect() as conn:
        assert by_kind(entries(conn)) == {"alarm": 6, "alarm_event": 6}
    raised = Raised(w.devices["A1"], "exceedance", "a21026", NOW - H, "test rule", "SO2 again")
    with engine.begin() as conn:
        before = snapshot(conn)
        assert not raise_alarm(conn, raised, NOW, ack_due_s=3600).opened  # a repeat of the open alarm
        (one,) = assert_one_entry_per_new_row(conn, before, NOW)
        assert (one.kind, one.payload["row"]["event"]) == ("alarm_event", "repeat")
        before = snapshot(conn)
        apply(conn, w.alarms["A1"], Action("acknowledge"), actor="field1", now=NOW)
        assert by_kind(assert_one_entry_per_new_row(conn, before, NOW)) == {"alarm_event": 1}
        before = snapshot(conn)
        order = issue_order(
            conn, region_code="350100", enterprise_id=w.jia, title="SO2 超标整改", body="查明原因并整改",
            deadline=NOW + 72 * H, alarm_ids=[w.alarms["A1"]], issued_by="reg_fz", now=NOW,
        )  # fmt: skip
        made = assert_one_entry_per_new_row(conn, before, NOW)
        assert by_kind(made) == {"order": 1, "order_event": 1}
        assert "state" not in made[0].payload["row"] and "deadline" not in made[0].payload["row"]
        later = NOW + H
        before = snapshot(conn)
        respond(conn, order["id"], text="已整改", attachment_ids=[], actor="ent1", now=later)
        accept(conn, order["id"], comment="", actor="reg_fz", now=later)
        assert by_kind(assert_one_entry_per_new_row(conn, before, later)) == {"order_event": 2}
        assert recheck_all(conn) == []  # alarm and order rows moved on: the projection is not evidence
        last_order_event = entries(conn, kind="order_event")[-1].payload["id"]
    first_of_a2 = first_event_of(engine, w.alarms["A2"])
    tamper(engine, alarms, w.alarms["A1"], factor="a21002", state="closed")  # state: the projection
    tamper(engine, order_events, last_order_event, actor="someone")
    remove(engine, alarm_events, first_of_a2)
    with engine.connect() as conn:
        assert recheck_all(conn) == [
            f'alarms/{w.alarms["A1"]} factor: logged "a21026", now "a21002"',
            f"alarm_events/{first_of_a2}: row missing",
            f'order_events/{last_order_event} actor: logged "reg_fz", now "someone"',
        ]


def first_event_of(engine: Engine, alarm_id: int) -> int:
    """The id of the first logged event of ``alarm_id``."""
    with engine.connect() as conn:
        logged = entries(conn, kind="alarm_event")
    return next(int(e.payload["id"]) for e in logged if e.payload["row"]["alarm_id"] == alarm_id)


def test_a_refused_change_leaves_no_entry(engine: Engine) -> None:
    w = build_world(engine)
    with engine.connect() as conn:
        start = last_entry_id(conn)
    with pytest.raises(InvalidInput, match="cause"), engine.begin() as conn:
        apply(conn, w.alarms["A1"], Action("acknowledge"), actor="field1", now=NOW)
        apply(conn, w.alarms["A1"], Action("close"), actor="field1", now=NOW)  # no cause: refused
    with engine.connect() as conn:
        assert entries(conn, start) == []
