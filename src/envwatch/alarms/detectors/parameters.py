"""Instrument parameters reported by the device (CN 3020, ``i13xxx``) that differ from the registry.

Theory of operation (PARAM-01, monitoring-rules §6 "parameter tampering"): range, slope, intercept,
linear coefficient, digestion time or temperature are registered at acceptance (about 80 % of them
locked, LN [V]); a reported value that differs from the registered one is a tamper clue (MEE-2017-CASE:
test gas of 554 mg/m³ read as 294.49). Readings are taken per (factor, code) in time order; consecutive
differing readings form one event that lasts until a reading matches again (else to the end of the
window). Numbers compare with a tolerance (``parameter_abs_tolerance``, ``parameter_rel_tolerance``:
default "any change"); values that are not numbers compare as trimmed text. Codes without a registered
value are not judged.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from envwatch.alarms.detectors.day import DeviceDay
from envwatch.alarms.detectors.detection import Detection, Point
from envwatch.alarms.detectors.series import ParameterReading

__all__ = ["SOURCE_PARAMETER", "detect_parameter_changed", "parameter_differs"]

SOURCE_PARAMETER = (
    "monitoring-rules §6 parameter tampering, PARAM-01: CN 3020 i13xxx value ≠ registered value "
    "(HJ 355-2019 §5; LN [V]; MEE-2017-CASE [V])"
)


def _number(value: float | str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: float | str) -> str:
    number = _number(value)
    return f"{number:g}" if number is not None else str(value)


def parameter_differs(reported: float | str, registered: float | str, abs_tol: float, rel_tol: float) -> bool:
    a, b = _number(reported), _number(registered)
    if a is not None and b is not None:
        return abs(a - b) > max(abs_tol, rel_tol * abs(b))
    return str(reported).strip() != str(registered).strip()


def detect_parameter_changed(day: DeviceDay) -> list[Detection]:
    """'parameter_changed' events, one per run of readings that differ from the registered value."""
    t = day.t
    groups: dict[tuple[str, str], list[ParameterReading]] = defaultdict(list)
    for reading in day.inputs.reported_parameters:
        groups[(reading.factor, reading.code)].append(reading)
    out: list[Detection] = []
    for (factor, code), readings in sorted(groups.items()):
        registered = day.inputs.registered_parameters.get(factor, {}).get(code)
        if registered is None:
            continue
        readings.sort(key=lambda r: r.time)
        differs = [
            parameter_differs(r.value, registered, t.parameter_abs_tolerance, t.parameter_rel_tolerance)
            for r in readings
        ]
        i = 0
        while i < len(readings):
            if not differs[i]:
                i += 1
                continue
            j = i
            while j < len(readings) and differs[j]:
                j += 1
            run = readings[i:j]
            start = run[0].time.astimezone(UTC)
            if j < len(readings):
                end = readings[j].time.astimezone(UTC)
            else:
                end = max(day.inputs.end, run[-1].time.astimezone(UTC) + timedelta(seconds=1))
            out.append(_event(day, factor, code, registered, run, start, end))
            i = j
    return out


def _event(
    day: DeviceDay,
    factor: str,
    code: str,
    registered: float | str,
    run: list[ParameterReading],
    start: datetime,
    end: datetime,
) -> Detection:
    reg = _number(registered)
    numbers = [(r, _number(r.value)) for r in run]
    numeric = [(r, n) for r, n in numbers if n is not None]
    peak: float | None = None
    if numeric and reg is not None:
        peak = max(numeric, key=lambda rn: abs(rn[1] - reg))[1]
    elif numeric:
        peak = numeric[-1][1]
    points = tuple(Point(r.time.astimezone(UTC), n) for r, n in numeric[: day.t.points_cap])
    owner = factor or "the data logger"
    last = run[-1].value
    return Detection(
        kind="parameter_changed",
        device_id=day.device_id,
        factor=factor,
        start=start,
        end=end,
        peak=peak,
        limit=reg,
        multiple=None,
        source=SOURCE_PARAMETER,
        summary=f"{code} of {owner} reported {_text(last)} ({len(run)} reading(s)), registered {_text(registered)}",
        points=points,
    )
