"""Operator registrations (报备, SX-19) and reference-material certificates (SX-20.5) on the real stores."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.materials import MaterialDraft, add_material, get_material, list_materials
from envwatch.operations.registrations import (
    city_of,
    list_registrations,
    register,
    registration_in,
    withdraw,
)
from tests.operations.records_world import NOW, RecordsWorld, build


@pytest.fixture
def world(engine: Engine) -> RecordsWorld:
    return build(engine)


def _register(engine: Engine, operator: int, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "operator_id": operator,
        "region_code": "330100",
        "bureau": "杭州市生态环境局",
        "reference_no": "HZ-2026-001",
        "registered_on": date(2026, 3, 1),
        "valid_until": None,
        "recorded_by": "op_a",
        "now": NOW,
    }
    fields.update(changes)
    with engine.begin() as conn:
        return register(conn, **fields)


def test_a_registration_holds_from_its_day(engine: Engine, world: RecordsWorld) -> None:
    row = _register(engine, world.op)
    assert (row["region_code"], row["withdrawn"], row["bureau"]) == ("330100", False, "杭州市生态环境局")
    with engine.connect() as conn:
        assert registration_in(conn, world.op, "330102", date(2026, 3, 1))["id"] == row["id"]  # type: ignore[index]
        assert registration_in(conn, world.op, "330102", date(2026, 2, 28)) is None
        assert registration_in(conn, world.op, "330205", date(2026, 5, 1)) is None  # 宁波: another city
        assert registration_in(conn, world.other_op, "330102", date(2026, 5, 1)) is None


def test_expiry_and_withdrawal_end_it(engine: Engine, world: RecordsWorld) -> None:
    row = _register(engine, world.op, valid_until=date(2026, 12, 31))
    with engine.connect() as conn:
        assert registration_in(conn, world.op, "330100", date(2026, 12, 31)) is not None
        assert registration_in(conn, world.op, "330100", date(2027, 1, 1)) is None
    with engine.begin() as conn:
        gone = withdraw(conn, row["id"], on=date(2026, 11, 1), recorded_by="op_a", now=NOW)
    assert (gone["withdrawn"], gone["registered_on"], gone["reference_no"]) == (
        True,
        date(2026, 11, 1),
        "HZ-2026-001",
    )
    with engine.connect() as conn:
        assert registration_in(conn, world.op, "330100", date(2026, 10, 31))["id"] == row["id"]  # type: ignore[index]
        assert registration_in(conn, world.op, "330100", date(2026, 11, 1)) is None
        listed = list_registrations(conn, operator_ids=[world.op])
    assert [(r["id"], r["withdrawn_by"]) for r in listed] == [(gone["id"], None), (row["id"], gone["id"])]
    with pytest.raises(Conflict) as caught, engine.begin() as conn:
        withdraw(conn, row["id"], on=date(2026, 11, 2), recorded_by="op_a", now=NOW)
    assert (
        caught.value.message
        == f"registration {row['id']} was withdrawn already (row {gone['id']}, from 2026-11-01)"
    )
    with pytest.raises(InvalidInput) as caught, engine.begin() as conn:
        withdraw(conn, gone["id"], on=date(2026, 11, 2), recorded_by="op_a", now=NOW)
    assert caught.value.message == f"registration {gone['id']} is itself a withdrawal"
    # registering again later holds again
    again = _register(engine, world.op, reference_no="HZ-2026-009", registered_on=date(2026, 11, 15))
    with engine.connect() as conn:
        assert registration_in(conn, world.op, "330100", date(2026, 11, 20))["id"] == again["id"]  # type: ignore[index]


def test_withdrawal_day_not_before_the_registration(engine: Engine, world: RecordsWorld) -> None:
    row = _register(engine, world.op)
    with pytest.raises(InvalidInput) as caught, engine.begin() as conn:
        withdraw(conn, row["id"], on=date(2026, 2, 1), recorded_by="op_a", now=NOW)
    assert (
        caught.value.message
        == "a withdrawal from 2026-02-01 would be before the registration began (2026-03-01)"
    )
    with pytest.raises(NotFound, match="no registration with id 999"), engine.begin() as conn:
        withdraw(conn, 999, on=date(2026, 2, 1), recorded_by="op_a", now=NOW)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"region_code": "330102"},
            "a registration names a city: 6 digits ending in 00 but not 0000 (e.g. 330100), not '330102'",
        ),
        ({"region_code": "330000"}, "a registration names a city"),
        ({"region_code": "3301"}, "a registration names a city"),
        ({"bureau": " "}, "the bureau (受理的生态环境局) is required"),
        ({"reference_no": "x" * 65}, "the reference number (备案编号) is 65 characters; at most 64"),
        (
            {"valid_until": date(2026, 2, 1)},
            "valid until 2026-02-01 is before the registration day 2026-03-01",
        ),
        ({"operator_id": 999}, "no operator with id 999"),
    ],
)
def test_bad_registrations(
    engine: Engine, world: RecordsWorld, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises((InvalidInput, NotFound)) as caught:
        _register(engine, world.op, **changes)
    assert caught.value.message.startswith(message)  # type: ignore[union-attr]


def test_listing_by_region_or_operator(engine: Engine, world: RecordsWorld) -> None:
    hz = _register(engine, world.op)
    gz = _register(
        engine, world.other_op, region_code="440100", bureau="广州市生态环境局", reference_no="GZ-1"
    )
    with engine.connect() as conn:
        assert [r["id"] for r in list_registrations(conn)] == [gz["id"], hz["id"]]
        assert [r["id"] for r in list_registrations(conn, region_prefix="33")] == [hz["id"]]
        assert [
            r["id"] for r in list_registrations(conn, operator_ids=[world.other_op], region_prefix="33")
        ] == []
        both = list_registrations(conn, operator_ids=[world.other_op], region_prefix="33", either=True)
        assert [r["id"] for r in both] == [gz["id"], hz["id"]]
        with pytest.raises(InvalidInput, match="limit must be 1-1000, not 0"):
            list_registrations(conn, limit=0)


def test_city_of() -> None:
    assert city_of("330102") == "330100"
    with pytest.raises(InvalidInput, match="region '33' must be a 6-digit GB/T 2260 code"):
        city_of("33")


# ---- reference materials ---------------------------------------------------------------------------------


def _material(operator: int, **changes: Any) -> MaterialDraft:
    fields: dict[str, Any] = {
        "operator_id": operator, "kind": "solution", "name": "COD标准溶液", "certificate_no": "GBW08001",
        "lot": "L1", "unit": "mg/L", "uncertainty": "1%", "maker": "标物中心", "valid_until": date(2027, 1, 31),
        "concentration": Decimal("100"),
    }  # fmt: skip
    fields.update(changes)
    return MaterialDraft(**fields)


def test_materials_are_listed_by_operator_and_validity(engine: Engine, world: RecordsWorld) -> None:
    with engine.begin() as conn:
        row = add_material(conn, _material(world.op), "op_a", NOW)
        assert get_material(conn, row["id"])["concentration"] == Decimal("100")
        mine = [m["id"] for m in list_materials(conn, [world.op])]
        assert mine == [world.materials["so2"], row["id"], world.materials["old"]]  # latest validity first
        valid = [m["id"] for m in list_materials(conn, [world.op], date(2027, 2, 1))]
        assert valid == [world.materials["so2"]]
        assert [m["id"] for m in list_materials(conn, [world.other_op])] == [world.materials["theirs"]]
        assert len(list_materials(conn)) == 4


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "powder"}, "a reference material is gas or solution, not 'powder'"),
        ({"name": ""}, "the name is required"),
        ({"certificate_no": " "}, "the certificate number (证书编号) is required"),
        ({"concentration": Decimal(-1)}, "the concentration must be a number not below 0, not -1"),
        ({"unit": ""}, "the unit is required"),
        ({"operator_id": 999}, "no operator with id 999"),
    ],
)
def test_bad_materials(engine: Engine, world: RecordsWorld, changes: dict[str, Any], message: str) -> None:
    with pytest.raises((InvalidInput, NotFound)) as caught, engine.begin() as conn:
        add_material(conn, _material(world.op, **changes), "op_a", NOW)
    assert caught.value.message == message  # type: ignore[union-attr]
    with engine.begin() as conn:
        assert add_material(conn, _material(world.op, concentration=None, unit=""), "op_a", NOW)["unit"] == ""
