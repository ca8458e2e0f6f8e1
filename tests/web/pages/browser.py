"""What every browser test of the pages shares: a ``Tab`` that records every request and console error,
and ``Tabs``, which opens tabs on one app (a desktop or a phone viewport, Chinese locale) and closes them
when the fixture ends. The ``browser`` and ``screenshots`` fixtures are in tests/web/pages/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.web.pages.conftest import PASSWORD

# Chromium now and then refuses one capture outright ("Protocol error (Page.captureScreenshot): Unable
# to capture screenshot") and takes the same picture when asked again; other projects' CI meets it too,
# and ours failed on it once, in test_anonymous_visitor[phone]. A screenshot is a by-product kept for
# people to look at, not what a test asserts, so ``Tab.shot`` asks once more, on that message only,
# rather than fail a test the app passed.
REFUSED_CAPTURE = "Unable to capture screenshot"
RETRY_AFTER_MS = 250

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class Tab:
    """A browser page on the app at ``base_url`` that records what it fetched and what it complained
    about."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def login(self, username: str, password: str = PASSWORD) -> None:
        """Fill in and send the login form of the page that is open."""
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("form.stack button[type=submit]")
        self.page.wait_for_load_state()

    def shot(self, directory: Path, name: str, *, full_page: bool = True) -> None:
        """Save a screenshot as ``directory/name.png``, asking a second time if Chromium refuses the
        first capture (REFUSED_CAPTURE); any other error, or a second refusal, fails the test."""
        path = str(directory / f"{name}.png")
        try:
            self.page.screenshot(path=path, full_page=full_page)
        except Exception as exc:  # playwright's Error; the page object is duck-typed here
            if REFUSED_CAPTURE not in str(exc):
                raise
            self.page.wait_for_timeout(RETRY_AFTER_MS)  # not time.sleep: playwright's events go on
            self.page.screenshot(path=path, full_page=full_page)

    def path(self) -> str:
        return str(self.page.url).removeprefix(self.base_url)

    def check_clean(self, *expected_statuses: int) -> None:
        """No request left the app's origin; no console error but for the statuses a test expects
        (chromium logs every non-2xx document as an error)."""
        foreign = [u for u in self.requests if not u.startswith(self.base_url + "/")]
        assert not foreign, f"requests to other origins: {foreign}"
        expected = tuple(f"status of {code} " for code in expected_statuses)
        errors = [e for e in self.errors if not (expected and any(x in e for x in expected))]
        assert not errors, f"console errors: {errors}"

    def no_sideways_scroll(self, width: int | None = None) -> None:
        """The page is no wider than ``width`` px (by default the window's inner width + 1 px)."""
        scrolled = self.page.evaluate("document.documentElement.scrollWidth")
        limit = self.page.evaluate("window.innerWidth + 1") if width is None else width
        assert scrolled <= limit, f"the page scrolls sideways: {scrolled} px wide"


def tab_per_viewport(
    request: Any, browser: Any, base_url: str, viewports: Mapping[str, dict[str, int]], **options: Any
) -> Iterator[tuple[str, Tab]]:
    """For a fixture parametrized by the names of ``viewports``: the viewport's name and a tab in it
    ("phone" emulates a phone), closed at the end."""
    name = request.param
    with Tabs(browser, base_url) as tabs:
        yield name, tabs.open(viewports[name], mobile=name == "phone", **options)


class Tabs:
    """Opens tabs on the app at ``base_url``, each in a browser context of its own; a context manager
    that closes them all."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[Any] = []

    def open(self, viewport: dict[str, int] = DESKTOP, *, mobile: bool = False, **options: Any) -> Tab:
        """A new tab, Chinese locale; ``mobile`` emulates a phone; ``options`` go to ``new_context``."""
        context = self.browser.new_context(viewport=viewport, locale="zh-CN", is_mobile=mobile, **options)
        self.contexts.append(context)
        return Tab(context.new_page(), self.base_url)

    def __enter__(self) -> Tabs:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for context in self.contexts:
            context.close()
