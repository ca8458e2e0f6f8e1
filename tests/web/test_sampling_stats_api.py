"""``GET /api/v1/sampling/stats`` over the real app and a real SQLite store (WZ-A2-14): the figures per
agency each role may read, the period parameters, and the credit-evaluation workbook (read back with
openpyxl)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.sampling.conftest import SamplingWorld, build_sampling_world
from tests.sampling.test_stats import story

URL = "/api/v1/sampling/stats"
DAY = {"from": "2026-11-23", "to": "2026-11-24"}  # the world's sampling day
ADMIN = Principal("admin", "admin")


@dataclass
class Api:
    client: TestClient
    world: SamplingWorld

    def as_(self, principal: Principal) -> TestClient:
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client


@pytest.fixture
def api(settings: Settings, sqlite_engine: Engine) -> Iterator[Api]:
    world = build_sampling_world(sqlite_engine)
    story(world)
    with TestClient(create_app(settings, sqlite_engine)) as client:
        yield Api(client, world)
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def detail(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["detail"])


def test_admin_reads_every_agency_with_figures_and_rates(api: Api) -> None:
    body = ok(api.as_(ADMIN).get(URL, params=DAY))
    assert (body["from"], body["to"], body["last_day"]) == ("2026-11-23", "2026-11-24", "2026-11-23")
    rows = {r["agency"]: r for r in body["agencies"]}
    assert set(rows) == {"温州检测", "杭州检测"}  # the inactive agency without samples is left out
    wz = rows["温州检测"]
    assert (wz["registered"], wz["late_entries"], wz["reprints"], wz["anomalies"], wz["rejections"]) == (
        6, 3, 2, 2, 1,
    )  # fmt: skip
    assert wz["rates"]["late_entries"] == "60.0" and wz["rates"]["rejections"] == "16.7"
    assert rows["杭州检测"]["registered"] == 0 and rows["杭州检测"]["rates"]["reprints"] is None
    assert body["totals"]["registered"] == 6 and body["totals"]["agency_id"] is None


def test_each_role_reads_its_agencies_only(api: Api) -> None:
    w = api.world

    def agencies(principal: Principal) -> list[int]:
        return [r["agency_id"] for r in ok(api.as_(principal).get(URL, params=DAY))["agencies"]]

    assert agencies(Principal("wz", "regulator", region_code="3303")) == [w.agency]  # 330302 is in 温州
    assert sorted(agencies(Principal("zj", "regulator", region_code="33"))) == sorted(
        [w.agency, w.other_agency]
    )
    assert agencies(Principal("hb", "regulator", region_code="42")) == []
    assert agencies(Principal("wzjc", "agency", agency_id=w.agency)) == [w.agency]
    assert agencies(Principal("hzjc", "agency", agency_id=w.other_agency)) == [w.other_agency]
    for who in (
        Principal("e", "enterprise", enterprise_id=w.enterprises["jia"]),
        Principal("o", "operator", operator_id=1),
        Principal("f", "field_staff", operator_id=1),
    ):
        assert detail(api.as_(who).get(URL, params=DAY), 403) == (
            f"role {who.role} may not read the sampling statistics (admin, regulator, agency)"
        )


def test_period_parameters(api: Api) -> None:
    c = api.as_(ADMIN)
    month = ok(c.get(URL))  # this month of the real clock
    assert month["from"].endswith("-01") and month["to"].endswith("-01")
    nov = ok(c.get(URL, params={"from": "2026-11-01", "to": "2026-12-01"}))
    assert nov["totals"]["registered"] == 6 and nov["last_day"] == "2026-11-30"
    assert ok(c.get(URL, params={"from": "2026-11-24", "to": "2026-12-01"}))["totals"]["registered"] == 0
    assert detail(c.get(URL, params={"from": "2026-11-01"}), 422) == (
        "give both from and to (to excluded), or neither (this month)"
    )
    assert detail(c.get(URL, params={"from": "2026-11-31", "to": "2026-12-01"}), 422) == (
        "from='2026-11-31' is not a day YYYY-MM-DD"
    )
    assert "must come after from" in detail(
        c.get(URL, params={"from": "2026-12-01", "to": "2026-11-01"}), 422
    )
    assert c.get(URL, params={**DAY, "format": "csv"}).status_code == 422


def test_the_workbook_has_the_same_figures(api: Api) -> None:
    regulator = Principal("wz", "regulator", region_code="3303")
    response = api.as_(regulator).get(URL, params={**DAY, "format": "xlsx"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="sampling-stats-2026-11-23--2026-11-23.xlsx"' in response.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert "2026-11-23..2026-11-23" in str(rows[0][0])
    header = rows[1]
    agency = dict(zip(header, rows[2], strict=True))
    totals = dict(zip(header, rows[3], strict=True))
    assert len(rows) == 4  # title, header, the one agency of 温州, totals
    assert (agency["检测机构 agency"], agency["登记样品 registered"], agency["补打 reprints"]) == (
        "温州检测",
        6,
        2,
    )
    assert agency["每百现场录入 late per 100"] == 60.0
    assert agency["拒收 rejections"] == 1 and agency["交接/开封异常 anomalies"] == 2
    assert totals["检测机构 agency"] == "合计 total" and totals["登记样品 registered"] == 6
