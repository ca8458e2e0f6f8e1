"""Zero/negative concentrations, over range, sudden jumps."""

from __future__ import annotations

import numpy as np
import pytest

from envwatch.alarms.detectors import DetectorThresholds, FactorLimits
from envwatch.alarms.detectors.values import (
    SOURCE_JUMP,
    SOURCE_OVER_RANGE,
    SOURCE_ZERO,
    detect_jump,
    detect_over_range,
    detect_zero_negative,
    row_medians,
)
from tests.alarms.detectors.build import MINUTE, NAN, T0, at, day, distinct, series

SO2, FLOW = "a21026", "a00000"


def test_zero_while_the_flow_runs() -> None:
    so2 = series(SO2, [5.0, 0.0, -0.5, 5.0] + [5.0] * 20)
    (d,) = detect_zero_negative(day(series_=[so2, series(FLOW, [100.0] * 24)]))
    assert (d.kind, d.start, d.end, d.peak, d.limit, d.source) == (
        "zero_negative",
        at(1),
        at(3),
        -0.5,
        0.0,
        SOURCE_ZERO,
    )
    assert (
        detect_zero_negative(day(series_=[series(SO2, [5.0, 0.01] + [5.0] * 22), series(FLOW, [100.0] * 24)]))
        == []
    )


def test_zero_with_no_flow_is_a_stop_and_without_flow_only_negatives_count() -> None:
    flow = [100.0] * 24
    flow[1:3] = [0.0, 0.0]
    so2 = series(SO2, [5.0, 0.0, 0.0] + [5.0] * 21)
    assert detect_zero_negative(day(series_=[so2, series(FLOW, flow)])) == []
    assert detect_zero_negative(day(series_=[so2])) == []
    (d,) = detect_zero_negative(day(series_=[series(SO2, [5.0, -1.0] + [5.0] * 22)]))
    assert (d.start, d.peak) == (at(1), -1.0) and "negative" in d.summary


def test_zero_is_not_judged_with_power_off_or_on_state_parameters() -> None:
    so2 = series(SO2, [0.0] * 24)
    power = series("i33200", [0.0] * 24)
    assert detect_zero_negative(day(series_=[so2, series(FLOW, [100.0] * 24)], power=[power])) == []
    pressure = series("a01013", [-0.2] * 24)
    assert detect_zero_negative(day(series_=[pressure, series(FLOW, [100.0] * 24)])) == []


def test_over_range_at_full_scale_or_flag_t() -> None:
    values = [50.0, 99.9, 100.0, 120.0, 50.0, NAN, 50.0]
    flags = ["N", "N", "N", "N", "T", "T", "N"]
    nox = series("a21002", values, step=MINUTE, flags=flags)
    (d,) = detect_over_range(day(series_=[nox], limits={"a21002": FactorLimits(full_scale=100.0)}))
    assert (d.kind, d.start, d.end, d.peak, d.limit) == (
        "over_range",
        T0 + 2 * MINUTE,
        T0 + 6 * MINUTE,
        120.0,
        100.0,
    )
    assert d.multiple == pytest.approx(1.2) and d.source == SOURCE_OVER_RANGE and "2 flagged T" in d.summary
    assert [p.value for p in d.points] == [100.0, 120.0, 50.0]  # the NaN slot has no point


def test_over_range_without_full_scale_is_flag_t_only() -> None:
    nox = series("a21002", [500.0, NAN], step=MINUTE, flags=["N", "T"])
    (d,) = detect_over_range(day(series_=[nox]))
    assert (d.start, d.end, d.peak, d.limit) == (T0 + MINUTE, T0 + 2 * MINUTE, None, None)


def test_row_medians_ignore_nan() -> None:
    med, count = row_medians(np.array([[1.0, NAN, 3.0, 2.0], [NAN, NAN, NAN, NAN], [4.0, 1.0, NAN, NAN]]))
    assert med[0] == 2.0 and np.isnan(med[1]) and med[2] == 2.5
    assert count.tolist() == [3, 0, 2]


def oracle_threshold(values: list[float], k: int, t: DetectorThresholds) -> float:
    """k × 1.4826 × MAD of the changes before change ``k``, computed the plain way."""
    changes = np.diff(values)[max(0, k - t.jump_window_hours) : k]
    mad = float(np.median(np.abs(changes - np.median(changes))))
    floor = t.jump_mad_floor_share * float(np.median(np.abs(values)))
    return t.jump_k * max(t.jump_mad_scale * mad, floor)


def test_jump_above_k_times_the_rolling_mad() -> None:
    t = DetectorThresholds()
    base = distinct(24)
    threshold = oracle_threshold(base, 11, t)  # the change into hour 12 is judged on changes 0..10
    natural = base[12] - base[11]

    def shifted(by: float) -> list[float]:
        return [v + (by if h >= 12 else 0.0) for h, v in enumerate(base)]

    above = shifted(threshold - natural + 0.05)
    (d,) = detect_jump(day(series_=[series(SO2, above)]))
    assert (d.kind, d.start, d.end, d.source) == ("jump", at(11), at(13), SOURCE_JUMP)
    assert d.peak == pytest.approx(threshold + 0.05) and d.limit == pytest.approx(threshold)
    assert d.multiple == pytest.approx((threshold + 0.05) / threshold)
    assert [p.value for p in d.points] == [above[11], above[12]]
    assert detect_jump(day(series_=[series(SO2, shifted(threshold - natural - 0.05))])) == []
    assert detect_jump(day(series_=[series(SO2, base)])) == []  # the wave alone never jumps


def test_consecutive_jumps_form_one_event() -> None:
    values = distinct(24)
    values[12], values[13] = 40.0, 80.0
    (d,) = detect_jump(day(series_=[series(SO2, values)]))
    assert (d.start, d.end) == (at(11), at(15))
    assert d.peak == pytest.approx(80.0 - values[14])  # 80 → back to the wave is the biggest change


def test_flat_series_use_the_floor_instead_of_a_zero_mad() -> None:
    t = DetectorThresholds(jump_min_relative=0)  # the floor alone
    values = [10.0] * 24
    values[15:] = [11.0] * 9  # floor = 1 % of the median level 10 → 0.1; threshold 0.5
    (d,) = detect_jump(day(series_=[series(SO2, values)], thresholds=t))
    assert d.start == at(14) and d.limit == pytest.approx(0.5)
    values[15:] = [10.4] * 9
    assert detect_jump(day(series_=[series(SO2, values)], thresholds=t)) == []
    values[15:] = [11.0] * 9  # with F.S. 100 the floor is 1 → threshold 5
    limits = {SO2: FactorLimits(full_scale=100.0)}
    assert detect_jump(day(series_=[series(SO2, values)], limits=limits, thresholds=t)) == []


def test_a_jump_is_also_a_large_share_of_the_level() -> None:
    """A quiet series with a small MAD: +10 % is beyond k × MAD but no sudden jump; +30 % is."""
    values = [10.0] * 24
    values[15:] = [11.0] * 9
    assert detect_jump(day(series_=[series(SO2, values)])) == []  # default: at least 20 % of the hour before
    values[15:] = [12.0] * 9
    (d,) = detect_jump(day(series_=[series(SO2, values)]))
    assert d.start == at(14)
    values[15:] = [11.9] * 9
    assert detect_jump(day(series_=[series(SO2, values)])) == []


def test_jumps_need_history_and_values_on_both_sides() -> None:
    early = [10.0] * 24
    early[3:] = [50.0] * 21  # only 2 changes before it
    assert detect_jump(day(series_=[series(SO2, early)])) == []
    gap = [10.0] * 24
    gap[15] = NAN
    gap[16:] = [50.0] * 8
    assert detect_jump(day(series_=[series(SO2, gap)])) == []
