"""Instrument parameters reported (CN 3020 i13xxx) against the registered values."""

from __future__ import annotations

from envwatch.alarms.detectors import DetectorThresholds, ParameterReading
from envwatch.alarms.detectors.parameters import SOURCE_PARAMETER, detect_parameter_changed, parameter_differs
from tests.alarms.detectors.build import at, day

SO2 = "a21026"
REGISTERED: dict[str, dict[str, float | str]] = {SO2: {"i13008": 1.0, "i13001": "0-200"}}


def reading(hour: float, value: float | str, code: str = "i13008", factor: str = SO2) -> ParameterReading:
    return ParameterReading(at(hour), factor, code, value)


def test_a_changed_slope_until_it_is_set_back() -> None:
    readings = [reading(1, 1.0), reading(5, 0.53), reading(3, 0.53), reading(7, 1.0), reading(9, 0.6)]
    events = detect_parameter_changed(day(registered=REGISTERED, reported=readings))
    assert [(d.start, d.end, d.peak, d.limit) for d in events] == [
        (at(3), at(7), 0.53, 1.0),
        (at(9), at(24), 0.6, 1.0),  # still changed at the end of the window
    ]
    first = events[0]
    assert (first.kind, first.factor, first.source, first.multiple) == (
        "parameter_changed",
        SO2,
        SOURCE_PARAMETER,
        None,
    )
    assert (
        [p.value for p in first.points] == [0.53, 0.53]
        and "i13008" in first.summary
        and "0.53" in first.summary
    )


def test_tolerance_is_a_setting() -> None:
    readings = [reading(2, 1.005)]
    assert len(detect_parameter_changed(day(registered=REGISTERED, reported=readings))) == 1
    loose = DetectorThresholds(parameter_rel_tolerance=0.01)
    assert detect_parameter_changed(day(registered=REGISTERED, reported=readings, thresholds=loose)) == []
    assert (
        len(
            detect_parameter_changed(
                day(registered=REGISTERED, reported=[reading(2, 1.02)], thresholds=loose)
            )
        )
        == 1
    )


def test_text_values_and_unregistered_codes() -> None:
    same = [reading(2, " 0-200 ", "i13001")]
    assert detect_parameter_changed(day(registered=REGISTERED, reported=same)) == []
    (d,) = detect_parameter_changed(day(registered=REGISTERED, reported=[reading(2, "0-500", "i13001")]))
    assert d.peak is None and d.limit is None and d.points == () and "0-500" in d.summary
    unknown = [reading(2, 9.0, "i13013"), reading(2, 9.0, "i13008", factor="a21002")]
    assert detect_parameter_changed(day(registered=REGISTERED, reported=unknown)) == []


def test_parameter_differs() -> None:
    assert parameter_differs(2.0, "2", 0.0, 0.0) is False
    assert parameter_differs("2.5", 2.0, 0.1, 0.0) is True
    assert parameter_differs("nan", "nan", 0.0, 0.0) is False  # not numbers: compared as text
