"""The regulator's walk through /region in a real browser (Debian's chromium): map markers, the outlet
table, the lazily loaded rankings, no foreign request and no console error; screenshots on a desktop, a
1920×1080 wall screen (?screen=1) and a phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.region.conftest import RegionWorld

pytestmark = pytest.mark.timeout(120)

MARKERS = ".leaflet-marker-icon"
PLACED = 2  # A1 (own coordinates) and A2 (甲's); C1 has none; B1 is in 广东


def open_region(tab: Tab, query: str = "") -> None:
    """The regional overview once its map markers and its lazily loaded parts are there."""
    tab.go("/region" + query)
    tab.page.wait_for_selector("#region-map[data-markers]")
    tab.page.wait_for_selector("#ranking-enterprise table.ranking", timeout=30_000)
    tab.page.wait_for_selector("#ranking-operator table.ranking", timeout=30_000)
    tab.page.wait_for_selector("#exceedance-rows", timeout=30_000)


@pytest.fixture
def tabs(browser: Any, region_world: RegionWorld) -> Iterator[Tabs]:
    with Tabs(browser, region_world.base_url) as opened:
        yield opened


def test_regulator_region_walk(tabs: Tabs, screenshots: Path) -> None:
    tab = tabs.open({"width": 1280, "height": 900})
    tab.go("/login")
    tab.login("reg_zj")
    open_region(tab)
    page = tab.page
    assert page.locator(MARKERS).count() == PLACED
    assert page.locator("#region-outlets tr[data-outlet]").count() == 3
    assert page.locator("#ranking-enterprise tr[data-name]").count() == 2
    assert "乙热电" not in page.content()
    tab.shot(screenshots, "region-01-regulator-desktop")
    # a marker is reachable by keyboard and opens its popup with the outlet's link
    marker = page.locator(MARKERS).first
    assert marker.get_attribute("tabindex") == "0"
    marker.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".leaflet-popup a[href^='/outlets/']")
    tab.check_clean()

    wall = tabs.open({"width": 1920, "height": 1080})
    wall.go("/login")
    wall.login("reg_zj")
    open_region(wall, "?screen=1")
    assert wall.page.locator(".region-screen #region-counts[hx-trigger='every 60s']").count() == 1
    big = wall.page.locator("#n-devices").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert big >= 48  # the wall screen's figures are large
    wall.shot(screenshots, "region-02-regulator-screen-1920", full_page=False)
    wall.check_clean()

    phone = tabs.open({"width": 390, "height": 844}, mobile=True)
    phone.go("/login")
    phone.login("reg_zj")
    open_region(phone)
    assert phone.page.locator(MARKERS).count() == PLACED
    phone.no_sideways_scroll(390)
    phone.shot(screenshots, "region-03-regulator-phone")
    phone.check_clean()
