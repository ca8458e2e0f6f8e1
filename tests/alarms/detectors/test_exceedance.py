"""Exceedance (EXC-01..04): events over the limit, marked periods excluded but listed, pH range."""

from __future__ import annotations

import pytest

from envwatch.alarms.detectors import FactorLimits
from envwatch.alarms.detectors.detection import Excluded
from envwatch.alarms.detectors.exceedance import (
    SOURCE_DAY,
    SOURCE_HOUR,
    SOURCE_MARKED,
    SOURCE_PH,
    detect_exceedance,
    detect_ph,
)
from tests.alarms.detectors.build import DAY, MINUTE, NAN, T0, at, day, series

SO2 = "a21026"
LIMIT = {SO2: FactorLimits(hour_limit=35.0, day_limit=20.0)}


def hours(*values: float) -> list[float]:
    return [*values] + [10.0] * (24 - len(values))


def test_consecutive_hours_over_the_limit_are_one_event_with_its_peak() -> None:
    so2 = series(SO2, hours(10, 10, 40, 50, 45, 10))
    (d,) = detect_exceedance(day(averages=[so2], limits=LIMIT))
    assert (d.kind, d.factor, d.start, d.end) == ("exceedance", SO2, at(2), at(5))
    assert d.peak == 50.0 and d.limit == 35.0 and d.multiple == pytest.approx(50 / 35)
    assert [p.value for p in d.points] == [40.0, 50.0, 45.0] and d.points[0].time == at(2)
    assert d.source == SOURCE_HOUR and "peak 50" in d.summary and d.excluded == ()


def test_the_limit_itself_is_not_an_exceedance() -> None:
    assert detect_exceedance(day(averages=[series(SO2, hours(35.0))], limits=LIMIT)) == []
    (d,) = detect_exceedance(day(averages=[series(SO2, hours(35.01))], limits=LIMIT))
    assert d.peak == 35.01


def test_invalid_or_missing_hours_split_events() -> None:
    valid = [True] * 24
    valid[3] = False
    so2 = series(SO2, hours(10, 10, 40, 90, 45, 10, 50, NAN, 50), valid=valid)
    events = detect_exceedance(day(averages=[so2], limits=LIMIT))
    assert [(d.start, d.end, d.peak) for d in events] == [
        (at(2), at(3), 40.0),
        (at(4), at(5), 45.0),
        (at(6), at(7), 50.0),
        (at(8), at(9), 50.0),
    ]


def test_marked_hours_are_excluded_listed_and_audited() -> None:
    marked: list[str | None] = [None] * 24
    marked[3] = "maintenance"
    marked[10:12] = ["shutdown", "shutdown"]
    so2 = series(SO2, hours(10, 10, 40, 90, 45), valid=[m is None for m in marked], marked=marked)
    events = detect_exceedance(day(averages=[so2], limits=LIMIT))
    exceedances = [d for d in events if d.kind == "exceedance"]
    assert [(d.start, d.end) for d in exceedances] == [(at(2), at(3)), (at(4), at(5))]
    listed = (Excluded(at(3), at(4), "maintenance"), Excluded(at(10), at(12), "shutdown"))
    assert all(d.excluded == listed for d in exceedances)
    (audit,) = [d for d in events if d.kind == "marked_exceedance"]  # the 10 under "shutdown" is not over
    assert (audit.start, audit.end, audit.peak, audit.source) == (at(3), at(4), 90.0, SOURCE_MARKED)
    assert audit.excluded == (Excluded(at(3), at(4), "maintenance"),) and "maintenance" in audit.summary


def test_water_days_use_the_day_limit_and_minutes_are_not_judged() -> None:
    daily = series(SO2, [19.0, 25.0, 30.0], step=DAY, kind="water")
    (d,) = detect_exceedance(day(averages=[daily], limits=LIMIT, kind="water", hours=72))
    assert (d.start, d.end, d.peak, d.limit, d.source) == (T0 + DAY, T0 + 3 * DAY, 30.0, 20.0, SOURCE_DAY)
    minutes = series(SO2, [99.0] * 60, step=MINUTE)
    assert detect_exceedance(day(averages=[minutes], limits=LIMIT)) == []


def test_without_a_limit_for_the_period_nothing_is_judged() -> None:
    so2 = series(SO2, hours(99))
    assert detect_exceedance(day(averages=[so2], limits={})) == []
    assert detect_exceedance(day(averages=[so2], limits={SO2: FactorLimits(day_limit=1.0)})) == []


def test_points_are_capped_and_keep_the_peak() -> None:
    values = [40.0] * 60
    values[55] = 80.0
    (d,) = detect_exceedance(day(averages=[series(SO2, values)], limits=LIMIT, hours=60))
    assert len(d.points) == 50 and d.points[-1] == (at(55), 80.0) and d.end == at(60)


PH = "w01001"
PH_RANGE = {PH: FactorLimits(ph_low=6.0, ph_high=9.0)}


def test_ph_outside_its_range_with_the_furthest_value_and_no_multiple() -> None:
    ph = series(PH, [7.0, 6.0, 9.0, 5.6, 9.8, 7.0], kind="water")
    (d,) = detect_ph(day(averages=[ph], limits=PH_RANGE, kind="water", hours=6))
    assert (d.kind, d.start, d.end, d.peak, d.limit, d.multiple) == (
        "ph_out_of_range",
        at(3),
        at(5),
        9.8,
        9.0,
        None,
    )
    assert d.source == SOURCE_PH


def test_ph_from_the_raw_series_with_one_bound_and_marks_audited() -> None:
    marked: list[str | None] = [None, None, None, "calibration"]
    ph = series(PH, [5.0, 7.0, 9.5, 10.0], kind="water", marked=marked)
    events = detect_ph(day(series_=[ph], limits={PH: FactorLimits(ph_high=9.0)}, kind="water", hours=4))
    assert [(d.kind, d.start, d.end, d.limit) for d in events] == [
        ("ph_out_of_range", at(2), at(3), 9.0),
        ("marked_exceedance", at(3), at(4), None),
    ]
    assert events[0].excluded == (Excluded(at(3), at(4), "calibration"),)
    assert detect_ph(day(series_=[ph], limits={}, kind="water", hours=4)) == []
