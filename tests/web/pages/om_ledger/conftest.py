"""The ledger pages' own world (nothing here is shared with other page tests).

Registry: 甲 (杭州 330102) with outlet DA001 and device MN_A; 乙 (广州 440103) with outlet DA001 and device MN_B.
运维甲 holds a contract on all of 甲 since 2020, 运维乙 one on all of 乙.

Ledger of 运维甲 (recorded through the stores, ``now`` = the real clock):

- ``analyser``: an SO2 analyser installed at MN_A, verified a year ago with the next verification due
  yesterday (overdue);
- ``meter``: a flow meter in stock, next verification due in 10 days (due soon);
- ``pump``: spare part 采样泵 with 1 个 in stock, minimum 2 (below minimum); ``filter``: 滤芯 with 10, minimum 2;
- ``plan``: a power-outage plan (V1.0, in effect since 2020) and ``drill``: a drill held under it today, with
  a sign-in sheet ``sheet``.

Ledger of 运维乙: ``b_analyser`` (in stock), spare part ``b_part``, no plan, no drill.

Users (``PASSWORD``): admin1, reg_zj (浙江 33), reg_gd (广东 44), ent_a, op_a, fs_a (field staff of 运维甲), aud_a
(auditor of 运维甲), op_b (运维乙).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.operations import emergency, equipment, spare_parts
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn
from envwatch.registry.schema import devices
from envwatch.web.app import create_app
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store, serving
from tests.web.pages.test_pages import login

MN_A = "010000A8900016F0009A0001"
MN_B = "010000A8900016F0009B0001"
MAX_BYTES = 4096  # a small attachment limit: "too big" is cheap to test


@dataclass(frozen=True)
class LedgerWorld:
    base_url: str
    settings: Settings
    engine: Engine
    now: datetime
    today: date
    operators: dict[str, int]
    ids: dict[str, int]


def _code(n: int) -> str:
    return credit_code(n, "9133010900000")


def _registry(engine: Engine, now: datetime) -> tuple[dict[str, int], dict[str, int]]:
    add_devices(engine, [device_row(MN_A), device_row(MN_B)], now)
    ents: dict[str, int] = {}
    operators: dict[str, int] = {}
    with engine.begin() as conn:
        for n, (key, name, region, mn) in enumerate(
            (("a", "甲化工有限公司", "330102", MN_A), ("b", "乙热电有限公司", "440103", MN_B)), start=1
        ):
            ent = svc.create_enterprise(
                conn, EnterpriseIn(name=name, credit_code=_code(n), region_code=region), now
            )
            outlet = svc.create_outlet(
                conn, ent["id"], OutletIn(code="DA001", name="1号排口", kind="gas"), now
            )
            svc.set_device_outlet(conn, mn, outlet["id"], now)
            ents[key] = ent["id"]
            op = ops.create_operator(conn, OperatorIn(name=f"运维{name[0]}", credit_code=_code(n + 10)), now)
            contract = ContractIn(
                enterprise_id=ent["id"], contract_no=f"HT-{key}", valid_from=date(2020, 1, 1)
            )
            ops.create_contract(conn, op["id"], contract, now)
            operators[key] = op["id"]
    return ents, operators


def _ledger(engine: Engine, settings: Settings, operators: dict[str, int], now: datetime) -> dict[str, int]:
    today = to_china(now).date()
    year_ago = today - timedelta(days=365)
    a, b = operators["a"], operators["b"]
    out: dict[str, int] = {}
    with engine.begin() as conn:
        device_a = conn.execute(select(devices.c.id).where(devices.c.mn == MN_A)).scalar_one()
        item = equipment.add_equipment(
            conn, operator_id=a, kind="analyser", name="SO2 分析仪", model="XG-2000", serial="SN-A1",
            purchased_on=year_ago, recorded_by="op_a", now=now,
        )  # fmt: skip
        out["analyser"] = item["id"]
        equipment.record_event(
            conn, item["id"], event="verified", on=year_ago, next_due=today - timedelta(days=1),
            recorded_by="op_a", now=now,
        )  # fmt: skip
        equipment.record_event(
            conn, item["id"], event="installed", on=year_ago + timedelta(days=1), device_id=device_a,
            recorded_by="fs_a", now=now,
        )  # fmt: skip
        meter = equipment.add_equipment(
            conn, operator_id=a, kind="meter", name="流量计", model="FL-1", serial="SN-A2",
            purchased_on=year_ago, recorded_by="op_a", now=now,
        )  # fmt: skip
        out["meter"] = meter["id"]
        equipment.record_event(
            conn, meter["id"], event="verified", on=today, next_due=today + timedelta(days=10),
            recorded_by="op_a", now=now,
        )  # fmt: skip
        out["b_analyser"] = equipment.add_equipment(
            conn, operator_id=b, kind="analyser", name="乙的分析仪", model="YB-1", serial="SN-B1",
            purchased_on=year_ago, recorded_by="op_b", now=now,
        )["id"]  # fmt: skip
        pump = spare_parts.add_part(
            conn, operator_id=a, name="采样泵", model="N86", unit="个", min_stock=2, now=now
        )
        spare_parts.move(conn, pump["id"], 1, "采购入库", recorded_by="op_a", now=now)
        out["pump"] = pump["id"]
        filt = spare_parts.add_part(
            conn, operator_id=a, name="滤芯", model="F-1", unit="个", min_stock=2, now=now
        )
        spare_parts.move(conn, filt["id"], 10, "采购入库", recorded_by="op_a", now=now)
        out["filter"] = filt["id"]
        out["b_part"] = spare_parts.add_part(
            conn, operator_id=b, name="乙的备件", model="B", unit="套", min_stock=0, now=now
        )["id"]
        plan = emergency.add_plan(
            conn, operator_id=a, event_type="power_outage", title="停电应急预案", version="V1.0",
            effective_on=date(2020, 1, 1), body="启用UPS\n通知企业", recorded_by="op_a", now=now,
        )  # fmt: skip
        out["plan"] = plan["id"]
        drill = emergency.add_drill(
            conn, plan["id"], held_on=today, participants=6, summary="模拟停电，UPS 切换正常。",
            recorded_by="op_a", now=now,
        )  # fmt: skip
        out["drill"] = drill["id"]
        out["sheet"] = emergency.add_drill_attachment(
            conn, BlobStore.from_settings(settings), drill["id"], filename="签到表.txt", content=b"sign-in",
            content_type="text/plain", added_by="op_a", now=now,
        )["id"]  # fmt: skip
    return out


def _users(engine: Engine, ents: dict[str, int], operators: dict[str, int], now: datetime) -> None:
    today = to_china(now).date()
    users: list[tuple[str, dict[str, object]]] = [
        ("admin1", {"role": "admin"}),
        ("reg_zj", {"role": "regulator", "region_code": "330000"}),
        ("reg_gd", {"role": "regulator", "region_code": "440000"}),
        ("ent_a", {"role": "enterprise", "enterprise_id": ents["a"]}),
        ("op_a", {"role": "operator", "operator_id": operators["a"]}),
        ("fs_a", {"role": "field_staff", "operator_id": operators["a"]}),
        ("op_b", {"role": "operator", "operator_id": operators["b"]}),
        (
            "aud_a",
            {
                "role": "auditor",
                "operator_id": operators["a"],
                "period_from": today - timedelta(days=10),
                "period_to": today,
            },
        ),
    ]
    with engine.begin() as conn:
        create_users(conn, users, now)


@pytest.fixture(scope="session")
def ledger_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerWorld]:
    with fresh_store(tmp_path_factory.mktemp("om_ledger") / "var", max_attachment_bytes=MAX_BYTES) as (
        settings,
        engine,
    ):
        now = utcnow()
        ents, operators = _registry(engine, now)
        ids = _ledger(engine, settings, operators, now)
        _users(engine, ents, operators, now)
        with serving(settings, engine) as url:
            yield LedgerWorld(url, settings, engine, now, to_china(now).date(), operators, ids)


@pytest.fixture
def client(ledger_world: LedgerWorld) -> Iterator[TestClient]:
    # no redirects followed: a write answers 303. English: the strings are also checked in Chinese by test_i18n once .i18n/om_ledger.json is merged
    app = create_app(ledger_world.settings, ledger_world.engine)
    with TestClient(app, cookies={"lang": "en"}, follow_redirects=False) as c:
        yield c


def as_user(client: TestClient, username: str) -> str:
    """Log ``username`` in on ``client``; the session's CSRF token."""
    login(client, username)
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)
