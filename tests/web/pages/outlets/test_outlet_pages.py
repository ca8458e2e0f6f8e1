"""The outlet pages over HTTP: values against limits, the htmx fragment, the hour and day tables, the
limit history, and the scope (乙's user and out-of-scope ids get 404, lists hide the others)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from envwatch.core.clock import to_china
from envwatch.web.app import create_app
from envwatch.web.pages import paging
from tests.web.pages.outlets.conftest import MN_GAS_A, MN_GAS_B, MN_WATER_A, SO2, OutletWorld, hour_value
from tests.web.pages.test_pages import login


@pytest.fixture
def client(outlet_world: OutletWorld) -> Iterator[TestClient]:
    # English: the new strings reach the Chinese catalog only when the area's translations are merged
    with TestClient(create_app(outlet_world.settings, outlet_world.engine), cookies={"lang": "en"}) as c:
        yield c


def _row(html: str, attr: str, value: str) -> str:
    found = re.search(rf'<tr {attr}="{re.escape(value)}"[^>]*>.*?</tr>', html, re.S)
    assert found is not None, f"no row {attr}={value}"
    return found.group(0)


def test_outlets_lists_values_against_the_hour_limit(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_a")
    r = client.get("/outlets")
    assert r.status_code == 200
    html = r.text
    assert "甲化工有限公司" in html and "乙热电有限公司" not in html and MN_GAS_B not in html
    assert f'href="/outlets/{outlet_world.outlet_gas_a}"' in html and "DW001" in html
    gas = html[html.index(f'data-mn="{MN_GAS_A}"') :]
    so2 = _row(gas, "data-factor", SO2)
    assert 'data-state="over"' in so2 and "40.0" in so2 and "35" in so2 and "above the limit" in so2
    water = html[html.index(f'data-mn="{MN_WATER_A}"') :]
    ph = _row(water, "data-factor", "w01001")
    assert 'data-state="over"' in ph and "9.5" in ph and "pH 6–9" in ph
    assert "online" in gas and "offline" in water
    # the htmx fragment is the same block alone, polled every 60 s, keeping the filter
    assert 'hx-get="/outlets/values?q=&amp;page=1"' in html and 'hx-trigger="every 60s"' in html
    part = client.get("/outlets/values", headers={"HX-Request": "true"})
    assert part.status_code == 200 and "<html" not in part.text and 'data-state="over"' in part.text


def test_outlets_filter_by_enterprise_name(client: TestClient) -> None:
    login(client, "admin1")
    html = client.get("/outlets").text
    assert "甲化工有限公司" in html and "乙热电有限公司" in html
    html = client.get("/outlets?q=乙热").text
    assert "乙热电有限公司" in html and "甲化工有限公司" not in html
    assert 'hx-get="/outlets/values?q=%E4%B9%99%E7%83%AD&amp;page=1"' in html
    assert 'id="no-outlets"' in client.get("/outlets?q=nothing-like-this").text


@pytest.mark.parametrize(("user", "sees_a"), [("op_a", True), ("reg_zj", True), ("ent_b", False)])
def test_outlets_follow_the_scope(client: TestClient, user: str, sees_a: bool) -> None:
    login(client, user)
    html = client.get("/outlets").text
    assert ("甲化工有限公司" in html) is sees_a
    assert ("乙热电有限公司" in html) is (user == "ent_b")


def test_outlet_page_hour_and_day_tables(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_a")
    hour = outlet_world.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    day = to_china(hour).date()
    r = client.get(f"/outlets/{outlet_world.outlet_gas_a}?day={day.isoformat()}")
    assert r.status_code == 200
    html = r.text
    assert "91330102MA001" in html and "甲化工有限公司" in html  # permit number, enterprise
    assert _row(html, "data-factor", SO2).count("35") >= 1 and "GB 13223-2011" in html  # limit in force
    assert 'id="limit-history"' in html
    assert f'href="/devices/{MN_GAS_A}"' in html
    assert f'href="/marks?mn={MN_GAS_A}"' in html  # the enterprise marks: the link is there
    row = _row(html, "data-start", hour.isoformat())
    assert hour_value(2) in row and 'data-outcome="valid"' in row
    assert ('data-state="over"' in row) is (hour_value(2) == "50.5")
    if to_china(hour - timedelta(hours=1)).date() == day:  # the hour before is on the page (not after 01:00)
        before = _row(html, "data-start", (hour - timedelta(hours=1)).isoformat())
        assert 'data-state="over"' in before and 'class="over"' in before and "above the limit" in before
    # the month: today's daily row against the day limit
    assert f'data-day="{day.isoformat()}"' in html
    assert "Daily values of" in html


def test_outlet_page_invalid_hour_reason_reads_as_on_the_device_page(
    client: TestClient, outlet_world: OutletWorld
) -> None:
    """An hour without data is invalid with the device page's own reason text."""
    login(client, "ent_a")
    hour = outlet_world.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=10)
    day = to_china(hour).date().isoformat()
    outlet_html = client.get(f"/outlets/{outlet_world.outlet_gas_a}?day={day}").text
    row = _row(outlet_html, "data-start", hour.isoformat())
    assert 'data-outcome="invalid"' in row
    reasons = re.search(r'class="reasons">(.*?)</td>', row, re.S)
    assert reasons is not None and reasons.group(1).strip()
    device_html = client.get(f"/devices/{MN_GAS_A}").text
    assert reasons.group(1).split("<br>")[0] in device_html


def test_outlet_page_bad_day_is_shown_not_a_500(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_a")
    r = client.get(f"/outlets/{outlet_world.outlet_gas_a}?day=2026-13-40")
    assert r.status_code == 422 and "The selection is not valid:" in r.text and "2026-13-40" in r.text


def test_outlet_pages_are_chinese_by_default(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_a")
    client.cookies.delete("lang")
    html = client.get(f"/outlets/{outlet_world.outlet_water_a}").text
    assert '<html lang="zh-CN">' in html and "排污单位" in html and "离线" in html
    html = client.get("/outlets").text
    assert "<h1>排放口</h1>" in html and "在线" in html


def test_out_of_scope_outlet_is_404_like_a_missing_one(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_b")
    theirs = client.get(f"/outlets/{outlet_world.outlet_gas_a}")
    missing = client.get("/outlets/999999")
    assert theirs.status_code == missing.status_code == 404
    assert "锅炉排口" not in theirs.text and "91330102MA001" not in theirs.text
    assert client.get(f"/outlets/{outlet_world.outlet_gas_b}").status_code == 200


def test_regulator_reads_but_gets_no_mark_link(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "reg_zj")
    html = client.get(f"/outlets/{outlet_world.outlet_gas_a}").text
    assert "锅炉排口" in html and "/marks?mn=" not in html
    assert client.get(f"/outlets/{outlet_world.outlet_gas_b}").status_code == 404


def test_outlets_need_a_login(client: TestClient) -> None:
    r = client.get("/outlets", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_auditor_sees_no_live_values_after_its_period(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "aud_a")
    html = client.get("/outlets").text
    assert "锅炉排口" in html and "40.0" not in html and 'data-state="over"' not in html
    page = client.get(f"/outlets/{outlet_world.outlet_gas_a}")
    assert page.status_code == 200 and 'value="2025-01-31"' in page.text  # the period's last day
    assert client.get(f"/outlets/{outlet_world.outlet_gas_a}?day=2026-01-01").status_code == 403


def test_outlet_list_is_paged(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long list comes 50 (here: 1) outlets a page; the pager and the refresh keep the page."""
    login(client, "admin1")
    every = re.findall(r'data-outlet="(\d+)"', client.get("/outlets").text)
    assert len(every) >= 2
    monkeypatch.setattr(paging, "PAGE_SIZE", 1)
    first = client.get("/outlets").text
    second = client.get("/outlets?page=2").text
    assert re.findall(r'data-outlet="(\d+)"', first) == every[:1]
    assert re.findall(r'data-outlet="(\d+)"', second) == every[1:2]
    assert 'rel="next"' in first and 'rel="prev"' in second and "page=2" in second
    refreshed = client.get("/outlets/values?page=2").text
    assert re.findall(r'data-outlet="(\d+)"', refreshed) == every[1:2]
