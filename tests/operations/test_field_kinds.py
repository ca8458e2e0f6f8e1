"""Field record payloads and their judgement: every criterion at, just inside and just beyond its limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from envwatch.core.errors import InvalidInput
from envwatch.operations.field_kinds import (
    Comparison,
    Pair,
    judge,
    parse_payload,
    relative_accuracy,
    rounded,
    t_975,
)
from envwatch.operations.qa_limits import load_limits

D = Decimal
LIMITS = load_limits()


def run(kind: str, payload: dict[str, Any], range_high: Decimal | None = None) -> Any:
    return judge(kind, parse_payload(kind, payload), LIMITS, range_high)


# ---- inspection --------------------------------------------------------------------------------------


def test_inspection_passes_when_every_item_is_ok() -> None:
    j = run("inspection", {"items": [{"item": "采样管线", "ok": True}, {"item": "站房温度", "ok": True}]})
    assert (j.verdict, j.out_of_control, j.payload["failed_items"]) == ("pass", False, [])


def test_inspection_fails_on_one_item() -> None:
    items = [{"item": "采样管线", "ok": True}, {"item": "伴热温度", "ok": False, "note": "偏低"}]
    j = run("inspection", {"items": items})
    assert j.verdict == "fail" and j.payload["failed_items"] == ["伴热温度"]
    assert j.payload["items"][1] == {"item": "伴热温度", "ok": False, "note": "偏低"}


# ---- calibration -------------------------------------------------------------------------------------


def calibration(zero: str, span: str, factor: str = "a21026") -> dict[str, Any]:
    return {
        "factor": factor,
        "zero_reference": "0",
        "zero_reading": zero,
        "span_reference": "80",
        "span_reading": span,
        "mode": "manual",
    }


@pytest.mark.parametrize(
    ("zero", "span", "verdict", "out", "zero_pct", "span_pct"),
    [
        ("0", "80", "pass", False, "0.000", "0.000"),
        ("2.5", "82.5", "pass", False, "2.500", "2.500"),  # exactly at ±2.5 % F.S. passes
        ("-2.5", "77.5", "pass", False, "-2.500", "-2.500"),
        ("2.5004", "80", "pass", False, "2.500", "0.000"),  # rounded to 0.001 before judging
        ("2.5005", "80", "pass", False, "2.500", "0.000"),  # half to even: 2.5005 → 2.500
        ("2.5015", "80", "fail", False, "2.502", "0.000"),  # half to even: 2.5015 → 2.502
        ("2.501", "80", "fail", False, "2.501", "0.000"),
        ("0", "82.501", "fail", False, "0.000", "2.501"),
        ("5.0", "80", "fail", False, "5.000", "0.000"),  # zero: out of control only beyond 5 %
        ("5.001", "80", "fail", True, "5.001", "0.000"),
        ("-5.001", "80", "fail", True, "-5.001", "0.000"),
        ("0", "90", "fail", False, "0.000", "10.000"),  # span: out of control only beyond 10 %
        ("0", "90.001", "fail", True, "0.000", "10.001"),
        ("0", "69.999", "fail", True, "0.000", "-10.001"),
    ],
)
def test_gas_calibration_drift(
    zero: str, span: str, verdict: str, out: bool, zero_pct: str, span_pct: str
) -> None:
    j = run("calibration", calibration(zero, span), D(100))
    assert (j.verdict, j.out_of_control) == (verdict, out)
    assert (j.payload["zero_drift_pct_fs"], j.payload["span_drift_pct_fs"]) == (zero_pct, span_pct)
    assert j.payload["out_of_control"] is out
    assert j.payload["range_high"] == "100" and j.payload["zero_drift_max"] == "2.5"
    assert "HJ 75-2017" in j.payload["criterion_source"]


def test_drift_is_relative_to_the_registered_range() -> None:
    # 2 mg/m3 on a 0-50 range is 4 % F.S.: a fail, not yet out of control
    j = run("calibration", {**calibration("2", "40"), "span_reference": "40"}, D(50))
    assert (j.verdict, j.out_of_control, j.payload["zero_drift_pct_fs"]) == ("fail", False, "4.000")


@pytest.mark.parametrize(
    ("factor", "ok", "bad"),
    [("a34013", "2.0", "2.001"), ("a01011", "3.0", "3.001"), ("w01018", "5.0", "5.001")],
)
def test_particulate_flow_and_water_criteria(factor: str, ok: str, bad: str) -> None:
    assert run("calibration", calibration(ok, "80", factor), D(100)).verdict == "pass"
    assert run("calibration", calibration(bad, "80", factor), D(100)).verdict == "fail"


def test_water_calibration_out_of_control_at_its_criterion() -> None:
    # HJ 355/356: a failed check is a loss of control, so the threshold equals the criterion [P]
    j = run("calibration", calibration("0", "90.001", "w21003"), D(100))
    assert (j.verdict, j.out_of_control) == ("fail", True)
    assert run("calibration", calibration("0", "90", "w21003"), D(100)).verdict == "pass"


@pytest.mark.parametrize("range_high", [None, D(0)])
def test_calibration_needs_the_range(range_high: Decimal | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        run("calibration", calibration("0", "80"), range_high)
    assert caught.value.message == (
        "a calibration of a21026 is judged in % of full scale: register the range (range_high) of that factor "
        "on the device first"
    )


def test_unknown_factor_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        run("calibration", calibration("0", "80", "a99999"), D(100))
    assert caught.value.message.startswith(
        "there is no calibration criterion for factor a99999 (known: a00000, "
    )
    assert caught.value.message.endswith("; a province adds one with ENVWATCH_OM_QA_LIMITS")
    with pytest.raises(InvalidInput, match="no standard-sample check criterion for factor w01001"):
        run("standard_check", {"factor": "w01001", "standard_value": "7", "measured_value": "7"})
    with pytest.raises(InvalidInput, match="no comparison criterion for factor a21003"):
        run("comparison", comparison("a21003", [("1", "1")]))


# ---- standard-sample check ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measured", "verdict", "error", "out"),
    [
        ("20", "pass", "0.000", False),
        ("22", "pass", "10.000", False),  # exactly +10 % passes
        ("18", "pass", "-10.000", False),
        ("22.0002", "fail", "10.001", True),  # just beyond: failed, so out of control
        ("17.9998", "fail", "-10.001", True),
    ],
)
def test_standard_check_limits(measured: str, verdict: str, error: str, out: bool) -> None:
    j = run("standard_check", {"factor": "w01018", "standard_value": "20", "measured_value": measured})
    assert (j.verdict, j.payload["relative_error_pct"], j.out_of_control) == (verdict, error, out)
    assert j.payload["relative_error_max"] == "10" and j.payload["out_of_control"] is out


def test_standard_check_needs_a_positive_standard() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_payload("standard_check", {"factor": "w01018", "standard_value": "0", "measured_value": "1"})
    assert caught.value.message == (
        "the standard_check record is not complete or not valid: standard_value: Input should be greater than 0"
    )


# ---- comparison ----------------------------------------------------------------------------------------


def comparison(factor: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "factor": factor,
        "pairs": [{"automatic": a, "reference": r} for a, r in pairs],
        "reference_method": "HJ 828-2017 重铬酸盐法",
        "reference_agency": "某检测公司",
    }


@pytest.mark.parametrize(
    ("automatic", "reference", "band", "value", "ok"),
    [
        ("25", "20", "all", "5.000", True),  # < 30 mg/L: ±5 mg/L, at the limit
        ("25.001", "20", "all", "5.001", False),
        ("15", "20", "all", "5.000", True),
        ("39", "30", "≥ 30", "30.000", True),  # 30-60: ±30 %
        ("39.01", "30", "≥ 30", "30.033", False),
        ("72", "60", "≥ 60", "20.000", True),  # 60-100: ±20 %
        ("115", "100", "≥ 100", "15.000", True),  # ≥ 100: ±15 %
        ("84.9", "100", "≥ 100", "15.100", False),
    ],
)
def test_water_cod_bands(automatic: str, reference: str, band: str, value: str, ok: bool) -> None:
    good = ("20", "20")
    j = run("comparison", comparison("w01018", [good, good, (automatic, reference)]))
    judged = j.payload["pairs"][2]
    assert (judged["band"], judged["value"], judged["pass"]) == (band, value, ok)
    assert j.verdict == ("pass" if ok else "fail")
    assert j.out_of_control is (not ok)
    assert j.payload["failed_pairs"] == (0 if ok else 1)
    assert j.payload["unit"] == "mg/L" and j.payload["min_pairs"] == 3


@pytest.mark.parametrize(
    ("factor", "automatic", "reference", "ok"),
    [
        ("w21003", "1.8", "1.5", True),  # < 2: ±0.3 mg/L
        ("w21003", "1.81", "1.5", False),
        ("w21003", "2.3", "2", True),  # ≥ 2: ±15 %
        ("w21011", "0.34", "0.3", True),  # < 0.4: ±0.04
        ("w21011", "0.341", "0.3", False),
        ("w21001", "11.5", "10", True),
        ("w01001", "7.5", "7.0", True),  # pH ±0.5
        ("w01001", "7.51", "7.0", False),
        ("w01010", "20.5", "20", True),
    ],
)
def test_water_other_factors(factor: str, automatic: str, reference: str, ok: bool) -> None:
    j = run("comparison", comparison(factor, [(reference, reference)] * 2 + [(automatic, reference)]))
    assert j.payload["pairs"][2]["pass"] is ok


def test_water_needs_three_pairs() -> None:
    with pytest.raises(InvalidInput) as caught:
        run("comparison", comparison("w01018", [("20", "20"), ("20", "20")]))
    assert caught.value.message == "a comparison of w01018 needs at least 3 data pairs, not 2"


def test_gas_needs_nine_pairs_particulate_five() -> None:
    with pytest.raises(InvalidInput, match="a comparison of a21026 needs at least 9 data pairs, not 8"):
        run("comparison", comparison("a21026", [("10", "10")] * 8))
    assert run("comparison", comparison("a34013", [("10", "10")] * 5)).verdict == "pass"


@pytest.mark.parametrize(
    ("automatic", "reference", "band", "value", "ok"),
    [
        ("37", "20", "all", "17.000", True),  # < 57: ±17 mg/m3
        ("37.001", "20", "all", "17.001", False),
        ("78", "60", "≥ 57", "30.000", True),  # 57-143: ±30 %
        ("257", "200", "≥ 143", "57.000", True),  # 143-715: ±57 mg/m3
        ("257.1", "200", "≥ 143", "57.100", False),
    ],
)
def test_gas_so2_bands(automatic: str, reference: str, band: str, value: str, ok: bool) -> None:
    pairs = [(reference, reference)] * 8 + [(automatic, reference)]
    j = run("comparison", comparison("a21026", pairs))
    judged = j.payload["pairs"][8]
    assert (judged["band"], judged["value"], judged["pass"]) == (band, value, ok)


@pytest.mark.parametrize(("automatic", "ok", "ra"), [("1150", True, "15.000"), ("1150.01", False, "15.001")])
def test_gas_relative_accuracy_band(automatic: str, ok: bool, ra: str) -> None:
    # nine equal pairs: no spread, RA = |d̄| / RM̄ = 150 / 1000
    j = run("comparison", comparison("a21026", [(automatic, "1000")] * 9))
    assert {(p["band"], p["criterion"], p["value"], p["pass"]) for p in j.payload["pairs"]} == {
        ("≥ 715", "relative_accuracy", ra, ok)
    }
    assert j.verdict == ("pass" if ok else "fail")


def test_relative_accuracy_with_spread() -> None:
    # d = 10, 30: d̄ = 20, Sd = √200, cc = 12.706 × √200 / √2 = 127.06; RA = 147.06 / 800 = 18.3825 % → 18.382
    pairs = [Pair(automatic=D(810), reference=D(800)), Pair(automatic=D(830), reference=D(800))]
    assert relative_accuracy(pairs) == D("18.382")
    assert relative_accuracy(pairs[:1]) == D("1.250")


def test_t_values_take_the_stricter_side() -> None:
    assert (t_975(8), t_975(30), t_975(35), t_975(1000)) == (D("2.306"), D("2.042"), D("2.042"), D("1.980"))


@pytest.mark.parametrize(
    ("factor", "automatic", "reference", "ok"),
    [
        ("a34013", "230", "200", True),  # 200 is in 100-200: ±20 %
        ("a34013", "240", "200", True),
        ("a34013", "240.1", "200", False),
        ("a34013", "16", "10", False),  # ≤ 10: ±5 mg/m3
        ("a34013", "15", "10", True),
        ("a01011", "11", "10", True),  # ≤ 10 m/s: ±12 %
        ("a01011", "11.21", "10", False),
        ("a01012", "123", "120", True),  # ±3 °C
        ("a01012", "116.9", "120", False),
        ("a01014", "5.5", "4", True),  # ≤ 5 %: ±1.5 absolute
        ("a01014", "5.501", "4.0", False),
        ("a01014", "7.5", "6", True),  # > 5 %: ±25 %
        ("a01014", "7.501", "6", False),
        ("a19001", "5", "4", True),  # ≤ 5 %: ±1.0 absolute
    ],
)
def test_gas_other_factors(factor: str, automatic: str, reference: str, ok: bool) -> None:
    need = LIMITS.comparison[factor].min_pairs
    pairs = [(reference, reference)] * (need - 1) + [(automatic, reference)]
    assert run("comparison", comparison(factor, pairs)).payload["pairs"][-1]["pass"] is ok


def test_relative_error_needs_a_reference_above_zero() -> None:
    pairs = [("1", "1")] * 8 + [("0.5", "0")]
    with pytest.raises(InvalidInput) as caught:
        run("comparison", comparison("a01011", pairs))
    assert caught.value.message == (
        "the a01011 pair with reference value 0 falls in a band judged by relative error, which needs a "
        "reference above 0"
    )


def test_comparison_model_needs_a_pair() -> None:
    with pytest.raises(InvalidInput, match="pairs: List should have at least 1 item"):
        parse_payload("comparison", comparison("w01018", []))
    assert isinstance(parse_payload("comparison", comparison("w01018", [("1", "1")])), Comparison)


# ---- kinds that record, without a verdict ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("consumable", {"items": [{"name": "COD试剂", "quantity": "2", "unit": "瓶", "lot": "B2026"}]}),
        ("repair", {"part": "采样泵", "symptom": "流量低", "action": "更换泵膜", "result": "恢复正常"}),
        ("parameter_change", {"parameter": "量程", "before": "0-200", "after": "0-500", "reason": "超量程"}),
        (
            "waste_liquid",
            {"volume": "12.5", "unit": "L", "handler": "某危废处置公司", "manifest_no": "ZJ-001"},
        ),
    ],
)
def test_record_kinds_have_no_verdict(kind: str, payload: dict[str, Any]) -> None:
    j = run(kind, payload)
    assert (j.verdict, j.out_of_control) == ("none", False)
    assert "out_of_control" not in j.payload


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("repair", {"part": "泵"}, "symptom: Field required; action: Field required; result: Field required"),
        (
            "consumable",
            {"items": [{"name": "x", "quantity": "-1", "unit": "瓶"}]},
            "items.0.quantity: Input should be greater than 0",
        ),
        (
            "waste_liquid",
            {"volume": "1", "unit": "L", "handler": "h", "extra": 1},
            "extra: Extra inputs are not permitted",
        ),
        ("calibration", {**calibration("0", "80"), "factor": "SO2"}, "factor: String should match pattern"),
        (
            "calibration",
            {**calibration("0", "80"), "mode": "robot"},
            "mode: Input should be 'auto' or 'manual'",
        ),
        (
            "standard_check",
            {"factor": "w01018", "standard_value": "Infinity", "measured_value": "1"},
            "standard_value: Input should be a finite number",
        ),
        ("inspection", {"items": []}, "items: List should have at least 1 item after validation, not 0"),
        (
            "inspection",
            {"items": [{"item": "  ", "ok": True}]},
            "items.0.item: String should have at least 1 character",
        ),
    ],
)
def test_bad_payloads_are_named(kind: str, payload: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_payload(kind, payload)
    assert caught.value.message.startswith(f"the {kind} record is not complete or not valid: ")
    assert message in caught.value.message


def test_unknown_kind() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_payload("painting", {})
    assert caught.value.message == (
        "unknown record kind 'painting' (kinds: inspection, calibration, standard_check, comparison, consumable, "
        "repair, parameter_change, waste_liquid)"
    )


def test_rounding_is_half_even() -> None:
    assert (rounded(D("0.0005")), rounded(D("0.0015")), rounded(D("-2.5015"))) == (
        D("0.000"),
        D("0.002"),
        D("-2.502"),
    )
