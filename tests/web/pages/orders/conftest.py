"""The supervision order, daily audit and inbox pages' own world (nothing here is shared with other page tests).

Registry: 甲 (杭州 330102) with outlet DA001 and device MN_A; 乙 (广州 440103) with outlet DA001 and device MN_B.
运维甲 holds a contract on all of 甲 since 2020, 运维乙 one on all of 乙.

Alarms (``alarms.store.raise_alarm``, so their notices are in the inbox): ``exceed_a`` (甲 SO2, open),
``offline_a`` (甲, open), ``exceed_b`` (乙 SO2, open), and ``day_a``: a 甲 alarm opened at noon China time
``AUDIT_ANOMALY_DAYS_AGO`` days ago (the one anomaly of that day for 运维甲's audit).

Orders (``alarms.orders``, so their notices are in the inbox too):

- ``order_a``: reg_zj → 甲, citing exceed_a, issued (deadline in 7 days);
- ``order_b``: reg_gd → 乙, citing exceed_b, issued;
- ``order_late``: admin1 → 运维甲 (region 330102), issued 10 days ago with a deadline 3 days ago: overdue.

Audit: op_a signed 运维甲's day ``SIGNED_DAYS_AGO`` days ago. 运维乙's in-app box holds ``OP_B_MESSAGES``
audit notices (the inbox's paging).

Users (``PASSWORD``): admin1, reg_zj (浙江 33), reg_gd (广东 44), ent_a, ent_b, op_a, fs_a (field staff of
运维甲), op_b (运维乙), aud_a (auditor of 运维甲 for the ``AUDITOR_PERIOD`` days ending 2 days ago).

Tests that change orders issue their own (the list tests find the three above by id).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.alarms import orders
from envwatch.alarms.audit_days import sign_day
from envwatch.alarms.notify import Audience, announce
from envwatch.alarms.store import Raised, raise_alarm
from envwatch.core.clock import CHINA_TZ, to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, DeviceFactorIn, EnterpriseIn, OperatorIn, OutletIn
from envwatch.web.app import create_app
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store, serving, set_status
from tests.web.pages.test_pages import login

MN_A = "010000A8900016F0008A0001"
MN_B = "010000A8900016F0008B0001"
SO2 = "a21026"
ACK_DUE_S = 3600.0
MAX_BYTES = 4096  # a small attachment limit: "too big" is cheap to test
AUDIT_ANOMALY_DAYS_AGO = 3
SIGNED_DAYS_AGO = 5
AUDITOR_PERIOD = 20  # days, ending 2 days ago
OP_B_MESSAGES = 55  # one more page than 50


@dataclass(frozen=True)
class OrderWorld:
    base_url: str
    settings: Settings
    engine: Engine
    now: datetime
    enterprises: dict[str, int]
    operators: dict[str, int]
    alarms: dict[str, int]
    orders: dict[str, int]

    def days_ago(self, n: int) -> date:
        """The China day ``n`` days before today."""
        return to_china(self.now).date() - timedelta(days=n)


def _code(n: int) -> str:
    return credit_code(n, "9133010800000")


def china_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=CHINA_TZ)


def _registry(engine: Engine, now: datetime) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    devices = add_devices(engine, [device_row(MN_A), device_row(MN_B)], now)
    since = date(2020, 1, 1)
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
            svc.upsert_device_factors(conn, mn, [DeviceFactorIn(factor=SO2, unit="mg/m3")], now)
            ents[key] = ent["id"]
            op = ops.create_operator(conn, OperatorIn(name=f"运维{name[0]}", credit_code=_code(n + 10)), now)
            ops.create_contract(
                conn,
                op["id"],
                ContractIn(enterprise_id=ent["id"], contract_no=f"HT-{key}", valid_from=since),
                now,
            )
            operators[key] = op["id"]
        set_status(conn, {devices[MN_A]: True, devices[MN_B]: True}, now)
    return devices, ents, operators


def _alarms(engine: Engine, devices: dict[str, int], now: datetime) -> dict[str, int]:
    a, b = devices[MN_A], devices[MN_B]
    out: dict[str, int] = {}
    with engine.begin() as conn:

        def raise_(key: str, raised: Raised, at: datetime) -> None:
            out[key] = raise_alarm(conn, raised, at, ack_due_s=ACK_DUE_S).alarm_id

        start = now - timedelta(hours=3)
        raise_("exceed_a", Raised(a, "exceedance", SO2, start, "EXC-01", "SO2 above the hour limit"), start)
        raise_("offline_a", Raised(a, "offline", "", start, "SX-20.9", "no packet since"), start)
        raise_("exceed_b", Raised(b, "exceedance", SO2, start, "EXC-01", "SO2 above the hour limit"), start)
        opened = china_noon(to_china(now).date() - timedelta(days=AUDIT_ANOMALY_DAYS_AGO))
        raise_("day_a", Raised(a, "jump", SO2, opened, "JMP-01", "a sudden jump"), opened)
    return out


def _orders(
    engine: Engine, ents: dict[str, int], operators: dict[str, int], alarms: dict[str, int], now: datetime
) -> dict[str, int]:
    out: dict[str, int] = {}
    with engine.begin() as conn:
        out["order_a"] = orders.issue_order(
            conn, region_code="330000", enterprise_id=ents["a"], title="甲SO2超标整改", body="查明原因并整改",
            deadline=now + timedelta(days=7), alarm_ids=[alarms["exceed_a"]], issued_by="reg_zj", now=now,
        )["id"]  # fmt: skip
        out["order_b"] = orders.issue_order(
            conn, region_code="440000", enterprise_id=ents["b"], title="乙SO2超标整改", body="查明原因并整改",
            deadline=now + timedelta(days=7), alarm_ids=[alarms["exceed_b"]], issued_by="reg_gd", now=now,
        )["id"]  # fmt: skip
        issued = now - timedelta(days=10)
        out["order_late"] = orders.issue_order(
            conn, region_code="330102", operator_id=operators["a"], title="运维甲巡检记录补齐", body="补齐巡检记录",
            deadline=now - timedelta(days=3), alarm_ids=[], issued_by="admin1", now=issued,
        )["id"]  # fmt: skip
    return out


def _audit_and_messages(engine: Engine, operators: dict[str, int], now: datetime) -> None:
    signed = to_china(now).date() - timedelta(days=SIGNED_DAYS_AGO)
    with engine.begin() as conn:
        sign_day(
            conn,
            operator_id=operators["a"],
            day=signed,
            signed_by="op_a",
            note="已核查",
            anomalies=0,
            now=now,
        )
        for n in range(OP_B_MESSAGES):
            announce(
                conn, topic="audit", ref_id=n + 1, event="reminder", subject=f"审核提醒 {n + 1:02d}",
                body="请完成昨日数据审核", payload={}, audience=Audience(None, (operators["b"],), None),
                now=now - timedelta(minutes=OP_B_MESSAGES - n),
            )  # fmt: skip


def _users(engine: Engine, ents: dict[str, int], operators: dict[str, int], now: datetime) -> None:
    today = to_china(now).date()
    period = (today - timedelta(days=AUDITOR_PERIOD + 1), today - timedelta(days=2))
    users: list[tuple[str, dict[str, object]]] = [
        ("admin1", {"role": "admin"}),
        ("reg_zj", {"role": "regulator", "region_code": "330000"}),
        ("reg_gd", {"role": "regulator", "region_code": "440000"}),
        ("ent_a", {"role": "enterprise", "enterprise_id": ents["a"], "display_name": "甲环保专员"}),
        ("ent_b", {"role": "enterprise", "enterprise_id": ents["b"]}),
        ("op_a", {"role": "operator", "operator_id": operators["a"]}),
        ("fs_a", {"role": "field_staff", "operator_id": operators["a"]}),
        ("op_b", {"role": "operator", "operator_id": operators["b"]}),
        (
            "aud_a",
            {
                "role": "auditor",
                "operator_id": operators["a"],
                "period_from": period[0],
                "period_to": period[1],
            },
        ),
    ]
    with engine.begin() as conn:
        create_users(conn, users, now)


@pytest.fixture(scope="session")
def order_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderWorld]:
    with fresh_store(tmp_path_factory.mktemp("orders") / "var", max_attachment_bytes=MAX_BYTES) as (
        settings,
        engine,
    ):
        now = utcnow()
        devices, ents, operators = _registry(engine, now)
        alarms = _alarms(engine, devices, now)
        made = _orders(engine, ents, operators, alarms, now)
        _audit_and_messages(engine, operators, now)
        _users(engine, ents, operators, now)
        with serving(settings, engine) as url:
            yield OrderWorld(url, settings, engine, now, ents, operators, alarms, made)


@pytest.fixture
def client(order_world: OrderWorld) -> Iterator[TestClient]:
    # English: the new strings reach the Chinese catalog only when .i18n/orders.json is merged
    with TestClient(create_app(order_world.settings, order_world.engine), cookies={"lang": "en"}) as c:
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
