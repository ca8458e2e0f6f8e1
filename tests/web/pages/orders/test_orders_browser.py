"""The supervision order flow in a real browser (Debian's chromium), on a desktop and on a phone (390x844):
the regulator issues an order from an alarm, the enterprise responds with two evidence files, the regulator
accepts; then the enterprise's messages and the operator's daily audit (sign a day). Screenshots of every
step (``orders-*``, ``inbox-*``, ``audit-*``). No request may leave the app's origin, no console error (a CSP
refusal is one) may occur, and nothing may scroll sideways on the phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.orders.conftest import OrderWorld

pytestmark = pytest.mark.timeout(180)

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def tabs(request: pytest.FixtureRequest, browser: Any, order_world: OrderWorld) -> Iterator[tuple[str, Tabs]]:
    with Tabs(browser, order_world.base_url) as opened:
        yield request.param, opened


def _open(tabs: Tabs, name: str) -> Tab:
    return tabs.open(VIEWPORTS[name], mobile=name == "phone")


def _fits(tab: Tab, name: str) -> None:
    if name == "phone":
        tab.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)


def test_issue_respond_accept(
    tabs: tuple[str, Tabs], order_world: OrderWorld, screenshots: Path, tmp_path: Path
) -> None:
    name, opened = tabs
    alarm = order_world.alarms["offline_a"]
    title = f"浏览器下发的督办 {name}"

    # the regulator: from the alarm (?alarm=) the form opens with the alarm and its enterprise chosen
    reg = _open(opened, name)
    reg.go(f"/orders?alarm={alarm}")
    reg.login("reg_zj")
    page = reg.page
    assert page.locator("#issue-form").is_visible()
    assert page.locator(f'#i-alarms input[value="{alarm}"]').is_checked()
    assert page.locator("#i-receiver").input_value() == f"enterprise:{order_world.enterprises['a']}"
    page.fill("#i-title", title)
    page.fill("#i-body", "三日内查明掉线原因，修复后上传现场照片和维修记录。")
    reg.shot(screenshots, f"orders-{name}-issue-form")
    _fits(reg, name)
    page.click("#issue-form button[type=submit]")
    page.wait_for_load_state()
    found = re.search(r"/orders/(\d+)\?done=issued$", reg.path())
    assert found is not None, reg.path()
    order_path = f"/orders/{found.group(1)}"
    assert (
        page.locator("#done").is_visible() and page.locator(f'#cited a[href="/alarms/{alarm}"]').count() == 1
    )
    reg.shot(screenshots, f"orders-{name}-issued")
    _fits(reg, name)

    # the enterprise: responds with two files in one form
    ent = _open(opened, name)
    ent.go(order_path)
    ent.login("ent_a")
    epage = ent.page
    assert ent.path() == order_path and epage.locator("#respond-form").is_visible()
    photo, record = tmp_path / "现场照片.txt", tmp_path / "维修记录.txt"
    photo.write_text("photo", encoding="utf-8")
    record.write_text("record", encoding="utf-8")
    epage.fill("#r-text", "更换了数采仪电源模块，已恢复上传。")
    epage.set_input_files("#r-files", [str(photo), str(record)])
    epage.click("#respond-form button[type=submit]")
    epage.wait_for_load_state()
    assert ent.path() == f"{order_path}?done=respond"
    assert epage.locator("#evidence li[data-attachment]").count() == 2
    assert epage.locator('#journal li[data-event="respond"]').count() == 1
    ent.shot(screenshots, f"orders-{name}-responded")
    _fits(ent, name)

    # the regulator accepts
    reg.go(order_path)
    page.click("#accept-form >> xpath=.. >> summary")
    page.fill("#a-text", "整改到位，予以办结。")
    page.click("#accept-form button[type=submit]")
    page.wait_for_load_state()
    assert reg.path() == f"{order_path}?done=accept"
    assert page.locator('#order-state [data-state="accepted"]').count() == 1
    reg.shot(screenshots, f"orders-{name}-accepted")
    _fits(reg, name)
    page.click('header nav a[href="/orders"]')
    page.wait_for_load_state()
    reg.shot(screenshots, f"orders-{name}-list", full_page=name == "phone")
    _fits(reg, name)

    # the enterprise's messages name the order
    ent.go("/inbox")
    assert ent.page.locator(f'#messages a[href="{order_path}"]').count() >= 3  # issued, responded, accepted
    ent.shot(screenshots, f"inbox-{name}")
    _fits(ent, name)
    reg.check_clean()
    ent.check_clean()


def test_the_operator_signs_a_day(tabs: tuple[str, Tabs], order_world: OrderWorld, screenshots: Path) -> None:
    name, opened = tabs
    tab = _open(opened, name)
    tab.go("/audit")
    tab.login("op_a")
    page = tab.page
    assert page.locator('#audit-days tr[data-audit="running"]').count() == 1  # today
    tab.shot(screenshots, f"audit-{name}-days", full_page=False)
    _fits(tab, name)
    day = order_world.days_ago(12 if name == "desktop" else 13).isoformat()
    page.click(f'#audit-days tr[data-day="{day}"] a')
    page.wait_for_load_state()
    page.fill("#s-note", "已逐条核对当日数据")
    page.click("#sign-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#done").is_visible() and page.locator("#sign-offs li[data-sign-off]").count() == 1
    tab.shot(screenshots, f"audit-{name}-day")
    _fits(tab, name)
    tab.go("/audit")
    assert page.locator(f'#audit-days tr[data-day="{day}"]').get_attribute("data-audit") == "signed"
    tab.check_clean()
