"""The statistics page (/sampling/stats, WZ-A2-14) over HTTP and in a real browser: the agencies each role
sees with their figures, the links to the sample list, the period picker and its errors, the workbook, and
the page on a desktop and a phone (screenshots ``sampling-stats-*``)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from tests.sampling.conftest import SamplingWorld, build_sampling_world
from tests.sampling.test_stats import story
from tests.web.pages.browser import Tab, tab_per_viewport
from tests.web.pages.conftest import create_users, fresh_store, serving
from tests.web.pages.test_pages import login

DAY = "from=2026-11-23&to=2026-11-24"  # the sampling world's day
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@dataclass(frozen=True)
class StatsWorld:
    settings: Settings
    engine: Engine
    sampling: SamplingWorld


@pytest.fixture(scope="module")
def stats_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StatsWorld]:
    with fresh_store(tmp_path_factory.mktemp("sampling_stats") / "var") as (settings, engine):
        world = build_sampling_world(engine)
        story(world)
        with engine.begin() as conn:
            create_users(
                conn,
                [
                    ("admin1", {"role": "admin"}),
                    ("reg_wz", {"role": "regulator", "region_code": "3303", "display_name": "温州市局"}),
                    ("reg_hb", {"role": "regulator", "region_code": "42"}),
                    ("wzjc", {"role": "agency", "agency_id": world.agency}),
                    ("ent_jia", {"role": "enterprise", "enterprise_id": world.enterprises["jia"]}),
                ],
                utcnow(),
            )
        yield StatsWorld(settings, engine, world)


@pytest.fixture
def client(stats_world: StatsWorld) -> Iterator[TestClient]:
    with TestClient(create_app(stats_world.settings, stats_world.engine)) as c:
        yield c


def _rows(html: str) -> dict[str, str]:
    """The table's rows by ``data-agency``."""
    return dict(re.findall(r'<tr data-agency="([^"]+)">(.*?)</tr>', html, re.S))


def _figure(row: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]+)<', row)
    assert found is not None, (name, row)
    return found.group(1)


def test_each_role_sees_its_agencies(client: TestClient, stats_world: StatsWorld) -> None:
    w = stats_world.sampling
    login(client, "admin1")
    assert set(_rows(client.get(f"/sampling/stats?{DAY}").text)) == {
        str(w.agency),
        str(w.other_agency),
        "totals",
    }
    login(client, "reg_wz")
    assert set(_rows(client.get(f"/sampling/stats?{DAY}").text)) == {str(w.agency)}
    login(client, "wzjc")
    assert set(_rows(client.get(f"/sampling/stats?{DAY}").text)) == {str(w.agency)}
    login(client, "reg_hb")
    html = client.get(f"/sampling/stats?{DAY}").text
    assert _rows(html) == {} and 'id="no-agencies"' in html
    login(client, "ent_jia")
    r = client.get(f"/sampling/stats?{DAY}")
    assert r.status_code == 403 and "may not read the sampling statistics" in r.text
    assert client.get(f"/sampling/stats.xlsx?{DAY}").status_code == 403


def test_figures_and_their_sample_lists(client: TestClient, stats_world: StatsWorld) -> None:
    w = stats_world.sampling
    login(client, "reg_wz")
    html = client.get(f"/sampling/stats?{DAY}").text
    row = _rows(html)[str(w.agency)]
    figures = {
        n: _figure(row, n) for n in ("registered", "late_entries", "reprints", "anomalies", "rejections")
    }
    assert figures == {
        "registered": "6",
        "late_entries": "3",
        "reprints": "2",
        "anomalies": "2",
        "rejections": "1",
    }
    assert "60.0 / 100" in row and _figure(row, "training") == "4 / 8"
    links = {
        name: parse_qs(urlsplit(href.replace("&amp;", "&")).query)
        for href, name in re.findall(r'<a href="(/sampling/samples\?[^"]+)" data-figure="([^"]+)"', row)
    }
    base = {"agency_id": [str(w.agency)], "from": ["2026-11-23"], "to": ["2026-11-24"]}
    assert links == {
        "registered": base,
        "pending_review": base | {"needs_review": ["yes"]},
        "rejections": base | {"state": ["rejected"]},
    }


def test_period_picker_and_errors(client: TestClient) -> None:
    login(client, "admin1")
    page = client.get("/sampling/stats")
    assert page.status_code == 200
    shortcuts = re.findall(r'<a href="(/sampling/stats\?[^"]+)"', page.text)
    assert len(shortcuts) == 3 and all("from=" in s and "to=" in s for s in shortcuts)
    bad = client.get("/sampling/stats?from=2026-12-01&to=2026-11-01")
    assert bad.status_code == 422 and 'id="stats-error"' in bad.text and "must come after from" in bad.text
    assert 'value="2026-12-01"' in bad.text  # the form keeps what was typed
    assert client.get("/sampling/stats?from=someday&to=2026-11-01").status_code == 422
    assert client.get("/sampling/stats.xlsx?from=someday&to=2026-11-01").status_code == 422


def test_workbook_link(client: TestClient) -> None:
    login(client, "wzjc")
    html = client.get(f"/sampling/stats?{DAY}").text
    link = re.search(r'<a href="([^"]+)" id="xlsx"', html)
    assert link is not None
    r = client.get(link.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxml")
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert [r[0] for r in rows[2:]] == ["温州检测", "合计 total"]


def test_needs_a_login(client: TestClient) -> None:
    for path in ("/sampling/stats", "/sampling/stats.xlsx"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


# ---- in a browser ----


@pytest.fixture(scope="module")
def base_url(stats_world: StatsWorld) -> Iterator[str]:
    with serving(stats_world.settings, stats_world.engine) as url:
        yield url


@pytest.fixture(params=list(VIEWPORTS))
def tab(request: pytest.FixtureRequest, browser: Any, base_url: str) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, base_url, VIEWPORTS)


@pytest.mark.timeout(120)
def test_in_a_browser(tab: tuple[str, Tab], stats_world: StatsWorld, screenshots: Path) -> None:
    name, t = tab
    page = t.page
    t.go(f"/sampling/stats?{DAY}")
    t.login("admin1")
    registered = page.locator(f'tr[data-agency="{stats_world.sampling.agency}"] [data-figure="registered"]')
    assert registered.inner_text() == "6"
    assert page.locator("h1").inner_text() == "各检测机构采样统计"
    t.shot(screenshots, f"sampling-stats-{name}")
    if name == "phone":
        t.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)
    page.fill('input[name="from"]', "2026-11-24")
    page.fill('input[name="to"]', "2026-12-01")
    page.click("#stats-form button[type=submit]")
    page.wait_for_load_state()
    assert registered.inner_text() == "0"
    t.check_clean()
