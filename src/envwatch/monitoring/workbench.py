"""The operator's workbench (运维工作台): what needs the operating company's attention now.

Four questions about the devices an operator looks after (the caller passes the ids its scope sees):

- **offline now** (离线设备, SX-20.9/20.10 fast response): the devices whose ``device_status`` says
  offline, longest offline first. Online state belongs to ingest, a layer above this one, so callers pass
  the status rows in (``ingest.queries.read_devices``);
- **data quality** (数据有效性): the devices with an invalid hour among their last completed hours, judged by
  ``hourly_view`` exactly as the device page explains them, for the factors the rates count;
- **open marks** (未结束的故障/维护/校准标记): fault, maintenance and calibration marks in force now or
  ending later, and how long each has been open;
- **faults this month** (月故障次数, SX-30.6): fault marks per device over the China month so far, the
  same marks the rates count (``marks_store.deciding_marks``), flagged at ``rates_month_min_faults``.

The O&M ledgers, tickets, inspections and response clocks are a later issue (operations). Nothing here
reads a clock: ``now`` is passed in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from envwatch.core.settings import Settings
from envwatch.monitoring.day_counts import HOUR, china_day, day_start, hour_floor
from envwatch.monitoring.hourly_view import hour_views_for_factors
from envwatch.monitoring.marks_store import deciding_marks, effective_marks
from envwatch.monitoring.rates import FAULT_CODE
from envwatch.monitoring.validity import Outcome, Reason
from envwatch.registry.schema import device_factors, devices, enterprises, outlets

__all__ = [
    "OPEN_CODES",
    "QUALITY_HOURS",
    "BadHour",
    "FaultCount",
    "Offline",
    "OpenMark",
    "Placed",
    "QualityProblem",
    "data_quality",
    "fault_counts",
    "month_start",
    "offline_devices",
    "open_marks",
    "placed_devices",
]

OPEN_CODES = ("fault", "maintenance", "calibration")  # the marks an operator has to close
QUALITY_HOURS = 3  # completed hours judged per device: cheap, and enough to see "still bad"
# "ending in the future" has no upper bound in the rules; ten years covers any planned mark (ahead_days)
_AHEAD = timedelta(days=3660)


@dataclass(frozen=True)
class Placed:
    """A device with the enterprise (排污单位) and outlet (排放口) it sits on, by their registry names."""

    id: int
    mn: str
    name: str
    kind: str
    enterprise: str
    outlet: str


def placed_devices(conn: Connection, device_ids: Collection[int] | None) -> dict[int, Placed]:
    """The devices of ``device_ids`` (None = all) with their places, by id, in enterprise and MN order."""
    d, o, e = devices.c, outlets.c, enterprises.c
    query = (
        select(d.id, d.mn, d.name, d.kind, d.outlet, d.enterprise, o.code, o.name.label("oname"))
        .add_columns(e.name.label("ename"))
        .select_from(
            devices.outerjoin(outlets, o.id == d.outlet_id).outerjoin(enterprises, e.id == o.enterprise_id)
        )
        .order_by(e.name, d.mn)
    )
    if device_ids is not None:
        if not device_ids:
            return {}
        query = query.where(d.id.in_(list(device_ids)))
    return {
        r.id: Placed(
            id=r.id,
            mn=r.mn,
            name=r.name,
            kind=r.kind,
            enterprise=r.ename or r.enterprise,
            outlet=f"{r.code} {r.oname}" if r.code else r.outlet,
        )
        for r in conn.execute(query)
    }


def month_start(now: datetime) -> datetime:
    """00:00 China time of the first day of ``now``'s China month."""
    return day_start(china_day(now).replace(day=1))


# --- offline ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offline:
    """An offline device: since when (``device_status.changed_at``; None = never heard from) and for how
    long at ``now``."""

    device: Placed
    since: datetime | None
    last_seen: datetime | None
    offline_for: timedelta | None


def offline_devices(
    placed: Mapping[int, Placed], status: Iterable[Mapping[str, Any]], now: datetime
) -> list[Offline]:
    """The devices of ``placed`` that are offline, by ``status`` rows (id, online, last_seen, changed_at).

    A device never heard from (no status, or online unknown) counts as offline, as in the overview; it
    comes first, since nobody knows how long it has been silent; then the longest offline."""
    by_id = {row["id"]: row for row in status}
    out = []
    for device in placed.values():
        row = by_id.get(device.id, {})
        if row.get("online"):
            continue
        since = row.get("changed_at") if row.get("online") is not None else None
        offline_for = None if since is None else max(timedelta(0), now - since)
        out.append(Offline(device, since, row.get("last_seen"), offline_for))
    return sorted(out, key=lambda x: (x.since is not None, x.since or now, x.device.mn))


# --- data quality ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadHour:
    """One invalid hour of one factor and the reasons the hourly view gives."""

    factor: str
    start: datetime
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class QualityProblem:
    """A device with invalid hours among its last completed hours (newest first)."""

    device: Placed
    hours: tuple[BadHour, ...]
    last_hour_invalid: bool  # the newest completed hour is invalid for at least one factor


def _rated_factors(
    conn: Connection, settings: Settings, placed: Mapping[int, Placed]
) -> dict[int, list[str]]:
    """The factors each device is rated on: its registered rated factors, else its kind's defaults (the
    rule of ``monitoring.rates``, so the workbench judges what the rates count)."""
    registered: dict[int, list[str]] = defaultdict(list)
    f = device_factors.c
    query = (
        select(f.device_id, f.factor).where(f.rated == 1, f.device_id.in_(list(placed))).order_by(f.factor)
    )
    for device_id, factor in conn.execute(query):
        registered[device_id].append(factor)
    defaults = {"gas": settings.rates_factors_gas, "water": settings.rates_factors_water}
    return {i: registered.get(i) or list(defaults.get(d.kind, ())) for i, d in placed.items()}


def data_quality(
    conn: Connection,
    settings: Settings,
    placed: Mapping[int, Placed],
    now: datetime,
    hours: int = QUALITY_HOURS,
) -> list[QualityProblem]:
    """The devices with an invalid (not exempt) hour among their last ``hours`` completed hours; those
    whose newest hour is invalid first."""
    if not placed:
        return []
    end = hour_floor(now)
    start = end - hours * HOUR
    newest = end - HOUR
    factors = _rated_factors(conn, settings, placed)
    out = []
    for device in placed.values():
        if not factors[device.id]:
            continue
        # judging only: the hour rebuilt from minutes beside a device hour is not needed (cheaper)
        views = hour_views_for_factors(
            conn, settings, device.id, factors[device.id], start, end, now, cross_checks=False
        )
        bad = [
            BadHour(view.factor, view.start, view.reasons)
            for factor_views in views.values()
            for view in factor_views
            if view.outcome is Outcome.INVALID
        ]
        if bad:
            bad.sort(key=lambda h: (-h.start.timestamp(), h.factor))
            out.append(QualityProblem(device, tuple(bad), any(h.start == newest for h in bad)))
    return sorted(out, key=lambda p: not p.last_hour_invalid)


# --- marks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenMark:
    """A fault, maintenance or calibration mark in force now or later; ``open_for`` None: starts later."""

    mark_id: int
    device: Placed
    factor: str | None
    code: str
    start: datetime
    end: datetime
    open_for: timedelta | None


def open_marks(conn: Connection, placed: Mapping[int, Placed], now: datetime) -> list[OpenMark]:
    """The marks of ``OPEN_CODES`` on these devices that have not ended at ``now`` (not superseded, not
    withdrawn), the longest open first."""
    if not placed:
        return []
    spans = effective_marks(conn, list(placed), now, now + _AHEAD)
    out = [
        OpenMark(
            s.mark_id,
            placed[s.device_id],
            s.factor,
            s.code,
            s.start,
            s.end,
            now - s.start if s.start <= now else None,
        )
        for s in spans
        if s.code in OPEN_CODES
    ]
    return sorted(out, key=lambda m: (m.start, m.mark_id))


@dataclass(frozen=True)
class FaultCount:
    """Fault marks (故障) of one device in the China month so far; ``flagged`` at the SX-30.6 count."""

    device: Placed
    faults: int
    flagged: bool


def fault_counts(
    conn: Connection, settings: Settings, placed: Mapping[int, Placed], now: datetime
) -> list[FaultCount]:
    """Devices with fault marks overlapping this China month up to ``now``, most faults first. The marks
    are those the rates count (``deciding_marks``: in force, a late one still counts as a fault)."""
    if not placed:
        return []
    spans = deciding_marks(conn, settings, list(placed), month_start(now), now)
    counts = Counter(s.device_id for s in spans if s.code == FAULT_CODE)
    threshold = settings.rates_month_min_faults
    out = [FaultCount(placed[i], n, n >= threshold) for i, n in counts.items()]
    return sorted(out, key=lambda c: (-c.faults, c.device.mn))
