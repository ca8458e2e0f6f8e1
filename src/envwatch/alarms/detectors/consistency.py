"""Consistency between streams: O2 dilution, flow vs concentration and power, production vs emissions,
and 停运/停产 marks over normal flow (产治排 / 工况 cross-checks).

Theory of operation (monitoring-rules §6 and MARK-04), all on the hour grid except the marks:

- o2_dilution (CONV-03): hourly O2 ≥ 19 % while the flow is normal and, where power is given, the
  equipment runs. Without flow and power there is no telling a stop from dilution: not judged;
- flow_inconsistent (flow vs load and concentration; CFR Part 75 App B flow-to-load analogue):
  (a) flow running while every power series is off, or flow ≈ 0 while power is on (power optional);
  (b) a pollutant sent as valid, unmarked data while the flow is ≈ 0 (a stopped source should send F
  or be marked). O2 is left out of (b): it reads ambient air at a stop;
- power_inconsistent (production vs emissions): power on while every pollutant shows stop (flag F) or
  zero; and, only where no flow series exists (otherwise (a) already says it), power off while a
  pollutant shows emissions above zero;
- shutdown_mark_with_flow (MARK-04, SD-CASE): flow slots under a stop mark (停运/停产 codes) whose raw
  flow is normal, judged on the flow series' own slots and marks (device-level marks reach every
  factor). "Normal" is relative to the typical flow (design flow, else the day's median valid flow).
"""

from __future__ import annotations

import numpy as np

from envwatch.alarms.detectors.day import DeviceDay
from envwatch.alarms.detectors.detection import Detection, event, fmt, mark_periods, runs
from envwatch.alarms.detectors.hourly import HOUR, HourView
from envwatch.alarms.detectors.series import BoolArray, FloatArray
from envwatch.core.clock import to_china

__all__ = [
    "SOURCE_FLOW",
    "SOURCE_O2",
    "SOURCE_POWER",
    "SOURCE_SHUTDOWN_MARK",
    "detect_flow_inconsistent",
    "detect_o2_dilution",
    "detect_power_inconsistent",
    "detect_shutdown_mark_with_flow",
]

SOURCE_O2 = (
    "monitoring-rules §6 O2 dilution, CONV-03: O2 ≥ 19 % while flow is normal and the source produces "
    "(40 CFR 75 App F diluent cap [S]; HENAN [V]; 19 % [P])"
)
SOURCE_FLOW = (
    "monitoring-rules §6 flow vs concentration and load (40 CFR 75 App B §2.2.5 flow-to-load analogue [S]; "
    "thresholds [P])"
)
SOURCE_POWER = (
    "monitoring-rules §6 production vs emissions: electricity use shows operation while the CEMS shows "
    "stop or zero, or the reverse [P]"
)
SOURCE_SHUTDOWN_MARK = (
    "monitoring-rules §6 mark abuse, MARK-04: 停运/停产 mark over hours with normal flow (SD-CASE [V]; "
    "share of typical flow [P])"
)


def _hour_events(
    day: DeviceDay,
    *,
    kind: str,
    factor: str,
    mask: BoolArray,
    values: FloatArray,
    highest: bool,
    limit: float | None,
    source: str,
    says: str,
) -> list[Detection]:
    """One event per run of ``mask`` on the hour grid; the peak is the highest (or lowest) value."""
    out = []
    for i, j in runs(mask):
        part = values[i:j]
        finite = np.isfinite(part)
        if finite.any():
            pick = np.where(finite, part, -np.inf if highest else np.inf)
            peak_index: int | None = i + int(np.argmax(pick) if highest else np.argmin(pick))
        else:
            peak_index = None
        peak_text = (
            f"; {'peak' if highest else 'lowest'} {fmt(float(values[peak_index]))}"
            if peak_index is not None
            else ""
        )
        out.append(
            event(
                kind=kind,
                device_id=day.device_id,
                factor=factor,
                start=day.grid_start,
                step=HOUR,
                values=values,
                span=(i, j),
                peak_index=peak_index,
                limit=limit,
                multiple=False,
                source=source,
                summary=f"{says} for {j - i} hour(s) from {to_china(day.grid_start + HOUR * i):%Y-%m-%d %H:%M} China time{peak_text}",
                cap=day.t.points_cap,
            )
        )
    return out


def detect_o2_dilution(day: DeviceDay) -> list[Detection]:
    """'o2_dilution': hourly O2 ≥ the threshold while flow is normal (and power on, where given)."""
    t = day.t
    o2 = day.hours(t.o2_factor)
    if o2 is None or day.inputs.kind != "gas" or (day.flow_normal is None and day.power_on is None):
        return []
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(o2.judged) & (o2.judged >= t.o2_dilution_percent)
    if day.flow_normal is not None:
        mask &= day.flow_normal
    if day.power_on is not None:
        mask &= day.power_on
    evidence = "flow normal" + (" and power on" if day.power_on is not None else "")
    return _hour_events(
        day,
        kind="o2_dilution",
        factor=t.o2_factor,
        mask=mask,
        values=o2.judged,
        highest=True,
        limit=t.o2_dilution_percent,
        source=SOURCE_O2,
        says=f"O2 at or above {fmt(t.o2_dilution_percent)} % with {evidence}",
    )


def detect_flow_inconsistent(day: DeviceDay) -> list[Detection]:
    """'flow_inconsistent': flow vs power (both ways) and valid concentrations while flow ≈ 0."""
    flow = day.flow
    if flow is None or day.flow_zero is None or day.flow_running is None:
        return []
    level = day.flow_zero_level
    out: list[Detection] = []
    if day.power_on is not None and day.power_off is not None:
        out += _hour_events(
            day,
            factor=flow.factor,
            mask=day.flow_running & day.power_off,
            values=flow.present,
            highest=True,
            says=f"{flow.factor} above {fmt(level)} while every power series is off",
            kind="flow_inconsistent",
            source=SOURCE_FLOW,
            limit=level,
        )
        out += _hour_events(
            day,
            factor=flow.factor,
            mask=day.flow_zero & day.power_on,
            values=flow.present,
            highest=False,
            says=f"{flow.factor} ≈ 0 (≤ {fmt(level)}) while power shows the equipment running",
            kind="flow_inconsistent",
            source=SOURCE_FLOW,
            limit=level,
        )
    for factor in day.pollutant_factors:
        hv = day.hours(factor)
        if hv is None:
            continue
        out += _hour_events(
            day,
            factor=factor,
            mask=np.isfinite(hv.judged) & day.flow_zero,
            values=hv.judged,
            highest=True,
            says=f"{factor} sent as valid data while {flow.factor} ≈ 0 (≤ {fmt(level)})",
            kind="flow_inconsistent",
            source=SOURCE_FLOW,
            limit=level,
        )
    return out


def _cems_state(day: DeviceDay, views: list[HourView]) -> tuple[BoolArray, BoolArray]:
    """(stopped, emitting) per hour from the pollutant views."""
    present = np.vstack([v.present for v in views])
    judged = np.vstack([v.judged for v in views])
    flagged = np.vstack([v.stop_flagged for v in views])
    with np.errstate(invalid="ignore"):
        zero = np.isfinite(present) & (present <= day.t.zero_max)
        emitting = np.asarray((np.isfinite(judged) & (judged > day.t.zero_max)).any(axis=0), dtype=np.bool_)
    stopped = np.asarray((flagged | zero).all(axis=0), dtype=np.bool_)
    return stopped, emitting


def detect_power_inconsistent(day: DeviceDay) -> list[Detection]:
    """'power_inconsistent': power on while the CEMS shows stop/zero; power off while it shows emissions."""
    if day.power_on is None or day.power_off is None:
        return []
    views = [v for v in (day.hours(f) for f in day.pollutant_factors) if v is not None]
    if not views:
        return []
    stopped, emitting = _cems_state(day, views)
    power_views = [v for v in (day.view(s) for s in day.power_series) if v is not None]
    power = np.vstack([v.present for v in power_views])
    # the hour's total electricity use (NaN only where no series has a value)
    with np.errstate(invalid="ignore", over="ignore"):
        total = np.where(np.isfinite(power).any(axis=0), np.nansum(power, axis=0), np.nan)
    names = ", ".join(v.factor for v in views)
    out = _hour_events(
        day,
        mask=day.power_on & stopped,
        highest=True,
        limit=day.t.power_on_min,
        says=f"power on (> {fmt(day.t.power_on_min)}) while every pollutant ({names}) shows stop (F) or zero",
        kind="power_inconsistent",
        factor="",
        source=SOURCE_POWER,
        values=total,
    )
    if day.flow is None:
        out += _hour_events(
            day,
            mask=day.power_off & emitting,
            highest=True,
            limit=day.t.power_on_min,
            says=f"power off while a pollutant ({names}) shows emissions above {fmt(day.t.zero_max)}",
            kind="power_inconsistent",
            factor="",
            source=SOURCE_POWER,
            values=total,
        )
    return out


def detect_shutdown_mark_with_flow(day: DeviceDay) -> list[Detection]:
    """'shutdown_mark_with_flow': flow slots under a 停运/停产 mark whose flow is normal."""
    series = day.flow_series
    if series is None or not series.has_marks():
        return []
    codes = day.t.shutdown_mark_codes
    stop = np.fromiter((m in codes for m in series.marked), dtype=np.bool_, count=len(series))
    if not stop.any():
        return []
    mask = stop & day.flow_is_normal(series.values)
    level = day.flow_normal_level
    shown = level if level is not None else day.flow_zero_level
    rule = f"≥ {fmt(level)}" if level is not None else f"> {fmt(day.flow_zero_level)}"
    out = []
    for i, j in runs(mask):
        peak_index = i + int(np.argmax(series.values[i:j]))
        periods = tuple(mark_periods(series.marked, series.time_at, i, j))
        marks = ", ".join(sorted({p.mark for p in periods}))
        out.append(
            event(
                kind="shutdown_mark_with_flow",
                device_id=day.device_id,
                factor=series.factor,
                start=series.start,
                step=series.step,
                values=series.values,
                span=(i, j),
                peak_index=peak_index,
                limit=shown,
                multiple=False,
                source=SOURCE_SHUTDOWN_MARK,
                summary=f"{series.factor} normal ({rule}) under a stop mark ({marks}) for {j - i} slot(s) of "
                f"{series.step} from {to_china(series.time_at(i)):%Y-%m-%d %H:%M} China time; peak "
                f"{fmt(float(series.values[peak_index]))}",
                cap=day.t.points_cap,
                excluded=periods,
            )
        )
    return out
