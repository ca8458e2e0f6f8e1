"""The compliance pages in a real browser (Debian's chromium): the administrator runs every rule from the rules
page and walks the compliance tabs on a desktop and on a 375 px phone; the enterprise sees its findings. No
request may leave the app's origin, no page may log a console error (the Content-Security-Policy reports
refused inline scripts and styles there), nothing may scroll sideways on the phone. Screenshots
``compliance-*``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.conftest import World

pytestmark = pytest.mark.timeout(180)

PHONE = {"width": 375, "height": 812}
TABS = (
    ("/compliance/findings", "findings"),
    ("/compliance/rules", "rules"),
    ("/compliance/operators", "operators"),
    ("/compliance/supervision", "supervision"),
    ("/reports/periodic", "reports"),
    ("/compliance/pack", "pack"),
)


def _walk(tab: Tab, screenshots: Path, prefix: str, *, phone: bool) -> None:
    for path, name in TABS:
        tab.go(path)
        assert tab.path().split("?")[0] == path, tab.path()
        assert tab.page.locator("#compliance-tabs").count() == 1, path
        tab.shot(screenshots, f"compliance-{prefix}-{name}")
        if phone:
            tab.no_sideways_scroll(PHONE["width"] + 1)
    tab.check_clean()


def test_admin_runs_the_rules_and_walks_the_tabs(browser: Any, world: World, screenshots: Path) -> None:
    with Tabs(browser, world.base_url) as tabs:
        tab = tabs.open()
        tab.go("/compliance/rules")
        tab.login("admin1")
        page = tab.page
        assert tab.path() == "/compliance/rules"
        assert page.locator("#rules tr[data-rule]").count() >= 40
        page.click("#run-form button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("#run-result").is_visible()
        # every rule ran without an error on this world (the badge says "completed", not "n rule(s) failed")
        assert "ok" in (page.locator("#run-result .badge").get_attribute("class") or "").split()
        tab.shot(screenshots, "compliance-desktop-run")
        _walk(tab, screenshots, "desktop", phone=False)


def test_the_tabs_on_a_phone(browser: Any, world: World, screenshots: Path) -> None:
    with Tabs(browser, world.base_url) as tabs:
        tab = tabs.open(PHONE, mobile=True)
        tab.go("/compliance/findings")
        tab.login("admin1")
        _walk(tab, screenshots, "phone", phone=True)


def test_the_enterprise_sees_findings_only_among_the_admin_tabs(
    browser: Any, world: World, screenshots: Path
) -> None:
    with Tabs(browser, world.base_url) as tabs:
        tab = tabs.open(PHONE, mobile=True)
        tab.go("/compliance/findings")
        tab.login("ent_a")
        links = tab.page.locator("#compliance-tabs a").evaluate_all("a => a.map(x => x.getAttribute('href'))")
        assert links == ["/compliance/findings", "/reports/periodic"]
        tab.go("/compliance/supervision")  # not the enterprise's: refused, as a page
        tab.shot(screenshots, "compliance-enterprise-refused")
        tab.check_clean(403)
