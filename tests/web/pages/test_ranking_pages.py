"""The operator ranking and credit file pages over the real app (/compliance/operators, /compliance/operators/{id}):
what each role sees, the last place and blacklist badges, publishing and adding a credit event through the
page forms (CSRF), the form errors and the refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.compliance import credit
from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from tests.compliance.assessment_world import q3_work, world
from tests.operations.records_world import RecordsWorld
from tests.web.pages.conftest import create_users
from tests.web.pages.test_pages import login

Q3 = "/compliance/operators?quarter=2026Q3"


@dataclass
class Pages:
    settings: Settings
    engine: Engine
    w: RecordsWorld
    opened: list[TestClient] = field(default_factory=list)

    def client(self, username: str) -> TestClient:
        c = TestClient(create_app(self.settings, self.engine))
        c.__enter__()
        self.opened.append(c)
        login(c, username)
        return c


@pytest.fixture
def pages(settings: Settings, sqlite_engine: Engine) -> Iterator[Pages]:
    w = world(sqlite_engine, settings)
    q3_work(sqlite_engine, settings, w)
    with sqlite_engine.begin() as conn:
        create_users(
            conn,
            [
                ("admin1", {"role": "admin"}),
                ("reg_hz", {"role": "regulator", "region_code": "330100"}),
                ("op_jia", {"role": "operator", "operator_id": w.op}),
                ("op_yi", {"role": "operator", "operator_id": w.other_op}),
                ("ent_jia", {"role": "enterprise", "enterprise_id": w.enterprises["jia"]}),
            ],
            utcnow(),
        )
    # the test client speaks plain http: the session cookie must not be Secure-only
    made = Pages(settings.model_copy(update={"cookie_secure": False}), sqlite_engine, w)
    yield made
    for c in made.opened:
        c.__exit__(None, None, None)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_admin_sees_the_ranking_with_last_place_and_publishes(pages: Pages) -> None:
    c = pages.client("admin1")
    r = c.get(Q3)
    assert r.status_code == 200
    html = r.text
    assert 'id="compliance-tabs"' in html and 'aria-current="page">' in html
    assert f'data-operator="{pages.w.op}" class="last-place"' in html
    assert 'data-flag="last"' in html and "42.20" in html
    assert f'data-left-out="{pages.w.other_op}"' in html  # no tickets: response and satisfaction left out
    assert 'id="publish"' in html
    r = c.post(
        "/compliance/operators/publish",
        data={"csrf_token": _csrf(html), "quarter": "2026Q3", "region": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "done=published" in r.headers["location"]
    html = c.get(r.headers["location"]).text
    assert 'id="published"' in html and 'id="done"' in html
    # a bad quarter typed into the URL: the page says why
    r = c.get("/compliance/operators?quarter=2026Q7")
    assert r.status_code == 422 and 'id="error"' in r.text


def test_publish_needs_the_csrf_token(pages: Pages) -> None:
    c = pages.client("admin1")
    r = c.post("/compliance/operators/publish", data={"quarter": "2026Q3"}, follow_redirects=False)
    assert r.status_code == 403


def test_regulator_sees_its_region_and_adds_credit_events(pages: Pages) -> None:
    w = pages.w
    c = pages.client("reg_hz")
    html = c.get(Q3).text
    assert f'data-operator="{w.op}"' in html and f'data-operator="{w.other_op}"' not in html
    page = c.get(f"/compliance/operators/{w.op}")
    assert page.status_code == 200 and 'id="add-event"' in page.text and 'id="not-blacklisted"' in page.text
    token = _csrf(page.text)
    r = c.post(
        f"/compliance/operators/{w.op}/credit",
        data={"csrf_token": token, "kind": "blacklisted", "reason": "数据造假", "on": "", "finding_id": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303
    html = c.get(f"/compliance/operators/{w.op}").text
    assert 'id="blacklisted"' in html and "数据造假" in html
    # the conflict and an empty reason come back in the form, with what was typed
    r = c.post(
        f"/compliance/operators/{w.op}/credit",
        data={"csrf_token": token, "kind": "blacklisted", "reason": "again", "on": "", "finding_id": ""},
    )
    assert r.status_code == 409 and 'id="problem"' in r.text and "already blacklisted" in r.text
    r = c.post(
        f"/compliance/operators/{w.op}/credit",
        data={"csrf_token": token, "kind": "warning", "reason": " ", "on": "x", "finding_id": ""},
    )
    assert r.status_code == 422 and "not a date" in r.text
    # the ranking shows the badge and the blacklist
    html = c.get(Q3).text
    assert 'data-flag="blacklisted"' in html and f'data-blacklisted="{w.op}"' in html
    assert c.get(f"/compliance/operators/{w.other_op}").status_code == 404


def test_operator_sees_only_its_own_row(pages: Pages) -> None:
    w = pages.w
    c = pages.client("op_yi")
    html = c.get(Q3).text
    assert 'id="own-only"' in html
    assert f'data-operator="{w.other_op}"' in html and f'data-operator="{w.op}"' not in html
    assert "42.20" not in html and 'id="publish"' not in html
    page = c.get(f"/compliance/operators/{w.other_op}")
    assert page.status_code == 200 and 'id="add-event"' not in page.text
    assert c.get(f"/compliance/operators/{w.op}").status_code == 404
    with pages.engine.begin() as conn:
        credit.record_event(conn, w.other_op, "warning", "late reports", by="reg", now=utcnow())
    assert "late reports" in c.get(f"/compliance/operators/{w.other_op}").text
    r = c.post(
        f"/compliance/operators/{w.other_op}/credit",
        data={"csrf_token": _csrf(page.text), "kind": "note", "reason": "x"},
    )
    assert r.status_code == 403


def test_enterprise_refused(pages: Pages) -> None:
    c = pages.client("ent_jia")
    assert c.get(Q3).status_code == 403
    assert c.get(f"/compliance/operators/{pages.w.op}").status_code == 403
