"""Exceedance and anomaly detectors (超标/异常识别): pure functions over one device's judged window.

``run_all(inputs, thresholds)`` builds a ``DeviceDay`` (the shared hour grid and production state) and
runs every enabled detector; each detector is also callable alone as ``detect_x(DeviceDay(...))``. No
I/O, no clock: the caller loads the series, marks, limits and parameters (the store) and decides what
happens to the detections (the alarm lifecycle).

Detectors and the kinds they produce (``thresholds.KINDS``):

- ``exceedance``: exceedance, marked_exceedance; ``ph``: ph_out_of_range, marked_exceedance
- ``flatline``: constant, near_detection_limit
- ``values``: zero_negative, over_range, jump
- ``consistency``: o2_dilution, flow_inconsistent, power_inconsistent, shutdown_mark_with_flow
- ``parameters``: parameter_changed
"""

from __future__ import annotations

from collections.abc import Callable

from envwatch.alarms.detectors.consistency import (
    detect_flow_inconsistent,
    detect_o2_dilution,
    detect_power_inconsistent,
    detect_shutdown_mark_with_flow,
)
from envwatch.alarms.detectors.day import DeviceDay
from envwatch.alarms.detectors.detection import Detection, Excluded, Point
from envwatch.alarms.detectors.exceedance import detect_exceedance, detect_ph
from envwatch.alarms.detectors.flatline import detect_constant, detect_near_detection_limit
from envwatch.alarms.detectors.parameters import detect_parameter_changed
from envwatch.alarms.detectors.series import DeviceInputs, FactorLimits, FactorSeries, ParameterReading
from envwatch.alarms.detectors.thresholds import KINDS, DetectorThresholds
from envwatch.alarms.detectors.values import detect_jump, detect_over_range, detect_zero_negative

__all__ = [
    "DETECTORS",
    "KINDS",
    "Detection",
    "DetectorThresholds",
    "DeviceDay",
    "DeviceInputs",
    "Excluded",
    "FactorLimits",
    "FactorSeries",
    "ParameterReading",
    "Point",
    "run_all",
]

Detector = Callable[[DeviceDay], list[Detection]]

# Each detector with the kinds it can produce; run_all skips a detector none of whose kinds is enabled.
DETECTORS: tuple[tuple[Detector, frozenset[str]], ...] = (
    (detect_exceedance, frozenset({"exceedance", "marked_exceedance"})),
    (detect_ph, frozenset({"ph_out_of_range", "marked_exceedance"})),
    (detect_constant, frozenset({"constant"})),
    (detect_near_detection_limit, frozenset({"near_detection_limit"})),
    (detect_zero_negative, frozenset({"zero_negative"})),
    (detect_over_range, frozenset({"over_range"})),
    (detect_jump, frozenset({"jump"})),
    (detect_o2_dilution, frozenset({"o2_dilution"})),
    (detect_flow_inconsistent, frozenset({"flow_inconsistent"})),
    (detect_power_inconsistent, frozenset({"power_inconsistent"})),
    (detect_parameter_changed, frozenset({"parameter_changed"})),
    (detect_shutdown_mark_with_flow, frozenset({"shutdown_mark_with_flow"})),
)


def run_all(inputs: DeviceInputs, thresholds: DetectorThresholds | None = None) -> list[Detection]:
    """Every enabled detection for one device's window, ordered by start time, then kind and factor."""
    t = thresholds if thresholds is not None else DetectorThresholds()
    day = DeviceDay(inputs, t)
    out: list[Detection] = []
    for detector, kinds in DETECTORS:
        if kinds & t.enabled:
            out += [d for d in detector(day) if d.kind in t.enabled]
    out.sort(key=lambda d: (d.start, d.kind, d.factor))
    return out
