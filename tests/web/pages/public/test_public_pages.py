"""The public disclosure pages over HTTP (SX-7): anonymous access, what is (not) shown, withdrawn
enterprises, caching; the settings page: scope (404), roles (403), CSRF, errors in the form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from envwatch.core.db import make_engine
from envwatch.migrations import current_revision, upgrade
from envwatch.web.app import create_app
from envwatch.web.pages.render import SECURITY_HEADERS
from tests.web.pages.conftest import page_settings
from tests.web.pages.public.conftest import INVALID_HOUR, MN_A, OVER_HOUR, PublicWorld
from tests.web.pages.test_pages import login


@pytest.fixture
def client(public_world: PublicWorld) -> Iterator[TestClient]:
    with TestClient(create_app(public_world.settings, public_world.engine)) as c:
        yield c


def _token(client: TestClient, query: str = "") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/disclosure" + query).text)
    assert found is not None
    return found.group(1)


def _hour_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-outcome="\w+".*?</tr>', html, re.S)


# ---- /public and /public/{code}: anonymous ----


def test_the_list_is_public_and_searchable(client: TestClient, public_world: PublicWorld) -> None:
    r = client.get("/public")
    assert r.status_code == 200 and "set-cookie" not in r.headers
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    assert "甲化工有限公司" in r.text and "乙热电有限公司" in r.text
    assert "丙水泥有限公司" not in r.text  # withdrawn by the admin
    assert 'href="/logout"' not in r.text and "csrf_token" not in r.text
    r = client.get("/public", params={"q": "热电"})
    assert "乙热电有限公司" in r.text and "甲化工有限公司" not in r.text
    r = client.get("/public", params={"region": "3301"})
    assert "甲化工有限公司" in r.text and "乙热电有限公司" not in r.text
    r = client.get("/public", params={"region": "3x"})
    assert r.status_code == 422 and "筛选条件无效：" in r.text


def test_the_enterprise_page_shows_hours_days_and_limits(
    client: TestClient, public_world: PublicWorld
) -> None:
    code = public_world.codes["甲"]
    r = client.get(f"/public/{code}")  # default: yesterday
    assert r.status_code == 200 and "set-cookie" not in r.headers
    assert r.headers["cache-control"] == "public, max-age=300" and "Accept-Language" in r.headers["vary"]
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    page = r.text
    yesterday = public_world.today - timedelta(days=1)
    assert "甲化工有限公司" in page and code in page and "330102" in page and "甲化工有限公司路1号" in page
    assert "DA001" in page and "二氧化硫" in page and "GB 13223-2011" in page
    assert f'value="{yesterday.isoformat()}"' in page
    rows = _hour_rows(page)
    assert len(rows) == 24
    over = [row for row in rows if 'data-over="1"' in row]
    assert len(over) == 1 and f"<time>{OVER_HOUR:02d}:00</time>" in over[0]
    invalid = next(row for row in rows if f"<time>{INVALID_HOUR:02d}:00</time>" in row)
    assert 'data-outcome="invalid"' in invalid and 'data-over="1"' not in invalid
    # the month's days: yesterday within the day limit; the day before above it
    assert re.search(rf'<tr data-day="{yesterday.isoformat()}">.*?</tr>', page, re.S) is not None
    before = yesterday - timedelta(days=1)
    r = client.get(f"/public/{code}", params={"day": before.isoformat(), "outlet": "DA001"})
    day_row = re.search(rf'<tr data-day="{before.isoformat()}">.*?</tr>', r.text, re.S)
    assert day_row is not None and 'data-over="1"' in day_row.group(0)
    assert len([row for row in _hour_rows(r.text) if 'data-over="1"' in row]) == 24


def test_the_public_page_shows_no_internals(client: TestClient, public_world: PublicWorld) -> None:
    login(client, "pub_admin")  # even for a logged-in visitor the public page is the anonymous one
    page = client.get(f"/public/{public_world.codes['甲']}").text
    for secret in (MN_A, "123456", "pub_admin", "pub_ent_a", "王管理", "csrf_token", "password", "Flag"):
        assert secret not in page, secret


def test_today_is_allowed_the_future_is_not(client: TestClient, public_world: PublicWorld) -> None:
    code = public_world.codes["甲"]
    r = client.get(f"/public/{code}", params={"day": public_world.today.isoformat()})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    future = public_world.today + timedelta(days=1)
    r = client.get(f"/public/{code}", params={"day": future.isoformat()})
    assert (
        r.status_code == 422 and "is in the future" in r.text and "public" not in r.headers["cache-control"]
    )
    r = client.get(f"/public/{code}", params={"day": "yesterday"})
    assert r.status_code == 422 and "is not a day" in r.text


def test_withdrawn_and_unknown_enterprises_get_the_same_404(
    client: TestClient, public_world: PublicWorld
) -> None:
    withdrawn = client.get(f"/public/{public_world.codes['丙']}")
    unknown = client.get("/public/91330102000019999X")
    assert withdrawn.status_code == unknown.status_code == 404
    assert "企业已关停" not in withdrawn.text
    assert withdrawn.text.replace(public_world.codes["丙"], "X") == unknown.text.replace(
        "91330102000019999X", "X"
    )


def test_english(client: TestClient, public_world: PublicWorld) -> None:
    client.cookies.set("lang", "en")
    page = client.get(f"/public/{public_world.codes['甲']}").text
    assert "sulphur dioxide" in page and "Hourly values of" in page and 'lang="en"' in page


# ---- /disclosure: settings ----


def test_disclosure_needs_a_login(client: TestClient) -> None:
    r = client.get("/disclosure", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/disclosure"


def test_the_enterprise_edits_its_statement(client: TestClient, public_world: PublicWorld) -> None:
    login(client, "pub_ent_a")
    page = client.get("/disclosure").text
    assert "甲化工有限公司" in page and f"/public/{public_world.codes['甲']}" in page
    assert 'name="published"' not in page  # only an admin decides publication
    form = {
        "csrf_token": _token(client),
        "enterprise": str(public_world.ids["甲"]),
        "contact_name": "李环保",
        "contact_phone": "0571-8888 6666",
        "statement": "我司自动监测数据实时公开。\n欢迎监督。",
    }
    r = client.post("/disclosure", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert 'id="saved"' in page and "pub_ent_a" in page  # the history names who changed it
    public = client.get(f"/public/{public_world.codes['甲']}").text
    assert "我司自动监测数据实时公开。" in public and "0571-8888 6666" in public and "pub_ent_a" not in public
    # the enterprise cannot withdraw itself, even by forging the field
    r = client.post("/disclosure", data=form | {"published": "0", "reason": "不想公开"})
    assert r.status_code == 403
    # a statement that is too long comes back in the form (the English page: its lead-in is a msgid)
    client.cookies.set("lang", "en")
    r = client.post("/disclosure", data=form | {"statement": "长" * 2001})
    assert r.status_code == 422 and "The settings were not saved: the statement has 2001" in r.text


def test_another_enterprise_is_not_found(client: TestClient, public_world: PublicWorld) -> None:
    login(client, "pub_ent_b")
    a = public_world.ids["甲"]
    assert client.get(f"/disclosure?enterprise={a}").status_code == 404
    missing = client.get("/disclosure?enterprise=99999")
    assert missing.status_code == 404
    form = {"csrf_token": _token(client), "enterprise": str(a), "statement": "乙改甲"}
    r = client.post("/disclosure", data=form)
    assert r.status_code == 404 and "乙改甲" not in client.get(f"/public/{public_world.codes['甲']}").text


def test_other_roles_may_not_change(client: TestClient, public_world: PublicWorld) -> None:
    login(client, "pub_reg")
    a, b = public_world.ids["甲"], public_world.ids["乙"]
    assert client.get(f"/disclosure?enterprise={a}").status_code == 403  # visible, not theirs to change
    assert client.get(f"/disclosure?enterprise={b}").status_code == 404  # not in 浙江: not found first
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert token is not None
    r = client.post(
        "/disclosure", data={"csrf_token": token.group(1), "enterprise": str(a), "statement": "x"}
    )
    assert r.status_code == 403


def test_csrf_is_checked(client: TestClient, public_world: PublicWorld) -> None:
    login(client, "pub_ent_a")
    form = {"enterprise": str(public_world.ids["甲"]), "statement": "没有令牌"}
    assert client.post("/disclosure", data=form).status_code == 403
    assert client.post("/disclosure", data=form | {"csrf_token": "wrong"}).status_code == 403


def test_the_admin_withdraws_with_a_reason_and_publishes_again(
    client: TestClient, public_world: PublicWorld
) -> None:
    login(client, "pub_admin")
    b = public_world.ids["乙"]
    page = client.get("/disclosure").text
    assert 'id="pick-enterprise"' in page and "乙热电有限公司" in page
    token = _token(client, f"?enterprise={b}")
    form = {"csrf_token": token, "enterprise": str(b), "contact_name": "", "statement": ""}
    r = client.post("/disclosure", data=form | {"published": "0", "reason": " "})
    assert r.status_code == 422 and "reason" in r.text
    r = client.post(
        "/disclosure", data=form | {"published": "0", "reason": "停产整顿"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert client.get(f"/public/{public_world.codes['乙']}").status_code == 404
    assert "乙热电有限公司" not in client.get("/public").text
    page = client.get(f"/disclosure?enterprise={b}").text
    assert "停产整顿" in page and "pub_admin" in page
    r = client.post("/disclosure", data=form | {"published": "1"}, follow_redirects=False)
    assert r.status_code == 303 and client.get(f"/public/{public_world.codes['乙']}").status_code == 200


# ---- the migration ----


def test_migration_on_a_fresh_store_and_append_only(tmp_path: Path) -> None:
    engine = make_engine(page_settings(tmp_path / "var"))
    upgrade(engine)
    assert current_revision(engine) is not None
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO enterprises (name, credit_code, region_code, industry, attention_level, address, "
                "created_at, updated_at) VALUES ('x', '913301020000000000', '330102', '', 'other', '', "
                "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"
            )
        )
        c.execute(
            text(
                "INSERT INTO disclosure_settings (enterprise_id, published, contact_name, contact_phone, "
                "statement, reason, changed_by, changed_at) VALUES (1, 1, '', '', 's', '', 'u', "
                "'2026-01-01 00:00:00.000000')"
            )
        )
    for sql in ("UPDATE disclosure_settings SET statement = 't'", "DELETE FROM disclosure_settings"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as c:
            c.execute(text(sql))
    engine.dispose()
