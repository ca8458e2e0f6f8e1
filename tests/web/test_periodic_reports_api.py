"""Periodic reports over the real app and a real SQLite store: generate, list, read, download, by role."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.reports.periodic_world import PeriodicWorld, build_world

URL = "/api/v1/reports/periodic"
ADMIN = Principal("admin", "admin")


@dataclass
class World:
    client: TestClient
    w: PeriodicWorld

    def as_(self, principal: Principal) -> TestClient:
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    w = build_world(sqlite_engine)
    with TestClient(create_app(settings, sqlite_engine)) as client:
        yield World(client, w)
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def detail(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["detail"])


def _body(kind: str = "all", ref: str = "", period: str = "month", of: str = "2026-09") -> dict[str, str]:
    return {"period": period, "of": of, "scope_kind": kind, "scope_ref": ref}


def test_admin_generates_reads_and_downloads(world: World) -> None:
    c = world.as_(ADMIN)
    made = ok(c.post(URL, json=_body()), 201)
    assert (made["period_kind"], made["first_day"], made["last_day"], made["trigger"]) == (
        "month", "2026-09-01", "2026-09-30", "demand"
    )  # fmt: skip
    assert "figures" in made and made["generated_by"] == "admin"
    got = ok(c.get(f"{URL}/{made['id']}"))
    assert got["figures"]["headline"]["exceedance_hours"] == "28.00"
    listed = ok(c.get(URL))["reports"]
    assert [r["id"] for r in listed] == [made["id"]] and "figures" not in listed[0]
    assert ok(c.get(URL, params={"period": "day"}))["reports"] == []
    for kind, media, magic in (("xlsx", "spreadsheetml", b"PK"), ("pdf", "application/pdf", b"%PDF")):
        r = c.get(f"{URL}/{made['id']}/{kind}")
        assert r.status_code == 200 and media in r.headers["content-type"] and r.content.startswith(magic)
        assert (
            hashlib.sha256(r.content).hexdigest() == made[f"{kind}_sha256"] == r.headers["x-content-sha256"]
        )
        assert "attachment" in r.headers["content-disposition"]
    assert "no periodic report with id 999" in detail(c.get(f"{URL}/999"), 404)
    assert "does not name a month" in detail(c.post(URL, json=_body(of="2026/09")), 422)
    assert "has not begun yet" in detail(c.post(URL, json=_body(period="year", of="2199")), 422)
    assert "no enterprise with id 999" in detail(c.post(URL, json=_body("enterprise", "999")), 404)


def test_each_role_generates_and_sees_its_own(world: World) -> None:
    w = world.w
    admin = world.as_(ADMIN)
    every = {
        "all": ok(admin.post(URL, json=_body()), 201)["id"],
        "zj": ok(admin.post(URL, json=_body("region", "33")), 201)["id"],
        "gd": ok(admin.post(URL, json=_body("region", "4401")), 201)["id"],
        "jia": ok(admin.post(URL, json=_body("enterprise", str(w.jia))), 201)["id"],
        "yi": ok(admin.post(URL, json=_body("enterprise", str(w.yi))), 201)["id"],
        "op": ok(admin.post(URL, json=_body("operator", str(w.op))), 201)["id"],
    }
    reg = Principal("reg", "regulator", region_code="330100")
    ent = Principal("ent", "enterprise", enterprise_id=w.jia)
    op = Principal("op", "operator", operator_id=w.op)
    cases = {
        reg: {"jia"},  # 33 is wider than its city 3301: not its report
        ent: {"jia"},
        op: {"op"},
    }
    for who, seen in cases.items():
        c = world.as_(who)
        assert {r["id"] for r in ok(c.get(URL))["reports"]} == {every[k] for k in seen}, who.role
        for key, report_id in every.items():
            status = 200 if key in seen else 404
            assert c.get(f"{URL}/{report_id}").status_code == status, (who.role, key)
            assert c.get(f"{URL}/{report_id}/pdf").status_code == status, (who.role, key)
    c = world.as_(reg)
    assert ok(c.post(URL, json=_body("region", "330102")), 201)["scope_ref"] == "330102"
    assert ok(c.post(URL, json=_body("enterprise", str(w.jia))), 201)["scope_kind"] == "enterprise"
    assert "may not generate periodic reports for the whole platform" in detail(
        c.post(URL, json=_body()), 403
    )
    assert "may not generate periodic reports for region 44" in detail(
        c.post(URL, json=_body("region", "44")), 403
    )
    assert "no enterprise with id" in detail(c.post(URL, json=_body("enterprise", str(w.yi))), 404)
    c = world.as_(ent)
    assert (
        ok(c.post(URL, json=_body("enterprise", str(w.jia), "day", "2026-09-10")), 201)["period_kind"]
        == "day"
    )
    assert "no enterprise with id" in detail(c.post(URL, json=_body("enterprise", str(w.yi))), 404)
    assert "may not generate periodic reports for region 33" in detail(
        c.post(URL, json=_body("region", "33")), 403
    )
    c = world.as_(op)
    assert (
        ok(c.post(URL, json=_body("operator", str(w.op), "quarter", "2026Q3")), 201)["period_kind"]
        == "quarter"
    )
    assert "may not generate periodic reports for enterprise" in detail(
        c.post(URL, json=_body("enterprise", str(w.jia))), 403
    )
    others = (
        Principal("x", "field_staff", operator_id=w.op),
        Principal("x", "auditor", operator_id=w.op),
        Principal("x", "agency", agency_id=1),
    )
    for who in others:
        role = who.role
        c = world.as_(who)
        assert f"role {role} has no periodic reports" in detail(c.get(URL), 403)
        assert c.get(f"{URL}/{every['op']}").status_code == 403
        assert c.post(URL, json=_body("operator", str(w.op))).status_code in (403, 404)
