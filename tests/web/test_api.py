"""The HTTP API over the real app and a real SQLite store (FastAPI's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.ingest.store import InboundFrame, PacketData
from envwatch.ingest.writer import Writer
from envwatch.web.app import create_app
from tests.helpers import GAS_MN, NOW, register_demo_devices


@pytest.fixture
def client(settings: Settings, sqlite_engine: Engine) -> Iterator[TestClient]:
    ids = register_demo_devices(sqlite_engine)
    writer = Writer(sqlite_engine)
    writer.start()
    for i, value in enumerate(["12.30", "0.000001", "99999999.99"]):
        data = PacketData(
            {"DataTime": f"2026112212{i:02d}00"}, {"a21026": {"Rtd": value, "Flag": "N"}}, False
        )
        writer.submit(
            InboundFrame(
                NOW, "127.0.0.1:1", b"##raw\xe6\xb1\xa1", "ok", ids[GAS_MN], GAS_MN, "2011", "q", None, data
            )
        )
    writer.submit(InboundFrame(NOW, "127.0.0.1:1", b"junk", "garbage", reason="not a frame"))
    writer.stop()
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        yield c


def test_every_endpoint_needs_the_token(client: TestClient) -> None:
    for path in ["/api/v1/devices", f"/api/v1/devices/{GAS_MN}/data", "/api/v1/packets", "/api/v1/gateway"]:
        assert client.get(path, headers={"Authorization": ""}).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.post(f"/api/v1/devices/{GAS_MN}/commands", json={"cn": "1011"}, headers={"Authorization": ""})
    assert r.status_code == 401
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200


def test_devices_with_status(client: TestClient) -> None:
    devices = {d["mn"]: d for d in client.get("/api/v1/devices").json()}
    assert len(devices) == 3
    assert devices[GAS_MN]["online"] is True and devices[GAS_MN]["last_seen"].endswith("+08:00")


def test_data_is_exact_and_filtered_by_time(client: TestClient) -> None:
    r = client.get(
        f"/api/v1/devices/{GAS_MN}/data",
        params={
            "kind": "rtd",
            "factor": "a21026",
            "from": "2026-11-22T12:00:00",
            "to": "2026-11-22T13:00:00",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [row["value"] for row in body["rows"]] == ["12.30", "0.000001", "99999999.99"]
    assert body["rows"][0]["data_time"] == "2026-11-22T12:00:00+08:00"
    assert body["rows"][0]["fields"] == {"Rtd": "12.30", "Flag": "N"}
    r = client.get(
        f"/api/v1/devices/{GAS_MN}/data", params={"from": "2026-11-22T12:01:00", "to": "2026-11-22T13:00:00"}
    )
    assert len(r.json()["rows"]) == 2
    r = client.get(
        f"/api/v1/devices/{GAS_MN}/data",
        params={"from": "2026-11-22T12:00:00", "to": "2026-11-22T13:00:00", "limit": 1},
    )
    assert r.json()["truncated"] is True and len(r.json()["rows"]) == 1


def test_bad_parameters_get_clear_errors(client: TestClient) -> None:
    assert client.get("/api/v1/devices/NOPE/data").status_code == 404
    r = client.get(f"/api/v1/devices/{GAS_MN}/data", params={"from": "yesterday"})
    assert r.status_code == 422 and "ISO 8601" in r.json()["detail"]
    assert client.get(f"/api/v1/devices/{GAS_MN}/data", params={"kind": "week"}).status_code == 422


def test_packets_log(client: TestClient) -> None:
    rows = client.get("/api/v1/packets").json()
    assert [r["verdict"] for r in rows] == ["garbage", "ok", "ok", "ok"]  # newest first
    assert rows[1]["raw_text"] == "##raw污" and rows[0]["raw_base64"] == "anVuaw=="
    assert [r["verdict"] for r in client.get("/api/v1/packets", params={"verdict": "garbage"}).json()] == [
        "garbage"
    ]
    page = client.get("/api/v1/packets", params={"before_id": rows[1]["id"]}).json()
    assert [r["id"] for r in page] == [rows[2]["id"], rows[3]["id"]]
    assert len(client.get("/api/v1/packets", params={"mn": GAS_MN}).json()) == 3


def test_commands_are_validated_and_queued(client: TestClient) -> None:
    r = client.post(
        f"/api/v1/devices/{GAS_MN}/commands",
        json={
            "cn": "2061",
            "params": {"BeginTime": "20261122080000", "EndTime": "2026-11-22T12:00:00+08:00"},
        },
    )
    assert r.status_code == 202, r.text
    cmd = r.json()
    assert cmd["status"] == "queued" and cmd["params"] == {
        "BeginTime": "20261122080000",
        "EndTime": "20261122120000",
    }
    assert len(cmd["qn"]) == 17
    assert client.get(f"/api/v1/commands/{cmd['id']}").json()["events"][0]["event"] == "queued"
    bad = [
        ({"cn": "9999"}, 422),
        ({"cn": "1062", "params": {"RtdInterval": 5}}, 422),
        ({"cn": "2061", "params": {"BeginTime": "20261122120000", "EndTime": "20261122080000"}}, 422),
        ({"cn": "1011", "params": {"x": 1}}, 422),
    ]
    for body, status in bad:
        r = client.post(f"/api/v1/devices/{GAS_MN}/commands", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["detail"]
    assert client.post("/api/v1/devices/NOPE/commands", json={"cn": "1011"}).status_code == 404
    assert client.get("/api/v1/commands/424242").status_code == 404


def test_openapi_lists_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in [
        "/api/v1/devices",
        "/api/v1/devices/{mn}/data",
        "/api/v1/packets",
        "/api/v1/devices/{mn}/commands",
    ]:
        assert p in paths
