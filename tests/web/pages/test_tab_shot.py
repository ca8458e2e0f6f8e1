"""``Tab.shot`` asks Chromium a second time only when it refuses a capture, and never hides anything
else (no browser needed: a page that refuses as told)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.browser import REFUSED_CAPTURE, RETRY_AFTER_MS, Tab


class RefusingPage:
    """Stands in for a playwright page: raises the given errors, one per screenshot, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.captures: list[str] = []
        self.waited_ms = 0.0

    def on(self, _event: str, _handler: Any) -> None:
        pass

    def screenshot(self, *, path: str, full_page: bool) -> None:
        self.captures.append(path)
        if self.errors:
            raise self.errors.pop(0)

    def wait_for_timeout(self, ms: float) -> None:
        self.waited_ms += ms


def refused() -> Exception:
    return RuntimeError(f"Page.screenshot: Protocol error (Page.captureScreenshot): {REFUSED_CAPTURE}")


def test_one_refused_capture_is_asked_again(tmp_path: Path) -> None:
    page = RefusingPage(refused())
    Tab(page, "http://app").shot(tmp_path, "x")
    assert page.captures == [str(tmp_path / "x.png")] * 2
    assert page.waited_ms == RETRY_AFTER_MS


def test_a_second_refusal_fails(tmp_path: Path) -> None:
    page = RefusingPage(refused(), refused())
    with pytest.raises(RuntimeError, match=REFUSED_CAPTURE):
        Tab(page, "http://app").shot(tmp_path, "x")
    assert len(page.captures) == 2


def test_any_other_error_fails_at_once(tmp_path: Path) -> None:
    page = RefusingPage(RuntimeError("Page.screenshot: Timeout 30000ms exceeded"))
    with pytest.raises(RuntimeError, match="Timeout"):
        Tab(page, "http://app").shot(tmp_path, "x")
    assert len(page.captures) == 1
    assert page.waited_ms == 0
