"""The enterprise user's path through the outlet and filing pages in a real browser (Debian's chromium):
/outlets → an outlet → a day's hour table → /filings → record a filing → add a step → upload a small
attachment; on a desktop and on a phone (390x844), with screenshots. No request may leave the app's
origin and no console error (a CSP refusal is one) may occur."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from envwatch.core.clock import to_china
from tests.web.pages.browser import Tab, Tabs, tab_per_viewport
from tests.web.pages.outlets.conftest import SO2, OutletWorld

pytestmark = pytest.mark.timeout(120)

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def visit(
    request: pytest.FixtureRequest, browser: Any, outlet_world: OutletWorld
) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, outlet_world.base_url, VIEWPORTS)


def test_enterprise_walks_outlets_and_filings(
    visit: tuple[str, Tab], outlet_world: OutletWorld, screenshots: Path, tmp_path: Path
) -> None:
    name, tab = visit
    base = outlet_world.base_url
    page = tab.page

    tab.go("/outlets")
    tab.login("ent_a")
    assert page.url == base + "/outlets"
    assert page.locator("h1").inner_text() == "排放口"
    over = page.locator(f'#outlet-values tr[data-factor="{SO2}"][data-state="over"]')
    assert over.count() == 1 and over.first.is_visible()
    tab.shot(screenshots, f"outlets-{name}-list")
    if name == "phone":
        tab.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)

    # an outlet, then the day of an hour with data (2 hours ago, China date)
    page.click("#outlet-values article[data-outlet] h3 a >> nth=0")
    page.wait_for_load_state()
    assert "/outlets/" in page.url and page.locator("#limits").is_visible()
    hour = outlet_world.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    page.fill("#sel-day", to_china(hour).date().isoformat())
    page.click("#outlet-select button[type=submit]")
    page.wait_for_load_state()
    row = page.locator(f'#hours tr[data-start="{hour.isoformat()}"]')
    assert row.count() == 1 and row.get_attribute("data-outcome") == "valid"
    tab.shot(screenshots, f"outlets-{name}-outlet")
    if name == "phone":
        tab.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)

    # filings: record one, add a step, upload a small file
    page.click('header nav a[href="/filings"]')
    page.wait_for_load_state()
    assert page.locator("#stop-note a[href='/marks']").is_visible()
    title = f"浏览器记录的备案 {name}"
    page.select_option("#n-kind", "major_change")
    page.fill("#n-title", title)
    page.select_option("#n-outlet", str(outlet_world.outlet_gas_a))
    page.click("#filing-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == title
    assert page.locator('#deadline [data-status="due"]').count() == 1
    page.select_option("#s-step", "reconnected")
    page.fill("#s-note", "已恢复联网")
    page.click("#step-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator('#steps li[data-step="reconnected"]').count() == 1
    assert page.locator('#deadline [data-status="met"]').count() == 1
    upload = tmp_path / "验收报告.txt"
    upload.write_text("72 h 调试检测报告", encoding="utf-8")
    page.set_input_files("#a-file", str(upload))
    page.click("#attachment-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#attachments li[data-attachment] a").inner_text() == "验收报告.txt"
    tab.shot(screenshots, f"outlets-{name}-filing")
    if name == "phone":
        tab.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)

    tab.check_clean()


def test_keyboard_reaches_the_filing_form(browser: Any, outlet_world: OutletWorld) -> None:
    with Tabs(browser, outlet_world.base_url) as tabs:
        tab = tabs.open(VIEWPORTS["desktop"])
        tab.go("/filings")
        tab.login("ent_a")
        page = tab.page
        page.focus("#n-kind")
        for _ in range(2):
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "n-ent"
        # every input of the form has a label
        unlabelled = page.evaluate(
            "[...document.querySelectorAll('#filing-form input:not([type=hidden]), #filing-form select, "
            "#filing-form textarea')].filter(e => !e.labels || e.labels.length === 0).map(e => e.id)"
        )
        assert unlabelled == []
