"""The public disclosure pages' own world (SX-7): a real app under uvicorn on a fresh SQLite store.

Enterprises: 甲 (杭州, published by default, one gas outlet DA001 whose logger sends SO2 and O2 hour
records for the two China days before today, with an SO2 limit under 6 % reference O2), 乙 (广州,
published, no data) and 丙 (withdrawn by an admin: "企业已关停"). Users: an admin, one user of 甲 and one
of 乙, and a regulator of 浙江 (sees 甲, may not change its settings).

The SO2 hours: the day before yesterday every hour is 40 (above the hour limit 35 and the day limit 30);
yesterday every hour is 20 but 10:00 (50, above the hour limit) and 11:00 (99, flagged C: invalid, so not
compared). O2 is 6.0 in every hour, so the converted concentration equals the measured one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from envwatch.core.clock import CHINA_TZ, utcnow
from envwatch.monitoring.schema import measurements
from envwatch.registry import service as svc
from envwatch.registry.disclosure import DisclosureChange, change_settings
from envwatch.registry.models import (
    DeviceFactorIn,
    EmissionLimitIn,
    EnterpriseIn,
    OutletIn,
)
from envwatch.registry.service_limits import add_emission_limit
from envwatch.web.scope import china_today
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store, serving

MN_A = "010000A8900016F0001D0001"
MN_B = "010000A8900016F0001D0002"
SO2, O2 = "a21026", "a19001"
OVER_HOUR, INVALID_HOUR = 10, 11  # China clock hours of yesterday (see the module docstring)


@dataclass(frozen=True)
class PublicWorld:
    base_url: str
    settings: Any
    engine: Engine
    ids: dict[str, int]  # enterprise ids by 甲 乙 丙
    codes: dict[str, str]  # credit codes by 甲 乙 丙
    today: date


def _code(n: int) -> str:
    return credit_code(n, "9133010200001")


def _hour(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA_TZ)


def _records(conn: Any, device_id: int, today: date, now: datetime) -> None:
    rows: list[dict[str, Any]] = []
    for back in (2, 1):
        day = today - timedelta(days=back)
        for hour in range(24):
            so2, flag = ("40", "N") if back == 2 else ("20", "N")
            if back == 1 and hour == OVER_HOUR:
                so2 = "50"
            if back == 1 and hour == INVALID_HOUR:
                so2, flag = "99", "C"
            rows.append(
                {
                    "device_id": device_id, "kind": "hour", "data_time": _hour(day, hour), "part": 0,
                    "factors": {SO2: {"Avg": so2, "Flag": flag}, O2: {"Avg": "6.0", "Flag": "N"}},
                    "packet_id": len(rows) + 1, "backfill": False, "received_at": now,
                }
            )  # fmt: skip
    conn.execute(insert(measurements), rows)


def populate_public(engine: Engine, today: date) -> tuple[dict[str, int], dict[str, str]]:
    now = utcnow()
    device_ids = add_devices(engine, [device_row(MN_A), device_row(MN_B)], now)
    ids, codes = {}, {}
    with engine.begin() as conn:
        for n, (key, name, region) in enumerate(
            (
                ("甲", "甲化工有限公司", "330102"),
                ("乙", "乙热电有限公司", "440103"),
                ("丙", "丙水泥有限公司", "330105"),
            ),
            start=1,
        ):
            ent = svc.create_enterprise(
                conn,
                EnterpriseIn(name=name, credit_code=_code(n), region_code=region, address=f"{name}路1号"),
                now,
            )
            ids[key], codes[key] = ent["id"], ent["credit_code"]
        outlet = svc.create_outlet(
            conn, ids["甲"], OutletIn(code="DA001", name="1号锅炉排口", kind="gas"), now
        )
        svc.set_device_outlet(conn, MN_A, outlet["id"], now)
        svc.upsert_device_factors(
            conn,
            MN_A,
            [DeviceFactorIn(factor=SO2, unit="mg/m3"), DeviceFactorIn(factor=O2, unit="%", rated=False)],
            now,
        )
        limit = EmissionLimitIn(
            factor=SO2, hour_limit=Decimal(35), day_limit=Decimal(30), unit="mg/m3", reference_o2=Decimal(6),
            valid_from=date(2020, 1, 1), legal_source="GB 13223-2011 表1",
        )  # fmt: skip
        add_emission_limit(conn, outlet["id"], limit, now)
        outlet_b = svc.create_outlet(conn, ids["乙"], OutletIn(code="DA001", name="乙排口", kind="gas"), now)
        svc.set_device_outlet(conn, MN_B, outlet_b["id"], now)
        _records(conn, device_ids[MN_A], today, now)
        users: list[tuple[str, dict[str, Any]]] = [
            ("pub_admin", {"role": "admin", "display_name": "王管理"}),
            ("pub_ent_a", {"role": "enterprise", "enterprise_id": ids["甲"], "display_name": "甲专员"}),
            ("pub_ent_b", {"role": "enterprise", "enterprise_id": ids["乙"], "display_name": "乙专员"}),
            ("pub_reg", {"role": "regulator", "region_code": "33", "display_name": "浙江监管"}),
        ]
        create_users(conn, users, now)
        change_settings(
            conn, ids["丙"], DisclosureChange("", "", "", published=False, reason="企业已关停"),
            role="admin", changed_by="pub_admin", now=now,
        )  # fmt: skip
    return ids, codes


@pytest.fixture(scope="session")
def public_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublicWorld]:
    with fresh_store(tmp_path_factory.mktemp("public") / "var") as (settings, engine):
        today = china_today()
        ids, codes = populate_public(engine, today)
        with serving(settings, engine) as url:
            yield PublicWorld(url, settings, engine, ids, codes, today)
