"""Field staff on a phone in a real browser (Debian's chromium): log in at "/", land on the workbench, see
the offline device, open it; no sideways scrolling, no foreign request, no console error. Screenshots on
the phone (390×844) and on a desktop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.browser import PHONE, Tab, Tabs
from tests.web.pages.workbench.conftest import FOREIGN, MN_A1, WorkbenchWorld

pytestmark = pytest.mark.timeout(120)

DESKTOP = {"width": 1366, "height": 900}


def login_at_root(tab: Tab, username: str) -> None:
    """Open "/" logged out: the login page, then the role's start page."""
    tab.go("/")
    tab.login(username)


def wait_for_rates(tab: Tab) -> None:
    tab.page.wait_for_selector("#wb-rates #rate-rows", timeout=30_000)


@pytest.fixture
def tabs(browser: Any, workbench_world: WorkbenchWorld) -> Iterator[Tabs]:
    with Tabs(browser, workbench_world.base_url) as opened:
        yield opened


def test_field_staff_on_a_phone(tabs: Tabs, screenshots: Path) -> None:
    tab = tabs.open(PHONE, mobile=True, has_touch=True)
    login_at_root(tab, "fs_a")
    page = tab.page
    assert page.url.endswith("/workbench")
    offline = page.locator(f'#offline-devices li[data-mn="{MN_A1}"]')
    assert offline.count() == 1
    assert offline.locator("time").inner_text().strip()  # offline since, China time
    wait_for_rates(tab)
    content = page.content()
    for mn in FOREIGN:
        assert mn not in content
    tab.no_sideways_scroll(PHONE["width"])
    # the device link is a real tap target
    link = offline.locator("a.tap")
    box = link.bounding_box()
    assert box is not None and box["height"] >= 44
    tab.shot(screenshots, "workbench-01-field-staff-phone")
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/devices/{MN_A1}")
    tab.check_clean()


def test_operator_on_a_desktop(tabs: Tabs, screenshots: Path) -> None:
    tab = tabs.open(DESKTOP)
    login_at_root(tab, "op_a")
    page = tab.page
    assert page.url.endswith("/workbench")
    wait_for_rates(tab)
    # the data-quality section arrives after the page, its count tile with it (out of band)
    page.wait_for_selector("#quality-devices li[data-mn]", timeout=30_000)
    assert page.locator("#n-quality").inner_text() == str(page.locator("#quality-devices > li").count())
    assert "bad" in (page.locator("#tile-quality").get_attribute("class") or "")
    assert page.locator("#fault-counts li[data-flagged]").count() == 1
    tab.no_sideways_scroll(DESKTOP["width"])
    # keyboard: Tab reaches the skip link first (then the navigation and the tiles)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    tab.shot(screenshots, "workbench-02-operator-desktop")
    tab.check_clean()
