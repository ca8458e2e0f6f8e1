"""The staff and training pages in a real browser (Debian's chromium), Chinese, on a desktop and on a 375 px
phone: the operator reads the list with its badges, records a certificate for a person who has none, and
enters scores of two people at once. Screenshots ``om-staff-*``. No request may leave the app's origin, no
console error (a CSP refusal is one) may occur, and nothing may scroll sideways on the phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.browser import Tab, tab_per_viewport
from tests.web.pages.om_staff.conftest import DAY, TODAY, StaffWorld

pytestmark = pytest.mark.timeout(180)

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@pytest.fixture(params=list(VIEWPORTS))
def tab(request: pytest.FixtureRequest, browser: Any, staff_world: StaffWorld) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, staff_world.base_url, VIEWPORTS)


def _fits(tab: Tab, name: str) -> None:
    if name == "phone":
        tab.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)


def test_operator_keeps_files_and_enters_results(
    tab: tuple[str, Tab], staff_world: StaffWorld, screenshots: Path
) -> None:
    name, t = tab
    page = t.page
    t.go("/om/staff")
    t.login("op_a")
    assert t.path() == "/om/staff"
    assert page.locator(f'tr[data-staff="{staff_world.staff["李四"]}"] [data-cert="expiring"]').is_visible()
    assert page.locator("#due").is_visible()
    t.shot(screenshots, f"om-staff-{name}-list")
    _fits(t, name)

    # a new person, then the certificate
    page.click("#add-staff")
    page.wait_for_load_state()
    page.fill("#s-name", f"浏览器新人{name}")
    page.select_option("#s-position", "sampler")
    page.fill("#s-phone", "13900139000")
    _fits(t, name)
    page.click("#new-staff button[type=submit]")
    page.wait_for_load_state()
    found = re.search(r"/om/staff/(\d+)\?done=added$", t.path())
    assert found is not None, t.path()
    assert page.locator('#cert-today [data-cert="none"]').is_visible()
    page.click("#add-certificate summary")
    page.fill("#c-kind", "运维上岗证（废气）")
    page.fill("#c-number", f"B-{name}")
    page.fill("#c-issuer", "环境监测协会")
    page.fill("#c-issued", TODAY.isoformat())
    page.fill("#c-until", (TODAY + 3 * DAY).isoformat())
    t.shot(screenshots, f"om-staff-{name}-certificate-form")
    _fits(t, name)
    page.click("#certificate-form button[type=submit]")
    page.wait_for_load_state()
    assert t.path().endswith("?done=certificate")
    assert page.locator('#cert-today [data-cert="expiring"]').inner_text() == "3 天后到期"
    t.shot(screenshots, f"om-staff-{name}-file")
    _fits(t, name)

    # the trainings: the quarterly table, then two scores at once on a held training
    t.go("/om/trainings")
    assert page.locator("#quarterly").is_visible() and page.locator("#labels").is_visible()
    t.shot(screenshots, f"om-staff-{name}-trainings")
    _fits(t, name)
    t.go(f"/om/trainings/{staff_world.trainings['other']}")
    page.fill(f"#score-{staff_world.staff['王五']}", "88")
    page.fill(f"#score-{found.group(1)}", "59.5")
    _fits(t, name)
    page.click("#results-form button[type=submit]")
    page.wait_for_load_state()
    assert t.path().endswith("?done=results")
    assert page.locator(f'#results tr[data-staff="{staff_world.staff["王五"]}"] .badge.ok').count() >= 1
    assert page.locator(f'#results tr[data-staff="{found.group(1)}"] .badge.bad').count() == 1
    t.shot(screenshots, f"om-staff-{name}-results")
    _fits(t, name)
    t.check_clean()
