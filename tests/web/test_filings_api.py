"""Filings API over the real app and a real SQLite store: deadlines, steps, attachments, errors."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from envwatch.registry.schema import attachments
from envwatch.web.api import filings as filings_api
from envwatch.web.app import create_app
from tests.helpers import first_uncovered_year
from tests.registry.test_filings import make_registry

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 2026-03-10 10:00 China time
LIMIT = 2048


@pytest.fixture
def small_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", max_attachment_bytes=LIMIT, _env_file=None)


@pytest.fixture
def engine_ids(small_settings: Settings) -> Iterator[tuple[Engine, dict[str, int]]]:
    engine = make_engine(small_settings)
    upgrade(engine)
    yield engine, make_registry(engine)
    engine.dispose()


@pytest.fixture
def client(
    small_settings: Settings, engine_ids: tuple[Engine, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(filings_api, "utcnow", lambda: NOW)  # time is an input, also for the API
    app = create_app(small_settings, engine_ids[0])
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        yield c


def create(client: TestClient, ids: dict[str, int], kind: str, event_at: str, **kw: object) -> dict[str, Any]:
    body = {
        "kind": kind,
        "enterprise_id": ids["ent"],
        "outlet_id": ids["gas"],
        "title": f"{kind} 测试",
        "event_at": event_at,
    }
    r = client.post("/api/v1/filings", json={**body, **kw})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def blob_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_needs_the_token(client: TestClient) -> None:
    assert client.get("/api/v1/filings", headers={"Authorization": ""}).status_code == 401


def test_create_step_and_status(client: TestClient, engine_ids: tuple[Engine, dict[str, int]]) -> None:
    ids = engine_ids[1]
    f = create(client, ids, "major_change", "2026-03-04T08:00:00")  # no offset: China time
    assert f["event_at"] == "2026-03-04T08:00:00+08:00" and f["created_by"] == "admin"
    d = f["deadline"]
    assert (d["status"], d["due_at"], d["requirement"], d["met_by"]) == (
        "due",
        "2026-03-11T08:00:00+08:00",
        "SX-14",
        "reconnected",
    )
    r = client.post(
        f"/api/v1/filings/{f['id']}/steps",
        json={"step": "reconnected", "done_at": "2026-03-09T17:30:00+08:00"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["deadline"]["status"] == "met" and body["deadline"]["met_at"] == "2026-03-09T17:30:00+08:00"
    assert [(s["step"], s["recorded_by"], s["recorded_at"]) for s in body["steps"]] == [
        ("reconnected", "admin", "2026-03-10T10:00:00+08:00")
    ]
    assert client.get(f"/api/v1/filings/{f['id']}").json() == body
    assert client.get(f"/api/v1/filings/{f['id']}/status").json()["status"] == "met"


def test_list_filters_by_status_kind_and_enterprise(
    client: TestClient, engine_ids: tuple[Engine, dict[str, int]]
) -> None:
    ids = engine_ids[1]
    due = create(client, ids, "content_change", "2026-03-09T09:00:00+08:00")["id"]
    overdue = create(client, ids, "major_change", "2026-03-01T08:00:00+08:00")["id"]
    none = create(client, ids, "acceptance", "2026-02-01T08:00:00+08:00")["id"]

    def listed(**params: str | int) -> list[int]:
        r = client.get("/api/v1/filings", params=params)
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()]

    assert listed() == [due, overdue, none]
    assert (listed(status="due"), listed(status="overdue"), listed(status="met")) == ([due], [overdue], [])
    assert listed(kind="acceptance") == [none]
    assert (
        listed(enterprise_id=ids["ent"]) == [due, overdue, none] and listed(enterprise_id=ids["other"]) == []
    )
    assert client.get("/api/v1/filings", params={"status": "late"}).status_code == 422


def test_refusals(client: TestClient, engine_ids: tuple[Engine, dict[str, int]]) -> None:
    ids = engine_ids[1]
    f = create(client, ids, "content_change", "2026-03-02T09:00:00+08:00")
    r = client.post(
        f"/api/v1/filings/{f['id']}/steps", json={"step": "filed", "done_at": "2026-03-10T10:00:01+08:00"}
    )
    assert r.status_code == 422 and "in the future" in r.json()["detail"]
    r = client.post(
        "/api/v1/filings",
        json={
            "kind": "gas_core_part",
            "enterprise_id": ids["ent"],
            "outlet_id": ids["water"],
            "title": "x",
            "event_at": "2026-03-01T00:00:00",
        },
    )
    assert r.status_code == 422 and "gas" in r.json()["detail"]
    r = client.post(
        "/api/v1/filings",
        json={"kind": "filing", "enterprise_id": ids["ent"], "title": "x", "event_at": "yesterday"},
    )
    assert r.status_code == 422 and "ISO 8601" in r.json()["detail"]
    assert (
        client.post(
            f"/api/v1/filings/{f['id']}/steps", json={"step": "withdrawn", "done_at": "2026-03-03T00:00:00"}
        ).status_code
        == 201
    )
    r = client.post(
        f"/api/v1/filings/{f['id']}/steps", json={"step": "filed", "done_at": "2026-03-04T00:00:00"}
    )
    assert r.status_code == 409 and "withdrawn" in r.json()["detail"]
    assert client.get(f"/api/v1/filings/{f['id']}").json()["deadline"]["status"] == "withdrawn"


def test_calendar_gap_is_a_clear_422_not_a_500(
    client: TestClient, engine_ids: tuple[Engine, dict[str, int]]
) -> None:
    ids = engine_ids[1]
    year = first_uncovered_year()
    f = create(client, ids, "content_change", f"{year - 1}-12-28T10:00:00+08:00")  # recording it still works
    assert f["deadline"]["status"] == "unknown" and str(year) in f["deadline"]["problem"]
    r = client.get(f"/api/v1/filings/{f['id']}/status")
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert str(year) in detail and "ENVWATCH_EXTRA_HOLIDAYS" in detail and "ENVWATCH_EXTRA_WORKDAYS" in detail


def test_unknown_filing_is_404_everywhere(client: TestClient, small_settings: Settings) -> None:
    assert client.get("/api/v1/filings/999").status_code == 404
    assert client.get("/api/v1/filings/999/status").status_code == 404
    assert client.get("/api/v1/filings/999/attachments").status_code == 404
    assert client.get("/api/v1/filings/999/attachments/1").status_code == 404
    r = client.post("/api/v1/filings/999/steps", json={"step": "filed", "done_at": "2026-03-01T00:00:00"})
    assert r.status_code == 404 and "no filing with id 999" in r.json()["detail"]
    r = client.post("/api/v1/filings/999/attachments", params={"filename": "a.txt"}, content=b"abc")
    assert r.status_code == 404
    assert blob_files(small_settings) == []


def test_attachment_round_trip(
    client: TestClient, engine_ids: tuple[Engine, dict[str, int]], small_settings: Settings
) -> None:
    ids = engine_ids[1]
    f = create(client, ids, "acceptance", "2026-03-01T08:00:00")
    content = "验收意见 ✓\n".encode() * 50
    r = client.post(
        f"/api/v1/filings/{f['id']}/attachments",
        params={"filename": "验收意见.txt"},
        content=content,
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["sha256"] == hashlib.sha256(content).hexdigest() and att["size"] == len(content)
    assert [a["id"] for a in client.get(f"/api/v1/filings/{f['id']}/attachments").json()] == [att["id"]]
    assert [a["id"] for a in client.get(f"/api/v1/filings/{f['id']}").json()["attachments"]] == [att["id"]]
    r = client.get(f"/api/v1/filings/{f['id']}/attachments/{att['id']}")
    assert r.status_code == 200 and r.content == content
    assert r.headers["content-type"].startswith("text/plain")
    assert "filename*=UTF-8''%E9%AA%8C%E6%94%B6%E6%84%8F%E8%A7%81.txt" in r.headers["content-disposition"]
    assert r.headers["x-content-sha256"] == att["sha256"]
    other = create(client, ids, "filing", "2026-03-01T08:00:00")
    assert client.get(f"/api/v1/filings/{other['id']}/attachments/{att['id']}").status_code == 404
    # altered on disk → refused with the reason, never served
    path = next(iter(blob_files(small_settings)))
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    r = client.get(f"/api/v1/filings/{f['id']}/attachments/{att['id']}")
    assert r.status_code == 422 and "no longer matches" in r.json()["detail"]


def test_oversize_attachment_is_refused_with_nothing_stored(
    client: TestClient, engine_ids: tuple[Engine, dict[str, int]], small_settings: Settings
) -> None:
    engine, ids = engine_ids
    f = create(client, ids, "acceptance", "2026-03-01T08:00:00")
    url = f"/api/v1/filings/{f['id']}/attachments"
    r = client.post(url, params={"filename": "big.bin"}, content=b"x" * (LIMIT + 1))
    assert r.status_code == 413
    assert (
        f"limit of {LIMIT} bytes" in r.json()["detail"]
        and "ENVWATCH_MAX_ATTACHMENT_BYTES" in r.json()["detail"]
    )
    # without Content-Length (chunked) the cap holds while reading
    r = client.post(url, params={"filename": "big.bin"}, content=iter([b"x" * LIMIT, b"y"]))
    assert r.status_code == 413
    assert blob_files(small_settings) == []
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(attachments)).scalar_one() == 0
    # exactly at the limit is accepted; a missing name or an empty file is a 422
    assert client.post(url, params={"filename": "ok.bin"}, content=b"x" * LIMIT).status_code == 201
    assert client.post(url, content=b"abc").status_code == 422
    assert client.post(url, params={"filename": "empty.bin"}, content=b"").status_code == 422


def test_multipart_upload(client: TestClient, engine_ids: tuple[Engine, dict[str, int]]) -> None:
    f = create(client, engine_ids[1], "acceptance", "2026-03-01T08:00:00")
    url = f"/api/v1/filings/{f['id']}/attachments"
    r = client.post(url, files={"file": ("scan.pdf", b"%PDF-1.7 scan", "application/pdf")})
    if importlib.util.find_spec("python_multipart") is None and importlib.util.find_spec("multipart") is None:
        assert r.status_code == 415 and "python-multipart" in r.json()["detail"]
        return
    assert r.status_code == 201, r.text
    assert (r.json()["filename"], r.json()["content_type"]) == ("scan.pdf", "application/pdf")
    got = client.get(f"{url}/{r.json()['id']}")
    assert got.content == b"%PDF-1.7 scan"
    r = client.post(url, files={"file": ("big.bin", b"x" * (LIMIT + 1), "application/octet-stream")})
    assert r.status_code == 413
