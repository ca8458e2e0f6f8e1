"""The cache of today's judged hours (monitoring.hour_cache): the dashboard with it shows exactly what it
shows without it, after records, marks and new hours arrive. The store and NOW (12:00 China time) are
those of test_overview."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.monitoring.hour_cache import HourCache
from envwatch.monitoring.overview import Area, Exceedance, overview
from tests.helpers import GAS_MN, NOW
from tests.monitoring.test_overview import O2, SO2, TODAY, World
from tests.monitoring.test_overview import world as world
from tests.monitoring.test_rates import hour_at, mark, put


def _found(
    engine: Engine, settings: Settings, cache: HourCache | None, now: datetime = NOW
) -> list[Exceedance]:
    with engine.connect() as conn:
        return overview(conn, settings, Area(None), {}, now, cache).exceedances


def _same(engine: Engine, settings: Settings, cache: HourCache, now: datetime = NOW) -> list[Exceedance]:
    cached = _found(engine, settings, cache, now)
    assert cached == _found(engine, settings, None, now)
    return cached


def _gas_hours(found: list[Exceedance]) -> set[int]:
    return {e.hour.hour for e in found if e.mn == GAS_MN and e.factor == SO2 and e.hour is not None}


def test_repeated_requests_use_the_held_hours(engine: Engine, settings: Settings, world: World) -> None:
    cache = HourCache()
    first = _same(engine, settings, cache)
    assert world.ids[GAS_MN] in cache.held_devices()
    assert _same(engine, settings, cache) == first


def test_a_record_received_late_for_a_held_hour_is_seen(
    engine: Engine, settings: Settings, world: World
) -> None:
    cache = HourCache()
    before = _gas_hours(_same(engine, settings, cache))
    # a back-filled hour 5 (补传) received now: 300 at 12 % O2 is 500 converted, over 100
    gas = world.ids[GAS_MN]
    values = {SO2: {"Avg": "300", "Flag": "N"}, O2: {"Avg": "12", "Flag": "N"}}
    put(engine, gas, "hour", hour_at(TODAY, 5), values, received_at=NOW, backfill=True)
    assert _gas_hours(_same(engine, settings, cache)) == before | {hour_at(TODAY, 5).hour}


def test_a_record_committed_late_within_the_overlap_is_seen(
    engine: Engine, settings: Settings, world: World
) -> None:
    cache = HourCache()
    before = _gas_hours(_same(engine, settings, cache))
    # received 30 s before the newest record the previous probe saw (11:00:30), committed after it
    # (commit delay, within settings.rates_refresh_overlap_s)
    gas = world.ids[GAS_MN]
    values = {SO2: {"Avg": "300", "Flag": "N"}, O2: {"Avg": "12", "Flag": "N"}}
    put(engine, gas, "hour", hour_at(TODAY, 6), values, received_at=hour_at(TODAY, 11))
    assert _gas_hours(_same(engine, settings, cache)) == before | {hour_at(TODAY, 6).hour}


def test_a_mark_and_its_withdrawal_change_the_dashboard(
    engine: Engine, settings: Settings, world: World
) -> None:
    cache = HourCache()
    gas = world.ids[GAS_MN]
    assert hour_at(TODAY, 8).hour in _gas_hours(_same(engine, settings, cache))
    # an approved 停运 over hour 8 makes it exempt: no longer an exceedance
    mark(engine, gas, "shutdown", hour_at(TODAY, 8), hour_at(TODAY, 9), approve=True)
    assert hour_at(TODAY, 8).hour not in _gas_hours(_same(engine, settings, cache))


def test_a_review_alone_changes_the_dashboard(engine: Engine, settings: Settings, world: World) -> None:
    from envwatch.monitoring.marks_store import review_mark

    cache = HourCache()
    gas = world.ids[GAS_MN]
    mark_id = mark(engine, gas, "shutdown", hour_at(TODAY, 8), hour_at(TODAY, 9))  # not approved: info
    assert hour_at(TODAY, 8).hour in _gas_hours(_same(engine, settings, cache))
    with engine.begin() as conn:
        review_mark(
            conn, mark_id, decision="approved", note="", reviewed_by="r", now=NOW + timedelta(minutes=1)
        )
    assert hour_at(TODAY, 8).hour not in _gas_hours(_same(engine, settings, cache))


def test_new_hours_are_added_to_the_held_ones(engine: Engine, settings: Settings, world: World) -> None:
    cache = HourCache()
    _same(engine, settings, cache)
    gas = world.ids[GAS_MN]
    values = {SO2: {"Avg": "300", "Flag": "N"}, O2: {"Avg": "12", "Flag": "N"}}
    put(engine, gas, "hour", hour_at(TODAY, 12), values)  # the hour 12:00–13:00, over at 13:00
    later = NOW + timedelta(hours=1, minutes=5)
    assert hour_at(TODAY, 12).hour in _gas_hours(_same(engine, settings, cache, later))
    # minutes with another step than the day's so far: the held hours are judged again, still the same
    for minute in range(0, 60, 7):
        start = hour_at(TODAY, 13) + timedelta(minutes=minute)
        put(engine, gas, "minute", start, {SO2: {"Avg": "10", "Flag": "N"}})
    _same(engine, settings, cache, later + timedelta(hours=1))


def test_a_new_day_starts_empty(engine: Engine, settings: Settings, world: World) -> None:
    cache = HourCache()
    assert _same(engine, settings, cache)
    assert _same(engine, settings, cache, NOW + timedelta(days=1)) == []
