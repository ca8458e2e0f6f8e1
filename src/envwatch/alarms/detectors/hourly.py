"""The judgement grid: a series reduced to hourly values (小时值) on a device's common hour grid.

Theory of operation. The reference rules are stated per hour (N consecutive hours, hour-to-hour jumps,
O2 ≥ 19 % in a gas hour, flow in an hour), while devices send minute data (CN 2051) or hour data
(CN 2061). Every series of a device is therefore reduced once onto the same grid of whole UTC hours
(China time is UTC+8, so China hours and UTC hours coincide), which also aligns series whose steps
differ (hourly power beside minute flow). Two hourly values are kept:

- ``judged``: mean of the slots a rule may judge (valid, finite, not marked); an hour with fewer than
  ``hour_min_share`` of its slots (45 of 60 minutes, HJ 75-2017 VAL-01) is NaN;
- ``present``: mean of every finite slot, valid or not, marked or not, with the same minimum. It is
  the *evidence* of operation (flow, power): a 停运 mark or an F flag over normal flow is exactly what
  the consistency rules look for, so these slots must not be dropped there.

A series with a step longer than an hour (daily values) has no hour view. Instantaneous rules (over
range, marks over flow) work on the raw slots instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from envwatch.alarms.detectors.series import BoolArray, FactorSeries, FloatArray

__all__ = ["HOUR", "HourView", "floor_hour", "hour_view", "hour_views"]

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, eq=False)
class HourView:
    factor: str
    start: datetime  # the grid's first hour
    judged: FloatArray  # mean of valid, unmarked, finite slots; NaN below the minimum share
    count: npt.NDArray[np.int64]  # judged slots per hour
    sumsq: FloatArray  # Σ x² of the judged slots per hour (for spreads over several hours)
    present: FloatArray  # mean of every finite slot; NaN below the minimum share
    stop_flagged: BoolArray  # most slots of the hour carry flag F (source or instrument stopped)

    def __len__(self) -> int:
        return int(self.judged.shape[0])

    def time_at(self, index: int) -> datetime:
        return self.start + HOUR * index


def _bins(series: FactorSeries, grid_start: datetime, n_hours: int) -> npt.NDArray[np.int64]:
    """Hour index of every slot of ``series`` on the grid; −1 outside it."""
    step_s = series.step.total_seconds()
    offset_s = (series.start - grid_start).total_seconds()
    seconds = offset_s + step_s * np.arange(len(series), dtype=np.float64)
    bins = np.floor_divide(seconds, 3600.0).astype(np.int64)
    bins[(bins < 0) | (bins >= n_hours)] = -1
    return bins


def _per_hour(rows: FloatArray, bins: npt.NDArray[np.int64] | None, n_hours: int) -> FloatArray:
    """Sum per hour of each row; ``bins`` None: the row's slots fill the hours in order, equally."""
    if bins is None:
        return np.asarray(rows.reshape(rows.shape[0], n_hours, -1).sum(axis=2), dtype=np.float64)
    inside = bins >= 0
    return np.vstack(
        [np.bincount(bins[inside], weights=row[inside], minlength=n_hours) for row in rows]
    ).astype(np.float64)


def _views(
    group: list[FactorSeries],
    bins: npt.NDArray[np.int64] | None,
    grid_start: datetime,
    n_hours: int,
    min_share: float,
) -> list[HourView]:
    """Hour views of series that share one slot layout (same step, start and length), all at once."""
    per = 3600.0 / group[0].step.total_seconds()
    values = np.vstack([s.values for s in group])
    finite = np.isfinite(values)
    judged_mask = np.vstack([s.valid for s in group]) & finite
    for row, s in enumerate(group):
        if s.has_marks():
            judged_mask[row] &= ~s.marked_mask()
    zeros = np.where(finite, values, 0.0)
    judged_values = np.where(judged_mask, zeros, 0.0)
    count = _per_hour(judged_mask.astype(np.float64), bins, n_hours)
    need = max(1, math.ceil(min_share * per - 1e-9))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        total = _per_hour(judged_values, bins, n_hours)
        sumsq = _per_hour(judged_values * judged_values, bins, n_hours)
        present_count = _per_hour(finite.astype(np.float64), bins, n_hours)
        present_total = _per_hour(zeros, bins, n_hours)
        judged = np.where(count >= need, total / np.maximum(count, 1.0), np.nan)
        present = np.where(present_count >= need, present_total / np.maximum(present_count, 1.0), np.nan)
    # sums of huge finite values may overflow to inf: such an hour has no usable value
    judged[~np.isfinite(judged)] = np.nan
    present[~np.isfinite(present)] = np.nan
    counts = count.astype(np.int64)
    out = []
    for row, s in enumerate(group):
        if "F" in s.flag_set:
            flagged = s.flag_mask("F").astype(np.float64)[None, :]
            stopped = _per_hour(flagged, bins, n_hours)[0] * 2 > per
        else:
            stopped = np.zeros(n_hours, dtype=np.bool_)
        out.append(
            HourView(
                factor=s.factor,
                start=grid_start,
                judged=judged[row],
                count=counts[row],
                sumsq=sumsq[row],
                present=present[row],
                stop_flagged=stopped,
            )
        )
    return out


def hour_views(
    series: list[FactorSeries], grid_start: datetime, n_hours: int, min_share: float
) -> list[HourView | None]:
    """Each series on the hour grid ``[grid_start, grid_start + n_hours h)``; None for steps over 1 h.

    Series that fill the grid exactly with the same step (a CEMS's minute series) are reduced together
    as one 2-D array: one device's day costs a handful of numpy calls, not a handful per factor.
    """
    out: list[HourView | None] = [None] * len(series)
    if n_hours <= 0:
        return out
    aligned: dict[timedelta, list[int]] = {}
    for k, s in enumerate(series):
        if s.step > HOUR:
            continue
        per = 3600.0 / s.step.total_seconds()
        if s.start == grid_start and per.is_integer() and len(s) == n_hours * int(per):
            aligned.setdefault(s.step, []).append(k)
        else:
            out[k] = _views([s], _bins(s, grid_start, n_hours), grid_start, n_hours, min_share)[0]
    for ks in aligned.values():
        views = _views([series[k] for k in ks], None, grid_start, n_hours, min_share)
        for k, view in zip(ks, views, strict=True):
            out[k] = view
    return out


def hour_view(series: FactorSeries, grid_start: datetime, n_hours: int, min_share: float) -> HourView | None:
    """One series on the hour grid; None for steps over 1 h."""
    return hour_views([series], grid_start, n_hours, min_share)[0]
