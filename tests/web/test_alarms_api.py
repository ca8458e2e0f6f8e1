"""The alarms (报警) API over the real app and a real SQLite store: list, detail, actions, attachments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.alarms.store import Raised, escalate_overdue, raise_alarm
from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from tests.helpers import GAS_MN, WATER_MN, register_demo_devices


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[tuple[TestClient, dict[str, int]]]:
    ids = register_demo_devices(sqlite_engine)
    now = utcnow()
    with sqlite_engine.begin() as conn:
        for hours, device, kind, factor in (
            (5, ids[GAS_MN], "exceedance", "a21026"),
            (3, ids[GAS_MN], "offline", ""),
            (1, ids[WATER_MN], "constant", "w01018"),
        ):
            at = now - timedelta(hours=hours)
            raised = Raised(device, kind, factor, at, "src", f"{kind} {factor}", peak="70", limit_value="35")
            raise_alarm(conn, raised, at, ack_due_s=3600)
        escalate_overdue(conn, now - timedelta(hours=3, minutes=30))  # only the first is overdue by then
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        yield c, ids


def test_list_filters(world: tuple[TestClient, dict[str, int]]) -> None:
    client, _ = world
    page = client.get("/api/v1/alarms").json()
    assert page["total"] == 3 and [r["kind"] for r in page["rows"]] == ["constant", "offline", "exceedance"]
    assert page["rows"][2]["mn"] == GAS_MN and page["rows"][2]["enterprise"] == "示例电厂"
    assert [r["kind"] for r in client.get("/api/v1/alarms", params={"mn": WATER_MN}).json()["rows"]] == [
        "constant"
    ]
    assert client.get("/api/v1/alarms", params={"kind": ["offline", "constant"]}).json()["total"] == 2
    assert [r["kind"] for r in client.get("/api/v1/alarms", params={"escalated": True}).json()["rows"]] == [
        "exceedance"
    ]
    second = client.get("/api/v1/alarms", params={"limit": 1, "offset": 1}).json()
    assert second["total"] == 3 and [r["kind"] for r in second["rows"]] == ["offline"]
    assert client.get("/api/v1/alarms", params={"state": "closed"}).json()["total"] == 0
    bad = client.get("/api/v1/alarms", params={"state": "solved"})
    assert bad.status_code == 422 and "unknown state solved" in bad.json()["detail"]
    assert client.get("/api/v1/alarms", params={"mn": "NOPE"}).status_code == 404


def test_detail_links_to_its_data_and_journal(world: tuple[TestClient, dict[str, int]]) -> None:
    client, _ = world
    alarm_id = client.get("/api/v1/alarms", params={"kind": "exceedance"}).json()["rows"][0]["id"]
    detail = client.get(f"/api/v1/alarms/{alarm_id}").json()
    assert detail["peak"] == "70" and detail["limit_value"] == "35" and detail["mn"] == GAS_MN
    assert [e["event"] for e in detail["events"]] == ["opened", "escalate"]
    assert detail["data_url"].startswith(f"/api/v1/devices/{GAS_MN}/hours?from=")
    assert detail["data_url"].endswith("&factor=a21026")
    assert client.get(detail["data_url"]).status_code == 200  # the link answers
    offline = client.get("/api/v1/alarms", params={"kind": "offline"}).json()["rows"][0]
    assert offline["data_url"].startswith(f"/api/v1/devices/{GAS_MN}/data?from=")
    assert client.get(offline["data_url"]).status_code == 200
    assert client.get("/api/v1/alarms/999999").status_code == 404


def test_actions_and_their_errors(world: tuple[TestClient, dict[str, int]]) -> None:
    client, _ = world
    alarm_id = client.get("/api/v1/alarms", params={"kind": "offline"}).json()["rows"][0]["id"]
    url = f"/api/v1/alarms/{alarm_id}/actions"
    acked = client.post(url, json={"event": "acknowledge"}).json()
    assert acked["state"] == "acknowledged" and acked["assignee"] == "admin"
    again = client.post(url, json={"event": "acknowledge"})
    assert again.status_code == 409 and "cannot take 'acknowledge'" in again.json()["detail"]
    missing = client.post(url, json={"event": "close", "cause": "power cut"})
    assert missing.status_code == 422 and "处理措施" in missing.json()["detail"]
    assert client.post(url, json={"event": "escalate"}).status_code == 422  # not a person's event
    closed = client.post(url, json={"event": "close", "cause": "power cut", "action": "UPS fitted"}).json()
    assert closed["state"] == "closed" and closed["cause"] == "power cut"
    assert client.get("/api/v1/alarms", params={"state": "closed"}).json()["total"] == 1
    assert client.get("/api/v1/alarms").json()["total"] == 2  # the default list is the active ones


def test_attachment_round_trip_is_journaled(world: tuple[TestClient, dict[str, int]]) -> None:
    client, _ = world
    alarm_id = client.get("/api/v1/alarms").json()["rows"][0]["id"]
    up = client.post(
        f"/api/v1/alarms/{alarm_id}/attachments", files={"file": ("维修记录.txt", b"fixed", "text/plain")}
    )
    assert up.status_code == 201, up.text
    down = client.get(f"/api/v1/alarms/{alarm_id}/attachments/{up.json()['id']}")
    assert down.status_code == 200 and down.content == b"fixed"
    detail = client.get(f"/api/v1/alarms/{alarm_id}").json()
    assert detail["attachments"][0]["filename"] == "维修记录.txt"
    assert detail["events"][-1]["event"] == "attach"
    assert detail["events"][-1]["data"]["attachment_id"] == up.json()["id"]
    other = client.get("/api/v1/alarms", params={"kind": "offline"}).json()["rows"][0]["id"]
    assert client.get(f"/api/v1/alarms/{other}/attachments/{up.json()['id']}").status_code == 404
