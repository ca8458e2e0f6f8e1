"""The marks (标记) API over the real app and a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.monitoring.marks_store import add_mark_attachment
from envwatch.web.api.marks import MULTIPART
from envwatch.web.app import create_app
from tests.helpers import GAS_MN, register_demo_devices


@pytest.fixture
def client(settings: Settings, sqlite_engine: Engine) -> Iterator[TestClient]:
    register_demo_devices(sqlite_engine)
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        yield c


def local(hours_ago: float) -> str:
    """A China-time ISO string without offset (what users type), ``hours_ago`` before now."""
    return to_china(utcnow() - timedelta(hours=hours_ago)).replace(tzinfo=None).isoformat(timespec="seconds")


def new_mark(client: TestClient, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "mn": GAS_MN,
        "factor": "a21026",
        "start": local(5),
        "end": local(3),
        "code": "maintenance",
        "reason": "更换采样探头",
        "source": "operator",
    }
    body.update(kw)
    r = client.post("/api/v1/marks", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_every_marks_endpoint_needs_the_token(client: TestClient) -> None:
    for path in ["/api/v1/marks", "/api/v1/marks/codes", "/api/v1/marks/1"]:
        assert client.get(path, headers={"Authorization": ""}).status_code == 401
    assert client.post("/api/v1/marks", json={}, headers={"Authorization": ""}).status_code == 401


def test_codes(client: TestClient) -> None:
    codes = {c["code"]: c for c in client.get("/api/v1/marks/codes").json()}
    assert codes["shutdown"]["name_zh"] == "停运" and codes["shutdown"]["needs_review"] is True
    assert codes["fault"]["hj212_flags"] == ["D"] and codes["fault"]["effect"] == "invalid"


def test_create_list_and_get(client: TestClient) -> None:
    start = local(5)  # no offset: China time, given back with +08:00
    created = new_mark(client, start=start)
    assert created["created_by"] == "admin" and created["mn"] == GAS_MN and created["late"] is False
    assert created["start_at"] == start + "+08:00"
    assert created["code_name_zh"] == "维护"
    listed = client.get("/api/v1/marks", params={"mn": GAS_MN, "from": local(24), "to": local(0)}).json()
    assert [m["id"] for m in listed] == [created["id"]]
    assert client.get("/api/v1/marks", params={"mn": GAS_MN, "from": local(2), "to": local(0)}).json() == []
    one = client.get(f"/api/v1/marks/{created['id']}").json()
    assert one["in_force"] is True and one["effect"] == "invalid"
    assert [h["id"] for h in one["history"]] == [created["id"]]
    assert one["reviews"] == [] and one["attachments"] == []


def test_errors_say_what_to_fix(client: TestClient) -> None:
    r = client.post(
        "/api/v1/marks",
        json={"mn": "nope", "start": local(2), "end": local(1), "code": "fault", "reason": "x"},
    )
    assert r.status_code == 404
    r = client.post(
        "/api/v1/marks",
        json={"mn": GAS_MN, "start": local(2), "end": local(1), "code": "oops", "reason": "x"},
    )
    assert r.status_code == 422 and "unknown mark code" in r.json()["detail"]
    r = client.post(
        "/api/v1/marks",
        json={"mn": GAS_MN, "start": local(1), "end": local(2), "code": "fault", "reason": "x"},
    )
    assert r.status_code == 422 and "before its end" in r.json()["detail"]
    r = client.post(
        "/api/v1/marks",
        json={"mn": GAS_MN, "start": "yesterday", "end": local(1), "code": "fault", "reason": "x"},
    )
    assert r.status_code == 422 and "ISO 8601" in r.json()["detail"]
    assert client.get("/api/v1/marks/9999").status_code == 404


def test_supersede_withdraw_and_conflict(client: TestClient) -> None:
    first = new_mark(client)
    r = client.post(
        f"/api/v1/marks/{first['id']}/supersede",
        json={"factor": None, "start": local(6), "end": local(3), "code": "fault", "reason": "实为故障"},
    )
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["supersedes_id"] == first["id"] and second["factor"] is None
    r = client.post(
        f"/api/v1/marks/{first['id']}/supersede",
        json={"start": local(6), "end": local(3), "code": "fault", "reason": "再改"},
    )
    assert r.status_code == 409 and f"supersede {second['id']} instead" in r.json()["detail"]
    old = client.get(f"/api/v1/marks/{first['id']}").json()
    assert old["in_force"] is False and old["effect"] is None
    assert [h["id"] for h in old["history"]] == [first["id"], second["id"]]
    r = client.post(
        f"/api/v1/marks/{second['id']}/withdraw", json={"reason": "标错了", "source": "enterprise"}
    )
    assert r.status_code == 201 and r.json()["action"] == "withdraw"
    window = {"mn": GAS_MN, "from": local(24), "to": local(0)}
    assert client.get("/api/v1/marks", params=window).json() == []
    everything = client.get("/api/v1/marks", params={**window, "include_superseded": True}).json()
    by_id = sorted(everything, key=lambda m: int(m["id"]))
    assert [(m["action"], m["superseded_by"]) for m in by_id] == [
        ("mark", second["id"]),
        ("mark", by_id[2]["id"]),
        ("withdraw", None),
    ]


def test_review_gates_a_shutdown(client: TestClient) -> None:
    shut = new_mark(client, code="shutdown", factor=None, reason="锅炉停运")
    assert client.get(f"/api/v1/marks/{shut['id']}").json()["effect"] == "info"
    r = client.post(f"/api/v1/marks/{shut['id']}/reviews", json={"decision": "approved", "note": "证明齐全"})
    assert r.status_code == 201 and r.json()["reviewed_by"] == "admin"
    one = client.get(f"/api/v1/marks/{shut['id']}").json()
    assert one["effect"] == "exempt" and [v["decision"] for v in one["reviews"]] == ["approved"]
    r = client.post(f"/api/v1/marks/{shut['id']}/reviews", json={"decision": "rejected"})
    assert r.status_code == 422 and "needs a note" in r.json()["detail"]
    r = client.post(f"/api/v1/marks/{shut['id']}/reviews", json={"decision": "perhaps"})
    assert r.status_code == 422


def test_attachment_download(client: TestClient, settings: Settings, sqlite_engine: Engine) -> None:
    shut = new_mark(client, code="shutdown", factor=None, reason="停运")
    blobs = BlobStore(settings.data_dir / "blobs")
    with sqlite_engine.begin() as conn:
        att = add_mark_attachment(
            conn,
            blobs,
            int(shut["id"]),
            filename="停运证明.pdf",
            content=b"%PDF",
            content_type="application/pdf",
            added_by="admin",
            now=utcnow(),
        )
    r = client.get(f"/api/v1/marks/{shut['id']}/attachments/{att['id']}")
    assert r.status_code == 200 and r.content == b"%PDF"
    assert r.headers["content-type"] == "application/pdf"
    assert "%E5%81%9C%E8%BF%90" in r.headers["content-disposition"]  # 停运, RFC 5987-quoted
    assert client.get(f"/api/v1/marks/{int(shut['id']) + 1}/attachments/{att['id']}").status_code == 404
    assert [a["filename"] for a in client.get(f"/api/v1/marks/{shut['id']}").json()["attachments"]] == [
        "停运证明.pdf"
    ]


@pytest.mark.skipif(not MULTIPART, reason="python-multipart is not installed: the upload endpoint is absent")
def test_attachment_upload(client: TestClient) -> None:
    shut = new_mark(client, code="shutdown", factor=None, reason="停运")
    r = client.post(
        f"/api/v1/marks/{shut['id']}/attachments", files={"file": ("proof.pdf", b"%PDF", "application/pdf")}
    )
    assert r.status_code == 201, r.text
    r = client.get(f"/api/v1/marks/{shut['id']}/attachments/{r.json()['id']}")
    assert r.content == b"%PDF"


def test_without_multipart_the_upload_route_is_absent(client: TestClient) -> None:
    r = client.post("/api/v1/marks/1/attachments", files={"file": ("a.txt", b"a", "text/plain")})
    assert (r.status_code == 405) is (not MULTIPART)
