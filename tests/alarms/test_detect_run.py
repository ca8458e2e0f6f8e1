"""The detectors on the store: judged hours in, alarms with the values behind them out.

The world is the regional overview's (tests/monitoring/test_overview.py): on 2026-11-22 (China) the gas
logger of A1 sends SO2 90 at 12 % O2 at 08:00 (折算 150 over the hour limit 100 with reference O2 6 %), a
calibration hour (flag C) of 300 at 09:00 and 50 (83.3 converted) at 10:00; the water logger of A2 sends pH
9.5 at 08:00 (range 6–9); B1's logger sends SO2 120 (limit 100, no reference O2) at 08:00.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from envwatch.alarms.detect_run import detector_thresholds, run_day, to_raised
from envwatch.alarms.detectors import Detection, Point
from envwatch.alarms.store import alarm_events_of, open_alarms
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from tests.helpers import GAS_MN, NOW, SM4_MN, WATER_MN
from tests.monitoring.test_overview import TODAY, World, world  # noqa: F401 (the fixture)

LATER = NOW + timedelta(days=1)  # the day is over


def _alarms(engine: Engine) -> dict[tuple[int, str, str], dict[str, object]]:
    with engine.connect() as conn:
        return {(a["device_id"], a["kind"], a["factor"]): a for a in open_alarms(conn)}


def test_a_day_of_the_world(engine: Engine, settings: Settings, world: World) -> None:  # noqa: F811
    run = run_day(engine, settings, TODAY, LATER)
    gas, water, b1 = world.ids[GAS_MN], world.ids[WATER_MN], world.ids[SM4_MN]
    alarms = _alarms(engine)
    assert set(alarms) == {
        (gas, "exceedance", "a21026"),
        (water, "ph_out_of_range", "w01001"),
        (b1, "exceedance", "a21026"),
    }, alarms
    assert run.detections == 3 and run.opened == 3
    so2 = alarms[(gas, "exceedance", "a21026")]
    # judged on the converted concentration; the calibration hour (300, flag C) is not an exceedance
    assert so2["peak"] == "150" and so2["limit_value"] == "100" and so2["multiple"] == "0.5"
    assert so2["started_at"] == TODAY_8 and so2["ended_at"] == TODAY_8 + timedelta(hours=1)
    assert alarms[(b1, "exceedance", "a21026")]["multiple"] == "0.2"
    with engine.connect() as conn:
        (opened,) = alarm_events_of(conn, int(so2["id"]))  # type: ignore[call-overload]
    assert opened["data"]["points"] == [[TODAY_8.isoformat(), 150.0]]


def test_judging_the_day_again_writes_nothing_new(
    engine: Engine,
    settings: Settings,
    world: World,  # noqa: F811
) -> None:
    """The loop judges today again as hours come in: the same exceeding hour is one detection."""
    run_day(engine, settings, TODAY, LATER)
    again = run_day(engine, settings, TODAY, LATER + timedelta(minutes=5))
    assert again.opened == 0 and again.detections == 3
    alarms = _alarms(engine)
    assert {a["detections"] for a in alarms.values()} == {1}
    with engine.connect() as conn:
        assert {len(alarm_events_of(conn, int(a["id"]))) for a in alarms.values()} == {1}  # type: ignore[call-overload]


def test_thresholds_come_from_settings(engine: Engine, settings: Settings, world: World) -> None:  # noqa: F811
    only_ph = settings.model_copy(update={"detectors": {"enabled": ["ph_out_of_range"]}})
    run_day(engine, only_ph, TODAY, LATER)
    assert {k[1] for k in _alarms(engine)} == {"ph_out_of_range"}
    wrong = settings.model_copy(update={"detectors": {"constant_hours": 3}})
    with pytest.raises(InvalidInput, match="ENVWATCH_DETECTORS is not valid"):
        detector_thresholds(wrong)


def test_multiple_is_the_excess_over_the_limit() -> None:
    d = Detection(
        "exceedance",
        1,
        "a21026",
        NOW,
        NOW + timedelta(hours=1),
        150.0,
        100.0,
        1.5,
        "src",
        "s",
        points=(Point(NOW, 150.0), Point(NOW, float("nan"))),
    )
    raised = to_raised(d)
    assert raised.multiple == "0.5" and raised.peak == "150" and raised.limit_value == "100"
    assert raised.data["points"] == [[NOW.isoformat(), 150.0]]  # a NaN point is not JSON


TODAY_8 = NOW + timedelta(hours=-4)  # 08:00 China time on TODAY
