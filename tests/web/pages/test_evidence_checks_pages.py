"""The archive checks pages over the real app (/evidence/checks, /evidence/storage, /evidence/self-inspections)
and one walk in a real browser (screenshots ``evidence-checks-*``): what each role sees, the period filter,
storage checks, a draw and an outcome through the page forms (CSRF), and the refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from tests.evidence.test_checks import add_video
from tests.sampling.conftest import SamplingWorld, build_sampling_world
from tests.web.pages.browser import Tab, tab_per_viewport
from tests.web.pages.conftest import create_users, fresh_store, serving
from tests.web.pages.test_pages import login

# ten days ago, 10:00 China time: every deadline of that day has passed
PAST = (utcnow() - timedelta(days=10)).replace(hour=2, minute=0, second=0, microsecond=0)
DAY = f"from={PAST:%Y-%m-%d}&to={PAST + timedelta(days=1):%Y-%m-%d}"
MONTH = f"{to_china(PAST):%Y-%m}"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def T(minutes: float) -> datetime:
    return PAST + timedelta(minutes=minutes)


@dataclass(frozen=True)
class ChecksWorld:
    settings: Settings
    engine: Engine
    sampling: SamplingWorld
    videos: dict[str, int]


@pytest.fixture(scope="module")
def checks_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChecksWorld]:
    with fresh_store(tmp_path_factory.mktemp("evidence_checks") / "var") as (settings, engine):
        w = build_sampling_world(engine, now=PAST)
        with engine.begin() as conn:
            codes = [w.register(conn, w.entry(device_at=T(m)), now=T(m))["code"] for m in (0, 10)]
            videos = {
                "partial": add_video(conn, w, T(-1), T(4), codes=codes),  # 10:04–10:10 not filmed
                "late": add_video(conn, w, T(30), T(35), stage="transport", archived_at=T(35) + 80 * timedelta(hours=1)),
                "other": add_video(conn, w, T(30), T(35), agency_id=w.other_agency, stage="analysis"),
            }  # fmt: skip
            create_users(
                conn,
                [
                    ("admin1", {"role": "admin"}),
                    ("reg_wz", {"role": "regulator", "region_code": "3303"}),
                    ("wzjc", {"role": "agency", "agency_id": w.agency}),
                    ("hzjc", {"role": "agency", "agency_id": w.other_agency}),
                    ("ent_yi", {"role": "enterprise", "enterprise_id": w.enterprises["yi"]}),
                ],
                utcnow(),
            )
        yield ChecksWorld(settings, engine, w, videos)


@pytest.fixture
def client(checks_world: ChecksWorld) -> Iterator[TestClient]:
    with TestClient(create_app(checks_world.settings, checks_world.engine)) as c:
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _kinds(html: str) -> list[str]:
    return re.findall(r'<tr data-kind="([^"]+)">', html)


def test_checks_grouped_by_rule_per_role(client: TestClient, checks_world: ChecksWorld) -> None:
    login(client, "wzjc")
    page = client.get(f"/evidence/checks?{DAY}")
    assert page.status_code == 200
    assert sorted(_kinds(page.text)) == ["gap", "late"]
    assert 'data-rule="WZ-A1-5"' in page.text and 'data-count="1"' in page.text
    assert f'href="/evidence/videos/{checks_world.videos["partial"]}"' in page.text
    assert "10:04:00–" in page.text  # the gap, from–to
    assert "<h1>存档规则检查</h1>" in page.text  # Chinese by default
    login(client, "hzjc")
    assert _kinds(client.get(f"/evidence/checks?{DAY}").text) == []
    login(client, "admin1")
    assert sorted(_kinds(client.get(f"/evidence/checks?{DAY}").text)) == ["gap", "late"]
    only_other = client.get(f"/evidence/checks?{DAY}&agency_id={checks_world.sampling.other_agency}")
    assert _kinds(only_other.text) == []
    login(client, "ent_yi")  # the findings are at 甲, not at 乙
    assert _kinds(client.get(f"/evidence/checks?{DAY}").text) == []
    bad = client.get("/evidence/checks?from=2026-12-01&to=2026-11-01")
    assert bad.status_code == 422 and 'id="checks-error"' in bad.text


def test_storage_page_and_check(client: TestClient) -> None:
    login(client, "reg_wz")
    page = client.get("/evidence/storage")
    assert page.status_code == 200 and 'id="check-form"' not in page.text
    login(client, "admin1")
    page = client.get("/evidence/storage")
    token = _csrf(page.text)
    assert client.post("/evidence/storage/check", data={}, follow_redirects=False).status_code == 403
    done = client.post("/evidence/storage/check", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/evidence/storage?done=checked"
    page = client.get(done.headers["location"])
    assert 'id="latest"' in page.text and len(re.findall(r"<tr data-check=", page.text)) >= 1
    login(client, "ent_yi")
    assert client.get("/evidence/storage").status_code == 403


def test_draw_and_review_through_the_forms(client: TestClient, checks_world: ChecksWorld) -> None:
    login(client, "wzjc")
    page = client.get("/evidence/self-inspections")
    assert page.status_code == 200 and 'id="draw-form"' in page.text
    token = _csrf(page.text)
    future = client.post("/evidence/self-inspections", data={"csrf_token": token, "month": "2999-01"})
    assert future.status_code == 422 and "has not begun" in future.text and 'id="problem"' in future.text
    made = client.post(
        "/evidence/self-inspections", data={"csrf_token": token, "month": MONTH}, follow_redirects=False
    )
    assert made.status_code == 303, made.text
    draw_url = made.headers["location"].split("?")[0]
    page = client.get(made.headers["location"])
    assert 'id="redo"' in page.text and "badge ok" in page.text
    items = re.findall(r'data-item="(\d+)"', page.text)
    assert len(items) == 2  # the agency's two videos of the month, all drawn
    first = items[0]
    url = f"{draw_url}/items/{first}/outcome"
    missing_note = client.post(url, data={"csrf_token": token, "outcome": "problem", "note": ""})
    assert missing_note.status_code == 422 and "is required" in missing_note.text
    done = client.post(url, data={"csrf_token": token, "outcome": "problem", "note": "无标志物"}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    page = client.get(draw_url)
    assert 'data-outcome="problem"' in page.text and "无标志物" in page.text
    again = client.post("/evidence/self-inspections", data={"csrf_token": token, "month": MONTH}, follow_redirects=False)  # fmt: skip
    assert again.headers["location"].startswith(draw_url) and "done=already" in again.headers["location"]
    login(client, "reg_wz")
    listing = client.get("/evidence/self-inspections")
    assert 'id="draw-form"' not in listing.text and re.search(r"<tr data-draw=", listing.text)
    assert client.get(draw_url).status_code == 200 and "outcome-form" not in client.get(draw_url).text
    login(client, "hzjc")
    assert client.get(draw_url).status_code == 404


# ---- in a browser ----


@pytest.fixture(scope="module")
def base_url(checks_world: ChecksWorld) -> Iterator[str]:
    with serving(checks_world.settings, checks_world.engine) as url:
        yield url


@pytest.fixture(params=list(VIEWPORTS))
def tab(request: pytest.FixtureRequest, browser: Any, base_url: str) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, base_url, VIEWPORTS)


@pytest.mark.timeout(120)
def test_in_a_browser(tab: tuple[str, Tab], screenshots: Path) -> None:
    name, t = tab
    page = t.page
    t.go(f"/evidence/checks?{DAY}")
    t.login("admin1")
    assert page.locator('[data-rule="WZ-A1-5"] tr[data-kind="gap"]').count() == 1
    t.shot(screenshots, f"evidence-checks-{name}")
    if name == "phone":
        t.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)
    t.go("/evidence/storage")
    page.click("#check-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#latest").count() == 1
    t.shot(screenshots, f"evidence-storage-{name}")
    t.go("/evidence/self-inspections")
    t.shot(screenshots, f"evidence-self-inspections-{name}")
    t.check_clean()
