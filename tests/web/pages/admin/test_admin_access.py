"""Access to the admin pages: 403 for every other role on every GET and POST, CSRF, audit rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.web.accounts.schema import audit_log
from envwatch.web.app import create_app
from tests.web.pages.admin.conftest import MN_2025, NON_ADMINS, AdminWorld, login

GETS = (
    "/admin",
    "/admin/registry",
    "/admin/registry/enterprises",
    "/admin/registry/outlets",
    "/admin/registry/devices",
    f"/admin/registry/devices/{MN_2025}",
    "/admin/registry/limits",
    "/admin/registry/operators",
    "/admin/registry/contracts",
    "/admin/registry/import",
    "/admin/registry/export",
    "/admin/users",
)
POSTS = (
    "/admin/registry/enterprises",
    "/admin/registry/enterprises/1",
    "/admin/registry/outlets",
    "/admin/registry/outlets/1",
    "/admin/registry/devices",
    f"/admin/registry/devices/{MN_2025}/outlet",
    f"/admin/registry/devices/{MN_2025}/factors",
    f"/admin/registry/devices/{MN_2025}/keys",
    "/admin/registry/limits",
    "/admin/registry/operators",
    "/admin/registry/operators/1",
    "/admin/registry/contracts",
    "/admin/registry/contracts/1",
    "/admin/registry/import",
    "/admin/registry/import/confirm",
    "/admin/users",
    "/admin/users/1",
    "/admin/users/1/password",
    "/admin/users/1/active",
)


@pytest.fixture(params=NON_ADMINS)
def other(request: pytest.FixtureRequest, aworld: AdminWorld) -> Iterator[tuple[TestClient, str, str]]:
    with TestClient(create_app(aworld.settings, aworld.engine)) as client:
        yield client, login(client, request.param), request.param


def _audit(aworld: AdminWorld, username: str, path: str) -> list[int]:
    with aworld.engine.connect() as conn:
        query = select(audit_log.c.status_code).where(
            audit_log.c.username == username, audit_log.c.path == path
        )
        return list(conn.execute(query).scalars())


def test_other_roles_get_403_everywhere(other: tuple[TestClient, str, str], aworld: AdminWorld) -> None:
    client, token, username = other
    for path in GETS:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 403, path
        assert "Not allowed" in r.text or "不允许" in r.text
    for path in POSTS:
        # a valid CSRF token and a plausible body: the role alone refuses
        r = client.post(path, data={"csrf_token": token, "name": "x", "active": "0"}, follow_redirects=False)
        assert r.status_code == 403, path
    # the refusals are in the audit trail, like the API's
    assert _audit(aworld, username, "/admin/users") == [403]
    assert _audit(aworld, username, f"/admin/registry/devices/{MN_2025}/keys") == [403]


def test_admin_nav_links_only_for_admin(other: tuple[TestClient, str, str]) -> None:
    client, _token, _username = other
    assert 'href="/admin/registry"' not in client.get("/home").text


def test_logged_out_is_sent_to_login(aworld: AdminWorld) -> None:
    with TestClient(create_app(aworld.settings, aworld.engine)) as client:
        r = client.get("/admin/users", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/admin/users"
        assert client.post("/admin/users", data={}, follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", POSTS)
def test_post_without_csrf_is_403(admin: tuple[TestClient, str], path: str) -> None:
    client, _token = admin
    r = client.post(path, data={"name": "x", "csrf_token": "wrong"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(path, data={"name": "x"}, follow_redirects=False)
    assert r.status_code == 403


def test_export_is_audited_and_not_cached(admin: tuple[TestClient, str], aworld: AdminWorld) -> None:
    client, _token = admin
    before = _audit(aworld, "admin1", "/admin/registry/export")
    r = client.get("/admin/registry/export")
    assert r.status_code == 200 and r.content[:2] == b"PK"  # a zip: the xlsx
    assert r.headers["cache-control"] == "no-store"
    assert "attachment" in r.headers["content-disposition"]
    assert _audit(aworld, "admin1", "/admin/registry/export") == [*before, 200]
