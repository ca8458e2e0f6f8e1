"""``DeviceDay``: one device's judged window, its thresholds, and the views every detector shares.

Built once per device by ``run_all`` (or by a test), it reduces each series to the hour grid on first use
(``hours``) and derives the production state the consistency rules need:

- flow ≈ 0 / running / normal per hour, from the *present* flow (valid or not: evidence); "normal" is
  relative to a typical flow: the design flow where known, else the median of the day's valid, unmarked
  hourly flows above the zero line (at least 3 hours), else "running" stands in for "normal";
- power on / off per hour from every electricity series (on: any above ``power_on_min``; off: all have
  a value and none is above; otherwise unknown);
- ``operating``: the hours not shown stopped (power off, or with power unknown flow ≈ 0). Rules stated
  "while producing" (flat line, near detection limit, zero) judge only these hours; with no power and no
  flow at all every hour counts.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from envwatch.alarms.detectors.hourly import HOUR, HourView, floor_hour, hour_view, hour_views
from envwatch.alarms.detectors.series import BoolArray, DeviceInputs, FactorSeries, FloatArray
from envwatch.alarms.detectors.thresholds import DetectorThresholds

__all__ = ["DeviceDay"]

_MIN_TYPICAL_HOURS = 3  # fewer valid flow hours than this cannot say what "typical" is


class DeviceDay:
    def __init__(self, inputs: DeviceInputs, thresholds: DetectorThresholds) -> None:
        self.inputs = inputs
        self.t = thresholds
        self.grid_start = floor_hour(inputs.start)
        self.n_hours = math.ceil((inputs.end - self.grid_start) / HOUR)
        self._views: dict[int, HourView | None] = {}

    @property
    def device_id(self) -> int:
        return self.inputs.device_id

    def view(self, series: FactorSeries) -> HourView | None:
        if not self._views:  # first use: reduce every series of the device in one batch
            every = [*self.inputs.series.values(), *self.inputs.power]
            views = hour_views(every, self.grid_start, self.n_hours, self.t.hour_min_share)
            self._views = {id(s): v for s, v in zip(every, views, strict=True)}
        key = id(series)
        if key not in self._views:
            self._views[key] = hour_view(series, self.grid_start, self.n_hours, self.t.hour_min_share)
        return self._views[key]

    def hours(self, factor: str) -> HourView | None:
        series = self.inputs.series.get(factor)
        return None if series is None else self.view(series)

    # --- which factors ------------------------------------------------------------------------------
    @cached_property
    def flow_factor(self) -> str:
        return self.t.flow_factor(self.inputs.kind)

    @cached_property
    def measured_factors(self) -> tuple[str, ...]:
        """Every raw series that is not an electricity stream."""
        return tuple(f for f in self.inputs.series if f not in self.t.power_factors)

    @cached_property
    def concentration_factors(self) -> tuple[str, ...]:
        """Pollutant concentrations and O2: not flow, not state parameters (T, P, v, humidity, pH)."""
        skip = self.t.non_concentration_factors | {self.flow_factor}
        return tuple(f for f in self.measured_factors if f not in skip)

    @cached_property
    def pollutant_factors(self) -> tuple[str, ...]:
        return tuple(f for f in self.concentration_factors if f != self.t.o2_factor)

    # --- flow ---------------------------------------------------------------------------------------
    @cached_property
    def flow_series(self) -> FactorSeries | None:
        return self.inputs.series.get(self.flow_factor)

    @cached_property
    def flow(self) -> HourView | None:
        return None if self.flow_series is None else self.view(self.flow_series)

    @cached_property
    def typical_flow(self) -> float | None:
        design = self.inputs.design_flow
        if design is not None and math.isfinite(design) and design > 0:
            return float(design)
        if self.flow is None:
            return None
        judged = self.flow.judged
        running = judged[np.isfinite(judged) & (judged > self.t.flow_zero_abs)]
        if running.shape[0] < _MIN_TYPICAL_HOURS:
            return None
        return float(np.median(running))

    @cached_property
    def flow_zero_level(self) -> float:
        """Flow at or below this is ≈ 0."""
        typical = self.typical_flow
        share = self.t.flow_zero_share * typical if typical is not None else 0.0
        return max(self.t.flow_zero_abs, share)

    @cached_property
    def flow_normal_level(self) -> float | None:
        """Flow at or above this is normal operation; None: no typical flow known (use 'running')."""
        typical = self.typical_flow
        return None if typical is None else max(self.t.flow_normal_share * typical, self.flow_zero_level)

    def flow_is_normal(self, flow: FloatArray) -> BoolArray:
        """Which of these flow values (any grid) mean normal operation; NaN is never normal."""
        with np.errstate(invalid="ignore"):
            level = self.flow_normal_level
            if level is None:
                return np.asarray(flow > self.flow_zero_level, dtype=np.bool_)
            return np.asarray(flow >= level, dtype=np.bool_)

    @cached_property
    def flow_zero(self) -> BoolArray | None:
        if self.flow is None:
            return None
        with np.errstate(invalid="ignore"):
            return np.asarray(self.flow.present <= self.flow_zero_level, dtype=np.bool_)

    @cached_property
    def flow_running(self) -> BoolArray | None:
        if self.flow is None:
            return None
        with np.errstate(invalid="ignore"):
            return np.asarray(self.flow.present > self.flow_zero_level, dtype=np.bool_)

    @cached_property
    def flow_normal(self) -> BoolArray | None:
        return None if self.flow is None else self.flow_is_normal(self.flow.present)

    # --- power --------------------------------------------------------------------------------------
    @cached_property
    def power_series(self) -> tuple[FactorSeries, ...]:
        own = tuple(s for f, s in self.inputs.series.items() if f in self.t.power_factors)
        return self.inputs.power + own

    @cached_property
    def power_state(self) -> tuple[BoolArray, BoolArray] | None:
        """(on, off) per hour; both False where unknown; None when no electricity series is given."""
        views = [v for v in (self.view(s) for s in self.power_series) if v is not None]
        if not views:
            return None
        stack = np.vstack([v.present for v in views])
        with np.errstate(invalid="ignore"):
            above = stack > self.t.power_on_min
        on = np.asarray(above.any(axis=0), dtype=np.bool_)
        off = np.asarray(np.isfinite(stack).all(axis=0) & ~on, dtype=np.bool_)
        return on, off

    @cached_property
    def power_on(self) -> BoolArray | None:
        return None if self.power_state is None else self.power_state[0]

    @cached_property
    def power_off(self) -> BoolArray | None:
        return None if self.power_state is None else self.power_state[1]

    # --- production state ---------------------------------------------------------------------------
    @cached_property
    def operating(self) -> BoolArray:
        """Hours not shown stopped: power off, or (power unknown and flow ≈ 0) is stopped."""
        stopped = np.zeros(self.n_hours, dtype=np.bool_)
        known_power = np.zeros(self.n_hours, dtype=np.bool_)
        if self.power_state is not None:
            on, off = self.power_state
            stopped |= off
            known_power = on | off
        if self.flow_zero is not None:
            stopped |= ~known_power & self.flow_zero
        return ~stopped
