"""FactorSeries checks and the hour grid (judged vs present hourly values)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from envwatch.alarms.detectors import DeviceInputs, FactorSeries
from envwatch.alarms.detectors.hourly import hour_view
from tests.alarms.detectors.build import DAY, MINUTE, NAN, T0, at, device_inputs, series


def test_series_rejects_naive_times_and_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="naive"):
        FactorSeries.of(1, "a21026", "gas", datetime(2026, 7, 1), MINUTE, [1.0])
    with pytest.raises(ValueError, match="one length"):
        FactorSeries(1, "a21026", "gas", T0, MINUTE, np.zeros(3), np.ones(2, dtype=bool))
    with pytest.raises(ValueError, match="flags has 1 entries for 2"):
        series("a21026", [1.0, 2.0], flags=("N",))
    with pytest.raises(ValueError, match="positive"):
        series("a21026", [1.0], step=MINUTE * 0)


def test_series_defaults_valid_to_finite_and_knows_its_slots() -> None:
    s = series("a21026", [1.0, NAN, float("inf"), -2.0], step=MINUTE, flags=("N", "N", "T", "N"))
    assert s.valid.tolist() == [True, False, False, True]
    assert s.end == T0 + 4 * MINUTE and s.time_at(2) == T0 + 2 * MINUTE
    assert s.flag_mask("T").tolist() == [False, False, True, False]
    assert not s.flag_mask("F").any()
    assert not s.has_marks() and not s.marked_mask().any()
    marked = series("a21026", [1.0, 2.0], marked=(None, "maintenance"))
    assert marked.has_marks() and marked.judged().tolist() == [True, False]


def test_minutes_become_hours_with_45_of_60_and_present_keeps_invalid_and_marked() -> None:
    values = np.full(120, 10.0)
    values[60:90] = 30.0  # hour 1: 30 minutes at 30, 30 at 10 → mean 20
    valid = np.ones(120, dtype=bool)
    valid[:16] = False  # hour 0: 44 valid minutes → no judged value
    marked: list[str | None] = [None] * 120
    marked[60:75] = ["maintenance"] * 15  # hour 1: 15 of the 30s marked → 45 judged minutes left
    s = series("a21026", values, step=MINUTE, valid=valid.tolist(), marked=marked)
    hv = hour_view(s, T0, 2, 0.75)
    assert hv is not None
    assert np.isnan(hv.judged[0]) and hv.present[0] == 10.0
    assert hv.judged[1] == pytest.approx((15 * 30 + 30 * 10) / 45)
    assert hv.present[1] == pytest.approx(20.0)
    assert hv.count.tolist() == [44, 45]


def test_hour_needs_its_share_of_slots() -> None:
    values = [5.0] * 45 + [NAN] * 15 + [5.0] * 44 + [NAN] * 16
    hv = hour_view(series("a21026", values, step=MINUTE), T0, 2, 0.75)
    assert hv is not None
    assert hv.judged[0] == 5.0 and np.isnan(hv.judged[1])


def test_unaligned_series_land_on_the_grid_hours() -> None:
    s = series("a21026", [1.0] * 30 + [3.0] * 30, step=MINUTE, start=at(0.5))
    hv = hour_view(s, T0, 3, 0.5)
    assert hv is not None
    assert hv.judged.tolist()[:2] == [1.0, 3.0] and np.isnan(hv.judged[2])


def test_hourly_series_map_one_to_one_and_daily_series_have_no_hours() -> None:
    hv = hour_view(series("i33200", [1.0, 2.0, NAN]), T0, 3, 0.75)
    assert hv is not None
    assert hv.judged.tolist()[:2] == [1.0, 2.0] and np.isnan(hv.judged[2])
    assert hour_view(series("w01018", [1.0], step=DAY), T0, 24, 0.75) is None


def test_an_hour_mostly_flagged_f_is_stop_flagged() -> None:
    flags = ["F"] * 31 + ["N"] * 29 + ["F"] * 30 + ["N"] * 30
    hv = hour_view(series("a21026", [1.0] * 120, step=MINUTE, flags=flags), T0, 2, 0.75)
    assert hv is not None
    assert hv.stop_flagged.tolist() == [True, False]


def test_device_inputs_need_an_aware_window_that_moves_forward() -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        device_inputs(hours=0)
    with pytest.raises(ValueError, match="naive"):
        DeviceInputs(1, "gas", datetime(2026, 7, 1), datetime(2026, 7, 2))
