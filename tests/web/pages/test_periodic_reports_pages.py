"""The periodic reports pages over the real app (/reports/periodic and /reports/periodic/{id}): the list and
its generate form (CSRF, refusals shown in the form), the figures preview with its bars, in Chinese and
English, per role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.reports.periodic_schema import report_files
from envwatch.web.app import create_app
from tests.reports.periodic_world import PeriodicWorld, build_world
from tests.web.pages.conftest import create_users, row_count
from tests.web.pages.test_pages import login


@dataclass
class Pages:
    client: TestClient
    engine: Engine
    w: PeriodicWorld


@pytest.fixture
def pages(settings: Settings, sqlite_engine: Engine) -> Iterator[Pages]:
    settings = settings.model_copy(update={"cookie_secure": False})  # plain http test client
    w = build_world(sqlite_engine)
    with sqlite_engine.begin() as conn:
        create_users(conn, [
            ("admin1", {"role": "admin"}),
            ("reg_hz", {"role": "regulator", "region_code": "3301"}),
            ("ent_jia", {"role": "enterprise", "enterprise_id": w.jia}),
            ("op_jia", {"role": "operator", "operator_id": w.op}),
            ("staff", {"role": "field_staff", "operator_id": w.op}),
        ], utcnow())  # fmt: skip
    with TestClient(create_app(settings, sqlite_engine)) as client:
        yield Pages(client, sqlite_engine, w)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _generate(c: TestClient, **form: str) -> object:
    page = c.get("/reports/periodic")
    data = {"csrf_token": _csrf(page.text), **form}
    return c.post("/reports/periodic", data=data, follow_redirects=False)


def test_generate_and_preview_in_both_languages(pages: Pages) -> None:
    c = pages.client
    login(c, "admin1")
    empty = c.get("/reports/periodic")
    assert empty.status_code == 200 and 'id="no-reports"' in empty.text
    assert "<h1>定期报告</h1>" in empty.text and 'aria-current="page">定期报告' in empty.text
    made = _generate(c, period="month", of="2026-09", scope_kind="all", scope_ref="")
    assert made.status_code == 303  # type: ignore[attr-defined]
    target = made.headers["location"]  # type: ignore[attr-defined]
    report_id = int(re.search(r"/reports/periodic/(\d+)", target).group(1))  # type: ignore[union-attr]
    detail = c.get(target)
    assert detail.status_code == 200 and 'id="done"' in detail.text
    assert 'id="n-exceedances">2<' in detail.text and 'id="n-exceedance-hours">28.00<' in detail.text
    assert 'id="n-findings-new">2<' in detail.text and 'data-rule="SX-20.3-7D"' in detail.text
    assert '<svg class="bar"' in detail.text and "style=" not in detail.text.split("<main", 1)[-1]
    assert f'href="/api/v1/reports/periodic/{report_id}/pdf"' in detail.text
    listed = c.get("/reports/periodic")
    assert f'data-report="{report_id}"' in listed.text and "月报" in listed.text
    c.cookies.set("lang", "en")
    english = c.get(f"/reports/periodic/{report_id}")
    assert "Headline numbers" in english.text and "Monthly report 2026-09" in english.text
    assert "<h1>Periodic reports</h1>" in c.get("/reports/periodic").text
    assert c.get("/reports/periodic/999").status_code == 404


def test_refusals_in_the_form_and_roles(pages: Pages) -> None:
    c = pages.client
    login(c, "ent_jia")
    page = c.get("/reports/periodic")
    assert 'value="enterprise"' in page.text and 'value="all"' not in page.text
    bad = _generate(c, period="month", of="2026-13", scope_kind="enterprise", scope_ref=str(pages.w.jia))
    assert bad.status_code == 422 and 'id="problem"' in bad.text and "2026-13" in bad.text  # type: ignore[attr-defined]
    before = row_count(pages.engine, report_files)
    other = _generate(c, period="month", of="2026-09", scope_kind="enterprise", scope_ref=str(pages.w.yi))
    assert other.status_code == 404 and row_count(pages.engine, report_files) == before  # type: ignore[attr-defined]
    good = _generate(c, period="day", of="2026-09-10", scope_kind="enterprise", scope_ref=str(pages.w.jia))
    assert good.status_code == 303  # type: ignore[attr-defined]
    no_csrf = c.post("/reports/periodic", data={"period": "month", "of": "2026-09", "scope_kind": "enterprise",
                                                "scope_ref": str(pages.w.jia)})  # fmt: skip
    assert no_csrf.status_code == 403
    login(c, "reg_hz")  # its city sees the enterprise report of 甲
    assert 'data-report="' in c.get("/reports/periodic").text
    login(c, "op_jia")  # not the enterprise's report
    assert 'id="no-reports"' in c.get("/reports/periodic").text
    login(c, "staff")
    assert c.get("/reports/periodic").status_code == 403
