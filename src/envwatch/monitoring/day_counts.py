"""Hourly record status per factor, and its daily counts kept up to date (the base of 有效传输率).

The effective transmission rate counts **hourly records per factor** (reference: monitoring-rules §4).
An hour of a factor is

- *received* when the device sent an hour value (CN 2061) for it or, lacking one, at least one minute
  value (CN 2051) in that hour;
- *valid by its flags* when the device's hour value is a number with a valid flag, or, for an hour built
  from minutes, when enough of its minutes are (``min_valid_minutes_per_hour``, HJ 75-2017 §3: 45);
- *on time* when it counts with only the data that arrived in time: not back-filled (补传) and received
  within ``rates_on_time_grace_s`` after the hour ended. The real-time rate (即时) uses the on-time
  counts, the completed rate (补全) every record.

Marks are not applied here: they change after the data arrived, so the rates apply them when asked
(``monitoring.rates``). These counts are per China calendar day; :func:`refresh_day_counts` recomputes
the days of every device that received a record since the last refresh (incremental, idempotent, safe
to run in several processes: rows are upserted).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Engine, String, func, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from envwatch.core.clock import CHINA_TZ
from envwatch.core.db import exact_text
from envwatch.core.settings import Settings
from envwatch.monitoring.derived_schema import derived_watermarks, factor_day_hours
from envwatch.monitoring.schema import measurements
from envwatch.registry.schema import devices

WATERMARK = "factor_day_hours"
# records the counts come from; ``kind <> 'rtd'`` repeats the partial index's predicate so that the
# planners use ix_measurements_stats_received (real-time rows, 95 % of the table, are not in it)
_STATS_KINDS = (measurements.c.kind != "rtd", measurements.c.kind.in_(("hour", "minute")))
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# bits of one factor-hour's status
RECEIVED, VALID, RECEIVED_ON_TIME, VALID_ON_TIME = 1, 2, 4, 8
# the mask columns of ``factor_day_hours``, in that order; each has its count of hours, ``<name>_hours``
MASK_COLUMNS = ("received", "valid", "received_on_time", "valid_on_time")


# the data flags of HJ 212-2017 Table 8 and HJ/T 212-2005 (P)
KNOWN_FLAGS = frozenset({"N", "F", "M", "S", "D", "C", "T", "B", "P"})


@dataclass(frozen=True, slots=True)
class CountRules:
    """What decides an hour's status, from the validity settings (the same ones the explanations use)."""

    invalid_flags: frozenset[str]
    unknown_flags_invalid: bool
    min_valid_minutes: int
    on_time_grace: timedelta

    @classmethod
    def from_settings(cls, settings: Settings, kind: str) -> CountRules:
        gas = kind == "gas"
        return cls(
            invalid_flags=frozenset(settings.invalid_flags_gas if gas else settings.invalid_flags_water),
            unknown_flags_invalid=settings.unknown_flags_invalid,
            min_valid_minutes=(
                settings.min_valid_minutes_per_hour if gas else settings.min_valid_minutes_per_hour_water
            ),
            on_time_grace=timedelta(seconds=settings.rates_on_time_grace_s),
        )

    def value_ok(self, fields: dict[str, str]) -> bool:
        """A number with a flag of normal data (no Flag field counts as N)."""
        flag = fields.get("Flag", "N")
        if flag in self.invalid_flags or (self.unknown_flags_invalid and flag not in KNOWN_FLAGS):
            return False
        return exact_text(fields.get("Avg")) is not None


def day_start(day: date) -> datetime:
    """00:00 China time of ``day``, in UTC."""
    return datetime.combine(day, time(0), tzinfo=CHINA_TZ).astimezone(UTC)


def hour_floor(moment: datetime) -> datetime:
    """The start of the clock hour holding ``moment`` (UTC and China time share hour boundaries)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def china_day(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


@dataclass(slots=True)
class _Minutes:
    received: int = 0
    valid: int = 0
    received_on_time: int = 0
    valid_on_time: int = 0


def hour_statuses(
    hour_records: Iterable[Any], minute_records: Iterable[Any], start: datetime, hours: int, rules: CountRules
) -> dict[str, list[int]]:
    """Status bits of every factor for each of ``hours`` hours from ``start`` (UTC, on the hour).

    Records are rows with ``data_time``, ``part``, ``factors`` (dict or JSON text), ``backfill`` and
    ``received_at``, in (data_time, part) order; a factor's first part wins, as in the readers."""
    out: dict[str, list[int]] = {}
    value_ok = rules.value_ok
    # the hot loop of a rebuild (13 M factor-hours a quarter for 1,000 devices): no sets, no calls but one
    for rec in hour_records:
        index = int((rec.data_time - start) / HOUR)
        if not 0 <= index < hours:
            continue
        on_time = not rec.backfill and rec.received_at <= rec.data_time + HOUR + rules.on_time_grace
        received = RECEIVED | RECEIVED_ON_TIME if on_time else RECEIVED
        valid = VALID | VALID_ON_TIME if on_time else VALID
        for code, fields in _factors(rec.factors).items():
            row = out.get(code)
            if row is None:
                row = out[code] = [0] * hours
            elif row[index]:
                continue  # a later part re-sent a factor: the first one stands
            row[index] = received | valid if value_ok(fields) else received
    minutes: dict[tuple[str, int], _Minutes] = {}
    seen_minutes: set[tuple[str, datetime]] = set()
    for rec in minute_records:
        index = int((rec.data_time - start) / HOUR)
        if not 0 <= index < hours:
            continue
        on_time = not rec.backfill and rec.received_at <= rec.data_time + HOUR + rules.on_time_grace
        for code, fields in _factors(rec.factors).items():
            if (code in out and out[code][index]) or (code, rec.data_time) in seen_minutes:
                continue  # the device's own hour value stands; a re-sent minute counts once
            seen_minutes.add((code, rec.data_time))
            acc = minutes.setdefault((code, index), _Minutes())
            valid = value_ok(fields)
            acc.received += 1
            acc.valid += valid
            acc.received_on_time += on_time
            acc.valid_on_time += valid and on_time
    for (code, index), acc in minutes.items():
        bits = RECEIVED
        if acc.valid >= rules.min_valid_minutes:
            bits |= VALID
        if acc.received_on_time:
            bits |= RECEIVED_ON_TIME
        if acc.valid_on_time >= rules.min_valid_minutes:
            bits |= VALID_ON_TIME
        out.setdefault(code, [0] * hours)[index] = bits
    return out


def _factors(value: Any) -> dict[str, dict[str, str]]:
    return json.loads(value) if isinstance(value, str) else value  # type: ignore[no-any-return]


class _Record(NamedTuple):
    data_time: datetime
    part: int
    factors: Any  # dict, or JSON text
    backfill: bool
    received_at: datetime


def read_device_records(
    conn: Connection, device_id: int, kind: str, start: datetime, end: datetime
) -> Iterator[_Record]:
    """The records of one device and kind in [start, end), in (data_time, part) order.

    The columns are read raw (times as SQLite text, factors as JSON text) and converted here with the C
    parsers: SQLAlchemy's per-value processors cost more than the counting itself on a rebuild."""
    m = measurements.c
    query = (
        select(
            type_coerce(m.data_time, String),
            m.part,
            type_coerce(m.factors, String),
            m.backfill,
            type_coerce(m.received_at, String),
        )
        .where(m.device_id == device_id, m.kind == kind, m.data_time >= start, m.data_time < end)
        .order_by(m.data_time, m.part)
    )
    loads = orjson.loads
    for data_time, part, factors, backfill, received_at in conn.execute(
        query.execution_options(yield_per=5000)
    ):
        yield _Record(
            _utc(data_time),
            part,
            loads(factors) if isinstance(factors, str | bytes) else factors,
            bool(backfill),
            _utc(received_at),
        )


def _utc(value: Any) -> datetime:
    """A stored time: SQLite text in UTC, or a PostgreSQL timestamptz."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)  # type: ignore[no-any-return]


def device_day_statuses(
    conn: Connection, device_id: int, first: date, last: date, rules: CountRules
) -> dict[date, dict[str, list[int]]]:
    """Hour statuses of every factor of ``device_id`` for each China day in [first, last]."""
    start, end = day_start(first), day_start(last + DAY)
    hours = int((end - start) / HOUR)
    statuses = hour_statuses(
        read_device_records(conn, device_id, "hour", start, end),
        read_device_records(conn, device_id, "minute", start, end),
        start,
        hours,
        rules,
    )
    out: dict[date, dict[str, list[int]]] = {}
    for code, bits in statuses.items():
        for offset in range(0, hours, 24):
            day_bits = bits[offset : offset + 24]
            if any(day_bits):
                out.setdefault(first + timedelta(days=offset // 24), {})[code] = day_bits
    return out


def masks_of(bits: list[int]) -> tuple[int, int, int, int]:
    """Hour statuses (one int per hour) → (received, valid, received_on_time, valid_on_time) bit masks."""
    masks = [0, 0, 0, 0]
    for hour, b in enumerate(bits):
        for i, flag in enumerate((RECEIVED, VALID, RECEIVED_ON_TIME, VALID_ON_TIME)):
            if b & flag:
                masks[i] |= 1 << hour
    return masks[0], masks[1], masks[2], masks[3]


def bits_of(masks: tuple[int, int, int, int], hours: int = 24) -> list[int]:
    """The inverse of :func:`masks_of`."""
    received, valid, received_on_time, valid_on_time = masks
    return [
        (received >> h & 1) * RECEIVED
        | (valid >> h & 1) * VALID
        | (received_on_time >> h & 1) * RECEIVED_ON_TIME
        | (valid_on_time >> h & 1) * VALID_ON_TIME
        for h in range(hours)
    ]


def day_hour_statuses(
    conn: Connection, device_id: int, day: date, first_hour: int, last_hour: int, rules: CountRules
) -> dict[str, list[int]]:
    """Statuses of hours [first_hour, last_hour] of ``day`` for every factor with a record in them."""
    start = day_start(day) + first_hour * HOUR
    end = day_start(day) + (last_hour + 1) * HOUR
    hours: list[_Record] = []
    minutes: list[_Record] = []
    for kind, record in _read_stats_records(conn, device_id, start, end):
        (hours if kind == "hour" else minutes).append(record)
    return hour_statuses(hours, minutes, start, last_hour - first_hour + 1, rules)


def _read_stats_records(
    conn: Connection, device_id: int, start: datetime, end: datetime
) -> Iterator[tuple[str, _Record]]:
    """Hour and minute records of one device in [start, end) in one query (kind, data_time, part order:
    the primary key's, so no sort)."""
    m = measurements.c
    query = (
        select(
            m.kind,
            type_coerce(m.data_time, String),
            m.part,
            type_coerce(m.factors, String),
            m.backfill,
            type_coerce(m.received_at, String),
        )
        .where(
            m.device_id == device_id, m.kind.in_(("hour", "minute")), m.data_time >= start, m.data_time < end
        )
        .order_by(m.kind, m.data_time, m.part)
    )
    for kind, data_time, part, factors, backfill, received_at in conn.execute(query):
        yield kind, _Record(_utc(data_time), part, _loads(factors), bool(backfill), _utc(received_at))


def _loads(factors: Any) -> Any:
    return orjson.loads(factors) if isinstance(factors, str | bytes) else factors


@dataclass(frozen=True, slots=True)
class RefreshStats:
    device_hours: int  # device-hours recomputed
    rows: int  # factor-day rows written
    watermark: datetime | None


def refresh_day_counts(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    rebuild: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RefreshStats:
    """Bring ``factor_day_hours`` up to date with every hour and minute record stored so far.

    Incremental: only the device-hours that received a record since the last refresh (less an overlap for
    records committed late) are recomputed, and only their bits are rewritten: a refresh every minute
    reads the last minutes' records, not whole days. ``rebuild`` recomputes everything.
    ``progress(done, total)`` is called per device."""
    with engine.connect() as conn:
        mark = None if rebuild else _watermark(conn)
        rebuild = mark is None  # the first refresh reads everything: whole days, one range per device
        m = measurements.c
        newest = conn.execute(select(func.max(m.received_at)).where(*_STATS_KINDS)).scalar()
        if newest is None or (mark is not None and newest <= mark):
            return RefreshStats(0, 0, mark)  # nothing arrived since: the usual case for repeated queries
        since = None if mark is None else mark - timedelta(seconds=settings.rates_refresh_overlap_s)
        touched = _touched_hours(conn, since)
        kinds = dict(conn.execute(select(devices.c.id, devices.c.kind)).all())
    rules = {kind: CountRules.from_settings(settings, kind) for kind in ("gas", "water")}
    rule_of = {device_id: rules[kinds.get(device_id, "gas")] for device_id in touched}
    if rebuild:
        total_hours, total_rows = _rebuild(engine, touched, rule_of, now, progress)
    else:
        total_hours, total_rows = _catch_up(engine, touched, rule_of, now)
    with engine.begin() as conn:
        _set_watermark(conn, newest, now)
    return RefreshStats(total_hours, total_rows, newest)


def _rebuild(
    engine: Engine,
    touched: dict[int, dict[date, set[int]]],
    rule_of: dict[int, CountRules],
    now: datetime,
    progress: Callable[[int, int], None] | None,
) -> tuple[int, int]:
    """Whole days, one range read and one transaction per device (a rebuild reads every record)."""
    total_rows = total_hours = 0
    for done, (device_id, days) in enumerate(sorted(touched.items()), start=1):
        first_day, last_day = min(days), max(days)
        with engine.begin() as conn:
            statuses = device_day_statuses(conn, device_id, first_day, last_day, rule_of[device_id])
            rows = [
                _mask_row(device_id, code, day, masks_of(bits), now)
                for day, per_factor in statuses.items()
                for code, bits in per_factor.items()
            ]
            _upsert(conn, rows)
        total_rows += len(rows)
        total_hours += ((last_day - first_day).days + 1) * 24
        if progress is not None:
            progress(done, len(touched))
    return total_hours, total_rows


def _catch_up(
    engine: Engine, touched: dict[int, dict[date, set[int]]], rule_of: dict[int, CountRules], now: datetime
) -> tuple[int, int]:
    """Only the touched hours, in one transaction: their bits are rewritten, the day's other bits kept.
    Few round trips per device-day (one read of its records), since a refresh runs every minute."""
    total_hours = 0
    rows: list[dict[str, Any]] = []
    with engine.begin() as conn:
        stored = _stored_masks(conn, touched)
        for device_id, days in sorted(touched.items()):
            for day, hours in sorted(days.items()):
                first, last = min(hours), max(hours)
                fresh = day_hour_statuses(conn, device_id, day, first, last, rule_of[device_id])
                span = ((1 << (last - first + 1)) - 1) << first  # the hours recomputed
                before = stored.get((device_id, day), {})
                for code in fresh.keys() | before.keys():
                    new = masks_of([0] * first + fresh[code]) if code in fresh else (0, 0, 0, 0)
                    old = before.get(code, (0, 0, 0, 0))
                    masks = tuple((o & ~span) | n for o, n in zip(old, new, strict=True))
                    rows.append(_mask_row(device_id, code, day, masks, now))
                total_hours += last - first + 1
        _upsert(conn, rows)
    return total_hours, len(rows)


def _touched_hours(conn: Connection, since: datetime | None) -> dict[int, dict[date, set[int]]]:
    """Per device and China day, the hours with records received since ``since`` (None: every record)."""
    m = measurements.c
    touched: dict[int, dict[date, set[int]]] = {}
    if since is None:  # a rebuild: every day from each device's first record to its last, whole
        query = select(m.device_id, func.min(m.data_time), func.max(m.data_time)).where(*_STATS_KINDS)
        for device_id, first, last in conn.execute(query.group_by(m.device_id)):
            day, end = china_day(_utc(first)), china_day(_utc(last))
            days = touched.setdefault(device_id, {})
            while day <= end:
                days[day] = set(range(24))
                day += DAY
        return touched
    recent = select(m.device_id, type_coerce(m.data_time, String)).where(
        *_STATS_KINDS, m.received_at >= since
    )
    for device_id, data_time in conn.execute(recent.distinct()):
        local = _utc(data_time).astimezone(CHINA_TZ)
        touched.setdefault(device_id, {}).setdefault(local.date(), set()).add(local.hour)
    return touched


def _stored_masks(
    conn: Connection, touched: dict[int, dict[date, set[int]]]
) -> dict[tuple[int, date], dict[str, tuple[int, int, int, int]]]:
    """The stored masks of every touched device-day, read at once."""
    wanted = {(device_id, day) for device_id, days in touched.items() for day in days}
    if not wanted:
        return {}
    c = factor_day_hours.c
    query = select(
        c.device_id,
        type_coerce(c.day, String),
        c.factor,
        c.received,
        c.valid,
        c.received_on_time,
        c.valid_on_time,
    ).where(c.device_id.in_(list(touched)), c.day.in_(sorted({day for _, day in wanted})))
    out: dict[tuple[int, date], dict[str, tuple[int, int, int, int]]] = {}
    for device_id, day, factor, *masks in conn.execute(query):
        key = (device_id, date.fromisoformat(day) if isinstance(day, str) else day)
        if key in wanted:
            out.setdefault(key, {})[factor] = (masks[0], masks[1], masks[2], masks[3])
    return out


def _mask_row(device_id: int, code: str, day: date, masks: tuple[int, ...], now: datetime) -> dict[str, Any]:
    """One row of ``factor_day_hours``: the masks and the number of hours each holds."""
    row: dict[str, Any] = {"device_id": device_id, "factor": code, "day": day, "computed_at": now}
    for name, mask in zip(MASK_COLUMNS, masks, strict=True):
        row[name] = mask
        row[f"{name}_hours"] = mask.bit_count()
    return row


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(factor_day_hours)
    stmt = stmt.on_conflict_do_update(
        index_elements=["device_id", "factor", "day"],
        set_={
            c: stmt.excluded[c]
            for c in (*MASK_COLUMNS, *(f"{name}_hours" for name in MASK_COLUMNS), "computed_at")
        },
    )
    conn.execute(stmt, rows)  # executemany: one compiled statement, not a 40,000-parameter VALUES list


def _watermark(conn: Connection) -> datetime | None:
    w = derived_watermarks.c
    return conn.execute(select(w.received_at).where(w.name == WATERMARK)).scalar()


def _set_watermark(conn: Connection, received_at: datetime, now: datetime) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(derived_watermarks).values(name=WATERMARK, received_at=received_at, updated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"], set_={"received_at": received_at, "updated_at": now}
        )
    )
