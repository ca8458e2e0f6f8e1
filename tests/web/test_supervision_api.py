"""The supervision API (/api/v1/compliance/supervision/plans, /api/v1/compliance/spot-tests) over the real
app: who may make, read and record what, the 200 "already" answers, results and coverage, the 404s outside a
regulator's region. The region is tests/compliance/world_supervision.py's (杭州 3301), built at today's
time (the API judges against the clock)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.compliance.supervision_checklist import KEYS
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from envwatch.web.auth import Principal
from tests.compliance.world_supervision import SupervisionWorld, build
from tests.web.sampling_world import Caller, ok, refused

PLANS = "/api/v1/compliance/supervision/plans"
SPOT = "/api/v1/compliance/spot-tests"


@dataclass
class World:
    client: TestClient
    region: SupervisionWorld

    def who(self, name: str) -> Caller:
        r = self.region
        principals = {
            "admin": Principal("admin", "admin"),
            "regulator": Principal("reg_hz", "regulator", region_code="3301"),
            "county": Principal("reg_xh", "regulator", region_code="330106"),
            "province": Principal("reg_zj", "regulator", region_code="33"),
            "other_regulator": Principal("reg_gd", "regulator", region_code="44"),
            "no_region": Principal("reg_none", "regulator"),
            "enterprise": Principal("ent_jia", "enterprise", enterprise_id=r.enterprises["jia"]),
            "operator": Principal("op", "operator", operator_id=1),
            "agency": Principal("lab", "agency", agency_id=1),
            "auditor": Principal("aud", "auditor", operator_id=1),
        }
        return Caller(self.client, principals[name])


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    region = build(sqlite_engine, utcnow())
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as client:
        yield World(client, region)
    app.dependency_overrides.clear()


def today() -> str:
    return to_china(utcnow()).date().isoformat()


def month() -> str:
    return to_china(utcnow()).strftime("%Y-%m")


def checklist(**states: str) -> dict[str, Any]:
    answers = {k: {"state": "ok"} for k in KEYS}
    for key, state in states.items():
        answers[key] = {"state": state, "note": "标准物质证书过期" if state == "problem" else ""}
    return answers


def test_plans_who_makes_and_who_sees(world: World) -> None:
    body = {"region": "3301", "month": month()}
    for role in ("enterprise", "operator", "agency", "auditor"):
        refused(world.who(role).post(PLANS, json=body), 403, f"role {role} may not make supervision plans")
        refused(world.who(role).get(PLANS), 403, f"role {role} may not see supervision plans")
    refused(world.who("county").post(PLANS, json=body), 403, "may not plan or draw for region 3301")
    made = ok(world.who("regulator").post(PLANS, json=body), 201)
    assert made["region_code"] == "3301" and len(made["items"]) == 2 and made["already"] is False
    again = ok(world.who("admin").post(PLANS, json=body), 200)
    assert again["already"] is True and again["id"] == made["id"]
    county = ok(world.who("county").post(PLANS, json={"region": "330106", "month": month()}), 201)
    seen = {name: [p["id"] for p in ok(world.who(name).get(PLANS))["plans"]] for name in
            ("admin", "regulator", "county", "province", "other_regulator", "no_region")}  # fmt: skip
    assert seen == {
        "admin": [made["id"], county["id"]],
        "regulator": [made["id"], county["id"]],
        "county": [county["id"]],
        "province": [made["id"], county["id"]],
        "other_regulator": [],
        "no_region": [],
    }
    assert [p["id"] for p in ok(world.who("regulator").get(f"{PLANS}?region=330106"))["plans"]] == [
        county["id"]
    ]
    assert [p["id"] for p in ok(world.who("county").get(f"{PLANS}?region=33"))["plans"]] == [county["id"]]
    assert ok(world.who("county").get(f"{PLANS}?region=330102"))["plans"] == []
    ok(world.who("county").get(f"{PLANS}/{county['id']}"))
    refused(
        world.who("county").get(f"{PLANS}/{made['id']}"), 404, f"no supervision plan with id {made['id']}"
    )
    refused(world.who("other_regulator").get(f"{PLANS}/{made['id']}"), 404)
    refused(world.who("admin").get(f"{PLANS}/999999"), 404, "no supervision plan with id 999999")
    refused(world.who("admin").post(PLANS, json={"region": "33", "month": month()}), 422, "is a province")
    refused(world.who("admin").post(PLANS, json={"region": "3301", "month": "2020-01"}), 422, "is over")


def test_plan_results_and_coverage(world: World) -> None:
    made = ok(world.who("regulator").post(PLANS, json={"region": "3301", "month": month()}), 201)
    item = made["items"][0]["id"]
    url = f"{PLANS}/{made['id']}/items/{item}/results"
    body = {"visited_on": today(), "inspectors": "张三, 李四", "checklist": checklist(), "note": ""}
    refused(world.who("enterprise").post(url, json=body), 403)
    refused(world.who("other_regulator").post(url, json=body), 404)
    missing = {k: v for k, v in checklist().items() if k != "other"}
    refused(world.who("regulator").post(url, json=body | {"checklist": missing}), 422, "other not answered")
    no_note = checklist() | {"changes": {"state": "problem"}}
    refused(
        world.who("regulator").post(url, json=body | {"checklist": no_note}), 422, "checklist item changes"
    )
    tomorrow = (to_china(utcnow()).date() + timedelta(days=1)).isoformat()
    refused(world.who("regulator").post(url, json=body | {"visited_on": tomorrow}), 422)
    first = ok(world.who("regulator").post(url, json=body), 201)
    assert first["outcome"] == "ok" and first["visited_on"] == today()
    fixed = ok(
        world.who("admin").post(
            url,
            json=body | {"checklist": checklist(reference_materials="problem"), "supersedes_id": first["id"]},
        ),
        201,
    )
    assert fixed["outcome"] == "problems" and fixed["recorded_by"] == "admin"
    other_plan = ok(world.who("county").post(PLANS, json={"region": "330106", "month": month()}), 201)
    refused(world.who("admin").post(f"{PLANS}/{other_plan['id']}/items/{item}/results", json=body), 404,
            f"no item {item} in supervision plan {other_plan['id']}")  # fmt: skip
    shown = ok(world.who("regulator").get(f"{PLANS}/{made['id']}"))
    assert shown["coverage"]["done"] == 1 and shown["coverage"]["percent"] == "50.0"
    assert shown["coverage"]["problems"] == 1 and len(shown["coverage"]["outstanding"]) == 1
    got = next(i for i in shown["items"] if i["id"] == item)
    assert got["latest"]["id"] == fixed["id"] and len(got["results"]) == 2
    assert got["latest"]["checklist"]["reference_materials"]["note"] == "标准物质证书过期"
    listed = ok(world.who("regulator").get(f"{PLANS}?month={month()}"))["plans"]
    assert [
        (p["items"], p["done"], p["percent"], p["problems"]) for p in listed if p["id"] == made["id"]
    ] == [(2, 1, "50.0", 1)]


def test_spot_tests_over_the_api(world: World) -> None:
    year = to_china(utcnow()).year
    body = {"region": "3301", "year": year}
    refused(world.who("enterprise").get(SPOT), 403, "may not see supervision plans or spot tests")
    refused(world.who("enterprise").post(SPOT, json=body), 403)
    refused(world.who("county").post(SPOT, json=body), 403, "outside that region")
    made = ok(world.who("regulator").post(SPOT, json=body), 201)
    assert (made["population"], len(made["items"]), made["share"]) == (3, 1, "10.00")
    assert ok(world.who("admin").post(SPOT, json=body), 200)["id"] == made["id"]
    refused(world.who("admin").post(SPOT, json=body | {"year": year - 1}), 422, "draw the current year")
    detail = ok(world.who("regulator").get(f"{SPOT}/{made['id']}"))
    assert detail["redo"]["same"] is True and detail["redo"]["ids"] == [
        i["outlet_id"] for i in detail["items"]
    ]
    refused(
        world.who("other_regulator").get(f"{SPOT}/{made['id']}"),
        404,
        f"no spot-test draw with id {made['id']}",
    )
    assert ok(world.who("other_regulator").get(SPOT))["draws"] == []
    item = made["items"][0]["id"]
    url = f"{SPOT}/{made['id']}/items/{item}/results"
    result = {"tested_on": today(), "agency": "杭州检测", "report_no": "HZ-1",
              "values": [{"factor": "a21026", "manual": "10", "automatic": "11.5", "unit": "mg/m3"}]}  # fmt: skip
    refused(world.who("agency").post(url, json=result), 403)
    bad = result | {"values": [{"factor": "a21026", "manual": "ten", "automatic": "1"}]}
    refused(
        world.who("regulator").post(url, json=bad), 422, "the manual value of a21026 'ten' is not a number"
    )
    done = ok(world.who("regulator").post(url, json=result), 201)
    assert done["outcome"] == "pass" and done["values"][0]["relative_error_pct"] == "15.00"
    assert done["limit_pct"] == "20"
    detail = ok(world.who("admin").get(f"{SPOT}/{made['id']}"))
    cov = detail["coverage"]
    assert (cov["tested"], cov["items"], cov["percent"], cov["population_share"], cov["target_met"]) == (
        1, 1, "100.0", "33.3", True,
    )  # fmt: skip
    listed = ok(world.who("admin").get(f"{SPOT}?year={year}"))["draws"]
    assert [(d["id"], d["tested"], d["population_share"]) for d in listed] == [(made["id"], 1, "33.3")]
