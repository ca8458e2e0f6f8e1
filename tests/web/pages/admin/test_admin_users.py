"""User administration over HTTP: list without secrets, create with the role's scope, edit, reset the
password, disable/enable, the admin's own account protected, audit rows."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.web.accounts.schema import audit_log, users
from envwatch.web.app import create_app
from tests.web.pages.admin.conftest import AdminWorld

Admin = tuple[TestClient, str]
NEW_PASSWORD = "another long secret"


def _problem(page: str) -> str:
    found = re.search(r'role="alert" id="problem">(.*?)</p>', page, re.S)
    assert found is not None, "no problem shown"
    return html.unescape(found.group(1)).strip()


def _user(aworld: AdminWorld, username: str) -> dict[str, object] | None:
    with aworld.engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    return None if row is None else dict(row._mapping)


def _can_log_in(aworld: AdminWorld, username: str, password: str) -> bool:
    with TestClient(create_app(aworld.settings, aworld.engine)) as client:
        r = client.post("/login", data={"username": username, "password": password}, follow_redirects=False)
        return r.status_code == 303


def test_list_shows_users_and_scopes_without_secrets(admin: Admin, aworld: AdminWorld) -> None:
    client, _token = admin
    page = client.get("/admin/users").text
    for username in ("admin1", "ent_a", "reg_zj", "op_a"):
        assert f'data-user="{username}"' in page
    assert "甲化工有限公司" in page and "丙运维有限公司" in page  # scopes by name
    assert "$argon2" not in page and "password_hash" not in page
    # admin1 logged in through the page: the audit trail's login time is shown
    row = re.search(r'data-user="admin1".*?</tr>', page, re.S)
    assert row is not None and "<time>" in row.group(0)


def test_create_user_needs_the_role_scope_and_matching_passwords(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    form = {
        "csrf_token": token,
        "username": "ent_new",
        "display_name": "新企业用户",
        "role": "enterprise",
        "password": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    r = client.post("/admin/users", data=form)
    assert r.status_code == 422
    assert _problem(r.text) == "The user was not created: role enterprise needs enterprise_id"
    assert NEW_PASSWORD not in r.text and 'value="ent_new"' in r.text
    r = client.post(
        "/admin/users", data=form | {"enterprise_id": str(aworld.enterprise_a), "password2": "x" * 12}
    )
    assert r.status_code == 422 and _problem(r.text).startswith("The two passwords differ")
    r = client.post(
        "/admin/users", data=form | {"enterprise_id": str(aworld.enterprise_a), "region_code": "33"}
    )
    assert r.status_code == 422 and "takes no region_code" in _problem(r.text)
    short = {"password": "short", "password2": "short", "enterprise_id": str(aworld.enterprise_a)}
    r = client.post("/admin/users", data=form | short)
    assert r.status_code == 422 and "password too short" in _problem(r.text)
    assert _user(aworld, "ent_new") is None

    r = client.post(
        "/admin/users", data=form | {"enterprise_id": str(aworld.enterprise_a)}, follow_redirects=False
    )
    assert r.status_code == 303
    assert _can_log_in(aworld, "ent_new", NEW_PASSWORD)
    with aworld.engine.connect() as conn:
        audit = conn.execute(select(audit_log).where(audit_log.c.path == "/admin/users")).all()
    assert [a.status_code for a in audit][-5:] == [422, 422, 422, 422, 303]
    assert audit[-1].detail == {"username": "ent_new", "role": "enterprise"}
    assert all(NEW_PASSWORD not in str(a.detail) for a in audit)


def test_edit_reset_disable_enable(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    r = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "reg_new",
            "role": "regulator",
            "region_code": "3301",
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    user = _user(aworld, "reg_new")
    assert user is not None
    uid = user["id"]
    # to an enterprise user: the region must go (check_scope), then it works
    edit = {"csrf_token": token, "role": "enterprise", "display_name": "改为企业", "region_code": "3301"}
    r = client.post(f"/admin/users/{uid}", data=edit | {"enterprise_id": str(aworld.enterprise_b)})
    assert r.status_code == 422 and "takes no region_code" in _problem(r.text)
    edit |= {"region_code": "", "enterprise_id": str(aworld.enterprise_b)}
    assert client.post(f"/admin/users/{uid}", data=edit, follow_redirects=False).status_code == 303
    user = _user(aworld, "reg_new")
    assert user is not None and (user["role"], user["region_code"], user["enterprise_id"]) == (
        "enterprise",
        None,
        aworld.enterprise_b,
    )
    # password reset (twice the same, or refused)
    r = client.post(
        f"/admin/users/{uid}/password",
        data={"csrf_token": token, "password": "x" * 12, "password2": "y" * 12},
    )
    assert r.status_code == 422 and _problem(r.text).startswith("The two passwords differ")
    pw = {"csrf_token": token, "password": "a brand new secret", "password2": "a brand new secret"}
    assert client.post(f"/admin/users/{uid}/password", data=pw, follow_redirects=False).status_code == 303
    assert _can_log_in(aworld, "reg_new", "a brand new secret")
    # disable, enable
    assert (
        client.post(
            f"/admin/users/{uid}/active", data={"csrf_token": token, "active": "0"}, follow_redirects=False
        ).status_code
        == 303
    )
    assert 'data-user="reg_new" data-active="0"' in client.get("/admin/users").text
    assert not _can_log_in(aworld, "reg_new", "a brand new secret")
    assert (
        client.post(
            f"/admin/users/{uid}/active", data={"csrf_token": token, "active": "1"}, follow_redirects=False
        ).status_code
        == 303
    )
    assert _can_log_in(aworld, "reg_new", "a brand new secret")


def test_admin_cannot_lock_themselves_out(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    me = _user(aworld, "admin1")
    assert me is not None
    r = client.post(f"/admin/users/{me['id']}/active", data={"csrf_token": token, "active": "0"})
    assert r.status_code == 422 and "your own" in _problem(r.text)
    r = client.post(
        f"/admin/users/{me['id']}", data={"csrf_token": token, "role": "regulator", "region_code": "33"}
    )
    assert r.status_code == 422 and "your own" in _problem(r.text)
    me_after = _user(aworld, "admin1")
    assert me_after is not None and me_after["role"] == "admin" and me_after["active"]


def test_unknown_user_is_shown_in_the_form(admin: Admin) -> None:
    client, token = admin
    r = client.post("/admin/users/9999", data={"csrf_token": token, "role": "admin"})
    assert r.status_code == 404 and "no user with id 9999" in _problem(r.text)
