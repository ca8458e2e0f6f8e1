"""Builders for hand-made detector inputs: a day starting at 00:00 China time, hourly by default."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from envwatch.alarms.detectors import DetectorThresholds, DeviceDay, DeviceInputs, FactorLimits, FactorSeries
from envwatch.alarms.detectors.series import DeviceKind, ParameterReading

T0 = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)  # 2026-07-02 00:00 China time
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
NAN = float("nan")


def at(hour: float) -> datetime:
    return T0 + HOUR * hour


def series(
    factor: str,
    values: Sequence[float] | np.ndarray,
    *,
    step: timedelta = HOUR,
    start: datetime = T0,
    kind: DeviceKind = "gas",
    valid: Sequence[bool] | None = None,
    flags: Sequence[str | None] = (),
    marked: Sequence[str | None] = (),
) -> FactorSeries:
    return FactorSeries.of(1, factor, kind, start, step, values, valid=valid, flags=flags, marked=marked)


def minutes_from_hours(hourly: Sequence[float], jitter: float = 0.0) -> np.ndarray:
    """60 minutes per hourly value; with jitter, ±jitter alternating (the hourly mean stays exact)."""
    out = np.repeat(np.asarray(hourly, dtype=np.float64), 60)
    if jitter:
        out = out + jitter * np.tile([1.0, -1.0], out.shape[0] // 2)
    return out


def distinct(n: int, base: float = 10.0, spread: float = 3.0) -> list[float]:
    """n hourly values that never repeat and never jump: a gentle deterministic wave."""
    return [base + spread * float(np.sin(0.7 * h)) + 0.01 * h for h in range(n)]


def day(
    *,
    series_: Sequence[FactorSeries] = (),
    averages: Sequence[FactorSeries] = (),
    limits: Mapping[str, FactorLimits] | None = None,
    power: Sequence[FactorSeries] = (),
    kind: DeviceKind = "gas",
    hours: int = 24,
    thresholds: DetectorThresholds | None = None,
    design_flow: float | None = None,
    registered: Mapping[str, Mapping[str, float | str]] | None = None,
    reported: Sequence[ParameterReading] = (),
) -> DeviceDay:
    inputs = device_inputs(
        series_=series_,
        averages=averages,
        limits=limits,
        power=power,
        kind=kind,
        hours=hours,
        design_flow=design_flow,
        registered=registered,
        reported=reported,
    )
    return DeviceDay(inputs, thresholds or DetectorThresholds())


def device_inputs(**kw: Any) -> DeviceInputs:
    return DeviceInputs(
        device_id=1,
        kind=kw.get("kind", "gas"),
        start=T0,
        end=T0 + HOUR * kw.get("hours", 24),
        series={s.factor: s for s in kw.get("series_", ())},
        averages={s.factor: s for s in kw.get("averages", ())},
        limits=dict(kw.get("limits") or {}),
        power=tuple(kw.get("power", ())),
        design_flow=kw.get("design_flow"),
        registered_parameters=dict(kw.get("registered") or {}),
        reported_parameters=tuple(kw.get("reported", ())),
    )
