"""Service tickets over the real app and a real SQLite store: each role through a whole ticket, the write
kinds per step, the 404 of another tenant's ticket, the list filters and an operator's figures (the route
table's tenancy is in test_tenancy)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.operations.staff_schema import staff, staff_certificates
from envwatch.operations.tickets_schema import ticket_events, tickets
from envwatch.registry.models import credit_code_check_char
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.helpers import GAS_MN, WATER_MN, register_demo_devices

API = "/api/v1/om/tickets"
ADMIN = Principal(name="admin", role="admin")


def _code(n: int) -> str:
    first17 = f"9114010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def _local(hours: float) -> str:
    """A China time ``hours`` from now, without offset (as users type it)."""
    return to_china(utcnow() + timedelta(hours=hours)).replace(tzinfo=None).isoformat(timespec="seconds")


@dataclass
class World:
    client: TestClient
    engine: Engine
    ids: dict[str, int]

    def as_(self, principal: Principal) -> TestClient:
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client

    def role(self, role: str, side: str = "a") -> Principal:
        ids = self.ids
        fields: dict[str, Any] = {
            "enterprise": {"enterprise_id": ids[f"ent_{side}"]},
            "operator": {"operator_id": ids[f"op_{side}"]},
            "field_staff": {"operator_id": ids[f"op_{side}"]},
            "regulator": {"region_code": "1401" if side == "a" else "4401"},
            "auditor": {
                "operator_id": ids[f"op_{side}"],
                "period": (to_china(utcnow()).date() - timedelta(days=5), to_china(utcnow()).date()),
            },
        }[role]
        return Principal(f"{role}_{side}", role, **fields)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    register_demo_devices(sqlite_engine)
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as c:
        w = World(c, sqlite_engine, {})
        c = w.as_(ADMIN)
        api = "/api/v1/registry"
        for n, (side, region, mn, zone) in enumerate(
            (("a", "140105", GAS_MN, "suburban"), ("b", "440103", WATER_MN, "urban")), start=1
        ):
            ent = ok(
                c.post(
                    f"{api}/enterprises",
                    json={"name": f"企业{side}", "credit_code": _code(n), "region_code": region},
                ),
                201,
            )["id"]
            kind = "gas" if mn == GAS_MN else "water"
            outlet = ok(
                c.post(
                    f"{api}/enterprises/{ent}/outlets",
                    json={"code": "D001", "name": "1号排口", "kind": kind, "service_zone": zone},
                ),
                201,
            )["id"]
            device = ok(c.put(f"{api}/devices/{mn}/outlet", json={"outlet_id": outlet}))["id"]
            op = ok(
                c.post(f"{api}/operators", json={"name": f"运维{side}", "credit_code": _code(10 + n)}), 201
            )["id"]
            contract = {"enterprise_id": ent, "contract_no": f"C-{side}", "valid_from": "2020-01-01"}
            ok(c.post(f"{api}/operators/{op}/contracts", json=contract), 201)
            w.ids |= {
                f"ent_{side}": ent,
                f"outlet_{side}": outlet,
                f"device_{side}": device,
                f"op_{side}": op,
            }
        now = utcnow()
        with sqlite_engine.begin() as conn:
            for key, valid_until in (("staff_ok", date(2099, 12, 31)), ("staff_old", date(2020, 12, 31))):
                person = conn.execute(
                    insert(staff)
                    .values(
                        operator_id=w.ids["op_a"], name=key, position="field_engineer", phone="1",
                        username=None, active=True, created_at=now, updated_at=now,
                    )
                    .returning(staff.c.id)
                ).scalar_one()  # fmt: skip
                conn.execute(
                    insert(staff_certificates).values(
                        staff_id=person, kind="上岗证", number=f"N-{key}", issuer="协会", issued_on=date(2019, 1, 1),
                        valid_until=valid_until, recorded_by="admin", recorded_at=now,
                    )
                )  # fmt: skip
                w.ids[key] = int(person)
        yield w
    app.dependency_overrides.clear()


def request_body(w: World, side: str = "a", **extra: Any) -> dict[str, Any]:
    body = {"outlet_id": w.ids[f"outlet_{side}"], "subject": "COD 数据异常", "description": "数值长时间不变"}
    return body | extra


def step(client: TestClient, ticket_id: int, event: str, status: int = 200, **extra: Any) -> Any:
    return ok(client.post(f"{API}/{ticket_id}/events", json={"event": event, **extra}), status)


def test_a_ticket_from_request_to_survey_each_step_by_its_role(world: World) -> None:
    w = world
    ent = w.as_(w.role("enterprise"))
    made = ok(ent.post(API, json=request_body(w, device_id=w.ids["device_a"])), 201)
    t = made["id"]
    assert (made["enterprise_id"], made["operator_id"], made["zone"], made["state"]) == (
        w.ids["ent_a"],
        w.ids["op_a"],
        "suburban",
        "requested",
    )
    assert made["channel"] == "web" and made["requested_by"] == "enterprise_a"
    assert [c["name"] for c in made["clocks"]] == ["respond", "on_site"]
    respond_clock, on_site_clock = made["clocks"]
    assert respond_clock["state"] == "running" and 3590 <= respond_clock["remaining_s"] <= 3600
    assert respond_clock["clause"] == "CS-4.3.3" and on_site_clock["remaining_s"] > 7 * 3600  # suburban: 8 h
    assert made["requested_at"].endswith("+08:00") and [e["event"] for e in made["events"]] == ["requested"]
    # the enterprise does not do the operator's work, nor the operator the enterprise's
    r = ent.post(f"{API}/{t}/events", json={"event": "respond"})
    assert r.status_code == 403 and r.json()["detail"] == (
        "role enterprise may not respond to, attend or resolve service tickets"
    )
    fs = w.as_(w.role("field_staff"))
    step(fs, t, "respond", comment="已接单")
    r = fs.post(f"{API}/{t}/events", json={"event": "confirm"})
    assert (
        r.status_code == 403
        and r.json()["detail"] == "role field_staff may not request service, confirm, reject or rate a fix"
    )
    # an expired certificate blocks the arrival (422, nothing recorded); a valid one is taken
    r = fs.post(f"{API}/{t}/events", json={"event": "arrive", "staff_id": w.ids["staff_old"]})
    assert r.status_code == 422 and "has no certificate valid on" in r.json()["detail"]
    arrived = step(fs, t, "arrive", staff_id=w.ids["staff_ok"])
    assert arrived["state"] == "on_site" and arrived["assigned_staff_id"] == w.ids["staff_ok"]
    assert {c["name"]: c["state"] for c in arrived["clocks"]} == {"respond": "met", "on_site": "met"}
    step(w.as_(w.role("operator")), t, "resolve", comment="更换蠕动泵管")
    ent = w.as_(w.role("enterprise"))
    step(ent, t, "confirm")
    surveyed = step(ent, t, "survey", score=4, comment="响应及时")
    assert (surveyed["state"], surveyed["score"]) == ("closed", 4)
    again = ent.post(f"{API}/{t}/events", json={"event": "survey", "score": 5})
    assert again.status_code == 409 and again.json()["detail"] == (
        f"ticket {t} was already surveyed (score 4): a survey is recorded once"
    )
    journal = ok(ent.get(f"{API}/{t}"))["events"]
    assert [(e["event"], e["recorded_by"]) for e in journal] == [
        ("requested", "enterprise_a"),
        ("respond", "field_staff_a"),
        ("arrive", "field_staff_a"),
        ("resolve", "operator_a"),
        ("confirm", "enterprise_a"),
        ("survey", "enterprise_a"),
    ]
    # the regulator of the region reads it, comments nothing; the auditor reads it too
    reg = w.as_(w.role("regulator"))
    assert ok(reg.get(f"{API}/{t}"))["id"] == t
    r = reg.post(f"{API}/{t}/events", json={"event": "comment", "comment": "已阅"})
    assert r.status_code == 403 and r.json()["detail"] == "role regulator may not comment on service tickets"
    assert ok(w.as_(w.role("auditor")).get(f"{API}/{t}"))["id"] == t
    # both parties may comment
    assert step(w.as_(w.role("operator")), t, "comment", comment="已回访")["state"] == "closed"


def test_another_tenant_s_ticket_answers_like_a_missing_one(world: World) -> None:
    w = world
    t = ok(w.as_(ADMIN).post(API, json=request_body(w, "b")), 201)["id"]
    for role in ("enterprise", "operator", "field_staff", "regulator", "auditor"):
        client = w.as_(w.role(role))
        hidden, missing = client.get(f"{API}/{t}"), client.get(f"{API}/999999")
        assert (hidden.status_code, missing.status_code) == (404, 404), role
        assert hidden.json()["detail"] == f"no ticket with id {t}"
        r = client.post(f"{API}/{t}/events", json={"event": "comment", "comment": "x"})
        assert r.status_code == 404, role
        assert t not in [row["id"] for row in ok(client.get(API))["rows"]], role
        r = client.post(API, json=request_body(w, "b"))
        assert r.status_code == 404 and r.json()["detail"] == f"no outlet with id {w.ids['outlet_b']}", role
        r = client.get(f"{API}/satisfaction", params={"operator_id": w.ids["op_b"]})
        assert r.status_code == 404 and r.json()["detail"] == f"no operator with id {w.ids['op_b']}", role
    with w.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ticket_events)).scalar_one() == 1


def test_requests_by_role_and_bad_requests(world: World) -> None:
    w = world
    for role in ("operator", "field_staff", "regulator", "auditor"):
        r = w.as_(w.role(role)).post(API, json=request_body(w))
        assert r.status_code == 403 and r.json()["detail"] == (
            f"role {role} may not request service, confirm, reject or rate a fix"
        )
    admin = w.as_(ADMIN)
    # a phone request entered afterwards keeps its real time
    phoned = ok(admin.post(API, json=request_body(w, channel="phone", requested_at=_local(-3))), 201)
    assert phoned["channel"] == "phone" and phoned["clocks"][0]["state"] == "overdue"
    assert phoned["events"][0]["recorded_at"] > phoned["events"][0]["at"]
    for body, status, detail in (
        (
            request_body(w, requested_at=_local(1)),
            422,
            "(China time) is in the future; record what has happened",
        ),
        (request_body(w, requested_at="yesterday"), 422, "requested_at='yesterday' is not an ISO 8601 time"),
        (request_body(w, channel="fax"), 422, "channel 'fax' is not one of phone, web, app"),
        (request_body(w, subject=""), 422, "the subject is required"),
        (request_body(w, enterprise_id=w.ids["ent_b"]), 422, "belongs to enterprise"),
        (request_body(w, device_id=w.ids["device_b"]), 422, f"is not on outlet {w.ids['outlet_a']}"),
        ({**request_body(w), "outlet_id": 999}, 422, "no outlet 999"),
    ):
        r = admin.post(API, json=body)
        assert r.status_code == status and detail in r.json()["detail"], (body, r.text)
    with w.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tickets)).scalar_one() == 1
    # the operator's 7×24 hotline records a call it took (channel phone only); the regulator cannot
    hotline = ok(w.as_(w.role("operator")).post(API, json=request_body(w, channel="phone")), 201)
    assert hotline["channel"] == "phone" and hotline["requested_by"] == w.role("operator").name
    r = w.as_(w.role("regulator")).post(API, json=request_body(w, channel="phone"))
    assert r.status_code == 403
    with w.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tickets)).scalar_one() == 2


def test_steps_the_state_does_not_allow_and_bad_steps(world: World) -> None:
    w = world
    admin = w.as_(ADMIN)
    t = ok(admin.post(API, json=request_body(w)), 201)["id"]
    r = admin.post(f"{API}/{t}/events", json={"event": "confirm"})
    assert r.status_code == 409 and r.json()["detail"] == (
        "a ticket that is requested cannot take 'confirm' (allowed: cancel, comment, respond)"
    )
    r = admin.post(f"{API}/{t}/events", json={"event": "teleport"})
    assert r.status_code == 422 and r.json()["detail"].startswith("unknown ticket event 'teleport'")
    r = admin.post(f"{API}/{t}/events", json={"event": "respond", "at": _local(1)})
    assert r.status_code == 422 and "is in the future" in r.json()["detail"]
    step(admin, t, "respond")
    remote = step(admin, t, "resolve_remotely", comment="远程修改参数")
    assert remote["state"] == "remote_fixed"
    assert {c["name"]: c["state"] for c in remote["clocks"]}["on_site"] == "not_applicable"
    r = admin.post(f"{API}/{t}/events", json={"event": "reject"})
    assert r.status_code == 422 and r.json()["detail"] == "the reason is required"
    assert step(admin, t, "reject", comment="仍未恢复")["state"] == "responded"
    cancel = w.as_(w.role("enterprise")).post(f"{API}/{t}/events", json={"event": "cancel"})
    assert cancel.status_code == 409


def test_list_filters_and_figures(world: World) -> None:
    w = world
    admin = w.as_(ADMIN)
    old = ok(admin.post(API, json=request_body(w, requested_at=_local(-3))), 201)["id"]  # overdue
    done = ok(admin.post(API, json=request_body(w, requested_at=_local(-2))), 201)["id"]
    step(admin, done, "respond", at=_local(-1.5))
    step(admin, done, "resolve_remotely", at=_local(-1))
    step(admin, done, "confirm", at=_local(-0.5))
    step(admin, done, "survey", score=5)
    b = ok(admin.post(API, json=request_body(w, "b")), 201)["id"]

    def listed(client: TestClient, **params: Any) -> list[int]:
        return [r["id"] for r in ok(client.get(API, params=params))["rows"]]

    assert listed(admin) == [b, old, done]  # open first, newest request first
    assert listed(admin, clock="overdue") == [old]
    assert listed(admin, state="closed") == [done]
    assert listed(admin, enterprise_id=w.ids["ent_b"]) == [b]
    assert listed(admin, operator_id=w.ids["op_a"]) == [old, done]
    assert listed(admin, outlet_id=w.ids["outlet_b"]) == [b]
    today = to_china(utcnow()).date()
    assert listed(admin, **{"from": (today + timedelta(days=1)).isoformat()}) == []
    assert listed(w.as_(w.role("enterprise", "b"))) == [b]
    assert listed(w.as_(w.role("operator"))) == [old, done]
    admin = w.as_(ADMIN)  # one client: as_ changes who it is
    page = ok(admin.get(API, params={"limit": 1, "offset": 1}))
    assert (page["total"], [r["id"] for r in page["rows"]]) == (3, [old])
    r = admin.get(API, params={"clock": "late"})
    assert (
        r.status_code == 422
        and r.json()["detail"] == "unknown clock status 'late' (one of running, overdue, breached)"
    )
    # the auditor reads inside its period only
    auditor = w.as_(w.role("auditor"))
    assert listed(auditor) == [old, done]
    r = auditor.get(API, params={"from": (today - timedelta(days=30)).isoformat()})
    assert r.status_code == 403 and "auditor may read data of" in r.json()["detail"]

    admin = w.as_(ADMIN)
    figures = ok(admin.get(f"{API}/satisfaction", params={"operator_id": w.ids["op_a"]}))
    assert (figures["surveys"], figures["satisfied"], figures["percent"], figures["meets_target"]) == (
        1,
        1,
        "100.0",
        True,
    )
    assert figures["target_percent"] == "85" and figures["clause"] == "CS-4.3.3" and figures["tickets"] == 2
    assert figures["on_time"]["respond"] == {
        "met": 1,
        "late": 1,
        "running": 0,
        "not_applicable": 0,
        "percent": "50.0",
    }
    assert figures["on_time"]["on_site"]["not_applicable"] == 1
    first, last = figures["from"], figures["to"]
    assert first <= today.isoformat() <= last
    empty = ok(
        admin.get(
            f"{API}/satisfaction",
            params={"operator_id": w.ids["op_b"], "from": "2020-01-01", "to": "2020-03-31"},
        )
    )
    assert (empty["surveys"], empty["percent"], empty["meets_target"]) == (0, None, None)
    r = admin.get(
        f"{API}/satisfaction", params={"operator_id": w.ids["op_a"], "from": "2026-02-01", "to": "2026-01-01"}
    )
    assert r.status_code == 422 and r.json()["detail"] == "from 2026-02-01 is after to 2026-01-01"
    assert (
        ok(w.as_(w.role("enterprise")).get(f"{API}/satisfaction", params={"operator_id": w.ids["op_a"]}))[
            "surveys"
        ]
        == 1
    )
