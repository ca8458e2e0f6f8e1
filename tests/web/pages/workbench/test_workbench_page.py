"""/workbench over HTTP: who may open it, what each section lists, and tenancy through the page and both
fragments (a device, mark or filing of an enterprise the operator has no contract with today never shows)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from envwatch.web.app import create_app
from tests.web.pages.conftest import shown_count
from tests.web.pages.test_pages import login
from tests.web.pages.workbench.conftest import FOREIGN, MN_A1, MN_A2, MN_B, MN_C, MN_D1, WorkbenchWorld

ROUTES = ("/workbench", "/workbench/attention", "/workbench/quality", "/workbench/rates")


@pytest.fixture
def client(workbench_world: WorkbenchWorld) -> Iterator[TestClient]:
    with TestClient(create_app(workbench_world.settings, workbench_world.engine)) as c:
        yield c


def _section(html: str, section: str) -> str:
    found = re.search(rf'<section class="card" id="{section}".*?</section>', html, re.S)
    assert found is not None, section
    return found.group(0)


def _mns(html: str) -> set[str]:
    return set(re.findall(r'data-mn="([0-9A-F]{24})"', html))


def _everything(client: TestClient, query: str = "") -> str:
    return "".join(client.get(path + query).text for path in ROUTES)


def test_login_needed(client: TestClient) -> None:
    for path in ROUTES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("username", ["ent_a", "reg"])
def test_other_roles_get_403(client: TestClient, username: str) -> None:
    login(client, username)
    for path in ROUTES:
        assert client.get(path).status_code == 403, path
        assert client.get(path + "?operator=1").status_code == 403, path


def test_operator_lands_on_its_workbench(client: TestClient) -> None:
    login(client, "op_a")
    r = client.get("/", follow_redirects=False)
    assert r.status_code in (302, 303, 307) and r.headers["location"] == "/workbench"


def test_operator_sees_its_contracted_outlets_only(
    client: TestClient, workbench_world: WorkbenchWorld
) -> None:
    login(client, "op_a")
    page = client.get("/workbench")
    assert page.status_code == 200
    html = page.text
    # offline: 甲's A1 (whole-enterprise contract); not 丁's D2 (outlet not contracted), 丙 (ended), 乙
    attention = _section(html, "attention")
    assert _mns(attention) == {MN_A1}
    assert shown_count(html, "offline") == 1
    assert f'href="/devices/{MN_A1}"' in attention
    assert re.search(r"3 (h|小时) [01] (min|分钟)", attention)
    # data quality: A2's newest hour is flagged C, A1 sent nothing, D1's hours are valid; the reason in
    # words and a link to mark the hours
    assert 'hx-get="/workbench/quality"' in _section(html, "quality")  # loaded after the page
    quality = _section(client.get("/workbench/quality").text, "quality")
    assert _mns(quality) == {MN_A1, MN_A2}
    assert f'href="/marks?mn={MN_A2}"' in quality
    assert re.search(r"flag C|数据标识C", quality)
    assert re.search(r"no hour or minute record received|未收到小时或分钟数据", quality)
    # marks: A2's three open faults and one maintenance; A2 flagged for SX-30.6 (3 faults this month)
    marks = _section(html, "marks")
    assert _mns(marks) == {MN_A2}
    assert shown_count(html, "marks") == 4
    assert re.search(rf'data-mn="{MN_A2}" data-faults="3" data-flagged="1"', marks)
    # filings: 甲's overdue one first, then the due one; none of 丙 or 乙
    filings = _section(html, "filings")
    ids = [int(i) for i in re.findall(r'data-filing="(\d+)"', filings)]
    assert ids == [workbench_world.filings["A_overdue"], workbench_world.filings["A_due"]]
    for name in ("乙", "丙", "丁"):
        assert name not in filings
    # no trace of a foreign device anywhere, fragments included
    everything = _everything(client)
    for mn in FOREIGN:
        assert mn not in everything, mn


def test_rates_fragment_lists_the_contracted_devices(client: TestClient) -> None:
    login(client, "op_a")
    r = client.get("/workbench/rates")
    assert r.status_code == 200
    assert _mns(r.text) == {MN_A1, MN_A2, MN_D1}
    assert "CS-4.3.2.1" in r.text


def test_attention_fragment_alone(client: TestClient) -> None:
    login(client, "op_a")
    r = client.get("/workbench/attention")
    assert r.status_code == 200 and "<html" not in r.text
    assert _mns(r.text) == {MN_A1}
    assert 'hx-trigger="every 60s"' in r.text


def test_field_staff_sees_what_its_operator_sees(client: TestClient) -> None:
    login(client, "op_a")
    operator = {path: _mns(client.get(path).text) for path in ROUTES}
    client.cookies.clear()
    login(client, "fs_a")
    assert {path: _mns(client.get(path).text) for path in ROUTES} == operator


def test_other_operator_sees_its_own(client: TestClient) -> None:
    login(client, "op_b")
    html = client.get("/workbench").text
    assert _mns(_section(html, "attention")) == {MN_B}
    everything = _everything(client)
    for mn in (MN_A1, MN_A2, MN_D1, MN_C):
        assert mn not in everything
    # an operator cannot borrow another operator's view: ?operator= is the admin's only
    assert MN_A1 not in _everything(client, "?operator=1")


def test_contract_ended_yesterday_shows_nothing_of_that_enterprise(client: TestClient) -> None:
    login(client, "op_a")
    everything = _everything(client)
    assert MN_C not in everything and "丙" not in everything


def test_admin_chooses_an_operator(client: TestClient, workbench_world: WorkbenchWorld) -> None:
    login(client, "admin1")
    r = client.get("/workbench")
    assert r.status_code == 200
    assert 'id="operator-form"' in r.text and "运维甲" in r.text and "运维乙" in r.text
    assert 'id="attention"' not in r.text
    assert client.get("/workbench/attention").status_code == 422
    op_a = workbench_world.operators["A"]
    r = client.get(f"/workbench?operator={op_a}")
    assert r.status_code == 200
    assert _mns(_section(r.text, "attention")) == {MN_A1}
    assert f'hx-get="/workbench/attention?operator={op_a}"' in r.text
    assert f'hx-get="/workbench/rates?operator={op_a}"' in r.text
    everything = _everything(client, f"?operator={op_a}")
    for mn in FOREIGN:
        assert mn not in everything, mn
    assert _mns(client.get(f"/workbench/rates?operator={op_a}").text) == {MN_A1, MN_A2, MN_D1}


def test_admin_asks_a_missing_or_malformed_operator(client: TestClient) -> None:
    login(client, "admin1")
    assert client.get("/workbench?operator=999999").status_code == 404
    assert client.get("/workbench?operator=abc").status_code == 422


def test_english(client: TestClient) -> None:
    login(client, "op_a")
    client.cookies.set("lang", "en")
    html = client.get("/workbench").text
    assert "Devices offline now" in html and "3 h " in html
    client.cookies.set("lang", "zh_CN")
    assert 'lang="zh-CN"' in client.get("/workbench").text


def test_assets_are_local(client: TestClient) -> None:
    login(client, "op_a")
    html = client.get("/workbench").text
    for src in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
        assert src.startswith("/static/"), src
        assert client.get(src).status_code == 200, src
