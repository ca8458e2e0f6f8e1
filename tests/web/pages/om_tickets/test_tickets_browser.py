"""A service ticket in a real browser (Debian's chromium) on a 375 px phone, the way it happens: the enterprise
asks from its phone, the field engineer responds, arrives, resolves from his, the enterprise confirms and gives
stars. Screenshots of every step (``tickets-phone-*``). No request may leave the app's origin, no console error
may occur, and nothing may scroll sideways."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.om_tickets.conftest import TicketWorld

pytestmark = pytest.mark.timeout(180)

PHONE = {"width": 375, "height": 812}


def _fits(tab: Tab) -> None:
    tab.no_sideways_scroll(PHONE["width"] + 1)


def _submit(tab: Tab, form: str) -> None:
    tab.page.click(f"#{form} button[type=submit]")
    tab.page.wait_for_load_state()


def test_request_respond_arrive_resolve_confirm_survey_on_a_phone(
    browser: Any, ticket_world: TicketWorld, screenshots: Path
) -> None:
    with Tabs(browser, ticket_world.base_url) as tabs:
        # the enterprise asks, from the list's button
        ent = tabs.open(PHONE, mobile=True)
        ent.go("/om/tickets")
        ent.login("ent_a")
        page = ent.page
        assert page.locator("#satisfaction li").count() == 1
        ent.shot(screenshots, "tickets-phone-list")
        _fits(ent)
        page.click("#new-ticket")
        page.wait_for_load_state()
        assert ent.path() == "/om/tickets/new"
        page.fill("#q-subject", "二氧化硫数据掉线")
        page.fill("#q-description", "今天上午起 1 号排口数采仪无数据上传，现场指示灯闪烁。")
        page.check('#q-channel input[value="phone"]')
        ent.shot(screenshots, "tickets-phone-request-form")
        _fits(ent)
        _submit(ent, "request-form")
        found = re.fullmatch(r"/om/tickets/(\d+)\?done=requested", ent.path())
        assert found is not None, ent.path()
        ticket = f"/om/tickets/{found.group(1)}"
        assert page.locator("#done").is_visible()
        assert page.locator('#clocks [data-clock-state="running"]').count() == 2
        ent.shot(screenshots, "tickets-phone-requested")
        _fits(ent)

        # the field engineer responds, arrives (himself preselected), resolves
        fs = tabs.open(PHONE, mobile=True)
        fs.go(ticket)
        fs.login("fs_a")
        fpage = fs.page
        assert fs.path() == ticket
        fpage.fill("#respond-comment", "已接单，一小时内到场")
        _submit(fs, "respond-form")
        assert fs.path() == f"{ticket}?done=respond"
        assert fpage.locator("#arrive-staff").input_value() == str(ticket_world.staff["zhang"])
        fs.shot(screenshots, "tickets-phone-responded")
        _fits(fs)
        _submit(fs, "arrive-form")
        assert fs.path() == f"{ticket}?done=arrive"
        assert fpage.locator("#on-site-staff").inner_text() == "张工"
        fpage.fill("#resolve-comment", "更换数采仪电源模块，数据已恢复上传。")
        _submit(fs, "resolve-form")
        assert fs.path() == f"{ticket}?done=resolve"
        assert fpage.locator('#clocks [data-clock-state="met"]').count() == 2
        fs.shot(screenshots, "tickets-phone-resolved")
        _fits(fs)

        # the enterprise confirms and rates the service with stars
        ent.go(ticket)
        _submit(ent, "confirm-form")
        assert ent.path() == f"{ticket}?done=confirm"
        assert page.locator("#survey-score input[type=radio]").count() == 5
        ent.shot(screenshots, "tickets-phone-survey-form")
        _fits(ent)
        page.click('label[for="score-5"]')
        assert page.locator("#score-5").is_checked()
        page.fill("#survey-comment", "响应及时，处理专业。")
        _submit(ent, "survey-form")
        assert ent.path() == f"{ticket}?done=survey"
        assert page.locator("#ticket-score .stars").inner_text() == "★★★★★"
        assert page.locator("#survey-form").count() == 0  # once
        assert page.locator("#journal li").count() == 6
        ent.shot(screenshots, "tickets-phone-closed")
        _fits(ent)
        ent.go("/om/tickets/satisfaction")
        assert page.locator("#figures tr[data-operator]").count() == 1
        ent.shot(screenshots, "tickets-phone-satisfaction")
        _fits(ent)
        ent.check_clean()
        fs.check_clean()
