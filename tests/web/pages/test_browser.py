"""Each role's main path in a real browser (Debian's chromium, headless), with screenshots (issue 4).

Screenshots go to tests/web/pages/screenshots/ (gitignored; ENVWATCH_SCREENSHOTS moves them). Every
request a page makes must go to the app itself (no CDN), and no page may log a console error (the
Content-Security-Policy reports refused scripts and styles there).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from envwatch.core.clock import to_china, utcnow
from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.conftest import MN_A, MN_B, MN_LOOSE, World

pytestmark = pytest.mark.timeout(120)


def device_mns(tab: Tab) -> set[str]:
    return set(
        tab.page.locator("#device-rows tr[data-mn]").evaluate_all("rows => rows.map(r => r.dataset.mn)")
    )


@pytest.fixture
def tab(browser: Any, world: World) -> Iterator[Tab]:
    with Tabs(browser, world.base_url) as tabs:
        yield tabs.open({"width": 1280, "height": 800})


@pytest.fixture
def phone(browser: Any, world: World) -> Iterator[Tab]:
    with Tabs(browser, world.base_url) as tabs:
        yield tabs.open({"width": 375, "height": 740}, mobile=True)


def test_admin_path(tab: Tab, screenshots: Path) -> None:
    page = tab.page
    tab.go("/devices")
    assert tab.path() == "/login?next=/devices"  # not logged in: to the login page, and back afterwards
    assert page.locator("html").get_attribute("lang") == "zh-CN"  # Chinese by default
    tab.shot(screenshots, "01-login-zh")
    tab.login("admin1")
    assert tab.path() == "/devices"
    assert device_mns(tab) == {MN_A, MN_B, MN_LOOSE}
    row_a = page.locator(f'tr[data-mn="{MN_A}"]')
    assert "在线" in row_a.inner_text() and "甲化工有限公司" in row_a.inner_text()
    assert "离线" in page.locator(f'tr[data-mn="{MN_B}"]').inner_text()
    # the last packet time is China time: the year-month-day hh:mm:ss form
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row_a.locator("time").inner_text())
    # the htmx refresh swaps the rows in place
    with page.expect_response(lambda r: r.url.endswith("/devices/rows") and r.status == 200):
        page.get_by_role("button", name="刷新").click()
    page.wait_for_timeout(50)
    assert device_mns(tab) == {MN_A, MN_B, MN_LOOSE}
    tab.shot(screenshots, "02-admin-devices-zh")

    page.get_by_role("link", name="概览").click()
    page.wait_for_load_state()
    assert tab.path() == "/home"
    assert page.locator("#n-devices").inner_text() == "3"
    assert page.locator("#n-online").inner_text() == "1"
    assert page.locator("#n-offline").inner_text() == "2"
    assert "全部数据" in page.locator("#scope").inner_text()
    assert "王管理" in page.locator(".who").inner_text()
    tab.shot(screenshots, "03-admin-home-zh")

    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert tab.path() == "/home" and page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Overview"
    page.get_by_role("link", name="Devices").click()
    page.wait_for_load_state()
    assert (
        page.locator("h1").inner_text() == "Devices" and "online" in page.locator("#device-rows").inner_text()
    )
    tab.shot(screenshots, "04-admin-devices-en")
    page.get_by_role("link", name="中文").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN" and page.locator("h1").inner_text() == "设备"

    page.get_by_role("button", name="退出登录").click()
    page.wait_for_load_state()
    assert tab.path() == "/login"
    tab.go("/home")
    assert tab.path() == "/login?next=/home"  # the session is gone
    tab.check_clean()


def test_enterprise_sees_only_its_own(phone: Tab, screenshots: Path) -> None:
    page = phone.page
    phone.go("/")
    phone.login("ent_a")
    assert phone.path() == "/outlets"  # "/" sends the role to its start page (routes.START_PAGE)
    assert "甲化工有限公司" in page.locator("main").inner_text()
    phone.go("/home")
    assert "甲化工有限公司" in page.locator("#scope").inner_text()
    assert page.locator("#n-devices").inner_text() == "1"
    assert page.locator("#n-online").inner_text() == "1"
    nav = page.locator("header nav a").all_inner_texts()
    assert nav == [
        "概览",
        "报警",
        "电子督办",
        "运维",
        "采样",
        "存证",
        "合规",
        "排放口",
        "设备",
        "传输率",
        "标记",
        "备案",
        "报表",
        "信息公开",
        "站内消息",
    ]
    phone.shot(screenshots, "05-enterprise-home-phone")
    page.get_by_role("link", name="设备", exact=True).click()
    page.wait_for_load_state()
    assert device_mns(phone) == {MN_A}
    assert "乙热电" not in page.content()
    # usable at 375 px: nothing wider than the screen (the table turns into labelled cards)
    phone.no_sideways_scroll(375)
    phone.shot(screenshots, "06-enterprise-devices-phone")
    phone.check_clean()


def test_wrong_password_locks_out(tab: Tab, screenshots: Path) -> None:
    page = tab.page
    tab.go("/login")
    for _ in range(5):
        tab.login("locky", "not the password")
        assert "用户名或密码错误" in page.locator("#login-error").inner_text()
    tab.login("locky")  # now even the right password is refused
    assert "锁定" in page.locator("#login-error").inner_text()
    assert tab.path().startswith("/login")
    tab.shot(screenshots, "07-lockout-zh")
    tab.check_clean(401, 423)  # the login form comes back as 401 (wrong) and 423 (locked)


def test_page_form_without_csrf_token_is_refused(tab: Tab, world: World) -> None:
    tab.go("/login")
    tab.login("admin1")
    request = tab.page.request  # shares the browser context's cookies
    refused = request.post(world.base_url + "/logout", form={}, max_redirects=0)
    assert refused.status == 403
    wrong = request.post(world.base_url + "/logout", form={"csrf_token": "forged"}, max_redirects=0)
    assert wrong.status == 403
    tab.go("/home")
    assert tab.path() == "/home"  # still logged in: the refused logouts changed nothing
    token = tab.page.locator("form[action='/logout'] input[name=csrf_token]").get_attribute("value")
    done = request.post(world.base_url + "/logout", form={"csrf_token": token}, max_redirects=0)
    assert done.status == 303


def test_keyboard_reaches_a_visible_skip_link(tab: Tab, screenshots: Path) -> None:
    tab.go("/login")
    tab.login("admin1")
    tab.page.keyboard.press("Tab")
    focused = tab.page.evaluate(
        "(() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return [e.className, s.outlineStyle, e.getBoundingClientRect().left >= 0]; })()"
    )
    assert focused == ["skip", "solid", True]
    tab.shot(screenshots, "08-keyboard-focus")


def test_admin_device_rates_marks(tab: Tab, screenshots: Path) -> None:
    """Admin: device page (the chart is drawn) → rates → marks → a mark created in the form is listed."""
    page = tab.page
    tab.go("/devices")
    tab.login("admin1")
    page.locator(f'a[href="/devices/{MN_A}"]').click()
    page.wait_for_load_state()
    assert tab.path() == f"/devices/{MN_A}"
    canvas = page.locator("#chart canvas").first
    canvas.wait_for(state="attached", timeout=5000)
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100  # ECharts drew into it
    assert page.locator('#hours tr[data-outcome="invalid"]').count() > 0
    tab.shot(screenshots, "09-admin-device-zh")

    page.get_by_role("link", name="传输率", exact=True).click()
    page.wait_for_load_state()
    assert tab.path() == "/rates"
    assert page.locator("#rates tr[data-mn]").count() == 3
    tab.shot(screenshots, "10-admin-rates-zh")

    page.get_by_role("link", name="标记", exact=True).click()
    page.wait_for_load_state()
    assert tab.path() == "/marks"
    hour = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=44)
    page.select_option("#m-mn", MN_A)
    page.select_option("#m-code", "fault")
    page.fill("#m-start", to_china(hour).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#m-end", to_china(hour + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#m-reason", "浏览器测试：分析仪故障")
    page.click("#mark-form button[type=submit]")
    page.wait_for_load_state()
    assert tab.path() == "/marks"
    assert "浏览器测试：分析仪故障" in page.locator("#marks").inner_text()
    tab.shot(screenshots, "11-admin-marks-zh")
    tab.check_clean()


def test_enterprise_device_page_on_a_phone(phone: Tab, screenshots: Path) -> None:
    page = phone.page
    phone.go(f"/devices/{MN_A}")
    phone.login("ent_a")
    assert phone.path() == f"/devices/{MN_A}"
    page.locator("#chart canvas").first.wait_for(state="attached", timeout=5000)
    phone.no_sideways_scroll(375)
    phone.shot(screenshots, "12-enterprise-device-phone")
    phone.go(f"/devices/{MN_B}")  # another enterprise's device: not found
    assert "未找到" in page.locator("h1").inner_text()
    phone.check_clean(404)
