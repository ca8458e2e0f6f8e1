"""The hand-made registry the ledger tests (equipment, spare parts, emergency) share.

NOW is 12:00 China time on 2026-11-22 (04:00 UTC). 甲 (350102) has outlet A1 with the gas logger and A2 with
the water logger; 乙 (350203) has outlet B1 with the SM4 logger; a fourth logger sits on no outlet. 运维甲
holds a contract on all of 甲 from 2026-01-01; 运维乙 one on 乙's outlet B1 from 2020-01-01.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char
from envwatch.registry.store import import_devices, load_devices
from tests.helpers import GAS_MN, NOW, SM4_MN, WATER_MN, device_row, register_demo_devices

TODAY = date(2026, 11, 22)  # NOW's China day
LOOSE_MN = "010000A8900016F000169DC9"


@dataclass(frozen=True)
class LedgerWorld:
    op: int  # 运维甲: all of 甲 since 2026-01-01
    other_op: int  # 运维乙: 乙's outlet B1 since 2020
    device: int  # 甲's gas logger
    device2: int  # 甲's water logger (on outlet A2)
    foreign_device: int  # 乙's logger
    loose_device: int  # on no outlet


def credit_code(n: int) -> str:
    first17 = f"9135010200001{n:04d}"
    return first17 + credit_code_check_char(first17)


def build(engine: Engine) -> LedgerWorld:
    ids = register_demo_devices(engine)
    with engine.begin() as conn:
        jia = svc.create_enterprise(
            conn, EnterpriseIn(name="甲", credit_code=credit_code(1), region_code="350102"), NOW
        )["id"]
        yi = svc.create_enterprise(
            conn, EnterpriseIn(name="乙", credit_code=credit_code(2), region_code="350203"), NOW
        )["id"]
        a1 = svc.create_outlet(conn, jia, OutletIn(code="DA001", name="1号排口", kind="gas"), NOW)["id"]
        a2 = svc.create_outlet(conn, jia, OutletIn(code="DW001", name="废水排口", kind="water"), NOW)["id"]
        b1 = svc.create_outlet(conn, yi, OutletIn(code="DA001", name="1号排口", kind="gas"), NOW)["id"]
        svc.set_device_outlet(conn, GAS_MN, a1, NOW)
        svc.set_device_outlet(conn, WATER_MN, a2, NOW)
        svc.set_device_outlet(conn, SM4_MN, b1, NOW)
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(10)), NOW)["id"]
        other = ops.create_operator(conn, OperatorIn(name="运维乙", credit_code=credit_code(11)), NOW)["id"]
        ops.create_contract(
            conn,
            op,
            ContractIn.model_validate(
                {"enterprise_id": jia, "contract_no": "C1", "valid_from": "2026-01-01"}
            ),
            NOW,
        )
        ops.create_contract(
            conn,
            other,
            ContractIn.model_validate(
                {"enterprise_id": yi, "outlet_id": b1, "contract_no": "C2", "valid_from": "2020-01-01"}
            ),
            NOW,
        )
    import_devices(engine, [device_row(LOOSE_MN)], NOW)  # a fourth logger, on no outlet
    loose = load_devices(engine)[LOOSE_MN].id
    return LedgerWorld(op, other, ids[GAS_MN], ids[WATER_MN], ids[SM4_MN], loose)
