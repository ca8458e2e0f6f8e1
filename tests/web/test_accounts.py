"""Accounts (issue 4): password hashing, users and their scopes, admin-only management, API tokens."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from envwatch.core import clock
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.core.settings import Settings
from envwatch.registry.schema import enterprises, operators
from envwatch.web.accounts import passwords, store
from envwatch.web.accounts.schema import api_tokens, users
from envwatch.web.app import create_app
from envwatch.web.auth import principal_of

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


class Clock:
    """A controllable ``envwatch.core.clock.utcnow``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr(clock, "utcnow", fake)
    return fake


def add_user(engine: Engine, username: str, role: str = "admin", **fields: Any) -> dict[str, Any]:
    with engine.begin() as conn:
        return store.create_user(
            conn, username, PASSWORD, {"role": role, **fields}, T0, min_password_length=10
        )


def add_enterprise_and_operator(engine: Engine) -> tuple[int, int]:
    with engine.begin() as conn:
        ent = conn.execute(
            insert(enterprises)
            .values(
                name="示例电厂",
                credit_code="91370100MA3C000001",
                region_code="370102",
                created_at=T0,
                updated_at=T0,
            )
            .returning(enterprises.c.id)
        ).scalar_one()
        op = conn.execute(
            insert(operators)
            .values(name="运维公司", credit_code="91370100MA3C000002", created_at=T0, updated_at=T0)
            .returning(operators.c.id)
        ).scalar_one()
    return ent, op


def https_client(settings: Settings, engine: Engine) -> TestClient:
    """A client over https, so that the Secure session cookie (the default) is sent back."""
    return TestClient(create_app(settings, engine), base_url="https://testserver")


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    csrf: str = r.json()["csrf_token"]
    return csrf


@pytest.fixture
def client(settings: Settings, sqlite_engine: Engine, fake_clock: Clock) -> Iterator[TestClient]:
    with https_client(settings, sqlite_engine) as c:
        yield c


def admin_headers(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.app.state.admin_token}"}  # type: ignore[attr-defined]


# --- passwords ---------------------------------------------------------------------------------
@pytest.mark.real_password_hashing
def test_password_hash_round_trip() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert passwords.verify_password(stored, PASSWORD) == (True, None)
    assert passwords.verify_password(stored, PASSWORD + "x") == (False, None)
    assert passwords.verify_password("not a hash", PASSWORD) == (False, None)


@pytest.mark.real_password_hashing
def test_weak_hash_is_rehashed_on_login(client: TestClient, sqlite_engine: Engine) -> None:
    user = add_user(sqlite_engine, "weak.user", "regulator", region_code="37")
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    ok, rehash = passwords.verify_password(weak, PASSWORD)
    assert ok and rehash is not None and rehash != weak
    with sqlite_engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user["id"]).values(password_hash=weak))
    login(client, "weak.user")
    with sqlite_engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.id == user["id"])).scalar_one()
    assert stored != weak
    assert not PasswordHasher().check_needs_rehash(stored)
    assert passwords.verify_password(stored, PASSWORD) == (True, None)


def test_password_policy() -> None:
    with pytest.raises(InvalidInput, match="at least 10"):
        passwords.check_policy("short", username="u1", min_length=10)
    with pytest.raises(InvalidInput, match="username"):
        passwords.check_policy("Long.Enough.Name", username="long.enough.name", min_length=10)
    passwords.check_policy("long enough pass", username="u1", min_length=10)


# --- users and scopes --------------------------------------------------------------------------
def test_roles_need_their_scope(engine: Engine) -> None:
    ent, op = add_enterprise_and_operator(engine)
    assert add_user(engine, "reg.city", "regulator", region_code="3701")["region_code"] == "3701"
    assert add_user(engine, "ent1", "enterprise", enterprise_id=ent)["enterprise_id"] == ent
    assert add_user(engine, "staff1", "field_staff", operator_id=op)["operator_id"] == op
    auditor = add_user(
        engine, "aud1", "auditor", operator_id=op, period_from=date(2026, 1, 1), period_to=date(2026, 3, 31)
    )
    assert principal_of(auditor).period == (date(2026, 1, 1), date(2026, 3, 31))
    assert principal_of(auditor).operator_id == op and principal_of(auditor).name == "aud1"
    bad: list[tuple[str, dict[str, Any], str]] = [
        ("regulator", {"region_code": "37011"}, "2 digits"),
        ("regulator", {}, "needs region_code"),
        ("enterprise", {"enterprise_id": ent + 100}, "no enterprise"),
        ("operator", {"operator_id": op, "region_code": "37"}, "takes no region_code"),
        ("auditor", {"operator_id": op, "period_from": date(2026, 3, 1)}, "needs period_to"),
        (
            "auditor",
            {"operator_id": op, "period_from": date(2026, 3, 1), "period_to": date(2026, 2, 1)},
            "before",
        ),
        ("superuser", {}, "not one of"),
    ]
    for role, fields, message in bad:
        with pytest.raises(InvalidInput, match=message):
            add_user(engine, "someone", role, **fields)
    with pytest.raises(Conflict, match="taken"):
        add_user(engine, "REG.City", "admin")  # usernames are case-insensitive


def test_the_database_refuses_a_role_without_its_scope(engine: Engine) -> None:
    row = {"display_name": "", "password_hash": "x", "active": True, "created_at": T0, "updated_at": T0}
    for username, values in (
        ("r1", {"role": "regulator"}),
        ("r2", {"role": "regulator", "region_code": "370"}),
        ("e1", {"role": "enterprise"}),
        ("o1", {"role": "field_staff"}),
        ("x1", {"role": "root"}),
    ):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(users).values(username=username, **row, **values))
    with engine.begin() as conn:  # the same row with its scope is accepted
        conn.execute(insert(users).values(username="r3", **row, role="regulator", region_code="370102"))


# --- user management over HTTP -----------------------------------------------------------------
def test_admin_manages_users(client: TestClient, sqlite_engine: Engine) -> None:
    admin = admin_headers(client)
    r = client.post(
        "/api/v1/users",
        json={"username": "Li.Wei", "password": PASSWORD, "role": "regulator", "region_code": "3701"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["username"] == "li.wei" and "password_hash" not in created and created["active"] is True
    assert client.get("/api/v1/users", headers=admin).json()[0]["username"] == "li.wei"
    assert client.get(f"/api/v1/users/{created['id']}", headers=admin).json()["region_code"] == "3701"
    r = client.post(
        "/api/v1/users",
        json={"username": "x2", "password": PASSWORD, "role": "regulator", "region_code": "3"},
        headers=admin,
    )
    assert r.status_code == 422 and "region_code" in r.json()["detail"]
    r = client.post(
        "/api/v1/users", json={"username": "x3", "password": "short", "role": "admin"}, headers=admin
    )
    assert r.status_code == 422 and "too short" in r.json()["detail"]

    # the user logs in; a password reset by the admin ends that session and only the new password works
    user_client = https_client(client.app.state.settings, sqlite_engine)  # type: ignore[attr-defined]
    login(user_client, "li.wei")
    assert user_client.get("/api/v1/auth/me").status_code == 200
    new_password = "a brand new secret"
    r = client.patch(f"/api/v1/users/{created['id']}", json={"password": new_password}, headers=admin)
    assert r.status_code == 200 and "password_hash" not in r.json()
    assert user_client.get("/api/v1/auth/me").status_code == 401
    r = user_client.post("/api/v1/auth/login", json={"username": "li.wei", "password": PASSWORD})
    assert r.status_code == 401
    login(user_client, "li.wei", new_password)

    # deactivation ends the session and refuses logins with the ordinary message
    r = client.patch(f"/api/v1/users/{created['id']}", json={"active": False}, headers=admin)
    assert r.json()["active"] is False
    assert user_client.get("/api/v1/auth/me").status_code == 401
    r = user_client.post("/api/v1/auth/login", json={"username": "li.wei", "password": new_password})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"

    # a role change must bring its scope; null for a required field is refused
    r = client.patch(f"/api/v1/users/{created['id']}", json={"role": "enterprise"}, headers=admin)
    assert r.status_code == 422 and "needs enterprise_id" in r.json()["detail"]
    r = client.patch(
        f"/api/v1/users/{created['id']}", json={"role": "admin", "region_code": None}, headers=admin
    )
    assert r.status_code == 200 and r.json()["role"] == "admin" and r.json()["region_code"] is None
    assert (
        client.patch(f"/api/v1/users/{created['id']}", json={"role": None}, headers=admin).status_code == 422
    )
    assert client.get("/api/v1/users/999", headers=admin).status_code == 404


def test_only_admins_manage_users(client: TestClient, sqlite_engine: Engine) -> None:
    add_user(sqlite_engine, "reg1", "regulator", region_code="37")
    add_user(sqlite_engine, "boss", "admin")
    csrf = login(client, "reg1")
    h = {"X-CSRF-Token": csrf}
    assert client.get("/api/v1/users").status_code == 403
    assert client.get("/api/v1/users/1").status_code == 403
    r = client.post(
        "/api/v1/users", json={"username": "x9", "password": PASSWORD, "role": "admin"}, headers=h
    )
    assert r.status_code == 403 and r.json()["detail"] == "only an admin may manage users"
    assert client.patch("/api/v1/users/1", json={"role": "admin"}, headers=h).status_code == 403
    # an account with the admin role may
    csrf = login(client, "boss")
    assert client.get("/api/v1/users").status_code == 200
    r = client.post(
        "/api/v1/users",
        json={"username": "x9", "password": PASSWORD, "role": "admin"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201


def test_change_own_password(client: TestClient, sqlite_engine: Engine) -> None:
    add_user(sqlite_engine, "ent.user", "regulator", region_code="37")
    other = https_client(client.app.state.settings, sqlite_engine)  # type: ignore[attr-defined]
    login(other, "ent.user")
    csrf = login(client, "ent.user")
    h = {"X-CSRF-Token": csrf}
    body = {"old_password": "wrong password!", "new_password": "another long one"}
    assert client.post("/api/v1/users/me/password", json=body, headers=h).status_code == 403
    body["old_password"] = PASSWORD
    assert client.post("/api/v1/users/me/password", json=body, headers=h).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 200  # this session stays
    assert other.get("/api/v1/auth/me").status_code == 401  # the others end
    login(other, "ent.user", "another long one")
    # the admin token is no account
    r = client.post("/api/v1/users/me/password", json=body, headers=admin_headers(client))
    assert r.status_code == 409 and "not an account" in r.json()["detail"]


# --- API tokens --------------------------------------------------------------------------------
def test_api_token_create_use_revoke(client: TestClient, sqlite_engine: Engine) -> None:
    add_user(sqlite_engine, "script.owner", "regulator", region_code="3701")
    csrf = login(client, "script.owner")
    r = client.post(
        "/api/v1/users/me/tokens", json={"name": "nightly export"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    token_id = r.json()["id"]
    assert token.startswith("ewt_") and len(token) > 40
    # shown once: the list never has it, the database holds only its SHA-256
    listed = client.get("/api/v1/users/me/tokens").json()
    assert [t["name"] for t in listed] == ["nightly export"] and "token" not in listed[0]
    with sqlite_engine.connect() as conn:
        row = conn.execute(select(api_tokens)).one()._asdict()
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(row)

    script = TestClient(client.app, base_url="https://testserver")
    bearer = {"Authorization": f"Bearer {token}"}
    me = script.get("/api/v1/auth/me", headers=bearer).json()
    assert me["username"] == "script.owner" and me["role"] == "regulator" and me["via"] == "api_token"
    assert script.get("/api/v1/auth/me", headers={"X-API-Token": token}).status_code == 200
    # a token cannot mint tokens (a leaked one must not outlive its revocation)
    r = script.post("/api/v1/users/me/tokens", json={"name": "more"}, headers=bearer)
    assert r.status_code == 403

    r = script.delete(f"/api/v1/users/me/tokens/{token_id}", headers=bearer)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = script.get("/api/v1/auth/me", headers=bearer)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert client.delete("/api/v1/users/me/tokens/999", headers={"X-CSRF-Token": csrf}).status_code == 404


def test_tokens_of_a_deactivated_user_stop_working(client: TestClient, sqlite_engine: Engine) -> None:
    user = add_user(sqlite_engine, "leaver", "regulator", region_code="37")
    csrf = login(client, "leaver")
    token = client.post("/api/v1/users/me/tokens", json={"name": "t"}, headers={"X-CSRF-Token": csrf}).json()[
        "token"
    ]
    script = TestClient(client.app, base_url="https://testserver")
    assert script.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    r = client.patch(f"/api/v1/users/{user['id']}", json={"active": False}, headers=admin_headers(client))
    assert r.status_code == 200
    assert script.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_admin_token_still_the_admin(client: TestClient) -> None:
    me = client.get("/api/v1/auth/me", headers=admin_headers(client)).json()
    assert me == {"username": "admin", "role": "admin", "via": "admin_token"}
