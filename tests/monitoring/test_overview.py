"""The regional overview (区域总览) on a hand-made store: outlet status, counts, today's exceedances.

NOW is 12:00 China time on 2026-11-22, so the hours 00–11 of that day are over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.monitoring.hour_cache import HourCache
from envwatch.monitoring.overview import Area, area_device_ids, overview, warm
from envwatch.registry import service as svc
from envwatch.registry.models import EmissionLimitIn, EnterpriseIn, OutletIn, credit_code_check_char
from envwatch.registry.service_limits import add_emission_limit
from envwatch.registry.store import import_devices, load_devices
from tests.helpers import GAS_MN, NOW, SM4_MN, WATER_MN, device_row, register_demo_devices
from tests.monitoring.test_rates import hour_at, put

TODAY = date(2026, 11, 22)
OK_MN = "010000A8900016F000169DC3"  # online, no limits: stays "online"
OFF_MN = "010000A8900016F000169DC4"  # offline, no data
SO2, NOX, O2, PH, COD = "a21026", "a21002", "a19001", "w01001", "w01018"


@dataclass(frozen=True)
class World:
    ids: dict[str, int]
    outlets: dict[str, int]
    e1: int
    e2: int


def _code(n: int) -> str:
    first17 = f"9133010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def _limit(factor: str, **fields: object) -> EmissionLimitIn:
    data = {"factor": factor, "valid_from": date(2026, 1, 1), "legal_source": "GB 13223-2011 表1", **fields}
    return EmissionLimitIn.model_validate(data)


def _hour(engine: Engine, device_id: int, hour: int, values: dict[str, tuple[str, str]]) -> None:
    put(
        engine,
        device_id,
        "hour",
        hour_at(TODAY, hour),
        {f: {"Avg": v, "Flag": g} for f, (v, g) in values.items()},
    )


@pytest.fixture
def world(engine: Engine) -> World:
    """甲 (330102, with coordinates): A1 gas (own coordinates, SO2 limit with reference O2 6 %, a NOx limit
    from tomorrow), A2 water (pH 6–9, COD day limit 50), A3 gas (offline device), A4 gas (online device,
    no limit), A5 (no device). 乙 (440103, no coordinates): B1 gas, SO2 limit 100 without reference O2."""
    register_demo_devices(engine)
    import_devices(engine, [device_row(OK_MN), device_row(OFF_MN)], NOW)
    ids = {mn: rec.id for mn, rec in load_devices(engine).items()}
    with engine.begin() as conn:
        e1 = svc.create_enterprise(
            conn,
            EnterpriseIn(
                name="甲",
                credit_code=_code(1),
                region_code="330102",
                latitude=Decimal("30.25"),
                longitude=Decimal("120.17"),
            ),
            NOW,
        )["id"]
        e2 = svc.create_enterprise(
            conn, EnterpriseIn(name="乙", credit_code=_code(2), region_code="440103"), NOW
        )["id"]
        made = {
            "A1": (e1, "gas", Decimal("30.30"), Decimal("120.20"), GAS_MN),
            "A2": (e1, "water", None, None, WATER_MN),
            "A3": (e1, "gas", None, None, OFF_MN),
            "A4": (e1, "gas", None, None, OK_MN),
            "A5": (e1, "gas", None, None, None),
            "B1": (e2, "gas", None, None, SM4_MN),
        }
        outs: dict[str, int] = {}
        for code, (ent, kind, lat, lon, mn) in made.items():
            data = OutletIn(code=f"D{code}", name=f"排口{code}", kind=kind, latitude=lat, longitude=lon)
            outs[code] = svc.create_outlet(conn, ent, data, NOW)["id"]
            if mn is not None:
                svc.set_device_outlet(conn, mn, outs[code], NOW)
        add_emission_limit(
            conn, outs["A1"], _limit(SO2, hour_limit="100", reference_o2="6", unit="mg/m3"), NOW
        )
        add_emission_limit(conn, outs["A1"], _limit(NOX, hour_limit="1", valid_from=date(2026, 11, 23)), NOW)
        add_emission_limit(conn, outs["A2"], _limit(PH, ph_low="6", ph_high="9"), NOW)
        add_emission_limit(conn, outs["A2"], _limit(COD, day_limit="50", unit="mg/L"), NOW)
        add_emission_limit(conn, outs["B1"], _limit(SO2, hour_limit="100"), NOW)
    gas = ids[GAS_MN]
    # 90 at 12 % O2 converts to 90 × 15/9 = 150 > 100; the raw 90 alone would not exceed
    _hour(engine, gas, 8, {SO2: ("90", "N"), O2: ("12", "N"), NOX: ("50", "N")})
    _hour(engine, gas, 9, {SO2: ("300", "C"), O2: ("12", "N")})  # calibrating: invalid, not counted
    _hour(engine, gas, 10, {SO2: ("50", "N"), O2: ("12", "N")})  # 83.3: below
    _hour(engine, ids[WATER_MN], 8, {PH: ("9.5", "N"), COD: ("60", "N")})
    _hour(engine, ids[WATER_MN], 9, {PH: ("7.0", "N"), COD: ("50", "N")})  # COD mean so far 55 > 50
    _hour(engine, ids[SM4_MN], 8, {SO2: ("120", "N")})
    return World(ids, outs, e1, e2)


def _online(world: World) -> dict[int, bool]:
    # SM4_MN has no status row at all: offline
    return {
        world.ids[GAS_MN]: True,
        world.ids[OK_MN]: True,
        world.ids[WATER_MN]: False,
        world.ids[OFF_MN]: False,
    }


def test_status_of_each_outlet(engine: Engine, settings: Settings, world: World) -> None:
    with engine.connect() as conn:
        got = overview(conn, settings, Area("33"), _online(world), NOW)
    by_code = {world.outlets[c]: c for c in world.outlets}
    assert {by_code[o]: s for o, s in got.status.items()} == {
        "A1": "exceeding",
        "A2": "exceeding",  # exceeding beats offline
        "A3": "offline",
        "A4": "online",
        "A5": "no_device",
    }
    coords = {o.code: (o.latitude, o.longitude) for o in got.outlets}
    assert coords["DA1"] == (Decimal("30.30"), Decimal("120.20"))
    assert coords["DA2"] == (Decimal("30.25"), Decimal("120.17"))  # the enterprise's place


def test_counts_follow_region_and_visible_ids(engine: Engine, settings: Settings, world: World) -> None:
    with engine.connect() as conn:
        zhejiang = overview(conn, settings, Area("33"), _online(world), NOW).counts
        everything = overview(conn, settings, Area(None), _online(world), NOW).counts
        visible = overview(
            conn, settings, Area(None, enterprise_ids=frozenset({world.e1})), _online(world), NOW
        )
        fleet = area_device_ids(conn, Area("4401"))
    assert (zhejiang.enterprises, zhejiang.outlets, zhejiang.devices) == (1, 5, 4)
    assert (zhejiang.online, zhejiang.offline, zhejiang.exceeding) == (2, 2, 2)
    assert (everything.enterprises, everything.outlets, everything.devices) == (2, 6, 5)
    assert (everything.online, everything.offline, everything.exceeding) == (2, 3, 3)
    assert visible.counts == zhejiang
    assert fleet == {world.ids[SM4_MN]}


def test_exceedances_with_their_multiple(engine: Engine, settings: Settings, world: World) -> None:
    with engine.connect() as conn:
        found = overview(conn, settings, Area(None), _online(world), NOW).exceedances
    rows = {(e.mn, e.factor, e.hour): e for e in found}
    so2 = rows[(GAS_MN, SO2, hour_at(TODAY, 8))]
    assert so2.converted and so2.value.quantize(Decimal("0.1")) == Decimal("150.0")
    assert (so2.limit, so2.multiple, so2.enterprise, so2.unit) == (
        Decimal("100"),
        Decimal("0.50"),
        "甲",
        "mg/m3",
    )
    b1 = rows[(SM4_MN, SO2, hour_at(TODAY, 8))]
    assert (b1.value, b1.converted, b1.multiple) == (Decimal("120"), False, Decimal("0.20"))
    ph = rows[(WATER_MN, PH, hour_at(TODAY, 8))]
    assert (ph.limit, ph.ph_low, ph.ph_high, ph.multiple) == (None, Decimal("6"), Decimal("9"), None)
    cod = rows[(WATER_MN, COD, None)]  # the day limit against today's mean so far
    assert (cod.value, cod.limit, cod.multiple) == (Decimal("55.000"), Decimal("50"), Decimal("0.10"))
    assert len(found) == 4


def test_warming_fills_the_cache_the_dashboard_then_reads(
    engine: Engine, settings: Settings, world: World
) -> None:
    """``warm`` judges the whole fleet into the cache; a region's overview afterwards finds the same
    exceedances as without a cache, from what is held."""
    cache = HourCache()
    assert warm(engine, settings, cache, NOW) == 4
    assert cache.held_devices  # judged once, for every later request
    with engine.connect() as conn:
        cached = overview(conn, settings, Area(None), _online(world), NOW, cache).exceedances
        fresh = overview(conn, settings, Area(None), _online(world), NOW).exceedances
    assert cached == fresh


def test_invalid_hours_and_limits_not_in_force_are_not_counted(
    engine: Engine, settings: Settings, world: World
) -> None:
    with engine.connect() as conn:
        found = overview(conn, settings, Area("33"), _online(world), NOW).exceedances
    # hour 9 (SO2 300, flag C) is invalid; NOx 50 is above a limit that applies from tomorrow only
    assert not [e for e in found if e.hour == hour_at(TODAY, 9)]
    assert not [e for e in found if e.factor == NOX]
    assert {(e.mn, e.factor) for e in found} == {(GAS_MN, SO2), (WATER_MN, PH), (WATER_MN, COD)}
