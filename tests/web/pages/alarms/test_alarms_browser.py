"""The operator's path through the alarm pages in a real browser (Debian's chromium): /alarms → one alarm →
acknowledge → close with cause and action; on a desktop and on a phone (390x844), with screenshots. No
request may leave the app's origin and no console error (a CSP refusal is one) may occur."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.alarms.conftest import AlarmWorld, fresh_alarm
from tests.web.pages.browser import Tab, Tabs, tab_per_viewport

pytestmark = pytest.mark.timeout(120)

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def visit(request: pytest.FixtureRequest, browser: Any, alarm_world: AlarmWorld) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, alarm_world.base_url, VIEWPORTS)


def _fits(name: str, tab: Tab) -> None:
    if name == "phone":
        tab.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)


def test_operator_acknowledges_and_closes_an_alarm(
    visit: tuple[str, Tab], alarm_world: AlarmWorld, screenshots: Path
) -> None:
    name, tab = visit
    page = tab.page
    alarm_id = fresh_alarm(alarm_world)
    escalated = alarm_world.alarms["offline_a"]

    tab.go("/alarms")
    tab.login("op_a")
    assert page.url == alarm_world.base_url + "/alarms"
    row = page.locator(f'#alarms tr[data-alarm="{alarm_id}"]')
    assert row.is_visible() and row.get_attribute("data-state") == "open"
    assert page.locator(f'#alarms tr[data-alarm="{escalated}"] [data-escalated="1"]').is_visible()
    assert page.locator("#n-open").is_visible()
    tab.shot(screenshots, f"alarms-{name}-list")
    _fits(name, tab)

    page.click(f'#alarms a[href="/alarms/{alarm_id}"]')
    page.wait_for_load_state()
    assert page.url.endswith(f"/alarms/{alarm_id}")
    assert page.locator('#alarm-state [data-state="open"]').count() == 1
    tab.shot(screenshots, f"alarms-{name}-alarm")
    _fits(name, tab)

    page.click("#acknowledge-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#done").is_visible()
    assert page.locator('#alarm-state [data-state="acknowledged"]').count() == 1
    assert page.locator("#acknowledge-form").count() == 0  # the table has no second acknowledgement

    page.click("details.act:has(#close-form) > summary")
    page.fill("#w-cause", "数采仪断电")
    page.fill("#w-action", "恢复供电并补传数据")
    tab.shot(screenshots, f"alarms-{name}-closing")
    page.click("#close-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator('#alarm-state [data-state="closed"]').count() == 1
    assert page.locator("#alarm-cause").inner_text() == "数采仪断电"
    assert page.locator('#journal li[data-event="close"]').count() == 1
    assert page.locator("#close-form").count() == 0
    tab.shot(screenshots, f"alarms-{name}-closed")
    _fits(name, tab)

    # the detection's values behind an exceedance open in place
    tab.go(f"/alarms/{alarm_world.alarms['exceed_a']}")
    page.click('#journal li[data-event="opened"] details.detection > summary')
    assert page.locator('#journal li[data-event="opened"] table.points').first.is_visible()
    tab.shot(screenshots, f"alarms-{name}-detection")
    _fits(name, tab)

    tab.check_clean()


def test_the_regulator_reads_without_forms(browser: Any, alarm_world: AlarmWorld) -> None:
    with Tabs(browser, alarm_world.base_url) as tabs:
        tab = tabs.open(VIEWPORTS["desktop"])
        tab.go(f"/alarms/{alarm_world.alarms['exceed_a']}")
        tab.login("reg_zj")
        assert tab.page.locator("#alarm-head").is_visible()
        assert tab.page.locator("#work, #attachment-form").count() == 0
        tab.go(f"/alarms/{alarm_world.alarms['exceed_b']}")  # 乙 is outside 浙江
        assert tab.page.locator("h1").count() == 1 and tab.page.locator("#alarm-head").count() == 0
        tab.check_clean(404)
