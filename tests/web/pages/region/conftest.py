"""The regional overview's own test world: three enterprises in two provinces, operators, limits and
today's data, served by the real app (``serving``) on a fresh SQLite store.

- 甲 (330102 杭州, with coordinates): outlet A1 (gas, own coordinates, SO2 hour limit 100) with device MN1,
  online; outlet A2 (water, no coordinates: drawn at 甲's place) with no device.
- 丙 (330206 宁波, no coordinates): outlet C1 (gas) with device MN3, offline: listed under "no coordinates".
- 乙 (440103 广州, with coordinates): outlet B1 (gas, SO2 hour limit 100) with device MN2, online.
- Operators 浙运维 (contract with 甲) and 粤运维 (contract with 乙).
- MN1 and MN2 send SO2 hour records for the hours of today that are over (120 mg/m³, flag N: exceeding).

Users: admin1, reg_zj (regulator of 330000), ent_a (enterprise 甲), all with ``PASSWORD``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.monitoring.day_counts import china_day, day_start
from envwatch.monitoring.schema import measurements
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import (
    ContractIn,
    EmissionLimitIn,
    EnterpriseIn,
    OperatorIn,
    OutletIn,
)
from envwatch.registry.service_limits import add_emission_limit
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store, serving, set_status

MN1 = "010000A8900016F0002A0001"  # 甲 A1, online, exceeding
MN2 = "010000A8900016F0002B0001"  # 乙 B1, online, exceeding
MN3 = "010000A8900016F0002C0001"  # 丙 C1, offline
SO2 = "a21026"


@dataclass(frozen=True)
class RegionWorld:
    base_url: str
    settings: Settings
    engine: Engine
    outlets: dict[str, int]
    now: datetime

    @property
    def hours_today(self) -> int:
        """Hours of today (China) that are over: 0 just after midnight (then nothing can exceed yet)."""
        return int((self.now - day_start(china_day(self.now))) / timedelta(hours=1))


def _code(n: int) -> str:
    return credit_code(n, "9144010300000")


def _enterprise(
    conn: Any, n: int, name: str, region: str, place: tuple[str, str] | None, now: datetime
) -> int:
    lat, lon = (Decimal(place[0]), Decimal(place[1])) if place else (None, None)
    data = EnterpriseIn(name=name, credit_code=_code(n), region_code=region, latitude=lat, longitude=lon)
    return int(svc.create_enterprise(conn, data, now)["id"])


def _outlet(conn: Any, ent: int, code: str, kind: str, place: tuple[str, str] | None, now: datetime) -> int:
    lat, lon = (Decimal(place[0]), Decimal(place[1])) if place else (None, None)
    data = OutletIn(code=code, name=f"{code}排口", kind=kind, latitude=lat, longitude=lon)
    return int(svc.create_outlet(conn, ent, data, now)["id"])


def _so2_limit(conn: Any, outlet: int, now: datetime) -> None:
    data = EmissionLimitIn(
        factor=SO2,
        hour_limit=Decimal(100),
        unit="mg/m3",
        valid_from=date(2020, 1, 1),
        legal_source="GB 13223-2011",
    )
    add_emission_limit(conn, outlet, data, now)


def _today_hours(conn: Any, device_id: int, now: datetime) -> None:
    start = day_start(china_day(now))
    hour = start
    packet = device_id * 1000
    while hour + timedelta(hours=1) <= now:
        packet += 1
        conn.execute(
            insert(measurements).values(
                device_id=device_id, kind="hour", data_time=hour, part=0,
                factors={SO2: {"Avg": "120", "Flag": "N"}}, packet_id=packet, backfill=False, received_at=now,
            )
        )  # fmt: skip
        hour += timedelta(hours=1)


def populate_region(engine: Engine, now: datetime) -> dict[str, int]:
    ids = add_devices(engine, [device_row(MN1), device_row(MN2), device_row(MN3)], now)
    with engine.begin() as conn:
        jia = _enterprise(conn, 1, "甲化工有限公司", "330102", ("30.27", "120.15"), now)
        bing = _enterprise(conn, 2, "丙纸业有限公司", "330206", None, now)
        yi = _enterprise(conn, 3, "乙热电有限公司", "440103", ("23.12", "113.26"), now)
        outs = {
            "A1": _outlet(conn, jia, "DA001", "gas", ("30.30", "120.20"), now),
            "A2": _outlet(conn, jia, "DW001", "water", None, now),
            "C1": _outlet(conn, bing, "DA001", "gas", None, now),
            "B1": _outlet(conn, yi, "DA001", "gas", ("23.10", "113.30"), now),
        }
        for mn, code in ((MN1, "A1"), (MN2, "B1"), (MN3, "C1")):
            svc.set_device_outlet(conn, mn, outs[code], now)
        _so2_limit(conn, outs["A1"], now)
        _so2_limit(conn, outs["B1"], now)
        for n, (name, ent) in enumerate((("浙运维", jia), ("粤运维", yi)), start=10):
            op = ops.create_operator(conn, OperatorIn(name=name, credit_code=_code(n)), now)["id"]
            contract = ContractIn(enterprise_id=ent, contract_no=f"HT-{n}", valid_from=date(2020, 1, 1))
            ops.create_contract(conn, op, contract, now)
        set_status(conn, {ids[MN1]: True, ids[MN2]: True, ids[MN3]: False}, now)
        _today_hours(conn, ids[MN1], now)
        _today_hours(conn, ids[MN2], now)
        users: list[tuple[str, dict[str, Any]]] = [
            ("admin1", {"role": "admin"}),
            ("reg_zj", {"role": "regulator", "region_code": "330000", "display_name": "浙江监管"}),
            ("ent_a", {"role": "enterprise", "enterprise_id": jia}),
        ]
        create_users(conn, users, now)
    return outs


@pytest.fixture(scope="session")
def region_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionWorld]:
    with fresh_store(tmp_path_factory.mktemp("region") / "var") as (settings, engine):
        now = utcnow()
        outs = populate_region(engine, now)
        with serving(settings, engine) as url:
            yield RegionWorld(url, settings, engine, outs, now)
