"""Supervision orders, the daily audit and notifications over the real app and a real SQLite store (admin token;
what each role may see and do is in test_tenancy)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.alarms.store import Raised, raise_alarm
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.registry.models import credit_code_check_char
from envwatch.web.app import create_app
from tests.helpers import GAS_MN, register_demo_devices


def _code(n: int) -> str:
    first17 = f"9114010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    ids = register_demo_devices(sqlite_engine)
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        api = "/api/v1/registry"
        ent = c.post(
            f"{api}/enterprises", json={"name": "太原电厂", "credit_code": _code(1), "region_code": "140105"}
        )
        enterprise_id = ent.json()["id"]
        outlet = c.post(
            f"{api}/enterprises/{enterprise_id}/outlets",
            json={"code": "DA001", "name": "1号排口", "kind": "gas"},
        ).json()["id"]
        assert c.put(f"{api}/devices/{GAS_MN}/outlet", json={"outlet_id": outlet}).status_code == 200
        op = c.post(f"{api}/operators", json={"name": "运维", "credit_code": _code(2)}).json()["id"]
        contract = {"enterprise_id": enterprise_id, "contract_no": "C1", "valid_from": "2020-01-01"}
        assert c.post(f"{api}/operators/{op}/contracts", json=contract).status_code == 201
        with sqlite_engine.begin() as conn:
            at = utcnow() - timedelta(hours=2)
            raised = Raised(
                ids[GAS_MN], "exceedance", "a21026", at, "HJ 75", "SO2 over", peak="70", limit_value="35"
            )
            alarm_id = raise_alarm(conn, raised, at, ack_due_s=3600).alarm_id
        yield c, {"enterprise_id": enterprise_id, "operator_id": op, "alarm_id": alarm_id}


def _local(hours: float) -> str:
    return to_china(utcnow() + timedelta(hours=hours)).replace(tzinfo=None).isoformat(timespec="minutes")


def test_an_order_from_issue_to_acceptance(world: tuple[TestClient, dict[str, Any]]) -> None:
    c, w = world
    body = {
        "enterprise_id": w["enterprise_id"],
        "title": "SO2 超标整改",
        "body": "查明原因，上传整改报告",
        "deadline": _local(48),
        "alarm_ids": [w["alarm_id"]],
        "region_code": "1401",
    }
    missing_region = c.post("/api/v1/orders", json={**body, "region_code": None})
    assert missing_region.status_code == 422 and "region_code is required" in missing_region.json()["detail"]
    past = c.post("/api/v1/orders", json={**body, "deadline": _local(-1)})
    assert past.status_code == 422
    order = c.post("/api/v1/orders", json=body)
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    url = f"/api/v1/orders/{order_id}"
    evidence = c.post(f"{url}/attachments", files={"file": ("整改报告.pdf", b"%PDF", "application/pdf")})
    assert evidence.status_code == 201, evidence.text
    accept_early = c.post(f"{url}/actions", json={"event": "accept"})
    assert accept_early.status_code == 409  # nothing to accept before a response
    respond = c.post(
        f"{url}/actions",
        json={"event": "respond", "text": "已更换滤袋", "attachment_ids": [evidence.json()["id"]]},
    )
    assert respond.status_code == 200 and respond.json()["state"] == "responded", respond.text
    returned = c.post(
        f"{url}/actions", json={"event": "return", "text": "报告缺监测数据", "new_deadline": _local(72)}
    )
    assert returned.json()["state"] == "returned"
    c.post(f"{url}/actions", json={"event": "respond", "text": "补充了监测数据"})
    accepted = c.post(f"{url}/actions", json={"event": "accept", "text": "同意办结"})
    assert accepted.json()["state"] == "accepted"
    late_upload = c.post(f"{url}/attachments", files={"file": ("x.txt", b"x", "text/plain")})
    assert late_upload.status_code == 409 and "takes no more evidence" in late_upload.json()["detail"]
    detail = c.get(url).json()
    assert [e["event"] for e in detail["events"]] == ["issued", "respond", "return", "respond", "accept"]
    assert detail["alarm_ids"] == [w["alarm_id"]] and detail["attachments"][0]["filename"] == "整改报告.pdf"
    listed = c.get("/api/v1/orders", params={"state": "accepted"}).json()
    assert listed["total"] == 1 and listed["rows"][0]["id"] == order_id
    assert c.get("/api/v1/orders", params={"state": "issued"}).json()["total"] == 0
    inbox = c.get("/api/v1/notifications/inbox", params={"topic": "order"}).json()
    assert {r["event"] for r in inbox["rows"]} == {"issued", "respond", "return", "accept"}


def test_daily_audit(world: tuple[TestClient, dict[str, Any]]) -> None:
    c, w = world
    today = to_china(utcnow()).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    need_operator = c.get("/api/v1/audit/days")
    assert need_operator.status_code == 422  # the admin has no operator of its own
    days = c.get(
        "/api/v1/audit/days", params={"operator_id": w["operator_id"], "from": yesterday, "to": yesterday}
    )
    assert days.json()["unaudited"] == 1 and days.json()["rows"][0]["signed"] is None
    too_early = c.post("/api/v1/audit/days", json={"day": today.isoformat(), "operator_id": w["operator_id"]})
    assert too_early.status_code == 422
    signed = c.post(
        "/api/v1/audit/days", json={"day": yesterday, "operator_id": w["operator_id"], "note": "已审"}
    )
    assert signed.status_code == 201, signed.text
    again = c.post("/api/v1/audit/days", json={"day": yesterday, "operator_id": w["operator_id"]})
    assert again.status_code == 422  # a correction says why
    days = c.get(
        "/api/v1/audit/days", params={"operator_id": w["operator_id"], "from": yesterday, "to": yesterday}
    )
    assert days.json()["unaudited"] == 0 and days.json()["rows"][0]["signed"]["note"] == "已审"
    one = c.get(f"/api/v1/audit/days/{yesterday}", params={"operator_id": w["operator_id"]}).json()
    assert len(one["sign_offs"]) == 1


def test_alarm_reaches_the_inbox_and_targets_are_managed(world: tuple[TestClient, dict[str, Any]]) -> None:
    c, w = world
    inbox = c.get("/api/v1/notifications/inbox", params={"topic": "alarm"}).json()
    assert {r["recipient"] for r in inbox["rows"]} == {
        f"enterprise:{w['enterprise_id']}",
        f"operator:{w['operator_id']}",
        "region:140105",
    }
    bad = c.post(
        "/api/v1/notifications/targets",
        json={"channel": "email", "address": "not-an-address", "region_code": "14"},
    )
    assert bad.status_code == 422
    added = c.post(
        "/api/v1/notifications/targets",
        json={"channel": "sms", "address": "13800000000", "operator_id": w["operator_id"]},
    )
    assert added.status_code == 201, added.text
    assert [t["address"] for t in c.get("/api/v1/notifications/targets").json()] == ["13800000000"]
    off = c.post(f"/api/v1/notifications/targets/{added.json()['id']}/deactivate")
    assert off.status_code == 200 and c.get("/api/v1/notifications/targets").json() == []
