"""Exceedance (超标): averages above the permit limit, pH outside its range, and what marks hid.

Theory of operation (monitoring-rules §5, EXC-01..04):

- gas: each *valid hourly converted* concentration (标干折算, the caller passes the converted series in
  ``DeviceInputs.averages``) is compared with the hour limit; waste incineration and water compare the
  valid *daily* value with the day limit. The limit follows the series' step: 1 h → ``hour_limit``,
  1 d → ``day_limit``; other steps are not judged (exceedance is a rule on averages, not on minutes);
- pH: every judged value outside ``[ph_low, ph_high]`` (either bound may be absent), from
  ``averages['w01001']`` or else the raw pH series;
- consecutive offending slots form one event with its peak and ``multiple`` = peak / limit (None for
  pH, where a multiple means nothing);
- marked slots (公告2022年第21号 marks with effect invalid/exempt) are never judged: every exceedance
  event lists the series' marked periods in ``excluded``; and marked slots whose values *would* exceed
  are reported apart as ``marked_exceedance`` (EXC-04: excluded but audited; SD-CASE: 停产 marks that hid
  night-time exceedances). Validity is not required there: marked slots are invalid by construction.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from envwatch.alarms.detectors.day import DeviceDay
from envwatch.alarms.detectors.detection import Detection, Excluded, event, fmt, mark_periods, runs
from envwatch.alarms.detectors.hourly import HOUR
from envwatch.alarms.detectors.series import BoolArray, FactorSeries, FloatArray
from envwatch.core.clock import to_china

__all__ = ["SOURCE_DAY", "SOURCE_HOUR", "SOURCE_MARKED", "SOURCE_PH", "detect_exceedance", "detect_ph"]

DAY = timedelta(days=1)
SOURCE_HOUR = (
    "EXC-01: valid hourly converted concentration vs the permit hour limit (HJ 75-2017 + permit; "
    "monitoring-rules §5, §8)"
)
SOURCE_DAY = (
    "EXC-02/EXC-03: valid daily value vs the permit day limit (HJ 356-2019 + permit; 部令 waste "
    "incineration; monitoring-rules §5, §8)"
)
SOURCE_PH = "EXC-03: pH outside the permitted range (HJ 356-2019 + permit; monitoring-rules §5)"
SOURCE_MARKED = (
    "EXC-04: marked data are excluded from exceedance but audited (生态环境部公告2022年第21号 [V]; "
    "SD-CASE [V]; monitoring-rules §5, §8)"
)


def _period(step: timedelta) -> str:
    return "hour" if step == HOUR else "day" if step == DAY else f"{step}"


def _marked_events(
    day: DeviceDay,
    series: FactorSeries,
    offending: BoolArray,
    distance: FloatArray,
    limit: float | None,
    what: str,
    multiple: bool,
) -> list[Detection]:
    """Marked slots whose values break the rule: excluded from exceedance, reported for audit."""
    out: list[Detection] = []
    for i, j in runs(offending & series.marked_mask()):
        peak_index = i + int(np.nanargmax(distance[i:j]))
        periods = tuple(mark_periods(series.marked, series.time_at, i, j))
        codes = ", ".join(sorted({p.mark for p in periods}))
        out.append(
            event(
                kind="marked_exceedance",
                device_id=day.device_id,
                factor=series.factor,
                start=series.start,
                step=series.step,
                values=series.values,
                span=(i, j),
                peak_index=peak_index,
                limit=limit,
                multiple=multiple,
                source=SOURCE_MARKED,
                summary=f"{series.factor}: {j - i} marked slot(s) ({codes}) {what} "
                f"(peak {fmt(float(series.values[peak_index]))}); excluded from exceedance, listed for audit",
                cap=day.t.points_cap,
                excluded=periods,
            )
        )
    return out


def _all_marks(series: FactorSeries) -> tuple[Excluded, ...]:
    return tuple(mark_periods(series.marked, series.time_at)) if series.has_marks() else ()


def detect_exceedance(day: DeviceDay) -> list[Detection]:
    """'exceedance' events per averages series with a limit for its period, plus 'marked_exceedance'."""
    out: list[Detection] = []
    for factor, series in day.inputs.averages.items():
        limits = day.inputs.limits.get(factor)
        if factor == day.t.ph_factor or limits is None:
            continue
        if series.step == HOUR:
            limit, source = limits.hour_limit, SOURCE_HOUR
        elif series.step == DAY:
            limit, source = limits.day_limit, SOURCE_DAY
        else:
            continue
        if limit is None or not np.isfinite(limit):
            continue
        period = _period(series.step)
        values = series.values
        with np.errstate(invalid="ignore"):
            over = np.isfinite(values) & (values > limit)
        excluded = _all_marks(series)
        for i, j in runs(over & series.judged()):
            peak_index = i + int(np.argmax(values[i:j]))
            peak = float(values[peak_index])
            times = f"{j - i} {period}(s) from {to_china(series.time_at(i)):%Y-%m-%d %H:%M} China time"
            ratio = f" ({peak / limit:.2f}× the limit)" if limit > 0 else ""
            out.append(
                event(
                    kind="exceedance",
                    device_id=day.device_id,
                    factor=factor,
                    start=series.start,
                    step=series.step,
                    values=values,
                    span=(i, j),
                    peak_index=peak_index,
                    limit=float(limit),
                    source=source,
                    summary=f"{factor} above the {period} limit {fmt(limit)} for {times}; "
                    f"peak {fmt(peak)}{ratio}",
                    cap=day.t.points_cap,
                    excluded=excluded,
                )
            )
        if series.has_marks():
            out += _marked_events(
                day, series, over, values, float(limit), f"above the {period} limit {fmt(limit)}", True
            )
    return out


def detect_ph(day: DeviceDay) -> list[Detection]:
    """'ph_out_of_range' events (and 'marked_exceedance' for marked ones) on the pH series."""
    factor = day.t.ph_factor
    series = day.inputs.averages.get(factor)
    if series is None:
        series = day.inputs.series.get(factor)
    limits = day.inputs.limits.get(factor)
    if series is None or limits is None or (limits.ph_low is None and limits.ph_high is None):
        return []
    values = series.values
    low = -np.inf if limits.ph_low is None else limits.ph_low
    high = np.inf if limits.ph_high is None else limits.ph_high
    with np.errstate(invalid="ignore", over="ignore"):
        distance = np.maximum(low - values, values - high)  # > 0 outside the range, NaN without a value
        outside = np.isfinite(values) & (distance > 0)
    bounds = f"[{fmt(limits.ph_low)}, {fmt(limits.ph_high)}]"
    excluded = _all_marks(series)
    out: list[Detection] = []
    for i, j in runs(outside & series.judged()):
        peak_index = i + int(np.argmax(distance[i:j]))
        peak = float(values[peak_index])
        crossed = limits.ph_high if limits.ph_high is not None and peak > limits.ph_high else limits.ph_low
        out.append(
            event(
                kind="ph_out_of_range",
                device_id=day.device_id,
                factor=factor,
                start=series.start,
                step=series.step,
                values=values,
                span=(i, j),
                peak_index=peak_index,
                limit=crossed,
                multiple=False,
                source=SOURCE_PH,
                summary=f"pH outside {bounds} for {j - i} slot(s) of {series.step} from "
                f"{to_china(series.time_at(i)):%Y-%m-%d %H:%M} China time; furthest value {fmt(peak)}",
                cap=day.t.points_cap,
                excluded=excluded,
            )
        )
    if series.has_marks():
        out += _marked_events(day, series, outside, distance, None, f"outside pH {bounds}", False)
    return out
