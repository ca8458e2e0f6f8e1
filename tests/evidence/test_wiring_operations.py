"""O&M facts in the evidence log: field records (and the reference materials they used), faults and their
events, manual monitoring results and their corrections, service tickets and production stops."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.operations.faults import ManualResultIn, add_manual_results, open_fault, record_event
from envwatch.operations.faults_schema import fault_events, manual_results
from envwatch.operations.manual_results import correct_manual_result
from envwatch.operations.production_stops import decide, submit_stop
from envwatch.operations.records import add_record, correct_record
from envwatch.operations.records_schema import field_records
from envwatch.operations.tickets import record_event as ticket_event
from envwatch.operations.tickets import request_ticket
from envwatch.operations.tickets_schema import tickets
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
from tests.operations import faults_world, records_world
from tests.operations.test_tickets import build_world as build_ticket_world

H = timedelta(hours=1)


def test_field_records_and_their_corrections(engine: Engine, settings: Settings) -> None:
    w = records_world.build(engine)
    calibration = records_world.draft(
        w, kind="calibration", payload=records_world.calibration(), material_ids=[w.materials["so2"]]
    )
    with engine.begin() as conn:
        before = snapshot(conn)
        record = add_record(conn, calibration, "zhang", w.now, settings)
        made = assert_one_entry_per_new_row(conn, before, w.now)
    assert by_kind(made) == {"om_record": 1, "om_record_material": 1}
    assert made[0].payload["row"]["payload"]["span_reading"] == "81"
    later = w.now + H
    with engine.begin() as conn:
        before = snapshot(conn)
        fixed = correct_record(
            conn, record["id"], replace(calibration, note="读数抄错"), "zhang", later, settings
        )
        assert by_kind(assert_one_entry_per_new_row(conn, before, later)) == {
            "om_record": 1,
            "om_record_material": 1,
        }
        assert recheck_all(conn) == []
    tamper(engine, field_records, record["id"], verdict="fail")
    with engine.connect() as conn:
        assert recheck_all(conn) == [f'field_records/{record["id"]} verdict: logged "pass", now "fail"']
    assert fixed["id"] != record["id"]


def test_faults_their_events_and_manual_results(engine: Engine) -> None:
    now = faults_world.cst(2025, 10, 20, 12)
    start = faults_world.cst(2025, 9, 30, 10)
    w = faults_world.build(engine, now)
    with engine.begin() as conn:
        before = snapshot(conn)
        fault = open_fault(
            conn, device_id=w.devices["gas"], started_at=start, description="采样泵损坏",
            factors=[faults_world.SO2], opened_by="op1", now=now,
        )  # fmt: skip
        made = assert_one_entry_per_new_row(conn, before, now)
        assert by_kind(made) == {"fault": 1, "fault_event": 1}
        assert "state" not in made[0].payload["row"]  # the projection is not logged
        before = snapshot(conn)
        record_event(
            conn,
            fault["id"],
            event="backup_started",
            at=start + H,
            data={"kind": "manual"},
            by="op1",
            now=now,
        )
        results = add_manual_results(
            conn,
            fault["id"],
            [
                ManualResultIn(faults_world.SO2, start + 2 * H, "12.30", "mg/m3", "某检测公司", "JC-1"),
                ManualResultIn(
                    faults_world.SO2, start + 3 * H, Decimal("13.0"), "mg/m3", "某检测公司", "JC-1"
                ),
            ],
            by="op1",
            now=now,
        )
        made = assert_one_entry_per_new_row(conn, before, now)
        assert by_kind(made) == {"fault_event": 1, "manual_result": 2}
        assert sorted(e.payload["row"]["value"] for e in made if e.kind == "manual_result") == [
            "12.30",
            "13.0",
        ]
        before = snapshot(conn)
        correct_manual_result(conn, results[0]["id"], None, reason="报告作废", by="op2", now=now)
        assert by_kind(assert_one_entry_per_new_row(conn, before, now)) == {"manual_result": 1}
        events = entries(conn, kind="fault_event")
    tamper(engine, manual_results, results[1]["id"], value=Decimal("1.30"))
    remove(engine, fault_events, events[-1].payload["id"])
    with engine.connect() as conn:
        assert recheck_all(conn) == [
            f"fault_events/{events[-1].payload['id']}: row missing",
            f'manual_results/{results[1]["id"]} value: logged "13.0", now "1.30"',
        ]


def test_tickets_and_production_stops(engine: Engine) -> None:
    w = build_ticket_world(engine)
    now = NOW
    with engine.begin() as conn:
        before = snapshot(conn)
        ticket = request_ticket(
            conn, enterprise_id=w.jia, outlet_id=w.outlets["urban"], device_id=None, subject="数据掉线",
            description="无数据上传", channel="web", requested_at=now - 2 * H, by="ent_jia", now=now,
        )  # fmt: skip
        assert by_kind(assert_one_entry_per_new_row(conn, before, now)) == {"ticket": 1, "ticket_event": 1}
        before = snapshot(conn)
        ticket_event(conn, ticket["id"], event="respond", at=now - H, by="op", now=now)
        assert by_kind(assert_one_entry_per_new_row(conn, before, now)) == {"ticket_event": 1}
        before = snapshot(conn)
        stop = submit_stop(
            conn, enterprise_id=w.jia, outlet_id=w.outlets["urban"], start_at=now + 24 * H,
            end_at=now + 48 * H, reason="锅炉检修", by="ent_jia", now=now,
        )  # fmt: skip
        assert by_kind(assert_one_entry_per_new_row(conn, before, now)) == {
            "production_stop": 1,
            "production_stop_event": 1,
        }
        before = snapshot(conn)
        decide(conn, stop["id"], approve=True, comment="同意", by="reg", now=now)
        # the approval marks the outlet's device, approved: the mark and its review are logged too
        assert by_kind(assert_one_entry_per_new_row(conn, before, now)) == {
            "production_stop_event": 1,
            "mark": 1,
            "mark_review": 1,
        }
        assert recheck_all(conn) == []
    tamper(engine, tickets, ticket["id"], state="closed", subject="别的事")  # state: projection
    with engine.connect() as conn:
        assert recheck_all(conn) == [f'tickets/{ticket["id"]} subject: logged "数据掉线", now "别的事"']


def test_a_rolled_back_fault_leaves_no_entry(engine: Engine) -> None:
    now = faults_world.cst(2025, 10, 20, 12)
    w = faults_world.build(engine, now)
    with engine.connect() as conn:
        start = last_entry_id(conn)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        open_fault(
            conn, device_id=w.devices["gas"], started_at=now - H, description="x", opened_by="op1", now=now
        )
        raise RuntimeError("the request failed later")
    with engine.connect() as conn:
        assert entries(conn, start) == []
