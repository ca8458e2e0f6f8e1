"""Registry service on a real database (SQLite and, where reachable, PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import DBAPIError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry import service as svc
from envwatch.registry import service_limits as limits
from envwatch.registry import service_operators as ops
from envwatch.registry.models import (
    ContractIn,
    DeviceFactorIn,
    EmissionLimitIn,
    EnterpriseIn,
    OperatorIn,
    OutletIn,
    parse,
)
from envwatch.registry.schema import devices, emission_limits
from envwatch.registry.store import load_devices
from tests.helpers import GAS_MN, NOW, WATER_MN, register_demo_devices

LATER = NOW + timedelta(hours=1)
CODES = ["91350100M000100Y43", "914403001922038216", "91110108551385082Q", "12100000400012345P"]


def enterprise(conn: Connection, code: str = CODES[0], region: str = "350102", name: str = "示例电厂") -> int:
    data = parse(EnterpriseIn, {"name": name, "credit_code": code, "region_code": region})
    return int(svc.create_enterprise(conn, data, NOW)["id"])


def outlet(conn: Connection, enterprise_id: int, code: str = "DA001", kind: str = "gas") -> int:
    data = parse(OutletIn, {"code": code, "name": f"{code}排口", "kind": kind})
    return int(svc.create_outlet(conn, enterprise_id, data, NOW)["id"])


def limit(**fields: Any) -> EmissionLimitIn:
    return parse(EmissionLimitIn, {"factor": "a21026", "legal_source": "GB 13223-2011 表1", **fields})


def test_enterprise_create_get_update(engine: Engine) -> None:
    with engine.begin() as conn:
        data = parse(
            EnterpriseIn,
            {
                "name": "示例电厂",
                "credit_code": CODES[0],
                "region_code": "350102",
                "longitude": "119.296500",
                "latitude": "26.07",
            },
        )
        row = svc.create_enterprise(conn, data, NOW)
        assert row["longitude"] == Decimal("119.296500") and str(row["longitude"]) == "119.296500"
        assert svc.get_enterprise_by_credit_code(conn, CODES[0].lower())["id"] == row["id"]
        unchanged = svc.update_enterprise(conn, row["id"], {"name": "示例电厂"}, LATER)
        assert unchanged["updated_at"] == NOW  # nothing changed, nothing bumped
        changed = svc.update_enterprise(conn, row["id"], {"attention_level": "national"}, LATER)
        assert (changed["attention_level"], changed["updated_at"], changed["created_at"]) == (
            "national",
            LATER,
            NOW,
        )
        assert changed["longitude"] == Decimal("119.296500")
        with pytest.raises(InvalidInput, match="region_code: 'x' is not a region code"):
            svc.update_enterprise(conn, row["id"], {"region_code": "x"}, LATER)
        with pytest.raises(InvalidInput, match="id cannot be changed"):
            svc.update_enterprise(conn, row["id"], {"id": 9}, LATER)
        with pytest.raises(NotFound, match="no enterprise with id 999"):
            svc.get_enterprise(conn, 999)
        with pytest.raises(NotFound, match="no enterprise with credit code"):
            svc.get_enterprise_by_credit_code(conn, CODES[1])


def test_duplicate_credit_codes_and_outlet_codes_conflict(engine: Engine) -> None:
    with engine.begin() as conn:
        first = enterprise(conn)
        second = enterprise(conn, CODES[1], name="另一厂")
        with pytest.raises(
            Conflict,
            match=rf"credit code {CODES[0]} is already registered for enterprise {first} \(示例电厂\)",
        ):
            enterprise(conn, CODES[0], name="重复")
        with pytest.raises(Conflict, match=f"already registered for enterprise {first}"):
            svc.update_enterprise(conn, second, {"credit_code": CODES[0]}, LATER)
        da = outlet(conn, first)
        with pytest.raises(
            Conflict, match=f"enterprise {first} already has an outlet with code DA001 \\(outlet {da}\\)"
        ):
            outlet(conn, first)
        outlet(conn, second)  # the same code at another enterprise is fine
        other = outlet(conn, first, "DA002")
        with pytest.raises(Conflict, match="already has an outlet with code DA001"):
            svc.update_outlet(conn, other, {"code": "DA001"}, LATER)
        with pytest.raises(InvalidInput, match="cannot move to another enterprise"):
            svc.update_outlet(conn, other, {"enterprise_id": second}, LATER)
        assert [o["code"] for o in svc.list_outlets(conn, first)] == ["DA001", "DA002"]
        op = ops.create_operator(conn, parse(OperatorIn, {"name": "运维甲", "credit_code": CODES[2]}), NOW)
        with pytest.raises(Conflict, match=f"already registered for operator {op['id']}"):
            ops.create_operator(conn, parse(OperatorIn, {"name": "运维乙", "credit_code": CODES[2]}), NOW)


def test_region_prefix_and_name_filter(engine: Engine) -> None:
    with engine.begin() as conn:
        enterprise(conn, CODES[0], "350102", "福州鼓楼厂")
        enterprise(conn, CODES[1], "350203", "厦门思明厂")
        enterprise(conn, CODES[2], "110108", "北京海淀厂")
        enterprise(conn, CODES[3], "350111", "福州晋安100%厂")

        def names(**kw: Any) -> list[str]:
            return sorted(e["name"] for e in svc.list_enterprises(conn, **kw))

        assert names(region="35") == ["厦门思明厂", "福州晋安100%厂", "福州鼓楼厂"]
        assert names(region="3501") == names(region="350100") == ["福州晋安100%厂", "福州鼓楼厂"]
        assert names(region="350000") == names(region="35")
        assert names(region="350102") == ["福州鼓楼厂"]
        assert names(region="35", name="福州") == ["福州晋安100%厂", "福州鼓楼厂"]
        assert names(name="%") == ["福州晋安100%厂"]  # LIKE wildcards are plain text
        assert names(name="_") == []
        for bad in ("3", "35010", "35a1", "3501020"):
            with pytest.raises(
                InvalidInput, match="must be 2 \\(province\\), 4 \\(city\\) or 6 \\(county\\) digits"
            ):
                svc.list_enterprises(conn, region=bad)


def test_device_outlet_sets_names_and_follows_renames(engine: Engine) -> None:
    register_demo_devices(engine)
    with engine.begin() as conn:
        ent = enterprise(conn)
        gas = outlet(conn, ent)
        water = outlet(conn, ent, "DW001", "water")
        with pytest.raises(
            InvalidInput, match=f"device {GAS_MN} measures gas but outlet {water} .* is a water outlet"
        ):
            svc.set_device_outlet(conn, GAS_MN, water, LATER)
        with pytest.raises(NotFound, match="no device with MN nope"):
            svc.set_device_outlet(conn, "nope", gas, LATER)
        with pytest.raises(NotFound, match="no outlet with id 999"):
            svc.set_device_outlet(conn, GAS_MN, 999, LATER)
        row = svc.set_device_outlet(conn, GAS_MN, gas, LATER, model="ZR-3211", serial="SN001")
        assert (row["outlet_id"], row["enterprise"], row["outlet"]) == (gas, "示例电厂", "DA001排口")
        assert (row["model"], row["serial"], row["updated_at"]) == ("ZR-3211", "SN001", LATER)
        row = svc.set_device_outlet(conn, GAS_MN, gas, LATER, serial="SN002")
        assert (row["model"], row["serial"]) == ("ZR-3211", "SN002")  # model kept when not given
        svc.update_enterprise(conn, ent, {"name": "示例电厂二期"}, LATER + timedelta(hours=1))
        svc.update_outlet(conn, gas, {"name": "脱硫出口"}, LATER + timedelta(hours=1))
        with pytest.raises(InvalidInput, match=f"outlet {gas} cannot become water: device\\(s\\) {GAS_MN}"):
            svc.update_outlet(conn, gas, {"kind": "water"}, LATER)
        water_device = conn.execute(select(devices.c.outlet).where(devices.c.mn == WATER_MN)).scalar_one()
    record = load_devices(engine)[GAS_MN]  # what the gateway sees
    assert (record.enterprise, record.outlet) == ("示例电厂二期", "脱硫出口")
    assert water_device == "1号排口"  # a device on no outlet keeps its imported names


def test_device_factors_upsert_keeps_unlisted(engine: Engine) -> None:
    register_demo_devices(engine)
    so2 = parse(
        DeviceFactorIn, {"factor": "a21026", "unit": "mg/m3", "range_low": "0", "range_high": "200.0"}
    )
    o2 = parse(DeviceFactorIn, {"factor": "a19001", "unit": "%", "rated": False})
    with engine.begin() as conn:
        rows = svc.upsert_device_factors(conn, GAS_MN, [so2, o2], NOW)
        assert [(r["factor"], r["rated"]) for r in rows] == [("a19001", False), ("a21026", True)]
        assert str(rows[1]["range_high"]) == "200.0"
        so2b = parse(
            DeviceFactorIn, {"factor": "a21026", "unit": "mg/m3", "range_low": "0", "range_high": "500"}
        )
        rows = svc.upsert_device_factors(conn, GAS_MN, [so2b], LATER)
        by = {r["factor"]: r for r in rows}
        assert set(by) == {"a19001", "a21026"}  # O2 was not listed and is kept
        assert by["a21026"]["range_high"] == Decimal(500) and by["a21026"]["updated_at"] == LATER
        assert by["a19001"]["updated_at"] == NOW
        with pytest.raises(InvalidInput, match="factor a21026 is listed twice"):
            svc.upsert_device_factors(conn, GAS_MN, [so2, so2b], LATER)
        assert svc.list_device_factors(conn, WATER_MN) == []


def test_limits_history_and_in_force(engine: Engine) -> None:
    with engine.begin() as conn:
        ent = enterprise(conn)
        gas = outlet(conn, ent)
        water = outlet(conn, ent, "DW001", "water")
        old = limits.add_emission_limit(conn, gas, limit(hour_limit="100", valid_from="2020-01-01"), NOW)
        new = limits.add_emission_limit(
            conn, gas, limit(hour_limit="35.0", reference_o2="6", valid_from="2026-01-01"), NOW
        )
        fix = limits.add_emission_limit(conn, gas, limit(hour_limit="50", valid_from="2026-01-01"), NOW)
        temp = limits.add_emission_limit(
            conn, gas, limit(hour_limit="25", valid_from="2026-03-01", valid_to="2026-03-31"), NOW
        )
        nox = limits.add_emission_limit(
            conn, gas, limit(factor="a21002", day_limit="50", valid_from="2026-02-01"), NOW
        )
        limits.add_emission_limit(
            conn, water, limit(factor="w01001", ph_low="6", ph_high="9", valid_from="2026-01-01"), NOW
        )
        with pytest.raises(InvalidInput, match=f"reference_o2 applies to gas outlets only; outlet {water}"):
            limits.add_emission_limit(
                conn, water, limit(hour_limit="1", reference_o2="6", valid_from="2026-01-01"), NOW
            )
        with pytest.raises(InvalidInput, match=f"outlet {gas} cannot become water: device|it has gas limits"):
            svc.update_outlet(conn, gas, {"kind": "water"}, LATER)

        def in_force(day: date) -> dict[str, int]:
            return {r["factor"]: r["id"] for r in limits.limits_in_force(conn, gas, day)}

        assert in_force(date(2019, 12, 31)) == {}
        assert in_force(date(2025, 12, 31)) == {"a21026": old["id"]}
        # same valid_from: the later row (a correction) wins
        assert in_force(date(2026, 1, 1)) == {"a21026": fix["id"]}
        assert in_force(date(2026, 3, 1)) == {"a21026": temp["id"], "a21002": nox["id"]}
        assert in_force(date(2026, 3, 31)) == {
            "a21026": temp["id"],
            "a21002": nox["id"],
        }  # valid_to inclusive
        assert in_force(date(2026, 4, 1)) == {"a21026": fix["id"], "a21002": nox["id"]}
        history = limits.limit_history(conn, gas)
        assert [r["id"] for r in history] == [nox["id"], old["id"], new["id"], fix["id"], temp["id"]]
        assert str(history[2]["hour_limit"]) == "35.0" and history[2]["reference_o2"] == Decimal(6)
        with pytest.raises(NotFound):
            limits.limits_in_force(conn, 999, date(2026, 1, 1))


def test_emission_limits_refuse_update(engine: Engine) -> None:
    with engine.begin() as conn:
        gas = outlet(conn, enterprise(conn))
        row = limits.add_emission_limit(conn, gas, limit(hour_limit="35", valid_from="2026-01-01"), NOW)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(update(emission_limits).where(emission_limits.c.id == row["id"]).values(hour_limit="1"))
    with engine.connect() as conn:
        assert conn.execute(select(emission_limits.c.hour_limit)).scalar_one() == Decimal(35)


def test_contracts_and_operator_scope(engine: Engine) -> None:
    with engine.begin() as conn:
        a = enterprise(conn)
        b = enterprise(conn, CODES[1], name="乙厂")
        a1, a2 = outlet(conn, a, "DA001"), outlet(conn, a, "DW001", "water")
        b1 = outlet(conn, b, "DA001")
        op = ops.create_operator(conn, parse(OperatorIn, {"name": "运维甲", "credit_code": CODES[2]}), NOW)[
            "id"
        ]

        def contract(**fields: Any) -> dict[str, Any]:
            return ops.create_contract(conn, op, parse(ContractIn, fields), NOW)

        whole = contract(enterprise_id=a, contract_no="C1", valid_from="2026-01-01", valid_to="2026-06-30")
        contract(enterprise_id=b, outlet_id=b1, contract_no="C2", valid_from="2026-04-01")
        with pytest.raises(
            InvalidInput,
            match=f"outlet {b1} \\(DA001排口\\) belongs to enterprise {b}, not to the contract's enterprise {a}",
        ):
            contract(enterprise_id=a, outlet_id=b1, contract_no="C3", valid_from="2026-01-01")
        with pytest.raises(
            Conflict, match=f"operator {op} already has a contract numbered C1 \\(contract {whole['id']}\\)"
        ):
            contract(enterprise_id=b, contract_no="C1", valid_from="2026-01-01")
        with pytest.raises(NotFound, match="no enterprise with id 999"):
            contract(enterprise_id=999, contract_no="C4", valid_from="2026-01-01")

        assert ops.operator_scope(conn, op, date(2025, 12, 31)) == []
        assert ops.operator_scope(conn, op, date(2026, 1, 1)) == [a1, a2]
        assert ops.operator_scope(conn, op, date(2026, 6, 30)) == sorted([a1, a2, b1])
        assert ops.operator_scope(conn, op, date(2026, 7, 1)) == [b1]
        a3 = outlet(conn, a, "DA002")  # an outlet added later is covered by the whole-enterprise contract
        assert ops.operator_scope(conn, op, date(2026, 2, 1)) == [a1, a2, a3]
        ended = ops.update_contract(conn, whole["id"], {"valid_to": "2026-01-31"}, LATER)
        assert ended["valid_to"] == date(2026, 1, 31) and ended["updated_at"] == LATER
        assert ops.operator_scope(conn, op, date(2026, 2, 1)) == []
        assert [c["contract_no"] for c in ops.list_contracts(conn, op)] == ["C1", "C2"]
        other = ops.create_operator(conn, parse(OperatorIn, {"name": "运维乙", "credit_code": CODES[3]}), NOW)
        assert ops.operator_scope(conn, other["id"], date(2026, 6, 1)) == []
        with pytest.raises(NotFound, match="no operator with id 999"):
            ops.operator_scope(conn, 999, date(2026, 6, 1))
        renamed = ops.update_operator(conn, op, {"phone": "0591-12345678"}, LATER)
        assert (renamed["phone"], renamed["updated_at"]) == ("0591-12345678", LATER)
        assert [o["name"] for o in ops.list_operators(conn, name="乙")] == ["运维乙"]
