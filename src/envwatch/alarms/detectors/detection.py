"""What a detector reports: one ``Detection`` per event (一次超标/异常), and the helpers that build it.

Consecutive offending slots form one event: ``runs`` turns a boolean mask into ``[start, stop)`` index
pairs, and ``event`` turns one pair into a ``Detection`` with its peak and the values behind it (capped,
the peak always kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np

from envwatch.alarms.detectors.series import BoolArray, FloatArray

__all__ = ["Detection", "Excluded", "Point", "cap_points", "event", "fmt", "mark_periods", "runs"]


class Point(NamedTuple):
    time: datetime  # start of the slot (or hour) the value belongs to
    value: float


class Excluded(NamedTuple):
    start: datetime
    end: datetime  # exclusive
    mark: str  # the mark code that took the period out of judgement


@dataclass(frozen=True)
class Detection:
    kind: str  # stable code, one of thresholds.KINDS
    device_id: int
    factor: str  # '' when not about one factor
    start: datetime  # aware UTC
    end: datetime  # aware UTC, exclusive
    peak: float | None
    limit: float | None
    multiple: float | None  # peak / limit where meaningful
    source: str  # the clause or reference the rule comes from
    summary: str  # short English sentence with the numbers
    points: tuple[Point, ...] = ()
    excluded: tuple[Excluded, ...] = ()


def runs(mask: BoolArray) -> list[tuple[int, int]]:
    """``[start, stop)`` index pairs of the runs of True in ``mask``."""
    if not mask.any():
        return []
    edges = np.diff(mask.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1).tolist()
    stops = np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, stops, strict=True))


def fmt(value: float | None) -> str:
    """A number for a summary: up to 4 significant digits, no exponent for everyday sizes."""
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def cap_points(indices: list[int], keep: int, cap: int) -> list[int]:
    """At most ``cap`` indices in time order: the first ones, and always ``keep`` (the peak)."""
    if len(indices) <= cap:
        return indices
    first = indices[:cap]
    if keep in first or keep not in indices:
        return first
    return [*indices[: cap - 1], keep]


def mark_periods(
    marked: tuple[str | None, ...], time_at: Callable[[int], datetime], lo: int = 0, hi: int | None = None
) -> list[Excluded]:
    """Runs of one mark code over slots ``[lo, hi)`` as ``Excluded`` periods."""
    out: list[Excluded] = []
    hi = len(marked) if hi is None else hi
    i = lo
    while i < hi:
        code = marked[i]
        if code is None:
            i += 1
            continue
        j = i + 1
        while j < hi and marked[j] == code:
            j += 1
        out.append(Excluded(time_at(i), time_at(j), code))
        i = j
    return out


def event(
    *,
    kind: str,
    device_id: int,
    factor: str,
    start: datetime,
    step: timedelta,
    values: FloatArray,
    span: tuple[int, int],
    peak_index: int | None,
    limit: float | None,
    source: str,
    summary: str,
    cap: int,
    peak: float | None = None,
    multiple: bool = True,
    excluded: tuple[Excluded, ...] = (),
) -> Detection:
    """A ``Detection`` over slots ``span`` of a grid (``start`` + i × ``step``).

    ``peak`` defaults to the value at ``peak_index``; ``multiple`` = peak / limit when asked and the limit
    is positive.
    """
    i, j = span
    if peak is None and peak_index is not None and np.isfinite(values[peak_index]):
        peak = float(values[peak_index])
    ratio = peak / limit if multiple and peak is not None and limit is not None and limit > 0 else None
    ratio = ratio if ratio is not None and np.isfinite(ratio) else None
    chosen = [k for k in range(i, j) if np.isfinite(values[k])]
    chosen = cap_points(chosen, peak_index if peak_index is not None else i, cap)
    points = tuple(Point(start + step * k, float(values[k])) for k in chosen)
    return Detection(
        kind=kind,
        device_id=device_id,
        factor=factor,
        start=start + step * i,
        end=start + step * j,
        peak=peak,
        limit=limit,
        multiple=ratio,
        source=source,
        summary=summary,
        points=points,
        excluded=excluded,
    )
