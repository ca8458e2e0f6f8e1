"""What the public page (信息公开, SX-7) shows of one outlet on one China day: each rated factor's hours
of that day and the daily values of its month up to that day, against the emission limits in force.

Every figure comes from the monitoring services (``hourly_view.hour_views``, ``daily_view.device_days``,
``validity.day_from_hours``) and the limits from ``registry.service_limits.limits_in_force``; this module
picks what the public may see (no MN, no raw fields, no user names) and compares with the limits:

- an hour or day is compared only when it is valid (an invalid value is not evidence of an exceedance);
- a limit with a reference O2 (基准氧含量) applies to the converted concentration (折算浓度): hours compare
  their converted value, days the arithmetic mean of the valid hours' converted values, by the same
  daily rule as every daily value (``day_from_hours``); a day or hour without one is not compared;
- a pH limit is a range (ph_low..ph_high): outside it counts as above the limit;
- values are compared exactly and shown with at most three decimals (:func:`shown`).

Work per request is capped by the page: one outlet, one day of hours, at most one month of days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Connection, select

from envwatch.core.settings import Settings
from envwatch.hj212.codes import pollutant
from envwatch.monitoring.daily_view import WATER_FLOW, days_from_views
from envwatch.monitoring.day_counts import day_start
from envwatch.monitoring.hourly_view import HourView, hour_views_for_factors
from envwatch.monitoring.validity import HourValue, day_from_hours
from envwatch.registry.schema import device_factors, devices
from envwatch.registry.service_limits import limits_in_force

Limit = dict[str, Any]
SHOWN = Decimal("0.001")


@dataclass(frozen=True)
class Monitored:
    """A rated factor of a device on the outlet; ``point`` numbers the outlet's devices (1, 2 …) so the
    page never needs the device's MN."""

    device_id: int
    kind: str
    factor: str
    unit: str
    point: int


@dataclass(frozen=True)
class FactorReport:
    monitored: Monitored
    name: str
    limit: Limit | None  # in force on the chosen day
    hours: list[dict[str, Any]]
    days: list[dict[str, Any]]

    @property
    def n_valid(self) -> int:
        return sum(1 for h in self.hours if h["outcome"] == "valid")

    @property
    def n_over(self) -> int:
        return sum(1 for h in self.hours if h["over"])


def monitored_factors(conn: Connection, outlet_id: int) -> list[Monitored]:
    """The rated factors (counted in the transmission rates) of the outlet's devices, device by device."""
    d, f = devices.c, device_factors.c
    query = (
        select(d.id, d.kind, f.factor, f.unit)
        .join(device_factors, f.device_id == d.id)
        .where(d.outlet_id == outlet_id, f.rated == 1)
        .order_by(d.id, f.factor)
    )
    out: list[Monitored] = []
    points: dict[int, int] = {}
    for row in conn.execute(query):
        point = points.setdefault(row.id, len(points) + 1)
        out.append(Monitored(row.id, row.kind, row.factor, row.unit, point))
    return out


def factor_name(code: str, locale: str) -> str:
    found = pollutant(code)
    if found is None:
        return code
    return found.zh if locale == "zh_CN" else found.en


def limits_by_day(conn: Connection, outlet_id: int, first: date, last: date) -> dict[date, dict[str, Limit]]:
    """The limit of each factor in force on each day first..last (a limit may change within a month)."""
    out = {}
    day = first
    while day <= last:
        out[day] = {row["factor"]: row for row in limits_in_force(conn, outlet_id, day)}
        day += timedelta(days=1)
    return out


def outside(value: Decimal | None, limit: Limit | None, bound: str) -> bool | None:
    """True above ``limit[bound]`` (hour_limit, day_limit) or outside its pH range, False within, None when
    there is nothing to compare."""
    if value is None or limit is None:
        return None
    if limit.get(bound) is not None:
        return value > Decimal(limit[bound])
    low, high = limit.get("ph_low"), limit.get("ph_high")
    if low is None and high is None:
        return None
    return (low is not None and value < Decimal(low)) or (high is not None and value > Decimal(high))


def shown(value: Decimal | None) -> str:
    """A value for reading: at most three decimals, rounded half to even (GB/T 8170 修约), no exponent
    (the services keep full precision: a daily mean has many digits, a converted value may be 2E+1)."""
    if value is None:
        return "—"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -3:
        value = value.quantize(SHOWN, rounding=ROUND_HALF_EVEN)
    return format(value, "f")


def _compared(view: HourView, limit: Limit | None) -> Decimal | None:
    """The hour's value on the limit's basis: 折算浓度 under a reference O2, else the standard dry value."""
    if limit is not None and limit.get("reference_o2") is not None:
        return None if view.converted is None else view.converted.value
    return view.value if view.basis == "standard_dry" else view.standard_dry


def _hour_row(view: HourView, limit: Limit | None, locale: str) -> dict[str, Any]:
    compared = _compared(view, limit)
    text = "text_zh" if locale == "zh_CN" else "text_en"
    return {
        "start": view.start,
        "outcome": str(view.outcome),
        "value": shown(view.value),
        "converted": shown(None if view.converted is None else view.converted.value),
        # the reasons matter to a reader when the hour does not count; a valid hour just says so
        "reasons": [] if view.valid else [getattr(r, text) or r.text_en for r in view.reasons],
        "over": bool(view.valid and outside(compared, limit, "hour_limit")),
    }


def _converted_day(kind: str, factor: str, views: list[HourView], settings: Settings) -> Decimal | None:
    """The day's 折算浓度: the daily rule applied to the valid hours' converted values."""
    hours = [
        HourValue(
            v.converted.value if v.converted is not None else None,
            v.valid and v.converted is not None and v.converted.value is not None,
            exempt=v.exempt,
        )
        for v in views
    ]
    result = day_from_hours("gas" if kind == "gas" else "water", factor, hours, settings)
    return result.value if result.valid else None


def outlet_reports(
    conn: Connection,
    settings: Settings,
    monitored: list[Monitored],
    day: date,
    limits: dict[date, dict[str, Limit]],
    now: datetime,
    locale: str,
) -> list[FactorReport]:
    """:func:`factor_report` of every monitored factor. Each device's hours of the month up to ``day`` are
    read and judged once for all its factors (``hour_views_for_factors``, a water device's flow with
    them: it weighs the daily means), and the days are built from those same hours
    (``daily_view.days_from_views``): one read of the month per device, not one per factor and table."""
    first = day.replace(day=1)
    start, end = day_start(first), day_start(day + timedelta(days=1))
    views: dict[tuple[int, str], list[HourView]] = {}
    flows: dict[int, dict[datetime, HourView] | None] = {}
    for device_id in dict.fromkeys(m.device_id for m in monitored):
        mine = [m for m in monitored if m.device_id == device_id]
        water = mine[0].kind == "water"
        factors = [m.factor for m in mine] + ([WATER_FLOW] if water else [])
        read = hour_views_for_factors(conn, settings, device_id, factors, start, end, now)
        for factor, hours in read.items():
            views[(device_id, factor)] = hours
        flows[device_id] = {v.start: v for v in read[WATER_FLOW]} if water else None
    return [
        factor_report(
            conn,
            settings,
            m,
            day,
            limits,
            now,
            locale,
            views[(m.device_id, m.factor)],
            None if m.factor == WATER_FLOW else flows[m.device_id],  # the flow is not weighed by itself
        )
        for m in monitored
    ]


def factor_report(
    conn: Connection,
    settings: Settings,
    m: Monitored,
    day: date,
    limits: dict[date, dict[str, Limit]],
    now: datetime,
    locale: str,
    views: list[HourView],
    flows: dict[datetime, HourView] | None,
) -> FactorReport:
    """The hours of ``day`` and the days from the 1st of its month to ``day`` of one rated factor, from
    ``views`` (its hours of that month, :func:`outlet_reports`) and a water device's ``flows``."""
    first = day.replace(day=1)
    limit = limits.get(day, {}).get(m.factor)
    hours = [_hour_row(v, limit, locale) for v in views if v.start >= day_start(day)]
    days = []
    for row in days_from_views(conn, settings, m.device_id, m.factor, views, flows, first, day, now):
        day_limit = limits.get(row["day"], {}).get(m.factor)
        converted = None
        compared = row["value"] if row["valid"] else None
        if day_limit is not None and day_limit.get("reference_o2") is not None:
            begin, end = day_start(row["day"]), day_start(row["day"] + timedelta(days=1))
            converted = _converted_day(
                m.kind, m.factor, [v for v in views if begin <= v.start < end], settings
            )
            compared = converted
        days.append(
            {
                "day": row["day"],
                "complete": row["complete"],
                "valid": row["valid"],
                "n_valid": row["n_valid"],
                # the value compared with the limit: the converted one under a reference O2
                "shown": shown(converted if converted is not None else row["value"]),
                "limit": day_limit,
                "over": bool(outside(compared, day_limit, "day_limit")),
            }
        )
    return FactorReport(m, factor_name(m.factor, locale), limit, hours, days)
