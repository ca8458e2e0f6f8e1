"""The explained daily view of a device's data (日均值及有效性说明), built on the hourly view.

Each China calendar day of a factor: the daily value from that day's hours as
:mod:`envwatch.monitoring.hourly_view` explains them (:func:`~envwatch.monitoring.validity.day_from_hours`:
gas arithmetic mean, water flow-weighted 流量加权 with the same hours' valid flow w00000, pH median), the
device's own day record (CN 2031) judged with the marks over its day, and the cross-check of the two (the
device value is shown, never replaced). Pure assembly; ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from envwatch.core.settings import Settings
from envwatch.monitoring.day_counts import day_start, hour_floor
from envwatch.monitoring.explain import explain_cross_check, explain_day, explain_verdict
from envwatch.monitoring.hourly_view import (
    DeviceFacts,
    HourView,
    by_time,
    check_days,
    device_record,
    judge_hours,
    read_device_data,
    read_marks,
    to_decimal,
)
from envwatch.monitoring.marking import MarkSpan
from envwatch.monitoring.validity import HourValue, cross_check, day_from_hours, value_verdict

__all__ = ["WATER_FLOW", "days_from_views", "device_days"]

WATER_FLOW = "w00000"  # wastewater flow, the weight of water daily values (流量加权)


def _day_hours(views: Sequence[HourView], flows: dict[datetime, HourView] | None) -> list[HourValue]:
    out = []
    for view in views:
        flow = None
        if flows is not None:
            hour_flow = flows.get(view.start)
            # only a valid flow weighs (an invalid or missing one makes the day a plain mean, and says so)
            flow = hour_flow.value if hour_flow is not None and hour_flow.valid else None
        out.append(HourValue(view.value, view.valid, flow, view.exempt))
    return out


def device_days(
    conn: Connection,
    settings: Settings,
    device_id: int,
    factor: str,
    first_day: date,
    last_day: date,
    now: datetime,
) -> list[dict[str, Any]]:
    """Each China calendar day in [first_day, last_day] (at most ``MAX_DAYS``): the daily value from that
    day's hours (日均值, :func:`~envwatch.monitoring.validity.day_from_hours`), the device's own day
    record (CN 2031) judged with the marks, and their cross-check. A day not over at ``now`` is marked
    ``complete: false`` (its later hours are not judged yet)."""
    check_days(first_day, last_day)
    start, end = day_start(first_day), day_start(last_day + timedelta(days=1))
    device = device_record(conn, device_id)
    last = min(end, hour_floor(now))
    # the marks of the whole days: the device's day records are judged over their full day
    marks = read_marks(conn, settings, device_id, start, end)
    views: list[HourView] = []
    flows: dict[datetime, HourView] | None = None
    if start < last:
        data = read_device_data(conn, settings, device, start, last, marks)
        views = judge_hours(data, settings, factor)
        if device.kind == "water" and factor != WATER_FLOW:
            flows = {v.start: v for v in judge_hours(data, settings, WATER_FLOW)}
    return _days(conn, settings, device, marks, factor, views, flows, first_day, last_day, now)


def days_from_views(
    conn: Connection,
    settings: Settings,
    device_id: int,
    factor: str,
    views: Sequence[HourView],
    flows: dict[datetime, HourView] | None,
    first_day: date,
    last_day: date,
    now: datetime,
) -> list[dict[str, Any]]:
    """:func:`device_days` from hours already judged: ``views`` are ``factor``'s hours of the days (what
    ``hourly_view.hour_views``/``hour_views_for_factors`` give for [first_day 00:00, last_day + 1 00:00)),
    ``flows`` a water device's flow hours by start (weights of its daily mean), None for gas. For a
    caller that read the month's hours once for all factors (the public page)."""
    check_days(first_day, last_day)
    start, end = day_start(first_day), day_start(last_day + timedelta(days=1))
    device = device_record(conn, device_id)
    marks = read_marks(conn, settings, device_id, start, end)
    return _days(conn, settings, device, marks, factor, views, flows, first_day, last_day, now)


def _days(
    conn: Connection,
    settings: Settings,
    device: DeviceFacts,
    marks: list[MarkSpan],
    factor: str,
    views: Sequence[HourView],
    flows: dict[datetime, HourView] | None,
    first_day: date,
    last_day: date,
    now: datetime,
) -> list[dict[str, Any]]:
    """The days of ``factor`` from its judged hours, with the device's own day records (CN 2031) judged
    with ``marks`` (those of the whole days) and cross-checked; the device and marks are the caller's."""
    start, end = day_start(first_day), day_start(last_day + timedelta(days=1))
    reported = by_time(conn, device.id, "day", start, end)
    out = []
    day = first_day
    while day <= last_day:
        begin, finish = day_start(day), day_start(day + timedelta(days=1))
        result = day_from_hours(
            device.kind, factor, _day_hours([v for v in views if begin <= v.start < finish], flows), settings
        )
        sent = reported.get(begin, {}).get(factor)
        device_part = None
        check = None
        if sent is not None:
            value = to_decimal(sent.get("Avg"))
            verdict = value_verdict(
                device.kind, factor, sent.get("Flag"), marks, begin, finish, settings, value=value
            )
            device_part = {
                "value": None if value is None else str(value),
                "flag": sent.get("Flag"),
                "fields": dict(sent),
                **explain_verdict(verdict),
            }
            check = explain_cross_check(cross_check(value, result.value, settings.aggregate_tolerance_pct))
        out.append(
            {
                "day": day,
                "start": begin,
                "end": finish,
                "complete": finish <= now,
                "value": result.value,
                **{k: v for k, v in explain_day(result).items() if k != "value"},
                "device": device_part,
                "cross_check": check,
            }
        )
        day += timedelta(days=1)
    return out
