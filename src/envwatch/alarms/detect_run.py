"""Running the detectors on the store: one device's judged China day in, alarms out.

Theory of operation
-------------------
The detectors (``alarms.detectors``) are pure functions over arrays. This module is the bridge:

1. **Inputs from the store** (:func:`device_inputs`): the device's judged hours of the day, exactly as the
   device pages and the rates see them (``monitoring.hourly_view``: flags, marks, validity, 折算浓度), one
   hourly series per factor; the exceedance basis per factor (gas: the converted concentration when the
   limit names a reference O2, as the regional overview does; water: the day values, flow-weighted, from
   ``daily_view``); the limits in force that day (``emission_limits``) and the instruments' detection limit
   and range (``device_factors``); the mark code in force over each hour.
2. **Detections to alarms** (:func:`raise_detections`): each detection is one ``raise_alarm`` (opened, or a
   repeat of the open alarm of that device, kind and factor), with the values behind it and the marked
   periods that were left out, so that every alarm links to the data that raised it.

The hourly grid is the one the national rules judge on (HJ 75 / HJ 356: hourly means, daily values); the
thresholds of ``monitoring-rules`` §6 are hourly too. Instrument parameters come from the device's CN 3020
frames of the day and the registry's instrument facts (``alarms.site_info``).

A window is judged once it is over; running the same day again repeats the open alarms (their count grows),
so the loop keeps the last day it judged per process and the CLI is meant for one-off runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select

from envwatch.alarms.detectors import Detection, DetectorThresholds, DeviceInputs, FactorLimits, run_all
from envwatch.alarms.detectors.series import FactorSeries
from envwatch.alarms.site_info import registered_parameters, reported_parameters
from envwatch.alarms.store import Raised, raise_alarm
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.monitoring.daily_view import days_from_views
from envwatch.monitoring.day_counts import day_start
from envwatch.monitoring.hourly_view import HourView, device_record, judge_hours, read_device_data
from envwatch.monitoring.marking import MarkSpan
from envwatch.monitoring.validity import Outcome
from envwatch.registry.schema import device_factors, devices
from envwatch.registry.service_limits import limits_in_force_at

HOUR = timedelta(hours=1)
NAN = float("nan")


def _float(value: Decimal | None) -> float:
    return NAN if value is None else float(value)


def _mark_code(marks: Sequence[MarkSpan], factor: str, start: datetime) -> str | None:
    for mark in marks:
        if mark.covers(factor, start, start + HOUR):
            return mark.code
    return None


def _series(
    device_id: int, kind: str, factor: str, views: Sequence[HourView], marks: Sequence[MarkSpan]
) -> Any:
    return FactorSeries.of(
        device_id,
        factor,
        "water" if kind == "water" else "gas",
        views[0].start,
        HOUR,
        [_float(v.standard_dry if v.standard_dry is not None else v.value) for v in views],
        valid=[v.outcome is Outcome.VALID for v in views],
        flags=[v.flag for v in views],
        marked=[_mark_code(marks, factor, v.start) for v in views] if marks else (),
    )


def _limits(conn: Connection, device_id: int, outlet_id: int | None, day: date) -> dict[str, FactorLimits]:
    """The limits in force on ``day`` and the instruments' facts, by factor."""
    rows = limits_in_force_at(conn, [outlet_id], day).get(outlet_id, []) if outlet_id is not None else []
    f = device_factors.c
    instruments = {
        r.factor: r
        for r in conn.execute(
            select(f.factor, f.detection_limit, f.range_high).where(f.device_id == device_id)
        )
    }
    out: dict[str, FactorLimits] = {}
    for factor in {*(r["factor"] for r in rows), *instruments}:
        limit = next((r for r in rows if r["factor"] == factor), None)
        instrument = instruments.get(factor)

        def num(value: Decimal | None) -> float | None:
            return None if value is None else float(value)

        out[factor] = FactorLimits(
            hour_limit=num(limit["hour_limit"]) if limit else None,
            day_limit=num(limit["day_limit"]) if limit else None,
            ph_low=num(limit["ph_low"]) if limit else None,
            ph_high=num(limit["ph_high"]) if limit else None,
            detection_limit=num(instrument.detection_limit) if instrument else None,
            full_scale=num(instrument.range_high) if instrument else None,
        )
    return out


def device_inputs(
    conn: Connection,
    settings: Settings,
    device_id: int,
    day: date,
    now: datetime,
    thresholds: DetectorThresholds,
) -> DeviceInputs | None:
    """One device's China ``day`` for the detectors; None when it has no hour data that day."""
    start, end = day_start(day), day_start(day + timedelta(days=1))
    device = device_record(conn, device_id)
    data = read_device_data(conn, settings, device, start, end, cross_checks=False)
    factors = sorted({code for fields in data.hours.values() for code in fields} | set(data.bases))
    if not data.hours and not data.minutes:
        return None
    limits = _limits(conn, device_id, device.outlet_id, day)
    views = {factor: judge_hours(data, settings, factor) for factor in factors}
    series = {f: _series(device_id, device.kind, f, v, data.marks) for f, v in views.items() if v}
    averages: dict[str, FactorSeries] = {}
    flow = thresholds.water_flow_factor
    for factor, hours in views.items():
        limit = limits.get(factor)
        if not hours or limit is None:
            continue
        if device.kind == "gas" and limit.hour_limit is not None:
            averages[factor] = _converted(device_id, factor, hours, series[factor])
        elif device.kind == "water" and limit.day_limit is not None:
            flows = {v.start: v for v in views.get(flow, [])} or None
            days = days_from_views(conn, settings, device_id, factor, hours, flows, day, day, now)
            averages[factor] = FactorSeries.of(
                device_id,
                factor,
                "water",
                start,
                timedelta(days=1),
                [_float(d["value"]) for d in days],
                valid=[d["outcome"] == "valid" for d in days],
                marked=[_mark_code(data.marks, factor, start)] if data.marks else (),
            )
    return DeviceInputs(
        device_id=device_id,
        kind="water" if device.kind == "water" else "gas",
        start=start,
        end=end,
        series=series,
        averages=averages,
        limits=limits,
        registered_parameters=registered_parameters(conn, device_id),
        reported_parameters=tuple(reported_parameters(conn, device_id, start, end)),
    )


def _converted(device_id: int, factor: str, hours: Sequence[HourView], plain: FactorSeries) -> FactorSeries:
    """The hour values an hour limit is judged on: 折算浓度 where the hour has one, else the value."""
    values = [
        _float(v.converted.value)
        if v.converted is not None and v.converted.value is not None
        else plain.values[i]
        for i, v in enumerate(hours)
    ]
    return FactorSeries.of(
        device_id,
        factor,
        plain.kind,
        plain.start,
        HOUR,
        values,
        valid=plain.valid,
        flags=plain.flags,
        marked=plain.marked,
    )


def _text(value: float | None, places: str = "0.001") -> str | None:
    if value is None or not math.isfinite(value):
        return None
    # fixed-point text without trailing zeros: 150, 0.5, 12.345 (normalize() alone would give 1.5E+2)
    return format(Decimal(repr(value)).quantize(Decimal(places), ROUND_HALF_UP).normalize(), "f")


def to_raised(d: Detection) -> Raised:
    """A detection as the alarm store takes it, with the values behind it and what was left out."""
    multiple = None
    if d.peak is not None and d.limit is not None and d.limit > 0 and d.kind == "exceedance":
        # 超标倍数 as the regional overview and enforcement count it: (value − limit) / limit
        multiple = _text((d.peak - d.limit) / d.limit, "0.01")
    return Raised(
        device_id=d.device_id,
        kind=d.kind,
        factor=d.factor,
        started_at=d.start,
        ended_at=d.end,
        source=d.source,
        summary=d.summary,
        peak=_text(d.peak),
        limit_value=_text(d.limit),
        multiple=multiple,
        data={
            "points": [[p.time.isoformat(), p.value] for p in d.points if math.isfinite(p.value)],
            "excluded": [[e.start.isoformat(), e.end.isoformat(), e.mark] for e in d.excluded],
        },
    )


def detector_thresholds(settings: Settings) -> DetectorThresholds:
    """The detectors' thresholds from ``ENVWATCH_DETECTORS`` (JSON); a wrong name or value is refused with
    what pydantic says about it."""
    try:
        return DetectorThresholds.model_validate(settings.detectors)
    except ValidationError as exc:
        raise InvalidInput(f"ENVWATCH_DETECTORS is not valid: {exc}") from exc


@dataclass(frozen=True)
class DayRun:
    devices: int
    detections: int
    opened: int


def raise_detections(
    conn: Connection, detections: Iterable[Detection], now: datetime, *, ack_due_s: float
) -> int:
    """Each detection to the alarm store; returns how many opened a new alarm."""
    return sum(raise_alarm(conn, to_raised(d), now, ack_due_s=ack_due_s).opened for d in detections)


def run_day(
    engine: Engine,
    settings: Settings,
    day: date,
    now: datetime,
    *,
    device_ids: Sequence[int] | None = None,
    thresholds: DetectorThresholds | None = None,
) -> DayRun:
    """Judge ``day`` (China) for every device on an outlet (or ``device_ids``), one transaction per device."""
    t = thresholds if thresholds is not None else detector_thresholds(settings)
    if device_ids is None:
        with engine.connect() as conn:
            device_ids = list(
                conn.execute(
                    select(devices.c.id).where(devices.c.outlet_id.is_not(None)).order_by(devices.c.id)
                ).scalars()
            )
    found = opened = 0
    for device_id in device_ids:
        with engine.begin() as conn:
            inputs = device_inputs(conn, settings, device_id, day, now, t)
            if inputs is None:
                continue
            detections = run_all(inputs, t)
            found += len(detections)
            opened += raise_detections(conn, detections, now, ack_due_s=settings.alarm_ack_due_s)
    return DayRun(len(device_ids), found, opened)
