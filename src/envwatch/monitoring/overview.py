"""The regional overview (区域总览): the outlets of an area with their status, the counts, and today's
exceedances (今日超标) as a quick view.

The area is a region code prefix (GB/T 2260: 2 province, 4 city, 6 county digits) intersected with the
ids a viewer may see; only devices on an outlet of an enterprise in the area belong to it (a device not
yet on an outlet has no region). Whether a device is online (device_status) belongs to ingest, a layer
above this one, so callers pass it in.

Today's exceedances: for each device on an outlet with an emission limit (排放限值) in force today (China
day), the hours already over whose verdict is valid and whose value is above the hour limit 小时均值限值
(the converted concentration 折算浓度 when the limit has a reference O2 and the hour has one), or outside
the pH range; a water limit with a day limit 日均值限值 only is compared with the mean of today's valid
hours so far. The multiple is 超标倍数 = (value − limit) / limit. This is the dashboard's quick view, not
the exceedance engine (that comes with the alarms).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy import Connection, Engine, select

from envwatch.core.settings import Settings
from envwatch.monitoring.day_counts import china_day, day_start
from envwatch.monitoring.hour_cache import HourCache, Judged, judged_hours
from envwatch.registry.schema import devices, enterprises, outlets
from envwatch.registry.service_limits import limits_in_force_at

Status = Literal["exceeding", "offline", "online", "no_device"]
Ids = frozenset[int]


@dataclass(frozen=True)
class Area:
    """What the overview covers: a region code prefix (None = every region) and the ids the viewer may
    see (None = all of them)."""

    region: str | None
    enterprise_ids: Ids | None = None
    outlet_ids: Ids | None = None
    device_ids: Ids | None = None


@dataclass(frozen=True)
class AreaDevice:
    id: int
    mn: str
    name: str
    kind: str


@dataclass(frozen=True)
class AreaOutlet:
    """An outlet (排放口) of the area with its devices; coordinates are the outlet's, else its
    enterprise's, else None."""

    id: int
    code: str
    name: str
    kind: str
    enterprise_id: int
    enterprise: str
    latitude: Decimal | None
    longitude: Decimal | None
    devices: tuple[AreaDevice, ...]


@dataclass(frozen=True)
class Exceedance:
    """One exceeding hour (``hour`` = its start) or, for a day limit, today's mean so far (``hour`` None)."""

    device_id: int
    mn: str
    enterprise: str
    outlet_id: int
    outlet: str
    factor: str
    hour: datetime | None
    value: Decimal
    converted: bool  # value is the converted concentration 折算浓度
    limit: Decimal | None  # the hour (or day) limit; None for a pH range
    ph_low: Decimal | None
    ph_high: Decimal | None
    unit: str
    multiple: Decimal | None  # 超标倍数; None for pH


@dataclass(frozen=True)
class Counts:
    enterprises: int
    outlets: int
    devices: int
    online: int
    offline: int
    exceeding: int  # devices with an exceedance today


@dataclass(frozen=True)
class Overview:
    outlets: list[AreaOutlet]
    status: dict[int, Status]  # outlet id → status
    counts: Counts
    exceedances: list[Exceedance]


# --- the area's registry ----------------------------------------------------------------------------
def _visible(ids: Ids | None, one: int) -> bool:
    return ids is None or one in ids


def area_enterprises(conn: Connection, area: Area) -> dict[int, dict[str, Any]]:
    """The enterprises of the area by id (name, region code, coordinates)."""
    e = enterprises.c
    query = select(e.id, e.name, e.region_code, e.latitude, e.longitude).order_by(e.name, e.id)
    if area.region:
        query = query.where(e.region_code.startswith(area.region, autoescape=True))
    return {
        row.id: dict(row._mapping) for row in conn.execute(query) if _visible(area.enterprise_ids, row.id)
    }


def area_outlets(conn: Connection, area: Area) -> list[AreaOutlet]:
    """The visible outlets of the area's enterprises, each with its visible devices, by enterprise."""
    ents = area_enterprises(conn, area)
    if not ents:
        return []
    o, d = outlets.c, devices.c
    on: dict[int, list[AreaDevice]] = {}
    device_rows = conn.execute(
        select(d.id, d.mn, d.name, d.kind, d.outlet_id).where(d.outlet_id.is_not(None)).order_by(d.mn)
    )
    for row in device_rows:
        if _visible(area.device_ids, row.id):
            on.setdefault(row.outlet_id, []).append(AreaDevice(row.id, row.mn, row.name, row.kind))
    out = []
    for row in conn.execute(select(outlets).order_by(o.enterprise_id, o.code, o.id)):
        ent = ents.get(row.enterprise_id)
        if ent is None or not _visible(area.outlet_ids, row.id):
            continue
        # an outlet without coordinates is drawn at its enterprise's place, when that has them
        own = row.latitude is not None and row.longitude is not None
        out.append(
            AreaOutlet(
                id=row.id,
                code=row.code,
                name=row.name,
                kind=row.kind,
                enterprise_id=row.enterprise_id,
                enterprise=ent["name"],
                latitude=row.latitude if own else ent["latitude"],
                longitude=row.longitude if own else ent["longitude"],
                devices=tuple(on.get(row.id, ())),
            )
        )
    return out


def area_device_ids(conn: Connection, area: Area) -> Ids:
    """The ids of the devices the overview covers (the fleet of its rate rankings)."""
    return frozenset(dev.id for outlet in area_outlets(conn, area) for dev in outlet.devices)


# --- today's exceedances ----------------------------------------------------------------------------
def _multiple(value: Decimal, limit: Decimal) -> Decimal | None:
    if limit <= 0:
        return None
    return ((value - limit) / limit).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _compared(view: Judged, limit: Mapping[str, Any]) -> tuple[Decimal, bool] | None:
    """The value an hour is judged on, and whether it is the converted concentration; None when the hour
    does not count (not valid, or no value)."""
    if not view.valid:
        return None
    if limit["reference_o2"] is not None and view.converted is not None:
        return view.converted, True
    return (view.value, False) if view.value is not None else None


def _device_exceedances(
    outlet: AreaOutlet,
    device: AreaDevice,
    limit: Mapping[str, Any],
    views: Iterable[Judged],
) -> list[Exceedance]:
    hour_limit, day_limit = limit["hour_limit"], limit["day_limit"]
    ph_low, ph_high = limit["ph_low"], limit["ph_high"]

    def found(hour: datetime | None, value: Decimal, converted: bool, against: Decimal | None) -> Exceedance:
        return Exceedance(
            device_id=device.id,
            mn=device.mn,
            enterprise=outlet.enterprise,
            outlet_id=outlet.id,
            outlet=outlet.name,
            factor=limit["factor"],
            hour=hour,
            value=value,
            converted=converted,
            limit=against,
            ph_low=None if against is not None else ph_low,
            ph_high=None if against is not None else ph_high,
            unit=limit["unit"],
            multiple=None if against is None else _multiple(value, against),
        )

    out: list[Exceedance] = []
    counted: list[Decimal] = []
    for view in views:
        judged = _compared(view, limit)
        if judged is None:
            continue
        value, converted = judged
        counted.append(value)
        if hour_limit is not None and value > hour_limit:
            out.append(found(view.start, value, converted, hour_limit))
        elif (ph_low is not None and value < ph_low) or (ph_high is not None and value > ph_high):
            out.append(found(view.start, value, converted, None))
    if hour_limit is None and day_limit is not None and device.kind == "water" and counted:
        mean = sum(counted, Decimal(0)) / len(counted)
        if mean > day_limit:
            out.append(found(None, mean.quantize(Decimal("0.001"), ROUND_HALF_UP), False, day_limit))
    return out


def _judged(limit: Mapping[str, Any], kind: str) -> bool:
    """A limit the quick view can judge from hours: an hour limit, a pH range, or a water day limit."""
    return (
        limit["hour_limit"] is not None
        or limit["ph_low"] is not None
        or limit["ph_high"] is not None
        or (kind == "water" and limit["day_limit"] is not None)
    )


Hours = Callable[[int, Sequence[str]], dict[str, list[Judged]]]  # device id, factors → today's hours


def today_exceedances(
    conn: Connection,
    settings: Settings,
    chosen: Sequence[AreaOutlet],
    now: datetime,
    cache: HourCache | None = None,
) -> list[Exceedance]:
    """The exceedances of today (China day of ``now``) on the devices of the ``chosen`` outlets, in their
    order, then by factor and hour. Each device's records are read once for all its limited factors;
    with a ``cache`` (one per app) only the hours not judged by an earlier request are (exact: see
    :mod:`envwatch.monitoring.hour_cache`)."""
    today = china_day(now)
    start = day_start(today)
    if now <= start:  # midnight: no hour of today is over
        return []
    if cache is None:
        return _exceedances(conn, chosen, today, lambda d, f: judged_hours(conn, settings, d, f, start, now))
    with cache.lock:  # one request at a time: the probe and the reads that follow it belong together
        cache.refresh(conn, settings, start)
        return _exceedances(conn, chosen, today, lambda d, f: cache.hours(conn, settings, d, f, start, now))


def _exceedances(
    conn: Connection, chosen: Sequence[AreaOutlet], today: date, hours: Hours
) -> list[Exceedance]:
    out: list[Exceedance] = []
    in_force = limits_in_force_at(conn, [o.id for o in chosen if o.devices], today)
    for outlet in chosen:
        if not outlet.devices:
            continue
        limits = in_force.get(outlet.id, [])
        for device in outlet.devices:
            judged = [limit for limit in limits if _judged(limit, device.kind)]
            if not judged:
                continue
            views = hours(device.id, [limit["factor"] for limit in judged])
            for limit in judged:
                out.extend(_device_exceedances(outlet, device, limit, views[limit["factor"]]))
    return out


# --- status and counts ------------------------------------------------------------------------------
def outlet_status(outlet: AreaOutlet, online: Mapping[int, bool], exceeding: Ids) -> Status:
    """Exceeding today beats offline beats online: a regulator looks first at what needs action. An
    outlet is offline when any of its devices is (a device never heard of counts as offline)."""
    if not outlet.devices:
        return "no_device"
    if any(dev.id in exceeding for dev in outlet.devices):
        return "exceeding"
    if all(online.get(dev.id, False) for dev in outlet.devices):
        return "online"
    return "offline"


def overview(
    conn: Connection,
    settings: Settings,
    area: Area,
    online: Mapping[int, bool],
    now: datetime,
    cache: HourCache | None = None,
) -> Overview:
    """Outlets with status, counts and today's exceedances of ``area``; ``online`` maps device id → online
    (device_status; missing = offline); ``cache``: see :func:`today_exceedances`."""
    outs = area_outlets(conn, area)
    exceedances = today_exceedances(conn, settings, outs, now, cache)
    exceeding = frozenset(e.device_id for e in exceedances)
    fleet = [dev.id for outlet in outs for dev in outlet.devices]
    n_online = sum(1 for d in fleet if online.get(d, False))
    counts = Counts(
        enterprises=len(area_enterprises(conn, area)),
        outlets=len(outs),
        devices=len(fleet),
        online=n_online,
        offline=len(fleet) - n_online,
        exceeding=len(exceeding),
    )
    status = {outlet.id: outlet_status(outlet, online, exceeding) for outlet in outs}
    return Overview(outs, status, counts, exceedances)


def warm(engine: Engine, settings: Settings, cache: HourCache, now: datetime) -> int:
    """Judge today's hours of the whole fleet into ``cache`` (what ``serve`` does every
    ``dashboard_warm_every_s``): the first dashboard request after a start, and each one after a busy
    minute, then only reads what is held. Returns how many exceedances there are today."""
    with engine.connect() as conn:
        return len(today_exceedances(conn, settings, area_outlets(conn, Area(None)), now, cache))
