"""The explained hours and days API (web.api.hours) over the real app and a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from envwatch.core.settings import Settings
from envwatch.monitoring.day_counts import day_start
from envwatch.monitoring.schema import measurements
from envwatch.web.api import hours
from envwatch.web.app import create_app
from tests.helpers import GAS_MN, NOW, register_demo_devices

DAY = date(2026, 11, 20)
SO2 = "a21026"


@pytest.fixture
def client(settings: Settings, sqlite_engine: Engine) -> Iterator[TestClient]:
    ids = register_demo_devices(sqlite_engine)
    start = day_start(DAY)
    rows = [
        (0, "hour", start, {SO2: {"Avg": "12.50", "Flag": "N"}}),
        (1, "hour", start + timedelta(hours=1), {SO2: {"Avg": "13.0", "Flag": "C"}}),
        (2, "day", start, {SO2: {"Avg": "12.7", "Flag": "N"}}),
    ]
    with sqlite_engine.begin() as conn:
        for packet, kind, at, factors in rows:
            conn.execute(
                insert(measurements).values(
                    device_id=ids[GAS_MN], kind=kind, data_time=at, part=0, factors=factors,
                    packet_id=packet, backfill=False, received_at=NOW,
                )
            )  # fmt: skip
    app = create_app(settings, sqlite_engine)
    # registered in web/app.py by its owner; included here only while it is not
    if not any(getattr(r, "path", None) == "/api/v1/devices/{mn}/hours" for r in app.routes):
        app.include_router(hours.router)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        yield c


def test_hours_explain_each_hour(client: TestClient) -> None:
    r = client.get(
        f"/api/v1/devices/{GAS_MN}/hours",
        params={"factor": SO2, "from": "2026-11-20T00:00:00", "to": "2026-11-20T03:00:00"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"]) == ("2026-11-20T00:00:00+08:00", "2026-11-20T03:00:00+08:00")
    first, calibrating, missing = body["rows"]
    assert (first["start"], first["value"], first["outcome"]) == (
        "2026-11-20T00:00:00+08:00",
        "12.50",
        "valid",
    )
    assert calibrating["outcome"] == "invalid" and calibrating["reasons"][0]["code"] == "flag_invalid"
    assert calibrating["reasons"][0]["zh"].startswith("数据标识C")
    assert (missing["source"], missing["value"], missing["outcome"]) == ("none", None, "invalid")


def test_days_show_the_device_value_next_to_the_computed_one(client: TestClient) -> None:
    r = client.get(
        f"/api/v1/devices/{GAS_MN}/days", params={"factor": SO2, "from": "2026-11-20", "to": "2026-11-20"}
    )
    assert r.status_code == 200, r.text
    [day] = r.json()["rows"]
    assert (day["day"], day["start"]) == ("2026-11-20", "2026-11-20T00:00:00+08:00")
    # one valid hour of 24: no valid daily mean (20 needed), the device's 12.7 is shown, not replaced
    assert (day["outcome"], day["value"], day["n_valid"]) == ("invalid", None, 1)
    assert day["device"]["value"] == "12.7" and day["cross_check"]["within"] is None


def test_unknown_device_and_bad_ranges(client: TestClient) -> None:
    r = client.get("/api/v1/devices/NOPE/hours", params={"factor": SO2})
    assert r.status_code == 404 and "NOPE" in r.json()["detail"]
    r = client.get(
        "/api/v1/devices/NOPE/days", params={"factor": SO2, "from": "2026-11-20", "to": "2026-11-20"}
    )
    assert r.status_code == 404
    r = client.get(
        f"/api/v1/devices/{GAS_MN}/hours",
        params={"factor": SO2, "from": "2026-10-01T00:00:00", "to": "2026-11-20T00:00:00"},
    )
    assert r.status_code == 422 and "31 days" in r.json()["detail"]
    r = client.get(
        f"/api/v1/devices/{GAS_MN}/hours",
        params={"factor": SO2, "from": "2026-11-20T03:00:00", "to": "2026-11-20T01:00:00"},
    )
    assert r.status_code == 422 and "before" in r.json()["detail"]
    r = client.get(
        f"/api/v1/devices/{GAS_MN}/days", params={"factor": SO2, "from": "2026-11-20", "to": "2026-12-25"}
    )
    assert r.status_code == 422 and "31 days" in r.json()["detail"]
    r = client.get(
        f"/api/v1/devices/{GAS_MN}/days", params={"factor": SO2, "from": "2026-11-21", "to": "2026-11-20"}
    )
    assert r.status_code == 422 and "after" in r.json()["detail"]
    assert (
        client.get(f"/api/v1/devices/{GAS_MN}/hours", params={"from": "2026-11-20T00:00:00"}).status_code
        == 422
    )


def test_the_token_is_needed(client: TestClient) -> None:
    r = client.get(f"/api/v1/devices/{GAS_MN}/hours", params={"factor": SO2}, headers={"Authorization": ""})
    assert r.status_code == 401
