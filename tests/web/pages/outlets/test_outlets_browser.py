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
from tests.web.pages.conftest import PASSWORD
from tests.web.pages.outlets.conftest import SO2, OutletWorld

pytestmark = pytest.mark.timeout(120)

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def page(request: pytest.FixtureRequest, browser: Any) -> Iterator[tuple[str, Any, list[str], list[str]]]:
    name = request.param
    context = browser.new_context(viewport=VIEWPORTS[name], locale="zh-CN", is_mobile=name == "phone")
    tab = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield name, tab, requests, errors
    context.close()


def _no_sideways_scroll(tab: Any) -> None:
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= tab.viewport_size["width"] + 1, f"page is {width}px wide"


def test_enterprise_walks_outlets_and_filings(
    page: tuple[str, Any, list[str], list[str]], outlet_world: OutletWorld, screenshots: Path, tmp_path: Path
) -> None:
    name, tab, requests, errors = page
    base = outlet_world.base_url
    shot = lambda what: tab.screenshot(path=str(screenshots / f"outlets-{name}-{what}.png"), full_page=True)  # noqa: E731

    tab.goto(base + "/outlets")
    tab.fill("#username", "ent_a")
    tab.fill("#password", PASSWORD)
    tab.click("form.stack button[type=submit]")
    tab.wait_for_load_state()
    assert tab.url == base + "/outlets"
    assert tab.locator("h1").inner_text() == "排放口"
    over = tab.locator(f'#outlet-values tr[data-factor="{SO2}"][data-state="over"]')
    assert over.count() == 1 and over.first.is_visible()
    shot("list")
    if name == "phone":
        _no_sideways_scroll(tab)

    # an outlet, then the day of an hour with data (2 hours ago, China date)
    tab.click("#outlet-values article[data-outlet] h3 a >> nth=0")
    tab.wait_for_load_state()
    assert "/outlets/" in tab.url and tab.locator("#limits").is_visible()
    hour = outlet_world.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    tab.fill("#sel-day", to_china(hour).date().isoformat())
    tab.click("#outlet-select button[type=submit]")
    tab.wait_for_load_state()
    row = tab.locator(f'#hours tr[data-start="{hour.isoformat()}"]')
    assert row.count() == 1 and row.get_attribute("data-outcome") == "valid"
    shot("outlet")
    if name == "phone":
        _no_sideways_scroll(tab)

    # filings: record one, add a step, upload a small file
    tab.click('header nav a[href="/filings"]')
    tab.wait_for_load_state()
    assert tab.locator("#stop-note a[href='/marks']").is_visible()
    title = f"浏览器记录的备案 {name}"
    tab.select_option("#n-kind", "major_change")
    tab.fill("#n-title", title)
    tab.select_option("#n-outlet", str(outlet_world.outlet_gas_a))
    tab.click("#filing-form button[type=submit]")
    tab.wait_for_load_state()
    assert tab.locator("h1").inner_text() == title
    assert tab.locator('#deadline [data-status="due"]').count() == 1
    tab.select_option("#s-step", "reconnected")
    tab.fill("#s-note", "已恢复联网")
    tab.click("#step-form button[type=submit]")
    tab.wait_for_load_state()
    assert tab.locator('#steps li[data-step="reconnected"]').count() == 1
    assert tab.locator('#deadline [data-status="met"]').count() == 1
    upload = tmp_path / "验收报告.txt"
    upload.write_text("72 h 调试检测报告", encoding="utf-8")
    tab.set_input_files("#a-file", str(upload))
    tab.click("#attachment-form button[type=submit]")
    tab.wait_for_load_state()
    assert tab.locator("#attachments li[data-attachment] a").inner_text() == "验收报告.txt"
    shot("filing")
    if name == "phone":
        _no_sideways_scroll(tab)

    foreign = [u for u in requests if not u.startswith(base + "/")]
    assert not foreign, f"requests to other origins: {foreign}"
    assert not errors, f"console errors: {errors}"


def test_keyboard_reaches_the_filing_form(browser: Any, outlet_world: OutletWorld) -> None:
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="zh-CN")
    tab = context.new_page()
    base = outlet_world.base_url
    tab.goto(base + "/filings")
    tab.fill("#username", "ent_a")
    tab.fill("#password", PASSWORD)
    tab.click("form.stack button[type=submit]")
    tab.wait_for_load_state()
    tab.focus("#n-kind")
    for _ in range(2):
        tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.id") == "n-ent"
    # every input of the form has a label
    unlabelled = tab.evaluate(
        "[...document.querySelectorAll('#filing-form input:not([type=hidden]), #filing-form select, "
        "#filing-form textarea')].filter(e => !e.labels || e.labels.length === 0).map(e => e.id)"
    )
    assert unlabelled == []
    context.close()
