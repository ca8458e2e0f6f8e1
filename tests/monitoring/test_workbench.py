"""The operator's workbench (运维工作台) on a hand-made store: offline order and duration, invalid last hours
with their reasons, open marks, and the SX-30.6 fault count flag.

NOW is 12:00 China time on 2026-11-22 (04:00 UTC): the completed hours judged are 09, 10 and 11.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.monitoring.workbench import (
    Placed,
    data_quality,
    fault_counts,
    month_start,
    offline_devices,
    open_marks,
    placed_devices,
)
from tests.helpers import GAS_MN, NOW, SM4_MN, WATER_MN, register_demo_devices
from tests.monitoring.test_rates import hour_at, mark, put

TODAY = date(2026, 11, 22)
GAS = ("a21002", "a21026", "a34013")  # the default rated gas factors


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return register_demo_devices(engine)


def _placed(engine: Engine, ids: dict[str, int], *mns: str) -> dict[int, Placed]:
    with engine.connect() as conn:
        return placed_devices(conn, [ids[mn] for mn in mns])


def test_offline_longest_first_with_duration(engine: Engine, ids: dict[str, int]) -> None:
    placed = _placed(engine, ids, GAS_MN, WATER_MN, SM4_MN)
    status = [
        {"id": ids[GAS_MN], "online": False, "last_seen": NOW, "changed_at": NOW - timedelta(minutes=90)},
        {"id": ids[WATER_MN], "online": False, "last_seen": NOW, "changed_at": NOW - timedelta(hours=26)},
        {"id": ids[SM4_MN], "online": True, "last_seen": NOW, "changed_at": NOW - timedelta(days=3)},
    ]
    found = offline_devices(placed, status, NOW)
    assert [o.device.mn for o in found] == [WATER_MN, GAS_MN]
    assert [o.offline_for for o in found] == [timedelta(hours=26), timedelta(minutes=90)]
    assert found[0].since == NOW - timedelta(hours=26)


def test_never_heard_of_counts_as_offline_first(engine: Engine, ids: dict[str, int]) -> None:
    placed = _placed(engine, ids, GAS_MN, WATER_MN)
    status = [{"id": ids[GAS_MN], "online": False, "last_seen": NOW, "changed_at": NOW}]
    found = offline_devices(placed, status, NOW)
    assert [(o.device.mn, o.since, o.offline_for) for o in found] == [
        (WATER_MN, None, None),
        (GAS_MN, NOW, timedelta(0)),
    ]


def test_only_the_given_devices(engine: Engine, ids: dict[str, int]) -> None:
    placed = _placed(engine, ids, GAS_MN)
    status = [{"id": i, "online": False, "last_seen": NOW, "changed_at": NOW} for i in ids.values()]
    assert [o.device.mn for o in offline_devices(placed, status, NOW)] == [GAS_MN]


def _hours(engine: Engine, device_id: int, flags: dict[int, str]) -> None:
    for hour, flag in flags.items():
        put(engine, device_id, "hour", hour_at(TODAY, hour), {f: {"Avg": "10.0", "Flag": flag} for f in GAS})


def test_invalid_last_hour_is_found_with_its_reason(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    _hours(engine, ids[GAS_MN], {9: "N", 10: "N", 11: "C"})  # the newest completed hour: calibration
    _hours(engine, ids[SM4_MN], {9: "N", 10: "N", 11: "N"})  # all fine: not listed
    placed = _placed(engine, ids, GAS_MN, SM4_MN)
    with engine.connect() as conn:
        found = data_quality(conn, settings, placed, NOW)
    assert [p.device.mn for p in found] == [GAS_MN]
    problem = found[0]
    assert problem.last_hour_invalid
    assert {(h.factor, h.start) for h in problem.hours} == {(f, hour_at(TODAY, 11)) for f in GAS}
    words = " ".join(r.text_en for h in problem.hours for r in h.reasons)
    assert "C" in words and problem.hours[0].reasons  # the reason names the flag


def test_missing_hours_are_invalid_and_an_older_one_is_not_the_last(
    engine: Engine, settings: Settings, ids: dict[str, int]
) -> None:
    _hours(engine, ids[GAS_MN], {10: "N", 11: "N"})  # 09 missing: invalid, but not the last hour
    placed = _placed(engine, ids, GAS_MN)
    with engine.connect() as conn:
        found = data_quality(conn, settings, placed, NOW)
    assert len(found) == 1 and not found[0].last_hour_invalid
    assert {h.start for h in found[0].hours} == {hour_at(TODAY, 9)}
    assert any(r.code == "hour_missing" for r in found[0].hours[0].reasons)


def test_open_marks_and_how_long(engine: Engine, ids: dict[str, int]) -> None:
    device = ids[GAS_MN]
    started = NOW - timedelta(hours=5)
    fault = mark(engine, device, "fault", started, NOW + timedelta(hours=2))
    mark(engine, device, "maintenance", NOW - timedelta(hours=10), NOW - timedelta(hours=8))  # over
    mark(engine, device, "shutdown", started, NOW + timedelta(hours=1))  # not an O&M mark
    later = mark(engine, device, "calibration", NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    placed = _placed(engine, ids, GAS_MN)
    with engine.connect() as conn:
        found = open_marks(conn, placed, NOW)
    assert [(m.mark_id, m.code, m.open_for) for m in found] == [
        (fault, "fault", timedelta(hours=5)),
        (later, "calibration", None),
    ]


def test_fault_count_flag_at_the_threshold(engine: Engine, settings: Settings, ids: dict[str, int]) -> None:
    assert settings.rates_month_min_faults == 3
    first = month_start(NOW)
    for n in range(3):
        start = first + timedelta(days=n + 1)
        mark(engine, ids[GAS_MN], "fault", start, start + timedelta(hours=1))
    for n in range(2):
        start = first + timedelta(days=n + 1)
        mark(engine, ids[WATER_MN], "fault", start, start + timedelta(hours=1))
    # last month's fault does not count this month
    mark(engine, ids[WATER_MN], "fault", first - timedelta(hours=3), first - timedelta(hours=2))
    mark(engine, ids[SM4_MN], "maintenance", first + timedelta(days=1), first + timedelta(days=1, hours=1))
    placed = _placed(engine, ids, GAS_MN, WATER_MN, SM4_MN)
    with engine.connect() as conn:
        found = fault_counts(conn, settings, placed, NOW)
    assert [(c.device.mn, c.faults, c.flagged) for c in found] == [(GAS_MN, 3, True), (WATER_MN, 2, False)]


def test_nothing_for_no_devices(engine: Engine, settings: Settings) -> None:
    with engine.connect() as conn:
        assert data_quality(conn, settings, {}, NOW) == []
        assert open_marks(conn, {}, NOW) == []
        assert fault_counts(conn, settings, {}, NOW) == []
        assert placed_devices(conn, []) == {}
