"""Staff, certificates, trainings and results over the real app and a real SQLite store (``/api/v1/om``).

Two operators: 运维甲 (OA) looks after enterprise 甲 in 330102 (杭州), 运维乙 (OB) enterprise 乙 in 440103
(广州). The cross-tenant refusals of every route are in test_tenancy; here: what each role may do on its
own side, the account link, the error messages and the answers' shape.
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
from envwatch.operations.staff_schema import staff, staff_certificates, training_results, trainings
from envwatch.operations.trainings import quarter_of
from envwatch.registry.models import credit_code_check_char
from envwatch.web.accounts import store as accounts
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from envwatch.web.scope import china_today

API = "/api/v1/om"
TODAY = china_today()
DAY = timedelta(days=1)


def _code(n: int) -> str:
    first17 = f"9133010600000{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass
class World:
    client: TestClient
    engine: Engine
    oa: int
    ob: int
    ent_a: int

    def as_(self, principal: Principal) -> TestClient:
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client


ADMIN = Principal("admin", "admin")


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as client:
        w = World(client, sqlite_engine, 0, 0, 0)
        c = w.as_(ADMIN)
        reg = "/api/v1/registry"
        ops = []
        for n, region in enumerate(("330102", "440103")):
            ent = ok(
                c.post(
                    f"{reg}/enterprises",
                    json={"name": f"企业{n}", "credit_code": _code(n), "region_code": region},
                ),
                201,
            )["id"]
            op = ok(c.post(f"{reg}/operators", json={"name": f"运维{n}", "credit_code": _code(10 + n)}), 201)
            contract = {"enterprise_id": ent, "contract_no": f"C{n}", "valid_from": "2020-01-01"}
            ok(c.post(f"{reg}/operators/{op['id']}/contracts", json=contract), 201)
            ops.append(op["id"])
            if n == 0:
                w.ent_a = ent
        w.oa, w.ob = ops
        with sqlite_engine.begin() as conn:
            for username, fields in {
                "fs_a": {"role": "field_staff", "operator_id": w.oa},
                "aud_a": {
                    "role": "auditor",
                    "operator_id": w.oa,
                    "period_from": TODAY - 30 * DAY,
                    "period_to": TODAY,
                },
                "fs_b": {"role": "field_staff", "operator_id": w.ob},
                "ent_a": {"role": "enterprise", "enterprise_id": w.ent_a},
            }.items():
                accounts.create_user(
                    conn, username, "correct horse battery", fields, utcnow(), min_password_length=10
                )
        yield w
    app.dependency_overrides.clear()


def roles(w: World) -> dict[str, Principal]:
    return {
        "operator": Principal("op_a", "operator", operator_id=w.oa),
        "field_staff": Principal("fs_a", "field_staff", operator_id=w.oa),
        "regulator": Principal("reg_zj", "regulator", region_code="33"),
        "enterprise": Principal("ent_a", "enterprise", enterprise_id=w.ent_a),
        "auditor": Principal("aud_a", "auditor", operator_id=w.oa, period=(TODAY - 30 * DAY, TODAY)),
    }


def new_staff(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "张三", "position": "field_engineer", "phone": "13800138000"} | fields
    return ok(client.post(f"{API}/staff", json=body), 201)  # type: ignore[no-any-return]


def counts(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (staff, staff_certificates, trainings, training_results)
        ]


# ---- staff and certificates ----


def test_an_operator_keeps_its_personnel_files(world: World) -> None:
    c = world.as_(roles(world)["operator"])
    made = new_staff(c, username="FS_A")  # its own operator by default; the account is linked
    assert made["operator_id"] == world.oa and made["username"] == "fs_a" and made["active"] is True
    sid = made["id"]
    cert = {
        "kind": "运维上岗证（废气）",
        "number": "ZJ-001",
        "issuer": "浙江省环境监测协会",
        "issued_on": (TODAY - 700 * DAY).isoformat(),
        "valid_until": (TODAY + 10 * DAY).isoformat(),
    }
    added = ok(c.post(f"{API}/staff/{sid}/certificates", json=cert), 201)
    assert added["recorded_by"] == "op_a" and added["valid_until"] == cert["valid_until"]
    listed = ok(c.get(f"{API}/staff"))
    assert listed["warn_days"] == 30 and listed["total"] == 1
    row = listed["rows"][0]
    assert (row["certificate_status"], row["days_left"]) == ("expiring", 10)
    assert row["certificate"]["number"] == "ZJ-001"
    assert ok(c.get(f"{API}/staff", params={"certificate": "valid"}))["rows"] == []
    assert ok(c.get(f"{API}/staff", params={"position": "field_engineer", "active": True}))["total"] == 1
    one = ok(c.get(f"{API}/staff/{sid}"))
    assert one["current_certificate"]["id"] == added["id"] and one["certificate_status"] == "expiring"
    assert one["certificates"][0]["valid_today"] is True and one["results"] == []
    expiring = ok(c.get(f"{API}/staff/certificates/expiring"))
    assert expiring["today"] == TODAY.isoformat() and [r["number"] for r in expiring["rows"]] == ["ZJ-001"]
    assert ok(c.get(f"{API}/staff/certificates/expiring", params={"warn_days": 9}))["rows"] == []
    changed = ok(
        c.patch(f"{API}/staff/{sid}", json={"active": False, "username": None, "phone": "0571-1234"})
    )
    assert (changed["active"], changed["username"], changed["phone"]) == (False, None, "0571-1234")
    assert ok(c.get(f"{API}/staff", params={"active": False}))["total"] == 1
    assert ok(c.get(f"{API}/staff/certificates/expiring"))["rows"] == []  # left: no renewal due


@pytest.mark.parametrize(
    ("username", "operator"),
    [("nobody", "oa"), ("fs_b", "oa"), ("ent_a", "oa"), ("fs_a", "ob")],
)
def test_the_account_must_be_the_operators(world: World, username: str, operator: str) -> None:
    operator_id = getattr(world, operator)
    r = world.as_(ADMIN).post(
        f"{API}/staff",
        json={
            "operator_id": operator_id,
            "name": "x",
            "position": "other",
            "phone": "123",
            "username": username,
        },
    )
    assert r.status_code == 422
    assert r.json()["detail"] == (
        f"no operator, field_staff or auditor account named {username!r} at operator {operator_id}: create the "
        "account first, or leave the username empty"
    )
    made = new_staff(world.as_(ADMIN), operator_id=world.oa)
    r = world.as_(ADMIN).patch(f"{API}/staff/{made['id']}", json={"username": "fs_b"})
    assert r.status_code == 422 and "account named 'fs_b' at operator" in r.json()["detail"]
    assert (
        new_staff(world.as_(ADMIN), operator_id=world.oa, name="审核", username="aud_a")["username"]
        == "aud_a"
    )


def test_staff_errors(world: World) -> None:
    admin = world.as_(ADMIN)
    r = admin.post(f"{API}/staff", json={"name": "x", "position": "other", "phone": "123"})
    assert (r.status_code, r.json()["detail"]) == (422, "operator_id is required")
    r = admin.post(
        f"{API}/staff", json={"operator_id": world.oa, "name": "x", "position": "boss", "phone": "1"}
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("position 'boss' is not one of")
    made = new_staff(admin, operator_id=world.oa)
    r = admin.patch(f"{API}/staff/{made['id']}", json={"name": None})
    assert (r.status_code, r.json()["detail"]) == (422, "name cannot be null")
    assert admin.patch(f"{API}/staff/{made['id']}", json={"operator_id": 2}).status_code == 422
    r = admin.get(f"{API}/staff/999")
    assert (r.status_code, r.json()["detail"]) == (404, "no staff member with id 999")
    cert = {"kind": "k", "number": "n", "issuer": "i", "issued_on": TODAY.isoformat()}
    r = admin.post(
        f"{API}/staff/{made['id']}/certificates", json=cert | {"valid_until": (TODAY - DAY).isoformat()}
    )
    assert r.status_code == 422
    assert (
        r.json()["detail"]
        == f"valid_until {(TODAY - DAY).isoformat()} is before issued_on {TODAY.isoformat()}"
    )
    r = admin.get(f"{API}/staff", params={"certificate": "soon"})
    assert r.status_code == 422 and "certificate status 'soon'" in r.json()["detail"]


def test_who_reads_and_writes(world: World) -> None:
    made = new_staff(world.as_(ADMIN), operator_id=world.oa)
    sid = made["id"]
    training = ok(
        world.as_(ADMIN).post(
            f"{API}/trainings",
            json={
                "operator_id": world.oa,
                "kind": "quarterly",
                "title": "季度",
                "planned_on": TODAY.isoformat(),
                "pass_score": 60,
            },
        ),
        201,
    )
    r = roles(world)
    before = counts(world.engine)
    # the regulator of the operator's region reads everything of it, writes nothing
    reg = world.as_(r["regulator"])
    assert [s["id"] for s in ok(reg.get(f"{API}/staff"))["rows"]] == [sid]  # its operators (OA only)
    assert ok(reg.get(f"{API}/staff", params={"operator_id": world.oa}))["total"] == 1
    assert ok(reg.get(f"{API}/staff/{sid}"))["id"] == sid
    assert ok(reg.get(f"{API}/trainings/{training['id']}"))["id"] == training["id"]
    assert ok(reg.get(f"{API}/trainings/quarterly", params={"operator_id": world.oa}))["total"] == 1
    assert reg.get(f"{API}/trainings/quarterly").status_code == 422  # which operator?
    assert reg.get(f"{API}/staff", params={"operator_id": world.ob}).status_code == 404
    for response in (
        reg.post(
            f"{API}/staff", json={"operator_id": world.oa, "name": "x", "position": "other", "phone": "123"}
        ),
        reg.patch(f"{API}/staff/{sid}", json={"name": "y"}),
        reg.post(f"{API}/trainings/{training['id']}/held", json={"held_on": TODAY.isoformat()}),
    ):
        assert response.status_code == 403
        assert response.json()["detail"] == "role regulator may not manage staff, certificates and trainings"
    # field staff: the staff list of its operator, nothing else
    fs = world.as_(r["field_staff"])
    assert [s["id"] for s in ok(fs.get(f"{API}/staff"))["rows"]] == [sid]
    for path in (
        f"/staff/{sid}",
        "/staff/certificates/expiring",
        "/trainings",
        f"/trainings/{training['id']}",
    ):
        response = fs.get(API + path)
        assert response.status_code == 403, path
        assert (
            response.json()["detail"]
            == "role field_staff may not read staff files, certificates or trainings"
        )
    assert fs.patch(f"{API}/staff/{sid}", json={"name": "y"}).status_code == 403
    # enterprise and auditor: the operator is visible to them, its staff files are not theirs to read
    for role in ("enterprise", "auditor"):
        client = world.as_(r[role])
        response = client.get(f"{API}/staff", params={"operator_id": world.oa})
        assert response.status_code == 403, role
        assert response.json()["detail"] == f"role {role} may not read the staff list"
        assert client.get(f"{API}/staff/{sid}").status_code == 403
        assert (
            client.get(f"{API}/trainings/sampling-label", params={"operator_id": world.oa}).status_code == 403
        )
    assert counts(world.engine) == before


# ---- correcting a certificate ----


def test_a_certificate_corrected_then_withdrawn(world: World) -> None:
    c = world.as_(roles(world)["operator"])
    sid = new_staff(c)["id"]
    cert = {
        "kind": "运维上岗证（废气）", "number": "ZJ-001", "issuer": "浙江省环境监测协会",
        "issued_on": (TODAY - 700 * DAY).isoformat(), "valid_until": (TODAY + 300 * DAY).isoformat(),
    }  # fmt: skip
    first = ok(c.post(f"{API}/staff/{sid}/certificates", json=cert), 201)
    path = f"{API}/staff/{sid}/certificates/{first['id']}/corrections"
    # only what was wrong is given; the rest stays the corrected row's
    until = (TODAY + 10 * DAY).isoformat()
    fixed = ok(c.post(path, json={"valid_until": until, "reason": "有效期录错"}), 201)
    assert (fixed["supersedes_id"], fixed["withdrawn"], fixed["reason"]) == (first["id"], False, "有效期录错")
    assert (fixed["number"], fixed["issued_on"], fixed["valid_until"]) == ("ZJ-001", cert["issued_on"], until)
    assert fixed["recorded_by"] == "op_a"
    one = ok(c.get(f"{API}/staff/{sid}"))
    assert [x["id"] for x in one["certificates"]] == [fixed["id"]]
    assert (one["certificate_status"], one["days_left"]) == ("expiring", 10)
    old, new = one["certificate_history"]
    assert (old["id"], old["current"], new["current"], new["corrects"]) == (
        first["id"],
        False,
        True,
        first["id"],
    )
    assert old["correction"]["id"] == fixed["id"] and old["correction"]["recorded_by"] == "op_a"
    assert old["correction"]["reason"] == "有效期录错" and old["correction"]["recorded_at"].endswith("+08:00")
    r = c.post(path, json={"valid_until": until, "reason": "again"})
    assert (r.status_code, r.json()["detail"]) == (
        409,
        f"certificate record {first['id']} was corrected already by certificate record {fixed['id']}: correct "
        "that one instead",
    )
    path = f"{API}/staff/{sid}/certificates/{fixed['id']}/corrections"
    gone = ok(c.post(path, json={"withdraw": True, "reason": "证书系伪造"}), 201)
    assert gone["withdrawn"] is True and gone["supersedes_id"] == fixed["id"]
    one = ok(c.get(f"{API}/staff/{sid}"))
    assert (one["certificates"], one["certificate_status"]) == ([], "none")
    assert [h["correction"]["withdrawn"] for h in one["certificate_history"]] == [False, True]
    assert ok(c.get(f"{API}/staff"))["rows"][0]["certificate_status"] == "none"


def test_certificate_correction_errors(world: World) -> None:
    admin = world.as_(ADMIN)
    sid = new_staff(admin, operator_id=world.oa)["id"]
    other = new_staff(admin, operator_id=world.oa, name="李四")["id"]
    cert = {"kind": "k", "number": "n", "issuer": "i", "issued_on": TODAY.isoformat()}
    cid = ok(
        admin.post(f"{API}/staff/{sid}/certificates", json=cert | {"valid_until": TODAY.isoformat()}), 201
    )["id"]
    path = f"{API}/staff/{sid}/certificates/{cid}/corrections"
    before = counts(world.engine)
    cases = [
        (path, {"reason": "x"}, 422, "give the fields to correct (kind, number, issuer, issued_on, valid_until), or withdraw"),
        (path, {"withdraw": True, "number": "m", "reason": "x"}, 422,
         "a withdrawal replaces the row by nothing: give no certificate fields (number)"),
        (path, {"number": "m", "reason": " "}, 422, "a correction needs a reason: say what was wrong in the row it corrects"),
        (path, {"number": "n", "reason": "x"}, 422,
         f"the correction changes nothing in certificate record {cid}: give the right values, or withdraw it"),
        (path, {"valid_until": (TODAY - DAY).isoformat(), "reason": "x"}, 422,
         f"valid_until {(TODAY - DAY).isoformat()} is before issued_on {TODAY.isoformat()}"),
        (f"{API}/staff/{other}/certificates/{cid}/corrections", {"number": "m", "reason": "x"}, 404,
         f"no certificate record with id {cid} of staff member {other}"),
        (f"{API}/staff/{sid}/certificates/99999/corrections", {"number": "m", "reason": "x"}, 404,
         f"no certificate record with id 99999 of staff member {sid}"),
    ]  # fmt: skip
    for url, body, status, detail in cases:
        r = admin.post(url, json=body)
        assert (r.status_code, r.json()["detail"]) == (status, detail), body
    assert (
        admin.post(path, json={"number": "m", "reason": "x", "note": "y"}).status_code == 422
    )  # unknown field
    # a regulator and field staff read (the list) but do not write
    r = roles(world)
    response = world.as_(r["regulator"]).post(path, json={"number": "m", "reason": "x"})
    assert (response.status_code, response.json()["detail"]) == (
        403,
        "role regulator may not manage staff, certificates and trainings",
    )
    assert world.as_(r["field_staff"]).post(path, json={"number": "m", "reason": "x"}).status_code == 403
    assert counts(world.engine) == before


# ---- trainings ----


def test_a_training_from_plan_to_coverage(world: World) -> None:
    c = world.as_(roles(world)["operator"])
    engineer = new_staff(c)["id"]
    sampler = new_staff(c, name="李四", position="sampler")["id"]
    plan = ok(
        c.post(
            f"{API}/trainings",
            json={
                "kind": "sampling_label", "title": "采样标签系统培训", "planned_on": TODAY.isoformat(),
                "pass_score": "80.5", "note": "二维码标签",
            },
        ),
        201,
    )  # fmt: skip
    assert plan["state"] == "planned" and plan["pass_score"] == "80.5" and plan["operator_id"] == world.oa
    r = c.post(
        f"{API}/trainings/{plan['id']}/results",
        json={"staff_id": sampler, "score": "90", "tested_on": TODAY.isoformat()},
    )
    assert r.status_code == 422 and "has not been held yet" in r.json()["detail"]
    held = ok(c.post(f"{API}/trainings/{plan['id']}/held", json={"held_on": TODAY.isoformat()}), 201)
    assert held["supersedes_id"] == plan["id"] and held["held_on"] == TODAY.isoformat()
    again = c.post(f"{API}/trainings/{plan['id']}/held", json={"held_on": TODAY.isoformat()})
    assert again.status_code == 409 and "was already recorded as held on" in again.json()["detail"]
    failed = ok(
        c.post(f"{API}/trainings/{held['id']}/results", json={"staff_id": sampler, "score": "80.49", "tested_on": TODAY.isoformat()}),
        201,
    )  # fmt: skip
    assert (failed["score"], failed["passed"]) == ("80.49", False)
    status = ok(c.get(f"{API}/trainings/sampling-label"))
    assert (status["rule"], status["total"], status["passed"], status["percent"]) == ("WZ-A2-5", 1, 0, "0.0")
    assert status["required_percent"] == "100" and status["complete"] is False
    retest = ok(
        c.post(f"{API}/trainings/{plan['id']}/results", json={"staff_id": sampler, "score": 95, "tested_on": TODAY.isoformat()}),
        201,
    )  # fmt: skip
    assert retest["passed"] is True and retest["training_id"] == held["id"]
    status = ok(c.get(f"{API}/trainings/sampling-label"))
    assert (status["passed"], status["percent"], status["complete"]) == (1, "100.0", True)
    assert status["people"][0]["result"]["score"] == "95" and status["trainings"][0]["id"] == held["id"]
    r = c.post(
        f"{API}/trainings/{held['id']}/results",
        json={"staff_id": engineer, "score": 80.5, "tested_on": TODAY.isoformat()},
    )
    assert r.status_code == 422  # a binary float is not an exact score
    one = ok(c.get(f"{API}/trainings/{plan['id']}"))
    assert one["superseded_by"] == held["id"] and [h["id"] for h in one["history"]] == [
        plan["id"],
        held["id"],
    ]
    assert [(x["name"], x["score"], x["counts"]) for x in one["results"]] == [
        ("李四", "95", True),
        ("李四", "80.49", False),
    ]
    listed = ok(c.get(f"{API}/trainings", params={"held": True, "kind": "sampling_label"}))
    assert [t["id"] for t in listed["rows"]] == [held["id"]]
    assert ok(c.get(f"{API}/trainings", params={"year": TODAY.year - 1}))["rows"] == []
    person = ok(c.get(f"{API}/staff/{sampler}"))
    assert [(x["score"], x["counts"]) for x in person["results"]] == [("95", True), ("80.49", False)]
    # quarterly: this quarter by default; nobody passed a quarterly training
    year, quarter = quarter_of(TODAY)
    q = ok(c.get(f"{API}/trainings/quarterly"))
    assert (q["year"], q["quarter"], q["rule"], q["total"], q["passed"]) == (year, quarter, "CS-4.5", 2, 0)
    r = c.get(f"{API}/trainings/quarterly", params={"quarter": 5})
    assert (r.status_code, r.json()["detail"]) == (422, "quarter must be 1, 2, 3 or 4, not 5")


def test_a_result_names_a_visible_person(world: World) -> None:
    """A person of another operator is 404 for an operator (not the store's message naming them)."""
    other = new_staff(world.as_(ADMIN), operator_id=world.ob, name="乙的人")
    c = world.as_(roles(world)["operator"])
    plan = ok(
        c.post(f"{API}/trainings", json={"kind": "quarterly", "title": "t", "planned_on": TODAY.isoformat(), "pass_score": 60}),
        201,
    )  # fmt: skip
    held = ok(c.post(f"{API}/trainings/{plan['id']}/held", json={"held_on": TODAY.isoformat()}), 201)
    body = {"staff_id": other["id"], "score": "90", "tested_on": TODAY.isoformat()}
    r = c.post(f"{API}/trainings/{held['id']}/results", json=body)
    assert (r.status_code, r.json()["detail"]) == (404, f"no staff member with id {other['id']}")
    r = world.as_(ADMIN).post(f"{API}/trainings/{held['id']}/results", json=body)  # admin sees both
    assert r.status_code == 422
    assert r.json()["detail"] == (
        f"乙的人 (staff {other['id']}) does not work for operator {world.oa}, which held training {held['id']}"
    )
