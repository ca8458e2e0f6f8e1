"""The assessment, credit and blacklist API over the real app and a real SQLite store: what each role sees
(admin all, a regulator its region, an operator only its own row, enterprise and agency 403), publishing
and credit writes per write kind, 404 outside the scope, 409 on the blacklist's conflicts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.compliance.assessment_world import q3_work, world
from tests.operations.records_world import RecordsWorld

API = "/api/v1/compliance/assessments"
Q3 = "quarter=2026Q3"


@dataclass
class Api:
    client: TestClient
    w: RecordsWorld

    def as_(self, role: str, **fields: Any) -> TestClient:
        principal = Principal(f"{role}1", role, **fields)
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def api(settings: Settings, sqlite_engine: Engine) -> Iterator[Api]:
    w = world(sqlite_engine, settings)
    q3_work(sqlite_engine, settings, w)
    with TestClient(create_app(settings, sqlite_engine)) as c:
        yield Api(c, w)


def test_admin_sees_the_whole_ranking(api: Api) -> None:
    body = ok(api.as_("admin").get(f"{API}?{Q3}"))
    assert (body["quarter"], body["from"], body["to"], body["region"]) == (
        "2026Q3",
        "2026-07-01",
        "2026-09-30",
        "",
    )
    assert body["ranked"] == 2 and not body["own_only"] and body["published"] is None
    rows = body["rows"]
    assert [(r["operator_id"], r["rank"], r["last_place"]) for r in rows] == [
        (api.w.other_op, 1, False),
        (api.w.op, 2, True),
    ]
    assert rows[1]["score"] == "42.20"  # exact numbers travel as strings
    assert rows[1]["components"]["inspection"]["value"] == "50.00"
    assert rows[0]["left_out"] == ["response", "satisfaction"]
    assert body["formula"]["weights"]["effective_rate"] == "40.0"


def test_regulator_ranks_its_region_only(api: Api) -> None:
    hz = api.as_("regulator", region_code="330100")
    body = ok(hz.get(f"{API}?{Q3}"))
    assert body["region"] == "3301" and [r["operator_id"] for r in body["rows"]] == [api.w.op]
    assert ok(hz.get(f"{API}?{Q3}&region=330102"))["region"] == "330102"
    r = hz.get(f"{API}?{Q3}&region=4401")
    assert r.status_code == 403 and "region 3301 may not rank operators of region 4401" in r.text
    assert hz.get(f"{API}?quarter=2026Q9").status_code == 422
    assert hz.get(f"{API}?{Q3}&region=33x").status_code == 422


def test_an_operator_sees_its_own_row_and_the_number_ranked(api: Api) -> None:
    for role in ("operator", "field_staff"):
        body = ok(api.as_(role, operator_id=api.w.op).get(f"{API}?{Q3}"))
        assert body["own_only"] and body["ranked"] == 2
        assert [(r["operator_id"], r["rank"], r["last_place"]) for r in body["rows"]] == [(api.w.op, 2, True)]
    auditor = api.as_("auditor", operator_id=api.w.op, period=(date(2026, 7, 1), date(2026, 9, 30)))
    assert [r["operator_id"] for r in ok(auditor.get(f"{API}?{Q3}"))["rows"]] == [api.w.op]
    assert auditor.get(f"{API}?quarter=2026Q4").status_code == 403  # outside its period


@pytest.mark.parametrize(
    ("role", "fields"), [("enterprise", {"enterprise_id": 1}), ("agency", {"agency_id": 1})]
)
def test_enterprise_and_agency_refused(api: Api, role: str, fields: dict[str, Any]) -> None:
    c = api.as_(role, **fields)
    for path in (f"{API}?{Q3}", f"/api/v1/operators/{api.w.op}/credit", "/api/v1/compliance/blacklist"):
        r = c.get(path)
        assert r.status_code == 403 and f"role {role} may not read operator assessments" in r.text


def test_publish_by_regulator_and_refused_to_operator(api: Api) -> None:
    r = api.as_("operator", operator_id=api.w.op).post(f"{API}/publish", json={"quarter": "2026Q3"})
    assert r.status_code == 403 and "may not publish quarterly operator assessments" in r.text
    hz = api.as_("regulator", region_code="330100")
    assert hz.post(f"{API}/publish", json={"quarter": "2026Q3", "region": "44"}).status_code == 403
    body = ok(hz.post(f"{API}/publish", json={"quarter": "2026Q3"}), 201)
    assert body["region"] == "3301" and list(body["assessment_ids"]) == [str(api.w.op)]
    # alone in 杭州: not last, but 42.20 < 60: a warning
    assert [(e["kind"], e["rule"]) for e in body["credit_events"]] == [("warning", "SX-32")]
    seen = ok(hz.get(f"{API}?{Q3}"))
    assert seen["published"]["published_by"] == "regulator1"
    assert [(r["operator_id"], r["score"]) for r in seen["published"]["rows"]] == [(api.w.op, "42.20")]


def test_operator_sees_only_its_published_row(api: Api) -> None:
    ok(api.as_("admin").post(f"{API}/publish", json={"quarter": "2026Q3", "region": ""}), 201)
    body = ok(api.as_("operator", operator_id=api.w.other_op).get(f"{API}?{Q3}"))
    assert [r["operator_id"] for r in body["published"]["rows"]] == [api.w.other_op]
    assert body["published"]["ranked"] == 2


def test_credit_file_and_blacklist(api: Api) -> None:
    w = api.w
    path = f"/api/v1/operators/{w.op}/credit"
    hz = api.as_("regulator", region_code="330100")
    assert hz.get(f"/api/v1/operators/{w.other_op}/credit").status_code == 404  # not in its region
    ev = ok(hz.post(path, json={"kind": "blacklisted", "reason": "数据造假", "on": "2026-11-01"}), 201)
    assert (ev["kind"], ev["rule"], ev["on"], ev["recorded_by"]) == (
        "blacklisted",
        "SX-27",
        "2026-11-01",
        "regulator1",
    )
    r = hz.post(path, json={"kind": "blacklisted", "reason": "again"})
    assert r.status_code == 409 and "already blacklisted since 2026-11-01" in r.text
    assert hz.post(path, json={"kind": "warning", "reason": ""}).status_code == 422
    assert hz.post(path, json={"kind": "praise", "reason": "x"}).status_code == 422
    mine = api.as_("operator", operator_id=w.op)
    r = mine.post(path, json={"kind": "note", "reason": "x"})
    assert r.status_code == 403 and "may not record operator credit events" in r.text
    got = ok(mine.get(path))
    assert got["blacklisted"] and got["blacklisted_since"] == "2026-11-01"
    assert [e["kind"] for e in got["events"]] == ["blacklisted"]
    assert mine.get(f"/api/v1/operators/{w.other_op}/credit").status_code == 404
    listed = ok(api.as_("admin").get("/api/v1/compliance/blacklist"))
    assert listed["listed"] == 1 and listed["operators"][0]["operator"] == "运维甲"
    assert (
        ok(api.as_("operator", operator_id=w.other_op).get("/api/v1/compliance/blacklist"))["operators"] == []
    )
    hz = api.as_("regulator", region_code="330100")  # one client: whoever asked last is the caller
    ok(hz.post(path, json={"kind": "unblacklisted", "reason": "整改完成"}), 201)
    r = hz.post(path, json={"kind": "unblacklisted", "reason": "again"})
    assert r.status_code == 409
    history = ok(hz.get(path))["blacklist_history"]
    assert [(h["since"], h["lift_reason"]) for h in history] == [("2026-11-01", "整改完成")]
    assert api.as_("admin").get("/api/v1/operators/9999/credit").status_code == 404


def test_the_auditor_reads_the_credit_file_of_its_period_only(api: Api) -> None:
    w = api.w
    path = f"/api/v1/operators/{w.op}/credit"
    admin = api.as_("admin")
    ok(admin.post(f"{API}/publish", json={"quarter": "2026Q3", "region": ""}), 201)  # 42.20 < 60: a warning
    ok(admin.post(path, json={"kind": "penalty", "reason": "罚款", "on": "2026-08-10"}), 201)
    ok(admin.post(path, json={"kind": "blacklisted", "reason": "数据造假", "on": "2026-11-01"}), 201)
    everything = ok(admin.get(path))
    assert {e["kind"] for e in everything["events"]} == {"warning", "penalty", "blacklisted"}
    # an auditor of July–September: the penalty of August and the Q3 assessment, not November's blacklisting
    auditor = api.as_("auditor", operator_id=w.op, period=(date(2026, 7, 1), date(2026, 9, 30)))
    got = ok(auditor.get(path))
    assert [e["kind"] for e in got["events"]] == ["penalty"]
    assert [(a["year"], a["quarter"]) for a in got["assessments"]] == [(2026, 3)]
    assert not got["blacklisted"] and got["blacklist_history"] == []
    assert ok(auditor.get("/api/v1/compliance/blacklist"))["operators"] == []
    # an auditor of August alone: no whole quarter inside it
    august = api.as_("auditor", operator_id=w.op, period=(date(2026, 8, 1), date(2026, 8, 31)))
    assert ok(august.get(path))["assessments"] == []
