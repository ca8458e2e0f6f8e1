"""Data loggers through the registry API: create/update by MN, SM4 keys shown once then as fingerprints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.registry.store import load_devices
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.helpers import SM4_MN, TEST_KEY_HEX, register_demo_devices

NEW_MN = "010000A8900016F000169DC9"


def _app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine)


@pytest.fixture
def client(settings: Settings, sqlite_engine: Engine) -> Iterator[TestClient]:
    register_demo_devices(sqlite_engine)
    app = _app(settings, sqlite_engine)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        yield c


def test_create_update_and_read_a_device(client: TestClient, sqlite_engine: Engine) -> None:
    body = {
        "pw": "654321",
        "name": "3号炉",
        "kind": "gas",
        "protocol": "2017",
        "enterprise": "示例电厂",
        "outlet": "DA003",
        "model": "XY-212",
        "serial": "SN-1",
    }
    r = client.put(f"/api/v1/registry/devices/{NEW_MN}", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "XY-212" and "pw" not in r.json()
    assert load_devices(sqlite_engine)[NEW_MN].pw == "654321"
    r = client.put(f"/api/v1/registry/devices/{NEW_MN}", json={**body, "pw": "111111", "serial": "SN-2"})
    assert r.status_code == 200 and r.json()["serial"] == "SN-2"
    assert load_devices(sqlite_engine)[NEW_MN].pw == "111111"
    got = client.get(f"/api/v1/registry/devices/{NEW_MN}").json()
    assert (got["name"], got["protocol"], "pw" in got) == ("3号炉", "2017", False)


def test_bad_devices_are_refused_with_the_reason(client: TestClient) -> None:
    r = client.put(
        "/api/v1/registry/devices/bad%20mn!",
        json={"pw": "1", "name": "x", "kind": "air", "protocol": "2017", "enterprise": "e", "outlet": "o"},
    )
    assert r.status_code == 422
    assert "mn 'bad mn!'" in r.json()["detail"] and "kind 'air'" in r.json()["detail"]
    r = client.put(
        f"/api/v1/registry/devices/{NEW_MN}", json={"pw": "1", "name": "x", "kind": "gas", "protocol": "2017"}
    )
    assert r.status_code == 422 and "enterprise is empty" in r.json()["detail"]
    assert client.get("/api/v1/registry/devices/NOPE").status_code == 404


def test_keys_are_shown_once_then_as_fingerprints(client: TestClient, sqlite_engine: Engine) -> None:
    history = client.get(f"/api/v1/registry/devices/{SM4_MN}/keys").json()
    assert [k["state"] for k in history] == ["current"]
    assert history[0]["fingerprint"] == hashlib.sha256(bytes.fromhex(TEST_KEY_HEX)).hexdigest()[:16]
    r = client.post(f"/api/v1/registry/devices/{SM4_MN}/keys", json={})
    assert r.status_code == 201, r.text
    generated = bytes.fromhex(r.json()["sm4_key"])
    assert len(generated) == 16 and generated.isascii() and generated.decode().isprintable()
    assert load_devices(sqlite_engine)[SM4_MN].sm4_key == generated
    assert load_devices(sqlite_engine)[SM4_MN].previous_sm4_key == bytes.fromhex(TEST_KEY_HEX)
    history = client.get(f"/api/v1/registry/devices/{SM4_MN}/keys").json()
    assert [k["state"] for k in history] == ["previous (still accepted)", "current"]
    assert all("sm4_key" not in k and "key_hex" not in k for k in history)
    same = client.post(f"/api/v1/registry/devices/{SM4_MN}/keys", json={"sm4_key": r.json()["sm4_key"]})
    assert same.status_code == 422 and "already the current key" in same.json()["detail"]
    assert client.post(f"/api/v1/registry/devices/{SM4_MN}/keys", json={"sm4_key": "12"}).status_code == 422


def test_only_2025_devices_take_keys_and_only_admins_write(settings: Settings, sqlite_engine: Engine) -> None:
    from tests.helpers import GAS_MN

    register_demo_devices(sqlite_engine)
    app = _app(settings, sqlite_engine)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        r = c.post(f"/api/v1/registry/devices/{GAS_MN}/keys", json={})
        assert r.status_code == 422 and "only 2025 devices" in r.json()["detail"]
        app.dependency_overrides[authenticate] = lambda: Principal(
            name="e", role="enterprise", enterprise_id=1
        )
        r = c.post(f"/api/v1/registry/devices/{SM4_MN}/keys", json={})
        assert r.status_code == 404  # not its device: as if it did not exist
        body = {"pw": "1", "name": "x", "kind": "gas", "protocol": "2017", "enterprise": "e", "outlet": "o"}
        assert c.put(f"/api/v1/registry/devices/{NEW_MN}", json=body).status_code == 403
