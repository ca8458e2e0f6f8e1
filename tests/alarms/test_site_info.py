"""Instrument parameters from the raw log (CN 3020) and the registry, and the tamper detection they feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

from sqlalchemy import Engine, insert

from envwatch.alarms.detect_run import run_day
from envwatch.alarms.detectors import ParameterReading
from envwatch.alarms.site_info import registered_parameters, reported_parameters
from envwatch.alarms.store import open_alarms
from envwatch.core.settings import Settings
from envwatch.hj212.encode import encode
from envwatch.ingest.schema import raw_packets
from envwatch.registry.schema import device_factors
from tests.helpers import GAS_MN, NOW, SM4_MN, TEST_KEY_HEX, register_demo_devices
from tests.monitoring.test_overview import TODAY, World, world  # noqa: F401 (the fixture)

_ids = count(1)


def site_info(
    engine: Engine, device_id: int, mn: str, at: datetime, params: dict[str, str], *, key: bytes | None = None
) -> None:
    """A CN 3020 frame as the gateway logs it (verdict ok)."""
    local = (at + timedelta(hours=8)).strftime("%Y%m%d%H%M%S")
    header = {"QN": local + "000", "ST": "31", "CN": "3020", "PW": "123456", "MN": mn, "Flag": "4"}
    factors = {code: {"Info": value} for code, value in params.items()}
    raw = encode(header, {"DataTime": local, "PolId": "a21026"}, factors, sm4_key=key)
    with engine.begin() as conn:
        conn.execute(
            insert(raw_packets).values(
                id=next(_ids) + 1_000_000,
                received_at=at,
                peer="127.0.0.1:1",
                device_id=device_id,
                mn=mn,
                cn="3020",
                qn=header["QN"],
                verdict="ok",
                raw=raw,
            )
        )


def _factor(engine: Engine, device_id: int, *, range_high: str | None, detection_limit: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(device_factors).values(
                device_id=device_id,
                factor="a21026",
                unit="mg/m3",
                range_high=None if range_high is None else Decimal(range_high),
                detection_limit=None if detection_limit is None else Decimal(detection_limit),
                rated=1,
                created_at=NOW,
                updated_at=NOW,
            )
        )


def test_reported_and_registered(engine: Engine) -> None:
    ids = register_demo_devices(engine)
    at = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    site_info(engine, ids[GAS_MN], GAS_MN, at, {"i13001": "300", "i12001": "0"})
    site_info(engine, ids[SM4_MN], SM4_MN, at, {"i13001": "500"}, key=bytes.fromhex(TEST_KEY_HEX))
    site_info(engine, ids[GAS_MN], GAS_MN, at + timedelta(days=2), {"i13001": "1"})  # outside the window
    _factor(engine, ids[GAS_MN], range_high="500", detection_limit="1.5")
    _factor(engine, ids[SM4_MN], range_high=None, detection_limit=None)
    window = (at - timedelta(hours=1), at + timedelta(days=1))
    with engine.connect() as conn:
        # only i13 parameters; the SM4 frame is decrypted with the device's key
        assert reported_parameters(conn, ids[GAS_MN], *window) == [
            ParameterReading(at, "a21026", "i13001", "300")
        ]
        assert reported_parameters(conn, ids[SM4_MN], *window) == [
            ParameterReading(at, "a21026", "i13001", "500")
        ]
        assert registered_parameters(conn, ids[GAS_MN]) == {"a21026": {"i13001": 500.0, "i13009": 1.5}}
        assert registered_parameters(conn, ids[SM4_MN]) == {}


def test_a_range_changed_on_the_device_raises_an_alarm(
    engine: Engine,
    settings: Settings,
    world: World,  # noqa: F811
) -> None:
    gas = world.ids[GAS_MN]
    _factor(engine, gas, range_high="500", detection_limit=None)
    site_info(engine, gas, GAS_MN, NOW - timedelta(hours=2), {"i13001": "250"})  # 10:00 China, TODAY
    run_day(engine, settings, TODAY, NOW + timedelta(days=1))
    with engine.connect() as conn:
        (alarm,) = open_alarms(conn, kinds=["parameter_changed"])
    assert alarm["device_id"] == gas and alarm["factor"] == "a21026"
    assert "i13001" in alarm["summary"], alarm["summary"]
