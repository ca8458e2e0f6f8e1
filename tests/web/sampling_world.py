"""A small sampling world over the real app and a real store, shared by tests/web/test_sampling_*.py.

Two testing agencies: 温州检测 (WZJC, seated in 330302 温州 鹿城) and 广州检测 (GZJC, 440103 广州 荔湾);
enterprise 甲 in 330302 with outlet DW001, enterprise 乙 in 440103. Agency A's people: 张三 (sampler,
account ``lab_a``, trained), 李四 (receiver, ``lab_a_recv``), 赵六 (sampler, no training); agency B:
王五 (sampler, ``lab_b``, trained). Plans are made through the API; agencies, staff and trainings are
master data written straight into their tables (their own API is another router's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings
from envwatch.registry.models import credit_code_check_char
from envwatch.sampling.schema import custody_events, samples, sampling_plan_items, sampling_plans
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate

API = "/api/v1/sampling"
LAT, LON = Decimal("27.9938"), Decimal("120.6994")  # the outlet of enterprise 甲 (温州)
NEAR = {"latitude": "27.9940", "longitude": "120.6996"}  # about 30 m away
HOUR = timedelta(hours=1)


def credit_code(n: int) -> str:
    first17 = f"9133030200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def iso(moment: datetime) -> str:
    return to_china(moment).isoformat()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    detail = str(response.json()["detail"])
    for word in words:
        assert word in detail, detail
    return detail


@dataclass(frozen=True)
class Caller:
    """The client acting as one principal: the identity is set on every request, so a caller kept in a
    variable stays who it was even after another one was used."""

    client: TestClient
    principal: Principal

    def _act(self) -> TestClient:
        self.client.app.dependency_overrides[authenticate] = lambda: self.principal  # type: ignore[attr-defined]
        return self.client

    def get(self, url: str, **kwargs: Any) -> Any:
        return self._act().get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._act().post(url, **kwargs)


@dataclass
class World:
    client: TestClient
    engine: Engine
    settings: Settings
    ent_a: int = 0
    ent_b: int = 0
    outlet_a: int = 0
    agency_a: int = 0
    agency_b: int = 0
    staff: dict[str, int] = field(default_factory=dict)

    def as_(self, principal: Principal) -> Caller:
        return Caller(self.client, principal)

    def who(self, name: str) -> Caller:
        return self.as_(self.principals()[name])

    def principals(self) -> dict[str, Principal]:
        return {
            "admin": Principal("admin", "admin"),
            "agency": Principal("lab_a", "agency", agency_id=self.agency_a),
            "receiver": Principal("lab_a_recv", "agency", agency_id=self.agency_a),
            "other_agency": Principal("lab_b", "agency", agency_id=self.agency_b),
            "regulator": Principal("reg_wz", "regulator", region_code="3303"),
            "other_regulator": Principal("reg_gd", "regulator", region_code="44"),
            "enterprise": Principal("ent_a", "enterprise", enterprise_id=self.ent_a),
            "other_enterprise": Principal("ent_b", "enterprise", enterprise_id=self.ent_b),
            "operator": Principal("op_a", "operator", operator_id=1),
            "auditor": Principal("aud", "auditor", operator_id=1),
        }

    def plan_body(self, **changes: Any) -> dict[str, Any]:
        now = utcnow()
        body: dict[str, Any] = {
            "enterprise_id": self.ent_a,
            "outlet_id": self.outlet_a,
            "point_name": "1号废水总排放口",
            "window_start": iso(now - HOUR),
            "window_end": iso(now + 5 * HOUR),
            "team": [self.staff["sampler"], self.staff["untrained"]],
            "items": [
                {
                    "item": "化学需氧量",
                    "container": "500 mL 玻璃瓶",
                    "preservation": "加硫酸 pH<2",
                    "quantity": 2,
                },
                {"item": "氨氮", "container": "250 mL 聚乙烯瓶", "quantity": 1},
            ],
            "note": "季度监督性监测",
        }
        return body | changes

    def plan(self, who: str = "agency", **changes: Any) -> dict[str, Any]:
        return ok(self.who(who).post(f"{API}/plans", json=self.plan_body(**changes)), 201)  # type: ignore[no-any-return]

    def entry(self, item_id: int, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "plan_item_id": item_id,
            "appearance": "微黄 无异味",
            "preservative": "硫酸",
            "device_at": iso(utcnow()),
            **NEAR,
        }
        return body | changes

    def sample(self, item_id: int, who: str = "agency", **changes: Any) -> dict[str, Any]:
        return ok(self.who(who).post(f"{API}/samples", json=self.entry(item_id, **changes)), 201)  # type: ignore[no-any-return]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (sampling_plans, sampling_plan_items, samples, custody_events)
            }


def _agency(conn: Any, name: str, code: str, region: str, n: int) -> int:
    now = utcnow()
    values = {"name": name, "credit_code": credit_code(n), "code": code, "region_code": region}
    row = values | {"contact": "", "phone": "", "active": True, "created_at": now, "updated_at": now}
    return int(conn.execute(insert(agencies).values(row).returning(agencies.c.id)).scalar_one())


def _person(conn: Any, agency_id: int, name: str, position: str, username: str | None, trained: bool) -> int:
    now = utcnow()
    staff_id = int(
        conn.execute(
            insert(agency_staff)
            .values(
                agency_id=agency_id,
                name=name,
                position=position,
                phone="",
                username=username,
                active=True,
                created_at=now,
                updated_at=now,
            )
            .returning(agency_staff.c.id)
        ).scalar_one()
    )
    if trained:
        today = to_china(now).date()
        conn.execute(
            insert(agency_trainings).values(
                staff_id=staff_id,
                title="识别标识系统操作培训",
                held_on=today - timedelta(days=10),
                passed=True,
                valid_until=today + timedelta(days=300),
                note="",
                recorded_by="admin",
                recorded_at=now,
                withdrawn=False,
            )
        )
    return staff_id


def build_world(settings: Settings, engine: Engine) -> Iterator[World]:
    app = create_app(settings, engine)
    with TestClient(app) as client:
        w = World(client, engine, settings)
        c = w.who("admin")
        reg = "/api/v1/registry"
        w.ent_a = ok(
            c.post(
                f"{reg}/enterprises",
                json={
                    "name": "温州市永兴化工有限公司",
                    "credit_code": credit_code(1),
                    "region_code": "330302",
                },
            ),
            201,
        )["id"]
        w.ent_b = ok(
            c.post(
                f"{reg}/enterprises",
                json={"name": "广州乙纸业有限公司", "credit_code": credit_code(2), "region_code": "440103"},
            ),
            201,
        )["id"]
        outlet = {
            "code": "DW001",
            "name": "废水总排口",
            "kind": "water",
            "latitude": str(LAT),
            "longitude": str(LON),
        }
        w.outlet_a = ok(c.post(f"{reg}/enterprises/{w.ent_a}/outlets", json=outlet), 201)["id"]
        with engine.begin() as conn:
            w.agency_a = _agency(conn, "温州检测有限公司", "WZJC", "330302", 11)
            w.agency_b = _agency(conn, "广州检测有限公司", "GZJC", "440103", 12)
            w.staff = {
                "sampler": _person(conn, w.agency_a, "张三", "sampler", "lab_a", trained=True),
                "receiver": _person(conn, w.agency_a, "李四", "receiver", "lab_a_recv", trained=False),
                "untrained": _person(conn, w.agency_a, "赵六", "sampler", None, trained=False),
                "sampler_b": _person(conn, w.agency_b, "王五", "sampler", "lab_b", trained=True),
            }
        yield w
    app.dependency_overrides.clear()


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    yield from build_world(settings, sqlite_engine)
