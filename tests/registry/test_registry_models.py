"""Registry input models: every validation rule and its message (pure: no database needed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from envwatch.core.errors import InvalidInput
from envwatch.registry.models import (
    ContractIn,
    DeviceFactorIn,
    DeviceOutletIn,
    EmissionLimitIn,
    EnterpriseIn,
    OperatorIn,
    OutletIn,
    credit_code_check_char,
    credit_code_problem,
    parse,
)

# real, publicly listed codes (福州 example code often quoted, 华为技术有限公司, 小米科技有限责任公司)
REAL_CODES = ["91350100M000100Y43", "914403001922038216", "91110108551385082Q"]
# computed with the check character: public institution (12…), social organisation (52…), check 'L'
COMPUTED_CODES = ["12100000400012345P", "521100005000006663", "91350100MA2Y0U1A1L"]

ENTERPRISE = {"name": "示例电厂", "credit_code": "91350100M000100Y43", "region_code": "350102"}
LIMIT = {
    "factor": "a21026",
    "hour_limit": "35",
    "valid_from": "2026-01-01",
    "legal_source": "GB 13223-2011 表1",
}


def problem(model: type[Any], data: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse(model, data)
    return exc.value.message


@pytest.mark.parametrize("code", REAL_CODES + COMPUTED_CODES)
def test_valid_credit_codes(code: str) -> None:
    assert credit_code_problem(code) is None
    assert parse(EnterpriseIn, {**ENTERPRISE, "credit_code": code}).credit_code == code


def test_check_character_edge_values() -> None:
    # a remainder of 0 gives 31 → check '0'; find such a stem to prove the 31 → 0 rule is applied
    stems = (f"9135010000000{n:04d}" for n in range(10000))
    stem = next(s for s in stems if credit_code_check_char(s) == "0")
    assert credit_code_problem(stem + "0") is None
    assert credit_code_check_char("91350100M000100Y4") == "3"


def test_credit_code_messages() -> None:
    assert problem(EnterpriseIn, {**ENTERPRISE, "credit_code": "91350100M000100Y4"}) == (
        "credit_code: credit code '91350100M000100Y4' must be 18 characters, it has 17"
    )
    assert problem(EnterpriseIn, {**ENTERPRISE, "credit_code": "91350100M00010OY43"}) == (
        "credit_code: credit code '91350100M00010OY43' has 'O' at position 15: only digits and upper-case "
        "letters except I, O, Z, S, V are used"
    )
    assert problem(EnterpriseIn, {**ENTERPRISE, "credit_code": "91350100M000100Y44"}) == (
        "credit_code: credit code '91350100M000100Y44' fails the GB 32100 check: the 18th character should "
        "be '3' for the first 17, not '4'; look for a mistyped character"
    )
    # one swapped pair of digits is caught by the weighted check
    assert "fails the GB 32100 check" in problem(
        EnterpriseIn, {**ENTERPRISE, "credit_code": "91350100M000010Y43"}
    )


def test_credit_code_is_upper_cased_and_trimmed() -> None:
    assert parse(EnterpriseIn, {**ENTERPRISE, "credit_code": " 91350100m000100y43 "}).credit_code == (
        "91350100M000100Y43"
    )


def test_enterprise_messages() -> None:
    assert problem(EnterpriseIn, {**ENTERPRISE, "region_code": "35010"}) == (
        "region_code: '35010' is not a region code (行政区划代码): 6 digits such as 350102"
    )
    assert problem(EnterpriseIn, {**ENTERPRISE, "name": "  "}) == "name: is empty"
    assert (
        problem(EnterpriseIn, {**ENTERPRISE, "address": "x" * 301})
        == "address: has 301 characters, at most 300 fit"
    )
    assert (
        "attention_level: Input should be 'national', 'provincial', 'city', 'county' or 'other'"
        in problem(EnterpriseIn, {**ENTERPRISE, "attention_level": "key"})
    )
    assert problem(EnterpriseIn, {"name": "x"}) == "credit_code: is required; region_code: is required"
    assert problem(EnterpriseIn, {**ENTERPRISE, "nmae": "x"}) == "nmae: is not a known field"
    assert (
        problem(EnterpriseIn, {**ENTERPRISE, "longitude": "119.3"})
        == "give both longitude and latitude, or neither"
    )
    assert problem(EnterpriseIn, {**ENTERPRISE, "longitude": "140", "latitude": "26"}) == (
        "longitude 140 is outside 73..136 (east longitude of a place in China)"
    )
    assert problem(EnterpriseIn, {**ENTERPRISE, "longitude": "119", "latitude": "2.99"}) == (
        "latitude 2.99 is outside 3..54 (north latitude of a place in China)"
    )


def test_sheet_cells_become_text() -> None:
    # a spreadsheet turns 350102 into a number and leaves empty cells as None
    e = parse(EnterpriseIn, {**ENTERPRISE, "region_code": 350102, "industry": None, "longitude": ""})
    assert (e.region_code, e.industry, e.longitude) == ("350102", "", None)


def test_decimals_are_exact() -> None:
    e = parse(EnterpriseIn, {**ENTERPRISE, "longitude": "119.300000", "latitude": Decimal("26.08")})
    assert str(e.longitude) == "119.300000" and str(e.latitude) == "26.08"
    assert parse(EmissionLimitIn, {**LIMIT, "hour_limit": 35}).hour_limit == Decimal(35)
    assert problem(EmissionLimitIn, {**LIMIT, "hour_limit": 35.5}) == (
        "hour_limit: got the binary float 35.5, which cannot be kept exact: give the value as decimal text "
        '("12.30") or a JSON number'
    )
    assert (
        problem(EmissionLimitIn, {**LIMIT, "hour_limit": "3,5"})
        == "hour_limit: '3,5' is not a decimal number"
    )
    assert (
        problem(EmissionLimitIn, {**LIMIT, "hour_limit": "NaN"})
        == "hour_limit: 'NaN' is not a decimal number"
    )
    assert problem(EmissionLimitIn, {**LIMIT, "hour_limit": Decimal("Infinity")}) == (
        "hour_limit: Infinity is not a finite number"
    )
    assert (
        problem(EmissionLimitIn, {**LIMIT, "hour_limit": True})
        == "hour_limit: must be a number, not true/false"
    )
    assert "more than 48 characters" in problem(EmissionLimitIn, {**LIMIT, "hour_limit": "1" * 49})


def test_outlet_messages() -> None:
    ok = parse(OutletIn, {"code": "DA001", "name": "1号排口", "kind": "gas"})
    assert ok.permit_number == ""
    assert problem(OutletIn, {"code": "DA 001", "name": "x", "kind": "gas"}) == (
        "code: 'DA 001' is not an outlet code: 1-32 letters, digits, _ or - (e.g. DA001, DW001)"
    )
    assert problem(OutletIn, {"code": "D" * 33, "name": "x", "kind": "gas"}).startswith("code: 'DDD")
    assert problem(OutletIn, {"code": "DA001", "name": "x", "kind": "air"}) == (
        "kind: Input should be 'gas' or 'water'"
    )


def test_factor_messages() -> None:
    f = parse(DeviceFactorIn, {"factor": "a34013", "range_low": "0", "range_high": "200", "rated": False})
    assert (f.range_low, f.range_high, f.rated) == (Decimal(0), Decimal(200), False)
    assert problem(DeviceFactorIn, {"factor": "a2102#"}) == (
        "factor: 'a2102#' is not a factor code: 1-32 letters, digits, _ or . as in HJ 212 (e.g. a21026)"
    )
    assert problem(DeviceFactorIn, {"factor": "a21026", "range_low": "200", "range_high": "200"}) == (
        "range_low 200 must be below range_high 200 (量程下限 < 量程上限)"
    )
    assert problem(DeviceFactorIn, {"factor": "a21026", "detection_limit": "-1"}) == (
        "detection_limit -1 must not be negative"
    )


def test_limit_messages() -> None:
    base = {k: v for k, v in LIMIT.items() if k != "hour_limit"}
    assert problem(EmissionLimitIn, base) == (
        "give at least one of hour_limit, day_limit or a pH range (ph_low/ph_high)"
    )
    assert parse(EmissionLimitIn, {**base, "ph_low": "6", "ph_high": "9"}).ph_high == Decimal(9)
    assert (
        problem(EmissionLimitIn, {**base, "ph_low": "9", "ph_high": "6"})
        == "ph_low 9 must be below ph_high 6"
    )
    assert problem(EmissionLimitIn, {**base, "ph_low": "-1"}) == "ph_low -1 is outside the pH scale 0..14"
    assert (
        problem(EmissionLimitIn, {**base, "ph_high": "14.5"}) == "ph_high 14.5 is outside the pH scale 0..14"
    )
    assert problem(EmissionLimitIn, {**base, "day_limit": "0"}) == "day_limit 0 must be positive"
    assert problem(EmissionLimitIn, {**LIMIT, "reference_o2": "21"}) == (
        "reference_o2 21 must be at least 0 and below 21 (% O2; air has 20.9)"
    )
    assert parse(EmissionLimitIn, {**LIMIT, "reference_o2": "6"}).reference_o2 == Decimal(6)
    assert problem(EmissionLimitIn, {**LIMIT, "valid_to": "2025-12-31"}) == (
        "valid_to 2025-12-31 is before valid_from 2026-01-01"
    )
    assert parse(EmissionLimitIn, {**LIMIT, "valid_to": ""}).valid_to is None
    assert parse(EmissionLimitIn, {**LIMIT, "valid_to": "2026-01-01"}).valid_to == date(2026, 1, 1)
    assert problem(EmissionLimitIn, {**LIMIT, "legal_source": ""}) == "legal_source: is empty"


def test_operator_and_contract_messages() -> None:
    assert parse(OperatorIn, {"name": "运维公司", "credit_code": REAL_CODES[1], "phone": "+86 591-1234 5678"})
    assert problem(OperatorIn, {"name": "x", "credit_code": REAL_CODES[1], "phone": "call me"}) == (
        "phone: 'call me' is not a phone number: up to 32 digits, spaces and + ( ) -"
    )
    contract = {"enterprise_id": 1, "contract_no": "YW-2026-001", "valid_from": "2026-01-01"}
    assert parse(ContractIn, contract).outlet_id is None
    assert problem(ContractIn, {**contract, "valid_to": "2025-06-30"}) == (
        "valid_to 2025-06-30 is before valid_from 2026-01-01"
    )
    assert problem(ContractIn, {**contract, "contract_no": ""}) == "contract_no: is empty"
    assert parse(DeviceOutletIn, {"outlet_id": 3}).model is None


def test_where_prefixes_each_problem_and_non_objects_are_refused() -> None:
    with pytest.raises(
        InvalidInput, match=r"^row 7: code: '' is not an outlet code.*; row 7: name: is empty$"
    ):
        parse(OutletIn, {"code": "", "name": "", "kind": "gas"}, "row 7: ")
    with pytest.raises(InvalidInput, match="expected an object with the fields of OutletIn"):
        parse(OutletIn, ["DA001"])
