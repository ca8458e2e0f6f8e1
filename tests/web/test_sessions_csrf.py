"""Sessions (issue 4): login/logout/me, cookie flags, idle and absolute timeouts, CSRF, lockout."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from envwatch.core import clock
from envwatch.core.settings import Settings
from envwatch.web.accounts.lockout import LockoutPolicy, clear_failures, locked_for, record_failure
from envwatch.web.accounts.schema import sessions
from envwatch.web.accounts.sessions import SessionPolicy, create_session, session_user
from envwatch.web.app import create_app
from tests.web.test_accounts import PASSWORD, T0, Clock, add_user, https_client, login

LOGIN = "/api/v1/auth/login"


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr(clock, "utcnow", fake)
    return fake


@pytest.fixture
def client(settings: Settings, sqlite_engine: Engine, fake_clock: Clock) -> Iterator[TestClient]:
    add_user(sqlite_engine, "reg1", "regulator", region_code="37")
    with https_client(settings, sqlite_engine) as c:
        yield c


def test_login_me_logout(client: TestClient, sqlite_engine: Engine) -> None:
    assert client.get("/api/v1/auth/me").status_code == 401
    r = client.post(LOGIN, json={"username": " Reg1 ", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["username"] == "reg1" and "password_hash" not in body["user"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("envwatch_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    # only the SHA-256 of the cookie value is stored
    value = client.cookies["envwatch_session"]
    with sqlite_engine.connect() as conn:
        stored = conn.execute(select(sessions.c.token_hash, sessions.c.csrf_token)).one()
    assert (
        stored.token_hash == hashlib.sha256(value.encode()).hexdigest()
        and stored.csrf_token == body["csrf_token"]
    )

    me = client.get("/api/v1/auth/me").json()
    assert me["username"] == "reg1" and me["role"] == "regulator" and me["via"] == "session"
    assert me["user"]["region_code"] == "37"
    r = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(sessions)).all() == []
    # the old cookie value is dead even when sent again by hand
    client.cookies.set("envwatch_session", value)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_cookie_not_secure_when_configured(settings: Settings, sqlite_engine: Engine) -> None:
    add_user(sqlite_engine, "reg2", "regulator", region_code="37")
    plain = settings.model_copy(update={"cookie_secure": False, "session_cookie_name": "ew"})
    with TestClient(create_app(plain, sqlite_engine)) as c:  # http://
        r = c.post(LOGIN, json={"username": "reg2", "password": PASSWORD})
        assert r.headers["set-cookie"].startswith("ew=") and "Secure" not in r.headers["set-cookie"]
        assert c.get("/api/v1/auth/me").json()["username"] == "reg2"


def test_wrong_credentials_look_the_same_for_unknown_users(client: TestClient) -> None:
    wrong = client.post(LOGIN, json={"username": "reg1", "password": "not the password"})
    unknown = client.post(LOGIN, json={"username": "nobody", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong username or password"}
    assert "set-cookie" not in wrong.headers


def test_idle_timeout(client: TestClient, fake_clock: Clock) -> None:
    login(client, "reg1")
    fake_clock.advance(1000)
    assert client.get("/api/v1/auth/me").status_code == 200  # use keeps it alive
    fake_clock.advance(1700)  # 2700 s after login, 1700 s after last use (idle limit 1800)
    assert client.get("/api/v1/auth/me").status_code == 200
    fake_clock.advance(1801)
    r = client.get("/api/v1/auth/me")
    assert r.status_code == 401 and "log in again" in r.json()["detail"]


def test_absolute_timeout(client: TestClient, fake_clock: Clock) -> None:
    login(client, "reg1")
    for _ in range(12 * 4 - 1):  # busy all day, a request every 15 minutes
        fake_clock.advance(900)
        assert client.get("/api/v1/auth/me").status_code == 200
    fake_clock.advance(900)  # 12 h after login
    assert client.get("/api/v1/auth/me").status_code == 401


def test_session_expiry_in_the_store(engine: Engine) -> None:
    user = add_user(engine, "reg3", "regulator", region_code="37")
    policy = SessionPolicy.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    with engine.begin() as conn:
        new = create_session(conn, user["id"], T0, policy, ip="10.0.0.1", user_agent="pytest")
        found = session_user(conn, new.token, T0 + policy.idle / 2, policy)
        assert found is not None and found[0]["username"] == "reg3" and found[1] == new.csrf_token
        assert session_user(conn, new.token + "x", T0, policy) is None
        assert session_user(conn, new.token, T0 + policy.idle / 2 + policy.idle, policy) is None
        assert conn.execute(select(sessions)).all() == []  # the expired one was removed


def test_csrf_on_cookie_sessions(client: TestClient) -> None:
    csrf = login(client, "reg1")
    url, body = "/api/v1/users/me/tokens", {"name": "t"}
    r = client.post(url, json=body)
    assert r.status_code == 403 and r.json()["detail"].startswith("CSRF token missing or wrong")
    assert client.post(url, json=body, headers={"X-CSRF-Token": csrf + "x"}).status_code == 403
    assert client.delete("/api/v1/users/me/tokens/1").status_code == 403
    assert client.get("/api/v1/users/me/tokens").json() == []  # reads need no CSRF token, nothing was made
    r = client.post(url, json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    # a bearer-token request needs none (a browser never adds that header by itself)
    token = r.json()["token"]
    script = TestClient(client.app, base_url="https://testserver")
    r = script.delete(
        f"/api/v1/users/me/tokens/{r.json()['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200


def test_lockout_after_repeated_failures(client: TestClient, fake_clock: Clock) -> None:
    for username in ("reg1", "ghost"):  # a real user and one that does not exist behave alike
        for _ in range(5):
            r = client.post(LOGIN, json={"username": username, "password": "guess guess guess"})
            assert r.status_code == 401
            fake_clock.advance(10)
        r = client.post(LOGIN, json={"username": username, "password": PASSWORD})
        assert r.status_code == 423, username
        assert r.json()["detail"] == "too many failed logins for this username: try again in 890 s"
        assert r.headers["retry-after"] == "890"
    # another username is not affected
    add_user(client.app.state.engine, "reg9", "regulator", region_code="37")  # type: ignore[attr-defined]
    login(client, "reg9")
    fake_clock.advance(839)  # reg1 failed last at T0+40: locked until T0+940, now T0+939
    r = client.post(LOGIN, json={"username": "reg1", "password": PASSWORD})
    assert r.status_code == 423 and r.headers["retry-after"] == "1"
    fake_clock.advance(1)
    login(client, "reg1")  # unlocked once the lockout has passed
    # and the success starts the count afresh: four more failures do not lock
    for _ in range(4):
        assert client.post(LOGIN, json={"username": "reg1", "password": "guess guess"}).status_code == 401
    login(client, "reg1")


def test_failures_spread_beyond_the_window_do_not_lock(engine: Engine) -> None:
    policy = LockoutPolicy(failures=5, window=timedelta(seconds=900), lockout=timedelta(seconds=900))
    with engine.begin() as conn:
        for i in range(5):
            record_failure(conn, "spread", T0 + timedelta(seconds=250 * i), policy)  # 1000 s apart in all
        assert locked_for(conn, "spread", T0 + timedelta(seconds=1001), policy) is None
        record_failure(conn, "spread", T0 + timedelta(seconds=1100), policy)  # last five within 900 s
        assert locked_for(conn, "spread", T0 + timedelta(seconds=1101), policy) == timedelta(seconds=899)
        assert locked_for(conn, "spread", T0 + timedelta(seconds=2000), policy) is None
        record_failure(conn, "other", T0, policy)
        clear_failures(conn, "spread")
        assert locked_for(conn, "spread", T0 + timedelta(seconds=1101), policy) is None
