"""The public disclosure paths in a real browser (Debian's chromium, headless), with screenshots: an
anonymous visitor searches, opens an enterprise and changes the day; the enterprise edits its statement.
Selectors are ids, not texts, so the tests do not depend on the catalogs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.browser import Tab, tab_per_viewport
from tests.web.pages.public.conftest import PublicWorld

pytestmark = pytest.mark.timeout(120)

VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


def fits(tab: Tab, size: str) -> None:
    """No sideways scrolling on the phone."""
    if size == "phone":
        tab.no_sideways_scroll()


@pytest.fixture(params=sorted(VIEWPORTS))
def visitor(
    request: pytest.FixtureRequest, browser: Any, public_world: PublicWorld
) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, public_world.base_url, VIEWPORTS)


def test_anonymous_visitor(visitor: tuple[str, Tab], public_world: PublicWorld, screenshots: Path) -> None:
    size, tab = visitor
    page = tab.page
    tab.go("/public")
    assert page.context.cookies() == []  # no session, nothing set
    page.fill("#q", "化工")
    page.press("#q", "Enter")
    page.wait_for_load_state()
    assert "q=" in page.url
    rows = page.locator("#public-enterprises tbody tr[data-code]")
    assert rows.count() == 1
    tab.shot(screenshots, f"public-01-list-{size}")
    rows.first.locator("a").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/public/{public_world.codes['甲']}")
    assert page.locator("h1").inner_text() == "甲化工有限公司"
    assert page.locator("details.factor[open] tr[data-outcome]").count() == 24
    assert page.locator("details.factor[open] tr[data-over]").count() == 1
    fits(tab, size)
    tab.shot(screenshots, f"public-02-enterprise-{size}")

    before = public_world.today - timedelta(days=2)
    page.fill("#day", before.isoformat())
    page.locator("#day-form button[type=submit]").click()
    page.wait_for_load_state()
    assert f"day={before.isoformat()}" in page.url
    assert page.locator("details.factor[open] tr[data-over]").count() == 24
    assert page.locator(f'#public-days tr[data-day="{before.isoformat()}"] td[data-over]').count() == 1
    # keyboard: the previous-day link is reachable and works
    page.locator("#prev-day").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"day={(before - timedelta(days=1)).isoformat()}" in page.url
    fits(tab, size)
    tab.shot(screenshots, f"public-03-other-day-{size}")
    assert page.context.cookies() == []
    tab.check_clean()


def test_enterprise_edits_its_statement(
    visitor: tuple[str, Tab], public_world: PublicWorld, screenshots: Path
) -> None:
    size, tab = visitor
    page = tab.page
    tab.go("/disclosure")
    tab.login("pub_ent_a")
    assert page.url.endswith("/disclosure")
    statement = f"浏览器测试说明（{size}）"
    page.fill("#contact_name", "赵监测")
    page.fill("#statement", statement)
    page.locator("#disclosure-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#saved").is_visible()
    assert statement in page.locator("#disclosure-now").inner_text()
    assert statement in page.locator("#disclosure-history tbody tr").first.inner_text()
    fits(tab, size)
    tab.shot(screenshots, f"public-04-disclosure-{size}")
    page.locator("#public-url").click()
    page.wait_for_load_state()
    assert statement in page.locator("#public-statement").inner_text()
    tab.check_clean()
