"""The explained hour and day view (monitoring.hourly_view) over real stores, hand-computed cases."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.monitoring.conversions import converted_concentration
from envwatch.monitoring.daily_view import days_from_views, device_days
from envwatch.monitoring.day_counts import day_start
from envwatch.monitoring.hourly_view import device_hours, hour_views_for_factors
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark, review_mark
from envwatch.registry.models import EmissionLimitIn
from envwatch.registry.service_limits import add_emission_limit
from tests.helpers import (
    GAS_MN,
    NOW,
    WATER_MN,
    enterprise_with_outlet,
    put_measurement,
    register_demo_devices,
)

DAY = date(2026, 11, 20)  # NOW (2026-11-22 12:00 China time) is well after it
SO2, O2, COD, FLOW = "a21026", "a19001", "w01018", "w00000"
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def hour_at(h: int) -> datetime:
    return day_start(DAY) + timedelta(hours=h)


def put(
    engine: Engine, device_id: int, kind: str, start: datetime, factors: dict[str, dict[str, str]]
) -> None:
    put_measurement(engine, device_id, kind, start, factors, received_at=start + HOUR)


def mark(engine: Engine, device_id: int, code: str, start: datetime, end: datetime, *, approve: bool) -> None:
    with engine.begin() as conn:
        row = create_mark(
            conn,
            device_id,
            MarkDraft(factor=None, start=start, end=end, code=code, reason="test", source="enterprise"),
            created_by="tester",
            now=NOW,
            policy=MarkPolicy(),
        )
        if approve:
            review_mark(conn, row["id"], decision="approved", note="", reviewed_by="regulator", now=NOW)


def hours(
    engine: Engine, settings: Settings, device_id: int, factor: str, first: int, last: int
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return device_hours(conn, settings, device_id, factor, hour_at(first), hour_at(last), NOW)


def codes(row: dict[str, Any]) -> list[str]:
    return [r["code"] for r in row["reasons"]]


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return register_demo_devices(engine)


def test_a_device_hour_flagged_c_is_invalid_with_the_flag_reason(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    put(engine, ids[GAS_MN], "hour", hour_at(3), {SO2: {"Avg": "12.50", "Flag": "C"}})
    [row] = hours(engine, settings, ids[GAS_MN], SO2, 3, 4)
    assert (row["source"], row["value"], row["flag"], row["outcome"]) == (
        "device",
        Decimal("12.50"),
        "C",
        "invalid",
    )
    [reason] = row["reasons"]
    assert (reason["code"], reason["ref"]) == ("flag_invalid", "C")
    assert row["fields"] == {"Avg": "12.50", "Flag": "C"} and row["computed"] is None


def test_an_approved_shutdown_over_more_than_15_minutes_exempts_the_hour(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    for h in (3, 4):
        put(engine, device, "hour", hour_at(h), {SO2: {"Avg": "12.5", "Flag": "N"}})
    mark(engine, device, "shutdown", hour_at(3), hour_at(3) + 20 * MINUTE, approve=True)
    mark(engine, device, "shutdown", hour_at(4), hour_at(4) + 20 * MINUTE, approve=False)
    approved, pending = hours(engine, settings, device, SO2, 3, 5)
    assert approved["outcome"] == "exempt" and "mark_exempt" in codes(approved)
    # not approved yet: information only (rates_shutdown_needs_approval), the hour stands on its flag
    assert pending["outcome"] == "valid" and "mark_info" in codes(pending)


def test_a_10_minute_maintenance_mark_leaves_the_hour_valid_with_a_partial_reason(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    put(engine, device, "hour", hour_at(5), {SO2: {"Avg": "12.5", "Flag": "N"}})
    mark(engine, device, "maintenance", hour_at(5), hour_at(5) + 10 * MINUTE, approve=False)
    [row] = hours(engine, settings, device, SO2, 5, 6)
    assert row["outcome"] == "valid"
    assert codes(row) == ["flag_normal", "mark_invalid_partial"]


def test_an_hour_from_48_valid_minutes_is_their_mean(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    for m in range(60):
        # minutes 0..47 carry 0..47 (mean 23.5); the 12 calibration minutes carry 1000, which must not count
        fields = {"Avg": str(m), "Flag": "N"} if m < 48 else {"Avg": "1000", "Flag": "C"}
        put(engine, device, "minute", hour_at(6) + m * MINUTE, {SO2: fields})
    [row] = hours(engine, settings, device, SO2, 6, 7)
    assert (row["source"], row["outcome"], row["value"], row["flag"]) == (
        "minutes",
        "valid",
        Decimal("23.5"),
        "N",
    )
    assert row["computed"]["valid_minutes"] == 48 and row["computed"]["n_received"] == 60
    assert codes(row)[0] == "hour_valid" and row["reasons"][1]["en"].startswith("12 min: flag C")
    assert row["cross_check"] is None  # nothing from the device to compare


def test_ten_minute_data_is_read_on_its_own_step(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    for m in range(0, 60, 10):
        put(engine, device, "minute", hour_at(7) + m * MINUTE, {SO2: {"Avg": "2", "Flag": "N"}})
    [row] = hours(engine, settings, device, SO2, 7, 8)
    assert (row["outcome"], row["value"], row["computed"]["valid_minutes"]) == ("valid", Decimal(2), 60)


def test_a_device_hour_is_kept_and_cross_checked_against_its_minutes(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    put(engine, device, "hour", hour_at(8), {SO2: {"Avg": "25.0", "Flag": "N"}})
    for m in range(60):
        put(engine, device, "minute", hour_at(8) + m * MINUTE, {SO2: {"Avg": "24.0", "Flag": "N"}})
    [row] = hours(engine, settings, device, SO2, 8, 9)
    assert (row["source"], row["value"]) == ("device", Decimal("25.0"))  # the device value stays
    check = row["cross_check"]
    assert Decimal(check["computed_value"]) == 24 and Decimal(check["difference"]) == 1
    assert check["within"] is False  # 1/24 = 4.17 % > aggregate_tolerance_pct 1 %
    assert Decimal(check["relative_pct"]).quantize(Decimal("0.01")) == Decimal("4.17")


def test_a_missing_hour_has_source_none(engine: Engine, settings: Settings, ids: dict[str, int]) -> None:
    put(engine, ids[GAS_MN], "hour", hour_at(9), {SO2: {"Avg": "1", "Flag": "N"}})
    sent, missing = hours(engine, settings, ids[GAS_MN], SO2, 9, 11)
    assert sent["source"] == "device"
    assert (missing["source"], missing["value"], missing["outcome"]) == ("none", None, "invalid")
    assert codes(missing) == ["hour_missing"]


def _outlet_with_reference_o2(engine: Engine, device_id: int) -> None:
    with engine.begin() as conn:
        _, oid = enterprise_with_outlet(
            conn, device_id, credit_code="91110000MA00000001", region_code="110105"
        )
        limit = EmissionLimitIn(
            factor=SO2,
            hour_limit=Decimal("35"),
            reference_o2=Decimal("6"),
            valid_from=date(2026, 1, 1),
            legal_source="GB 13223-2011 表1",
        )
        add_emission_limit(conn, oid, limit, NOW)


def test_converted_concentration_with_the_outlet_reference_o2(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    _outlet_with_reference_o2(engine, device)
    # reference §1.4 worked example: SO2 30 mg/m³ at O2 9.5 %, reference 6 % → 30 × 15 / 11.5 = 39.13
    put(
        engine,
        device,
        "hour",
        hour_at(10),
        {SO2: {"Avg": "30", "ZsAvg": "39.1", "Flag": "N"}, O2: {"Avg": "9.5"}},
    )
    put(
        engine,
        device,
        "hour",
        hour_at(11),
        {SO2: {"Avg": "30", "Flag": "N"}, O2: {"Avg": "9.5", "Flag": "C"}},
    )
    good, bad_o2 = hours(engine, settings, device, SO2, 10, 12)
    expected = converted_concentration(Decimal("30"), Decimal("9.5"), Decimal("6"), settings).value
    assert expected is not None and expected.quantize(Decimal("0.01")) == Decimal("39.13")
    converted = good["converted"]
    assert Decimal(converted["value"]) == expected
    assert (converted["o2"], converted["reference_o2"], converted["device_value"]) == ("9.5", "6", "39.1")
    # the device's own 折算 (ZsAvg) 39.1 vs 39.1304…: −0.08 %, within 1 %
    assert converted["cross_check"]["within"] is True and Decimal(converted["cross_check"]["difference"]) < 0
    # an O2 flagged C is not used: no conversion, and why
    assert bad_o2["converted"]["value"] is None
    assert [r["code"] for r in bad_o2["converted"]["reasons"]] == ["o2_missing"]
    # O2 itself and factors without a reference O2 are not converted
    assert hours(engine, settings, device, O2, 10, 11)[0]["converted"] is None


def test_water_day_is_flow_weighted_and_cross_checked(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[WATER_MN]
    three = settings.model_copy(update={"min_valid_hours_per_day_water": 3})  # a 3-hour day, by hand
    for h, (c, q) in enumerate([("10", "1"), ("20", "1"), ("30", "2")]):
        put(engine, device, "hour", hour_at(h), {COD: {"Avg": c, "Flag": "N"}, FLOW: {"Avg": q, "Flag": "N"}})
    put(engine, device, "day", day_start(DAY), {COD: {"Avg": "22.0", "Flag": "N"}})
    with engine.connect() as conn:
        [day] = device_days(conn, three, device, COD, DAY, DAY, NOW)
    # Σ C·Q / Σ Q = (10 + 20 + 60) / 4 = 22.5 (the plain mean would be 20)
    assert (day["value"], day["method"], day["outcome"], day["n_valid"]) == (
        Decimal("22.5"),
        "flow_weighted",
        "valid",
        3,
    )
    assert day["complete"] is True and day["day"] == DAY
    assert day["device"]["value"] == "22.0" and day["device"]["outcome"] == "valid"
    check = day["cross_check"]
    assert Decimal(check["difference"]) == Decimal("-0.5") and check["within"] is False


def test_days_from_hours_read_once_are_the_device_days(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    """The public page builds the days from the hours it read once for all factors
    (``hour_views_for_factors`` + ``days_from_views``): the same days as ``device_days``, flow-weighted
    water included, with a mark in the range."""
    three = settings.model_copy(update={"min_valid_hours_per_day_water": 3})
    water, gas = ids[WATER_MN], ids[GAS_MN]
    for h, (c, q) in enumerate([("10", "1"), ("20", "1"), ("30", "2"), ("40", "1")]):
        put(engine, water, "hour", hour_at(h), {COD: {"Avg": c, "Flag": "N"}, FLOW: {"Avg": q, "Flag": "N"}})
        put(engine, gas, "hour", hour_at(h), {SO2: {"Avg": c, "Flag": "C" if h == 3 else "N"}})
    put(engine, water, "day", day_start(DAY), {COD: {"Avg": "22.0", "Flag": "N"}})
    mark(engine, water, "maintenance", hour_at(1), hour_at(2), approve=False)
    first, last = DAY, DAY + timedelta(days=1)
    start, end = day_start(first), day_start(last + timedelta(days=1))
    with engine.connect() as conn:
        for device, factor in ((water, COD), (gas, SO2)):
            read = hour_views_for_factors(conn, three, device, [factor, FLOW], start, end, NOW)
            flows = {v.start: v for v in read[FLOW]} if device == water else None
            built = days_from_views(conn, three, device, factor, read[factor], flows, first, last, NOW)
            assert built == device_days(conn, three, device, factor, first, last, NOW)


def test_a_gas_day_without_enough_hours_is_invalid_and_still_shows_the_device_value(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    put(engine, device, "hour", hour_at(0), {SO2: {"Avg": "10", "Flag": "N"}})
    put(engine, device, "day", day_start(DAY), {SO2: {"Avg": "10", "Flag": "N"}})
    with engine.connect() as conn:
        first, second = device_days(conn, settings, device, SO2, DAY, DAY + timedelta(days=1), NOW)
    assert (first["outcome"], first["value"], first["n_valid"]) == ("invalid", None, 1)
    assert first["device"]["value"] == "10" and first["cross_check"]["within"] is None  # nothing computed
    assert second["device"] is None and second["n_hours"] == 24


def test_ranges_and_devices_are_checked(engine: Engine, settings: Settings, ids: dict[str, int]) -> None:
    with engine.connect() as conn:
        with pytest.raises(InvalidInput, match="31 days"):
            device_hours(conn, settings, ids[GAS_MN], SO2, hour_at(0), hour_at(0) + timedelta(days=32), NOW)
        with pytest.raises(InvalidInput, match="empty"):
            device_hours(conn, settings, ids[GAS_MN], SO2, hour_at(2), hour_at(1), NOW)
        with pytest.raises(InvalidInput, match="31 days"):
            device_days(conn, settings, ids[GAS_MN], SO2, DAY, DAY + timedelta(days=31), NOW)
        with pytest.raises(NotFound):
            device_hours(conn, settings, 999_999, SO2, hour_at(0), hour_at(1), NOW)
        # hours not over at ``now`` are not judged; a range cut to whole hours
        rows = device_hours(conn, settings, ids[GAS_MN], SO2, NOW - 90 * MINUTE, NOW + 5 * HOUR, NOW)
        assert [r["start"] for r in rows] == [NOW - 2 * HOUR, NOW - HOUR]


def _register_factors(engine: Engine, device_id: int, rows: list[tuple[str, str, str]]) -> None:
    """(factor, unit, basis) rows for the device (device_factors)."""
    from envwatch.registry.schema import device_factors

    with engine.begin() as conn:
        for factor, unit, basis in rows:
            conn.execute(
                insert(device_factors).values(
                    device_id=device_id,
                    factor=factor,
                    unit=unit,
                    basis=basis,
                    rated=1,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


def test_values_reported_wet_at_flue_conditions_are_shown_at_the_standard_state_dry(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    """CONV-01 by hand: SO2 30 mg/m³ at 150 °C, static pressure −0.5 kPa, moisture 10 %:
    30 × 423.15/273.15 × 101325/100825 / 0.9."""
    device = ids[GAS_MN]
    _register_factors(
        engine,
        device,
        [
            ("a21026", "mg/m3", "actual_wet"),
            ("a21002", "mg/m3", "standard_wet"),
            ("a01013", "kPa", "standard_dry"),
        ],
    )
    flue = {"a01012": {"Avg": "150", "Flag": "N"}, "a01013": {"Avg": "-0.5", "Flag": "N"}}
    put(
        engine,
        device,
        "hour",
        hour_at(8),
        {
            "a21026": {"Avg": "30", "Flag": "N"},
            "a21002": {"Avg": "45", "Flag": "N"},
            **flue,
            "a01014": {"Avg": "10", "Flag": "N"},
        },
    )
    put(
        engine,
        device,
        "hour",
        hour_at(9),
        {"a21026": {"Avg": "30", "Flag": "N"}, **flue, "a01014": {"Avg": "10", "Flag": "C"}},
    )
    so2 = hours(engine, settings, device, "a21026", 8, 10)
    expected = (
        Decimal(30)
        * Decimal("423.15")
        / Decimal("273.15")
        * Decimal(101325)
        / Decimal(100825)
        / Decimal("0.9")
    )
    assert so2[0]["standard_dry"]["basis"] == "actual_wet"
    assert Decimal(so2[0]["standard_dry"]["value"]).quantize(Decimal("0.0001")) == expected.quantize(
        Decimal("0.0001")
    )
    assert so2[0]["value"] == Decimal("30")  # the value as sent is kept
    # the moisture of hour 9 is flagged C: no standard dry value, and the reason says what is missing
    assert so2[1]["standard_dry"]["value"] is None
    assert [r["code"] for r in so2[1]["standard_dry"]["reasons"]] == ["standard_dry_inputs_missing"]
    nox = hours(engine, settings, device, "a21002", 8, 9)
    assert Decimal(nox[0]["standard_dry"]["value"]) == Decimal(45) / Decimal(
        "0.9"
    )  # standard wet: moisture only
    pm = hours(engine, settings, device, "a34013", 8, 9)
    assert "standard_dry" not in pm[0]  # reported standard dry (the default): nothing to convert


def test_the_converted_concentration_starts_from_the_standard_dry_value(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    _outlet_with_reference_o2(engine, device)  # SO2 reference O2 6 %
    _register_factors(engine, device, [("a21026", "mg/m3", "standard_wet")])
    put(
        engine,
        device,
        "hour",
        hour_at(8),
        {
            "a21026": {"Avg": "27", "Flag": "N"},
            "a01014": {"Avg": "10", "Flag": "N"},
            "a19001": {"Avg": "9.5", "Flag": "N"},
        },
    )
    [row] = hours(engine, settings, device, "a21026", 8, 9)
    assert Decimal(row["standard_dry"]["value"]) == Decimal(30)  # 27 / 0.9
    dry = Decimal(row["standard_dry"]["value"])
    assert row["converted"]["value"] == str(
        converted_concentration(dry, Decimal("9.5"), Decimal(6), settings).value
    )
