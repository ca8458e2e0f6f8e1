"""A hand-made registry for the fault and production-stop tests (SQLite and PostgreSQL alike).

- 甲 (330102 杭州): gas outlet DA001 with two devices (GAS: factors a21026 SO2, a21002 NOx; GAS2: SO2) and
  water outlet DW001 with WATER (w01018 COD); 运维甲 holds a contract on all of 甲 since 2025-01-01.
- 乙 (440103 广州): gas outlet DA001 with its device B (no factors registered); no contract.
- ``loose``: a device on no outlet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine

from envwatch.core.clock import CHINA_TZ
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

GAS_MN = "010000A8900016F0020A0001"
GAS2_MN = "010000A8900016F0020A0002"
WATER_MN = "010000A8900016F0020A0003"
B_MN = "010000A8900016F0020B0001"
LOOSE_MN = "010000A8900016F0020C0001"
SO2, NOX, COD = "a21026", "a21002", "w01018"


def cst(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """A China-time instant."""
    return datetime(y, mo, d, h, mi, s, tzinfo=CHINA_TZ)


def credit_code(n: int) -> str:
    first17 = f"9133010200020{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True)
class FaultWorld:
    jia: int
    yi: int
    outlets: dict[str, int]  # gas_a, water_a, gas_b
    devices: dict[str, int]  # gas, gas2, water, b, loose
    operator: int


def build(engine: Engine, now: datetime) -> FaultWorld:
    import_devices(
        engine,
        [
            device_row(GAS_MN),
            device_row(GAS2_MN),
            device_row(WATER_MN, kind="water"),
            device_row(B_MN),
            device_row(LOOSE_MN),
        ],
        now,
    )
    by_mn = {mn: rec.id for mn, rec in load_devices(engine).items()}
    with engine.begin() as conn:
        jia = svc.create_enterprise(
            conn, EnterpriseIn(name="甲化工有限公司", credit_code=credit_code(1), region_code="330102"), now
        )["id"]
        yi = svc.create_enterprise(
            conn, EnterpriseIn(name="乙热电有限公司", credit_code=credit_code(2), region_code="440103"), now
        )["id"]
        outs = {
            "gas_a": svc.create_outlet(conn, jia, OutletIn(code="DA001", name="1号排口", kind="gas"), now)[
                "id"
            ],
            "water_a": svc.create_outlet(
                conn, jia, OutletIn(code="DW001", name="废水排口", kind="water"), now
            )["id"],
            "gas_b": svc.create_outlet(conn, yi, OutletIn(code="DA001", name="1号排口", kind="gas"), now)[
                "id"
            ],
        }
        for mn, outlet in ((GAS_MN, "gas_a"), (GAS2_MN, "gas_a"), (WATER_MN, "water_a"), (B_MN, "gas_b")):
            svc.set_device_outlet(conn, mn, outs[outlet], now)
        svc.upsert_device_factors(
            conn,
            GAS_MN,
            [DeviceFactorIn(factor=SO2, unit="mg/m3"), DeviceFactorIn(factor=NOX, unit="mg/m3")],
            now,
        )
        svc.upsert_device_factors(conn, GAS2_MN, [DeviceFactorIn(factor=SO2, unit="mg/m3")], now)
        svc.upsert_device_factors(conn, WATER_MN, [DeviceFactorIn(factor=COD, unit="mg/L")], now)
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(10)), now)["id"]
        ops.create_contract(
            conn, op, ContractIn(enterprise_id=jia, contract_no="HT-1", valid_from=date(2025, 1, 1)), now
        )
    devs = {
        "gas": by_mn[GAS_MN],
        "gas2": by_mn[GAS2_MN],
        "water": by_mn[WATER_MN],
        "b": by_mn[B_MN],
        "loose": by_mn[LOOSE_MN],
    }
    return FaultWorld(jia, yi, outs, devs, op)
