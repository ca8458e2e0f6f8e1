"""Conversions CONV-01/02/03 (HJ 75-2017 annex, GB/T 16157, emission standards), hand-computed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from envwatch.core.settings import Settings
from envwatch.ingest.simulator.model import GAS_FACTORS, REFERENCE_O2, DeviceModel
from envwatch.monitoring.conversions import (
    converted_concentration,
    dry_basis,
    emission_rate,
    nox_as_no2,
    ppm_to_mg_m3,
    standard_dry_concentration,
    standard_dry_flow,
)
from envwatch.monitoring.explain import explain_converted

S = Settings(_env_file=None)  # type: ignore[call-arg]
D = Decimal


def test_worked_example_coal_unit_so2() -> None:
    # reference §1.4: O2ref 6 %, SO2 30 mg/m³ at O2 9.5 % → 30 × 15 / 11.5 = 39.13…, over a 35 ultra-low limit
    converted = converted_concentration(D(30), D("9.5"), D(6), S)
    assert converted.value is not None
    assert converted.value.quantize(D("0.1")) == D("39.1")
    assert converted.value.quantize(D("0.0001")) == D("39.1304")
    assert converted.reasons[0].code == "converted" and "CONV-02" in converted.reasons[0].source


def test_o2_above_the_reference_raises_the_value_below_lowers_it() -> None:
    assert converted_concentration(D(30), D(11), D(6), S).value == D(45)  # 30 × 15/10
    assert converted_concentration(D(30), D(3), D(6), S).value == D(25)  # 30 × 15/18
    assert converted_concentration(D(30), D(6), D(6), S).value == D(30)


def test_o2_at_or_above_the_cap_gives_an_anomaly_not_a_value() -> None:
    at_cap = converted_concentration(D(30), D(19), D(6), S)
    assert at_cap.value is None
    (reason,) = at_cap.reasons
    assert (reason.code, reason.ref) == ("o2_cap", "a19001") and "CONV-03" in reason.source
    assert converted_concentration(D(30), D("20.99"), D(6), S).value is None
    assert converted_concentration(D(30), D("18.99"), D(6), S).value is not None
    # the cap is a setting
    lower = Settings(_env_file=None, o2_conversion_cap=D(15))  # type: ignore[call-arg]
    assert converted_concentration(D(30), D(16), D(6), lower).value is None


def test_missing_or_impossible_inputs() -> None:
    assert converted_concentration(None, D(9), D(6), S).reasons[0].code == "value_missing"
    assert converted_concentration(D(30), None, D(6), S).reasons[0].code == "o2_missing"
    assert converted_concentration(D(30), D(-1), D(6), S).reasons[0].code == "o2_negative"
    with pytest.raises(ValueError, match="reference O2"):
        converted_concentration(D(30), D(9), D(21), S)
    data = explain_converted(converted_concentration(D(30), D(20), D(6), S))
    assert data["value"] is None and data["reasons"][0]["code"] == "o2_cap"


def test_conversion_agrees_with_the_simulator_zs_values() -> None:
    model = DeviceModel("gas", "2017", 7)
    half_unit = {spec.code: D(5).scaleb(-spec.decimals("2017") - 1) for spec in GAS_FACTORS}
    for t in range(1_700_000_000, 1_700_000_000 + 86_400, 997):
        sample = model.sample(t)
        assert set(sample.zs) == {"a21026", "a21002", "a34013"}
        o2 = D(str(sample.values["a19001"]))
        for code, zs in sample.zs.items():
            ours = converted_concentration(D(str(sample.values[code])), o2, D(str(REFERENCE_O2)), S).value
            assert ours is not None
            # the simulator rounds a float to the sent decimals: agree within half a unit of them
            assert abs(ours - D(str(zs))) <= half_unit[code] + D("1e-9"), (t, code, ours, zs)


def test_ppm_to_mg() -> None:
    assert ppm_to_mg_m3(D("22.4"), "a21026") == D("64.06")
    assert ppm_to_mg_m3(D(100), "a21026").quantize(D("0.01")) == D("285.98")  # ≈ × 2.86
    assert ppm_to_mg_m3(D(100), "a21003").quantize(D("0.01")) == D("133.97")  # ≈ × 1.34
    assert ppm_to_mg_m3(D(100), "a21004").quantize(D("0.01")) == D("205.40")  # ≈ × 2.05
    with pytest.raises(ValueError, match="molar mass"):
        ppm_to_mg_m3(D(1), "a34013")


def test_nox_as_no2() -> None:
    # 30.01 mg/m³ NO is 1 mmol-equivalent: 46.01 mg/m³ as NO2, plus 4 mg/m³ NO2 measured
    assert nox_as_no2(D("30.01"), D(4)) == D("50.01")
    assert nox_as_no2(D(60), D(0)).quantize(D("0.01")) == D("91.99")  # 60 × 46.01/30.01


def test_dry_basis() -> None:
    assert dry_basis(D(90), D(10)) == D(100)
    assert dry_basis(D(90), D(0)) == D(90)
    with pytest.raises(ValueError, match="moisture"):
        dry_basis(D(90), D(100))


def test_standard_dry_flow_by_hand() -> None:
    # 273.15 °C doubles the absolute temperature; static -1325 Pa gives 100000 Pa absolute; 20 % moisture
    # 1000 × 1/2 × 100000/101325 × 0.8 = 394.77…
    q = standard_dry_flow(D(1000), D("273.15"), D(-1325), D(20), pressure_unit="Pa")
    assert q.quantize(D("0.01")) == D("394.77")
    # the same in kPa, with a barometer reading
    q_kpa = standard_dry_flow(
        D(1000), D("273.15"), D("-1.325"), D(20), pressure_unit="kPa", barometric_pressure=D("101.325")
    )
    assert q_kpa == q
    # standard conditions, dry: unchanged
    assert standard_dry_flow(D(1000), D(0), D(0), D(0), pressure_unit="Pa") == D(1000)
    with pytest.raises(ValueError, match="absolute zero"):
        standard_dry_flow(D(1), D(-300), D(0), D(0), pressure_unit="Pa")
    with pytest.raises(ValueError, match="not positive"):
        standard_dry_flow(D(1), D(20), D(-102), D(0), pressure_unit="kPa")


def test_standard_dry_flow_agrees_with_the_simulator() -> None:
    model = DeviceModel("gas", "2017", 3)
    for t in range(1_700_000_000, 1_700_000_000 + 86_400, 1213):
        v = model.sample(t).values
        actual = D(str(v["a01011"])) * D(str(model._duct_area))
        ours = standard_dry_flow(
            actual, D(str(v["a01012"])), D(str(v["a01013"])), D(str(v["a01014"])), pressure_unit="kPa"
        )
        assert abs(ours - D(str(v["a00000"]))) <= D("0.0501"), (t, ours, v["a00000"])


def test_standard_dry_concentration_inverts_the_flow_factor() -> None:
    # mass is conserved: C_actual × Q_actual = C_std × Q_std
    args = (D(120), D(-500), D(8))
    c = standard_dry_concentration(D(50), *args, pressure_unit="Pa")
    q = standard_dry_flow(D(1000), *args, pressure_unit="Pa")
    assert (c * q).quantize(D("0.000001")) == D(50_000)


def test_emission_rate_kg_per_hour() -> None:
    assert emission_rate(D(30), D(100_000), flow_unit="m3/h") == D(3)
    assert emission_rate(D(30), D(100), flow_unit="m3/s") == D("10.8")
