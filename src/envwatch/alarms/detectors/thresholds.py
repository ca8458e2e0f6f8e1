"""Thresholds of the anomaly and exceedance detectors (异常/超标识别), one setting each.

Every number here is a default from ``monitoring-rules.md`` §5-§6 (the table in §6 gives rule, threshold
and source). Values tagged [P] are platform proposals and [S] unverified readings of a standard: both
must stay settings, never constants in the logic. The lead mounts this model in ``Settings`` as
``detectors`` (environment ``ENVWATCH_DETECTORS__<FIELD>``).

The factor codes (flow, O2, pH, power) are settings too: HJ 212-2017 Appendix B fixes flow, O2 and pH,
but the HJ 212-2025 electricity (用电) and production-condition (工况) streams name their factors per
facility, so the platform cannot know them in advance.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["KINDS", "DetectorThresholds"]

# Every detection kind, one stable code each (the alarm layer keys on these).
KINDS: tuple[str, ...] = (
    "exceedance",
    "marked_exceedance",
    "ph_out_of_range",
    "constant",
    "near_detection_limit",
    "zero_negative",
    "over_range",
    "jump",
    "o2_dilution",
    "flow_inconsistent",
    "power_inconsistent",
    "parameter_changed",
    "shutdown_mark_with_flow",
)


class DetectorThresholds(BaseModel):
    """Thresholds and switches of every detector; defaults cite their source and [P]/[S]/[V] status."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: frozenset[str] = Field(
        default=frozenset(KINDS),
        description="detection kinds to run; a kind left out is not produced (see KINDS)",
    )

    # --- factor codes ----------------------------------------------------------------------------
    gas_flow_factor: str = Field(default="a00000", description="gas flow 废气流量 (HJ 212-2017 App. B.2)")
    water_flow_factor: str = Field(default="w00000", description="water flow 废水流量 (HJ 212-2017 App. B.1)")
    o2_factor: str = Field(default="a19001", description="O2 氧含量 % (HJ 212-2017 App. B.2)")
    ph_factor: str = Field(default="w01001", description="pH (HJ 212-2017 App. B.1)")
    power_factors: frozenset[str] = Field(
        default=frozenset({"i33200", "i33201"}),
        description="factors of a device's own series that are production/treatment electricity "
        "(HJ 212-2025 用电监控 streams, ST=44; codes are per facility, i33200/i33201 plant electricity "
        "after the 2017 i-codes [S]); power may also be passed apart as DeviceInputs.power",
    )
    non_concentration_factors: frozenset[str] = Field(
        default=frozenset(
            {"a00000", "w00000", "a01011", "a01012", "a01013", "a01014", "a01017", "w01001", "w01010"}
        ),
        description="state parameters that are not pollutant concentrations (flow, flue velocity, "
        "temperature, pressure, humidity, pH, water temperature): skipped by the zero/negative and "
        "concentration-vs-flow/power checks (a negative static pressure is normal)",
    )

    # --- aggregation to the hour grid ------------------------------------------------------------
    hour_min_share: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="share of an hour's slots that must hold data for an hourly value on the judgement "
        "grid: 45 of 60 minutes (HJ 75-2017 §3, VAL-01 [S])",
    )

    # --- constant value / flat line 恒值 ------------------------------------------------------------
    constant_hours_gas: int = Field(
        default=4, ge=2, description="consecutive equal hourly values that make a flat line, gas [P]"
    )
    constant_hours_water: int = Field(
        default=6, ge=2, description="consecutive equal hourly values that make a flat line, water [P]"
    )
    constant_epsilon: float = Field(
        default=1e-6,
        gt=0,
        description="hourly values closer than this count as the same (the 'fixed value' of JINHHB [V]; ε [P])",
    )
    constant_fs_share: float = Field(
        default=0.02,
        gt=0,
        description="range-relative flat line: σ over the window below this share of F.S. (JINHHB 2 % of range [V])",
    )
    constant_fs_window_hours: int = Field(
        default=24, ge=2, description="window of the range-relative flat line (monitoring-rules §6: 24 h [P])"
    )
    constant_fs_min_hours: int = Field(
        default=20, ge=2, description="hours with data needed in that window to judge it [P]"
    )
    constant_excluded_factors: frozenset[str] = Field(
        default=frozenset(), description="factors never judged for a flat line (e.g. a steady pressure) [P]"
    )

    # --- near detection limit -------------------------------------------------------------------
    near_dl_multiple: float = Field(
        default=1.5, gt=0, description="quantile ≤ this × detection limit is 'hovering at the limit' [P]"
    )
    near_dl_quantile: float = Field(
        default=0.9, gt=0, le=1, description="quantile of the hourly values judged (p90) [P]"
    )
    near_dl_window_days: int = Field(
        default=7,
        ge=1,
        description="how much history the caller passes; the detector judges what it is given as one window "
        "(JINHHB 'for a long time' [V]; 7 d [P])",
    )
    near_dl_min_hours: int = Field(
        default=20, ge=1, description="hourly values needed before the quantile is judged [P]"
    )

    # --- values -----------------------------------------------------------------------------------
    zero_max: float = Field(
        default=0.0, description="a concentration at or below this counts as zero/negative (≤ 0, [P])"
    )
    over_range_share: float = Field(
        default=1.0,
        gt=0,
        description="value ≥ this share of F.S. is over range (100 % F.S., HJ 212 flag T [V2])",
    )
    jump_k: float = Field(default=5.0, gt=0, description="|Δ| hour to hour > k × rolling MAD is a jump [P]")
    jump_mad_scale: float = Field(
        default=1.4826,
        gt=0,
        description="MAD × this estimates σ for normal noise (Hampel filter convention; 1 = raw MAD) [P]",
    )
    jump_window_hours: int = Field(default=24, ge=3, description="trailing window of the rolling MAD [P]")
    jump_min_history: int = Field(
        default=6, ge=2, description="hour-to-hour changes needed in the window before judging [P]"
    )
    jump_min_relative: float = Field(
        default=0.2,
        ge=0,
        description="a jump also changes the value by at least this share of the hour before it: a step of "
        "0.27 → 0.29 on a quiet series is beyond k × MAD but is no sudden jump [P]",
    )
    jump_mad_floor_share: float = Field(
        default=0.01,
        gt=0,
        description="guard for MAD = 0: the MAD used is at least this share of F.S. (or of the median "
        "level where F.S. is unknown) [P]",
    )

    # --- consistency ------------------------------------------------------------------------------
    o2_dilution_percent: float = Field(
        default=19.0,
        gt=0,
        lt=21,
        description="O2 % at or above which flue gas is diluted (CONV-03; 40 CFR 75 App F diluent cap [S]; 19 % [P])",
    )
    flow_normal_share: float = Field(
        default=0.3,
        gt=0,
        description="flow ≥ this share of the typical flow counts as normal operation (MARK-04 'x % of design' [P])",
    )
    flow_zero_share: float = Field(
        default=0.05, ge=0, description="flow ≤ this share of the typical flow counts as ≈ 0 [P]"
    )
    flow_zero_abs: float = Field(
        default=0.0,
        ge=0,
        description="flow ≤ this absolute value counts as ≈ 0 (unit of the flow factor) [P]",
    )
    power_on_min: float = Field(
        default=0.0,
        ge=0,
        description="electricity use above this means the equipment runs (monitoring-rules §6 'power > 0' [P])",
    )
    shutdown_mark_codes: frozenset[str] = Field(
        default=frozenset({"shutdown", "no_discharge", "停运", "停产", "stop"}),
        description="mark codes that claim the source is stopped (停运/停产; MARK-04, SD-CASE [V])",
    )

    # --- parameters -------------------------------------------------------------------------------
    parameter_abs_tolerance: float = Field(
        default=1e-6, ge=0, description="reported i13xxx value vs registered value: absolute tolerance [P]"
    )
    parameter_rel_tolerance: float = Field(
        default=0.0,
        ge=0,
        description="… and relative tolerance (0: 'any unapproved change', PARAM-01 [V LN])",
    )

    # --- output -----------------------------------------------------------------------------------
    points_cap: int = Field(
        default=50, ge=2, description="values kept behind one detection (the peak is always kept)"
    )

    @field_validator("enabled")
    @classmethod
    def _known_kinds(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - set(KINDS))
        if unknown:
            raise ValueError(f"unknown detection kinds {unknown}: use some of {', '.join(KINDS)}")
        return value

    def constant_hours(self, kind: str) -> int:
        """N consecutive hours of the flat-line rule for a 'gas' or 'water' device."""
        return self.constant_hours_water if kind == "water" else self.constant_hours_gas

    def flow_factor(self, kind: str) -> str:
        return self.water_flow_factor if kind == "water" else self.gas_flow_factor
