"""O2 dilution, flow vs power and concentration, production vs emissions, stop marks over normal flow."""

from __future__ import annotations

from envwatch.alarms.detectors import DetectorThresholds, FactorSeries
from envwatch.alarms.detectors.consistency import (
    SOURCE_FLOW,
    SOURCE_O2,
    SOURCE_POWER,
    SOURCE_SHUTDOWN_MARK,
    detect_flow_inconsistent,
    detect_o2_dilution,
    detect_power_inconsistent,
    detect_shutdown_mark_with_flow,
)
from envwatch.alarms.detectors.detection import Excluded
from tests.alarms.detectors.build import MINUTE, NAN, T0, at, day, series

SO2, NOX, O2, FLOW, POWER = "a21026", "a21002", "a19001", "a00000", "i33200"


def hours(default: float, **at_hours: float) -> list[float]:
    """24 hourly values; h5=19.5 style keywords set single hours."""
    values = [default] * 24
    for key, value in at_hours.items():
        values[int(key[1:])] = value
    return values


def flow(**at_hours: float) -> FactorSeries:
    return series(FLOW, hours(100.0, **at_hours))


def power(**at_hours: float) -> FactorSeries:
    return series(POWER, hours(500.0, **at_hours))


def test_o2_at_or_above_nineteen_percent_with_normal_flow() -> None:
    o2 = series(O2, hours(9.0, h10=19.0, h11=20.5, h12=19.5))
    (d,) = detect_o2_dilution(day(series_=[o2, flow()]))
    assert (d.kind, d.factor, d.start, d.end, d.peak, d.limit) == (
        "o2_dilution",
        O2,
        at(10),
        at(13),
        20.5,
        19.0,
    )
    assert d.source == SOURCE_O2 and d.multiple is None
    assert detect_o2_dilution(day(series_=[series(O2, hours(9.0, h10=18.9)), flow()])) == []


def test_o2_dilution_needs_the_source_running() -> None:
    o2 = series(O2, hours(9.0, h10=20.9, h11=20.9))
    assert detect_o2_dilution(day(series_=[o2, flow(h10=0.0, h11=20.0)])) == []  # 20 < 30 % of typical 100
    assert detect_o2_dilution(day(series_=[o2])) == []  # nothing says it runs
    assert detect_o2_dilution(day(series_=[o2, flow()], power=[power(h10=0.0, h11=0.0)])) == []
    (d,) = detect_o2_dilution(day(series_=[o2], power=[power()]))  # power alone is enough
    assert (d.start, d.end) == (at(10), at(12)) and "power on" in d.summary
    assert detect_o2_dilution(day(series_=[o2, flow()], kind="water")) == []


def test_flow_while_power_is_off_and_no_flow_while_it_runs() -> None:
    events = detect_flow_inconsistent(day(series_=[flow(h3=4.9, h4=5.1)], power=[power(h5=0.0, h6=0.0)]))
    # typical flow 100 → ≈ 0 means ≤ 5: hour 3 is, hour 4 is not
    assert sorted((d.start, d.end, d.peak) for d in events) == [(at(3), at(4), 4.9), (at(5), at(7), 100.0)]
    assert {(d.kind, d.factor, d.source, d.limit) for d in events} == {
        ("flow_inconsistent", FLOW, SOURCE_FLOW, 5.0)
    }


def test_valid_concentration_while_the_flow_is_zero() -> None:
    so2 = series(SO2, hours(20.0))
    o2 = series(O2, hours(20.9))
    valid = [True] * 24
    valid[8] = False
    nox = series(NOX, hours(30.0), valid=valid)
    (d,) = [e for e in detect_flow_inconsistent(day(series_=[so2, o2, nox, flow(h8=0.0)])) if e.factor == SO2]
    assert (d.start, d.end, d.peak) == (at(8), at(9), 20.0)
    assert {e.factor for e in detect_flow_inconsistent(day(series_=[so2, o2, nox, flow(h8=0.0)]))} == {SO2}
    assert detect_flow_inconsistent(day(series_=[so2, o2])) == []  # no flow: nothing to compare


def test_power_on_while_every_pollutant_shows_stop_or_zero() -> None:
    stopped = ["N"] * 24
    stopped[6:9] = ["F"] * 3
    so2 = series(SO2, hours(20.0, h6=NAN, h7=NAN, h8=NAN), flags=stopped)
    nox = series(NOX, hours(30.0, h6=0.0, h7=0.0, h8=0.0))
    (d,) = detect_power_inconsistent(day(series_=[so2, nox, flow()], power=[power()]))
    assert (d.kind, d.factor, d.start, d.end, d.peak, d.source) == (
        "power_inconsistent",
        "",
        at(6),
        at(9),
        500.0,
        SOURCE_POWER,
    )
    running_nox = series(NOX, hours(30.0))
    assert detect_power_inconsistent(day(series_=[so2, running_nox, flow()], power=[power()])) == []
    assert detect_power_inconsistent(day(series_=[so2, nox, flow()])) == []  # no power series


def test_power_off_while_emitting_is_judged_only_without_flow() -> None:
    so2 = series(SO2, hours(20.0))
    (d,) = detect_power_inconsistent(day(series_=[so2], power=[power(h2=0.0, h3=0.0)]))
    assert (d.start, d.end, d.peak) == (at(2), at(4), 0.0)
    assert detect_power_inconsistent(day(series_=[so2, flow()], power=[power(h2=0.0, h3=0.0)])) == []


def test_power_counts_as_off_only_when_every_series_has_a_value() -> None:
    so2 = series(SO2, hours(20.0))
    treatment = series("i33201", hours(0.0, h2=NAN))
    events = detect_power_inconsistent(day(series_=[so2], power=[power(h2=0.0, h3=0.0), treatment]))
    assert [(d.start, d.end) for d in events] == [(at(3), at(4))]


def minute_flow(values: float, stop_minutes: int, code: str = "shutdown") -> FactorSeries:
    marked: list[str | None] = [code] * stop_minutes + [None] * (1440 - stop_minutes)
    return series(FLOW, [values] * 1440, step=MINUTE, marked=marked, valid=[m is None for m in marked])


def test_stop_mark_over_normal_flow() -> None:
    (d,) = detect_shutdown_mark_with_flow(day(series_=[minute_flow(100.0, 360)]))
    assert (d.kind, d.factor, d.start, d.end, d.peak) == ("shutdown_mark_with_flow", FLOW, T0, at(6), 100.0)
    assert d.excluded == (Excluded(T0, at(6), "shutdown"),) and d.source == SOURCE_SHUTDOWN_MARK
    assert len(d.points) == 50


def test_stop_mark_over_no_flow_or_other_marks_is_fine() -> None:
    marked: list[str | None] = ["停产"] * 6 + [None] * 18
    quiet = series(FLOW, hours(100.0, h0=0.0, h1=0.0, h2=0.0, h3=0.0, h4=0.0, h5=0.0), marked=marked)
    assert detect_shutdown_mark_with_flow(day(series_=[quiet])) == []
    assert detect_shutdown_mark_with_flow(day(series_=[minute_flow(100.0, 360, "maintenance")])) == []
    t = DetectorThresholds(shutdown_mark_codes=frozenset({"maintenance"}))
    assert (
        len(
            detect_shutdown_mark_with_flow(
                day(series_=[minute_flow(100.0, 360, "maintenance")], thresholds=t)
            )
        )
        == 1
    )


def test_normal_is_relative_to_the_design_flow_when_known() -> None:
    marked = minute_flow(100.0, 360)
    assert detect_shutdown_mark_with_flow(day(series_=[marked], design_flow=400.0)) == []  # 100 < 120
    assert len(detect_shutdown_mark_with_flow(day(series_=[marked], design_flow=300.0))) == 1  # 100 ≥ 90


def test_a_whole_day_marked_falls_back_to_any_flow() -> None:
    whole = minute_flow(0.5, 1440)
    (d,) = detect_shutdown_mark_with_flow(day(series_=[whole]))
    assert (d.start, d.end, d.limit) == (T0, at(24), 0.0)
    assert detect_shutdown_mark_with_flow(day(series_=[minute_flow(0.0, 1440)])) == []


def test_power_factors_among_the_device_series_count_as_power() -> None:
    so2 = series(SO2, hours(20.0))
    own_power = series(POWER, hours(500.0, h2=0.0))  # i33200 is a power factor by default
    (d,) = detect_power_inconsistent(day(series_=[so2, own_power]))
    assert (d.start, d.end) == (at(2), at(3))
    assert detect_power_inconsistent(day(series_=[so2, series("x99999", hours(500.0, h2=0.0))])) == []
