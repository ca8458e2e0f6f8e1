"""Data validity (数据有效性) and aggregation minute → hour → day: pure rules, every threshold a setting.

The effective view of a value is its device flag plus the marks (标记) over its period:

- a value is **invalid** when its flag is in the invalid set (gas: HJ 75-2017 §12.1, VAL-03; water:
  HJ 356-2019 §5-6, VAL-04), when a mark with effect ``invalid`` overlaps it (生态环境部公告2022年第21号),
  or when it is missing / not a number;
- it is **exempt** (neither expected nor received nor valid) when ``exempt`` marks (停运 approved) cover
  its whole period; exempt wins over invalid, because the period drops out of the base altogether;
- otherwise it is **valid**.

A valid hourly mean (有效小时均值) is the arithmetic mean of the valid minute values of the clock hour when
at least ``min_valid_minutes_per_hour`` (45, HJ 75-2017 §3, VAL-01) minutes are valid. A daily mean needs
``min_valid_hours_per_day_*`` valid hours (20, a platform proposal: VAL-02/06). Water daily values are
flow-weighted (流量加权, Σ Cᵢ·Qᵢ / Σ Qᵢ) where hourly flow exists, pH is the median (never a mean).

Every result carries ``reasons``: what made it valid or not and which rule says so, in English and
Chinese, so the API can explain each hour. Arithmetic is ``Decimal`` throughout (never float): device
values are exact decimals and compliance hinges on them. Nothing here reads a database or a clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Literal, NamedTuple, Protocol

from envwatch.core.settings import Settings
from envwatch.hj212.codes import data_flag
from envwatch.monitoring.marking import MarkEffect, MarkSpan

Kind = Literal["gas", "water"]

# Sources, cited by every reason. [S]/[P] as in the rules reference (reference/monitoring-rules.md).
SRC_FLAGS = "HJ 212-2017 Table 8 (data flags)"
SRC_GAS_INVALID = "HJ 75-2017 §12.1 (VAL-03)"
SRC_WATER_INVALID = "HJ 356-2019 §5-6 (VAL-04)"
SRC_MARKS = "生态环境部公告2022年第21号 (标记规则)"
SRC_GAS_HOUR = "HJ 75-2017 §3 (VAL-01)"
SRC_WATER_HOUR = "HJ 356-2019 §7; minute threshold [P]"
SRC_GAS_DAY = "HJ 75-2017 §3; minimum hours [P] (VAL-02)"
SRC_WATER_DAY = "HJ 356-2019 §7; minimum hours [P] (VAL-06)"
SRC_CROSS_CHECK = "platform rule [P]"

# Flow factors (a00000 flue gas, w00000 wastewater): their own daily value is a plain mean, never weighted
# by themselves. Codes from hj212/data/pollutants.json.
FLOW_FACTORS = frozenset({"a00000", "w00000"})

_NORMAL = "N"
_HOUR = timedelta(hours=1)


class Outcome(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    EXEMPT = "exempt"  # out of the base: not expected, not counted


class Reason(NamedTuple):
    """One reason behind a verdict. ``ref`` names the flag or mark it is about, when there is one."""

    code: str
    source: str
    text_en: str
    text_zh: str
    ref: str | None = None


class Verdict(NamedTuple):
    outcome: Outcome
    reasons: tuple[Reason, ...]

    @property
    def valid(self) -> bool:
        return self.outcome is Outcome.VALID


class MinuteValue(NamedTuple):
    """One minute (or shorter-period) record of a factor. ``minimum``/``maximum``/``cou`` are its Min, Max
    and Cou fields when sent; a plain ``(start, value, flag)`` tuple is accepted too."""

    start: datetime
    value: Decimal | None
    flag: str | None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    cou: Decimal | None = None


class HourResult(NamedTuple):
    """An hour computed from minute data: the valid hourly mean, or None when the hour is not valid."""

    factor: str
    start: datetime
    outcome: Outcome
    value: Decimal | None  # Avg: mean of the valid minutes
    minimum: Decimal | None
    maximum: Decimal | None
    cou: Decimal | None  # sum of the valid minutes' Cou (no substitution here: HJ 75 §12.2 is apart)
    flag: str | None  # "N" when valid, else the dominant non-N flag of the hour (None: none was sent)
    n_received: int  # records received in the hour
    n_valid: int  # valid records
    n_exempt: int  # slots of the hour under exempt marks
    valid_minutes: int  # valid time, compared with the threshold
    reasons: tuple[Reason, ...]

    @property
    def valid(self) -> bool:
        return self.outcome is Outcome.VALID

    @property
    def exempt(self) -> bool:
        return self.outcome is Outcome.EXEMPT


class HourValue(NamedTuple):
    """An hour as input of :func:`day_from_hours` (e.g. a device-reported hour judged by
    :func:`value_verdict`). ``flow``: the hour's valid flow, for flow weighting (any unit, one per day)."""

    value: Decimal | None
    valid: bool
    flow: Decimal | None = None
    exempt: bool = False


class HourLike(Protocol):
    """What :func:`day_from_hours` reads of an hour. ``flow`` and ``exempt`` are read when present."""

    @property
    def value(self) -> Decimal | None: ...

    @property
    def valid(self) -> bool: ...


DayMethod = Literal["mean", "flow_weighted", "median"]


class DayResult(NamedTuple):
    factor: str
    outcome: Outcome
    value: Decimal | None  # the valid daily mean (median for pH), None when not valid
    method: DayMethod
    minimum: Decimal | None  # range of the valid hourly values (reported for pH in particular)
    maximum: Decimal | None
    n_hours: int  # hours given that are not exempt
    n_valid: int
    n_exempt: int
    reasons: tuple[Reason, ...]

    @property
    def valid(self) -> bool:
        return self.outcome is Outcome.VALID


class CrossCheck(NamedTuple):
    """A device-reported value next to the one computed from finer data. The device value is never
    replaced: both are shown, with the difference (device − computed)."""

    device_value: Decimal | None
    computed_value: Decimal | None
    difference: Decimal | None
    relative_pct: Decimal | None  # difference / |computed| × 100; None when computed is 0 or missing
    within: bool | None  # None: nothing to compare
    reason: Reason


# --- one value ------------------------------------------------------------------------------------


def _invalid_flags(kind: Kind, settings: Settings) -> frozenset[str]:
    return frozenset(settings.invalid_flags_gas if kind == "gas" else settings.invalid_flags_water)


def _flag_names(flag: str) -> tuple[str, str]:
    known = data_flag(flag)
    return (known.en, known.zh) if known else ("unknown flag", "未知标识")


def _as_decimal(value: Decimal | str | None) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value if value is None or value.is_finite() else None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _flag_reasons(kind: Kind, flag: str | None, settings: Settings) -> tuple[bool, list[Reason]]:
    """(invalid?, reasons) from the device flag alone. A missing flag counts as N (minute data often
    omit it)."""
    source = SRC_GAS_INVALID if kind == "gas" else SRC_WATER_INVALID
    if flag is None or flag == _NORMAL:
        return False, [
            Reason("flag_normal", SRC_FLAGS, "flag N: instrument normal", "数据标识N：仪器正常", "N")
        ]
    en, zh = _flag_names(flag)
    if flag in _invalid_flags(kind, settings):
        return True, [
            Reason(
                "flag_invalid", source, f"flag {flag} ({en}): invalid", f"数据标识{flag}（{zh}）：无效", flag
            )
        ]
    if data_flag(flag) is None and settings.unknown_flags_invalid:
        return True, [
            Reason(
                "flag_unknown",
                SRC_FLAGS + " [P]",
                f"flag {flag} is not an HJ 212 data flag: invalid",
                f"数据标识{flag}不是HJ 212标识：无效",
                flag,
            )
        ]
    # A standard flag the settings leave out of the invalid set (e.g. T when a province accepts it):
    # counted valid, but said, since the device did not report "normal".
    return False, [
        Reason(
            "flag_counted_valid",
            source,
            f"flag {flag} ({en}) is not in the invalid set: counted valid, review",
            f"数据标识{flag}（{zh}）未列为无效：计为有效，需复核",
            flag,
        )
    ]


def _mark_ref(mark: MarkSpan) -> str:
    return f"mark {mark.mark_id} {mark.code}"


def _mark_reason(mark: MarkSpan, whole: bool) -> Reason:
    """``whole``: the marks of this effect decide the record (:func:`mark_decides`)."""
    late_en = " (entered late)" if mark.late else ""
    late_zh = "（逾期标记）" if mark.late else ""
    ref = _mark_ref(mark)
    if mark.effect is MarkEffect.INVALID:
        if whole:
            return Reason(
                "mark_invalid",
                SRC_MARKS,
                f"{ref}: invalid{late_en}",
                f"标记{mark.mark_id}（{mark.code}）：无效{late_zh}",
                ref,
            )
        return Reason(
            "mark_invalid_partial",
            SRC_MARKS,
            f"{ref}: covers too little of the period to decide it (15 of 60 minutes at most), judged on "
            f"its flag{late_en}",
            f"标记{mark.mark_id}（{mark.code}）：覆盖时段不足以判定（每小时不超过15分钟），按数据标识判定{late_zh}",
            ref,
        )
    if mark.effect is MarkEffect.EXEMPT:
        if whole:
            en, zh = (
                f"{ref}: exempt, not counted{late_en}",
                f"标记{mark.mark_id}（{mark.code}）：免除，不计入{late_zh}",
            )
        else:
            en = f"{ref}: exempt over part of the period only, judged on the rest{late_en}"
            zh = f"标记{mark.mark_id}（{mark.code}）：仅部分时段免除，其余照常判定{late_zh}"
        return Reason("mark_exempt" if whole else "mark_exempt_partial", SRC_MARKS, en, zh, ref)
    return Reason(
        "mark_info",
        SRC_MARKS,
        f"{ref}: information only{late_en}",
        f"标记{mark.mark_id}（{mark.code}）：仅记录{late_zh}",
        ref,
    )


def covered_time(spans: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> timedelta:
    """How much of [start, end) the union of ``spans`` covers."""
    total = timedelta(0)
    reached = start
    for s, e in sorted(spans):
        s, e = max(s, reached), min(e, end)
        if e > s:
            total += e - s
            reached = e
    return total


def mark_decides(covered: timedelta, period: timedelta, min_valid_minutes: int) -> bool:
    """Whether marks covering ``covered`` of a record's ``period`` decide it (HJ 75-2017 §3, VAL-01).

    An hour stays valid with ``min_valid_minutes`` (45) valid minutes, so a mark decides an hour when it
    covers more than the other 15 minutes (the national "C, M, D > 15 min" hour-flag convention); the
    same share applies to records of other lengths. One rule for validity, explanations and rates."""
    return covered * 60 > period * (60 - min_valid_minutes)


def value_verdict(
    kind: Kind,
    factor: str,
    flag: str | None,
    marks: Sequence[MarkSpan],
    start: datetime,
    end: datetime,
    settings: Settings,
    *,
    value: Decimal | str | None,
) -> Verdict:
    """The verdict on one record (minute, hour or day) of ``factor`` over [start, end).

    ``value`` is the record's main value (Decimal, or the text as sent); missing or not a number makes it
    invalid. Marks decide the record when they cover more of it than a valid hour may miss
    (:func:`mark_decides`: 15 of 60 minutes); exempt wins over invalid; shorter marks are reported and
    leave the record to its flag."""
    invalid, reasons = _flag_reasons(kind, flag, settings)
    if _as_decimal(value) is None:
        invalid = True
        source = SRC_GAS_INVALID if kind == "gas" else SRC_WATER_INVALID
        reasons.append(Reason("value_missing", source, "no numeric value", "无有效数值"))
    min_valid = (
        settings.min_valid_minutes_per_hour if kind == "gas" else settings.min_valid_minutes_per_hour_water
    )
    covering = [m for m in marks if m.covers(factor, start, end)]
    decided: dict[MarkEffect, bool] = {}
    for effect in (MarkEffect.EXEMPT, MarkEffect.INVALID):
        spans = [(m.start, m.end) for m in covering if m.effect is effect]
        decided[effect] = bool(spans) and mark_decides(
            covered_time(spans, start, end), end - start, min_valid
        )
    exempt = decided[MarkEffect.EXEMPT]
    for mark in covering:
        reasons.append(_mark_reason(mark, decided.get(mark.effect, False)))
    invalid = invalid or decided[MarkEffect.INVALID]
    outcome = Outcome.EXEMPT if exempt else Outcome.INVALID if invalid else Outcome.VALID
    return Verdict(outcome, tuple(reasons))


# --- minute → hour --------------------------------------------------------------------------------


def _summarise(counts: Counter[Reason], unit: str, unit_zh: str) -> list[Reason]:
    """Per-record reasons folded into one reason per kind, with a count ("12 min: flag C ...")."""
    return [
        reason._replace(text_en=f"{n} {unit}: {reason.text_en}", text_zh=f"{n}{unit_zh}：{reason.text_zh}")
        for reason, n in counts.most_common()
    ]


def _dominant_flag(flags: Sequence[str]) -> str | None:
    """The most frequent flag, ties to the one seen first (HJ 75 hour flag convention, VAL-01)."""
    if not flags:
        return None
    counts = Counter(flags)
    best = max(counts.values())
    return next(f for f in flags if counts[f] == best)


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


def hour_from_minutes(
    kind: Kind,
    factor: str,
    minutes: Sequence[MinuteValue | tuple[datetime, Decimal | None, str | None]],
    marks: Sequence[MarkSpan],
    hour_start: datetime,
    settings: Settings,
    *,
    interval: timedelta = timedelta(minutes=1),
) -> HourResult:
    """The hour [hour_start, +1 h) of ``factor`` from its minute records (有效小时均值).

    Each slot of ``interval`` (1 min; HJ 212 minute data may be 5 or 10 min) is exempt when exempt marks
    cover it, else valid when its record is (:func:`value_verdict`), else invalid or missing. The hour is
    valid with at least ``min_valid_minutes_per_hour`` (gas) / ``..._water`` valid minutes: Avg is the
    arithmetic mean of the valid values, Min/Max their range, Cou the sum of their Cou. An hour that falls
    short is exempt when exempt time outweighs invalid plus missing time (停运 during most of the hour),
    else invalid with its dominant non-N flag.
    Records outside the hour, off the interval grid, or twice for one slot are a caller error."""
    step = int(interval.total_seconds())
    if step <= 0 or 3600 % step or interval.microseconds:
        raise ValueError(f"interval {interval} does not divide an hour into whole seconds")
    n_slots = 3600 // step
    hour_end = hour_start + _HOUR
    records: dict[int, MinuteValue] = {}
    for raw in minutes:
        record = raw if isinstance(raw, MinuteValue) else MinuteValue(*raw)
        offset = (record.start - hour_start).total_seconds()
        if not 0 <= offset < 3600 or offset % step:
            raise ValueError(f"{factor} record at {record.start} is not a slot of the hour at {hour_start}")
        slot = int(offset) // step
        if slot in records:
            raise ValueError(f"{factor}: two records for {record.start}")
        records[slot] = record

    threshold = (
        settings.min_valid_minutes_per_hour if kind == "gas" else settings.min_valid_minutes_per_hour_water
    )
    source = SRC_GAS_HOUR if kind == "gas" else SRC_WATER_HOUR
    hour_marks = [m for m in marks if m.covers(factor, hour_start, hour_end)]
    exempt_spans = [(m.start, m.end) for m in hour_marks if m.effect is MarkEffect.EXEMPT]

    valid: list[MinuteValue] = []
    bad_flags: list[str] = []  # non-N flags of the records that are not valid
    noted: Counter[Reason] = Counter()
    n_exempt = n_missing = 0
    for slot in range(n_slots):
        slot_start = hour_start + slot * interval
        slot_end = slot_start + interval
        found = records.get(slot)
        if exempt_spans and mark_decides(
            covered_time(exempt_spans, slot_start, slot_end), interval, threshold
        ):
            n_exempt += 1
            continue
        if found is None:
            n_missing += 1
            continue
        verdict = value_verdict(
            kind, factor, found.flag, hour_marks, slot_start, slot_end, settings, value=found.value
        )
        # every reason but the plain "flag N" is worth telling, also for valid minutes (T counted valid)
        noted.update(r for r in verdict.reasons if r.code != "flag_normal")
        if verdict.outcome is Outcome.VALID:
            valid.append(found)
            continue
        if found.flag not in (None, _NORMAL):
            bad_flags.append(found.flag)

    # compared in seconds: integer arithmetic for any interval (30 s slots too)
    valid_seconds = len(valid) * step
    valid_minutes = valid_seconds // 60
    if step == 60:
        unit, unit_zh = "min", "分钟"
    elif step % 60 == 0:
        unit, unit_zh = f"× {step // 60} min", f"个{step // 60}分钟"
    else:
        unit, unit_zh = f"× {step} s", f"个{step}秒"
    reasons = _summarise(noted, unit, unit_zh)
    if n_missing:
        reasons.append(
            Reason(
                "minutes_missing", source, f"{n_missing} {unit}: no record", f"{n_missing}{unit_zh}：无数据"
            )
        )
    if n_exempt:
        reasons.append(
            Reason(
                "minutes_exempt",
                SRC_MARKS,
                f"{n_exempt} {unit}: under exempt marks",
                f"{n_exempt}{unit_zh}：免除标记",
            )
        )
    received = len(records)
    if valid_seconds >= threshold * 60:
        values = [r.value for r in valid if r.value is not None]
        lows = [r.minimum if r.minimum is not None else r.value for r in valid if r.value is not None]
        highs = [r.maximum if r.maximum is not None else r.value for r in valid if r.value is not None]
        cous = [r.cou for r in valid if r.cou is not None]
        reasons.insert(
            0,
            Reason(
                "hour_valid",
                source,
                f"{valid_minutes} valid minutes ≥ {threshold}: valid hourly mean of the valid minutes",
                f"有效分钟数{valid_minutes} ≥ {threshold}：有效小时均值（有效分钟数据算术平均）",
            ),
        )
        return HourResult(
            factor,
            hour_start,
            Outcome.VALID,
            _mean(values),
            min(lows),
            max(highs),
            sum(cous, Decimal(0)) if cous else None,
            _NORMAL,
            received,
            len(valid),
            n_exempt,
            valid_minutes,
            tuple(reasons),
        )
    # Short of the threshold. Exempt when the approved stop is what kept the hour short (it outweighs
    # every other cause together); ties go to invalid, the side that does not hide data.
    if n_exempt > n_missing + received - len(valid):
        outcome = Outcome.EXEMPT
        flag = None
        head = Reason(
            "hour_exempt",
            SRC_MARKS,
            f"{valid_minutes} valid minutes < {threshold}, mostly under exempt marks: not counted",
            f"有效分钟数{valid_minutes} < {threshold}，主要为免除标记时段：不计入",
        )
    else:
        outcome = Outcome.INVALID
        flag = _dominant_flag(bad_flags)
        flag_en = f", flag {flag}" if flag else ""
        flag_zh = f"，标识{flag}" if flag else ""
        head = Reason(
            "hour_insufficient",
            source,
            f"{valid_minutes} valid minutes < {threshold}: hour invalid{flag_en}",
            f"有效分钟数{valid_minutes} < {threshold}：小时数据无效{flag_zh}",
            flag,
        )
    reasons.insert(0, head)
    return HourResult(
        factor, hour_start, outcome, None, None, None, None, flag, received, len(valid), n_exempt, valid_minutes,
        tuple(reasons),
    )  # fmt: skip


# --- hour → day -----------------------------------------------------------------------------------


def _median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def day_from_hours(kind: Kind, factor: str, hours: Sequence[HourLike], settings: Settings) -> DayResult:
    """The daily value of ``factor`` from the day's hours (日均值).

    Gas (HJ 75-2017, VAL-02): arithmetic mean of the valid hourly means. Water (HJ 356-2019 §7, VAL-06):
    flow-weighted mean Σ Cᵢ·Qᵢ / Σ Qᵢ over the valid hours (流量加权) when every valid hour has a flow
    (zero-flow hours weigh nothing: no discharge); the arithmetic mean otherwise, and ``method`` says which.
    pH and the other ``median_factors_water`` are never averaged: the median, with Min/Max as the range.
    The day is valid with ``min_valid_hours_per_day_gas``/``_water`` valid hours; exempt hours are left
    out. Hours: :class:`HourResult`, :class:`HourValue` or anything with ``value`` and ``valid``."""
    threshold = (
        settings.min_valid_hours_per_day_gas if kind == "gas" else settings.min_valid_hours_per_day_water
    )
    source = SRC_GAS_DAY if kind == "gas" else SRC_WATER_DAY
    n_exempt = sum(1 for h in hours if getattr(h, "exempt", False))
    counted = [h for h in hours if not getattr(h, "exempt", False)]
    valid = [h for h in counted if h.valid and h.value is not None]
    values = [h.value for h in valid if h.value is not None]
    reasons: list[Reason] = []

    method: DayMethod = "mean"
    flows: list[Decimal | None] = []
    if kind == "water" and factor in settings.median_factors_water:
        method = "median"
    elif kind == "water" and factor not in FLOW_FACTORS and valid:
        flows = [_as_decimal(getattr(h, "flow", None)) for h in valid]
        lacking = sum(1 for q in flows if q is None or q < 0)
        if lacking:
            reasons.append(
                Reason(
                    "flow_missing",
                    source,
                    f"no valid flow for {lacking} valid hours: arithmetic mean, not flow-weighted",
                    f"{lacking}个有效小时无有效流量：采用算术平均，未流量加权",
                )
            )
        elif sum(q for q in flows if q is not None) == 0:
            reasons.append(
                Reason(
                    "flow_zero",
                    source,
                    "flow 0 in every valid hour (no discharge): arithmetic mean",
                    "各有效小时流量均为0（无排放）：采用算术平均",
                )
            )
        else:
            method = "flow_weighted"

    if len(valid) < threshold:
        outcome = Outcome.EXEMPT if not counted and n_exempt else Outcome.INVALID
        if outcome is Outcome.EXEMPT:
            head = Reason("day_exempt", SRC_MARKS, "every hour exempt: not counted", "全部小时免除：不计入")
        else:
            head = Reason(
                "day_insufficient",
                source,
                f"{len(valid)} valid hours < {threshold}: no valid daily mean",
                f"有效小时数{len(valid)} < {threshold}：无有效日均值",
            )
        return DayResult(
            factor, outcome, None, method, None, None, len(counted), len(valid), n_exempt, (head, *reasons)
        )

    if method == "median":
        value = _median(values)
        how = Reason(
            "day_median",
            source,
            "pH is not averaged: median of the valid hours, with their range",
            "pH值不做算术平均：取有效小时中位数，并给出范围",
        )
    elif method == "flow_weighted":
        pairs = [(c, q) for c, q in zip(values, flows, strict=True) if q is not None]
        value = sum((c * q for c, q in pairs), Decimal(0)) / sum((q for _, q in pairs), Decimal(0))
        how = Reason("day_flow_weighted", source, "flow-weighted mean Σ C·Q / Σ Q", "流量加权平均 ΣC·Q/ΣQ")
    else:
        value = _mean(values)
        how = Reason("day_mean", source, "arithmetic mean of the valid hours", "有效小时均值的算术平均")
    head = Reason(
        "day_valid",
        source,
        f"{len(valid)} valid hours ≥ {threshold}: valid daily mean",
        f"有效小时数{len(valid)} ≥ {threshold}：有效日均值",
    )
    return DayResult(
        factor,
        Outcome.VALID,
        value,
        method,
        min(values),
        max(values),
        len(counted),
        len(valid),
        n_exempt,
        (head, how, *reasons),
    )


# --- device-reported vs computed -----------------------------------------------------------------


def _half_unit(value: Decimal) -> Decimal:
    """Half a unit in the last place the device wrote ("12.3" → 0.05): its own rounding."""
    exponent = value.as_tuple().exponent
    return Decimal(5).scaleb(exponent - 1) if isinstance(exponent, int) else Decimal(0)


def cross_check(
    device_value: Decimal | None, computed_value: Decimal | None, tolerance_pct: Decimal
) -> CrossCheck:
    """Compare a device-reported hour/day value with the one computed from finer data.

    Within tolerance when |device − computed| ≤ ``tolerance_pct`` % of |computed| (setting
    ``aggregate_tolerance_pct``), or when it is no more than the device's own rounding (half a unit in the
    last decimal it sent: "0.3" against 0.333 is rounding, not a disagreement)."""
    if device_value is None or computed_value is None:
        return CrossCheck(
            device_value,
            computed_value,
            None,
            None,
            None,
            Reason("cross_check_none", SRC_CROSS_CHECK, "nothing to compare", "无可比对数值"),
        )
    difference = device_value - computed_value
    relative = None if computed_value == 0 else difference / abs(computed_value) * 100
    allowed = max(abs(computed_value) * tolerance_pct / 100, _half_unit(device_value))
    within = abs(difference) <= allowed
    shown = f"{difference:+f}" + ("" if relative is None else f" ({relative:+.2f} %)")
    if within:
        reason = Reason(
            "cross_check_ok",
            SRC_CROSS_CHECK,
            f"device value {device_value} vs computed {computed_value}: difference {shown} within {tolerance_pct} %",
            f"设备值{device_value}与计算值{computed_value}之差{shown}，在{tolerance_pct}%以内",
        )
    else:
        reason = Reason(
            "cross_check_differs",
            SRC_CROSS_CHECK,
            f"device value {device_value} vs computed {computed_value}: difference {shown} beyond {tolerance_pct} %; "
            "the device value is kept",
            f"设备值{device_value}与计算值{computed_value}之差{shown}，超过{tolerance_pct}%；保留设备值",
        )
    return CrossCheck(device_value, computed_value, difference, relative, within, reason)
