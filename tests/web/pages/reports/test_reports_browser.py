"""The enterprise user's path through the reports page in a real browser (Debian's chromium): /reports →
filter the outlets → pick an outlet and a month → download the monthly report (Playwright's
expect_download) and open it with openpyxl; on a desktop and on a phone (390x844), with screenshots. No
request may leave the app's origin and no console error (a CSP refusal is one) may occur."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from envwatch.reports.outlet_month_xlsx import DAILY_SHEET
from tests.reports.month_world import SO2
from tests.web.pages.conftest import PASSWORD
from tests.web.pages.reports.conftest import ReportsWorld

pytestmark = pytest.mark.timeout(120)

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def page(request: pytest.FixtureRequest, browser: Any) -> Iterator[tuple[str, Any, list[str], list[str]]]:
    name = request.param
    context = browser.new_context(
        viewport=VIEWPORTS[name], locale="zh-CN", is_mobile=name == "phone", accept_downloads=True
    )
    tab = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield name, tab, requests, errors
    context.close()


def test_enterprise_downloads_a_monthly_outlet_report(
    page: tuple[str, Any, list[str], list[str]],
    reports_world: ReportsWorld,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    name, tab, requests, errors = page
    base = reports_world.base_url

    def shot(what: str) -> None:
        tab.screenshot(path=str(screenshots / f"reports-{name}-{what}.png"), full_page=True)

    tab.goto(base + "/reports")
    tab.fill("#username", "ent_a")
    tab.fill("#password", PASSWORD)
    tab.click("form.stack button[type=submit]")
    tab.wait_for_load_state()
    assert tab.url == base + "/reports"
    assert tab.locator('nav a[aria-current="page"]').get_attribute("href") == "/reports"
    tab.fill("#q", "锅炉")
    tab.click("#outlet-filter button[type=submit]")
    tab.wait_for_load_state()
    options = tab.locator("#outlet option")
    assert options.count() == 1 and options.first.get_attribute("value") == str(reports_world.outlet_a)
    month = f"{reports_world.last_month:%Y-%m}"
    tab.select_option("#outlet", str(reports_world.outlet_a))
    tab.select_option("#month", month)
    tab.locator("#outlet-month-download").focus()  # keyboard path: the button takes focus, Enter submits
    shot("page")
    if name == "phone":
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS["phone"]["width"] + 1, f"page is {width}px wide"

    with tab.expect_download() as info:
        tab.keyboard.press("Enter")
    download = info.value
    assert download.suggested_filename == f"{reports_world.credit_code_a}-DA001-{month}.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    book = openpyxl.load_workbook(saved)
    assert book.sheetnames == [DAILY_SHEET, f"小时 {SO2}"]
    assert book[DAILY_SHEET]["B2"].value == "甲化工有限公司"

    foreign = [u for u in requests if not u.startswith(base + "/")]
    assert not foreign, f"requests to other origins: {foreign}"
    assert not errors, errors
