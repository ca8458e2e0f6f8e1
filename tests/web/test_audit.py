"""The audit trail (issue 4): one row per write that reached authentication, failed logins too; the
database refuses to change it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from envwatch.core import clock
from envwatch.core.settings import Settings
from envwatch.web.accounts.schema import audit_log
from tests.web.test_accounts import PASSWORD, T0, Clock, add_user, https_client, login


@pytest.fixture
def client(
    settings: Settings, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(clock, "utcnow", Clock(T0))
    add_user(sqlite_engine, "reg1", "regulator", region_code="37")
    with https_client(settings, sqlite_engine) as c:
        yield c


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


def test_writes_are_audited_reads_are_not(client: TestClient, sqlite_engine: Engine) -> None:
    admin = {"Authorization": f"Bearer {client.app.state.admin_token}"}  # type: ignore[attr-defined]
    assert client.get("/api/v1/users", headers=admin).status_code == 200
    assert rows(sqlite_engine) == []
    r = client.post(
        "/api/v1/users",
        json={"username": "new.one", "password": PASSWORD, "role": "regulator", "region_code": "3701"},
        headers=admin,
    )
    user_id = r.json()["id"]
    r = client.patch(f"/api/v1/users/{user_id}", json={"password": "reset password 1"}, headers=admin)
    assert r.status_code == 200
    created, patched = rows(sqlite_engine)
    assert created["username"] == "admin" and created["role"] == "admin" and created["via"] == "admin_token"
    assert created["user_id"] is None
    assert (created["method"], created["path"], created["status_code"]) == ("POST", "/api/v1/users", 201)
    assert created["detail"] == {"username": "new.one", "role": "regulator"} and created["at"] == T0
    assert patched["target"] == f"user_id={user_id}" and patched["detail"] == {"changed": ["password"]}
    assert PASSWORD not in repr(created) and "reset password 1" not in repr(patched)


def test_refused_writes_and_bad_tokens_are_audited(client: TestClient, sqlite_engine: Engine) -> None:
    login(client, "reg1")
    assert client.post("/api/v1/users/me/tokens", json={"name": "x"}).status_code == 403  # no CSRF token
    bad = TestClient(client.app, base_url="https://testserver")
    assert bad.post("/api/v1/auth/logout", headers={"Authorization": "Bearer nope"}).status_code == 401
    # an unknown path never reached authentication: nothing to say who, no row
    assert bad.post("/api/v1/no-such-thing").status_code == 404
    login_row, csrf_row, token_row = rows(sqlite_engine)
    assert login_row["via"] == "login" and login_row["detail"] == {"event": "login"}
    assert (csrf_row["username"], csrf_row["via"], csrf_row["status_code"]) == ("reg1", "session", 403)
    assert csrf_row["user_id"] is not None and csrf_row["role"] == "regulator"
    assert (token_row["username"], token_row["status_code"]) == (None, 401)


def test_failed_logins_are_audited_without_the_password(client: TestClient, sqlite_engine: Engine) -> None:
    secret = "my wrong secret 123"
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"username": "Reg1", "password": secret})
    client.post("/api/v1/auth/login", json={"username": "reg1", "password": PASSWORD})
    audited = rows(sqlite_engine)
    assert [r["status_code"] for r in audited] == [401] * 5 + [423]
    assert {r["username"] for r in audited} == {"reg1"}
    assert audited[0]["detail"] == {"event": "login_failed"} and audited[0]["via"] == "login"
    assert audited[-1]["detail"] == {"event": "login_refused", "reason": "locked"}
    assert all(r["user_id"] is None and r["ip"] for r in audited)
    assert not any(secret in repr(r) or PASSWORD in repr(r) for r in audited)


def test_the_database_refuses_to_change_the_audit_log(engine: Engine) -> None:
    row = {"at": T0, "method": "POST", "path": "/api/v1/x", "status_code": 200, "detail": {"a": 1}}
    with engine.begin() as conn:
        conn.execute(insert(audit_log).values(**row))
    for statement in (update(audit_log).values(status_code=500), delete(audit_log)):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    assert [r["status_code"] for r in rows(engine)] == [200]
