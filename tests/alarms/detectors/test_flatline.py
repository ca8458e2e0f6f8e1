"""Flat lines (恒值) and values hovering at the detection limit."""

from __future__ import annotations

import numpy as np
import pytest

from envwatch.alarms.detectors import DetectorThresholds, FactorLimits
from envwatch.alarms.detectors.flatline import (
    SOURCE_CONSTANT,
    SOURCE_FLAT_RANGE,
    SOURCE_NEAR_DL,
    detect_constant,
    detect_near_detection_limit,
)
from tests.alarms.detectors.build import MINUTE, NAN, at, day, distinct, minutes_from_hours, series

SO2 = "a21026"


def with_flat(start: int, length: int, value: float = 20.0, n: int = 24) -> list[float]:
    values = distinct(n)
    values[start : start + length] = [value] * length
    return values


def test_gas_flat_line_needs_four_equal_hours() -> None:
    (d,) = detect_constant(day(series_=[series(SO2, with_flat(5, 4))]))
    assert (d.kind, d.factor, d.start, d.end, d.peak) == ("constant", SO2, at(5), at(9), 20.0)
    assert d.source == SOURCE_CONSTANT and len(d.points) == 4
    assert detect_constant(day(series_=[series(SO2, with_flat(5, 3))])) == []


def test_water_flat_line_needs_six_equal_hours() -> None:
    five = series("w01018", with_flat(2, 5), kind="water")
    six = series("w01018", with_flat(2, 6), kind="water")
    assert detect_constant(day(series_=[five], kind="water")) == []
    (d,) = detect_constant(day(series_=[six], kind="water"))
    assert (d.start, d.end) == (at(2), at(8))


def test_epsilon_decides_what_is_the_same() -> None:
    values = distinct(24)
    values[5:9] = [20.0, 20.0 + 4e-7, 20.0 + 8e-7, 20.0 + 12e-7]  # each step below ε = 1e-6
    assert len(detect_constant(day(series_=[series(SO2, values)]))) == 1
    values[5:9] = [20.0, 20.0 + 2e-6, 20.0 + 4e-6, 20.0 + 6e-6]  # each step above
    assert detect_constant(day(series_=[series(SO2, values)])) == []


def test_a_missing_hour_breaks_the_run() -> None:
    values = with_flat(5, 5)
    values[7] = NAN
    assert detect_constant(day(series_=[series(SO2, values)])) == []


def test_minute_data_are_judged_through_their_hourly_means() -> None:
    hourly = with_flat(2, 4, 18.5)
    minutes = minutes_from_hours(hourly, jitter=0.3)  # every minute moves; the hourly means do not
    minutes[120:360] = 18.5  # and hours 2-5 are stuck at one minute value
    (d,) = detect_constant(day(series_=[series(SO2, minutes, step=MINUTE)]))
    assert (d.start, d.end, d.peak) == (at(2), at(6), 18.5)


def test_hours_shown_stopped_by_power_are_not_judged() -> None:
    power = [500.0] * 24
    power[5:9] = [0.0] * 4
    so2 = series(SO2, with_flat(5, 4))
    assert detect_constant(day(series_=[so2], power=[series("i33200", power)])) == []
    assert len(detect_constant(day(series_=[so2], power=[series("i33200", [500.0] * 24)]))) == 1


def test_excluded_factors_are_not_judged() -> None:
    t = DetectorThresholds(constant_excluded_factors=frozenset({SO2}))
    assert detect_constant(day(series_=[series(SO2, with_flat(5, 6))], thresholds=t)) == []


def alternating(center: float, half: float, n: int = 24) -> list[float]:
    return [center + (half if h % 2 else -half) for h in range(n)]  # σ = half exactly


def test_range_relative_flat_line_below_two_percent_of_full_scale() -> None:
    limits = {SO2: FactorLimits(full_scale=100.0)}  # 2 % of F.S. = 2
    (d,) = detect_constant(day(series_=[series(SO2, alternating(30.0, 1.9))], limits=limits))
    assert (d.source, d.start, d.end, d.limit) == (SOURCE_FLAT_RANGE, at(0), at(24), 2.0)
    assert d.peak == pytest.approx(1.9)
    assert detect_constant(day(series_=[series(SO2, alternating(30.0, 2.1))], limits=limits)) == []
    assert detect_constant(day(series_=[series(SO2, alternating(30.0, 1.9))])) == []  # no F.S.: no variant


def test_range_relative_variant_needs_twenty_hours_of_data_in_the_window() -> None:
    limits = {SO2: FactorLimits(full_scale=100.0)}
    values = alternating(30.0, 1.0)
    values[:4] = [NAN] * 4  # 20 hours left
    assert len(detect_constant(day(series_=[series(SO2, values)], limits=limits))) == 1
    values[4] = NAN  # 19
    assert detect_constant(day(series_=[series(SO2, values)], limits=limits)) == []


def test_range_relative_spread_counts_the_minutes_not_only_the_hourly_means() -> None:
    limits = {SO2: FactorLimits(full_scale=100.0)}
    steady = minutes_from_hours([30.0] * 24, jitter=1.9)  # hourly means identical, minutes σ = 1.9
    noisy = minutes_from_hours([30.0] * 24, jitter=2.1)
    t = DetectorThresholds(constant_hours_gas=30)  # keep the equal-hours rule out of this test
    (d,) = detect_constant(day(series_=[series(SO2, steady, step=MINUTE)], limits=limits, thresholds=t))
    assert d.source == SOURCE_FLAT_RANGE and d.peak == pytest.approx(1.9)
    assert detect_constant(day(series_=[series(SO2, noisy, step=MINUTE)], limits=limits, thresholds=t)) == []


DL = {SO2: FactorLimits(detection_limit=2.0)}


def test_near_detection_limit_when_p90_is_within_one_and_a_half_times_it() -> None:
    low = list(np.linspace(1.0, 3.0, 24))  # p90 = 2.8 ≤ 3
    (d,) = detect_near_detection_limit(day(series_=[series(SO2, low)], limits=DL))
    assert (d.kind, d.start, d.end, d.limit, d.source) == (
        "near_detection_limit",
        at(0),
        at(24),
        2.0,
        SOURCE_NEAR_DL,
    )
    p90 = float(np.quantile(low, 0.9))
    assert d.peak == pytest.approx(p90) and d.multiple == pytest.approx(p90 / 2.0)
    higher = list(np.linspace(1.0, 3.5, 24))  # p90 = 3.25 > 3
    assert detect_near_detection_limit(day(series_=[series(SO2, higher)], limits=DL)) == []


def test_near_detection_limit_needs_enough_hours_and_a_limit() -> None:
    few = [2.0] * 19 + [NAN] * 5
    assert detect_near_detection_limit(day(series_=[series(SO2, few)], limits=DL)) == []
    assert detect_near_detection_limit(day(series_=[series(SO2, [2.0] * 24)], limits={})) == []
    assert (
        len(detect_near_detection_limit(day(series_=[series(SO2, [2.0] * 20 + [NAN] * 4)], limits=DL))) == 1
    )
