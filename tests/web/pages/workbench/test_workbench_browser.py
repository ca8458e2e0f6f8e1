"""Field staff on a phone in a real browser (Debian's chromium): log in at "/", land on the workbench, see
the offline device, open it; no sideways scrolling, no foreign request, no console error. Screenshots on
the phone (390×844) and on a desktop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.conftest import PASSWORD
from tests.web.pages.workbench.conftest import FOREIGN, MN_A1, WorkbenchWorld

pytestmark = pytest.mark.timeout(120)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


class Visit:
    """A browser page on the workbench world that records foreign requests and console errors."""

    def __init__(self, page: Any, world: WorkbenchWorld) -> None:
        self.page = page
        self.world = world
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def login_at_root(self, username: str) -> None:
        """Open "/" logged out: the login page, then the role's start page."""
        self.page.goto(self.world.base_url + "/")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("form.stack button[type=submit]")
        self.page.wait_for_load_state()

    def wait_for_rates(self) -> None:
        self.page.wait_for_selector("#wb-rates #rate-rows", timeout=30_000)

    def check_clean(self) -> None:
        foreign = [u for u in self.requests if not u.startswith(self.world.base_url + "/")]
        assert not foreign, f"requests to other origins: {foreign}"
        assert not self.errors, f"console errors: {self.errors}"

    def no_sideways_scrolling(self) -> None:
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= self.page.viewport_size["width"], f"page is {width}px wide"


@pytest.fixture
def visit(browser: Any, workbench_world: WorkbenchWorld) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_(viewport: dict[str, int], *, mobile: bool = False) -> Visit:
        context = browser.new_context(viewport=viewport, locale="zh-CN", is_mobile=mobile, has_touch=mobile)
        contexts.append(context)
        return Visit(context.new_page(), workbench_world)

    yield open_
    for context in contexts:
        context.close()


def test_field_staff_on_a_phone(visit: Any, screenshots: Path) -> None:
    tab = visit(PHONE, mobile=True)
    tab.login_at_root("fs_a")
    page = tab.page
    assert page.url.endswith("/workbench")
    offline = page.locator(f'#offline-devices li[data-mn="{MN_A1}"]')
    assert offline.count() == 1
    assert offline.locator("time").inner_text().strip()  # offline since, China time
    tab.wait_for_rates()
    content = page.content()
    for mn in FOREIGN:
        assert mn not in content
    tab.no_sideways_scrolling()
    # the device link is a real tap target
    link = offline.locator("a.tap")
    box = link.bounding_box()
    assert box is not None and box["height"] >= 44
    page.screenshot(path=str(screenshots / "workbench-01-field-staff-phone.png"), full_page=True)
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/devices/{MN_A1}")
    tab.check_clean()


def test_operator_on_a_desktop(visit: Any, screenshots: Path) -> None:
    tab = visit(DESKTOP)
    tab.login_at_root("op_a")
    page = tab.page
    assert page.url.endswith("/workbench")
    tab.wait_for_rates()
    assert page.locator("#fault-counts li[data-flagged]").count() == 1
    tab.no_sideways_scrolling()
    # keyboard: Tab reaches the skip link first (then the navigation and the tiles)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.screenshot(path=str(screenshots / "workbench-02-operator-desktop.png"), full_page=True)
    tab.check_clean()
