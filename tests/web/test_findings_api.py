"""The findings API over the real app and a real SQLite store, with test rules (tests/compliance/
world_findings): what each role sees, the filters, paging and counts, one finding with its history, waiving
per role, 404 outside the scope, the rule list with overrides and the runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.compliance.run import run_rules
from envwatch.core.clock import CHINA_TZ, to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.compliance.world_findings import (
    AT,
    Board,
    World,
    about,
    about_agency,
    about_operator,
    build_world,
    rule_set_of,
)

API = "/api/v1"
SEPTEMBER = (datetime(2026, 9, 1, tzinfo=CHINA_TZ), datetime(2026, 10, 1, tzinfo=CHINA_TZ))


@dataclass
class Api:
    client: TestClient
    world: World
    board: Board
    ids: dict[str, int]  # finding id by key

    def as_(self, role: str, **fields: Any) -> TestClient:
        w = self.world
        defaults: dict[str, dict[str, Any]] = {
            "admin": {},
            "regulator": {"region_code": "3301"},
            "enterprise": {"enterprise_id": w.ent_a},
            "operator": {"operator_id": w.op_a},
            "field_staff": {"operator_id": w.op_a},
            "auditor": {"operator_id": w.op_a, "period": (date(2026, 10, 1), date(2026, 10, 31))},
            "agency": {"agency_id": w.agency},
        }
        principal = Principal(f"{role}_user", role, **(defaults[role] | fields))
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client

    def keys(self, response: Any) -> set[str]:
        body = ok(response)
        return {r["key"] for r in body["rows"]}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def api(settings: Settings, sqlite_engine: Engine) -> Iterator[Api]:
    world = build_world(sqlite_engine)
    board = Board(
        found={
            "TX-1-A": [
                about(world, "a", "a1", period_start=SEPTEMBER[0], period_end=SEPTEMBER[1]),
                about(world, "b", "b1"),
            ],
            "TX-1-B": [about(world, "a", "a2", severity="warning", message="inspection overdue (巡检超期)")],
            "TX-2-C": [about_agency(world, "g1"), about_operator(world, "a", "o1")],
        }
    )
    rules = rule_set_of(board)
    s = settings.model_copy(
        update={"compliance_params": {"TX-1-A": {"days": 10}}, "compliance_rules_off": ["TX-2-C"]}
    )
    run_rules(sqlite_engine, settings, at=AT, rule_set=rules)  # every rule on, once
    app = create_app(s, sqlite_engine)
    app.state.compliance_rules = rules
    with TestClient(app) as client:
        a = Api(client, world, board, {})
        rows = ok(a.as_("admin").get(f"{API}/findings"))["rows"]
        a.ids = {r["key"]: r["id"] for r in rows}
        yield a


@pytest.mark.parametrize(
    ("role", "fields", "expected"),
    [
        ("admin", {}, {"a1", "a2", "b1", "g1", "o1"}),
        ("regulator", {}, {"a1", "a2", "o1"}),  # 杭州: 甲, and the operator working there
        ("regulator", {"region_code": "33"}, {"a1", "a2", "o1", "g1"}),  # 浙江: the agency too
        ("regulator", {"region_code": "4401"}, {"b1"}),
        ("enterprise", {}, {"a1", "a2"}),
        ("operator", {}, {"a1", "a2", "o1"}),
        ("field_staff", {}, {"a1", "a2", "o1"}),
        ("auditor", {}, {"a2", "o1"}),  # a1's period (September) is outside the auditor's October
        ("auditor", {"period": (date(2026, 9, 1), date(2026, 9, 30))}, {"a1"}),
        ("agency", {}, {"g1"}),
        ("operator", {"operator_id": None}, set()),
    ],
)
def test_each_role_sees_its_own(api: Api, role: str, fields: dict[str, Any], expected: set[str]) -> None:
    body = ok(api.as_(role, **fields).get(f"{API}/findings"))
    assert {r["key"] for r in body["rows"]} == expected
    assert body["total"] == len(expected) == sum(body["counts"]["by_state"].values())
    for key in {"a1", "a2", "b1", "g1", "o1"}:
        status = api.client.get(f"{API}/findings/{api.ids[key]}").status_code
        assert status == (200 if key in expected else 404), (role, key)


def test_filters(api: Api) -> None:
    c, w = api.as_("admin"), api.world
    url = f"{API}/findings"
    assert api.keys(c.get(url, params={"rule": ["TX-1-A", "TX-1-B"]})) == {"a1", "a2", "b1"}
    assert api.keys(c.get(url, params={"severity": "warning"})) == {"a2"}
    assert api.keys(c.get(url, params={"subject_kind": "agency"})) == {"g1"}
    assert api.keys(c.get(url, params={"enterprise_id": w.ent_b})) == {"b1"}
    assert api.keys(c.get(url, params={"operator_id": w.op_a})) == {"a1", "a2", "o1"}
    assert api.keys(c.get(url, params={"agency_id": w.agency})) == {"g1"}
    assert api.keys(c.get(url, params={"device_id": w.device_a})) == {"a1", "a2"}
    assert api.keys(c.get(url, params={"region": "33"})) == {"a1", "a2", "g1"}
    assert api.keys(c.get(url, params={"region": "3303"})) == {"g1"}
    assert api.keys(c.get(url, params={"q": "巡检"})) == {"a2"}
    assert api.keys(c.get(url, params={"q": "TX-2"})) == {"g1", "o1"}
    day = to_china(AT).date()
    assert len(api.keys(c.get(url, params={"from": day.isoformat(), "to": day.isoformat()}))) == 5
    assert api.keys(c.get(url, params={"from": (day + timedelta(days=1)).isoformat()})) == set()
    assert api.keys(c.get(url, params={"to": (day - timedelta(days=1)).isoformat()})) == set()
    assert api.keys(c.get(url, params={"state": "resolved"})) == set()
    for bad in ({"state": "closed"}, {"severity": "fatal"}, {"subject_kind": "planet"}):
        assert "is not one of" in ok(c.get(url, params=bad), 422)["detail"]
    assert "after" in ok(c.get(url, params={"from": "2026-10-21", "to": "2026-10-20"}), 422)["detail"]


def test_filters_outside_the_scope_are_not_found(api: Api) -> None:
    c, w = api.as_("enterprise"), api.world
    assert c.get(f"{API}/findings", params={"enterprise_id": w.ent_b}).status_code == 404
    assert c.get(f"{API}/findings", params={"device_id": w.device_b}).status_code == 404
    auditor = api.as_("auditor")
    refused = ok(auditor.get(f"{API}/findings", params={"from": "2026-09-01"}), 403)
    assert "2026-10-01..2026-10-31" in refused["detail"]


def test_paging_and_counts(api: Api) -> None:
    c = api.as_("admin")
    first = ok(c.get(f"{API}/findings", params={"limit": 2}))
    second = ok(c.get(f"{API}/findings", params={"limit": 2, "offset": 2}))
    assert (first["total"], len(first["rows"]), len(second["rows"])) == (5, 2, 2)
    assert not {r["id"] for r in first["rows"]} & {r["id"] for r in second["rows"]}
    counts = first["counts"]
    assert counts["by_state"] == {"open": 5, "resolved": 0, "waived": 0}
    assert counts["by_rule"]["TX-1-A"] == {"open": 2, "resolved": 0, "waived": 0, "total": 2}
    assert set(counts["by_rule"]) == {"TX-1-A", "TX-1-B", "TX-2-C"}
    row = ok(c.get(f"{API}/findings", params={"q": "a1", "rule": "TX-1-A"}))["rows"][0]
    assert row["evidence"] == [{"kind": "fault", "ref": "7", "label": "fault 7"}]
    assert row["period_start"] == "2026-09-01T00:00:00+08:00"  # China time out


def test_detail_with_history_and_rule(api: Api) -> None:
    body = ok(api.as_("operator").get(f"{API}/findings/{api.ids['a2']}"))
    assert body["state"] == "open" and body["severity"] == "warning"
    assert [e["event"] for e in body["history"]] == ["opened"]
    assert body["rule_info"]["title_zh"] == "测试规则 TX-1-B" and body["rule_info"]["pack"] == "testpack"
    assert api.client.get(f"{API}/findings/999999").status_code == 404


@pytest.mark.parametrize("role", ["enterprise", "operator", "field_staff", "auditor"])
def test_only_admin_and_regulator_waive(api: Api, role: str) -> None:
    refused = ok(api.as_(role).post(f"{API}/findings/{api.ids['a2']}/waive", json={"reason": "x"}), 403)
    assert f"role {role} may not waive findings" in refused["detail"]


def test_waive_and_unwaive(api: Api) -> None:
    c = api.as_("regulator")
    url = f"{API}/findings/{api.ids['a1']}"
    assert c.post(f"{url}/waive", json={}).status_code == 422  # the reason is required
    assert "reason is required" in ok(c.post(f"{url}/waive", json={"reason": "  "}), 422)["detail"]
    body = ok(c.post(f"{url}/waive", json={"reason": "停产期间 approved stop"}))
    assert (body["state"], body["state_reason"]) == ("waived", "停产期间 approved stop")
    assert [(e["event"], e["recorded_by"]) for e in body["history"]][-1] == ("waived", "regulator_user")
    assert "already waived" in ok(c.post(f"{url}/waive", json={"reason": "again"}), 409)["detail"]
    listed = ok(c.get(f"{API}/findings", params={"state": "waived"}))
    assert [r["key"] for r in listed["rows"]] == ["a1"]
    body = ok(c.post(f"{url}/unwaive", json={"reason": "stop withdrawn"}))
    assert body["state"] == "open"
    assert "not waived" in ok(c.post(f"{url}/unwaive", json={"reason": "x"}), 409)["detail"]
    # another region's finding: not found, before the role is even asked
    assert c.post(f"{API}/findings/{api.ids['b1']}/waive", json={"reason": "x"}).status_code == 404
    agency = api.as_("agency")
    assert agency.post(f"{API}/findings/{api.ids['a1']}/waive", json={"reason": "x"}).status_code == 404


def test_rules_show_overrides_and_switches(api: Api, settings: Settings) -> None:
    rules = {r["id"]: r for r in ok(api.as_("enterprise").get(f"{API}/compliance/rules"))["rules"]}
    assert list(rules) == ["TX-1-A", "TX-1-B", "TX-2-C"]
    a = rules["TX-1-A"]
    assert (a["requirement"], a["pack"], a["subject"], a["enabled"], a["error"]) == (
        "TX-1", "testpack", "device", True, None,
    )  # fmt: skip
    days, limit = a["params"]
    assert days == {
        "name": "days",
        "description": "days between inspections",
        "value": 10,
        "default": settings.om_inspection_every_days,
        "setting": "om_inspection_every_days",
        "overridden": True,
    }
    assert (limit["value"], limit["default"], limit["overridden"]) == (5, 5, False)
    assert rules["TX-2-C"]["enabled"] is False


def test_runs(api: Api) -> None:
    refused = ok(api.as_("operator").post(f"{API}/compliance/runs", json={}), 403)
    assert "may not run the compliance rules" in refused["detail"]
    c = api.as_("regulator")
    assert (
        "no compliance rule 'TX-9'"
        in ok(c.post(f"{API}/compliance/runs", json={"rules": ["TX-9"]}), 422)["detail"]
    )
    off = ok(c.post(f"{API}/compliance/runs", json={"rules": ["TX-2-C"]}), 422)
    assert "switched off" in off["detail"]
    future = to_china(utcnow() + timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert "future" in ok(c.post(f"{API}/compliance/runs", json={"at": future}), 422)["detail"]
    assert c.post(f"{API}/compliance/runs", json={"at": "yesterday"}).status_code == 422
    api.board.found["TX-1-A"] = []  # a1 and b1 are gone
    done = ok(c.post(f"{API}/compliance/runs", json={"at": "2026-10-21T10:00:00"}), 201)
    assert done["at"] == "2026-10-21T10:00:00+08:00" and done["ok"] is True
    assert set(done["rules"]) == {"TX-1-A", "TX-1-B"}  # TX-2-C is off
    assert done["rules"]["TX-1-A"]["resolved"] == 2 and done["open_findings"] == 1
    listed = ok(c.get(f"{API}/compliance/runs"))["runs"]
    assert [r["run_by"] for r in listed] == ["regulator_user", "system"]
    assert listed[0]["rules"]["TX-1-A"]["resolved"] == 2 and listed[0]["rules_run"] == 2
    plain = ok(api.as_("enterprise").get(f"{API}/compliance/runs"))["runs"]
    assert "rules" not in plain[0] and plain[0]["rules_failed"] == 0
    history = ok(api.as_("admin").get(f"{API}/findings/{api.ids['a1']}"))["history"]
    assert [e["event"] for e in history] == ["opened", "resolved"]


def test_the_real_rules_as_json(settings: Settings, sqlite_engine: Engine) -> None:
    """Every rule of the packs, whichever they are, answers with its parameters as JSON values."""
    from envwatch.compliance.packs import RULES

    with TestClient(create_app(settings, sqlite_engine)) as c:
        c.app.dependency_overrides[authenticate] = lambda: Principal("x", "enterprise", enterprise_id=1)  # type: ignore[attr-defined]
        body = ok(c.get(f"{API}/compliance/rules"))
    assert [r["id"] for r in body["rules"]] == [r.id for r in RULES]
    for r in body["rules"]:
        assert r["error"] is None and r["enabled"] is True
        assert all(not p["overridden"] and p["value"] == p["default"] for p in r["params"])
