"""The certification pack's test world (no tests here): tests/operations/records_world.py plus one quarter
(2026Q3) of an operator's life, each fact written through its own store.

运维甲 (``w.op``) in 2026Q3: two inspections of 甲's gas device (one corrected later), one service ticket
answered in time and surveyed 5 (satisfied), one answered late and surveyed 2, an emergency plan with a drill
on 2026-08-15, a quarterly training held on 2026-09-10 with 张三 passing, an analyser verified on 2026-07-20,
a spare part moved in and out, the first ten days of July signed off, and one open finding about July.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from envwatch.alarms.audit_days import sign_day
from envwatch.compliance.schema import finding_events, findings
from envwatch.core.clock import CHINA_TZ
from envwatch.core.evidence import submit_row
from envwatch.core.settings import Settings
from envwatch.operations import emergency, equipment, spare_parts, trainings
from envwatch.operations import tickets as ticket_store
from envwatch.operations.records import add_record, correct_record
from tests.operations.records_world import NOW, RecordsWorld, build, draft

FIRST, LAST = date(2026, 7, 1), date(2026, 9, 30)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """China wall-clock time on ``day`` as an aware time."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TZ)


def build_quarter(engine: Engine, settings: Settings) -> tuple[RecordsWorld, dict[str, Any]]:
    """The world of the module docstring; returns it and the ids made (``tickets``, ``records``, …)."""
    w = build(engine, NOW)
    ids: dict[str, Any] = {}
    with engine.begin() as conn:
        first = add_record(conn, draft(w, performed_at=at(date(2026, 7, 3), 10)), "zhang", NOW, settings)
        second = add_record(conn, draft(w, performed_at=at(date(2026, 7, 9), 10)), "zhang", NOW, settings)
        fixed = correct_record(
            conn,
            second["id"],
            draft(w, performed_at=at(date(2026, 7, 9), 11), note="时间录错"),
            "zhang",
            NOW,
            settings,
        )
        ids["records"] = [first["id"], second["id"], fixed["id"]]
        ids["tickets"] = []
        for n, (respond_after, score) in enumerate(((timedelta(minutes=30), 5), (timedelta(hours=3), 2))):
            asked = at(date(2026, 8, 3 + n), 9)
            t = ticket_store.request_ticket(
                conn, enterprise_id=w.enterprises["jia"], outlet_id=w.outlets["gas"], device_id=w.devices["gas"],
                subject="SO2 数据异常", description="数值不变", channel="phone", requested_at=asked, by="jia", now=NOW,
            )  # fmt: skip
            steps: list[tuple[str, datetime, dict[str, Any]]] = [
                ("respond", asked + respond_after, {}),
                ("arrive", asked + respond_after + timedelta(hours=1), {"staff_id": w.staff["zhang"]}),
                ("resolve", asked + respond_after + timedelta(hours=2), {}),
                ("confirm", asked + timedelta(days=1), {}),
                ("survey", asked + timedelta(days=2), {"score": score}),
            ]
            for event, when, extra in steps:
                ticket_store.record_event(conn, t["id"], event=event, at=when, by="op", now=NOW, **extra)
            ids["tickets"].append(t["id"])
        plan = emergency.add_plan(
            conn, operator_id=w.op, event_type="power_outage", title="停电应急预案", version="V1",
            effective_on=date(2026, 1, 10), body="切换备用电源", recorded_by="op", now=NOW,
        )  # fmt: skip
        ids["drill"] = emergency.add_drill(
            conn, plan["id"], held_on=date(2026, 8, 15), participants=6, summary="演练断电切换", recorded_by="op",
            now=NOW,
        )["id"]  # fmt: skip
        planned = trainings.plan_training(
            conn, operator_id=w.op, kind="quarterly", title="三季度再培训", planned_on=date(2026, 9, 10),
            pass_score="60", recorded_by="op", now=NOW,
        )  # fmt: skip
        held = trainings.record_held(
            conn, planned["id"], held_on=date(2026, 9, 10), recorded_by="op", now=NOW
        )
        trainings.add_result(
            conn, held["id"], staff_id=w.staff["zhang"], score="88", tested_on=date(2026, 9, 10), recorded_by="op",
            now=NOW,
        )  # fmt: skip
        ids["training"] = held["id"]
        analyser = equipment.add_equipment(
            conn, operator_id=w.op, kind="analyser", name="SO2 分析仪", model="XG-1", serial="S-1",
            purchased_on=date(2026, 6, 1), recorded_by="op", now=NOW,
        )  # fmt: skip
        equipment.record_event(
            conn, analyser["id"], event="verified", on=date(2026, 7, 20), next_due=date(2027, 7, 20),
            recorded_by="op", now=NOW,
        )  # fmt: skip
        ids["equipment"] = analyser["id"]
        part = spare_parts.add_part(
            conn,
            operator_id=w.op,
            name="采样泵",
            model="P-2",
            unit="个",
            min_stock=1,
            now=at(date(2026, 6, 1), 9),
        )
        spare_parts.move(conn, part["id"], 3, "采购入库", recorded_by="op", now=at(date(2026, 7, 5), 9))
        spare_parts.move(
            conn, part["id"], -1, "更换", w.devices["gas"], recorded_by="op", now=at(date(2026, 8, 5), 9)
        )
        ids["part"] = part["id"]
        for d in range(1, 11):
            sign_day(
                conn, operator_id=w.op, day=date(2026, 7, d), signed_by="auditor1", note="", anomalies=0,
                now=at(date(2026, 7, d + 1), 9),
            )  # fmt: skip
        finding = conn.execute(
            insert(findings).values(
                rule="SX-20.3-7D", key=f"device:{w.devices['water']}:2026-07-02", subject_kind="device",
                subject_id=w.devices["water"], enterprise_id=w.enterprises["jia"], outlet_id=w.outlets["water"],
                device_id=w.devices["water"], operator_id=w.op, region_code="330102",
                period_start=at(date(2026, 7, 2), 0), period_end=at(date(2026, 7, 20), 0), severity="violation",
                message="no inspection for 18 days (> 7) (巡检超期)", evidence=[], state="open", state_reason="",
                first_seen=at(date(2026, 7, 20), 1), last_seen=at(date(2026, 9, 30), 1), updated_at=at(date(2026, 9, 30), 1),
            ).returning(findings.c.id)
        ).scalar_one()  # fmt: skip
        event = conn.execute(
            insert(finding_events).values(
                finding_id=finding, event="opened", at=at(date(2026, 7, 20), 1), from_state=None, to_state="open",
                reason="", run_id=None, data=None, recorded_by="system",
            ).returning(finding_events.c.id)
        ).scalar_one()  # fmt: skip
        submit_row(conn, finding_events, int(event), kind="finding_event", now=NOW)
        ids["finding"] = int(finding)
    return w, ids
