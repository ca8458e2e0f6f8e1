"""The rates page over HTTP: counts and rates of the visible devices only, flags with their texts, bad
input shown in the page, and the xlsx download (same scope, same rows)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from envwatch.web.app import create_app
from tests.web.pages.conftest import MN_A, MN_B, MN_LOOSE, SO2, World
from tests.web.pages.test_pages import login


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, world.engine)) as c:
        yield c


def _mns(html: str) -> set[str]:
    body = html.split('id="rates"', 1)[1]
    return set(re.findall(r'<tr data-mn="([^"]+)"', body))


def test_rates_follow_the_scope(client: TestClient) -> None:
    login(client, "ent_a")
    r = client.get("/rates")
    assert r.status_code == 200 and _mns(r.text) == {MN_A}
    assert "乙热电" not in r.text
    login(client, "admin1")
    assert _mns(client.get("/rates").text) == {MN_A, MN_B, MN_LOOSE}


def test_rates_show_counts_rates_and_flags(client: TestClient) -> None:
    login(client, "ent_a")
    html = client.get("/rates?group=factor").text
    row = re.search(rf'<tr data-mn="{MN_A}" data-factor="{SO2}">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = dict(re.findall(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', row.group(1), re.S))
    # six hour records were received, one (flag C) invalid
    assert (cells["实收"], cells["有效"]) == ("6", "5") and cells["监测因子"] == "a21026"
    assert int(cells["应收"]) >= 6 and cells["即时有效传输率"]
    # far below 95 %: the operator's line is flagged, with a Chinese lead-in and the service's text
    assert 'data-requirement="CS-4.3.2.1"' in row.group(1) and "有效传输率低于运维认证要求" in row.group(1)


def test_bad_input_is_shown(client: TestClient) -> None:
    login(client, "ent_a")
    r = client.get("/rates?from=2026-02-01&to=2026-01-01")
    assert r.status_code == 422 and "无法计算传输率：" in r.text and "before" in r.text
    r = client.get("/rates?from=yesterday")
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text


def test_xlsx_has_the_same_rows(client: TestClient) -> None:
    login(client, "ent_a")
    page = client.get("/rates").text
    link = re.search(r'<a href="([^"]+)" id="xlsx"', page)
    assert link is not None
    r = client.get(link.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxml")
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    mn_col = rows[1].index("MN")
    assert [row[mn_col] for row in rows[2:]] == [MN_A]  # only the enterprise's own device


def test_rates_need_a_login(client: TestClient) -> None:
    for path in ("/rates", "/rates.xlsx", "/marks", f"/devices/{MN_A}"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
