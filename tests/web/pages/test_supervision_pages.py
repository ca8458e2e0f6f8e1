"""The supervision pages over the real app (/compliance/supervision, …/plans/{id}, …/spot-tests/{id}): who
gets them, making a plan and a draw and recording results through the page forms (CSRF), the form errors,
coverage shown, both languages. The region is tests/compliance/world_supervision.py's, built today."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.compliance.supervision_checklist import KEYS
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from tests.compliance.world_supervision import SupervisionWorld, build
from tests.web.pages.conftest import create_users, fresh_store
from tests.web.pages.test_pages import login


@dataclass(frozen=True)
class PagesWorld:
    settings: Settings
    engine: Engine
    region: SupervisionWorld


@pytest.fixture(scope="module")
def pages_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesWorld]:
    with fresh_store(tmp_path_factory.mktemp("supervision") / "var") as (settings, engine):
        region = build(engine, utcnow())
        with engine.begin() as conn:
            create_users(
                conn,
                [
                    ("admin1", {"role": "admin"}),
                    ("reg_hz", {"role": "regulator", "region_code": "3301"}),
                    ("reg_gd", {"role": "regulator", "region_code": "44"}),
                    ("ent_jia", {"role": "enterprise", "enterprise_id": region.enterprises["jia"]}),
                ],
                utcnow(),
            )
        yield PagesWorld(settings, engine, region)


@pytest.fixture
def client(pages_world: PagesWorld) -> Iterator[TestClient]:
    with TestClient(create_app(pages_world.settings, pages_world.engine)) as c:
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _english(client: TestClient) -> None:
    client.cookies.set("lang", "en")


def test_plan_through_the_forms(client: TestClient) -> None:
    today = to_china(utcnow()).date()
    login(client, "reg_hz")
    page = client.get("/compliance/supervision")
    assert page.status_code == 200 and 'id="plan-form"' in page.text and 'id="draw-form"' in page.text
    assert "<h1>监督检查计划</h1>" in page.text and 'aria-current="page"' in page.text  # Chinese by default
    token = _csrf(page.text)
    assert (
        client.post(
            "/compliance/supervision/plans", data={"region": "3301", "month": f"{today:%Y-%m}"}
        ).status_code
        == 403
    )
    past = client.post(
        "/compliance/supervision/plans", data={"csrf_token": token, "region": "3301", "month": "2020-01"}
    )
    assert past.status_code == 422 and "is over" in past.text and 'id="problem"' in past.text
    made = client.post("/compliance/supervision/plans", data={"csrf_token": token, "region": "3301", "month": f"{today:%Y-%m}"},
                       follow_redirects=False)  # fmt: skip
    assert made.status_code == 303 and made.headers["location"].endswith("?done=made")
    plan_url = made.headers["location"].split("?")[0]
    page = client.get(plan_url)
    items = re.findall(r'data-item="(\d+)"', page.text)
    assert len(items) == 2 and page.text.count('data-outstanding="') == 2
    assert "相关标准物质证书的有效性" in page.text and page.text.count('<tr data-check="') == 2 * 9
    url = f"{plan_url}/items/{items[0]}/results"
    form = {"csrf_token": token, "visited_on": today.isoformat(), "inspectors": "张三"}
    form |= {f"state_{k}": "ok" for k in KEYS}
    bad = client.post(url, data=form | {"state_changes": "problem"})
    assert bad.status_code == 422 and "checklist item changes" in bad.text and 'value="张三"' in bad.text
    done = client.post(
        url,
        data=form | {"state_changes": "problem", "note_changes": "更换分析仪未备案"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get(plan_url)
    assert 'data-outcome="problems"' in page.text and "更换分析仪未备案" in page.text
    assert (
        page.text.count('data-outstanding="') == 1 and "已检查 1 家，共 2 家排污单位（50.0 %）" in page.text
    )
    again = client.post("/compliance/supervision/plans", data={"csrf_token": token, "region": "3301", "month": f"{today:%Y-%m}"},
                        follow_redirects=False)  # fmt: skip
    assert again.headers["location"] == f"{plan_url}?done=already"
    listing = client.get("/compliance/supervision")
    assert re.search(r'<tr data-plan="\d+">', listing.text) and "<meter" in listing.text
    _english(client)
    page = client.get(plan_url)
    assert "Validity of the reference material certificates" in page.text and "Problems found" in page.text
    login(client, "reg_gd")
    assert client.get(plan_url).status_code == 404
    assert not re.search(r"<tr data-plan=", client.get("/compliance/supervision").text)
    login(client, "ent_jia")
    assert client.get("/compliance/supervision").status_code == 403
    assert client.get(plan_url).status_code == 403


def test_spot_test_through_the_forms(client: TestClient, pages_world: PagesWorld) -> None:
    today = to_china(utcnow()).date()
    login(client, "admin1")
    _english(client)
    token = _csrf(client.get("/compliance/supervision").text)
    bad = client.post(
        "/compliance/supervision/spot-tests", data={"csrf_token": token, "region": "3301", "year": "abc"}
    )
    assert bad.status_code == 422 and "is not a year" in bad.text
    made = client.post("/compliance/supervision/spot-tests", data={"csrf_token": token, "region": "3301", "year": str(today.year)},
                       follow_redirects=False)  # fmt: skip
    assert made.status_code == 303, made.text
    draw_url = made.headers["location"].split("?")[0]
    page = client.get(made.headers["location"])
    assert "Redoing the draw gives the same points" in page.text and 'data-target="missed"' in page.text
    (item,) = re.findall(r'data-item="(\d+)"', page.text)
    url = f"{draw_url}/items/{item}/results"
    form = {"csrf_token": token, "tested_on": today.isoformat(), "agency": "杭州检测", "report_no": "HZ-7"}
    missing = client.post(url, data=form | {"factor_0": "a21026", "manual_0": "10"})
    assert missing.status_code == 422 and "the platform has no valid daily value" in missing.text
    done = client.post(url, data=form | {"factor_0": "a21026", "manual_0": "10", "automatic_0": "10.5", "unit_0": "mg/m3"},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    page = client.get(draw_url)
    assert 'data-outcome="pass"' in page.text and 'data-target="met"' in page.text and "5.00 %" in page.text
    assert "33.3 % of 3 points (target 10.00 %)" in page.text
    client.cookies.delete("lang")
    assert "抽测" in client.get(draw_url).text
    login(client, "reg_gd")
    assert client.get(draw_url).status_code == 404
    login(client, "ent_jia")
    assert client.get(draw_url).status_code == 403
