"""The service ticket pages' own world (nothing here is shared with other page tests).

Registry: 甲 (杭州 330102) with outlet DA001 (urban) and device MN_A; 乙 (广州 440103) with outlet DA001
(suburban) and device MN_B. 运维甲 holds a contract on all of 甲 since 2020, 运维乙 one on all of 乙.
Staff of 运维甲: 张工 (the account fs_a, certificate valid until 2099) and 李工 (certificate expired in 2020).

Tickets (``operations.tickets``, so their journals are real):

- ``open_a``: 甲 asked 2 hours ago, nobody responded (the response clock is overdue);
- ``closed_a``: 甲 asked yesterday, 运维甲 responded, arrived, resolved; 甲 confirmed and gave 5 stars;
- ``open_b``: 乙 asked 10 minutes ago.

Users (``PASSWORD``): admin1, reg_zj (浙江 33), reg_gd (广东 44), ent_a, ent_b, op_a, fs_a (field staff of
运维甲, 张工), op_b (运维乙). Tests that move tickets request their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.operations import tickets as store
from envwatch.operations.staff_schema import staff, staff_certificates
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn
from envwatch.web.app import create_app
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, create_users, credit_code, fresh_store, serving
from tests.web.pages.test_pages import login

MN_A = "010000A8900016F0009A0001"
MN_B = "010000A8900016F0009B0001"


@dataclass(frozen=True)
class TicketWorld:
    base_url: str
    settings: Settings
    engine: Engine
    now: datetime
    enterprises: dict[str, int]
    outlets: dict[str, int]
    devices: dict[str, int]
    operators: dict[str, int]
    staff: dict[str, int]
    tickets: dict[str, int]


def _code(n: int) -> str:
    return credit_code(n, "9133010900000")


def _registry(
    engine: Engine, now: datetime
) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int]]:
    ids = add_devices(engine, [device_row(MN_A), device_row(MN_B)], now)
    ents: dict[str, int] = {}
    places: dict[str, int] = {}
    operators: dict[str, int] = {}
    with engine.begin() as conn:
        for n, (key, name, region, mn, zone) in enumerate(
            (
                ("a", "甲化工有限公司", "330102", MN_A, "urban"),
                ("b", "乙热电有限公司", "440103", MN_B, "suburban"),
            ),
            start=1,
        ):
            ent = svc.create_enterprise(
                conn, EnterpriseIn(name=name, credit_code=_code(n), region_code=region), now
            )
            outlet = OutletIn(code="DA001", name="1号排口", kind="gas", service_zone=zone)  # type: ignore[arg-type]
            places[key] = svc.create_outlet(conn, ent["id"], outlet, now)["id"]
            svc.set_device_outlet(conn, mn, places[key], now)
            ents[key] = ent["id"]
            op = ops.create_operator(conn, OperatorIn(name=f"运维{name[0]}", credit_code=_code(n + 10)), now)
            contract = ContractIn(
                enterprise_id=ent["id"], contract_no=f"HT-{key}", valid_from=date(2020, 1, 1)
            )
            ops.create_contract(conn, op["id"], contract, now)
            operators[key] = op["id"]
    return ents, places, {"a": ids[MN_A], "b": ids[MN_B]}, operators


def _staff(engine: Engine, operator_id: int, now: datetime) -> dict[str, int]:
    out: dict[str, int] = {}
    with engine.begin() as conn:
        for key, name, username, valid_until in (
            ("zhang", "张工", "fs_a", date(2099, 12, 31)),
            ("li", "李工", None, date(2020, 12, 31)),
        ):
            person = conn.execute(
                insert(staff)
                .values(
                    operator_id=operator_id, name=name, position="field_engineer", phone="13800000000",
                    username=username, active=True, created_at=now, updated_at=now,
                )
                .returning(staff.c.id)
            ).scalar_one()  # fmt: skip
            conn.execute(
                insert(staff_certificates).values(
                    staff_id=person, kind="自动监测运维上岗证", number=f"ZJ-{key}", issuer="浙江省环境监测协会",
                    issued_on=date(2019, 1, 1), valid_until=valid_until, recorded_by="admin1", recorded_at=now,
                )
            )  # fmt: skip
            out[key] = int(person)
    return out


def ask(
    engine: Engine, w_ents: dict[str, int], w_outlets: dict[str, int], key: str, at: datetime, now: datetime
) -> int:
    with engine.begin() as conn:
        return int(
            store.request_ticket(
                conn, enterprise_id=w_ents[key], outlet_id=w_outlets[key], device_id=None,
                subject=f"{key} 数据掉线", description="数采仪无数据上传", channel="phone",
                requested_at=at, by=f"ent_{key}", now=now,
            )["id"]
        )  # fmt: skip


def _tickets(
    engine: Engine, ents: dict[str, int], places: dict[str, int], people: dict[str, int], now: datetime
) -> dict[str, int]:
    out = {"open_a": ask(engine, ents, places, "a", now - timedelta(hours=2), now)}
    asked = now - timedelta(days=1)
    closed = ask(engine, ents, places, "a", asked, now)
    with engine.begin() as conn:
        for event, hours, extra in (
            ("respond", 0.5, {}),
            ("arrive", 2, {"staff_id": people["zhang"]}),
            ("resolve", 3, {"comment": "更换电源模块"}),
            ("confirm", 4, {}),
            ("survey", 5, {"score": 5}),
        ):
            store.record_event(
                conn, closed, event=event, at=asked + timedelta(hours=hours), by="admin1", now=now, **extra
            )
    out["closed_a"] = closed
    out["open_b"] = ask(engine, ents, places, "b", now - timedelta(minutes=10), now)
    return out


@pytest.fixture(scope="session")
def ticket_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TicketWorld]:
    with fresh_store(tmp_path_factory.mktemp("tickets") / "var") as (settings, engine):
        now = utcnow()
        ents, places, loggers, operators = _registry(engine, now)
        people = _staff(engine, operators["a"], now)
        made = _tickets(engine, ents, places, people, now)
        users: list[tuple[str, dict[str, object]]] = [
            ("admin1", {"role": "admin"}),
            ("reg_zj", {"role": "regulator", "region_code": "330000"}),
            ("reg_gd", {"role": "regulator", "region_code": "440000"}),
            ("ent_a", {"role": "enterprise", "enterprise_id": ents["a"], "display_name": "甲环保专员"}),
            ("ent_b", {"role": "enterprise", "enterprise_id": ents["b"]}),
            ("op_a", {"role": "operator", "operator_id": operators["a"]}),
            ("fs_a", {"role": "field_staff", "operator_id": operators["a"], "display_name": "张工"}),
            ("op_b", {"role": "operator", "operator_id": operators["b"]}),
        ]
        with engine.begin() as conn:
            create_users(conn, users, now)
        with serving(settings, engine) as url:
            yield TicketWorld(url, settings, engine, now, ents, places, loggers, operators, people, made)


@pytest.fixture
def client(ticket_world: TicketWorld) -> Iterator[TestClient]:
    with TestClient(create_app(ticket_world.settings, ticket_world.engine), cookies={"lang": "en"}) as c:
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


def new_ticket(world: TicketWorld, key: str = "a", hours_ago: float = 0.5) -> int:
    """A fresh ticket of 甲 (or 乙) requested ``hours_ago``, for a test that moves it."""
    now = utcnow()
    return ask(world.engine, world.enterprises, world.outlets, key, now - timedelta(hours=hours_ago), now)
