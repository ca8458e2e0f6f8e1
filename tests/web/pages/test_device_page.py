"""The device page over HTTP: header, hour table with verdicts and reasons, chart data, packets, latest
values (htmx partial), and the scope (another enterprise's device is 404, as a missing one)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from envwatch.core.clock import CHINA_TZ
from envwatch.web.app import create_app
from tests.web.pages.conftest import DATA_HOURS, MN_A, MN_B, MN_LOOSE, SO2, World
from tests.web.pages.test_pages import login


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, world.engine)) as c:
        yield c


def _hour_rows(html: str) -> list[tuple[str, str]]:
    """(outcome, row html) of each row of the hour table, newest first."""
    body = html.split('id="hours"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr data-start="[^"]+" data-outcome="(\w+)">(.*?)</tr>', body, re.S)


def test_device_page_shows_the_explained_hours(client: TestClient) -> None:
    login(client, "admin1")
    r = client.get(f"/devices/{MN_A}")
    assert r.status_code == 200, r.text
    assert "甲化工有限公司" in r.text and MN_A in r.text and "在线" in r.text
    rows = _hour_rows(r.text)
    assert len(rows) == 48  # the last 48 whole hours, all judged
    newest, *older = rows
    # the newest hour was sent with flag C: invalid, the reason in Chinese from the reason itself
    assert newest[0] == "invalid" and "数据标识C" in newest[1] and "设备小时数据" in newest[1]
    assert [o for o, _ in older[: DATA_HOURS - 1]] == ["valid"] * (DATA_HOURS - 1)
    assert "未收到小时或分钟数据" in older[DATA_HOURS][1]  # before the data: nothing received
    chart = json.loads(re.search(r'id="chart-data">(.*?)</script>', r.text, re.S).group(1))  # type: ignore[union-attr]
    assert chart["factor"] == SO2 and len(chart["values"]) == 48 and chart["values"][-1] == 11.5
    assert chart["outcomes"].count("invalid") == len(chart["invalid"]) == 48 - (DATA_HOURS - 1)
    # the last packets (one per stored record) and the latest real-time value
    assert r.text.count('<tr data-packet="') == DATA_HOURS + 1
    assert 'data-factor="a21026"' in r.text and "12.3" in r.text


def test_device_page_in_english_uses_the_english_reasons(client: TestClient) -> None:
    login(client, "admin1")
    client.cookies.set("lang", "en")
    newest = _hour_rows(client.get(f"/devices/{MN_A}").text)[0][1]
    assert "invalid" in newest and "数据标识" not in newest and "device hour record" in newest


def test_latest_values_partial(client: TestClient) -> None:
    login(client, "ent_a")
    r = client.get(f"/devices/{MN_A}/latest", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert 'id="latest"' in r.text and 'hx-trigger="every 30s"' in r.text and "<html" not in r.text


def test_device_without_data_says_so(client: TestClient) -> None:
    login(client, "admin1")
    r = client.get(f"/devices/{MN_LOOSE}")
    assert r.status_code == 200 and 'id="no-factors"' in r.text and 'id="chart"' not in r.text


@pytest.mark.parametrize("path", [f"/devices/{MN_B}", f"/devices/{MN_B}/latest", "/devices/NOSUCHMN"])
def test_out_of_scope_device_is_not_found(client: TestClient, path: str) -> None:
    login(client, "ent_a")
    r = client.get(path)
    assert r.status_code == 404 and "未找到" in r.text and "乙热电" not in r.text


def test_devices_list_links_to_the_device_page(client: TestClient) -> None:
    login(client, "ent_a")
    assert f'href="/devices/{MN_A}"' in client.get("/devices").text


def test_device_page_range_and_history(client: TestClient) -> None:
    """A week instead of 48 hours; a range ending on an earlier China day; spans not offered are refused."""
    login(client, "admin1")
    week = client.get(f"/devices/{MN_A}?span=168")
    assert week.status_code == 200 and len(_hour_rows(week.text)) == 168
    assert 'option value="168" selected' in week.text
    today = datetime.now(CHINA_TZ).date()
    day = today - timedelta(days=3)
    earlier = client.get(f"/devices/{MN_A}?span=24&until={day}")
    assert earlier.status_code == 200
    # the whole China day (the data are the last few hours, so none of it: no factor to show)
    assert f"{day} 00:00:00" in earlier.text and f"{day + timedelta(days=1)} 00:00:00" in earlier.text
    assert 'id="no-factors"' in earlier.text and f'value="{day}"' in earlier.text
    assert client.get(f"/devices/{MN_A}?span=1000").status_code == 422
    assert client.get(f"/devices/{MN_A}?until=yesterday").status_code == 422


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_commands_from_the_device_page(client: TestClient) -> None:
    """A history request (补传) is queued with its times in device format and listed with its status; a
    bad range comes back in the form and nothing is queued; the role and the CSRF token are checked."""
    login(client, "admin1")
    page = client.get(f"/devices/{MN_A}")
    assert 'id="command-form"' in page.text
    before = len(re.findall(r"<tr data-command=", page.text))
    form = {
        "csrf_token": _token(page.text),
        "cn": "2061",
        "BeginTime": "2026-11-20T08:00",
        "EndTime": "2026-11-20T12:00",
    }
    r = client.post(f"/devices/{MN_A}/commands", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/devices/{MN_A}?sent=")
    listed = client.get(r.headers["location"]).text
    assert 'id="command-sent"' in listed
    assert 'data-status="queued"' in listed and "BeginTime=20261120080000" in listed
    assert len(re.findall(r"<tr data-command=", listed)) == before + 1
    bad = client.post(f"/devices/{MN_A}/commands", data={**form, "EndTime": "2026-11-19T00:00"})
    assert bad.status_code == 422 and 'id="command-error"' in bad.text and "after EndTime" in bad.text
    assert len(re.findall(r"<tr data-command=", bad.text)) == before + 1  # nothing more queued
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    assert client.post(f"/devices/{MN_A}/commands", data=no_token, follow_redirects=False).status_code == 403


def test_an_enterprise_may_not_command_its_logger(client: TestClient) -> None:
    """SX-29: parameters are changed by those who run the devices (scope.WRITERS["command"])."""
    login(client, "ent_a")
    page = client.get(f"/devices/{MN_A}")
    assert page.status_code == 200 and 'id="command-form"' not in page.text
    r = client.post(f"/devices/{MN_A}/commands", data={"csrf_token": _token(page.text), "cn": "1011"})
    assert r.status_code == 403


def test_live_chart_of_real_time_values(client: TestClient) -> None:
    """The chosen factor's real-time values of the last two hours, in the block htmx refreshes."""
    login(client, "admin1")
    page = client.get(f"/devices/{MN_A}?factor={SO2}").text
    live = json.loads(re.search(r'id="live-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert live["factor"] == SO2 and live["values"] == [12.3] and live["flags"] == ["N"]
    assert f'hx-get="/devices/{MN_A}/latest?factor={SO2}"' in page
    fragment = client.get(f"/devices/{MN_A}/latest?factor={SO2}").text
    assert 'id="live-data"' in fragment and 'id="live-chart"' in fragment
    assert 'id="live-data"' not in client.get(f"/devices/{MN_A}/latest?factor=a99999").text
