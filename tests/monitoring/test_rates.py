"""Effective transmission rates (有效传输率) over real stores, with small hand-computed cases.

The first test is the worked example of the reference (monitoring-rules §4): one gas outlet, one day,
SO2/NOx/PM, 2 h approved shutdown, one hour missing, calibration and maintenance hours.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from envwatch.core.settings import Settings
from envwatch.monitoring import rates as rates_module
from envwatch.monitoring.day_counts import day_start, refresh_day_counts
from envwatch.monitoring.derived_schema import factor_day_hours
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark, review_mark
from envwatch.monitoring.rates import RateQuery, compute_rates
from envwatch.registry.schema import outlets
from tests.helpers import GAS_MN, NOW, WATER_MN, add_enterprise, put_measurement, register_demo_devices

DAY = date(2026, 11, 20)  # a Friday; NOW (2026-11-22 12:00 China time) is well after it
GAS = ("a21002", "a21026", "a34013")  # NOx, SO2, PM: the default rated gas factors
WATER = ("w01018", "w21001", "w21003", "w21011")


def hour_at(day: date, hour: int) -> datetime:
    return day_start(day) + timedelta(hours=hour)


def put(
    engine: Engine,
    device_id: int,
    kind: str,
    start: datetime,
    factors: dict[str, dict[str, str]],
    *,
    received_at: datetime | None = None,
    backfill: bool = False,
    part: int = 0,
) -> None:
    put_measurement(
        engine, device_id, kind, start, factors, part=part, backfill=backfill, received_at=received_at
    )


def put_day(
    engine: Engine, device_id: int, day: date, codes: Iterable[str], *, skip: Iterable[int] = ()
) -> None:
    """24 normal hour records of ``codes`` on ``day`` (China time), except the ``skip`` hours."""
    for h in range(24):
        if h not in skip:
            put(engine, device_id, "hour", hour_at(day, h), {c: {"Avg": "10.0", "Flag": "N"} for c in codes})


def mark(
    engine: Engine,
    device_id: int,
    code: str,
    start: datetime,
    end: datetime,
    *,
    factor: str | None = None,
    approve: bool = False,
    now: datetime = NOW,
) -> int:
    with engine.begin() as conn:
        row = create_mark(
            conn,
            device_id,
            MarkDraft(factor=factor, start=start, end=end, code=code, reason="test", source="enterprise"),
            created_by="tester",
            now=now,
            policy=MarkPolicy(),
        )
        if approve:
            review_mark(conn, row["id"], decision="approved", note="", reviewed_by="regulator", now=now)
    return int(row["id"])


def rates(engine: Engine, settings: Settings, first: date, last: date, **kw: Any) -> list[dict[str, Any]]:
    return compute_rates(engine, settings, RateQuery(first, last, **kw), NOW)


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return register_demo_devices(engine)


def worked_example(engine: Engine, device_id: int) -> None:
    for h in range(24):
        if h == 10:
            continue  # never arrived
        flags = {c: "N" for c in GAS}
        if h == 14:
            flags["a21026"] = flags["a21002"] = "C"  # SO2 and NOx calibrating
        if h == 15:
            flags = {c: "M" for c in GAS}
        put(
            engine,
            device_id,
            "hour",
            hour_at(DAY, h),
            {c: {"Avg": "12.5", "Flag": f} for c, f in flags.items()},
        )


def test_the_worked_example_of_the_reference(engine: Engine, settings: Settings, ids: dict[str, int]) -> None:
    device = ids[GAS_MN]
    worked_example(engine, device)
    mark(engine, device, "shutdown", hour_at(DAY, 2), hour_at(DAY, 4), approve=True)
    [row] = rates(engine, settings, DAY, DAY, mns=[GAS_MN])
    assert (row["expected"], row["received"], row["valid"]) == (66, 63, 58)
    assert row["transmission_rate"] == Decimal("95.45")
    assert row["validity_rate"] == Decimal("92.06")
    assert row["effective_rate"] == Decimal("87.88")
    assert row["exempt_hours"] == 6  # 2 h × 3 factors
    assert [f["requirement"] for f in row["flags"]] == ["CS-4.3.2.1"]  # a day: neither month nor quarter
    by_factor = {r["factor"]: r for r in rates(engine, settings, DAY, DAY, mns=[GAS_MN], group="factor")}
    assert {f: (r["expected"], r["received"], r["valid"]) for f, r in by_factor.items()} == {
        "a21002": (22, 21, 19),
        "a21026": (22, 21, 19),
        "a34013": (22, 21, 20),
    }


def test_an_unapproved_shutdown_mark_exempts_nothing(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    put_day(engine, device, DAY, GAS, skip=(2, 3))
    mark_id = mark(engine, device, "shutdown", hour_at(DAY, 2), hour_at(DAY, 4))
    [row] = rates(engine, settings, DAY, DAY, mns=[GAS_MN])
    assert (row["expected"], row["received"], row["valid"], row["exempt_hours"]) == (72, 66, 66, 0)
    with engine.begin() as conn:
        review_mark(conn, mark_id, decision="approved", note="proof seen", reviewed_by="regulator", now=NOW)
    [row] = rates(engine, settings, DAY, DAY, mns=[GAS_MN])
    assert (row["expected"], row["received"], row["valid"], row["exempt_hours"]) == (66, 66, 66, 6)
    assert row["effective_rate"] == Decimal("100.00")


def test_a_short_mark_does_not_decide_an_hour(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    """15 minutes of maintenance leave 45 valid minutes: the hour stays valid (HJ 75 threshold)."""
    device = ids[GAS_MN]
    put_day(engine, device, DAY, GAS)
    mark(engine, device, "maintenance", hour_at(DAY, 8), hour_at(DAY, 8) + timedelta(minutes=15))
    mark(
        engine,
        device,
        "maintenance",
        hour_at(DAY, 9),
        hour_at(DAY, 9) + timedelta(minutes=16),
        factor="a21026",
    )
    [row] = rates(engine, settings, DAY, DAY, mns=[GAS_MN])
    assert (row["expected"], row["received"], row["valid"], row["marked_invalid_hours"]) == (72, 72, 71, 1)


def test_late_back_fill_changes_the_completed_rate_only(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    put_day(engine, device, DAY, GAS, skip=(10, 11))
    [before] = rates(engine, settings, DAY, DAY, mns=[GAS_MN])
    assert (before["expected"], before["received"], before["valid"]) == (72, 66, 66)
    # the logger re-sends the two hours a day later (补传, RF=1): stored as back-fill
    for h in (10, 11):
        put(
            engine,
            device,
            "hour",
            hour_at(DAY, h),
            {c: {"Avg": "9", "Flag": "N"} for c in GAS},
            received_at=hour_at(DAY, 36),
            backfill=True,
        )
    [after] = rates(engine, settings, DAY, DAY, mns=[GAS_MN])
    assert (after["received"], after["valid"], after["effective_rate"]) == (72, 72, Decimal("100.00"))
    assert (after["realtime"]["received"], after["realtime"]["valid"]) == (66, 66)
    assert after["realtime"]["effective_rate"] == Decimal("91.67")


def test_water_standard_check_hour_is_not_owed(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[WATER_MN]
    put_day(engine, device, DAY, WATER)
    put_day(engine, device, DAY + timedelta(days=1), WATER, skip=(5,))
    first, second = (
        rates(engine, settings, d, d, mns=[WATER_MN], group="factor")[0]
        for d in (DAY, DAY + timedelta(days=1))
    )
    assert (first["expected"], first["received"], first["effective_rate"]) == (23, 23, Decimal("100.00"))
    assert (second["expected"], second["received"], second["effective_rate"]) == (23, 23, Decimal("100.00"))
    assert first["qc_exempt_hours"] == 1


def test_hours_built_from_minutes(engine: Engine, settings: Settings, ids: dict[str, int]) -> None:
    """No hour packets: 48 valid minutes make a valid hour, 40 do not (HJ 75-2017 §3: 45)."""
    device = ids[GAS_MN]
    for minute in range(60):
        flag_8 = "N" if minute < 48 else "C"
        flag_9 = "N" if minute < 40 else "M"
        put(
            engine,
            device,
            "minute",
            hour_at(DAY, 8) + timedelta(minutes=minute),
            {"a21026": {"Avg": "1", "Flag": flag_8}},
        )
        put(
            engine,
            device,
            "minute",
            hour_at(DAY, 9) + timedelta(minutes=minute),
            {"a21026": {"Avg": "1", "Flag": flag_9}},
        )
    [row] = [
        r for r in rates(engine, settings, DAY, DAY, mns=[GAS_MN], group="factor") if r["factor"] == "a21026"
    ]
    assert (row["expected"], row["received"], row["valid"]) == (24, 2, 1)


def test_longer_periods_add_counts_not_percentages(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    put_day(engine, device, DAY, GAS, skip=range(12))  # 50 %
    put_day(engine, device, DAY + timedelta(days=1), GAS)  # 100 %
    [row] = rates(engine, settings, DAY, DAY + timedelta(days=1), mns=[GAS_MN])
    assert (row["expected"], row["received"]) == (144, 108)
    assert row["effective_rate"] == Decimal("75.00")  # 108/144, also the mean here; next check differs
    [row] = rates(engine, settings, DAY - timedelta(days=1), DAY + timedelta(days=1), mns=[GAS_MN])
    assert row["effective_rate"] == Decimal("50.00")  # 108/216, not (0 + 50 + 100) / 3


def test_today_counts_only_the_hours_that_ended(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    today = date(2026, 11, 22)  # NOW is 12:00 China time
    put_day(engine, ids[GAS_MN], today, GAS, skip=range(12, 24))
    [row] = rates(engine, settings, today, today, mns=[GAS_MN])
    assert (row["expected"], row["received"], row["valid"]) == (36, 36, 36)


def test_quarter_and_month_thresholds(engine: Engine, settings: Settings, ids: dict[str, int]) -> None:
    device = ids[GAS_MN]
    put_day(engine, device, DAY, GAS)  # one day of data in the whole quarter and month
    [quarter] = rates(engine, settings, date(2026, 10, 1), date(2026, 12, 31), mns=[GAS_MN])
    assert {f["requirement"] for f in quarter["flags"]} == {"SX-30.7", "CS-4.3.2.1"}
    [month] = rates(engine, settings, date(2026, 11, 1), date(2026, 11, 30), mns=[GAS_MN])
    assert {f["requirement"] for f in month["flags"]} == {"CS-4.3.2.1"}  # fewer than 3 faults
    for day in (3, 5, 7):
        start = hour_at(date(2026, 11, day), 1)
        mark(engine, device, "fault", start, start + timedelta(hours=2), now=start + timedelta(hours=3))
    [month] = rates(engine, settings, date(2026, 11, 1), date(2026, 11, 30), mns=[GAS_MN])
    assert month["faults"] == 3
    assert {f["requirement"] for f in month["flags"]} == {"SX-30.6", "CS-4.3.2.1"}


def test_late_marks_change_rates_only_when_allowed(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    put_day(engine, device, DAY, GAS)
    late_now = NOW + timedelta(days=30)  # well past the 10-day marking deadline
    mark(engine, device, "maintenance", hour_at(DAY, 1), hour_at(DAY, 3), now=late_now)
    [row] = rates(engine, settings, DAY, DAY, mns=[GAS_MN])
    assert row["valid"] == 72
    allowed = settings.model_copy(update={"late_marks_decide": True})
    [row] = rates(engine, allowed, DAY, DAY, mns=[GAS_MN])
    assert (row["valid"], row["marked_invalid_hours"]) == (66, 6)


def test_grouping_by_enterprise_and_region(engine: Engine, settings: Settings, ids: dict[str, int]) -> None:
    with engine.begin() as conn:
        for n, (region, mn) in enumerate([("110105", GAS_MN), ("110108", WATER_MN)]):
            eid = add_enterprise(
                conn, name=f"企业{n}", credit_code=f"91110000MA0000000{n}", region_code=region
            )
            oid = conn.execute(
                insert(outlets).values(
                    enterprise_id=eid,
                    code=f"D{n}",
                    name="排口",
                    kind="gas" if mn == GAS_MN else "water",
                    permit_number="",
                    created_at=NOW,
                    updated_at=NOW,
                )
            ).inserted_primary_key[0]
            conn.exec_driver_sql(f"UPDATE devices SET outlet_id = {oid} WHERE mn = '{mn}'")
    put_day(engine, ids[GAS_MN], DAY, GAS)
    put_day(engine, ids[WATER_MN], DAY, WATER, skip=range(12))
    by_county = {r["region_code"]: r for r in rates(engine, settings, DAY, DAY, group="region")}
    assert by_county["110105"]["effective_rate"] == Decimal("100.00")
    assert (by_county["110108"]["expected"], by_county["110108"]["received"]) == (92, 48)
    [city] = [
        r for r in rates(engine, settings, DAY, DAY, group="region", region_level=4) if r["region_code"]
    ]
    assert (city["region_code"], city["expected"], city["received"]) == ("1101", 72 + 92, 72 + 48)
    by_enterprise = {r["enterprise"]: r for r in rates(engine, settings, DAY, DAY, group="enterprise")}
    assert by_enterprise["企业0"]["valid"] == 72


def test_day_counts_read_by_id_or_by_scan_alike(
    engine: Engine, settings: Settings, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part of the fleet is read by device id, most of it by one scan of the period: same rates."""
    put_day(engine, ids[GAS_MN], DAY, GAS)
    put_day(engine, ids[WATER_MN], DAY, WATER, skip=range(12))
    by_id = rates(engine, settings, DAY, DAY, device_ids=[ids[WATER_MN]])
    monkeypatch.setattr(rates_module, "_IN_LIST_MAX", 0)
    by_scan = rates(engine, settings, DAY, DAY, device_ids=[ids[WATER_MN]])
    assert by_id == by_scan and [r["mn"] for r in by_scan] == [WATER_MN]
    assert by_scan[0]["received"] < by_scan[0]["expected"]  # the skipped hours are the water device's


def test_incremental_refresh_touches_only_new_hours(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    put_day(engine, device, DAY, GAS)
    first = refresh_day_counts(engine, settings, NOW)
    assert (first.device_hours, first.rows) == (24, 3)
    again = refresh_day_counts(engine, settings, NOW)
    assert again.rows == 0  # nothing arrived since: nothing is read again
    late_day = DAY - timedelta(days=5)
    put(
        engine,
        device,
        "hour",
        hour_at(late_day, 3),
        {"a21026": {"Avg": "1", "Flag": "N"}},
        received_at=NOW + timedelta(hours=1),
        backfill=True,
    )
    later = refresh_day_counts(engine, settings, NOW + timedelta(hours=2))
    # the back-filled hour, and DAY's last hour again (its records are inside the overlap window)
    assert (later.device_hours, later.rows) == (2, 4)
    with engine.connect() as conn:
        c = factor_day_hours.c
        masks = conn.execute(
            select(c.factor, c.day, c.received, c.valid, c.received_on_time).order_by(c.day, c.factor)
        ).all()
    assert masks[0] == ("a21026", late_day, 1 << 3, 1 << 3, 0)  # back-filled: not on time
    assert {m[2] for m in masks[1:]} == {(1 << 24) - 1}  # DAY untouched by the partial rewrite


def test_bad_queries_are_refused(engine: Engine, settings: Settings, ids: dict[str, int]) -> None:
    from envwatch.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="before"):
        rates(engine, settings, DAY, DAY - timedelta(days=1))
    with pytest.raises(InvalidInput, match="group"):
        rates(engine, settings, DAY, DAY, group="planet")
    with pytest.raises(InvalidInput, match="no device with MN NOPE"):
        rates(engine, settings, DAY, DAY, mns=["NOPE"])


def test_records_keep_json_text_and_dicts_alike() -> None:
    from envwatch.monitoring.day_counts import CountRules, hour_statuses

    rules = CountRules(frozenset({"C"}), True, 45, timedelta(hours=1))
    start = hour_at(DAY, 0)

    class Rec:
        def __init__(self, factors: Any) -> None:
            self.data_time, self.part, self.factors = start, 0, factors
            self.backfill, self.received_at = False, start + timedelta(minutes=61)

    as_text = hour_statuses([Rec(json.dumps({"a": {"Avg": "1", "Flag": "N"}}))], [], start, 1, rules)
    as_dict = hour_statuses([Rec({"a": {"Avg": "1", "Flag": "N"}})], [], start, 1, rules)
    assert as_text == as_dict == {"a": [15]}
    flagged = hour_statuses([Rec({"a": {"Avg": "1", "Flag": "C"}, "b": {"Avg": "x"}})], [], start, 1, rules)
    assert flagged == {"a": [5], "b": [5]}  # received (on time), not valid


def test_an_hour_built_from_minutes_becomes_valid_as_its_minutes_arrive(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    device = ids[GAS_MN]
    start = hour_at(DAY, 9)

    def minutes(first: int, last: int) -> None:
        for minute in range(first, last):
            t = start + timedelta(minutes=minute)
            put(
                engine,
                device,
                "minute",
                t,
                {"a21026": {"Avg": "1", "Flag": "N"}},
                received_at=t + timedelta(minutes=1),
            )

    minutes(0, 30)
    refresh_day_counts(engine, settings, start + timedelta(minutes=31))
    minutes(30, 48)
    refresh_day_counts(engine, settings, start + timedelta(minutes=49))
    with engine.connect() as conn:
        c = factor_day_hours.c
        received, valid = conn.execute(select(c.received, c.valid).where(c.factor == "a21026")).one()
    assert (received, valid) == (1 << 9, 1 << 9)  # 48 valid minutes by now: the hour is valid


def test_rates_and_the_explanation_agree_on_hours_marks_touch_without_deciding(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    """Two cases where no mark decides an hour alone: the rate follows the hourly explanation."""
    from envwatch.monitoring.hourly_view import device_hours

    device = ids[GAS_MN]
    # hour 8, from minutes: 50 valid minutes, a 10-minute maintenance mark over valid ones leaves 40 < 45
    for minute in range(60):
        t = hour_at(DAY, 8) + timedelta(minutes=minute)
        put(engine, device, "minute", t, {"a21026": {"Avg": "1", "Flag": "N" if minute < 50 else "C"}})
    mark(engine, device, "maintenance", hour_at(DAY, 8), hour_at(DAY, 8) + timedelta(minutes=10))
    # hour 9, a device hour: two 10-minute marks (one of the factor, one of the device) cover 20 minutes
    put(engine, device, "hour", hour_at(DAY, 9), {"a21026": {"Avg": "1", "Flag": "N"}})
    mark(
        engine,
        device,
        "calibration",
        hour_at(DAY, 9),
        hour_at(DAY, 9) + timedelta(minutes=10),
        factor="a21026",
    )
    mark(
        engine,
        device,
        "maintenance",
        hour_at(DAY, 9) + timedelta(minutes=30),
        hour_at(DAY, 9) + timedelta(minutes=40),
    )
    # hour 10, a device hour with one 10-minute mark: valid in both
    put(engine, device, "hour", hour_at(DAY, 10), {"a21026": {"Avg": "1", "Flag": "N"}})
    mark(engine, device, "maintenance", hour_at(DAY, 10), hour_at(DAY, 10) + timedelta(minutes=10))
    with engine.connect() as conn:
        views = device_hours(conn, settings, device, "a21026", hour_at(DAY, 8), hour_at(DAY, 11), NOW)
    assert [v["outcome"] for v in views] == ["invalid", "invalid", "valid"]
    [row] = [
        r for r in rates(engine, settings, DAY, DAY, mns=[GAS_MN], group="factor") if r["factor"] == "a21026"
    ]
    assert (row["received"], row["valid"], row["marked_invalid_hours"]) == (3, 1, 2)


def test_whole_days_summed_in_sql_equal_counting_every_day_alone(
    engine: Engine, settings: Settings, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole unmarked days are summed in SQL from the stored hour counts (water check hour included);
    today and marked days hour by hour. Counting every day hour by hour (the SQL sums then cancel out)
    gives the same rates, and the water factors owe 23 hours a day in both."""
    gas, water = ids[GAS_MN], ids[WATER_MN]
    first, today = DAY - timedelta(days=2), date(2026, 11, 22)  # NOW is 12:00 China time on ``today``
    for n, day in enumerate((first, first + timedelta(days=1), DAY, DAY + timedelta(days=1), today)):
        put_day(engine, gas, day, GAS, skip=range(n, 2 * n))
        put_day(engine, water, day, WATER, skip=(3,) if n % 2 else ())  # 24 of 24 days count 23 of 23
    put(  # a late hour: counts in the completed rate, not in the real-time one
        engine, gas, "hour", hour_at(DAY, 2), {c: {"Avg": "1", "Flag": "N"} for c in GAS}, backfill=True
    )
    put(engine, water, "hour", hour_at(first, 27), {"w01018": {"Avg": "1", "Flag": "C"}})  # next day, 03:00
    mark(engine, gas, "shutdown", hour_at(DAY, 20), hour_at(DAY, 30), approve=True)  # over midnight
    mark(engine, water, "maintenance", hour_at(first, 5), hour_at(first, 5) + timedelta(minutes=10))
    mark(engine, water, "calibration", hour_at(DAY, 8), hour_at(DAY, 10), factor="w01018")
    mark(engine, gas, "maintenance", hour_at(today, 2), hour_at(today, 4))
    queries = [dict(group=g) for g in ("factor", "device", "enterprise")] + [dict(mns=[WATER_MN])]
    summed = [rates(engine, settings, first, today + timedelta(days=3), **q) for q in queries]
    with engine.connect() as conn:
        for row in conn.execute(select(factor_day_hours)).mappings():
            assert [
                row[f"{m}_hours"] for m in ("received", "valid", "received_on_time", "valid_on_time")
            ] == [row[m].bit_count() for m in ("received", "valid", "received_on_time", "valid_on_time")]
    monkeypatch.setattr(rates_module, "_days_one_by_one", lambda days, marked: list(days))
    one_by_one = [rates(engine, settings, first, today + timedelta(days=3), **q) for q in queries]
    assert summed == one_by_one
    by_factor = {(r["mn"], r["factor"]): r for r in summed[0]}
    cod = by_factor[(WATER_MN, "w01018")]  # 24 received on the second day (the C hour): 23 of 23 count
    assert (cod["expected"], cod["received"], cod["valid"], cod["qc_exempt_hours"]) == (103, 103, 102, 5)
    gas_row = summed[1][0] if summed[1][0]["mn"] == GAS_MN else summed[1][1]
    assert gas_row["exempt_hours"] == 3 * 10 and gas_row["realtime"]["received"] < gas_row["received"]


def test_the_count_columns_are_filled_from_the_masks_by_the_migration(
    engine: Engine, ids: dict[str, int]
) -> None:
    """Migration 0008 adds the hour counts to the rows already stored, counting their masks' bits in SQL."""
    from alembic import command

    from envwatch.migrations import alembic_config, upgrade

    command.downgrade(alembic_config(engine), "0007")
    masks = [0, 1, 1 << 23, (1 << 24) - 1, 0b1011_0110_0000_1111_0101_0011, 0x555555, 0xAAAAAA]
    with engine.begin() as conn:
        for n, m in enumerate(masks):
            conn.exec_driver_sql(
                "INSERT INTO factor_day_hours (device_id, factor, day, received, valid, received_on_time,"
                f" valid_on_time, computed_at) VALUES ({ids[GAS_MN]}, 'f{n}', '2026-11-20', {m}, {m >> 1}, {m >> 2},"
                f" {m & 0xFF}, '2026-11-20 00:00:00')"
            )
    upgrade(engine)
    c = factor_day_hours.c
    with engine.connect() as conn:
        got = conn.execute(
            select(c.received_hours, c.valid_hours, c.received_on_time_hours, c.valid_on_time_hours).order_by(
                c.factor
            )
        ).all()
    assert [tuple(r) for r in got] == [
        ((m).bit_count(), (m >> 1).bit_count(), (m >> 2).bit_count(), (m & 0xFF).bit_count()) for m in masks
    ]
