"""What the monthly outlet report (排放口月报) holds: for each rated factor of the outlet's devices, the
daily values (日均值) and every hour (小时均值) of one China month, each with its verdict and the limit
(排放限值) in force that day.

Pure assembly over the services, no rule of its own: hours from
``monitoring.hourly_view.hour_views_for_factors`` (a device read once for all its factors), days from
``monitoring.daily_view.days_from_views`` (the same hours, the same days as ``device_days``), limits from ``registry.service_limits.limits_in_force_at``. The one
judgement made here is "above the limit", worded exactly as the outlet pages' ``limit_state``: a value
above ``hour_limit``/``day_limit``, or a pH outside ``ph_low..ph_high``. Nothing reads a clock: ``now``
is passed in.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from envwatch.core.settings import Settings
from envwatch.hj212.codes import pollutant
from envwatch.monitoring.daily_view import WATER_FLOW, days_from_views
from envwatch.monitoring.day_counts import china_day, day_start, read_device_records
from envwatch.monitoring.hourly_view import HourView, hour_views_for_factors
from envwatch.registry import service as registry
from envwatch.registry.schema import devices
from envwatch.registry.service_limits import limits_in_force_at

# the reasons that decide an hour through a mark (标记) covering it; their ``ref`` names the mark
DECIDING_MARK_CODES = frozenset({"mark_invalid", "mark_exempt"})

Limits = dict[date, dict[str, dict[str, Any]]]  # China day → factor → limit row in force that day


@dataclass(frozen=True, slots=True)
class DayRow:
    """One China day of one factor: the daily value and its verdict against the day limit."""

    day: date
    value: Decimal | None
    valid: bool
    n_valid: int
    complete: bool  # False: the day was not over when the report was made
    limit: dict[str, Any] | None
    above: bool | None  # None: no limit or no value to judge


@dataclass(frozen=True, slots=True)
class HourRow:
    """One clock hour of one factor: value, 折算浓度, verdict, reasons (Chinese), deciding mark, limit."""

    start: datetime
    value: Decimal | None
    converted: Decimal | None
    outcome: str  # valid | invalid | exempt
    reasons_zh: tuple[str, ...]
    deciding_marks: tuple[str, ...]
    limit: dict[str, Any] | None
    above: bool | None


@dataclass(frozen=True, slots=True)
class Series:
    """One rated factor of one device of the outlet."""

    mn: str
    factor: str
    name: str  # the pollutant's Chinese name (HJ 524), or "" when the code is not in the table
    unit: str
    days: tuple[DayRow, ...]
    hours: tuple[HourRow, ...]


@dataclass(frozen=True, slots=True)
class OutletMonth:
    """The whole report: who, which month (and which of its days are covered), when, and the series."""

    enterprise: str
    credit_code: str
    outlet_code: str
    outlet_name: str
    month: date  # its first day
    first_day: date  # the days covered: the month, or the part of it inside an auditor's period
    last_day: date
    generated_at: datetime
    series: tuple[Series, ...]


def month_days(month: date) -> tuple[date, date]:
    """The first and last China day of the month holding ``month``."""
    first = month.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def above_limit(value: Decimal | None, limit: dict[str, Any] | None, which: str) -> bool | None:
    """``value`` against a limit row's ``hour_limit`` or ``day_limit`` (``which`` = "hour" | "day"); a
    pH limit is a range that applies to hours and days alike. None when there is nothing to judge."""
    if value is None or limit is None:
        return None
    low, high = limit.get("ph_low"), limit.get("ph_high")
    if low is not None or high is not None:
        return bool((low is not None and value < low) or (high is not None and value > high))
    bound = limit.get(f"{which}_limit")
    return None if bound is None else bool(value > bound)


def _outlet_devices(
    conn: Connection, outlet_id: int, device_ids: Collection[int] | None
) -> list[dict[str, Any]]:
    # the registry keeps the device → outlet link on devices.outlet_id without a service function for it
    query = (
        select(devices.c.id, devices.c.mn, devices.c.kind)
        .where(devices.c.outlet_id == outlet_id)
        .order_by(devices.c.mn)
    )
    rows = [dict(r._mapping) for r in conn.execute(query)]
    return [r for r in rows if device_ids is None or r["id"] in device_ids]


def _factors(
    conn: Connection, device: dict[str, Any], start: datetime, end: datetime
) -> list[tuple[str, str]]:
    """(factor, unit) of the device's rated factors; without registered ones, the factors it sent hour
    records for in the month (as the device page shows what a device sent)."""
    rated = [(f["factor"], f["unit"]) for f in registry.list_device_factors(conn, device["mn"]) if f["rated"]]
    if rated:
        return rated
    sent: set[str] = set()
    for record in read_device_records(conn, device["id"], "hour", start, end):
        sent.update(record.factors)
    return [(factor, "") for factor in sorted(sent)]


def _limits(conn: Connection, outlet_id: int, first: date, last: date) -> Limits:
    out: Limits = {}
    day = first
    while day <= last:
        rows = limits_in_force_at(conn, [outlet_id], day).get(outlet_id, [])
        out[day] = {row["factor"]: row for row in rows}
        day += timedelta(days=1)
    return out


def _hour_row(view: HourView, limit: dict[str, Any] | None) -> HourRow:
    converted = None if view.converted is None else view.converted.value
    # the hour limit of gas is a converted concentration (折算) where one was computed
    judged = converted if converted is not None else view.value
    return HourRow(
        start=view.start,
        value=view.value,
        converted=converted,
        outcome=str(view.outcome),
        reasons_zh=tuple(r.text_zh or r.text_en for r in view.reasons),
        deciding_marks=tuple(r.ref for r in view.reasons if r.code in DECIDING_MARK_CODES and r.ref),
        limit=limit,
        above=above_limit(judged, limit, "hour"),
    )


def _day_row(row: dict[str, Any], limit: dict[str, Any] | None) -> DayRow:
    value: Decimal | None = row["value"]
    return DayRow(
        day=row["day"],
        value=value,
        valid=bool(row["valid"]),
        n_valid=int(row["n_valid"]),
        complete=bool(row["complete"]),
        limit=limit,
        above=above_limit(value, limit, "day"),
    )


def gather_outlet_month(
    conn: Connection,
    settings: Settings,
    outlet_id: int,
    month: date,
    now: datetime,
    *,
    days: tuple[date, date] | None = None,
    device_ids: Collection[int] | None = None,
) -> OutletMonth:
    """The report of ``outlet_id`` for the China month holding ``month``. ``days`` narrows the covered
    days inside the month (an auditor's period); ``device_ids`` keeps only those devices (None: all on the
    outlet). Raises NotFound for an unknown outlet; the caller checks scope and that the month is not in
    the future."""
    outlet = registry.get_outlet(conn, outlet_id)
    enterprise = registry.get_enterprise(conn, outlet["enterprise_id"])
    first, last = days or month_days(month)
    start, end = day_start(first), day_start(last + timedelta(days=1))
    limits = _limits(conn, outlet_id, first, last)
    series: list[Series] = []
    for device in _outlet_devices(conn, outlet_id, device_ids):
        factors = _factors(conn, device, start, end)
        if not factors:
            continue
        units = dict(factors)
        # a water device's flow is read with its factors: it weighs their daily means (流量加权)
        water = device["kind"] == "water"
        wanted = [*units, WATER_FLOW] if water else list(units)
        hours = hour_views_for_factors(
            conn, settings, device["id"], wanted, start, end, now, cross_checks=False
        )
        flows = {v.start: v for v in hours[WATER_FLOW]} if water else None
        for factor, unit in factors:
            # the days from the hours just read (the same days as daily_view.device_days, one read)
            day_rows = days_from_views(
                conn, settings, device["id"], factor, hours[factor],
                None if factor == WATER_FLOW else flows, first, last, now,
            )  # fmt: skip
            known = pollutant(factor)
            series.append(
                Series(
                    mn=device["mn"],
                    factor=factor,
                    name="" if known is None else known.zh,
                    unit=unit or (known.unit if known is not None and known.unit else ""),
                    days=tuple(_day_row(r, limits[r["day"]].get(factor)) for r in day_rows),
                    hours=tuple(_hour_row(v, limits[china_day(v.start)].get(factor)) for v in hours[factor]),
                )
            )
    return OutletMonth(
        enterprise=enterprise["name"],
        credit_code=enterprise["credit_code"],
        outlet_code=outlet["code"],
        outlet_name=outlet["name"],
        month=month.replace(day=1),
        first_day=first,
        last_day=last,
        generated_at=now,
        series=tuple(series),
    )
