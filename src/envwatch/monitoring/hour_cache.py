"""An exact in-process cache of today's completed hours (今日已结束小时的判定), for the regional overview.

The dashboard (区域总览) judges every hour of today of every rated factor of every device of the area,
on every request (the page, the counts every 60 s, the map, the 今日超标 fragment). A completed hour's
verdict only changes when its inputs change, so it is kept per (device, factor, hour) and only the new
hours are judged. What a verdict depends on, and how each change is seen:

- the hour and minute records of the device in that hour (the records are append-only: a re-send that
  disagrees goes to ``measurement_conflicts``, a later packet adds a ``part``). Each request probes the
  records received since the previous probe (the partial index on ``received_at``, less the same overlap
  as the rates, ``rates_refresh_overlap_s``, for records committed late); for each such record inside a
  held hour the hour's record count is compared with the count the verdicts were built from, and the
  device is judged again when it differs;
- the minute step of the day (``hourly_view.minute_gcd`` over today's minutes): held with the entry and
  folded with the new hours' minutes; a different step judges the device again;
- the marks (标记) of the device: a mark created or reviewed since the previous probe (same overlap)
  judges the device again;
- the registry: the device's kind and outlet, its factors' basis and unit, the reference O2 in force
  today (基准氧含量): compared on every request (the entry's ``signature``);
- the China day: a new day starts empty.

Only what the quick view needs is held (:class:`Judged`), not the full explained hour. One cache serves
one app (one store, one ``Settings``); requests use it one at a time (``lock``), which also keeps two
concurrent requests from judging the same device twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from envwatch.core.settings import Settings
from envwatch.monitoring.day_counts import HOUR, china_day, hour_floor
from envwatch.monitoring.hourly_view import (
    HourView,
    device_record,
    hour_views_for_factors,
    interval_of,
    judge_hours,
    minute_gcd,
    read_device_data,
)
from envwatch.monitoring.marks_schema import mark_reviews, marks
from envwatch.monitoring.schema import measurements
from envwatch.registry.schema import device_factors, devices
from envwatch.registry.service_limits import limits_in_force_at

__all__ = ["HourCache", "Judged", "judged", "judged_hours"]

_STATS = (measurements.c.kind != "rtd", measurements.c.kind.in_(("hour", "minute")))  # hits the partial index


@dataclass(frozen=True, slots=True)
class Judged:
    """What the quick view keeps of an hour: its start, whether it is valid, its value and its 折算浓度."""

    start: datetime
    valid: bool
    value: Decimal | None
    converted: Decimal | None


def judged(view: HourView) -> Judged:
    converted = None if view.converted is None else view.converted.value
    return Judged(view.start, view.valid, view.value, converted)


def judged_hours(
    conn: Connection,
    settings: Settings,
    device_id: int,
    factors: Sequence[str],
    start: datetime,
    now: datetime,
) -> dict[str, list[Judged]]:
    """The hours of [start, now) of ``factors``, judged without a cache (one read for all factors)."""
    views = hour_views_for_factors(conn, settings, device_id, factors, start, now, now, cross_checks=False)
    return {factor: [judged(v) for v in hours] for factor, hours in views.items()}


@dataclass
class _Entry:
    """Today's completed hours of one device: [start, end) of each factor in ``hours``."""

    start: datetime
    end: datetime
    signature: tuple[Any, ...]
    step: int  # minute_gcd of the minutes in [start, end)
    rows: dict[datetime, int]  # hour and minute records per hour, as read
    hours: dict[str, list[Judged]]


@dataclass(frozen=True)
class _Seen:
    """The newest change times at the previous probe."""

    received: datetime | None
    marked: datetime | None
    reviewed: datetime | None


class HourCache:
    """Today's judged hours per device, kept between requests (see the module docstring)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        self._seen: _Seen | None = None
        self._registry: dict[int, tuple[Any, ...]] = {}  # device → kind, outlet, factors (this request)
        self._references: dict[tuple[int, date], tuple[Any, ...]] = {}

    def held_devices(self) -> frozenset[int]:
        """The devices whose hours are held (for tests and logs)."""
        return frozenset(self._entries)

    # --- the probe (once per request, before any read) ---------------------------------------------
    def refresh(self, conn: Connection, settings: Settings, start: datetime) -> None:
        """Forget what changed since the previous probe; ``start`` is today's start (older days go)."""
        self._entries = {d: e for d, e in self._entries.items() if e.start == start}
        self._load_registry(conn)
        seen = self._newest(conn)
        previous, self._seen = self._seen, seen
        if previous is None:
            return  # nothing is held yet
        overlap = timedelta(seconds=settings.rates_refresh_overlap_s)
        if previous.received is not None:
            self._check_records(conn, previous.received - overlap)
        elif seen.received is not None:
            self._entries.clear()  # the first records of the store: no time to measure from
        marked = None if previous.marked is None else previous.marked - overlap
        reviewed = None if previous.reviewed is None else previous.reviewed - overlap
        for device_id in self._marked_devices(conn, marked, reviewed):
            self._entries.pop(device_id, None)

    def _newest(self, conn: Connection) -> _Seen:
        m, k, r = measurements.c, marks.c, mark_reviews.c
        return _Seen(
            conn.execute(select(func.max(m.received_at)).where(*_STATS)).scalar(),
            conn.execute(select(func.max(k.created_at))).scalar(),
            conn.execute(select(func.max(r.reviewed_at))).scalar(),
        )

    def _check_records(self, conn: Connection, since: datetime) -> None:
        """Judge again the devices whose held hours got a record since ``since`` (counts differ)."""
        m = measurements.c
        suspects: dict[datetime, set[int]] = {}
        recent = select(m.device_id, m.data_time).where(*_STATS, m.received_at >= since).distinct()
        for device_id, data_time in conn.execute(recent):
            entry = self._entries.get(device_id)
            if entry is not None and entry.start <= data_time < entry.end:
                suspects.setdefault(hour_floor(data_time), set()).add(device_id)
        for hour, ids in suspects.items():
            query = (
                select(m.device_id, func.count())
                .where(*_STATS, m.device_id.in_(sorted(ids)), m.data_time >= hour, m.data_time < hour + HOUR)
                .group_by(m.device_id)
            )
            now_rows: dict[int, int] = {device_id: n for device_id, n in conn.execute(query)}
            for device_id in ids:
                entry = self._entries.get(device_id)
                if entry is not None and now_rows.get(device_id, 0) != entry.rows.get(hour, 0):
                    del self._entries[device_id]

    def _marked_devices(
        self, conn: Connection, marked: datetime | None, reviewed: datetime | None
    ) -> set[int]:
        """Devices with a mark row (a mark, a correction, a withdrawal) or a review since then (None:
        every one: there was none at the previous probe). Marks are few: a plain scan."""
        k, r = marks.c, mark_reviews.c
        query = select(k.device_id).distinct()
        found = set(conn.execute(query if marked is None else query.where(k.created_at >= marked)).scalars())
        reviews = select(k.device_id).distinct().join(mark_reviews, r.mark_id == k.id)
        if reviewed is not None:
            reviews = reviews.where(r.reviewed_at >= reviewed)
        return found | set(conn.execute(reviews).scalars())

    def _load_registry(self, conn: Connection) -> None:
        d, f = devices.c, device_factors.c
        factors: dict[int, list[tuple[str, str, str]]] = {}
        for row in conn.execute(select(f.device_id, f.factor, f.basis, f.unit)):
            factors.setdefault(row.device_id, []).append((row.factor, row.basis, row.unit))
        self._registry = {
            row.id: (row.kind, row.outlet_id, tuple(sorted(factors.get(row.id, ()))))
            for row in conn.execute(select(d.id, d.kind, d.outlet_id))
        }
        self._references = {}

    def _signature(self, conn: Connection, device_id: int, day: date) -> tuple[Any, ...]:
        registered = self._registry.get(device_id, ())
        outlet_id = registered[1] if registered else None
        if outlet_id is None:
            return registered
        key = (outlet_id, day)
        if key not in self._references:
            # every outlet of the registry at once: one query per day instead of one per device
            outlet_ids = {reg[1] for reg in self._registry.values() if reg[1] is not None}
            in_force = limits_in_force_at(conn, outlet_ids, day)
            for outlet in outlet_ids:
                rows = in_force.get(outlet, [])
                self._references[(outlet, day)] = tuple(
                    sorted((row["factor"], str(row["reference_o2"])) for row in rows)
                )
        return (*registered, self._references[key])

    # --- the hours ---------------------------------------------------------------------------------
    def hours(
        self,
        conn: Connection,
        settings: Settings,
        device_id: int,
        factors: Sequence[str],
        start: datetime,
        now: datetime,
    ) -> dict[str, list[Judged]]:
        """The same as :func:`judged_hours` (``start`` = today's start), from the held hours plus the new
        ones. Call :meth:`refresh` first in the same request."""
        last = hour_floor(now)
        if last <= start:
            return {factor: [] for factor in factors}
        signature = self._signature(conn, device_id, china_day(start))
        entry = self._entries.get(device_id)
        fresh = entry is not None and entry.signature == signature and set(factors) <= entry.hours.keys()
        # held hours are kept when the new hours do not change the day's minute step (_extend)
        if (
            entry is None
            or not fresh
            or (entry.end < last and not self._extend(conn, settings, device_id, entry, last))
        ):
            entry = self._judge(conn, settings, device_id, factors, start, last, signature)
        return {factor: [j for j in entry.hours[factor] if j.start < last] for factor in factors}

    def _judge(
        self,
        conn: Connection,
        settings: Settings,
        device_id: int,
        factors: Iterable[str],
        start: datetime,
        last: datetime,
        signature: tuple[Any, ...],
    ) -> _Entry:
        """Judge every hour of [start, last) again."""
        data = read_device_data(
            conn, settings, device_record(conn, device_id), start, last, cross_checks=False
        )
        hours = {factor: [judged(v) for v in judge_hours(data, settings, factor)] for factor in factors}
        entry = _Entry(start, last, signature, minute_gcd(data.minutes), dict(data.rows), hours)
        self._entries[device_id] = entry
        return entry

    def _extend(
        self, conn: Connection, settings: Settings, device_id: int, entry: _Entry, last: datetime
    ) -> bool:
        """Judge the hours [entry.end, last) only; False when the day's minute step changed with them (the
        held hours were judged with another step: they must be judged again)."""
        data = read_device_data(
            conn, settings, device_record(conn, device_id), entry.end, last, cross_checks=False
        )
        step = minute_gcd(data.minutes, entry.step)
        if interval_of(step) != interval_of(entry.step):
            return False
        # a fresh read: no hour is built yet, so it can take the day's step instead of its own
        data = replace(data, interval=interval_of(step))
        for factor, held in entry.hours.items():
            held.extend(judged(v) for v in judge_hours(data, settings, factor))
        entry.rows.update(data.rows)
        entry.end, entry.step = last, step
        return True
