"""The public disclosure paths in a real browser (Debian's chromium, headless), with screenshots: an
anonymous visitor searches, opens an enterprise and changes the day; the enterprise edits its statement.
Selectors are ids, not texts, so the tests do not depend on the catalogs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.conftest import PASSWORD
from tests.web.pages.public.conftest import PublicWorld

pytestmark = pytest.mark.timeout(120)

VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


class Visitor:
    """A browser page that records what it fetched and what it complained about."""

    def __init__(self, page: Any, world: PublicWorld, size: str) -> None:
        self.page = page
        self.world = world
        self.size = size
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, path: str) -> None:
        self.page.goto(self.world.base_url + path)

    def shot(self, directory: Path, name: str) -> None:
        self.page.screenshot(path=str(directory / f"{name}.png"), full_page=True)

    def check_clean(self) -> None:
        foreign = [u for u in self.requests if not u.startswith(self.world.base_url + "/")]
        assert not foreign, f"requests to other origins: {foreign}"
        assert not self.errors, f"console errors: {self.errors}"

    def fits(self) -> None:
        """No sideways scrolling on the phone."""
        if self.size == "phone":
            assert self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.fixture(params=sorted(VIEWPORTS))
def visitor(request: pytest.FixtureRequest, browser: Any, public_world: PublicWorld) -> Iterator[Visitor]:
    context = browser.new_context(
        viewport=VIEWPORTS[request.param], locale="zh-CN", is_mobile=request.param == "phone"
    )
    yield Visitor(context.new_page(), public_world, request.param)
    context.close()


def test_anonymous_visitor(visitor: Visitor, public_world: PublicWorld, screenshots: Path) -> None:
    page, size = visitor.page, visitor.size
    visitor.go("/public")
    assert page.context.cookies() == []  # no session, nothing set
    page.fill("#q", "化工")
    page.press("#q", "Enter")
    page.wait_for_load_state()
    assert "q=" in page.url
    rows = page.locator("#public-enterprises tbody tr[data-code]")
    assert rows.count() == 1
    visitor.shot(screenshots, f"public-01-list-{size}")
    rows.first.locator("a").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/public/{public_world.codes['甲']}")
    assert page.locator("h1").inner_text() == "甲化工有限公司"
    assert page.locator("details.factor[open] tr[data-outcome]").count() == 24
    assert page.locator("details.factor[open] tr[data-over]").count() == 1
    visitor.fits()
    visitor.shot(screenshots, f"public-02-enterprise-{size}")

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
    visitor.fits()
    visitor.shot(screenshots, f"public-03-other-day-{size}")
    assert page.context.cookies() == []
    visitor.check_clean()


def test_enterprise_edits_its_statement(
    visitor: Visitor, public_world: PublicWorld, screenshots: Path
) -> None:
    page, size = visitor.page, visitor.size
    visitor.go("/disclosure")
    page.fill("#username", "pub_ent_a")
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/disclosure")
    statement = f"浏览器测试说明（{size}）"
    page.fill("#contact_name", "赵监测")
    page.fill("#statement", statement)
    page.locator("#disclosure-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#saved").is_visible()
    assert statement in page.locator("#disclosure-now").inner_text()
    assert statement in page.locator("#disclosure-history tbody tr").first.inner_text()
    visitor.fits()
    visitor.shot(screenshots, f"public-04-disclosure-{size}")
    page.locator("#public-url").click()
    page.wait_for_load_state()
    assert statement in page.locator("#public-statement").inner_text()
    visitor.check_clean()
