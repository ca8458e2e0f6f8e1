"""The pages over HTTP without a browser: redirects, scopes, CSRF, same-origin assets, locales, audit."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.core.clock import utcnow
from envwatch.registry.agencies import create_agency
from envwatch.web.accounts import store
from envwatch.web.accounts.schema import audit_log
from envwatch.web.app import create_app
from envwatch.web.pages.i18n import _from_accept_language
from envwatch.web.pages.render import SECURITY_HEADERS
from envwatch.web.pages.session import safe_next
from tests.web.pages.conftest import MN_A, MN_B, MN_LOOSE, PASSWORD, World, credit_code

PAGES = ("/", "/home", "/devices", "/devices/rows")


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, world.engine)) as c:
        yield c


def login(client: TestClient, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_login(client: TestClient, path: str) -> None:
    r = client.get(path + "?x=1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}%3Fx%3D1"


def test_htmx_request_without_session_navigates_to_login(client: TestClient) -> None:
    r = client.get("/devices/rows", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login?next=/devices/rows"


def test_login_goes_back_only_to_local_paths(client: TestClient) -> None:
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        assert safe_next(evil) == "/"
    assert safe_next("/devices?x=1") == "/devices?x=1"
    r = client.post(
        "/login",
        data={"username": "admin1", "password": PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    r = client.get("/lang/en?next=https://evil.example/", follow_redirects=False)
    assert r.headers["location"] == "/"


def test_cross_site_login_post_is_refused(client: TestClient) -> None:
    r = client.post(
        "/login",
        data={"username": "admin1", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_wrong_password_page_and_audit(client: TestClient, world: World) -> None:
    r = client.post("/login", data={"username": "Nobody-Here", "password": "x" * 12})
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    with world.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.username == "nobody-here")).mappings().all()
    assert [(row["path"], row["status_code"], row["via"]) for row in rows] == [("/login", 401, "login")]


def test_page_writes_are_audited_only_with_a_session(client: TestClient, world: World) -> None:
    """A page form write of a logged-in person gets its audit row with the status the browser got (here
    a refusal: no CSRF token); the same POST without a session is only sent to the login page."""

    def rows() -> list[tuple[str | None, str, int]]:
        with world.engine.connect() as conn:
            query = select(audit_log.c.username, audit_log.c.path, audit_log.c.status_code).where(
                audit_log.c.path == "/marks"
            )
            return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]

    before = rows()
    assert client.post("/marks", data={}, follow_redirects=False).status_code == 303  # to the login
    assert rows() == before
    login(client, "ent_a")
    assert client.post("/marks", data={}, follow_redirects=False).status_code == 403  # no CSRF token
    assert rows() == [*before, ("ent_a", "/marks", 403)]
    client.get("/marks")  # reads are not recorded
    assert rows() == [*before, ("ent_a", "/marks", 403)]


def test_logout_needs_the_csrf_token(client: TestClient) -> None:
    login(client, "admin1")
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False).status_code == 403
    page = client.get("/home")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    # the htmx header (hx-headers on <body>) is accepted as well as the hidden field
    assert f'"X-CSRF-Token": "{token.group(1)}"' in page.text
    r = client.post("/logout", headers={"X-CSRF-Token": token.group(1)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/home", follow_redirects=False).status_code == 303


def test_scripts_and_styles_are_same_origin(client: TestClient) -> None:
    login(client, "admin1")
    for path in ("/login", "/home", "/devices"):
        r = client.get(path)
        assert r.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        refs = re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"([^\"]*)\"", r.text)
        assert refs, path
        for ref in refs:
            assert ref.startswith("/static/"), f"{path}: {ref} is not served by the app"
            assert client.get(ref).status_code == 200, ref


def test_device_rows_follow_the_scope(client: TestClient) -> None:
    login(client, "ent_a")
    rows = client.get("/devices/rows").text
    assert MN_A in rows and MN_B not in rows and MN_LOOSE not in rows
    login(client, "admin1")
    rows = client.get("/devices/rows").text
    assert all(mn in rows for mn in (MN_A, MN_B, MN_LOOSE))


def test_role_without_data_sees_no_devices(client: TestClient, world: World) -> None:
    with world.engine.begin() as conn:
        if store.user_for_login(conn, "agency1") is None:
            fields = {"name": "某检测", "credit_code": credit_code(982, "9133010200098"), "code": "JCX"}
            agency = create_agency(conn, fields | {"region_code": "330102"}, utcnow())
            store.create_user(
                conn,
                "agency1",
                PASSWORD,
                {"role": "agency", "agency_id": agency["id"]},
                utcnow(),
                min_password_length=10,
            )
    login(client, "agency1")
    home = client.get("/home")
    assert (
        home.status_code == 200 and "暂无可查看的监控数据" in home.text and 'href="/devices"' not in home.text
    )
    r = client.get("/devices")
    assert r.status_code == 403 and "无权访问" in r.text


def test_locale_negotiation(client: TestClient) -> None:
    assert _from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert _from_accept_language("fr, zh-TW;q=0.5, en;q=0.4") == "zh_CN"
    assert _from_accept_language("en;q=0, de") is None
    assert _from_accept_language("") is None
    assert 'lang="zh-CN"' in client.get("/login").text  # nothing asked: Chinese
    assert 'lang="en"' in client.get("/login", headers={"Accept-Language": "en"}).text
    client.cookies.set("lang", "zh_CN")  # the switch's cookie wins over the header
    assert 'lang="zh-CN"' in client.get("/login", headers={"Accept-Language": "en"}).text
    assert client.get("/lang/fr", follow_redirects=False).status_code == 404
