"""The certification pack page (/compliance/pack) in Chinese and English: KPIs, files with row counts, the
download link, the history; the operator fixed for an operator and an auditor; refusals (the viewer is
given through the page dependency; logging in is tested elsewhere)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from envwatch.web.auth import Principal
from envwatch.web.pages.session import Viewer, current_viewer
from tests.operations.records_world import RecordsWorld
from tests.reports.test_certification_pack_world import FIRST, LAST, build_quarter

Q3 = f"from={FIRST.isoformat()}&to={LAST.isoformat()}"


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[tuple[TestClient, RecordsWorld]]:
    w, _ = build_quarter(sqlite_engine, settings)
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as client:
        yield client, w
    app.dependency_overrides.clear()


def as_(client: TestClient, principal: Principal, lang: str = "zh_CN") -> TestClient:
    viewer = Viewer(principal, {"username": principal.name, "display_name": principal.name}, "csrf")
    client.app.dependency_overrides[current_viewer] = lambda: viewer  # type: ignore[attr-defined]
    client.cookies.set("lang", lang)
    return client


@pytest.mark.parametrize(("lang", "words"), [("zh_CN", "认证证据包"), ("en", "Certification evidence pack")])
def test_admin_sees_kpis_files_and_history(
    world: tuple[TestClient, RecordsWorld], lang: str, words: str
) -> None:
    client, w = world
    page = as_(client, Principal("admin", "admin"), lang)
    html = page.get(f"/compliance/pack?operator_id={w.op}&{Q3}").text
    assert words in html and 'id="compliance-tabs"' in html and 'aria-current="page">' in html
    assert 'data-kpi="satisfaction" data-met="no"' in html and 'data-kpi="drills" data-met="yes"' in html
    assert 'data-file="tickets/tickets.csv"' in html and 'data-rows="2"' in html
    assert f'href="/api/v1/operators/{w.op}/certification-pack?from=2026-07-01&amp;to=2026-09-30"' in html
    assert 'id="pack-same"' not in html
    assert page.get(f"/api/v1/operators/{w.op}/certification-pack?{Q3}").status_code in (200, 401)


def test_same_as_shown_after_a_make(world: tuple[TestClient, RecordsWorld]) -> None:
    client, w = world
    from envwatch.reports.certification_pack import make_pack
    from tests.operations.records_world import NOW

    state = client.app.state  # type: ignore[attr-defined]
    made = make_pack(state.engine, state.settings, w.op, FIRST, LAST, out=None, made_by="admin", now=NOW)
    html = (
        as_(client, Principal("admin", "admin"), "en").get(f"/compliance/pack?operator_id={w.op}&{Q3}").text
    )
    assert f'data-pack="{made.id}"' in html
    # the page judges the clocks as of now, the make above as of the world's day: same data, same figures
    if made.result.sha256 in html:
        assert f"The data has not changed since pack #{made.id}" in html


def test_operator_and_auditor_fixed_and_refusals(world: tuple[TestClient, RecordsWorld]) -> None:
    client, w = world
    html = as_(client, Principal("op", "operator", operator_id=w.op)).get("/compliance/pack").text
    assert 'name="operator_id"' not in html and 'id="pack-kpis"' in html  # last complete quarter by default
    auditor = Principal("aud", "auditor", operator_id=w.op, period=(FIRST, date(2026, 7, 31)))
    page = as_(client, auditor, "en")
    html = page.get("/compliance/pack").text
    assert 'value="2026-07-31"' in html and 'id="pack-kpis"' in html
    assert page.get(f"/compliance/pack?{Q3}").status_code == 403  # outside its period
    assert (
        as_(client, Principal("fs", "field_staff", operator_id=w.op)).get("/compliance/pack").status_code
        == 403
    )
    admin = as_(client, Principal("admin", "admin"), "en")
    assert 'id="pack-choose"' in admin.get("/compliance/pack").text
    assert admin.get(f"/compliance/pack?operator_id={w.op}&from=2026-07-01&to=bad").status_code == 422
