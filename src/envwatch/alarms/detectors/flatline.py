"""Flat lines (恒值) and values hovering at the detection limit: signs of a stuck or faked analyser.

Theory of operation (monitoring-rules §6, after the JINHHB falsification indicators [V]):

- constant value: the *hourly* values of a factor stay the same (|Δ| < ε) for N consecutive operating
  hours (gas 4, water 6 [P]). Minute data are judged through their hourly means (the judgement grid,
  ``hourly``): identical minutes give identical hourly means, and a faked repeating minute pattern does
  too, while honest noise does not; judging minute runs directly would raise an alarm for every quiet
  quarter hour. A missing, invalid, marked or stopped hour ends a run;
- range-relative variant: the spread (σ of the judged slot values, not of the hourly means) over a
  window of 24 h stays below 2 % of the instrument's range (F.S.) — "fluctuating within 2 % of range".
  Windows slide by an hour; overlapping flagged windows form one event;
- near detection limit: the p90 of the operating hourly values over the window is ≤ 1.5 × the detection
  limit. The detector judges the window it is given (``near_dl_window_days`` tells the caller how much
  history to pass) and needs ``near_dl_min_hours`` hours of data.
"""

from __future__ import annotations

import numpy as np

from envwatch.alarms.detectors.day import DeviceDay
from envwatch.alarms.detectors.detection import Detection, event, fmt, runs
from envwatch.alarms.detectors.hourly import HOUR, HourView
from envwatch.alarms.detectors.series import BoolArray, FloatArray

__all__ = [
    "SOURCE_CONSTANT",
    "SOURCE_FLAT_RANGE",
    "SOURCE_NEAR_DL",
    "detect_constant",
    "detect_near_detection_limit",
]

SOURCE_CONSTANT = (
    "monitoring-rules §6 恒值: the same hourly value for N consecutive operating hours "
    "(JINHHB 'fixed value' [V]; N and ε [P])"
)
SOURCE_FLAT_RANGE = (
    "monitoring-rules §6 恒值, range-relative: σ over 24 h < 2 % of F.S. (JINHHB [V]; window [P])"
)
SOURCE_NEAR_DL = (
    "monitoring-rules §6 near detection limit: p90 over the window ≤ 1.5 × detection limit "
    "(JINHHB [V]; p90, 1.5× and 7 d [P])"
)


def _same_value_runs(day: DeviceDay, hv: HourView, same: BoolArray) -> list[Detection]:
    """Events where ``same`` (hour k+1 equals hour k) holds for N − 1 steps in a row or more."""
    t = day.t
    need = t.constant_hours(day.inputs.kind)
    v = hv.judged
    out = []
    for i, j in runs(same):
        hours = j + 1 - i  # j - i equal steps join j + 1 - i hours
        if hours < need:
            continue
        out.append(
            event(
                kind="constant",
                device_id=day.device_id,
                factor=hv.factor,
                start=hv.start,
                step=HOUR,
                values=v,
                span=(i, j + 1),
                peak_index=i,
                limit=None,
                multiple=False,
                source=SOURCE_CONSTANT,
                summary=f"{hv.factor} stayed at {fmt(float(v[i]))} for {hours} consecutive hours "
                f"(rule: ≥ {need} h, |Δ| < {fmt(t.constant_epsilon)})",
                cap=t.points_cap,
            )
        )
    return out


def _window_sums(rows: FloatArray, width: int) -> FloatArray:
    """Sums over every window of ``width`` hours along the last axis (window s covers s … s+width−1)."""
    c = np.concatenate((np.zeros((rows.shape[0], 1)), np.cumsum(rows, axis=1)), axis=1)
    return np.asarray(c[:, width:] - c[:, :-width])


def _window_sigmas(views: list[HourView], ok: BoolArray, width: int) -> tuple[FloatArray, FloatArray]:
    """σ of the judged slot values in each window (combining the hours' sums) and the hours with data."""
    count = np.where(ok, np.vstack([v.count for v in views]), 0).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        total = np.where(ok, np.vstack([v.judged for v in views]) * count, 0.0)
        sumsq = np.where(ok, np.vstack([v.sumsq for v in views]), 0.0)
    n = _window_sums(count, width)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = _window_sums(total, width) / n
        sigma = np.sqrt(np.maximum(_window_sums(sumsq, width) / n - mean * mean, 0.0))
    return sigma, _window_sums(ok.astype(np.float64), width)


def _flat_range_runs(
    day: DeviceDay, hv: HourView, ok: BoolArray, sigma: FloatArray, flagged: BoolArray, full_scale: float
) -> list[Detection]:
    t = day.t
    width = t.constant_fs_window_hours
    threshold = t.constant_fs_share * full_scale
    covered = np.zeros(len(hv), dtype=np.bool_)
    for s in np.flatnonzero(flagged).tolist():
        covered[s : s + width] = True
    out = []
    for i, j in runs(covered):
        inside = np.flatnonzero(ok[i:j])
        lo, hi = i + int(inside[0]), i + int(inside[-1]) + 1  # trim to hours with data
        starts = slice(i, max(i + 1, j - width + 1))  # the flagged windows that lie in this run
        sig = float(np.max(np.where(flagged[starts], sigma[starts], -np.inf)))
        out.append(
            event(
                kind="constant",
                device_id=day.device_id,
                factor=hv.factor,
                start=hv.start,
                step=HOUR,
                values=hv.judged,
                span=(lo, hi),
                peak_index=None,
                peak=sig,
                limit=threshold,
                multiple=False,
                source=SOURCE_FLAT_RANGE,
                summary=f"{hv.factor} varied by σ ≤ {fmt(sig)} over {width} h windows, below "
                f"{fmt(t.constant_fs_share * 100)} % of its range {fmt(full_scale)} ({fmt(threshold)})",
                cap=t.points_cap,
            )
        )
    return out


def detect_constant(day: DeviceDay) -> list[Detection]:
    """'constant' events: N equal consecutive hours, and spreads below 2 % of F.S. where F.S. is known.

    Every factor of the device is judged at once as one (factors × hours) array.
    """
    t = day.t
    factors = [f for f in day.measured_factors if f not in t.constant_excluded_factors]
    views = [v for v in (day.hours(f) for f in factors) if v is not None]
    if not views or len(views[0]) < 2:
        return []
    values = np.vstack([v.judged for v in views])
    ok = np.isfinite(values) & day.operating[None, :]
    with np.errstate(invalid="ignore", over="ignore"):
        same = ok[:, 1:] & ok[:, :-1] & (np.abs(values[:, 1:] - values[:, :-1]) < t.constant_epsilon)
    out: list[Detection] = []
    for row in np.flatnonzero(same.any(axis=1)).tolist():
        out += _same_value_runs(day, views[row], same[row])
    width = t.constant_fs_window_hours
    if len(views[0]) < width:
        return out
    scales = []
    for v in views:
        limits = day.inputs.limits.get(v.factor)
        fs = None if limits is None else limits.full_scale
        scales.append(float(fs) if fs is not None and np.isfinite(fs) and fs > 0 else np.nan)
    rows = np.flatnonzero(np.isfinite(scales))
    if rows.shape[0] == 0:
        return out
    chosen = [views[r] for r in rows.tolist()]
    sigma, hours = _window_sigmas(chosen, ok[rows], width)
    ranges = np.asarray(scales)[rows]
    with np.errstate(invalid="ignore"):
        flagged = (
            (hours >= t.constant_fs_min_hours)
            & np.isfinite(sigma)
            & (sigma < t.constant_fs_share * ranges[:, None])
        )
    for k in np.flatnonzero(flagged.any(axis=1)).tolist():
        out += _flat_range_runs(day, chosen[k], ok[rows[k]], sigma[k], flagged[k], float(ranges[k]))
    return out


def _quantile(values: FloatArray, q: float) -> float:
    """Linear-interpolation quantile (numpy's default method), without numpy's per-call overhead."""
    ordered = np.sort(values)
    pos = q * (ordered.shape[0] - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, ordered.shape[0] - 1)
    with np.errstate(invalid="ignore", over="ignore"):
        return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def detect_near_detection_limit(day: DeviceDay) -> list[Detection]:
    """'near_detection_limit': the window's p90 of operating hourly values ≤ 1.5 × detection limit."""
    t = day.t
    out: list[Detection] = []
    for factor in day.concentration_factors:
        limits = day.inputs.limits.get(factor)
        dl = None if limits is None else limits.detection_limit
        if dl is None or not np.isfinite(dl) or dl <= 0:
            continue
        hv = day.hours(factor)
        if hv is None:
            continue
        ok = np.isfinite(hv.judged) & day.operating
        hours = np.flatnonzero(ok)
        if hours.shape[0] < t.near_dl_min_hours:
            continue
        quantile = _quantile(hv.judged[ok], t.near_dl_quantile)
        if quantile > t.near_dl_multiple * dl:
            continue
        pct = f"p{fmt(t.near_dl_quantile * 100)}"
        out.append(
            event(
                kind="near_detection_limit",
                device_id=day.device_id,
                factor=factor,
                start=hv.start,
                step=HOUR,
                values=hv.judged,
                span=(int(hours[0]), int(hours[-1]) + 1),
                peak_index=None,
                peak=quantile,
                limit=float(dl),
                source=SOURCE_NEAR_DL,
                summary=f"{factor}: {pct} of {hours.shape[0]} operating hours is {fmt(quantile)}, within "
                f"{fmt(t.near_dl_multiple)}× the detection limit {fmt(dl)}",
                cap=t.points_cap,
            )
        )
    return out
