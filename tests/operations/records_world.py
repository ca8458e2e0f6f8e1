"""A small registry for field-record tests, built on the real stores (the staff store is another area's: the
staff and certificate rows are inserted here directly).

NOW is 12:00 China time on 2026-11-22 (04:00 UTC). The devices were registered on 2026-01-01.

- 甲 (330102 杭州): gas outlet DA001 at 30.2741 N 120.1551 E with device ``gas`` (SO2 a21026 range 0-100,
  NOx a21002 without a range), water outlet DW001 (no position) with device ``water``;
- 乙 (440103 广州): gas outlet DA001 with device ``other``;
- 运维甲 (``op``): a contract on all of 甲 from 2026-01-01; 运维乙 (``other_op``): one on 乙 only;
- staff of 运维甲: ``zhang`` (certificate valid all 2026), ``li`` (certificate valid until 2026-10-31),
  ``wang`` (left the company); ``zhao`` works for 运维乙;
- reference materials of 运维甲: ``so2`` (valid until 2027-06-30), ``old`` (valid until 2026-10-31);
  ``theirs`` belongs to 运维乙.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert

from envwatch.operations.materials import MaterialDraft, add_material
from envwatch.operations.records import RecordDraft
from envwatch.operations.staff_schema import staff, staff_certificates
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import (
    ContractIn,
    DeviceFactorIn,
    EnterpriseIn,
    OperatorIn,
    OutletIn,
    credit_code_check_char,
)
from envwatch.registry.store import import_devices, load_devices
from tests.helpers import device_row

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
REGISTERED = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
GAS_MN = "010000A8900016F0000E0001"
WATER_MN = "010000A8900016F0000E0002"
OTHER_MN = "010000A8900016F0000E0003"
SITE = (Decimal("30.2741"), Decimal("120.1551"))


@dataclass(frozen=True)
class RecordsWorld:
    enterprises: dict[str, int]
    outlets: dict[str, int]
    devices: dict[str, int]
    op: int
    other_op: int
    staff: dict[str, int]
    materials: dict[str, int]
    now: datetime = NOW


def credit_code(n: int) -> str:
    first17 = f"9133010200001{n:04d}"
    return first17 + credit_code_check_char(first17)


def add_staff(
    conn: Connection,
    operator_id: int,
    name: str,
    *,
    active: bool = True,
    valid: tuple[date, date] | None = None,
    username: str | None = None,
) -> int:
    """A staff row and, when ``valid`` is given, a certificate valid over it."""
    staff_id = int(
        conn.execute(
            insert(staff)
            .values(
                operator_id=operator_id, name=name, position="field_engineer", phone="13800000000",
                username=username, active=active, created_at=REGISTERED, updated_at=REGISTERED,
            )
            .returning(staff.c.id)
        ).scalar_one()
    )  # fmt: skip
    if valid is not None:
        conn.execute(
            insert(staff_certificates).values(
                staff_id=staff_id, kind="自动监测运维上岗证", number=f"SG-{staff_id:04d}", issuer="省监测站",
                issued_on=valid[0], valid_until=valid[1], recorded_by="test", recorded_at=REGISTERED,
            )
        )  # fmt: skip
    return staff_id


def build(engine: Engine, now: datetime = NOW) -> RecordsWorld:
    """The world of the module docstring; with another ``now`` every date moves with it (API tests use the
    real clock): registered ``now`` − 325 days 4 h, certificates and materials valid until ``now`` + 39 or
    + 220 days, or − 22 days for the expired ones."""
    registered = now - (NOW - REGISTERED)
    first = registered.date()
    today = now.date()
    import_devices(
        engine, [device_row(GAS_MN), device_row(WATER_MN, kind="water"), device_row(OTHER_MN)], registered
    )
    by_mn = {mn: rec.id for mn, rec in load_devices(engine).items()}
    year = (first, today + timedelta(days=39))
    expired = today - timedelta(days=22)
    with engine.begin() as conn:
        jia = svc.create_enterprise(
            conn, EnterpriseIn(name="甲化工", credit_code=credit_code(1), region_code="330102"), registered
        )["id"]
        yi = svc.create_enterprise(
            conn, EnterpriseIn(name="乙热电", credit_code=credit_code(2), region_code="440103"), registered
        )["id"]
        outs = {
            "gas": svc.create_outlet(
                conn,
                jia,
                OutletIn(code="DA001", name="1号排口", kind="gas", latitude=SITE[0], longitude=SITE[1]),
                registered,
            )["id"],
            "water": svc.create_outlet(
                conn, jia, OutletIn(code="DW001", name="废水总排口", kind="water"), registered
            )["id"],
            "other": svc.create_outlet(
                conn, yi, OutletIn(code="DA001", name="乙排口", kind="gas"), registered
            )["id"],
        }
        for key, mn in (("gas", GAS_MN), ("water", WATER_MN), ("other", OTHER_MN)):
            svc.set_device_outlet(conn, mn, outs[key], registered)
        svc.upsert_device_factors(
            conn,
            GAS_MN,
            [
                DeviceFactorIn(factor="a21026", unit="mg/m3", range_low=Decimal(0), range_high=Decimal(100)),
                DeviceFactorIn(factor="a21002", unit="mg/m3"),
            ],
            registered,
        )
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(10)), registered)[
            "id"
        ]
        other_op = ops.create_operator(
            conn, OperatorIn(name="运维乙", credit_code=credit_code(11)), registered
        )["id"]
        ops.create_contract(
            conn,
            op,
            ContractIn(enterprise_id=jia, contract_no="HT-1", valid_from=first),
            registered,
        )
        ops.create_contract(
            conn,
            other_op,
            ContractIn(enterprise_id=yi, contract_no="HT-2", valid_from=first),
            registered,
        )
        people = {
            "zhang": add_staff(conn, op, "张三", valid=year),
            "li": add_staff(conn, op, "李四", valid=(first, expired)),
            "wang": add_staff(conn, op, "王五", active=False, valid=year),
            "zhao": add_staff(conn, other_op, "赵六", valid=year),
        }

        def material(operator_id: int, name: str, cert: str, until: date) -> int:
            draft = MaterialDraft(
                operator_id=operator_id, kind="gas", name=name, certificate_no=cert, lot="B1",
                concentration=Decimal("80.0"), unit="mg/m3", uncertainty="2% (k=2)", maker="标气厂",
                valid_until=until,
            )  # fmt: skip
            return int(add_material(conn, draft, "test", registered)["id"])

        mats = {
            "so2": material(op, "SO2 in N2", "GBW(E)-001", today + timedelta(days=220)),
            "old": material(op, "SO2 in N2", "GBW(E)-000", expired),
            "theirs": material(other_op, "SO2 in N2", "GBW(E)-009", today + timedelta(days=220)),
        }
    return RecordsWorld(
        {"jia": jia, "yi": yi},
        outs,
        {"gas": by_mn[GAS_MN], "water": by_mn[WATER_MN], "other": by_mn[OTHER_MN]},
        op,
        other_op,
        people,
        mats,
        now,
    )


def inspection(items: int = 2, failed: int = 0) -> dict[str, Any]:
    return {"items": [{"item": f"检查项{i}", "ok": i >= failed} for i in range(items)]}


def calibration(zero: str = "1", span: str = "81") -> dict[str, Any]:
    return {
        "factor": "a21026",
        "zero_reference": "0",
        "zero_reading": zero,
        "span_reference": "80",
        "span_reading": span,
        "mode": "manual",
    }


def draft(w: RecordsWorld, **changes: Any) -> RecordDraft:
    """An inspection of 甲's gas device by 张三 an hour before the world's now, signed in 100 m north of the
    outlet."""
    fields: dict[str, Any] = {
        "device_id": w.devices["gas"],
        "kind": "inspection",
        "operator_id": w.op,
        "staff_id": w.staff["zhang"],
        "performed_at": w.now - timedelta(hours=1),
        "payload": inspection(),
        "latitude": SITE[0] + Decimal("0.0009"),
        "longitude": SITE[1],
        "note": "",
    }
    fields.update(changes)
    return RecordDraft(**fields)
