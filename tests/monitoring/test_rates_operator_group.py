"""Rates grouped by operator (运维单位): the contract in force on the query's last day decides a device's
operator; an outlet contract beats a whole-enterprise one; devices without one form "(no operator)"."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.monitoring.rates import NO_OPERATOR, RateQuery, compute_rates
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char
from tests.helpers import GAS_MN, NOW, SM4_MN, WATER_MN, register_demo_devices
from tests.monitoring.test_rates import GAS, WATER, put_day

DAY = date(2026, 11, 20)


def _code(n: int) -> str:
    first17 = f"9133010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def _world(engine: Engine) -> dict[str, int]:
    """Enterprise E1 with a gas and a water outlet, E2 with one outlet; operators 甲运维 (E1 whole, from
    DAY), 乙运维 (E1's water outlet only, from DAY), 丙运维 (E2, ended the day before DAY)."""
    ids = register_demo_devices(engine)
    with engine.begin() as conn:
        e1 = svc.create_enterprise(
            conn, EnterpriseIn(name="企业一", credit_code=_code(1), region_code="330102"), NOW
        )
        e2 = svc.create_enterprise(
            conn, EnterpriseIn(name="企业二", credit_code=_code(2), region_code="330102"), NOW
        )
        gas = svc.create_outlet(conn, e1["id"], OutletIn(code="DA001", name="气", kind="gas"), NOW)
        water = svc.create_outlet(conn, e1["id"], OutletIn(code="DW001", name="水", kind="water"), NOW)
        other = svc.create_outlet(conn, e2["id"], OutletIn(code="DA001", name="气", kind="gas"), NOW)
        svc.set_device_outlet(conn, GAS_MN, gas["id"], NOW)
        svc.set_device_outlet(conn, WATER_MN, water["id"], NOW)
        svc.set_device_outlet(conn, SM4_MN, other["id"], NOW)
        names = ("甲运维", "乙运维", "丙运维")
        op = {
            n: ops.create_operator(conn, OperatorIn(name=n, credit_code=_code(10 + i)), NOW)["id"]
            for i, n in enumerate(names)
        }

        def contract(
            operator: str, no: str, enterprise: int, outlet: int | None, first: date, last: date | None
        ) -> None:
            data = ContractIn(
                enterprise_id=enterprise, outlet_id=outlet, contract_no=no, valid_from=first, valid_to=last
            )
            ops.create_contract(conn, op[operator], data, NOW)

        contract("甲运维", "C1", e1["id"], None, DAY, None)
        contract("乙运维", "C2", e1["id"], water["id"], DAY, None)
        contract("丙运维", "C3", e2["id"], None, DAY - timedelta(days=30), DAY - timedelta(days=1))
    return {**ids, **op}


def _by_operator(engine: Engine, settings: Settings, first: date, last: date) -> dict[str, dict[str, Any]]:
    rows = compute_rates(engine, settings, RateQuery(first, last, group="operator"), NOW)
    return {r["operator"]: r for r in rows}


def test_devices_go_to_the_operator_in_force_on_the_last_day(engine: Engine, settings: Settings) -> None:
    ids = _world(engine)
    put_day(engine, ids[GAS_MN], DAY, GAS)  # 72 of 72
    put_day(engine, ids[WATER_MN], DAY, WATER, skip=range(12))
    rows = _by_operator(engine, settings, DAY, DAY)
    assert set(rows) == {"甲运维", "乙运维", NO_OPERATOR}
    # the gas device is under E1's whole-enterprise contract; the water outlet's own contract wins there
    assert (rows["甲运维"]["operator_id"], rows["甲运维"]["valid"], rows["甲运维"]["effective_rate"]) == (
        ids["甲运维"],
        72,
        100,
    )
    assert (rows["乙运维"]["expected"], rows["乙运维"]["received"]) == (92, 48)
    # E2's contract ended the day before: its device has no operator that day
    assert rows[NO_OPERATOR]["operator_id"] is None and rows[NO_OPERATOR]["received"] == 0


def test_the_last_day_decides_not_the_first(engine: Engine, settings: Settings) -> None:
    _world(engine)
    # over the two days before DAY, 丙运维's contract is in force on the last one; 甲/乙 not yet
    rows = _by_operator(engine, settings, DAY - timedelta(days=2), DAY - timedelta(days=1))
    assert set(rows) == {"丙运维", NO_OPERATOR}
    assert rows["丙运维"]["expected"] == 2 * 24 * len(GAS)
