"""Implausible values: zero or negative concentrations, over range (超量程), sudden jumps (突变).

Theory of operation (monitoring-rules §6):

- zero/negative: a pollutant concentration (or O2) whose hourly value is ≤ 0 while the flow shows the
  source running (and the power, where given, is not off). Without a flow series only negative values
  are reported: a zero with nothing to say the source runs is an ordinary stop;
- over range: a slot sent with HJ 212 flag T, or a value ≥ 100 % of the instrument range (F.S.). This
  is judged on the raw slots (an instantaneous instrument condition), valid or not;
- jump: on the hour grid, |Δ| between an hour and the previous one above k × the rolling MAD of the
  hour-to-hour changes in the trailing window (the current change excluded). The MAD is scaled by
  1.4826 so that it estimates σ (the Hampel filter's convention; unscaled, k = 5 would mean only
  ~3.4 σ and flag honest noise). MAD = 0 (a quiet or flat series) is guarded by a floor: a share of
  F.S., or of the series' median level. A window needs ``jump_min_history`` changes before it judges,
  so the first hours of a window are judged only when the caller passes earlier hours too. An event
  spans the hour before the first jump to the last hour after one, so its points show the change.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from envwatch.alarms.detectors.day import DeviceDay
from envwatch.alarms.detectors.detection import Detection, event, fmt, runs
from envwatch.alarms.detectors.hourly import HOUR, HourView
from envwatch.alarms.detectors.series import BoolArray, FloatArray

__all__ = [
    "SOURCE_JUMP",
    "SOURCE_OVER_RANGE",
    "SOURCE_ZERO",
    "detect_jump",
    "detect_over_range",
    "detect_zero_negative",
    "row_medians",
]

SOURCE_ZERO = "monitoring-rules §6 zero or negative: concentration ≤ 0 while flow > 0 and producing [P]"
SOURCE_OVER_RANGE = (
    "monitoring-rules §6 over range: HJ 212 flag T or value ≥ 100 % F.S. (HJ 212-2017 Table 8 [V2])"
)
SOURCE_JUMP = "monitoring-rules §6 sudden jump: |Δ| hour to hour > k × rolling MAD (k = 5 [P])"

_TINY = 1e-12  # last-resort MAD floor: a series that never moved and then moves is a jump


def detect_zero_negative(day: DeviceDay) -> list[Detection]:
    """'zero_negative' events on the hour grid of each concentration factor."""
    t = day.t
    out: list[Detection] = []
    running = day.flow_running
    for factor in day.concentration_factors:
        hv = day.hours(factor)
        if hv is None:
            continue
        v = hv.judged
        with np.errstate(invalid="ignore"):
            low = np.isfinite(v) & (v <= t.zero_max)
            mask = low & running if running is not None else low & (v < 0)
        if day.power_off is not None:
            mask &= ~day.power_off
        for i, j in runs(mask):
            peak_index = i + int(np.argmin(v[i:j]))
            why = "while the flow shows the source running" if running is not None else "(negative)"
            out.append(
                event(
                    kind="zero_negative",
                    device_id=day.device_id,
                    factor=factor,
                    start=hv.start,
                    step=HOUR,
                    values=v,
                    span=(i, j),
                    peak_index=peak_index,
                    limit=t.zero_max,
                    multiple=False,
                    source=SOURCE_ZERO,
                    summary=f"{factor} at or below {fmt(t.zero_max)} for {j - i} hour(s) {why}; "
                    f"lowest {fmt(float(v[peak_index]))}",
                    cap=t.points_cap,
                )
            )
    return out


def detect_over_range(day: DeviceDay) -> list[Detection]:
    """'over_range' events on the raw slots: flag T, or value ≥ ``over_range_share`` × F.S."""
    t = day.t
    out: list[Detection] = []
    for factor in day.measured_factors:
        series = day.inputs.series[factor]
        limits = day.inputs.limits.get(factor)
        fs = None if limits is None else limits.full_scale
        flagged = series.flag_mask("T")
        mask = flagged
        if fs is not None and np.isfinite(fs) and fs > 0:
            with np.errstate(invalid="ignore"):
                high = np.isfinite(series.values) & (series.values >= t.over_range_share * fs)
            mask = flagged | high
        else:
            fs = None
        if not mask.any():
            continue
        values = series.values
        for i, j in runs(mask):
            finite = np.isfinite(values[i:j])
            peak_index = i + int(np.argmax(np.where(finite, values[i:j], -np.inf))) if finite.any() else None
            n_flag = int(flagged[i:j].sum())
            out.append(
                event(
                    kind="over_range",
                    device_id=day.device_id,
                    factor=factor,
                    start=series.start,
                    step=series.step,
                    values=values,
                    span=(i, j),
                    peak_index=peak_index,
                    limit=fs,
                    source=SOURCE_OVER_RANGE,
                    summary=f"{factor} over range for {j - i} slot(s) of {series.step} "
                    f"({n_flag} flagged T; range {fmt(fs)})"
                    + (f"; peak {fmt(float(values[peak_index]))}" if peak_index is not None else ""),
                    cap=t.points_cap,
                )
            )
    return out


def row_medians(rows: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Median of the finite values along the last axis (NaN where none) and their count, no warnings."""
    ordered = np.sort(rows, axis=-1)  # NaN sorts last
    count = np.isfinite(rows).sum(axis=-1)
    lo = np.maximum((count - 1) // 2, 0)[..., None]
    hi = np.maximum(count // 2, 0)[..., None]
    a = np.take_along_axis(ordered, lo, axis=-1)[..., 0]
    b = np.take_along_axis(ordered, hi, axis=-1)[..., 0]
    with np.errstate(invalid="ignore", over="ignore"):
        med = np.where(count > 0, a / 2 + b / 2, np.nan)  # halves first: no overflow near the float max
    return med, count


def _floors(day: DeviceDay, factors: list[str], values: FloatArray) -> FloatArray:
    """Per factor, the least MAD used: a share of F.S., else of the median level (guards MAD = 0)."""
    level, _ = row_medians(np.abs(values))
    scales = np.empty(len(factors))
    for row, factor in enumerate(factors):
        limits = day.inputs.limits.get(factor)
        fs = None if limits is None else limits.full_scale
        scales[row] = fs if fs is not None and np.isfinite(fs) and fs > 0 else level[row]
    with np.errstate(invalid="ignore", over="ignore"):
        floors = day.t.jump_mad_floor_share * scales
    return np.where(np.isfinite(floors) & (floors > _TINY), floors, _TINY)


def detect_jump(day: DeviceDay) -> list[Detection]:
    """'jump' events: hour-to-hour changes above k × the trailing rolling MAD of changes.

    All factors of the device are judged together as one (factors × hours) array.
    """
    t = day.t
    width = t.jump_window_hours
    views = [v for v in (day.hours(f) for f in day.measured_factors) if v is not None]
    if not views or len(views[0]) < 2:
        return []
    factors = [v.factor for v in views]
    values = np.vstack([v.judged for v in views])
    with np.errstate(invalid="ignore", over="ignore"):
        delta = values[:, 1:] - values[:, :-1]
    delta[~np.isfinite(delta)] = np.nan
    padded = np.concatenate((np.full((len(views), width), np.nan), delta), axis=1)
    windows = sliding_window_view(padded[:, :-1], width, axis=1)  # [f, k]: the changes before change k
    med, count = row_medians(windows)
    with np.errstate(invalid="ignore", over="ignore"):
        mad, _ = row_medians(np.abs(windows - med[..., None]))
        sigma = t.jump_mad_scale * np.where(np.isfinite(mad), mad, 0.0)
        threshold = t.jump_k * np.maximum(sigma, _floors(day, factors, values)[:, None])
        size = np.abs(delta)
        relative = size >= t.jump_min_relative * np.abs(values[:, :-1])
        jumped = (count >= t.jump_min_history) & np.isfinite(size) & (size > threshold) & relative
    out: list[Detection] = []
    for row in np.flatnonzero(jumped.any(axis=1)).tolist():
        out += _jump_events(day, views[row], jumped[row], size[row], threshold[row])
    return out


def _jump_events(
    day: DeviceDay, hv: HourView, jumped: BoolArray, size: FloatArray, threshold: FloatArray
) -> list[Detection]:
    t = day.t
    v = hv.judged
    after = np.concatenate(([False], jumped))  # hour k + 1 comes after change k
    out = []
    for i, j in runs(after):
        k = i - 1 + int(np.argmax(np.where(jumped[i - 1 : j - 1], size[i - 1 : j - 1], -1.0)))
        out.append(
            event(
                kind="jump",
                device_id=day.device_id,
                factor=hv.factor,
                start=hv.start,
                step=HOUR,
                values=v,
                span=(i - 1, j),
                peak_index=k + 1,
                peak=float(size[k]),
                limit=float(threshold[k]),
                source=SOURCE_JUMP,
                summary=f"{hv.factor} jumped from {fmt(float(v[k]))} to {fmt(float(v[k + 1]))} "
                f"(|Δ| {fmt(float(size[k]))} > {fmt(t.jump_k)} × rolling MAD σ-estimate = "
                f"{fmt(float(threshold[k]))})",
                cap=t.points_cap,
            )
        )
    return out
