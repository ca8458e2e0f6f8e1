"""The outlet and filing pages' own world: two enterprises with limits, rated factors, data and filings.

甲 (杭州) has a gas outlet DA001 (device MN_GAS_A, SO2 rated, hour limit 35 mg/m3 and day limit 30) and a
water outlet DW001 (device MN_WATER_A, pH rated, range 6-9); 乙 (广州) a gas outlet with MN_GAS_B. The gas
device sent SO2 hour records for the last ``HOURS`` whole hours, alternating 20.5 (within) and 50.5
(above the limit), and a real-time value of 40.0 (above); the water device a real-time pH of 9.5 (out
of range). Each enterprise has one filing. Users: ent_a, ent_b (enterprise), op_a (operator with a
contract on all of 甲), reg_zj (regulator of 浙江, sees 甲 only), aud_a (auditor of that operator
for January 2025), admin1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.monitoring.schema import measurements
from envwatch.registry import filings, service, service_limits, service_operators
from envwatch.registry.models import (
    ContractIn,
    DeviceFactorIn,
    EmissionLimitIn,
    EnterpriseIn,
    OperatorIn,
    OutletIn,
)
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store, serving, set_status

MN_GAS_A = "010000A8900016F0002A0001"
MN_WATER_A = "010000A8900016F0002A0002"
MN_GAS_B = "010000A8900016F0002B0001"
SO2, PH = "a21026", "w01001"
HOURS = 6
MAX_BYTES = 2048  # a small attachment limit, so that "too big" is cheap to test


@dataclass(frozen=True)
class OutletWorld:
    base_url: str
    settings: Settings
    engine: Engine
    outlet_gas_a: int
    outlet_water_a: int
    outlet_gas_b: int
    filing_a: int
    filing_b: int
    now: datetime


def _code(n: int) -> str:
    return credit_code(n, "9144010200000")


def hour_value(n: int) -> str:
    """The SO2 hour value ``n`` hours before the current hour: odd hours are above the limit."""
    return "50.5" if n % 2 else "20.5"


def _data(conn: object, gas: int, water: int, now: datetime) -> None:
    hour = now.replace(minute=0, second=0, microsecond=0)
    rows = [
        (gas, "hour", hour - timedelta(hours=n), {SO2: {"Avg": hour_value(n), "Flag": "N"}})
        for n in range(1, HOURS + 1)
    ]
    rows.append((gas, "rtd", now - timedelta(minutes=1), {SO2: {"Rtd": "40.0", "Flag": "N"}}))
    rows.append((water, "rtd", now - timedelta(minutes=1), {PH: {"Rtd": "9.5", "Flag": "N"}}))
    for packet_id, (device_id, kind, at, factors) in enumerate(rows, start=1):
        conn.execute(  # type: ignore[attr-defined]
            insert(measurements).values(
                device_id=device_id, kind=kind, data_time=at, part=0, factors=factors,
                packet_id=packet_id, backfill=False, received_at=now,
            )
        )  # fmt: skip


def populate(engine: Engine) -> tuple[int, int, int, int, int]:
    now = utcnow()
    ids = add_devices(
        engine, [device_row(MN_GAS_A), device_row(MN_WATER_A, kind="water"), device_row(MN_GAS_B)], now
    )
    since = date(2020, 1, 1)
    with engine.begin() as conn:
        ent_a = service.create_enterprise(
            conn, EnterpriseIn(name="甲化工有限公司", credit_code=_code(1), region_code="330102"), now
        )["id"]
        ent_b = service.create_enterprise(
            conn, EnterpriseIn(name="乙热电有限公司", credit_code=_code(2), region_code="440103"), now
        )["id"]
        gas_a = service.create_outlet(
            conn,
            ent_a,
            OutletIn(code="DA001", name="锅炉排口", kind="gas", permit_number="91330102MA001"),
            now,
        )["id"]
        water_a = service.create_outlet(
            conn, ent_a, OutletIn(code="DW001", name="总排口", kind="water"), now
        )["id"]
        gas_b = service.create_outlet(conn, ent_b, OutletIn(code="DA001", name="1号排口", kind="gas"), now)[
            "id"
        ]
        for mn, outlet in ((MN_GAS_A, gas_a), (MN_WATER_A, water_a), (MN_GAS_B, gas_b)):
            service.set_device_outlet(conn, mn, outlet, now)
        service.upsert_device_factors(conn, MN_GAS_A, [DeviceFactorIn(factor=SO2, unit="mg/m3")], now)
        service.upsert_device_factors(conn, MN_GAS_B, [DeviceFactorIn(factor=SO2, unit="mg/m3")], now)
        service.upsert_device_factors(conn, MN_WATER_A, [DeviceFactorIn(factor=PH, unit="")], now)
        for outlet, limit in (
            (gas_a, EmissionLimitIn(factor=SO2, hour_limit=Decimal("35"), day_limit=Decimal("30"), unit="mg/m3",
                                    valid_from=since, legal_source="GB 13223-2011 表1")),
            (water_a, EmissionLimitIn(factor=PH, ph_low=Decimal("6"), ph_high=Decimal("9"), valid_from=since,
                                      legal_source="GB 8978-1996")),
            (gas_b, EmissionLimitIn(factor=SO2, hour_limit=Decimal("35"), unit="mg/m3", valid_from=since,
                                    legal_source="GB 13223-2011 表1")),
        ):  # fmt: skip
            service_limits.add_emission_limit(conn, outlet, limit, now)
        set_status(conn, {ids[MN_GAS_A]: True, ids[MN_WATER_A]: False}, now)
        _data(conn, ids[MN_GAS_A], ids[MN_WATER_A], now)
        operator = service_operators.create_operator(
            conn, OperatorIn(name="丙运维", credit_code=_code(3)), now
        )
        service_operators.create_contract(
            conn, operator["id"], ContractIn(enterprise_id=ent_a, contract_no="HT-001", valid_from=since), now
        )
        users: list[tuple[str, dict[str, object]]] = [
            ("admin1", {"role": "admin"}),
            ("ent_a", {"role": "enterprise", "enterprise_id": ent_a, "display_name": "甲环保专员"}),
            ("ent_b", {"role": "enterprise", "enterprise_id": ent_b}),
            ("op_a", {"role": "operator", "operator_id": operator["id"]}),
            ("reg_zj", {"role": "regulator", "region_code": "330000"}),
            # an auditor of the operator whose period is long over: outlets yes, live values no
            (
                "aud_a",
                {
                    "role": "auditor",
                    "operator_id": operator["id"],
                    "period_from": date(2025, 1, 1),
                    "period_to": date(2025, 1, 31),
                },
            ),
        ]
        create_users(conn, users, now)
    filing_a = filings.create_filing(
        engine, kind="major_change", enterprise_id=ent_a, outlet_id=gas_a, title="甲锅炉排口重大变更",
        event_at=now - timedelta(days=1), created_by="ent_a", now=now,
    )["id"]  # fmt: skip
    filing_b = filings.create_filing(
        engine, kind="filing", enterprise_id=ent_b, outlet_id=gas_b, title="乙排口备案",
        event_at=now - timedelta(days=2), created_by="ent_b", now=now,
    )["id"]  # fmt: skip
    return gas_a, water_a, gas_b, filing_a, filing_b


@pytest.fixture(scope="session")
def outlet_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OutletWorld]:
    data_dir: Path = tmp_path_factory.mktemp("outlets") / "var"
    with fresh_store(data_dir, max_attachment_bytes=MAX_BYTES) as (settings, engine):
        now = utcnow()
        gas_a, water_a, gas_b, filing_a, filing_b = populate(engine)
        with serving(settings, engine) as url:
            yield OutletWorld(url, settings, engine, gas_a, water_a, gas_b, filing_a, filing_b, now)
