"""The auditor's path in a real browser (Debian's chromium): a certification body's auditor (审核员) of one
operator and one period reads the outlets, a day of hours inside its period and the rates of its period,
and finds no form that writes anything; data outside the period are refused by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.outlets.conftest import MN_GAS_A, OutletWorld

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tab(browser: Any, outlet_world: OutletWorld) -> Iterator[Tab]:
    with Tabs(browser, outlet_world.base_url) as tabs:
        yield tabs.open({"width": 1366, "height": 900})


def test_auditor_reads_its_period_and_writes_nothing(
    tab: Tab, outlet_world: OutletWorld, screenshots: Path
) -> None:
    page = tab.page
    tab.go("/")
    tab.login("aud_a")
    tab.go("/home")
    assert (
        "2025-01-01" in page.locator("#scope").inner_text()
        and "2025-01-31" in page.locator("#scope").inner_text()
    )
    tab.shot(screenshots, "auditor-01-home")

    tab.go("/outlets")
    assert page.locator(f'article[data-outlet="{outlet_world.outlet_gas_a}"]').count() == 1
    tab.go(f"/outlets/{outlet_world.outlet_gas_a}?day=2025-01-15")
    assert page.locator("main h1").count() == 1 and "2025-01-15" in page.content()
    tab.shot(screenshots, "auditor-02-outlet-day-in-period")

    tab.go("/rates")
    assert page.locator("input[name=from]").input_value() == "2025-01-01"  # the rates default to its period
    tab.shot(screenshots, "auditor-03-rates-of-the-period")

    for path in ("/marks", "/filings", f"/outlets/{outlet_world.outlet_gas_a}?day=2025-01-15"):
        tab.go(path)
        # the only form that posts is the logout in the header: nothing to create, correct or send
        posting = page.locator("main form[method=post]").count()
        assert posting == 0, f"{path} offers the auditor {posting} form(s) that write"

    response = page.goto(outlet_world.base_url + f"/devices/{MN_GAS_A}")  # the last 48 h: after its period
    assert response is not None and response.status == 403 and "2025-01-31" in page.content()
    tab.check_clean(403)
