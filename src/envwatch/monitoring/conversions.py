"""Gas and flow conversions (CONV-01/02/03): standard state, dry basis, ppm → mg/m³, NOx as NO2, standard
dry flow, reference-O2 converted concentration (折算浓度) and emission rate.

Sources: HJ 75-2017 §3 and annex, GB/T 16157 (CONV-01); the outlet's emission standard for the reference
O2 (CONV-02; per outlet in configuration, never per industry in code); the O2 cap is a platform proposal
(CONV-03 [P], cf. the 40 CFR 75 App F diluent cap).

Standard state: 273.15 K and 101 325 Pa, dry flue gas. ``Decimal`` throughout (never float); inputs are the
exact values devices send. Units are stated per function: a wrong unit is the usual way these go wrong
(flue-gas pressure a01013 is kPa in pollutants.json but some devices send Pa: the unit is a parameter).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, NamedTuple

from envwatch.core.settings import Settings
from envwatch.monitoring.validity import Reason

SRC_CONV_01 = "HJ 75-2017 annex; GB/T 16157 (CONV-01)"
SRC_CONV_02 = "emission standard of the outlet (CONV-02)"
SRC_CONV_03 = "platform rule [P] (CONV-03)"

SO2, NOX, NO, NO2, PM, O2 = "a21026", "a21002", "a21003", "a21004", "a34013", "a19001"
FLOW, VELOCITY, TEMPERATURE, PRESSURE, MOISTURE = "a00000", "a01011", "a01012", "a01013", "a01014"

# Molar masses g/mol from IUPAC standard atomic weights (S 32.06, O 15.999, N 14.007), to the 2 decimals
# HJ 75 practice uses: SO2 64.06 (64.058), NO 30.01 (30.006), NO2 46.01 (46.005). With the molar volume
# 22.4 L/mol of HJ 75 (the exact ideal-gas value at 273.15 K and 101.325 kPa is 22.414) they give the
# familiar factors SO2 × 2.86, NO × 1.34, NO2 × 2.05 (reference §1.4). NO (a21003) is not yet in
# hj212/data/pollutants.json; its code is the HJ 524 one.
MOLAR_MASS: dict[str, Decimal] = {SO2: Decimal("64.06"), NO: Decimal("30.01"), NO2: Decimal("46.01")}
MOLAR_VOLUME = Decimal("22.4")  # L/mol at the standard state, as HJ 75 uses it

T0 = Decimal("273.15")  # K
P0 = Decimal("101325")  # Pa
O2_AIR = Decimal("21")  # % O2 of air, as the emission standards write the formula
_HUNDRED = Decimal(100)

PressureUnit = Literal["Pa", "kPa"]
FlowUnit = Literal["m3/h", "m3/s"]


class Converted(NamedTuple):
    """A converted concentration 折算浓度, or None with the reason it was not computed."""

    value: Decimal | None
    reasons: tuple[Reason, ...]


def ppm_to_mg_m3(ppm: Decimal, factor: str) -> Decimal:
    """µmol/mol → mg/m³ at the standard state: ppm × M / 22.4 (CONV-01). ``factor``: SO2, NO or NO2 code."""
    try:
        molar_mass = MOLAR_MASS[factor]
    except KeyError:
        raise ValueError(f"no molar mass for {factor}: only {sorted(MOLAR_MASS)}") from None
    return ppm * molar_mass / MOLAR_VOLUME


def nox_as_no2(no_mg_m3: Decimal, no2_mg_m3: Decimal) -> Decimal:
    """NOx reported as NO2 (氮氧化物以NO2计, HJ 75-2017 §4): NO × M(NO2)/M(NO) + NO2, both in mg/m³."""
    return no_mg_m3 * MOLAR_MASS[NO2] / MOLAR_MASS[NO] + no2_mg_m3


def _moisture_fraction(moisture_pct: Decimal) -> Decimal:
    if not 0 <= moisture_pct < _HUNDRED:
        raise ValueError(f"flue-gas moisture {moisture_pct} % is outside [0, 100)")
    return moisture_pct / _HUNDRED


def dry_basis(c_wet: Decimal, moisture_pct: Decimal) -> Decimal:
    """Wet → dry: C_dry = C_wet / (1 − X_sw). ``moisture_pct``: flue-gas moisture a01014, % by volume."""
    return c_wet / (1 - _moisture_fraction(moisture_pct))


def _absolute_pa(static: Decimal, unit: PressureUnit, barometric: Decimal | None) -> Decimal:
    scale = Decimal(1000) if unit == "kPa" else Decimal(1)
    # Without a barometer the standard atmosphere stands in (the simulator's model does the same).
    absolute = (P0 if barometric is None else barometric * scale) + static * scale
    if absolute <= 0:
        raise ValueError(f"absolute flue-gas pressure {absolute} Pa is not positive")
    return absolute


def _kelvin(temperature_c: Decimal) -> Decimal:
    kelvin = T0 + temperature_c
    if kelvin <= 0:
        raise ValueError(f"flue-gas temperature {temperature_c} °C is below absolute zero")
    return kelvin


def standard_dry_flow(
    actual_flow: Decimal,
    temperature_c: Decimal,
    static_pressure: Decimal,
    moisture_pct: Decimal,
    *,
    pressure_unit: PressureUnit,
    barometric_pressure: Decimal | None = None,
) -> Decimal:
    """Standard dry flow 标干流量 (CONV-01, HJ 75-2017 annex, GB/T 16157):
    Q_sn = Q_s × 273.15/(273.15 + t_s) × (B_a + P_s)/101325 × (1 − X_sw).

    ``actual_flow`` Q_s in any unit (the result has the same: m³/h in → m³/h out); ``temperature_c`` t_s
    in °C (a01012); ``static_pressure`` P_s, the flue-gas static (gauge) pressure a01013, and
    ``barometric_pressure`` B_a, both in ``pressure_unit``; B_a unknown → 101.325 kPa. ``moisture_pct``
    X_sw in % by volume (a01014)."""
    absolute = _absolute_pa(static_pressure, pressure_unit, barometric_pressure)
    return actual_flow * T0 / _kelvin(temperature_c) * absolute / P0 * (1 - _moisture_fraction(moisture_pct))


def standard_dry_concentration(
    c_actual: Decimal,
    temperature_c: Decimal,
    static_pressure: Decimal,
    moisture_pct: Decimal,
    *,
    pressure_unit: PressureUnit,
    barometric_pressure: Decimal | None = None,
) -> Decimal:
    """A concentration measured at flue conditions (actual, wet, mg/m³) at the standard state, dry
    (标态干基, CONV-01): C × (273.15 + t_s)/273.15 × 101325/(B_a + P_s) / (1 − X_sw). Units as in
    :func:`standard_dry_flow`. CEMS usually send standard values already: use this only for those that
    do not."""
    absolute = _absolute_pa(static_pressure, pressure_unit, barometric_pressure)
    return dry_basis(c_actual * _kelvin(temperature_c) / T0 * P0 / absolute, moisture_pct)


def converted_concentration(
    c_dry: Decimal | None, o2_pct: Decimal | None, o2_ref_pct: Decimal, settings: Settings
) -> Converted:
    """The converted concentration 折算浓度 (CONV-02): C × (21 − O2_ref)/(21 − O2).

    ``c_dry``: measured concentration, standard state dry (mg/m³); ``o2_pct``: measured O2 (a19001, dry, %);
    ``o2_ref_pct``: the outlet's reference O2 from its emission standard (e.g. 6 % coal power, 9 % industrial
    coal boiler). At O2 ≥ ``o2_conversion_cap`` (19 %, CONV-03 [P]) nothing is computed: near 21 % the
    factor explodes and such O2 while producing is itself an anomaly (dilution), so say it, not divide."""
    if not 0 <= o2_ref_pct < O2_AIR:
        raise ValueError(f"reference O2 {o2_ref_pct} % is outside [0, 21): check the outlet configuration")
    if c_dry is None:
        return Converted(None, (Reason("value_missing", SRC_CONV_02, "no concentration", "无浓度数值"),))
    if o2_pct is None:
        return Converted(
            None, (Reason("o2_missing", SRC_CONV_02, "no valid O2: no 折算浓度", "无有效氧含量：无法折算"),)
        )
    cap = settings.o2_conversion_cap
    if o2_pct >= cap:
        return Converted(
            None,
            (
                Reason(
                    "o2_cap",
                    SRC_CONV_03,
                    f"O2 {o2_pct} % ≥ {cap} %: no conversion; anomaly (dilution or no combustion?)",
                    f"氧含量{o2_pct}% ≥ {cap}%：不折算；异常（稀释或未燃烧？）",
                    O2,
                ),
            ),
        )
    if o2_pct < 0:
        return Converted(
            None,
            (
                Reason(
                    "o2_negative",
                    SRC_CONV_03,
                    f"O2 {o2_pct} % < 0: anomaly",
                    f"氧含量{o2_pct}% < 0：异常",
                    O2,
                ),
            ),
        )
    value = c_dry * (O2_AIR - o2_ref_pct) / (O2_AIR - o2_pct)
    return Converted(
        value,
        (
            Reason(
                "converted",
                SRC_CONV_02,
                f"C × (21 − {o2_ref_pct}) / (21 − {o2_pct})",
                f"折算浓度 = 实测浓度 × (21 − {o2_ref_pct}) / (21 − {o2_pct})",
            ),
        ),
    )


def emission_rate(c_mg_m3: Decimal, standard_dry_flow: Decimal, *, flow_unit: FlowUnit) -> Decimal:
    """Emission rate 排放速率 in kg/h: C (mg/m³, standard dry) × Q_sn (m³/h) × 10⁻⁶ (HJ 75-2017 annex; CONV-01).
    ``flow_unit``: the unit of ``standard_dry_flow`` (a00000 is m³/s in pollutants.json)."""
    per_hour = standard_dry_flow * 3600 if flow_unit == "m3/s" else standard_dry_flow
    return c_mg_m3 * per_hour / 1_000_000
