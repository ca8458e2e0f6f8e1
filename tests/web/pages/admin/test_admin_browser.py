"""The admin's registry and user path in a real browser (Debian's chromium), desktop and phone, with
screenshots: create an enterprise, an outlet, put a device on it, add a limit, create an enterprise user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.admin.conftest import MN_2025, AdminWorld, credit_code
from tests.web.pages.browser import Tab, Tabs

pytestmark = pytest.mark.timeout(180)


def open_new(tab: Tab) -> None:
    tab.page.click("#new > summary")


def submit(tab: Tab, form: str) -> None:
    with tab.page.expect_navigation():
        tab.page.click(f"{form} button[type=submit]")


def login(tab: Tab, username: str = "admin1") -> None:
    tab.go("/login")
    tab.login(username)


@pytest.fixture
def desktop(browser: Any, served: str) -> Iterator[Tab]:
    with Tabs(browser, served) as tabs:
        yield tabs.open({"width": 1440, "height": 900})


@pytest.fixture
def phone(browser: Any, served: str) -> Iterator[Tab]:
    with Tabs(browser, served) as tabs:
        yield tabs.open({"width": 390, "height": 844}, mobile=True)


def test_admin_registry_and_user_path(desktop: Tab, aworld: AdminWorld, screenshots: Path) -> None:
    tab, page = desktop, desktop.page
    login(tab)
    page.click("header nav a[href='/admin/registry']")
    page.wait_for_load_state()
    assert page.url.endswith("/admin/registry/enterprises")

    # an enterprise: first a mistyped credit code (the form says why), then the right one
    open_new(tab)
    page.fill("#c-name", "浏览器测试有限公司")
    page.fill("#c-credit_code", credit_code(70)[:17] + "Z")
    page.fill("#c-region_code", "350102")
    page.select_option("#c-attention_level", "county")
    submit(tab, "#create-form")
    assert "position 18" in page.inner_text("#problem")
    tab.shot(screenshots, "admin-01-enterprise-error")
    page.fill("#c-credit_code", credit_code(70))
    submit(tab, "#create-form")
    assert page.locator("p.saved").count() == 1
    assert page.locator("#rows tr.just-saved").inner_text().count("浏览器测试有限公司") == 1
    tab.shot(screenshots, "admin-02-enterprises")

    # an outlet of it
    page.click(".admin-tabs a[href='/admin/registry/outlets']")
    page.wait_for_load_state()
    open_new(tab)
    page.select_option("#c-enterprise_id", label="浏览器测试有限公司")
    page.fill("#c-code", "DA100")
    page.fill("#c-name", "锅炉排口")
    page.select_option("#c-kind", "gas")
    submit(tab, "#create-form")
    assert "DA100" in page.locator("#rows tr.just-saved").inner_text()

    # the HJ 212-2025 logger onto the outlet, then a new SM4 key shown once
    tab.go(f"/admin/registry/devices/{MN_2025}")
    page.select_option("#p-outlet_id", label="浏览器测试有限公司 · DA100 锅炉排口")
    page.fill("#p-model", "EW-2025")
    submit(tab, "#place-form")
    assert "浏览器测试有限公司" in page.inner_text("#device-record")
    submit(tab, "#key-form")
    assert len(page.inner_text("#new-key .secret").strip()) == 32
    tab.shot(screenshots, "admin-03-device")

    # an emission limit
    page.click(".admin-tabs a[href='/admin/registry/limits']")
    page.wait_for_load_state()
    open_new(tab)
    page.select_option("#c-outlet_id", label="浏览器测试有限公司 · DA100 锅炉排口")
    page.fill("#c-factor", "a21026")
    page.fill("#c-hour_limit", "35")
    page.fill("#c-unit", "mg/m3")
    page.fill("#c-valid_from", "2026-01-01")
    page.fill("#c-legal_source", "GB 13223-2011")
    submit(tab, "#create-form")
    assert "GB 13223-2011" in page.locator("#rows tr.just-saved").inner_text()
    tab.shot(screenshots, "admin-04-limits")

    # an enterprise user of it
    page.click("header nav a[href='/admin/users']")
    page.wait_for_load_state()
    open_new(tab)
    page.fill("#c-username", "browser_ent")
    page.fill("#c-display_name", "浏览器企业用户")
    page.select_option("#c-role", "enterprise")
    page.select_option("#c-enterprise_id", label="浏览器测试有限公司")
    page.fill("#c-password", "a long browser password")
    page.fill("#c-password2", "a long browser password")
    submit(tab, "#user-form")
    assert page.locator('tr[data-user="browser_ent"]').count() == 1
    tab.shot(screenshots, "admin-05-users")
    # chromium logs each non-2xx page as an error: only the refused credit code's 422 may be there
    tab.check_clean(422)


def test_admin_pages_on_a_phone(phone: Tab, screenshots: Path) -> None:
    login(phone)
    for path, name in (
        ("/admin/registry/enterprises", "admin-06-enterprises-phone"),
        (f"/admin/registry/devices/{MN_2025}", "admin-07-device-phone"),
        ("/admin/users", "admin-08-users-phone"),
    ):
        phone.go(path)
        phone.no_sideways_scroll()
        phone.shot(screenshots, name)
    open_new(phone)
    phone.page.keyboard.press("Tab")  # the form opened by its summary is reachable by keyboard
    phone.check_clean()


def test_enterprise_user_sees_403(phone: Tab) -> None:
    login(phone, "ent_a")
    phone.go("/admin/users")
    assert phone.page.locator("h1").inner_text().endswith("(403)")
