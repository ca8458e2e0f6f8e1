"""The public verification page (/v/{code}, what a label's QR code carries): without any session an
authentic code shows the agency, issue day, state, custody steps with China times and the print count; an
unknown, malformed or mistyped code shows "not authentic" with the reason in words (404). Nothing private
(enterprise, point, people, note, seal, appearance, position) is ever in the HTML. A logged-in visitor who
may see the sample gets a link to the sample page; others do not. In a real browser on a 375 px phone, with
screenshots.

The world is the one of ``test_sampling_field_page`` (``field_world_at``): its sample ``fw.code`` was
registered with a distinctive note, seal number and appearance, labelled, reprinted once and dispatched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.core.clock import to_china
from envwatch.registry.agencies_schema import agency_staff
from envwatch.sampling.codes import check_character
from envwatch.sampling.schema import custody_events, samples
from tests.web.pages.browser import Tabs
from tests.web.pages.test_pages import login
from tests.web.pages.test_sampling_field_page import (
    PHONE,
    SECRET_APPEARANCE,
    SECRET_NOTE,
    SECRET_SEAL,
    FieldWorld,
    english_client,
    field_world_at,
)


@pytest.fixture(scope="module")
def fw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldWorld]:
    with field_world_at(tmp_path_factory.mktemp("sampling_verify") / "var") as world:
        yield world


@pytest.fixture
def client(fw: FieldWorld) -> Iterator[TestClient]:
    with english_client(fw) as c:
        yield c


def private_strings(fw: FieldWorld) -> list[str]:
    """Everything about the sample that only the parties may know, read from the store."""
    with fw.engine.connect() as conn:
        sample = conn.execute(select(samples).where(samples.c.code == fw.code)).mappings().one()
        sampler = conn.execute(
            select(agency_staff.c.name).where(agency_staff.c.id == sample["sampler_staff_id"])
        ).scalar_one()
        event = conn.execute(
            select(custody_events).where(custody_events.c.sample_id == sample["id"], custody_events.c.seq == 1)
        ).mappings().one()  # fmt: skip
    return [
        "甲化工",  # the enterprise
        sample["point_name"],
        sample["item"],
        sample["container"],
        sampler,
        SECRET_NOTE,
        SECRET_SEAL,
        SECRET_APPEARANCE,
        sample["preservative"],
        str(event["latitude"])[:7],
        str(event["longitude"])[:7],
        "标签被雨水打湿",  # the reprint's reason
        "lab_a",  # the accounts that acted
    ]


def test_an_authentic_label_without_a_session(client: TestClient, fw: FieldWorld) -> None:
    r = client.get(f"/v/{fw.code}")
    assert r.status_code == 200
    html = r.text
    assert 'data-authentic="yes"' in html and "Authentic" in html
    assert re.search(r'id="agency">温州检测<', html)
    assert f'id="issued">{to_china(fw.now).date().isoformat()}<' in html
    assert 'data-state="in_transport"' in html
    assert 'data-prints="2"' in html and 'id="reprints"' in html and "reprinted 1 times" in html
    events = re.findall(r'<li data-event="(\w+)">', html)
    assert events == ["register", "print_label", "reprint", "dispatch"]
    # each step's time in China time
    assert html.count(to_china(fw.now).strftime("%Y-%m-%d %H:%M:%S")) == 4
    assert 'id="open-sample"' not in html  # no session: no link
    for secret in private_strings(fw):
        assert secret not in html and escape(secret) not in html, secret
    assert "set-cookie" not in r.headers  # a public page starts no session
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_a_code_read_in_lower_case_is_the_same_code(client: TestClient, fw: FieldWorld) -> None:
    r = client.get(f"/v/{fw.code.lower()}")
    assert r.status_code == 200 and f'id="code">{fw.code}<' in r.text


def _mistyped(code: str) -> str:
    body, check = code.rsplit("-", 1)
    return f"{body}-{'0' if check != '0' else '1'}"


def test_what_is_not_authentic_says_why(client: TestClient, fw: FieldWorld) -> None:
    unknown_body = fw.code.rsplit("-", 2)[0] + "-ZZZZZZ"  # the right shape, never issued
    cases = {
        f"{unknown_body}-{check_character(unknown_body)}": "was ever issued",
        _mistyped(fw.code): "check character does not match",
        "not-a-code": "This is not a sample code",
        "330302-WZJC-261340-0001-7KQ9XM-"
        + check_character("330302-WZJC-261340-0001-7KQ9XM"): "not a real date",
    }
    for text, reason in cases.items():
        r = client.get(f"/v/{text}")
        assert r.status_code == 404, text
        assert 'data-authentic="no"' in r.text and "Not authentic" in r.text
        assert reason in r.text, (text, reason)
        assert "温州检测" not in r.text and 'id="custody"' not in r.text


def test_an_overlong_path_is_cut_before_any_work(client: TestClient) -> None:
    r = client.get("/v/" + "A" * 5000)
    shown = re.search(r'id="code">(A+)<', r.text)
    assert r.status_code == 404 and shown is not None and len(shown.group(1)) == 200


@pytest.mark.parametrize(
    ("username", "may_open"),
    [
        ("lab_a", True),
        ("admin1", True),
        ("reg_zj", True),
        ("ent_jia", True),
        ("lab_b", False),
        ("ent_yi", False),
    ],
)
def test_a_logged_in_visitor_who_may_see_the_sample_gets_a_link(
    client: TestClient, fw: FieldWorld, username: str, may_open: bool
) -> None:
    login(client, username)
    html = client.get(f"/v/{fw.code}").text
    assert 'data-authentic="yes"' in html
    assert ('id="open-sample"' in html) is may_open
    if may_open:
        assert f'href="/sampling/samples/{fw.code}"' in html


def test_a_private_string_does_not_reach_even_a_logged_in_visitor_here(
    client: TestClient, fw: FieldWorld
) -> None:
    login(client, "lab_a")  # the verification page is the public answer for everyone; the link leads on
    html = client.get(f"/v/{fw.code}").text
    for secret in private_strings(fw):
        if secret != "lab_a":  # the header shows who is logged in
            assert secret not in html and escape(secret) not in html, secret


def test_on_a_phone_without_an_account(browser: Any, fw: FieldWorld, screenshots: Path) -> None:
    with Tabs(browser, fw.base_url) as tabs:
        tab = tabs.open(PHONE, mobile=True)
        tab.go(f"/v/{fw.code}")
        page = tab.page
        assert tab.path() == f"/v/{fw.code}"  # no login asked
        assert page.locator("#verdict[data-authentic=yes]").is_visible()
        assert "真实" in page.inner_text("#verdict") or "Authentic" in page.inner_text("#verdict")
        tab.shot(screenshots, "sampling-verify-phone-authentic")
        tab.no_sideways_scroll()
        tab.go(f"/v/{_mistyped(fw.code)}")
        assert page.locator("#verdict[data-authentic=no]").is_visible()
        tab.shot(screenshots, "sampling-verify-phone-not-authentic")
        tab.no_sideways_scroll()
        tab.check_clean(404)
