"""The O&M ledger API (一机一档, spare parts, emergency plans and drills) over the real app and a real SQLite store:
the flows, the answers to bad input (422 / 409 / 404 with the store's message), and who reads and writes what
(the other tenant's objects are in test_tenancy)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.registry.models import credit_code_check_char
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.helpers import GAS_MN, SM4_MN, register_demo_devices

OM = "/api/v1/om"
TODAY = to_china(utcnow()).date()
ADMIN = Principal(name="admin", role="admin")


def _code(n: int) -> str:
    first17 = f"9114010200001{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass
class World:
    client: TestClient
    operator_id: int  # 运维: a contract on all of 太原电厂 (140105) since 2020
    idle_operator_id: int  # no contract
    people: dict[str, Principal]

    def as_(self, who: str | Principal) -> TestClient:
        principal = who if isinstance(who, Principal) else self.people[who]
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    register_demo_devices(sqlite_engine)
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as c:
        w = World(c, 0, 0, {})
        c = w.as_(ADMIN)
        api = "/api/v1/registry"
        ent = c.post(
            f"{api}/enterprises", json={"name": "太原电厂", "credit_code": _code(1), "region_code": "140105"}
        ).json()["id"]
        outlet = c.post(
            f"{api}/enterprises/{ent}/outlets", json={"code": "DA001", "name": "1号排口", "kind": "gas"}
        ).json()["id"]
        assert c.put(f"{api}/devices/{GAS_MN}/outlet", json={"outlet_id": outlet}).status_code == 200
        w.operator_id = c.post(f"{api}/operators", json={"name": "运维", "credit_code": _code(2)}).json()[
            "id"
        ]
        w.idle_operator_id = c.post(f"{api}/operators", json={"name": "闲", "credit_code": _code(3)}).json()[
            "id"
        ]
        contract = {"enterprise_id": ent, "contract_no": "C1", "valid_from": "2020-01-01"}
        assert c.post(f"{api}/operators/{w.operator_id}/contracts", json=contract).status_code == 201
        op = w.operator_id
        w.people = {
            "admin": ADMIN,
            "operator": Principal("op", "operator", operator_id=op),
            "field_staff": Principal("fs", "field_staff", operator_id=op),
            "auditor": Principal("aud", "auditor", operator_id=op, period=(TODAY - timedelta(days=5), TODAY)),
            "regulator": Principal("reg", "regulator", region_code="1401"),
            "far_regulator": Principal("reg_gd", "regulator", region_code="4401"),
            "enterprise": Principal("ent", "enterprise", enterprise_id=ent),
            "idle_operator": Principal("idle", "operator", operator_id=w.idle_operator_id),
        }
        yield w
    app.dependency_overrides.clear()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, detail: str) -> None:
    assert (response.status_code, response.json()["detail"]) == (status, detail), response.text


def _equipment(c: TestClient, **more: Any) -> dict[str, Any]:
    body = {"kind": "analyser", "name": "SO2 分析仪", "model": "XG", "serial": "SN-1"}
    body |= {"purchased_on": (TODAY - timedelta(days=60)).isoformat(), **more}
    return ok(c.post(f"{OM}/equipment", json=body), 201)  # type: ignore[no-any-return]


def test_an_equipment_file_through_the_api(world: World) -> None:
    c = world.as_("operator")
    item = _equipment(c)  # one's own operator by default
    assert (item["operator_id"], item["state"], item["verification"]) == (
        world.operator_id,
        "in_stock",
        "none",
    )
    url = f"{OM}/equipment/{item['id']}"
    day = (TODAY - timedelta(days=10)).isoformat()
    c = world.as_("field_staff")
    installed = ok(c.post(f"{url}/events", json={"event": "installed", "on": day, "mn": GAS_MN}))
    assert (installed["state"], installed["mn"]) == ("installed", GAS_MN)
    soon = (TODAY + timedelta(days=5)).isoformat()
    verified = ok(c.post(f"{url}/events", json={"event": "verified", "on": day, "next_due": soon}))
    assert (verified["next_verification_due"], verified["verification"]) == (soon, "due")
    refused(
        c.post(f"{url}/events", json={"event": "repaired", "on": TODAY.isoformat()}),
        422,
        "the comment is required",
    )
    refused(
        c.post(f"{url}/events", json={"event": "removed", "on": (TODAY + timedelta(days=1)).isoformat()}),
        422,
        f"the day {(TODAY + timedelta(days=1)).isoformat()} is in the future (today is {TODAY.isoformat()})",
    )
    refused(
        c.post(f"{url}/events", json={"event": "installed", "on": TODAY.isoformat(), "mn": GAS_MN}),
        409,
        "equipment that is installed cannot take 'installed' (allowed: maintained, moved, removed, repaired, "
        "scrapped, sent_to_repair, verified)",
    )
    # a device the caller does not see is a 404 like a missing one (SM4_MN is on no outlet of the contract)
    refused(
        c.post(f"{url}/events", json={"event": "moved", "on": TODAY.isoformat(), "mn": SM4_MN}),
        404,
        f"no device with MN {SM4_MN}",
    )
    file = ok(c.get(url))
    assert [e["event"] for e in file["events"]] == ["purchased", "installed", "verified"]
    assert file["events"][1]["recorded_by"] == "fs"
    refused(c.post(f"{OM}/equipment", json={**_body(), "serial": "SN-1"}), 409, (
        f"operator {world.operator_id} already has equipment model XG serial SN-1: equipment {item['id']} (SO2 分析仪)"
    ))  # fmt: skip
    refused(c.post(f"{OM}/equipment", json={**_body(), "kind": "pump"}), 422, (
        "kind must be one of analyser, tool, meter, other; not 'pump'"
    ))  # fmt: skip
    listed = ok(c.get(f"{OM}/equipment", params={"mn": GAS_MN}))["rows"]
    assert [r["id"] for r in listed] == [item["id"]] and listed[0]["verification"] == "due"
    assert ok(c.get(f"{OM}/equipment", params={"state": "scrapped"}))["rows"] == []
    assert [r["id"] for r in ok(c.get(f"{OM}/equipment", params={"due_within": 5}))["rows"]] == [item["id"]]
    assert ok(c.get(f"{OM}/equipment", params={"due_within": 4}))["rows"] == []
    assert ok(c.get(f"{OM}/equipment", params={"overdue": True}))["rows"] == []
    refused(c.get(f"{OM}/equipment", params={"state": "x"}), 422, (
        "unknown equipment state x (states: in_stock, installed, repairing, scrapped)"
    ))  # fmt: skip
    due = ok(c.get(f"{OM}/equipment/verification-due", params={"within_days": 5}))
    assert [(r["id"], r["days_left"], r["overdue"]) for r in due["rows"]] == [(item["id"], 5, False)]
    assert ok(c.get(f"{OM}/equipment/verification-due", params={"within_days": 4}))["rows"] == []
    refused(c.get(f"{OM}/equipment/999999"), 404, "no equipment with id 999999")


def _body() -> dict[str, Any]:
    return {
        "kind": "tool",
        "name": "万用表",
        "model": "XG",
        "serial": "SN-2",
        "purchased_on": TODAY.isoformat(),
    }


def test_spare_parts_through_the_api(world: World) -> None:
    c = world.as_("operator")
    part = ok(
        c.post(f"{OM}/spare-parts", json={"name": "采样泵", "model": "N86", "unit": "个", "min_stock": 2}),
        201,
    )
    url = f"{OM}/spare-parts/{part['id']}"
    assert ok(c.post(f"{url}/moves", json={"quantity": 3, "reason": "采购入库"}), 201)["stock"] == 3
    used = ok(c.post(f"{url}/moves", json={"quantity": -2, "reason": "更换", "mn": GAS_MN}), 201)
    assert (used["stock"], used["device_id"] is not None) == (1, True)
    refused(c.post(f"{url}/moves", json={"quantity": -2, "reason": "更换"}), 422, (
        "spare part 采样泵 N86 has 1 个 in stock: 2 cannot be taken out"
    ))  # fmt: skip
    listed = ok(c.get(f"{OM}/spare-parts"))
    assert [(r["stock"], r["below_min"]) for r in listed["rows"]] == [(1, True)] and listed["below_min"] == 1
    one = ok(c.get(url))
    assert one["stock"] == 1 and [m["quantity"] for m in one["moves"]] == [-2, 3]
    assert one["moves"][0]["mn"] == GAS_MN
    refused(c.post(f"{OM}/spare-parts", json={"name": "采样泵", "model": "N86", "unit": "个"}), 409, (
        f"operator {world.operator_id} already has spare part 采样泵 N86: part {part['id']}"
    ))  # fmt: skip
    refused(c.post(f"{OM}/spare-parts/999999/moves", json={"quantity": 1, "reason": "x"}), 404, (
        "no spare part with id 999999"
    ))  # fmt: skip


def test_plans_drills_and_the_year(world: World) -> None:
    c = world.as_("operator")
    plan = {"event_type": "power_outage", "title": "停电应急预案", "version": "V1", "body": "启用UPS"}
    plan |= {"effective_on": "2020-01-01"}
    first = ok(c.post(f"{OM}/emergency-plans", json=plan), 201)
    assert first["current"] is True
    revised = ok(c.post(f"{OM}/emergency-plans", json={**plan, "version": "V2"}), 201)
    refused(c.post(f"{OM}/emergency-plans", json={**plan, "version": "V2"}), 409, (
        f"operator {world.operator_id}'s power_outage plan already has version V2 (plan {revised['id']}): "
        "give a revision a new version"
    ))  # fmt: skip
    assert [(p["version"], p["current"]) for p in ok(c.get(f"{OM}/emergency-plans"))["rows"]] == [
        ("V2", True),
        ("V1", False),
    ]
    assert [p["version"] for p in ok(c.get(f"{OM}/emergency-plans", params={"current": True}))["rows"]] == [
        "V2"
    ]
    status = ok(c.get(f"{OM}/drills/status"))
    assert (status["year"], status["met"], status["drills"]) == (TODAY.year, False, [])
    assert (
        "power_outage" not in status["missing_event_types"]
        and "device_failure" in status["missing_event_types"]
    )
    drill = {"plan_id": revised["id"], "held_on": TODAY.isoformat(), "participants": 0, "summary": "演练"}
    refused(c.post(f"{OM}/drills", json=drill), 422, "participants must be 1-10000, not 0")
    made = ok(c.post(f"{OM}/drills", json={**drill, "participants": 8}), 201)
    assert (made["event_type"], made["plan_version"]) == ("power_outage", "V2")
    status = ok(c.get(f"{OM}/drills/status", params={"year": TODAY.year}))
    assert status["met"] is True and [d["id"] for d in status["drills"]] == [made["id"]]
    assert ok(c.get(f"{OM}/drills/status", params={"year": TODAY.year - 1}))["met"] is False
    assert [d["id"] for d in ok(c.get(f"{OM}/drills", params={"year": TODAY.year}))["rows"]] == [made["id"]]
    sheet = ok(
        c.post(
            f"{OM}/drills/{made['id']}/attachments",
            files={"file": ("签到表.pdf", b"%PDF-1", "application/pdf")},
        ),
        201,
    )
    got = c.get(f"{OM}/drills/{made['id']}/attachments/{sheet['id']}")
    assert (got.status_code, got.content) == (200, b"%PDF-1")
    assert got.headers["content-disposition"].startswith("attachment;")
    detail = ok(c.get(f"{OM}/drills/{made['id']}"))
    assert [a["filename"] for a in detail["attachments"]] == ["签到表.pdf"]
    # an attachment id of another owner is not this drill's
    refused(
        c.get(f"{OM}/drills/{made['id']}/attachments/999999"),
        404,
        f"drill {made['id']} has no attachment 999999",
    )
    refused(c.get(f"{OM}/drills/999999"), 404, "no drill with id 999999")
    refused(
        c.post(f"{OM}/drills", json={**drill, "plan_id": 999999}), 404, "no emergency plan with id 999999"
    )


def test_who_reads_and_writes(world: World) -> None:
    c = world.as_("operator")
    item = _equipment(c)
    plan = {
        "event_type": "exceedance",
        "title": "超标",
        "version": "V1",
        "body": "b",
        "effective_on": "2020-01-01",
    }
    plan_id = ok(c.post(f"{OM}/emergency-plans", json=plan), 201)["id"]
    op = world.operator_id
    # readers: admin, the operator's people, the regional regulator
    for who in ("admin", "operator", "field_staff", "auditor", "regulator"):
        c = world.as_(who)
        assert [r["id"] for r in ok(c.get(f"{OM}/equipment"))["rows"]] == [item["id"]], who
        assert ok(c.get(f"{OM}/equipment/{item['id']}"))["id"] == item["id"]
        assert ok(c.get(f"{OM}/drills/status", params={"operator_id": op}))["operator_id"] == op
    # not readers: an enterprise, a regulator elsewhere, another operator: empty lists, 404 for the objects
    for who in ("enterprise", "far_regulator", "idle_operator"):
        c = world.as_(who)
        assert ok(c.get(f"{OM}/equipment"))["rows"] == [], who
        assert ok(c.get(f"{OM}/emergency-plans"))["rows"] == []
        refused(c.get(f"{OM}/equipment/{item['id']}"), 404, f"no equipment with id {item['id']}")
        refused(c.get(f"{OM}/drills/status", params={"operator_id": op}), 404, f"no operator with id {op}")
        refused(c.get(f"{OM}/equipment", params={"operator_id": op}), 404, f"no operator with id {op}")
    # writers: admin (naming the operator), the operator, field staff; the regulator and auditor read only
    for who in ("regulator", "auditor"):
        c = world.as_(who)
        refused(c.post(f"{OM}/equipment", json={**_body(), "operator_id": op}), 403, (
            f"role {world.people[who].role} may not record equipment, spare parts, emergency plans and drills"
        ))  # fmt: skip
        drill = {"plan_id": plan_id, "held_on": TODAY.isoformat(), "participants": 1, "summary": "x"}
        assert c.post(f"{OM}/drills", json=drill).status_code == 403
        assert (
            c.post(
                f"{OM}/equipment/{item['id']}/events", json={"event": "maintained", "on": TODAY.isoformat()}
            ).status_code
            == 403
        )
    c = world.as_("admin")
    refused(c.post(f"{OM}/equipment", json=_body()), 422, "operator_id is required")
    assert _equipment(c, operator_id=op, serial="SN-9")["operator_id"] == op
    refused(
        c.post(f"{OM}/equipment", json={**_body(), "operator_id": 999999}), 404, "no operator with id 999999"
    )
    # an operator names only itself
    c = world.as_("idle_operator")
    refused(c.post(f"{OM}/equipment", json={**_body(), "operator_id": op}), 404, f"no operator with id {op}")
    assert _equipment(c, serial="SN-X")["operator_id"] == world.idle_operator_id
