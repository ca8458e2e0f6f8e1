"""The registry API over the real app and a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from tests.helpers import GAS_MN, register_demo_devices

API = "/api/v1/registry"
ENTERPRISE = {"name": "示例电厂", "credit_code": "91350100M000100Y43", "region_code": "350102"}


@pytest.fixture
def client(settings: Settings, sqlite_engine: Engine) -> Iterator[TestClient]:
    register_demo_devices(sqlite_engine)
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        yield c


def post(client: TestClient, path: str, body: Any, status: int = 201) -> Any:
    r = client.post(API + path, json=body)
    assert r.status_code == status, r.text
    return r.json()


def test_endpoints_need_the_token(client: TestClient) -> None:
    for path in ["/enterprises", "/operators", "/outlets/1/limits", f"/devices/{GAS_MN}/factors"]:
        assert client.get(API + path, headers={"Authorization": ""}).status_code == 401
    assert (
        client.post(API + "/enterprises", json=ENTERPRISE, headers={"Authorization": ""}).status_code == 401
    )


def test_enterprises_outlets_and_filters(client: TestClient) -> None:
    ent = post(client, "/enterprises", {**ENTERPRISE, "longitude": 119.2965, "latitude": "26.07"})
    assert ent["longitude"] == "119.2965" and ent["created_at"].endswith("+08:00")
    post(client, "/enterprises", {**ENTERPRISE, "name": "重复"}, 409)
    r = client.post(API + "/enterprises", json={**ENTERPRISE, "credit_code": "91350100M000100Y44"})
    assert r.status_code == 422 and "should be '3' for the first 17, not '4'" in r.json()["detail"]
    post(
        client,
        "/enterprises",
        {"name": "厦门厂", "credit_code": "914403001922038216", "region_code": "350203"},
    )
    names = [e["name"] for e in client.get(API + "/enterprises", params={"region": "3501"}).json()]
    assert names == ["示例电厂"]
    assert len(client.get(API + "/enterprises", params={"region": "35"}).json()) == 2
    assert [e["name"] for e in client.get(API + "/enterprises", params={"name": "厦门"}).json()] == ["厦门厂"]
    assert client.get(API + "/enterprises", params={"region": "351"}).status_code == 422

    r = client.patch(f"{API}/enterprises/{ent['id']}", json={"attention_level": "provincial"})
    assert r.status_code == 200 and r.json()["attention_level"] == "provincial"
    assert client.patch(f"{API}/enterprises/{ent['id']}", json={"bogus": 1}).json() == {
        "detail": "bogus: is not a known field"
    }
    assert client.get(f"{API}/enterprises/999").json() == {"detail": "no enterprise with id 999"}

    da = post(
        client, f"/enterprises/{ent['id']}/outlets", {"code": "DA001", "name": "1号排口", "kind": "gas"}
    )
    post(client, f"/enterprises/{ent['id']}/outlets", {"code": "DA001", "name": "again", "kind": "gas"}, 409)
    assert [o["code"] for o in client.get(f"{API}/enterprises/{ent['id']}/outlets").json()] == ["DA001"]
    r = client.patch(f"{API}/outlets/{da['id']}", json={"permit_number": "91350100M000100Y43001P"})
    assert r.json()["permit_number"] == "91350100M000100Y43001P"
    assert client.get(f"{API}/outlets/{da['id']}").json()["code"] == "DA001"


def test_bad_bodies(client: TestClient) -> None:
    for body, detail in [
        (b"", "the request body is empty: send a JSON object"),
        (b"{", "the request body is not valid JSON"),
        (b'{"longitude": NaN}', "NaN is not a number"),
        (b"[1]", "expected an object with the fields of EnterpriseIn"),
    ]:
        r = client.post(API + "/enterprises", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and detail in r.json()["detail"], (body, r.text)


def test_limits_keep_json_numbers_exact(client: TestClient) -> None:
    ent = post(client, "/enterprises", ENTERPRISE)
    da = post(
        client, f"/enterprises/{ent['id']}/outlets", {"code": "DA001", "name": "1号排口", "kind": "gas"}
    )
    dw = post(client, f"/enterprises/{ent['id']}/outlets", {"code": "DW001", "name": "废水", "kind": "water"})
    base = {"factor": "a21026", "unit": "mg/m3", "legal_source": "GB 13223-2011 表1"}
    # a raw JSON number with a trailing zero must come back digit for digit (no float on the way)
    raw = b'{"factor": "a21026", "hour_limit": 35.50, "reference_o2": 6, "valid_from": "2026-01-01", "legal_source": "GB"}'
    r = client.post(
        f"{API}/outlets/{da['id']}/limits", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text
    assert (r.json()["hour_limit"], r.json()["reference_o2"]) == ("35.50", "6")
    old = post(
        client, f"/outlets/{da['id']}/limits", {**base, "hour_limit": "100", "valid_from": "2020-01-01"}
    )
    r = client.post(
        f"{API}/outlets/{dw['id']}/limits",
        json={**base, "hour_limit": "1", "reference_o2": "6", "valid_from": "2026-01-01"},
    )
    assert r.status_code == 422 and "reference_o2 applies to gas outlets only" in r.json()["detail"]
    assert len(client.get(f"{API}/outlets/{da['id']}/limits").json()) == 2
    in_force = client.get(f"{API}/outlets/{da['id']}/limits", params={"on": "2025-06-01"}).json()
    assert [x["id"] for x in in_force] == [old["id"]]
    assert client.get(f"{API}/outlets/{da['id']}/limits", params={"on": "2026-13-01"}).json() == {
        "detail": "on='2026-13-01' is not a date such as 2026-11-22"
    }


def test_device_outlet_and_factors(client: TestClient) -> None:
    ent = post(client, "/enterprises", ENTERPRISE)
    da = post(
        client, f"/enterprises/{ent['id']}/outlets", {"code": "DA001", "name": "1号排口", "kind": "gas"}
    )
    r = client.put(f"{API}/devices/{GAS_MN}/outlet", json={"outlet_id": da["id"], "model": "ZR-3211"})
    assert r.status_code == 200, r.text
    assert r.json()["enterprise"] == "示例电厂" and r.json()["model"] == "ZR-3211" and "pw" not in r.json()
    assert client.put(f"{API}/devices/nope/outlet", json={"outlet_id": da["id"]}).status_code == 404

    r = client.put(
        f"{API}/devices/{GAS_MN}/factors",
        json=[
            {"factor": "a21026", "unit": "mg/m3", "range_high": "200.0"},
            {"factor": "a19001", "rated": False},
        ],
    )
    assert r.status_code == 200, r.text
    assert r.json()["kept"] == []
    r = client.put(f"{API}/devices/{GAS_MN}/factors", json=[{"factor": "a21026", "range_high": 500}])
    assert r.json()["kept"] == ["a19001"]
    factors = {f["factor"]: f for f in client.get(f"{API}/devices/{GAS_MN}/factors").json()}
    assert factors["a21026"]["range_high"] == "500" and factors["a19001"]["rated"] is False
    r = client.put(f"{API}/devices/{GAS_MN}/factors", json=[{"factor": "a21026"}, {"factor": "bad code"}])
    assert r.status_code == 422 and r.json()["detail"].startswith(
        "[1] factor: 'bad code' is not a factor code"
    )
    assert client.put(f"{API}/devices/{GAS_MN}/factors", json={"factor": "a21026"}).status_code == 422


def test_operators_contracts_scope(client: TestClient) -> None:
    ent = post(client, "/enterprises", ENTERPRISE)
    da = post(
        client, f"/enterprises/{ent['id']}/outlets", {"code": "DA001", "name": "1号排口", "kind": "gas"}
    )
    op = post(client, "/operators", {"name": "运维甲", "credit_code": "91110108551385082Q"})
    post(client, "/operators", {"name": "运维乙", "credit_code": "91110108551385082Q"}, 409)
    assert client.patch(f"{API}/operators/{op['id']}", json={"contact": "张三"}).json()["contact"] == "张三"
    assert client.get(f"{API}/operators/{op['id']}").json()["name"] == "运维甲"
    assert [o["id"] for o in client.get(f"{API}/operators").json()] == [op["id"]]
    c = post(
        client,
        f"/operators/{op['id']}/contracts",
        {
            "enterprise_id": ent["id"],
            "contract_no": "YW-1",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
        },
    )
    assert c["valid_to"] == "2026-12-31"
    assert [x["contract_no"] for x in client.get(f"{API}/operators/{op['id']}/contracts").json()] == ["YW-1"]
    scope = client.get(f"{API}/operators/{op['id']}/scope", params={"on": "2026-06-01"}).json()
    assert scope == {"operator_id": op["id"], "on": "2026-06-01", "outlet_ids": [da["id"]]}
    assert (
        client.get(f"{API}/operators/{op['id']}/scope", params={"on": "2027-01-01"}).json()["outlet_ids"]
        == []
    )
    assert (
        client.patch(f"{API}/contracts/{c['id']}", json={"valid_to": "2026-03-31"}).json()["valid_to"]
        == "2026-03-31"
    )
    assert (
        client.get(f"{API}/operators/{op['id']}/scope", params={"on": "2026-06-01"}).json()["outlet_ids"]
        == []
    )
    assert client.get(f"{API}/operators/999/scope").status_code == 404


def test_openapi_documents_the_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"][f"{API}/enterprises"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "credit_code" in body["properties"]
    factors = spec["paths"][f"{API}/devices/{{mn}}/factors"]["put"]["requestBody"]["content"][
        "application/json"
    ]
    assert factors["schema"]["type"] == "array"
