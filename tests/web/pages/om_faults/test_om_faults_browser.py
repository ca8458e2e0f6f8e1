"""The fault pages in a real browser (Debian's chromium) on a 375 px phone: the field engineer opens a fault from
an alarm (``?alarm=``), reads its clocks, records a manual backup and one manual result, and restores the
device. Screenshots of every step (``om-faults-*``). Nothing may scroll sideways, no request may leave the
app's origin, no console error may occur."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from envwatch.core.clock import to_china, utcnow
from tests.web.pages.browser import Tabs
from tests.web.pages.om_faults.conftest import MN_C, FaultWorld

pytestmark = pytest.mark.timeout(180)

PHONE = {"width": 375, "height": 812}


def test_a_fault_on_a_phone(browser: Any, fault_world: FaultWorld, screenshots: Path) -> None:
    with Tabs(browser, fault_world.base_url) as tabs:
        tab = tabs.open(PHONE, mobile=True)
        page = tab.page
        # the world's SO2 fault, 3 days without a backup: overdue
        tab.go(f"/om/faults/{fault_world.ids['fault_a']}")
        tab.login("fs_a")
        assert page.locator('#clocks tr[data-clock="backup_required"] .badge.bad').is_visible()
        tab.no_sideways_scroll()
        tab.shot(screenshots, "om-faults-phone-overdue")

        alarm = fault_world.ids["alarm_c"]
        tab.go(f"/om/faults/new?alarm={alarm}")
        assert page.locator("#n-mn").input_value() == MN_C
        tab.no_sideways_scroll()
        tab.shot(screenshots, "om-faults-phone-new")
        page.fill("#n-started", to_china(utcnow() - timedelta(hours=26)).strftime("%Y-%m-%dT%H:%M"))
        page.click("#fault-form button[type=submit]")
        page.wait_for_load_state()
        found = re.search(r"/om/faults/(\d+)\?done=opened$", tab.path())
        assert found is not None, tab.path()
        # 26 h without a backup: the first clock is overdue, in a badge the phone shows whole
        assert page.locator('#clocks tr[data-clock="backup_required"] .badge.bad').is_visible()
        tab.no_sideways_scroll()
        tab.shot(screenshots, "om-faults-phone-opened")

        page.click("#work details:has(#backup_started-form) summary")
        page.select_option("#backup_started-kind", "manual")
        page.fill("#backup_started-at", to_china(utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
        page.click("#backup_started-form button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("#fault-backup").is_visible() and page.locator("#csv-form").is_visible()
        page.click("#results details summary")
        page.fill("#m-factor", "a21026")
        page.fill("#m-sampled", to_china(utcnow() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
        page.fill("#m-value", "12.30")
        page.fill("#m-unit", "mg/m3")
        page.fill("#m-agency", "浙江某检测有限公司")
        page.fill("#m-report", "JC-001")
        page.click("#result-form button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("#manual-results [data-result]").count() == 1
        page.click("#work details:has(#restored-form) summary")
        page.click("#restored-form button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("#done").is_visible() and page.locator("#fault-mark").count() == 1
        tab.no_sideways_scroll()
        tab.shot(screenshots, "om-faults-phone-results")

        tab.go("/om/faults")
        assert page.locator(f'#faults tr[data-fault="{found.group(1)}"]').is_visible()
        tab.no_sideways_scroll()
        tab.shot(screenshots, "om-faults-phone-list")
        tab.check_clean()
