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
from tests.web.pages.browser import Tab, tab_per_viewport
from tests.web.pages.reports.conftest import ReportsWorld

pytestmark = pytest.mark.timeout(120)

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def visit(
    request: pytest.FixtureRequest, browser: Any, reports_world: ReportsWorld
) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, reports_world.base_url, VIEWPORTS, accept_downloads=True)


def test_enterprise_downloads_a_monthly_outlet_report(
    visit: tuple[str, Tab],
    reports_world: ReportsWorld,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    name, tab = visit
    base = reports_world.base_url
    page = tab.page

    tab.go("/reports")
    tab.login("ent_a")
    assert page.url == base + "/reports"
    assert page.locator('nav a[aria-current="page"]').get_attribute("href") == "/reports"
    page.fill("#q", "锅炉")
    page.click("#outlet-filter button[type=submit]")
    page.wait_for_load_state()
    options = page.locator("#outlet option")
    assert options.count() == 1 and options.first.get_attribute("value") == str(reports_world.outlet_a)
    month = f"{reports_world.last_month:%Y-%m}"
    page.select_option("#outlet", str(reports_world.outlet_a))
    page.select_option("#month", month)
    page.locator("#outlet-month-download").focus()  # keyboard path: the button takes focus, Enter submits
    tab.shot(screenshots, f"reports-{name}-page")
    if name == "phone":
        tab.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)

    with page.expect_download() as info:
        page.keyboard.press("Enter")
    download = info.value
    assert download.suggested_filename == f"{reports_world.credit_code_a}-DA001-{month}.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    book = openpyxl.load_workbook(saved)
    assert book.sheetnames == [DAILY_SHEET, f"小时 {SO2}"]
    assert book[DAILY_SHEET]["B2"].value == "甲化工有限公司"

    tab.check_clean()
