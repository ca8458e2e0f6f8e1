"""Minute → hour → day (HJ 75-2017 §3 VAL-01/02, HJ 356-2019 §7 VAL-06) and the device cross-check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envwatch.core.settings import Settings
from envwatch.monitoring.explain import explain_cross_check, explain_day, explain_hour
from envwatch.monitoring.marking import MarkEffect, MarkSpan
from envwatch.monitoring.validity import (
    HourValue,
    MinuteValue,
    Outcome,
    cross_check,
    day_from_hours,
    hour_from_minutes,
)

SO2 = "a21026"
COD = "w01018"
PH = "w01001"
H0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
S = Settings(_env_file=None)  # type: ignore[call-arg]


def minute(i: int) -> datetime:
    return H0 + timedelta(minutes=i)


def minutes_with(
    flags: dict[range, str], value: int = 10
) -> list[tuple[datetime, Decimal | None, str | None]]:
    """60 minutes valued ``value``, with flags per minute range (others N)."""
    rows: list[tuple[datetime, Decimal | None, str | None]] = []
    for i in range(60):
        flag = next((f for r, f in flags.items() if i in r), "N")
        rows.append((minute(i), Decimal(value), flag))
    return rows


def mark(mark_id: int, effect: MarkEffect, start: int, end: int, code: str = "maintenance") -> MarkSpan:
    return MarkSpan(mark_id, 1, None, minute(start), minute(end), code, effect, False)


# --- minute → hour ----------------------------------------------------------------------------------


def test_12_minutes_calibration_leaves_48_valid_and_the_mean_over_them() -> None:
    # the reference's worked example; the calibrating minutes carry a very different value: not averaged
    rows = [(t, Decimal(10 + (i % 2) * 2), "N") for i, (t, _, _) in enumerate(minutes_with({}))]
    for i in range(12):
        rows[i] = (minute(i), Decimal(500), "C")
    hour = hour_from_minutes("gas", SO2, rows, [], H0, S)
    assert hour.outcome is Outcome.VALID and hour.flag == "N"
    assert (hour.n_received, hour.n_valid, hour.valid_minutes) == (60, 48, 48)
    assert hour.value == Decimal(11)  # 24 × 10 + 24 × 12 over 48
    assert (hour.minimum, hour.maximum) == (Decimal(10), Decimal(12))
    assert [r.code for r in hour.reasons] == ["hour_valid", "flag_invalid"]
    assert hour.reasons[1].text_en.startswith("12 min: flag C")


def test_20_minutes_maintenance_leaves_40_and_the_hour_is_invalid_with_flag_m() -> None:
    rows = minutes_with({range(0, 5): "C", range(30, 50): "M"})
    hour = hour_from_minutes("gas", SO2, rows, [], H0, S)
    assert hour.outcome is Outcome.INVALID
    assert (hour.value, hour.minimum, hour.maximum) == (None, None, None)
    assert hour.flag == "M"  # dominant: 20 M against 5 C
    assert hour.n_valid == 35
    assert hour.reasons[0].code == "hour_insufficient" and hour.reasons[0].ref == "M"


def test_exactly_45_valid_is_valid_44_is_not() -> None:
    assert hour_from_minutes("gas", SO2, minutes_with({range(45, 60): "D"}), [], H0, S).valid
    assert not hour_from_minutes("gas", SO2, minutes_with({range(44, 60): "D"}), [], H0, S).valid


def test_threshold_is_a_setting_and_water_has_its_own() -> None:
    rows = minutes_with({range(40, 60): "M"})
    assert hour_from_minutes(
        "gas", SO2, rows, [], H0, Settings(_env_file=None, min_valid_minutes_per_hour=40)
    ).valid  # type: ignore[call-arg]
    assert not hour_from_minutes(
        "water", COD, rows, [], H0, Settings(_env_file=None, min_valid_minutes_per_hour=40)
    ).valid  # type: ignore[call-arg]
    water40 = Settings(_env_file=None, min_valid_minutes_per_hour_water=40)  # type: ignore[call-arg]
    hour = hour_from_minutes("water", COD, rows, [], H0, water40)
    assert hour.valid and "HJ 356" in hour.reasons[0].source


def test_missing_minutes_count_against_the_hour() -> None:
    rows = minutes_with({})[:44]
    hour = hour_from_minutes("gas", SO2, rows, [], H0, S)
    assert not hour.valid and hour.flag is None
    assert [r.code for r in hour.reasons] == ["hour_insufficient", "minutes_missing"]
    assert hour.reasons[1].text_en == "16 min: no record"


def test_minutes_under_an_invalid_mark_are_invalid() -> None:
    m = mark(21, MarkEffect.INVALID, 10, 30, code="fault")  # 20 minutes, flags all N
    hour = hour_from_minutes("gas", SO2, minutes_with({}), [m], H0, S)
    assert not hour.valid and hour.n_valid == 40
    assert hour.flag is None  # the device said N: the mark made them invalid
    assert hour.reasons[1].ref == "mark 21 fault" and hour.reasons[1].text_en.startswith("20 min:")
    # a shorter mark leaves enough
    short = mark(22, MarkEffect.INVALID, 10, 20)
    assert hour_from_minutes("gas", SO2, minutes_with({}), [short], H0, S).n_valid == 50


def test_exempt_minutes_are_not_counted_and_a_mostly_exempt_hour_is_exempt() -> None:
    stop = mark(23, MarkEffect.EXEMPT, 20, 120, code="shutdown")  # stopped from :20, nothing sent after
    hour = hour_from_minutes("gas", SO2, minutes_with({})[:20], [stop], H0, S)
    assert hour.outcome is Outcome.EXEMPT and hour.exempt and not hour.valid
    assert (hour.n_valid, hour.n_exempt) == (20, 40)
    assert hour.reasons[0].code == "hour_exempt"


def test_hour_short_of_the_threshold_mostly_by_invalid_data_stays_invalid_despite_exempt_part() -> None:
    stop = mark(24, MarkEffect.EXEMPT, 40, 60, code="shutdown")
    rows = minutes_with({range(0, 30): "C"})
    hour = hour_from_minutes("gas", SO2, rows, [stop], H0, S)
    # 10 valid, 30 C, 20 exempt: calibration outweighs the stop
    assert hour.outcome is Outcome.INVALID and hour.flag == "C" and hour.n_exempt == 20


def test_partly_exempt_hour_with_enough_valid_minutes_is_valid() -> None:
    stop = mark(25, MarkEffect.EXEMPT, 50, 60, code="shutdown")
    hour = hour_from_minutes("gas", SO2, minutes_with({}), [stop], H0, S)
    assert hour.valid and (hour.n_valid, hour.n_exempt) == (50, 10)


def test_five_minute_data_count_by_time() -> None:
    rows = [(H0 + timedelta(minutes=5 * i), Decimal(i), "N" if i < 9 else "M") for i in range(12)]
    hour = hour_from_minutes("gas", SO2, rows, [], H0, S, interval=timedelta(minutes=5))
    assert hour.valid and hour.valid_minutes == 45 and hour.n_valid == 9
    assert hour.value == Decimal(4)  # mean of 0..8


def test_min_max_cou_from_the_minute_fields() -> None:
    rows = [
        MinuteValue(minute(i), Decimal(10), "N", Decimal(8), Decimal(13), Decimal("0.5")) for i in range(50)
    ]
    rows += [
        MinuteValue(minute(i), Decimal(99), "D", Decimal(1), Decimal(200), Decimal(7)) for i in range(50, 60)
    ]
    hour = hour_from_minutes("gas", SO2, rows, [], H0, S)
    assert (hour.value, hour.minimum, hour.maximum, hour.cou) == (
        Decimal(10),
        Decimal(8),
        Decimal(13),
        Decimal(25),
    )


def test_records_outside_the_hour_or_twice_are_a_caller_error() -> None:
    with pytest.raises(ValueError, match="not a slot"):
        hour_from_minutes("gas", SO2, [(H0 + timedelta(hours=1), Decimal(1), "N")], [], H0, S)
    with pytest.raises(ValueError, match="not a slot"):
        hour_from_minutes("gas", SO2, [(H0 + timedelta(seconds=30), Decimal(1), "N")], [], H0, S)
    with pytest.raises(ValueError, match="two records"):
        hour_from_minutes("gas", SO2, [(H0, Decimal(1), "N"), (H0, Decimal(2), "N")], [], H0, S)
    with pytest.raises(ValueError, match="interval"):
        hour_from_minutes("gas", SO2, [], [], H0, S, interval=timedelta(minutes=7))


def test_explain_hour() -> None:
    data = explain_hour(hour_from_minutes("gas", SO2, minutes_with({range(0, 12): "C"}), [], H0, S))
    assert data["valid"] is True and data["value"] == "10" and data["n_valid"] == 48
    assert data["start"] == "2025-03-01T02:00:00+00:00"
    assert data["reasons"][0]["code"] == "hour_valid" and "有效小时均值" in data["reasons"][0]["zh"]


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=-1000, max_value=1000, places=3), st.sampled_from(["N", "N", "N", "C"])
        ),
        min_size=60,
        max_size=60,
    )
)
def test_property_valid_hourly_mean_lies_between_the_valid_minimum_and_maximum(
    data: list[tuple[Decimal, str]],
) -> None:
    rows = [(minute(i), v, f) for i, (v, f) in enumerate(data)]
    hour = hour_from_minutes("gas", SO2, rows, [], H0, S)
    valid_values = [v for v, f in data if f == "N"]
    assert hour.valid == (len(valid_values) >= 45)
    if hour.valid:
        assert hour.value is not None and hour.minimum is not None and hour.maximum is not None
        assert min(valid_values) == hour.minimum <= hour.value <= hour.maximum == max(valid_values)


# --- hour → day -------------------------------------------------------------------------------------


def hours(n_valid: int, n_invalid: int = 0, value: int = 10) -> list[HourValue]:
    return [HourValue(Decimal(value + i), True) for i in range(n_valid)] + [
        HourValue(None, False) for _ in range(n_invalid)
    ]


def test_gas_day_needs_20_valid_hours() -> None:
    day = day_from_hours("gas", SO2, hours(20, 4), S)
    assert day.valid and day.method == "mean" and day.n_valid == 20 and day.n_hours == 24
    assert day.value == Decimal("19.5")  # mean of 10..29
    short = day_from_hours("gas", SO2, hours(19, 5), S)
    assert short.outcome is Outcome.INVALID and short.value is None
    assert short.reasons[0].code == "day_insufficient" and "[P]" in short.reasons[0].source


def test_day_threshold_is_a_setting() -> None:
    s = Settings(_env_file=None, min_valid_hours_per_day_gas=18)  # type: ignore[call-arg]
    assert day_from_hours("gas", SO2, hours(18, 6), s).valid


def test_exempt_hours_are_left_out_and_an_all_exempt_day_is_exempt() -> None:
    day = day_from_hours("gas", SO2, [*hours(20), HourValue(None, False, exempt=True)], S)
    assert day.valid and (day.n_hours, day.n_exempt) == (20, 1)
    all_exempt = day_from_hours("gas", SO2, [HourValue(None, False, exempt=True)] * 24, S)
    assert all_exempt.outcome is Outcome.EXEMPT


def test_day_from_hour_results() -> None:
    rows = minutes_with({})
    hour_results = [hour_from_minutes("gas", SO2, rows, [], H0, S)] * 20
    day = day_from_hours("gas", SO2, hour_results, S)
    assert day.valid and day.value == Decimal(10)


def water_day(
    concentrations: list[int], flows: list[str | None], factor: str = COD, pad: int = 17
) -> list[HourValue]:
    """The given valid hours plus ``pad`` valid hours of zero flow (no discharge: they weigh nothing)."""
    rows = [
        HourValue(Decimal(c), True, None if q is None else Decimal(q))
        for c, q in zip(concentrations, flows, strict=True)
    ]
    return rows + [HourValue(Decimal(1000), True, Decimal(0)) for _ in range(pad)]


def test_water_day_is_flow_weighted() -> None:
    day = day_from_hours("water", COD, water_day([10, 20, 30], ["1", "1", "2"]), S)
    assert day.valid and day.method == "flow_weighted"
    assert day.value == Decimal("22.5")  # (10 + 20 + 60) / 4
    assert [r.code for r in day.reasons] == ["day_valid", "day_flow_weighted"]
    assert "VAL-06" in day.reasons[0].source


def test_water_day_without_flow_for_some_valid_hour_is_an_arithmetic_mean_and_says_so() -> None:
    rows = [HourValue(Decimal(c), True, Decimal(1) if c != 30 else None) for c in (10, 20, 30)] * 7
    day = day_from_hours("water", COD, rows, S)
    assert day.method == "mean" and day.value == Decimal(20)
    assert "flow_missing" in [r.code for r in day.reasons]


def test_invalid_hours_do_not_enter_the_weighting() -> None:
    rows = [*water_day([10, 20, 30], ["1", "1", "2"]), HourValue(Decimal(5000), False, Decimal(100))]
    assert day_from_hours("water", COD, rows, S).value == Decimal("22.5")


def test_water_day_with_no_discharge_at_all_is_a_plain_mean() -> None:
    rows = [HourValue(Decimal(c), True, Decimal(0)) for c in (10, 20, 30)] * 7
    day = day_from_hours("water", COD, rows, S)
    assert day.method == "mean" and day.value == Decimal(20)
    assert "flow_zero" in [r.code for r in day.reasons]


def test_water_flow_factor_is_not_weighted_by_itself() -> None:
    rows = [HourValue(Decimal(q), True, Decimal(q)) for q in (1, 1, 2, 4)] * 5
    day = day_from_hours("water", "w00000", rows, S)
    assert day.method == "mean" and day.value == Decimal(2)


def test_ph_day_is_the_median_with_its_range() -> None:
    values = ["6.5", "7.0", "9.0", "7.2"] * 5  # a mean would be 7.425
    rows = [HourValue(Decimal(v), True, Decimal(100)) for v in values]
    day = day_from_hours("water", PH, rows, S)
    assert day.method == "median" and day.value == Decimal("7.1")
    assert (day.minimum, day.maximum) == (Decimal("6.5"), Decimal("9.0"))
    odd = day_from_hours("water", PH, [*rows, HourValue(Decimal("9.0"), True)], S)
    assert odd.value == Decimal("7.2")


def test_water_day_needs_its_own_minimum() -> None:
    rows = water_day([10, 20, 30], ["1", "1", "2"], pad=16)  # 19 valid hours
    assert not day_from_hours("water", COD, rows, S).valid
    s = Settings(_env_file=None, min_valid_hours_per_day_water=19)  # type: ignore[call-arg]
    assert day_from_hours("water", COD, rows, s).valid


def test_explain_day() -> None:
    data = explain_day(day_from_hours("water", COD, water_day([10, 20, 30], ["1", "1", "2"]), S))
    assert data["value"] == "22.5" and data["method"] == "flow_weighted"
    assert data["reasons"][1]["zh"].startswith("流量加权")


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=0, max_value=500, places=2),
            st.decimals(min_value=0, max_value=100, places=2),
        ),
        min_size=20,
        max_size=24,
    )
)
def test_property_flow_weighted_mean_lies_between_the_valid_hours(
    data: list[tuple[Decimal, Decimal]],
) -> None:
    rows = [HourValue(c, True, q) for c, q in data]
    day = day_from_hours("water", COD, rows, S)
    assert day.valid and day.value is not None
    concentrations = [c for c, _ in data]
    assert min(concentrations) <= day.value <= max(concentrations)
    assert day.method == ("flow_weighted" if sum(q for _, q in data) > 0 else "mean")


# --- device value vs computed -------------------------------------------------------------------------


def test_cross_check_shows_both_and_the_difference() -> None:
    check = cross_check(Decimal("10.5"), Decimal("10"), S.aggregate_tolerance_pct)
    assert (check.device_value, check.computed_value) == (Decimal("10.5"), Decimal("10"))
    assert check.difference == Decimal("0.5") and check.relative_pct == Decimal(5)
    assert check.within is False and check.reason.code == "cross_check_differs"
    assert "kept" in check.reason.text_en


def test_cross_check_within_tolerance() -> None:
    check = cross_check(Decimal("100.9"), Decimal("100"), Decimal(1))
    assert check.within is True and check.relative_pct == Decimal("0.9")
    assert cross_check(Decimal("101.1"), Decimal("100"), Decimal(1)).within is False


def test_cross_check_allows_the_device_rounding() -> None:
    # 0.3 sent with one decimal against 0.3333…: 10 % apart, but only the device's rounding
    assert cross_check(Decimal("0.3"), Decimal(1) / 3, Decimal(1)).within is True
    assert cross_check(Decimal("0.30"), Decimal(1) / 3, Decimal(1)).within is False


def test_cross_check_edge_cases() -> None:
    nothing = cross_check(None, Decimal(1), Decimal(1))
    assert nothing.within is None and nothing.difference is None
    zero = cross_check(Decimal(2), Decimal(0), Decimal(1))
    assert zero.relative_pct is None and zero.within is False
    assert cross_check(Decimal(0), Decimal(0), Decimal(1)).within is True
    data = explain_cross_check(cross_check(Decimal("10.5"), Decimal("10"), Decimal(1)))
    assert data["difference"] == "0.5" and data["within"] is False


def test_thirty_second_data_count_by_time() -> None:
    rows = [(H0 + timedelta(seconds=30 * i), Decimal(1), "N" if i < 90 else "B") for i in range(120)]
    hour = hour_from_minutes("gas", SO2, rows, [], H0, S, interval=timedelta(seconds=30))
    assert hour.valid and hour.valid_minutes == 45 and hour.n_valid == 90
    assert hour.reasons[1].text_en.startswith("30 × 30 s: flag B")
    short = hour_from_minutes("gas", SO2, rows[:89], [], H0, S, interval=timedelta(seconds=30))
    assert not short.valid and short.valid_minutes == 44
