"""What the detectors read: one factor's series, its limits, and one device's day (设备日数据).

A ``FactorSeries`` is a regular grid: slot ``i`` covers ``[start + i*step, start + (i+1)*step)``. NaN
(or ±inf) means no value. ``valid`` is the validity the monitoring layer already decided (flags, marks,
minimum counts); ``flags`` are the HJ 212 data flags as sent; ``marked`` the code of a mark in force over
the slot (``None``: no mark). Map only marks that take a slot out of judgement (effect invalid/exempt);
information-only marks stay off. An empty ``flags`` or ``marked`` tuple means "none at all" (cheap for
the common case).

``DeviceInputs`` carries everything about one device for one judged window (usually a China day):
raw series (minute or hour data) for the anomaly detectors, the averages that exceedance is judged on
(gas: valid hourly *converted* concentrations; water: valid daily values; pH: hourly or daily), limits
per factor, production power, design flow and instrument parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "BoolArray",
    "DeviceInputs",
    "DeviceKind",
    "FactorLimits",
    "FactorSeries",
    "FloatArray",
    "ParameterReading",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
DeviceKind = Literal["gas", "water"]


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: detectors take aware UTC times")
    return moment.astimezone(UTC)


@dataclass(frozen=True, eq=False)
class FactorSeries:
    """One factor of one device on a regular time grid (minute, hour or day)."""

    device_id: int
    factor: str  # HJ 212 code: a21026 SO2, a00000 flow, a19001 O2, w01001 pH …
    kind: DeviceKind
    start: datetime  # aware; normalised to UTC; the first slot's start
    step: timedelta  # 1 min, 1 h or 1 d (any positive step works)
    values: FloatArray  # NaN / ±inf: no value
    valid: BoolArray  # the value counts as valid per the validity rules
    flags: tuple[str | None, ...] = ()  # HJ 212 data flags (N, F, M, S, D, C, T, B …) as sent; () = none
    marked: tuple[str | None, ...] = ()  # mark code in force over the slot; () = no marks at all

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        valid = np.asarray(self.valid, dtype=np.bool_)
        n = values.shape[0] if values.ndim == 1 else -1
        if values.ndim != 1 or valid.shape != values.shape:
            raise ValueError(f"{self.factor}: values and valid must be 1-D arrays of one length")
        for name, seq in (("flags", self.flags), ("marked", self.marked)):
            if len(seq) not in (0, n):
                raise ValueError(f"{self.factor}: {name} has {len(seq)} entries for {n} values")
        if self.step <= timedelta(0):
            raise ValueError(f"{self.factor}: step must be positive")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "valid", valid)
        object.__setattr__(self, "start", _utc(self.start))

    @classmethod
    def of(
        cls,
        device_id: int,
        factor: str,
        kind: DeviceKind,
        start: datetime,
        step: timedelta,
        values: Sequence[float] | FloatArray,
        *,
        valid: Sequence[bool] | BoolArray | None = None,
        flags: Sequence[str | None] = (),
        marked: Sequence[str | None] = (),
    ) -> FactorSeries:
        """Build a series; ``valid`` defaults to "every finite value is valid"."""
        array = np.asarray(values, dtype=np.float64)
        mask = np.isfinite(array) if valid is None else np.asarray(valid, dtype=np.bool_)
        return cls(device_id, factor, kind, start, step, array, mask, tuple(flags), tuple(marked))

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def end(self) -> datetime:
        """End of the last slot (exclusive)."""
        return self.start + self.step * len(self)

    def time_at(self, index: int) -> datetime:
        return self.start + self.step * index

    def has_marks(self) -> bool:
        return bool(self.marked) and self.marked.count(None) != len(self.marked)

    def marked_mask(self) -> BoolArray:
        if not self.has_marks():
            return np.zeros(len(self), dtype=np.bool_)
        return np.fromiter((m is not None for m in self.marked), dtype=np.bool_, count=len(self))

    @cached_property
    def flag_set(self) -> frozenset[str | None]:
        """The distinct flags sent (one C-level pass; most series hold only N)."""
        return frozenset(self.flags)

    def flag_mask(self, flag: str) -> BoolArray:
        """Slots sent with this HJ 212 data flag."""
        if flag not in self.flag_set:
            return np.zeros(len(self), dtype=np.bool_)
        return np.fromiter((f == flag for f in self.flags), dtype=np.bool_, count=len(self))

    def judged(self) -> BoolArray:
        """Slots a rule may judge: valid, finite and not marked."""
        mask = self.valid & np.isfinite(self.values)
        if self.has_marks():
            mask &= ~self.marked_mask()
        return mask


@dataclass(frozen=True)
class FactorLimits:
    """Limits and instrument facts of one factor (registry ``emission_limits`` / ``device_factors``)."""

    hour_limit: float | None = None  # 小时均值限值, converted concentration for gas
    day_limit: float | None = None  # 日均值限值
    ph_low: float | None = None
    ph_high: float | None = None
    detection_limit: float | None = None  # 检出限
    full_scale: float | None = None  # 量程上限 (F.S.)


class ParameterReading(NamedTuple):
    """One instrument parameter as the device reported it (CN 3020 ``i13xxx``, a PolId's Info)."""

    time: datetime  # aware UTC
    factor: str  # the PolId the parameter belongs to ('' for the data logger itself)
    code: str  # e.g. i13001 range, i13007 intercept, i13008 slope
    value: float | str


@dataclass(frozen=True)
class DeviceInputs:
    """One device's judged window (usually one day) and everything the detectors compare it with."""

    device_id: int
    kind: DeviceKind
    start: datetime  # aware; the judged window [start, end)
    end: datetime
    series: Mapping[str, FactorSeries] = field(default_factory=dict)  # raw minute/hour data by factor
    averages: Mapping[str, FactorSeries] = field(default_factory=dict)  # exceedance basis by factor
    limits: Mapping[str, FactorLimits] = field(default_factory=dict)
    power: tuple[FactorSeries, ...] = ()  # production/treatment electricity (用电), any of them
    design_flow: float | None = None  # 设计流量, same unit as the flow factor; None: learn from the day
    registered_parameters: Mapping[str, Mapping[str, float | str]] = field(default_factory=dict)
    reported_parameters: tuple[ParameterReading, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "end", _utc(self.end))
        if self.end <= self.start:
            raise ValueError("DeviceInputs: end must be after start")
