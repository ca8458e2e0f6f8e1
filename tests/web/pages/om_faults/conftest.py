"""The fault and production-stop pages' own world (nothing here is shared with other page tests).

Registry: 甲 (杭州 330102) with gas outlet DA001 and device MN_A (SO2 registered); 乙 (广州 440103) with outlet
DA001 and device MN_B. 运维甲 holds a contract on all of 甲 since 2020, 运维乙 one on all of 乙.

- ``alarm_a``: an open offline alarm of MN_A (the "Open a fault" link, ``?alarm=``); ``alarm_c`` one of
  MN_C (甲's second device on DA001, no factors registered), which only the browser test opens a fault from;
- ``fault_a``: MN_A's SO2 fault since 3 days ago, no backup (its backup clock is overdue);
- ``fault_b``: MN_B's whole-device fault since 2 hours ago;
- ``stop_a``: 甲's report of a stop of DA001 from tomorrow, submitted.

Users (``PASSWORD``): admin1, reg_zj (浙江 33), reg_gd (广东 44), ent_a, ent_b, op_a, fs_a (field staff of 运维甲),
op_b (运维乙), aud_a (auditor of 运维甲 for the last 20 days).

Tests that change faults or stops make their own (the list tests find the ones above by id).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.alarms.store import Raised, raise_alarm
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.operations.faults import open_fault
from envwatch.operations.production_stops import submit_stop
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, DeviceFactorIn, EnterpriseIn, OperatorIn, OutletIn
from envwatch.web.app import create_app
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store, serving
from tests.web.pages.test_pages import login

MN_A = "010000A8900016F0040A0001"
MN_B = "010000A8900016F0040B0001"
MN_C = "010000A8900016F0040A0002"  # 甲's second device, no factors registered: the browser test's
SO2 = "a21026"


@dataclass(frozen=True)
class FaultWorld:
    base_url: str
    settings: Settings
    engine: Engine
    now: datetime
    enterprises: dict[str, int]
    outlets: dict[str, int]
    devices: dict[str, int]
    operators: dict[str, int]
    ids: dict[str, int]  # alarm_a, fault_a, fault_b, stop_a


def _code(n: int) -> str:
    return credit_code(n, "9133010900000")


def _build(engine: Engine, now: datetime) -> dict[str, dict[str, int]]:
    devices = add_devices(engine, [device_row(MN_A), device_row(MN_B), device_row(MN_C)], now)
    ents: dict[str, int] = {}
    outs: dict[str, int] = {}
    opers: dict[str, int] = {}
    ids: dict[str, int] = {}
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
            ents[key], outs[key] = ent["id"], outlet["id"]
            op = ops.create_operator(conn, OperatorIn(name=f"运维{name[0]}", credit_code=_code(n + 10)), now)
            contract = ContractIn(
                enterprise_id=ent["id"], contract_no=f"HT-{key}", valid_from=date(2020, 1, 1)
            )
            ops.create_contract(conn, op["id"], contract, now)
            opers[key] = op["id"]
        svc.set_device_outlet(conn, MN_C, outs["a"], now)
        svc.upsert_device_factors(conn, MN_A, [DeviceFactorIn(factor=SO2, unit="mg/m3")], now)
        at = now - timedelta(hours=1)
        raised = Raised(devices[MN_A], "offline", "", at, "SX-20.9", "甲 no packet for 10 minutes")
        ids["alarm_a"] = raise_alarm(conn, raised, at, ack_due_s=3600).alarm_id
        raised = Raised(devices[MN_C], "offline", "", at, "SX-20.9", "甲 second logger silent")
        ids["alarm_c"] = raise_alarm(conn, raised, at, ack_due_s=3600).alarm_id
        ids["fault_a"] = open_fault(
            conn, device_id=devices[MN_A], started_at=now - timedelta(days=3), description="甲 SO2 分析仪故障",
            factors=[SO2], opened_by="op_a", now=now,
        )["id"]  # fmt: skip
        ids["fault_b"] = open_fault(
            conn, device_id=devices[MN_B], started_at=now - timedelta(hours=2), description="乙 数采仪故障",
            factors=[], opened_by="op_b", now=now,
        )["id"]  # fmt: skip
        ids["stop_a"] = submit_stop(
            conn, enterprise_id=ents["a"], outlet_id=outs["a"], start_at=now + timedelta(days=1),
            end_at=now + timedelta(days=3), reason="甲 锅炉检修", by="ent_a", now=now,
        )["id"]  # fmt: skip
    today = to_china(now).date()
    users: list[tuple[str, dict[str, object]]] = [
        ("admin1", {"role": "admin"}),
        ("reg_zj", {"role": "regulator", "region_code": "330000"}),
        ("reg_gd", {"role": "regulator", "region_code": "440000"}),
        ("ent_a", {"role": "enterprise", "enterprise_id": ents["a"]}),
        ("ent_b", {"role": "enterprise", "enterprise_id": ents["b"]}),
        ("op_a", {"role": "operator", "operator_id": opers["a"]}),
        ("fs_a", {"role": "field_staff", "operator_id": opers["a"]}),
        ("op_b", {"role": "operator", "operator_id": opers["b"]}),
        (
            "aud_a",
            {
                "role": "auditor",
                "operator_id": opers["a"],
                "period_from": today - timedelta(days=20),
                "period_to": today,
            },
        ),
    ]
    with engine.begin() as conn:
        create_users(conn, users, now)
    by_side = {"a": devices[MN_A], "b": devices[MN_B]}
    return {"enterprises": ents, "outlets": outs, "devices": by_side, "operators": opers, "ids": ids}


@pytest.fixture(scope="session")
def fault_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultWorld]:
    with fresh_store(tmp_path_factory.mktemp("om_faults") / "var") as (settings, engine):
        now = utcnow()
        built = _build(engine, now)
        with serving(settings, engine) as url:
            yield FaultWorld(url, settings, engine, now, **built)


@pytest.fixture
def client(fault_world: FaultWorld) -> Iterator[TestClient]:
    # English: the strings are checked in their msgid form (the Chinese catalog is checked by test_i18n)
    with TestClient(create_app(fault_world.settings, fault_world.engine), cookies={"lang": "en"}) as c:
        yield c


def as_user(client: TestClient, username: str) -> str:
    """Log ``username`` in on ``client``; the session's CSRF token."""
    login(client, username)
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)


def local(moment: datetime) -> str:
    """A datetime-local form value (China time)."""
    return to_china(moment).strftime("%Y-%m-%dT%H:%M")
