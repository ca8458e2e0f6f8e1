"""Testing agencies, their staff and trainings over the real app and a real SQLite store (``/api/v1/agencies``).

Two agencies created by the admin through the API: 温州 (``WZJC``, 330302) and 广州 (``GZJC``, 440103). Roles:
admin; a regulator of 浙江 (33: sees 温州) and one of 广东 (44: sees 广州); the account of each agency;
an enterprise and an operator (see no agency). Out-of-scope objects answer 404 like missing ones, writes a
role may not do 403 naming the role.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings
from envwatch.registry.models import credit_code_check_char
from envwatch.web.accounts import store as accounts
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from envwatch.web.scope import china_today

API = "/api/v1/agencies"
TODAY = china_today()
DAY = timedelta(days=1)
ADMIN = Principal("admin", "admin")


def credit(n: int) -> str:
    first17 = f"9133030200001{n:04d}"
    return first17 + credit_code_check_char(first17)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert text in response.json()["detail"], response.json()


@dataclass
class World:
    client: TestClient
    engine: Engine
    wz: int
    gz: int

    def as_(self, principal: Principal) -> TestClient:
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client

    def roles(self) -> dict[str, Principal]:
        return {
            "admin": ADMIN,
            "reg_zj": Principal("reg_zj", "regulator", region_code="33"),
            "reg_gd": Principal("reg_gd", "regulator", region_code="44"),
            "agency_wz": Principal("wz_s1", "agency", agency_id=self.wz),
            "agency_gz": Principal("gz_s1", "agency", agency_id=self.gz),
            "enterprise": Principal("ent_x", "enterprise", enterprise_id=1),
            "operator": Principal("op_x", "operator", operator_id=1),
        }

    def count(self, table: Any) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def agency_body(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"检测机构{n}",
        "credit_code": credit(n),
        "code": f"AG{n:02d}",
        "region_code": "330302",
        "contact": "陈工",
        "phone": "0577-88776655",
    } | fields


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as client:
        w = World(client, sqlite_engine, 0, 0)
        c = w.as_(ADMIN)
        w.wz = ok(c.post(API, json=agency_body(1, name="温州检测", code="WZJC")), 201)["id"]
        w.gz = ok(c.post(API, json=agency_body(2, name="广州检测", code="GZJC", region_code="440103")), 201)[
            "id"
        ]
        with sqlite_engine.begin() as conn:
            for username, fields in {
                "wz_s1": {"role": "agency", "agency_id": w.wz},
                "wz_s2": {"role": "agency", "agency_id": w.wz},
                "gz_s1": {"role": "agency", "agency_id": w.gz},
                "reg_zj": {"role": "regulator", "region_code": "33"},
            }.items():
                accounts.create_user(
                    conn, username, "correct horse battery", fields, utcnow(), min_password_length=10
                )
        yield w
    app.dependency_overrides.clear()


def add_person(w: World, agency_id: int, name: str = "张采样", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "position": "sampler", "phone": "13800138000"} | fields
    return ok(w.as_(ADMIN).post(f"{API}/{agency_id}/staff", json=body), 201)  # type: ignore[no-any-return]


def training_body(**fields: Any) -> dict[str, Any]:
    return {
        "title": "识别标识系统操作培训",
        "held_on": (TODAY - 5 * DAY).isoformat(),
        "passed": True,
        "valid_until": (TODAY + 360 * DAY).isoformat(),
        "score": "92.5",
        "note": "理论+实操",
    } | fields


# ---- agencies ----


def test_admin_creates_and_changes_an_agency(world: World) -> None:
    c = world.as_(ADMIN)
    row = ok(c.get(f"{API}/{world.wz}"))
    assert (row["name"], row["code"], row["region_code"], row["credit_code"], row["active"]) == (
        "温州检测",
        "WZJC",
        "330302",
        credit(1),
        True,
    )
    assert row["created_at"].endswith("+08:00")
    refused(
        c.post(API, json=agency_body(3, code="wzjc")),
        409,
        "agency code WZJC is already used by testing agency",
    )
    refused(
        c.post(API, json=agency_body(3, credit_code=credit(1))),
        409,
        "is already registered for testing agency",
    )
    refused(c.post(API, json=agency_body(3, code="W")), 422, "is not an agency code")
    refused(c.post(API, json=agency_body(3, region_code="33")), 422, "region_code")
    assert c.post(API, json=agency_body(3, boss="x")).status_code == 422
    changed = ok(c.patch(f"{API}/{world.wz}", json={"name": "温州市检测", "code": "WZJC", "contact": ""}))
    assert (changed["name"], changed["contact"], changed["code"]) == ("温州市检测", "", "WZJC")
    refused(
        c.patch(f"{API}/{world.wz}", json={"code": "WZ01"}),
        422,
        "the agency code WZJC cannot be changed: it is printed in every sample code and label",
    )
    refused(c.patch(f"{API}/{world.wz}", json={"name": None}), 422, "name cannot be null")
    refused(c.patch(f"{API}/{world.wz}", json={"credit_code": credit(2)}), 409, "already registered")
    refused(c.patch(f"{API}/999", json={"name": "x"}), 404, "no testing agency with id 999")
    assert world.count(agencies) == 2


def test_the_list_follows_the_scope(world: World) -> None:
    expected = {
        "admin": [world.wz, world.gz],  # by region code
        "reg_zj": [world.wz],
        "reg_gd": [world.gz],
        "agency_wz": [world.wz],
        "agency_gz": [world.gz],
        "enterprise": [],
        "operator": [],
    }
    for role, principal in world.roles().items():
        body = ok(world.as_(principal).get(API))
        assert [r["id"] for r in body["rows"]] == expected[role], role
        assert body["total"] == len(expected[role])
    admin = world.as_(ADMIN)
    assert [r["id"] for r in ok(admin.get(API, params={"region": "3303"}))["rows"]] == [world.wz]
    ok(admin.patch(f"{API}/{world.gz}", json={"active": False}))
    assert [r["id"] for r in ok(admin.get(API, params={"active": "true"}))["rows"]] == [world.wz]
    assert admin.get(API, params={"region": "3"}).status_code == 422
    row = ok(admin.get(API, params={"region": "33"}))["rows"][0]
    assert row["coverage"] == {"total": 0, "trained": 0, "percent": None, "complete": False}


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("admin", 200),
        ("reg_zj", 200),
        ("reg_gd", 404),
        ("agency_wz", 200),
        ("agency_gz", 404),
        ("enterprise", 404),
        ("operator", 404),
    ],
)
def test_reads_of_one_agency_per_role(world: World, role: str, status: int) -> None:
    person = add_person(world, world.wz)
    c = world.as_(world.roles()[role])
    paths = (
        f"{API}/{world.wz}",
        f"{API}/{world.wz}/staff",
        f"{API}/{world.wz}/coverage",
        f"{API}/{world.wz}/staff/{person['id']}/trainings",
    )
    for path in paths:
        r = c.get(path)
        assert r.status_code == status, (role, path, r.text)
    if status == 404:  # exactly as a missing agency
        assert c.get(f"{API}/{world.wz}").json() == {"detail": f"no testing agency with id {world.wz}"}
    assert c.get(f"{API}/999").json() == {"detail": "no testing agency with id 999"}


@pytest.mark.parametrize(
    ("role", "create", "change"),
    [
        ("reg_zj", 403, 403),
        ("reg_gd", 403, 404),
        ("agency_wz", 403, 403),
        ("agency_gz", 403, 404),
        ("enterprise", 403, 404),
        ("operator", 403, 404),
    ],
)
def test_only_the_admin_writes_agencies(world: World, role: str, create: int, change: int) -> None:
    c = world.as_(world.roles()[role])
    r = c.post(API, json=agency_body(5))
    assert r.status_code == create
    role_name = world.roles()[role].role
    assert r.json()["detail"] == f"role {role_name} may not create or change testing agencies"
    r = c.patch(f"{API}/{world.wz}", json={"name": "x"})
    assert r.status_code == change, r.text
    assert world.count(agencies) == 2 and ok(world.as_(ADMIN).get(f"{API}/{world.wz}"))["name"] == "温州检测"


# ---- staff ----


def test_agency_keeps_its_own_staff(world: World) -> None:
    c = world.as_(world.roles()["agency_wz"])
    body = {"name": "李采样", "position": "sampler", "phone": "13900139000", "username": "WZ_S2"}
    row = ok(c.post(f"{API}/{world.wz}/staff", json=body), 201)
    assert (row["agency_id"], row["name"], row["username"], row["active"]) == (
        world.wz,
        "李采样",
        "wz_s2",
        True,
    )
    listed = ok(c.get(f"{API}/{world.wz}/staff"))
    assert [(r["name"], r["training_status"], r["training"]) for r in listed["rows"]] == [
        ("李采样", "none", None)
    ]
    changed = ok(
        c.patch(f"{API}/{world.wz}/staff/{row['id']}", json={"position": "receiver", "username": None})
    )
    assert (changed["position"], changed["username"]) == ("receiver", None)
    assert ok(c.get(f"{API}/{world.wz}/staff", params={"position": "sampler"}))["rows"] == []
    refused(c.patch(f"{API}/{world.wz}/staff/{row['id']}", json={"name": None}), 422, "name cannot be null")
    refused(c.post(f"{API}/{world.wz}/staff", json=body | {"position": "boss"}), 422, "position 'boss'")
    # the other agency's people and paths: 404
    gz_person = add_person(world, world.gz, "广州人")
    c = world.as_(world.roles()["agency_wz"])
    refused(c.post(f"{API}/{world.gz}/staff", json=body), 404, f"no testing agency with id {world.gz}")
    refused(
        c.patch(f"{API}/{world.gz}/staff/{gz_person['id']}", json={"name": "x"}), 404, "no testing agency"
    )
    # a person of 广州 under 温州's path: 404 even for the admin
    refused(
        world.as_(ADMIN).patch(f"{API}/{world.wz}/staff/{gz_person['id']}", json={"name": "x"}),
        404,
        f"no staff member with id {gz_person['id']} at testing agency {world.wz}",
    )


@pytest.mark.parametrize("role", ["reg_zj", "enterprise", "operator", "reg_gd", "agency_gz"])
def test_others_may_not_write_staff(world: World, role: str) -> None:
    person = add_person(world, world.wz)
    principal = world.roles()[role]
    c = world.as_(principal)
    body = {"name": "x", "position": "sampler"}
    r1 = c.post(f"{API}/{world.wz}/staff", json=body)
    r2 = c.patch(f"{API}/{world.wz}/staff/{person['id']}", json={"name": "y"})
    r3 = c.post(f"{API}/{world.wz}/staff/{person['id']}/trainings", json=training_body())
    if role == "reg_zj":  # sees the agency, may not write: 403 naming the role
        for r in (r1, r2, r3):
            assert r.json() == {
                "detail": "role regulator may not manage an agency's staff and their trainings"
            }
            assert r.status_code == 403
    else:
        assert (r1.status_code, r2.status_code, r3.status_code) == (404, 404, 404)
    assert world.count(agency_staff) == 1 and world.count(agency_trainings) == 0


def test_the_linked_account_must_be_an_account_of_the_agency(world: World) -> None:
    c = world.as_(ADMIN)
    message = "no agency account named {!r} at testing agency {}: create the account"
    for name in ("gz_s1", "reg_zj", "nobody"):  # another agency's, not an agency account, missing
        refused(
            c.post(f"{API}/{world.wz}/staff", json={"name": "x", "position": "sampler", "username": name}),
            422,
            message.format(name, world.wz),
        )
    first = add_person(world, world.wz, "甲", username="wz_s1")
    refused(
        c.post(f"{API}/{world.wz}/staff", json={"name": "乙", "position": "sampler", "username": "wz_s1"}),
        409,
        f"web account 'wz_s1' is already linked to 甲 (agency staff {first['id']})",
    )
    second = add_person(world, world.wz, "乙")
    refused(
        c.patch(f"{API}/{world.wz}/staff/{second['id']}", json={"username": "gz_s1"}),
        422,
        "no agency account",
    )
    refused(
        c.patch(f"{API}/{world.wz}/staff/{second['id']}", json={"username": "wz_s1"}), 409, "already linked"
    )
    assert (
        ok(c.patch(f"{API}/{world.wz}/staff/{second['id']}", json={"username": "wz_s2"}))["username"]
        == "wz_s2"
    )
    assert world.count(agency_staff) == 2


# ---- trainings and coverage ----


def test_record_withdraw_and_correct_trainings(world: World) -> None:
    person = add_person(world, world.wz)
    c = world.as_(world.roles()["agency_wz"])
    base = f"{API}/{world.wz}/staff/{person['id']}/trainings"
    row = ok(c.post(base, json=training_body(score="87.50")), 201)
    assert (row["score"], row["passed"], row["recorded_by"], row["note"]) == (
        "87.50",
        True,
        "wz_s1",
        "理论+实操",
    )
    refused(c.post(base, json=training_body(score=87.5)), 422, "the score must be given exactly")
    refused(
        c.post(base, json=training_body(title="x", held_on=(TODAY + DAY).isoformat())), 422, "is after today"
    )
    refused(c.post(base, json=training_body()), 409, "already recorded for this person")
    listed = ok(c.get(base))
    assert listed["staff"]["training_status"] == "valid" and listed["staff"]["days_left"] == 360
    assert [(r["id"], r["status"], r["score"]) for r in listed["rows"]] == [(row["id"], "valid", "87.50")]
    # corrected: the test was failed
    fixed = ok(
        c.post(f"{base}/{row['id']}/corrections", json={"reason": "成绩录错", "passed": False, "score": 40}),
        201,
    )
    assert (fixed["supersedes_id"], fixed["passed"], fixed["score"], fixed["title"]) == (
        row["id"],
        False,
        "40",
        "识别标识系统操作培训",
    )
    refused(
        c.post(f"{base}/{row['id']}/corrections", json={"reason": "x"}), 422, "give the fields to correct"
    )
    refused(
        c.post(f"{base}/{row['id']}/corrections", json={"reason": "x", "passed": True}),
        409,
        f"was corrected already by training record {fixed['id']}",
    )
    listed = ok(c.get(base))
    assert listed["staff"]["training_status"] == "failed"
    assert [(r["id"], r["status"]) for r in listed["rows"]] == [
        (fixed["id"], "failed"),
        (row["id"], "corrected"),
    ]
    assert listed["rows"][1]["correction"]["reason"] == "成绩录错"
    # withdrawn
    gone = ok(c.post(f"{base}/{fixed['id']}/withdraw", json={"reason": "录错了人"}), 201)
    assert (gone["withdrawn"], gone["supersedes_id"], gone["note"]) == (True, fixed["id"], "录错了人")
    refused(c.post(f"{base}/{fixed['id']}/withdraw", json={"reason": "x"}), 409, "was withdrawn already")
    refused(c.post(f"{base}/{gone['id']}/withdraw", json={"reason": "x"}), 409, "a withdrawal is final")
    refused(c.post(f"{base}/{row['id']}/withdraw", json={"reason": " "}), 409, "corrected already")
    assert ok(c.get(base))["staff"]["training_status"] == "none"
    # a record of another person under this person's path: 404
    other = add_person(world, world.wz, "王采样")
    theirs = ok(
        world.as_(ADMIN).post(f"{API}/{world.wz}/staff/{other['id']}/trainings", json=training_body()), 201
    )
    c = world.as_(world.roles()["agency_wz"])
    refused(
        c.post(f"{base}/{theirs['id']}/withdraw", json={"reason": "x"}),
        404,
        f"no training record with id {theirs['id']} of staff member {person['id']}",
    )
    # the regulator reads them and may not withdraw
    reg = world.as_(world.roles()["reg_zj"])
    assert len(ok(reg.get(base))["rows"]) == 2
    other_base = f"{API}/{world.wz}/staff/{other['id']}/trainings"
    refused(
        reg.post(f"{other_base}/{theirs['id']}/withdraw", json={"reason": "x"}), 403, "role regulator may not"
    )
    refused(
        world.as_(world.roles()["agency_gz"]).post(
            f"{other_base}/{theirs['id']}/withdraw", json={"reason": "x"}
        ),
        404,
        "no testing agency",
    )
    assert world.count(agency_trainings) == 4


def test_coverage_of_active_samplers(world: World) -> None:
    people = {name: add_person(world, world.wz, name)["id"] for name in ("甲", "乙", "丙")}
    add_person(world, world.wz, "丁", position="analyst")  # not a sampler: not counted
    for name, fields in (
        ("甲", {}),
        ("乙", {"valid_until": (TODAY - DAY).isoformat(), "held_on": (TODAY - 9 * DAY).isoformat()}),
    ):
        ok(
            world.as_(ADMIN).post(
                f"{API}/{world.wz}/staff/{people[name]}/trainings", json=training_body(**fields)
            ),
            201,
        )
    found = ok(world.as_(world.roles()["reg_zj"]).get(f"{API}/{world.wz}/coverage"))
    assert {k: found[k] for k in ("rule", "required_percent", "total", "trained", "percent", "complete")} == {
        "rule": "WZ-A2-5",
        "required_percent": "100",
        "total": 3,
        "trained": 1,
        "percent": "33.3",
        "complete": False,
    }
    assert [(p["name"], p["training_status"]) for p in found["untrained"]] == [
        ("丙", "none"),
        ("乙", "expired"),
    ]
    assert found["people"][2]["training"]["score"] == "92.5"
    # 丙 leaves, 乙 is retrained: 100 %
    ok(world.as_(ADMIN).patch(f"{API}/{world.wz}/staff/{people['丙']}", json={"active": False}))
    ok(
        world.as_(ADMIN).post(
            f"{API}/{world.wz}/staff/{people['乙']}/trainings", json=training_body(title="复训")
        ),
        201,
    )
    found = ok(world.as_(world.roles()["agency_wz"]).get(f"{API}/{world.wz}/coverage"))
    assert (found["total"], found["trained"], found["percent"], found["complete"], found["untrained"]) == (
        2,
        2,
        "100.0",
        True,
        [],
    )
    listed = ok(world.as_(ADMIN).get(API))["rows"]
    assert [r["coverage"] for r in listed if r["id"] == world.wz] == [
        {"total": 2, "trained": 2, "percent": "100.0", "complete": True}
    ]


def test_the_routes_are_documented(world: World) -> None:
    schema = world.client.app.openapi()  # type: ignore[attr-defined]
    paths = schema["paths"]
    for path in (
        API,
        f"{API}/{{agency_id}}",
        f"{API}/{{agency_id}}/coverage",
        f"{API}/{{agency_id}}/staff",
        f"{API}/{{agency_id}}/staff/{{staff_id}}",
        f"{API}/{{agency_id}}/staff/{{staff_id}}/trainings",
        f"{API}/{{agency_id}}/staff/{{staff_id}}/trainings/{{training_id}}/withdraw",
        f"{API}/{{agency_id}}/staff/{{staff_id}}/trainings/{{training_id}}/corrections",
    ):
        assert path in paths, path
    fields = schema["components"]["schemas"]["AgencyBody"]["properties"]
    assert "never changes" in fields["code"]["description"]
