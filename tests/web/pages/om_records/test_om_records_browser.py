"""The field-record form in a real browser (Debian's chromium) on a 375 px phone: field staff pick the device
and the kind, sign in with the phone's position (``static/om-sign-in.js``), mark a checklist item, take a photo
and save; then a record saved without a position (on-site unknown). Screenshots of every step
(``om-records-*``). No request may leave the app's origin, no console error (a CSP refusal is one) may occur,
and nothing may scroll sideways."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.operations.records_world import GAS_MN, SITE, WATER_MN
from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.om_records.conftest import PageWorld

pytestmark = pytest.mark.timeout(180)

PHONE = {"width": 375, "height": 812}


def _phone(tabs: Tabs, **options: Any) -> Tab:
    tab = tabs.open(PHONE, mobile=True, **options)
    return tab


def test_an_inspection_signed_in_on_a_phone(
    browser: Any, records_world: PageWorld, screenshots: Path, tmp_path: Path
) -> None:
    # the phone stands 0.0009° (≈ 100 m) north of the outlet and lets the page read its position
    position = {"latitude": float(SITE[0]) + 0.0009, "longitude": float(SITE[1]), "accuracy": 8}
    with Tabs(browser, records_world.base_url) as tabs:
        tab = _phone(tabs, geolocation=position, permissions=["geolocation"])
        tab.go("/om/records")
        tab.login("fs_a")
        page = tab.page
        assert tab.path() == "/om/records" and page.locator("#due").is_visible()
        tab.shot(screenshots, "om-records-phone-list")
        tab.no_sideways_scroll()

        page.click("#new-record")
        page.wait_for_load_state()
        page.select_option("#n-mn", GAS_MN)
        page.select_option("#n-kind", "inspection")
        tab.shot(screenshots, "om-records-phone-choose")
        page.click("#choose-form button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("#record-form").is_visible()
        tab.no_sideways_scroll()

        page.click("#sign-in-button")
        page.wait_for_function("document.getElementById('n-latitude').value !== ''")
        assert page.input_value("#n-latitude") == f"{float(SITE[0]) + 0.0009:.6f}"
        assert page.input_value("#n-longitude") == f"{float(SITE[1]):.6f}"
        assert re.search(r"30\.27\d+", page.inner_text("#sign-in-status"))
        page.check('input[name="i_ok_1"][value="0"]')
        page.fill('input[name="i_note_1"]', "伴热温度偏低，已调整")
        photo = tmp_path / "现场.png"
        photo.write_bytes(b"\x89PNG\r\n\x1a\nphoto")
        page.set_input_files("#n-photos", str(photo))
        tab.shot(screenshots, "om-records-phone-form")
        tab.no_sideways_scroll()

        page.click("#save-record")
        page.wait_for_load_state()
        found = re.fullmatch(r"/om/records/(\d+)\?done=added", tab.path())
        assert found is not None, tab.path()
        assert page.locator("#done").is_visible()
        assert page.locator('#on-site[data-on-site="yes"]').count() == 1
        assert page.locator('#verdict[data-verdict="fail"]').count() == 1  # one item abnormal
        assert page.locator("#files li[data-attachment]").count() == 1
        assert "100" in page.inner_text("#on-site")  # metres from the outlet
        tab.shot(screenshots, "om-records-phone-record")
        tab.no_sideways_scroll()
        tab.check_clean()


def test_a_record_without_a_position(browser: Any, records_world: PageWorld, screenshots: Path) -> None:
    with Tabs(browser, records_world.base_url) as tabs:
        tab = _phone(tabs)
        tab.go(f"/om/records/new?mn={WATER_MN}&kind=repair")
        tab.login("fs_a")
        page = tab.page
        assert page.locator("#record-form").is_visible()
        page.fill("#n-part", "采样泵")
        page.fill("#n-symptom", "流量偏低")
        page.fill("#n-action", "更换泵管")
        page.fill("#n-result", "流量恢复正常")
        tab.shot(screenshots, "om-records-phone-repair")
        tab.no_sideways_scroll()
        page.click("#save-record")
        page.wait_for_load_state()
        assert re.fullmatch(r"/om/records/\d+\?done=added", tab.path()), tab.path()
        assert page.locator('#on-site[data-on-site="unknown"]').count() == 1
        assert page.locator('#verdict[data-verdict="none"]').count() == 1
        tab.shot(screenshots, "om-records-phone-repair-saved")
        tab.no_sideways_scroll()
        # the correction form opens on the phone too
        page.click("#correct summary")
        assert page.locator("#correct-form").is_visible()
        tab.no_sideways_scroll()
        tab.check_clean()
