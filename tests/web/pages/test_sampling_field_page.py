"""The on-site entry page (/sampling/plans/{id}/entry): who may open it, what it tells the sampler, and in a
real browser (Debian's chromium) on a 375 px phone with a faked GPS position: an entry registered online,
an entry queued offline and sent when the network returns, an entry whose request failed sent again when the
page is opened, and a refusal (window not open yet) shown in words.

The world (``field_world_at``, shared with the scan and verification page tests) is the sampling world of
``tests/sampling/conftest.py`` built around the real clock (温州检测 WZJC with its plan at 甲化工, open from
an hour ago), plus: accounts linked to the samplers (``lab_a`` is 陈采样 of 温州检测, ``lab_b`` is 外人 of
杭州检测, ``lab_loose`` is a 温州检测 account linked to nobody), a 温州检测 plan whose window opens in two
hours, a 杭州检测 plan at 乙印染, a 温州检测 sample that was labelled, reprinted and dispatched (with a note,
seal number and appearance no public page may show) and a 杭州检测 sample.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, func, select, update

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.registry import service_operators as ops
from envwatch.registry.agencies_schema import agency_staff
from envwatch.registry.models import OperatorIn
from envwatch.sampling.entry import Position
from envwatch.sampling.plans import PlanDraft, PlanItemDraft, create_plan
from envwatch.sampling.schema import custody_events, samples
from envwatch.sampling.steps import StepInput, record_reprint, record_step
from envwatch.web.app import create_app
from tests.sampling.conftest import SamplingWorld, build_sampling_world
from tests.web.pages.browser import Tab, Tabs
from tests.web.pages.conftest import create_users, credit_code, fresh_store, serving
from tests.web.pages.test_pages import login

PHONE = {"width": 375, "height": 812}
# what only the parties may see: the public verification page must show none of it
SECRET_NOTE = "内部备注：封样时发现瓶盖松动-7Q"
SECRET_SEAL = "FZ-2026-000917"
SECRET_APPEARANCE = "淡黄微浊有刺激性气味"
OTHER_SITE = Position(Decimal("28.0"), Decimal("120.7"))  # 乙's outlet


@dataclass(frozen=True)
class FieldWorld:
    base_url: str
    settings: Settings
    engine: Engine
    now: datetime
    sw: SamplingWorld
    later_plan: dict[str, Any]  # 温州检测, window opens in 2 h
    other_plan: dict[str, Any]  # 杭州检测 at 乙印染
    code: str  # 温州检测's sample at 甲化工: registered, labelled, reprinted, dispatched
    other_code: str  # 杭州检测's sample at 乙印染


@contextmanager
def field_world_at(data_dir: Path) -> Iterator[FieldWorld]:
    """The world of the module docstring on a fresh store, served by uvicorn."""
    with fresh_store(data_dir) as (settings, engine):
        now = utcnow()
        sw = build_sampling_world(engine, now)
        with engine.begin() as conn:
            for staff, username in (("chen", "lab_a"), ("stranger", "lab_b")):
                conn.execute(
                    update(agency_staff).where(agency_staff.c.id == sw.staff[staff]).values(username=username)
                )
            later = create_plan(
                conn,
                PlanDraft(
                    agency_id=sw.agency, enterprise_id=sw.enterprises["jia"], outlet_id=sw.outlets["gas"],
                    point_name="1号排口 下午", window_start=now + timedelta(hours=2),
                    window_end=now + timedelta(hours=6), team=[sw.staff["chen"]],
                    items=[PlanItemDraft("二氧化硫", "采样袋", "", 1)],
                ),
                actor="planner", now=now,
            )  # fmt: skip
            other = create_plan(
                conn,
                PlanDraft(
                    agency_id=sw.other_agency, enterprise_id=sw.enterprises["yi"], outlet_id=sw.outlets["yi_gas"],
                    point_name="乙排口", window_start=now - timedelta(hours=1), window_end=now + timedelta(hours=5),
                    team=[sw.staff["stranger"]], items=[PlanItemDraft("总磷", "250 mL 聚乙烯瓶", "", 1)],
                ),
                actor="planner", now=now,
            )  # fmt: skip
            sample = sw.register(
                conn, sw.entry(note=SECRET_NOTE, seal_no=SECRET_SEAL, appearance=SECRET_APPEARANCE), now=now
            )
            for step, extra in (("print_label", {}), ("dispatch", {"preservation": {"cold": True}})):
                record_step(
                    conn,
                    sample["code"],
                    step,
                    StepInput(staff_id=sw.staff["chen"], **extra),
                    actor="lab_a",
                    now=now,
                )
                if step == "print_label":
                    record_reprint(
                        conn, sample["code"], staff_id=sw.staff["chen"], video_sha256="c" * 64,
                        reason="标签被雨水打湿", actor="lab_a", now=now,
                    )  # fmt: skip
            other_sample = sw.register(
                conn,
                sw.entry(sampler="stranger", plan_item_id=other["items"][0]["id"], position=OTHER_SITE),
                now=now,
            )
            operator = ops.create_operator(conn, OperatorIn(name="运维丙", credit_code=credit_code(7)), now)
            create_users(
                conn,
                [
                    ("admin1", {"role": "admin"}),
                    ("lab_a", {"role": "agency", "agency_id": sw.agency}),
                    ("lab_b", {"role": "agency", "agency_id": sw.other_agency}),
                    ("lab_loose", {"role": "agency", "agency_id": sw.agency}),
                    ("reg_zj", {"role": "regulator", "region_code": "330000"}),
                    ("reg_gd", {"role": "regulator", "region_code": "440000"}),
                    ("ent_jia", {"role": "enterprise", "enterprise_id": sw.enterprises["jia"]}),
                    ("ent_yi", {"role": "enterprise", "enterprise_id": sw.enterprises["yi"]}),
                    ("op1", {"role": "operator", "operator_id": operator["id"]}),
                ],
                now,
            )
        with serving(settings, engine) as url:
            yield FieldWorld(
                url, settings, engine, now, sw, later, other, sample["code"], other_sample["code"]
            )


@pytest.fixture(scope="module")
def fw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldWorld]:
    with field_world_at(tmp_path_factory.mktemp("sampling_field") / "var") as world:
        yield world


def english_client(world: FieldWorld) -> TestClient:
    # English: the strings are the msgids whether or not the catalog holds them yet
    return TestClient(create_app(world.settings, world.engine), cookies={"lang": "en"})


@pytest.fixture
def client(fw: FieldWorld) -> Iterator[TestClient]:
    with english_client(fw) as c:
        yield c


def entry_path(plan: dict[str, Any]) -> str:
    return f"/sampling/plans/{plan['id']}/entry"


def sample_count(engine: Engine, item_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(samples).where(samples.c.plan_item_id == item_id)
            ).scalar_one()
        )


# ---- who may open the page --------------------------------------------------------------------------------


def test_without_a_session_the_page_asks_for_a_login(client: TestClient, fw: FieldWorld) -> None:
    r = client.get(entry_path(fw.sw.plan), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/sampling/plans/")


@pytest.mark.parametrize("username", ["reg_zj", "ent_jia", "op1"])
def test_roles_that_cannot_register_are_refused(client: TestClient, fw: FieldWorld, username: str) -> None:
    login(client, username)
    r = client.get(entry_path(fw.sw.plan))
    assert r.status_code == 403
    assert "cannot register samples" in r.text


def test_another_agencys_plan_is_not_found_like_a_missing_one(client: TestClient, fw: FieldWorld) -> None:
    login(client, "lab_b")
    theirs = client.get(entry_path(fw.sw.plan))
    missing = client.get("/sampling/plans/987654/entry")
    assert theirs.status_code == missing.status_code == 404
    assert "no sampling plan with id" in theirs.text and "no sampling plan with id" in missing.text
    assert "1号排口" not in theirs.text  # nothing of the plan leaks
    own = client.get(entry_path(fw.other_plan))
    assert own.status_code == 200 and "乙排口" in own.text


def test_agency_sampler_sees_the_plan_the_rules_and_one_form_per_item(
    client: TestClient, fw: FieldWorld
) -> None:
    login(client, "lab_a")
    r = client.get(entry_path(fw.sw.plan))
    assert r.status_code == 200
    html = r.text
    assert "1号排口 采样口" in html and "温州检测" in html and "甲化工" in html
    assert 'data-window="open"' in html
    assert f"within {fw.settings.sampling_max_distance_m} m of the point" in html
    assert f"within {fw.settings.sampling_offline_max_age_h} h" in html
    for item_id in fw.sw.items.values():
        assert f'id="item-{item_id}"' in html
    # 化学需氧量: one of two bottles registered already (the world's sample); 氨氮: none of one
    assert re.search(rf'id="registered-{fw.sw.items["cod"]}">1<', html)
    assert re.search(rf'id="registered-{fw.sw.items["nh3"]}">0<', html)
    assert "H2SO4 至 pH&lt;2, 4 ℃" in html  # the preservation requirement of the method
    assert 'id="problems"' not in html  # linked, on the team, trained
    assert 'id="sampler"' not in html  # an agency account is its own sampler
    assert 'data-sync-url="/api/v1/sampling/samples/sync"' in html
    assert f'data-lat="{fw.sw.plan["latitude"]}"' in html
    # the buttons only work with the script (which enables them); without it the page says so
    assert html.count('sf-register" disabled') == 2 and 'id="noscript"' in html


def test_admin_chooses_the_sampler_from_the_team(client: TestClient, fw: FieldWorld) -> None:
    login(client, "admin1")
    html = client.get(entry_path(fw.sw.plan)).text
    options = re.findall(
        r'<option value="(\d+)">([^<]+)</option>', html.split('id="sampler"')[1].split("</select>")[0]
    )
    # the team but for 离职 (left the agency)
    assert {int(v) for v, _ in options} == set(fw.sw.plan["team"]) - {fw.sw.staff["left"]}
    assert (str(fw.sw.staff["chen"]), "陈采样") in options
    assert "no valid training" in html  # 过期, 未通过 … are marked


def test_an_account_linked_to_nobody_is_told_before_going_on_site(client: TestClient, fw: FieldWorld) -> None:
    login(client, "lab_loose")
    html = client.get(entry_path(fw.sw.plan)).text
    assert 'id="problems"' in html and "not linked to a staff member" in html


def test_a_plan_not_open_yet_says_when_it_opens(client: TestClient, fw: FieldWorld) -> None:
    login(client, "lab_a")
    html = client.get(entry_path(fw.later_plan)).text
    assert 'data-window="before"' in html
    assert "entries made before then are refused" in html


def test_the_page_runs_only_same_origin_scripts(client: TestClient, fw: FieldWorld) -> None:
    login(client, "lab_a")
    r = client.get(entry_path(fw.sw.plan))
    assert "script-src 'self'" in r.headers["content-security-policy"]
    scripts = re.findall(r"<script([^>]*)>", r.text)
    for attrs in scripts:  # every script is a same-origin file, or a JSON data block (never executed)
        assert re.search(r'src="/static/', attrs) or 'type="application/json"' in attrs, attrs
    assert '<script src="/static/sampling-field.js" defer>' in r.text


# ---- in a real browser, on a phone -------------------------------------------------------------------------


def _near(site: Position, metres_north: float = 40) -> dict[str, float]:
    return {
        "latitude": float(site.latitude) + metres_north / 111_195,
        "longitude": float(site.longitude),
        "accuracy": 6,
    }


@pytest.fixture
def phone(browser: Any, fw: FieldWorld) -> Iterator[Tab]:
    with Tabs(browser, fw.base_url) as tabs:
        tab = tabs.open(PHONE, mobile=True, geolocation=_near(fw.sw.site), permissions=["geolocation"])
        tab.go(entry_path(fw.sw.plan))
        tab.login("lab_a")
        yield tab


def _register(tab: Tab, item_id: int, appearance: str, **fields: str) -> None:
    form = tab.page.locator(f"#item-{item_id}")
    form.locator("input[name=appearance]").fill(appearance)
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("button[type=submit]").click()


def _result(tab: Tab, status: str) -> Any:
    found = tab.page.locator(f"#results li[data-status={status}]").first
    found.wait_for(timeout=15000)
    return found


def _event(engine: Engine, code: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            select(custody_events, samples.c.needs_review, samples.c.entry_id)
            .join(samples, samples.c.id == custody_events.c.sample_id)
            .where(samples.c.code == code, custody_events.c.seq == 1)
        ).mappings().one()  # fmt: skip
        return dict(row)


@pytest.mark.timeout(180)
def test_an_entry_registered_online_on_a_phone(phone: Tab, fw: FieldWorld, screenshots: Path) -> None:
    page = phone.page
    assert phone.path() == entry_path(fw.sw.plan)
    assert page.locator("#network").get_attribute("data-online") == "yes"
    assert page.inner_text("#queue-count") == "0"
    phone.shot(screenshots, "sampling-field-phone-plan")
    phone.no_sideways_scroll()
    cod = fw.sw.items["cod"]
    before = sample_count(fw.engine, cod)
    _register(phone, cod, "无色透明", preservative="H2SO4", seal_no="FZ-0001", note="第二瓶")
    done = _result(phone, "registered")
    link = done.locator("a.sf-open")
    code = link.inner_text() and re.sub(r"^/sampling/samples/", "", link.get_attribute("href") or "")
    assert code and code in done.inner_text()
    assert sample_count(fw.engine, cod) == before + 1
    assert page.inner_text(f"#registered-{cod}") == str(before + 1)
    assert page.inner_text("#queue-count") == "0"
    # the position and the clock came from the phone, nothing typed: 40 m north of the point, online
    event = _event(fw.engine, code)
    assert event["offline"] is False and event["distance_m"] == 40
    assert abs(float(event["latitude"]) - _near(fw.sw.site)["latitude"]) < 1e-6
    assert abs((event["device_at"] - event["at"]).total_seconds()) < 60
    assert event["seal_no"] == "FZ-0001" and event["note"] == "第二瓶"
    assert re.fullmatch(r"[0-9a-f-]{36}", event["entry_id"])
    assert "距采样点 40 米" in page.inner_text(f"#item-{cod} .sf-status")  # a Chinese phone
    assert code in page.inner_text(f"#item-{cod} .sf-answer")  # the answer where the sampler looks
    phone.shot(screenshots, "sampling-field-phone-registered")
    phone.no_sideways_scroll()
    phone.check_clean()


@pytest.mark.timeout(180)
def test_an_entry_made_offline_waits_and_goes_when_the_network_returns(
    phone: Tab, fw: FieldWorld, screenshots: Path
) -> None:
    page = phone.page
    context = page.context
    nh3 = fw.sw.items["nh3"]
    before = sample_count(fw.engine, nh3)
    context.set_offline(True)
    expect(page.locator("#network")).to_have_attribute("data-online", "no")
    _register(phone, nh3, "无色透明", preservative="H2SO4")
    expect(page.locator("#queue-count")).to_have_text("1")
    queued = page.evaluate("JSON.parse(localStorage.getItem('envwatch.sampling.queue.lab_a'))")
    assert len(queued) == 1 and queued[0]["entry"]["offline"] is True
    assert queued[0]["entry"]["plan_item_id"] == nh3
    assert sample_count(fw.engine, nh3) == before  # nothing reached the server
    phone.shot(screenshots, "sampling-field-phone-offline-queued")
    phone.no_sideways_scroll()

    context.set_offline(False)  # the browser's "online" event sends the queue
    done = _result(phone, "registered")
    expect(page.locator("#queue-count")).to_have_text("0")
    code = (done.locator("a.sf-open").get_attribute("href") or "").rsplit("/", 1)[-1]
    assert sample_count(fw.engine, nh3) == before + 1
    event = _event(fw.engine, code)
    assert event["offline"] is True and event["needs_review"] is True and "offline" in event["flags"]
    assert page.evaluate("localStorage.getItem('envwatch.sampling.queue.lab_a')") == "[]"
    phone.shot(screenshots, "sampling-field-phone-offline-sent")
    phone.check_clean()


@pytest.mark.timeout(180)
def test_a_failed_request_keeps_the_entry_until_the_page_is_opened_again(phone: Tab, fw: FieldWorld) -> None:
    page = phone.page
    cod = fw.sw.items["cod"]
    before = sample_count(fw.engine, cod)
    page.route("**/api/v1/sampling/samples/sync", lambda route: route.abort("connectionfailed"))
    _register(phone, cod, "无色透明")
    expect(page.locator("#queue-count")).to_have_text("1")
    # the entry is queued first and sent after; only once the request has failed is it flagged offline
    # (reading the queue as soon as the count shows 1 raced with that, and failed once in a full run)
    page.wait_for_function(
        """() => {
            const q = JSON.parse(localStorage.getItem('envwatch.sampling.queue.lab_a') || '[]');
            return q.length === 1 && q[0].entry.offline === true;
        }""",
        timeout=10_000,
    )  # the request failed: it counts as made offline
    assert sample_count(fw.engine, cod) == before
    page.unroute("**/api/v1/sampling/samples/sync")
    phone.errors.clear()  # chromium logs the aborted request
    page.reload()
    _result(phone, "registered")
    expect(page.locator("#queue-count")).to_have_text("0")
    assert sample_count(fw.engine, cod) == before + 1
    phone.check_clean()


@pytest.mark.timeout(180)
def test_an_entry_before_the_window_is_refused_in_words(
    browser: Any, fw: FieldWorld, screenshots: Path
) -> None:
    with Tabs(browser, fw.base_url) as tabs:
        tab = tabs.open(PHONE, mobile=True, geolocation=_near(fw.sw.site), permissions=["geolocation"])
        tab.go(entry_path(fw.later_plan))
        tab.login("lab_a")
        item = fw.later_plan["items"][0]["id"]
        _register(tab, item, "无色")
        refused = _result(tab, "refused")
        assert "window opens" in refused.inner_text()
        assert tab.page.inner_text("#queue-count") == "0"  # answered: it leaves the queue
        assert sample_count(fw.engine, item) == 0
        tab.shot(screenshots, "sampling-field-phone-refused")
        tab.no_sideways_scroll()
        tab.check_clean()
