"""Correcting a certificate in a real browser (Debian's chromium), Chinese, on a desktop and on a 375 px
phone: the operator opens the "correct" form next to the certificate, gives the right last day and why, and
sees the old row struck through with who, when and why. Screenshots ``om-staff-*-correction``. No request
may leave the app's origin, no console error may occur, nothing may scroll sideways on the phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envwatch.core.clock import utcnow
from envwatch.operations import staff as staff_store
from tests.web.pages.browser import Tab, tab_per_viewport
from tests.web.pages.om_staff.conftest import DAY, TODAY, StaffWorld

pytestmark = pytest.mark.timeout(180)

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@pytest.fixture(params=list(VIEWPORTS))
def tab(request: pytest.FixtureRequest, browser: Any, staff_world: StaffWorld) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, staff_world.base_url, VIEWPORTS)


def test_operator_corrects_a_certificate(
    tab: tuple[str, Tab], staff_world: StaffWorld, screenshots: Path
) -> None:
    name, t = tab
    now = utcnow()
    with staff_world.engine.begin() as conn:
        sid = staff_store.add_staff(
            conn, operator_id=staff_world.operators["a"], name=f"更正{name}", position="sampler", phone="123",
            now=now,
        )["id"]  # fmt: skip
        cid = staff_store.add_certificate(
            conn, sid, kind="运维上岗证（废气）", number=f"K-{name}", issuer="环境监测协会",
            issued_on=TODAY - 10 * DAY, valid_until=TODAY + 900 * DAY, recorded_by="op_a", now=now,
        )["id"]  # fmt: skip
    page = t.page
    t.go(f"/om/staff/{sid}")
    t.login("op_a")
    page.click(f"#correct-{cid} summary")
    page.fill(f"#k-until-{cid}", (TODAY + 2 * DAY).isoformat())
    page.fill(f"#k-reason-{cid}", "有效期录错：证书上是两天后到期")
    t.shot(screenshots, f"om-staff-{name}-correction-form")
    if name == "phone":
        t.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)
    page.click(f"#correct-form-{cid} button[value=correct]")
    page.wait_for_load_state()
    assert t.path().endswith("?done=certificate_corrected")
    old = page.locator(f'tr[data-certificate="{cid}"]')
    assert old.get_attribute("data-superseded") == "corrected"
    assert "op_a 于" in old.inner_text() and "有效期录错" in old.inner_text()
    assert page.locator('#cert-today [data-cert="expiring"]').inner_text() == "2 天后到期"
    t.shot(screenshots, f"om-staff-{name}-correction")
    if name == "phone":
        t.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)
    t.check_clean()
