"""A hand-made world for the quarterly self-inspection report: the registry through the registry services,
every O&M record inserted straight into its table (the O&M stores are other areas' work).

甲 (太原 140105) has a gas outlet DA001 with GAS_MN and a water outlet DW001 with WATER_MN; 乙 (140106) has
outlet DA001 with C1_MN and nothing else. 运维甲 holds a contract on all of 甲 from 2026-01-01; 运维旧 held one
that ended 2025-12-31 (not in 2026Q1). Staff 张工 works for 运维甲.

NOW is 2026-05-10 12:00 China time (2026Q1 is over, 2026Q2 runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert

from envwatch.alarms.store import Action, Raised, apply, raise_alarm
from envwatch.core.clock import CHINA_TZ
from envwatch.monitoring.marks_schema import marks
from envwatch.operations.faults_schema import faults, manual_results, production_stops
from envwatch.operations.records_schema import field_records
from envwatch.operations.staff_schema import staff
from envwatch.operations.tickets_schema import tickets
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char
from envwatch.registry.store import import_devices, load_devices
from tests.helpers import GAS_MN, WATER_MN, device_row

C1_MN = "010000A8900016F000169DC3"
NOW = datetime(2026, 5, 10, 12, 0, tzinfo=CHINA_TZ).astimezone(UTC)


def china(*args: int) -> datetime:
    """A China time as aware UTC: china(2026, 3, 31, 23, 30)."""
    return datetime(*args, tzinfo=CHINA_TZ).astimezone(UTC)  # type: ignore[misc]


def credit_code(n: int) -> str:
    first17 = f"9114010500000{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True)
class World:
    jia: int
    yi: int
    outlets: dict[str, int]
    devices: dict[str, int]  # gas, water, yi
    op: int
    old_op: int
    staff: int


def build_world(engine: Engine) -> World:
    import_devices(engine, [device_row(GAS_MN), device_row(WATER_MN, kind="water"), device_row(C1_MN)], NOW)
    by_mn = {mn: rec.id for mn, rec in load_devices(engine).items()}
    with engine.begin() as conn:
        jia = svc.create_enterprise(
            conn, EnterpriseIn(name="甲化工有限公司", credit_code=credit_code(1), region_code="140105"), NOW
        )["id"]
        yi = svc.create_enterprise(
            conn, EnterpriseIn(name="乙热电有限公司", credit_code=credit_code(2), region_code="140106"), NOW
        )["id"]
        outs = {
            "DA001": svc.create_outlet(conn, jia, OutletIn(code="DA001", name="1号锅炉", kind="gas"), NOW)[
                "id"
            ],
            "DW001": svc.create_outlet(conn, jia, OutletIn(code="DW001", name="总排口", kind="water"), NOW)[
                "id"
            ],
            "yi": svc.create_outlet(conn, yi, OutletIn(code="DA001", name="乙排口", kind="gas"), NOW)["id"],
        }
        svc.set_device_outlet(conn, GAS_MN, outs["DA001"], NOW)
        svc.set_device_outlet(conn, WATER_MN, outs["DW001"], NOW)
        svc.set_device_outlet(conn, C1_MN, outs["yi"], NOW)
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(10)), NOW)["id"]
        old = ops.create_operator(conn, OperatorIn(name="运维旧", credit_code=credit_code(11)), NOW)["id"]
        ops.create_contract(
            conn, op, ContractIn(enterprise_id=jia, contract_no="HT-1", valid_from=date(2026, 1, 1)), NOW
        )
        ops.create_contract(
            conn,
            old,
            ContractIn(
                enterprise_id=jia,
                contract_no="HT-0",
                valid_from=date(2025, 1, 1),
                valid_to=date(2025, 12, 31),
            ),
            NOW,
        )
        person = conn.execute(
            insert(staff)
            .values(
                operator_id=op, name="张工", position="field_engineer", phone="13800000000", username=None,
                active=True, created_at=NOW, updated_at=NOW,
            )
            .returning(staff.c.id)
        ).scalar_one()  # fmt: skip
    devices = {"gas": by_mn[GAS_MN], "water": by_mn[WATER_MN], "yi": by_mn[C1_MN]}
    return World(jia, yi, outs, devices, op, old, int(person))


def record(
    conn: Connection,
    w: World,
    device: str,
    at: datetime,
    *,
    kind: str,
    verdict: str = "none",
    payload: dict[str, Any] | None = None,
    supersedes: int | None = None,
    note: str = "",
) -> int:
    row = {
        "kind": kind, "device_id": w.devices[device], "operator_id": w.op, "staff_id": w.staff,
        "performed_at": at, "latitude": None, "longitude": None, "distance_m": None, "on_site": "yes",
        "payload": payload or {}, "verdict": verdict, "note": note, "supersedes_id": supersedes,
        "keep_until": date(2031, 1, 1), "recorded_by": "zhang", "recorded_at": at,
    }  # fmt: skip
    return int(conn.execute(insert(field_records).values(**row).returning(field_records.c.id)).scalar_one())


def fault(conn: Connection, w: World, device: str, started: datetime, **facts: Any) -> int:
    row = {
        "device_id": w.devices[device], "operator_id": w.op, "alarm_id": None, "factors": "a21026",
        "description": "采样泵故障", "state": "restored" if facts.get("restored_at") else "open",
        "started_at": started, "backup_kind": None, "backup_started_at": None, "backup_checked_at": None,
        "backup_ended_at": None, "restored_at": None, "mark_id": None, "opened_by": "zhang", "opened_at": started,
    }  # fmt: skip
    row.update(facts)
    return int(conn.execute(insert(faults).values(**row).returning(faults.c.id)).scalar_one())


def manual_result(conn: Connection, w: World, fault_id: int, at: datetime, value: str) -> None:
    conn.execute(
        insert(manual_results).values(
            fault_id=fault_id, device_id=w.devices["gas"], factor="a21026", sampled_at=at,
            value=Decimal(value), unit="mg/m3", agency="太原检测", report_no="TY-001",
            recorded_by="zhang", recorded_at=at,
        )
    )  # fmt: skip


def stop(conn: Connection, w: World, start: datetime, end: datetime, state: str = "approved") -> None:
    conn.execute(
        insert(production_stops).values(
            enterprise_id=w.jia, outlet_id=w.outlets["DA001"], start_at=start, end_at=end, reason="检修停产",
            state=state, mark_id=None, restarted_at=None, submitted_by="ent", submitted_at=start,
            decided_by=None, decided_at=None,
        )
    )  # fmt: skip


def mark(
    conn: Connection,
    w: World,
    start: datetime,
    hours: int,
    code: str = "maintenance",
    *,
    supersedes: int | None = None,
    action: str = "mark",
) -> int:
    row = {
        "device_id": w.devices["gas"], "factor": None, "start_at": start,
        "end_at": start + timedelta(hours=hours), "code": code, "reason": "维护", "source": "operator",
        "supersedes_id": supersedes, "action": action, "late": False, "created_by": "zhang", "created_at": start,
    }  # fmt: skip
    return int(conn.execute(insert(marks).values(**row).returning(marks.c.id)).scalar_one())


def alarm(conn: Connection, w: World, kind: str, at: datetime, *, closed: bool = False) -> int:
    raised = Raised(w.devices["gas"], kind, "a21026" if kind == "exceedance" else "", at, "test", "test")
    alarm_id = raise_alarm(conn, raised, at, ack_due_s=3600).alarm_id
    if closed:
        apply(conn, alarm_id, Action("acknowledge"), actor="zhang", now=at + timedelta(minutes=5))
        apply(conn, alarm_id, Action("close", cause="探头污染", action="清洗"), actor="zhang",
              now=at + timedelta(hours=1))  # fmt: skip
    return alarm_id


def ticket(conn: Connection, w: World, requested: datetime, **facts: Any) -> int:
    row = {
        "enterprise_id": w.jia, "outlet_id": w.outlets["DA001"], "device_id": w.devices["gas"],
        "operator_id": w.op, "zone": "urban", "channel": "phone", "subject": "数据异常", "description": "请到场",
        "state": "requested", "requested_at": requested, "requested_by": "ent", "responded_at": None,
        "arrived_at": None, "resolved_at": None, "closed_at": None, "cancelled_at": None,
        "assigned_staff_id": None, "score": None,
    }  # fmt: skip
    row.update(facts)
    return int(conn.execute(insert(tickets).values(**row).returning(tickets.c.id)).scalar_one())
