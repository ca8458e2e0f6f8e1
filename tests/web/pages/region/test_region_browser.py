"""The regulator's walk through /region in a real browser (Debian's chromium): map markers, the outlet
table, the lazily loaded rankings, no foreign request and no console error; screenshots on a desktop, a
1920×1080 wall screen (?screen=1) and a phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.conftest import PASSWORD
from tests.web.pages.region.conftest import RegionWorld

pytestmark = pytest.mark.timeout(120)

MARKERS = ".leaflet-marker-icon"
PLACED = 2  # A1 (own coordinates) and A2 (甲's); C1 has none; B1 is in 广东


class Visit:
    """A browser page on the region world that records foreign requests and console errors."""

    def __init__(self, page: Any, world: RegionWorld) -> None:
        self.page = page
        self.world = world
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def login(self, username: str) -> None:
        self.page.goto(self.world.base_url + "/login")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("form.stack button[type=submit]")
        self.page.wait_for_load_state()

    def region(self, query: str = "") -> None:
        self.page.goto(self.world.base_url + "/region" + query)
        self.page.wait_for_selector("#region-map[data-markers]")
        self.page.wait_for_selector("#ranking-enterprise table.ranking", timeout=30_000)
        self.page.wait_for_selector("#ranking-operator table.ranking", timeout=30_000)
        self.page.wait_for_selector("#exceedance-rows", timeout=30_000)

    def check_clean(self) -> None:
        foreign = [u for u in self.requests if not u.startswith(self.world.base_url + "/")]
        assert not foreign, f"requests to other origins: {foreign}"
        assert not self.errors, f"console errors: {self.errors}"


@pytest.fixture
def visit(browser: Any, region_world: RegionWorld) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_(viewport: dict[str, int], *, mobile: bool = False) -> Visit:
        context = browser.new_context(viewport=viewport, locale="zh-CN", is_mobile=mobile)
        contexts.append(context)
        return Visit(context.new_page(), region_world)

    yield open_
    for context in contexts:
        context.close()


def test_regulator_region_walk(visit: Any, screenshots: Path) -> None:
    tab = visit({"width": 1280, "height": 900})
    tab.login("reg_zj")
    tab.region()
    page = tab.page
    assert page.locator(MARKERS).count() == PLACED
    assert page.locator("#region-outlets tr[data-outlet]").count() == 3
    assert page.locator("#ranking-enterprise tr[data-name]").count() == 2
    assert "乙热电" not in page.content()
    page.screenshot(path=str(screenshots / "region-01-regulator-desktop.png"), full_page=True)
    # a marker is reachable by keyboard and opens its popup with the outlet's link
    marker = page.locator(MARKERS).first
    assert marker.get_attribute("tabindex") == "0"
    marker.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".leaflet-popup a[href^='/outlets/']")
    tab.check_clean()

    wall = visit({"width": 1920, "height": 1080})
    wall.login("reg_zj")
    wall.region("?screen=1")
    assert wall.page.locator(".region-screen #region-counts[hx-trigger='every 60s']").count() == 1
    big = wall.page.locator("#n-devices").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert big >= 48  # the wall screen's figures are large
    wall.page.screenshot(path=str(screenshots / "region-02-regulator-screen-1920.png"))
    wall.check_clean()

    phone = visit({"width": 390, "height": 844}, mobile=True)
    phone.login("reg_zj")
    phone.region()
    assert phone.page.locator(MARKERS).count() == PLACED
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone: {width} px"
    phone.page.screenshot(path=str(screenshots / "region-03-regulator-phone.png"), full_page=True)
    phone.check_clean()
