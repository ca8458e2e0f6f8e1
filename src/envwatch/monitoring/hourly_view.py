"""The explained hourly and daily view of a device's data (小时/日数据有效性说明).

For each clock hour of one factor the view says where the value comes from, whether it is valid and why:

- ``device``: the device sent an hour record (CN 2061). Its Avg and Flag are kept as sent and judged with
  the marks (标记) over the hour (:func:`~envwatch.monitoring.validity.value_verdict`). When minute records
  (CN 2051) exist too, the hour computed from them is shown next to it with the difference
  (:func:`~envwatch.monitoring.validity.cross_check`): the device value is never replaced;
- ``minutes``: no hour record, the hour is built from the minute records
  (:func:`~envwatch.monitoring.validity.hour_from_minutes`, 有效小时均值: 45 valid minutes);
- ``none``: nothing was received; still judged against the marks (an approved 停运 makes it exempt).

Gas factors whose outlet has a reference O2 (基准氧含量) in force get the converted concentration 折算浓度
from the same hour's valid O2 (a19001), cross-checked against the device's own ZsAvg when it sent one.
Days (日均值) are built from these hours in :mod:`envwatch.monitoring.daily_view`.

This module only assembles: every rule lives in ``validity``, ``conversions`` and ``explain``. Nothing
reads a clock: ``now`` is passed in. Hours that are not over at ``now`` are not judged (left out).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, select

from envwatch.core.db import exact_text
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.monitoring.conversions import (
    O2,
    SRC_CONV_01,
    Converted,
    PressureUnit,
    converted_concentration,
    dry_basis,
    standard_dry_concentration,
)
from envwatch.monitoring.day_counts import DAY, HOUR, china_day, day_start, hour_floor, read_device_records
from envwatch.monitoring.explain import (
    explain_converted,
    explain_cross_check,
    explain_hour,
    explain_reasons,
)
from envwatch.monitoring.marking import MarkSpan
from envwatch.monitoring.marks_store import deciding_marks
from envwatch.monitoring.validity import (
    SRC_GAS_INVALID,
    SRC_WATER_INVALID,
    CrossCheck,
    HourResult,
    Kind,
    MinuteValue,
    Outcome,
    Reason,
    cross_check,
    hour_from_minutes,
    value_verdict,
)
from envwatch.registry.schema import device_factors, devices
from envwatch.registry.service_limits import limits_in_force

__all__ = ["MAX_DAYS", "HourView", "check_days", "device_hours", "hour_views", "hour_views_for_factors"]

MAX_DAYS = 31  # one month at most per request: 744 hours, ~45 000 minute records per factor

Source = Literal["device", "minutes", "none"]

# Minute data (CN 2051) come every 1, 5 or 10 minutes depending on the device (HJ 212-2017 §6.6); the
# registry does not record which, so the step is read off the data (see _minute_interval).
_MINUTE_STEPS = (600, 300, 60)


@dataclass(frozen=True, slots=True)
class HourView:
    """One clock hour of one factor, explained. ``value`` is the hour's effective value: the device's Avg
    when it sent an hour record (kept as sent), else the mean computed from its minutes."""

    factor: str
    start: datetime
    source: Source
    value: Decimal | None
    flag: str | None
    fields: dict[str, str]  # the hour record's fields exactly as sent ({} without one)
    outcome: Outcome
    reasons: tuple[Reason, ...]
    computed: HourResult | None = None  # the hour built from minutes, when minutes exist
    check: CrossCheck | None = None  # device hour vs computed (both sources present)
    o2: Decimal | None = None  # the valid O2 of the hour used for 折算
    reference_o2: Decimal | None = None
    converted: Converted | None = None
    converted_check: CrossCheck | None = None  # the device's ZsAvg vs the computed 折算浓度
    basis: str = "standard_dry"  # how the device reports the value (device_factors.basis)
    standard_dry: Decimal | None = None  # the value at the standard state, dry (标干), when converted
    standard_reasons: tuple[Reason, ...] = ()

    @property
    def valid(self) -> bool:
        return self.outcome is Outcome.VALID

    @property
    def exempt(self) -> bool:
        return self.outcome is Outcome.EXEMPT

    def as_dict(self) -> dict[str, Any]:
        """Top-level Decimals and times stay typed (the API renders them); nested parts are explain dicts."""
        out: dict[str, Any] = {
            "factor": self.factor,
            "start": self.start,
            "end": self.start + HOUR,
            "source": self.source,
            "value": self.value,
            "flag": self.flag,
            "fields": self.fields or None,
            "valid": self.valid,
            "outcome": str(self.outcome),
            "reasons": explain_reasons(self.reasons),
            "computed": None if self.computed is None else explain_hour(self.computed),
            "cross_check": None if self.check is None else explain_cross_check(self.check),
            "converted": None,
        }
        if self.basis != "standard_dry":
            out["standard_dry"] = {
                "basis": self.basis,
                "value": None if self.standard_dry is None else str(self.standard_dry),
                "reasons": explain_reasons(self.standard_reasons),
            }
        if self.converted is not None:
            out["converted"] = {
                **explain_converted(self.converted),
                "o2": None if self.o2 is None else str(self.o2),
                "reference_o2": None if self.reference_o2 is None else str(self.reference_o2),
                "device_value": self.fields.get("ZsAvg"),
                "cross_check": (
                    None if self.converted_check is None else explain_cross_check(self.converted_check)
                ),
            }
        return out


TEMPERATURE, PRESSURE, MOISTURE = "a01012", "a01013", "a01014"  # flue-gas parameters (HJ 212 Appendix B)

# --- reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What judging a device's hours needs from the registry."""

    id: int
    kind: Kind
    outlet_id: int | None


def device_record(conn: Connection, device_id: int) -> DeviceFacts:
    row = conn.execute(
        select(devices.c.id, devices.c.kind, devices.c.outlet_id).where(devices.c.id == device_id)
    ).first()
    if row is None:
        raise NotFound(f"no device with id {device_id}")
    kind: Kind = "water" if row.kind == "water" else "gas"
    return DeviceFacts(row.id, kind, row.outlet_id)


def by_time(
    conn: Connection,
    device_id: int,
    kind: str,
    start: datetime,
    end: datetime,
    rows: Counter[datetime] | None = None,
) -> dict[datetime, dict[str, dict[str, str]]]:
    """{data_time: {factor: fields}}; of the parts of one DataTime a factor's first part wins, as in the
    readers (later parts only add factors the first packet lacked). ``rows`` counts the records read by
    clock hour (a cache checks with it that an hour's records are still the same)."""
    out: dict[datetime, dict[str, dict[str, str]]] = {}
    for record in read_device_records(conn, device_id, kind, start, end):
        if rows is not None:
            rows[record.data_time.replace(minute=0, second=0, microsecond=0)] += 1
        merged = out.setdefault(record.data_time, {})
        for code, fields in record.factors.items():
            merged.setdefault(code, fields)
    return out


def to_decimal(text: str | None) -> Decimal | None:
    exact = exact_text(text)
    return None if exact is None else Decimal(exact)


def _ceil_hour(moment: datetime) -> datetime:
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def minute_gcd(times: Iterable[datetime], step: int = 3600) -> int:
    """The greatest common divisor (seconds) of the records' offsets in their hours, starting from ``step``
    (gcd is associative: a cache can fold in the minutes of new hours without re-reading the old ones)."""
    for moment in times:
        step = math.gcd(step, moment.minute * 60 + moment.second)
    return step


def interval_of(step: int) -> timedelta:
    """A :func:`minute_gcd` taken to the longest standard step (10, 5, 1 min) it is a multiple of."""
    return timedelta(seconds=next((s for s in _MINUTE_STEPS if step % s == 0), step))


def _minute_interval(times: Iterable[datetime]) -> timedelta:
    """The minute-data step: the greatest common divisor of the records' offsets in their hours, taken to
    the longest standard step (10, 5, 1 min) it is a multiple of. Read over the whole range, so one hour
    with a single record does not pass for 10-minute data when the device sends every minute."""
    return interval_of(minute_gcd(times))


# --- hours --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceData:
    """Everything one range needs, read once and shared by every factor (the O2 and flow hours too)."""

    device: DeviceFacts
    start: datetime
    end: datetime
    hours: dict[datetime, dict[str, dict[str, str]]]
    minutes: dict[datetime, dict[str, dict[str, str]]]
    interval: timedelta
    marks: list[MarkSpan]
    reference_o2: dict[date, dict[str, Decimal]]  # China day → factor → 基准氧含量
    bases: dict[str, str]  # factor → how the device reports it (registered factors only)
    pressure_unit: PressureUnit  # of the flue-gas pressure a01013, from its registered unit
    # False: an hour the device sent is not also rebuilt from its minutes (no ``computed``/``check``): its
    # verdict and value never depend on them, and rebuilding is most of the work (60 minute verdicts)
    cross_checks: bool = True
    rows: Counter[datetime] = field(default_factory=Counter)  # hour and minute records per clock hour
    # the plain hours already built, by (factor, hour): the O2 and flue-gas hours are shared by every
    # factor converted with them, and by every factor of one multi-factor read
    plain: dict[tuple[str, datetime], HourView] = field(default_factory=dict)


def read_marks(
    conn: Connection, settings: Settings, device_id: int, start: datetime, end: datetime
) -> list[MarkSpan]:
    # the same marks as the rates: approval and late rules in one place (marks_store.deciding_marks)
    return deciding_marks(conn, settings, [device_id], start, end)


def read_device_data(
    conn: Connection,
    settings: Settings,
    device: DeviceFacts,
    start: datetime,
    end: datetime,
    marks: list[MarkSpan] | None = None,
    *,
    interval: timedelta | None = None,
    cross_checks: bool = True,
) -> DeviceData:
    """Everything [start, end) needs. ``interval`` overrides the minute step read off this range (a cache
    that extends a longer range passes the step of the whole range)."""
    device_id = device.id
    rows: Counter[datetime] = Counter()
    minutes = by_time(conn, device_id, "minute", start, end, rows)
    f = device_factors.c
    factors = {
        r.factor: (r.basis, r.unit)
        for r in conn.execute(select(f.factor, f.basis, f.unit).where(f.device_id == device_id))
    }
    references: dict[date, dict[str, Decimal]] = {}
    if device.kind == "gas" and device.outlet_id is not None:
        day = china_day(start)
        while day_start(day) < end:
            references[day] = {
                row["factor"]: Decimal(row["reference_o2"])
                for row in limits_in_force(conn, device.outlet_id, day)
                if row["reference_o2"] is not None
            }
            day += DAY
    return DeviceData(
        device=device,
        start=start,
        end=end,
        hours=by_time(conn, device_id, "hour", start, end, rows),
        minutes=minutes,
        interval=_minute_interval(minutes) if interval is None else interval,
        marks=read_marks(conn, settings, device_id, start, end) if marks is None else marks,
        reference_o2=references,
        bases={f: b for f, (b, _) in factors.items()},
        pressure_unit="Pa" if factors.get(PRESSURE, ("", ""))[1].strip().lower() == "pa" else "kPa",
        cross_checks=cross_checks,
        rows=rows,
    )


def check_days(first_day: date, last_day: date) -> None:
    """A day range [first_day, last_day] of at most ``MAX_DAYS`` days, or InvalidInput."""
    if first_day > last_day:
        raise InvalidInput(f"the range is empty: from {first_day} is after to {last_day}")
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise InvalidInput(
            f"the range is longer than {MAX_DAYS} days: ask for at most {MAX_DAYS} days at once"
        )


def _check_range(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start and end must be aware times")
    if start >= end:
        raise InvalidInput(f"the range is empty: from {start.isoformat()} is not before to {end.isoformat()}")
    if end - start > MAX_DAYS * DAY:
        raise InvalidInput(
            f"the range is longer than {MAX_DAYS} days: ask for at most {MAX_DAYS} days at once"
        )
    # whole clock hours (China is UTC+8, so its hours are UTC hours); an hour not over yet is not judged
    return hour_floor(start), min(_ceil_hour(end), hour_floor(now))


def _hour_minutes(data: DeviceData, factor: str, hour: datetime) -> list[MinuteValue]:
    out = []
    step = data.interval
    slot = hour
    while slot < hour + HOUR:
        fields = data.minutes.get(slot, {}).get(factor)
        if fields is not None:
            out.append(
                MinuteValue(
                    slot,
                    to_decimal(fields.get("Avg")),
                    fields.get("Flag"),
                    to_decimal(fields.get("Min")),
                    to_decimal(fields.get("Max")),
                    to_decimal(fields.get("Cou")),
                )
            )
        slot += step
    return out


def _missing_reasons(kind: Kind, reasons: tuple[Reason, ...]) -> tuple[Reason, ...]:
    """A verdict on nothing: no flag was sent, so "flag N" would mislead; say that nothing arrived."""
    source = SRC_GAS_INVALID if kind == "gas" else SRC_WATER_INVALID
    missing = Reason("hour_missing", source, "no hour or minute record received", "未收到小时或分钟数据")
    kept = tuple(r for r in reasons if r.code not in ("flag_normal", "value_missing"))
    return (missing, *kept)


def _plain_hour(data: DeviceData, settings: Settings, factor: str, hour: datetime) -> HourView:
    """The hour of ``factor`` without conversion (built once per read: :attr:`DeviceData.plain`)."""
    key = (factor, hour)
    view = data.plain.get(key)
    if view is None:
        view = data.plain[key] = _build_plain_hour(data, settings, factor, hour)
    return view


def _build_plain_hour(data: DeviceData, settings: Settings, factor: str, hour: datetime) -> HourView:
    """The hour of ``factor`` without conversion: its source, value, verdict and cross-check."""
    kind = data.device.kind
    sent = data.hours.get(hour, {}).get(factor)
    minutes = [] if sent is not None and not data.cross_checks else _hour_minutes(data, factor, hour)
    computed = (
        hour_from_minutes(kind, factor, minutes, data.marks, hour, settings, interval=data.interval)
        if minutes
        else None
    )
    if sent is not None:
        value = to_decimal(sent.get("Avg"))
        flag = sent.get("Flag")
        verdict = value_verdict(kind, factor, flag, data.marks, hour, hour + HOUR, settings, value=value)
        check = None
        if computed is not None:
            # a computed hour that is not valid has no value: the check then says "nothing to compare"
            check = cross_check(value, computed.value, settings.aggregate_tolerance_pct)
        return HourView(
            factor, hour, "device", value, flag, dict(sent), verdict.outcome, verdict.reasons, computed, check
        )
    if computed is not None:
        return HourView(
            factor,
            hour,
            "minutes",
            computed.value,
            computed.flag,
            {},
            computed.outcome,
            computed.reasons,
            computed,
        )
    verdict = value_verdict(kind, factor, None, data.marks, hour, hour + HOUR, settings, value=None)
    return HourView(
        factor, hour, "none", None, None, {}, verdict.outcome, _missing_reasons(kind, verdict.reasons)
    )


def _with_conversion(view: HourView, o2: HourView | None, reference: Decimal, settings: Settings) -> HourView:
    """Add the 折算浓度. Only a valid O2 hour is used (an invalid O2 would convert with a wrong factor);
    the concentration is converted whenever it has a value, its own verdict tells whether it counts. A
    value not reported at the standard state, dry, is converted from its standard dry value."""
    o2_value = o2.value if o2 is not None and o2.valid else None
    dry = view.value if view.basis == "standard_dry" else view.standard_dry
    converted = converted_concentration(dry, o2_value, reference, settings)
    device_zs = to_decimal(view.fields.get("ZsAvg"))
    check = None
    if device_zs is not None:
        check = cross_check(device_zs, converted.value, settings.aggregate_tolerance_pct)
    return replace(view, o2=o2_value, reference_o2=reference, converted=converted, converted_check=check)


_FLUE_PARAMETERS = frozenset({O2, TEMPERATURE, PRESSURE, MOISTURE, "a01011", "a00000", "a01016"})


def _with_standard_dry(
    view: HourView, inputs: dict[str, HourView], basis: str, unit: PressureUnit
) -> HourView:
    """CONV-01: the value at the standard state (273.15 K, 101.325 kPa), dry, from the same hour's valid
    flue-gas temperature (a01012), pressure (a01013) and moisture (a01014). Only valid input hours are used."""
    if view.value is None:
        return replace(view, basis=basis)
    needed = (MOISTURE,) if basis == "standard_wet" else (TEMPERATURE, PRESSURE, MOISTURE)
    values = {code: inputs[code].value if code in inputs and inputs[code].valid else None for code in needed}
    missing = [code for code, v in values.items() if v is None]
    if missing:
        reason = Reason(
            "standard_dry_inputs_missing",
            SRC_CONV_01,
            f"reported {basis}: no standard dry value without a valid hour of {', '.join(missing)}",
            f"报送基准为{basis}：缺少有效的{'、'.join(missing)}小时值，无法换算为标态干基",
        )
        return replace(view, basis=basis, standard_reasons=(reason,))
    try:
        if basis == "standard_wet":
            dry = dry_basis(view.value, values[MOISTURE])  # type: ignore[arg-type]
        else:
            dry = standard_dry_concentration(
                view.value,
                values[TEMPERATURE],  # type: ignore[arg-type]
                values[PRESSURE],  # type: ignore[arg-type]
                values[MOISTURE],  # type: ignore[arg-type]
                pressure_unit=unit,
            )
    except ValueError as exc:  # moisture ≥ 100 %, below absolute zero …: say so, do not guess
        reason = Reason("standard_dry_inputs_bad", SRC_CONV_01, str(exc), f"换算输入异常：{exc}")
        return replace(view, basis=basis, standard_reasons=(reason,))
    reason = Reason(
        "standard_dry",
        SRC_CONV_01,
        f"reported {basis}, converted to the standard state, dry",
        f"报送基准为{basis}，已换算为标态干基",
    )
    return replace(view, basis=basis, standard_dry=dry, standard_reasons=(reason,))


def judge_hours(data: DeviceData, settings: Settings, factor: str) -> list[HourView]:
    starts = []
    hour = data.start
    while hour < data.end:
        starts.append(hour)
        hour += HOUR
    views = [_plain_hour(data, settings, factor, h) for h in starts]
    basis = data.bases.get(factor, "standard_dry")
    if data.device.kind == "gas" and basis != "standard_dry" and factor not in _FLUE_PARAMETERS:
        needed = (MOISTURE,) if basis == "standard_wet" else (TEMPERATURE, PRESSURE, MOISTURE)
        flue = {
            code: {v.start: v for v in (_plain_hour(data, settings, code, h) for h in starts)}
            for code in needed
        }
        views = [
            _with_standard_dry(v, {c: flue[c][v.start] for c in needed}, basis, data.pressure_unit)
            for v in views
        ]
    if data.device.kind != "gas" or factor == O2 or not any(factor in r for r in data.reference_o2.values()):
        return views
    o2_views = {v.start: v for v in (_plain_hour(data, settings, O2, h) for h in starts)}
    out = []
    for view in views:
        reference = data.reference_o2.get(china_day(view.start), {}).get(factor)
        out.append(
            view if reference is None else _with_conversion(view, o2_views[view.start], reference, settings)
        )
    return out


def hour_views(
    conn: Connection,
    settings: Settings,
    device_id: int,
    factor: str,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[HourView]:
    """The typed hours of :func:`device_hours` (what :func:`~envwatch.monitoring.daily_view.device_days` aggregates)."""
    first, last = _check_range(start, end, now)
    device = device_record(conn, device_id)  # an unknown device is an error, even for a range not over yet
    if first >= last:
        return []
    return judge_hours(read_device_data(conn, settings, device, first, last), settings, factor)


def hour_views_for_factors(
    conn: Connection,
    settings: Settings,
    device_id: int,
    factors: Iterable[str],
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    cross_checks: bool = True,
) -> dict[str, list[HourView]]:
    """:func:`hour_views` of several factors of one device: the records, marks and limits are read once
    and the shared hours (O2 for 折算, flue-gas parameters) built once; each list is what
    ``hour_views`` returns for that factor. ``cross_checks=False`` leaves out the hour rebuilt from
    minutes next to a device hour (``computed`` and ``check`` None): verdicts and values are the same,
    for callers that only judge (the overview's 今日超标)."""
    wanted = list(dict.fromkeys(factors))
    first, last = _check_range(start, end, now)
    device = device_record(conn, device_id)
    if first >= last:
        return {factor: [] for factor in wanted}
    data = read_device_data(conn, settings, device, first, last, cross_checks=cross_checks)
    return {factor: judge_hours(data, settings, factor) for factor in wanted}


def device_hours(
    conn: Connection,
    settings: Settings,
    device_id: int,
    factor: str,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[dict[str, Any]]:
    """Each clock hour of ``factor`` in [start, end) (widened to whole hours, at most ``MAX_DAYS`` days,
    cut at the last hour over at ``now``): source, value and flag as sent, verdict with its reasons,
    computed hour and cross-check, 折算浓度. Raises InvalidInput for a bad range, NotFound for no device."""
    return [v.as_dict() for v in hour_views(conn, settings, device_id, factor, start, end, now)]
