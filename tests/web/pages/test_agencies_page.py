"""The testing-agency pages (/sampling/agencies…): what each role sees, the forms and their refusals over
HTTP (TestClient, English unless said), and in a real browser (Chinese, desktop and a 375 px phone) an agency
adding a sampler and recording the training (screenshots ``agencies-*``).

The world (its own store): 温州检测 (``WZJC``, 330302) with 张三 (sampler, trained), 李四 (sampler, training
expired yesterday), 王五 (analyst, no training); 广州检测 (``GZJC``, 440103) with 钱七. Users: admin1, reg_zj
(浙江), reg_gd (广东), wz1 and wz2 (accounts of 温州检测), gz1 (广州检测), ent_a (an enterprise), op_a (an
operator). Tests that change things make their own people.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.registry import agency_staff, agency_trainings
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.agencies import create_agency
from envwatch.registry.agencies_schema import agencies
from envwatch.registry.agencies_schema import agency_staff as staff_table
from envwatch.registry.agencies_schema import agency_trainings as trainings_table
from envwatch.registry.models import EnterpriseIn, OperatorIn
from envwatch.web.app import create_app
from envwatch.web.scope import china_today
from tests.web.pages.browser import Tab, tab_per_viewport
from tests.web.pages.conftest import create_users, credit_code, fresh_store, row_count, serving
from tests.web.pages.test_pages import login

TODAY = china_today()
DAY = timedelta(days=1)
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@dataclass(frozen=True)
class AgencyWorld:
    settings: Settings
    engine: Engine
    wz: int
    gz: int
    staff: dict[str, int]
    base_url: str


def _code(n: int) -> str:
    return credit_code(n, "9133030300000")


def _build(engine: Engine) -> tuple[int, int, dict[str, int]]:
    now = utcnow()
    with engine.begin() as conn:
        wz = create_agency(
            conn, {"name": "温州检测", "credit_code": _code(1), "code": "WZJC", "region_code": "330302"}, now
        )["id"]
        gz = create_agency(
            conn, {"name": "广州检测", "credit_code": _code(2), "code": "GZJC", "region_code": "440103"}, now
        )["id"]
        ent = svc.create_enterprise(
            conn, EnterpriseIn(name="甲化工", credit_code=_code(3), region_code="330302"), now
        )["id"]
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=_code(4)), now)["id"]
        staff: dict[str, int] = {}
        for name, agency, position, until in (
            ("张三", wz, "sampler", TODAY + 300 * DAY),
            ("李四", wz, "sampler", TODAY - DAY),
            ("王五", wz, "analyst", None),
            ("钱七", gz, "sampler", TODAY + 300 * DAY),
        ):
            staff[name] = agency_staff.add_staff(conn, agency, name=name, position=position, now=now)["id"]
            if until is not None:
                facts = agency_trainings.TrainingFacts(
                    "识别标识系统操作培训", TODAY - 60 * DAY, True, until, "90"
                )
                agency_trainings.record_training(conn, staff[name], facts, recorded_by="admin1", now=now)
        create_users(
            conn,
            [
                ("admin1", {"role": "admin"}),
                ("reg_zj", {"role": "regulator", "region_code": "330000"}),
                ("reg_gd", {"role": "regulator", "region_code": "440000"}),
                ("wz1", {"role": "agency", "agency_id": wz, "display_name": "温州检测 管理员"}),
                ("wz2", {"role": "agency", "agency_id": wz}),
                ("wz3", {"role": "agency", "agency_id": wz}),
                ("gz1", {"role": "agency", "agency_id": gz}),
                ("ent_a", {"role": "enterprise", "enterprise_id": ent}),
                ("op_a", {"role": "operator", "operator_id": op}),
            ],
            now,
        )
    return wz, gz, staff


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgencyWorld]:
    with fresh_store(tmp_path_factory.mktemp("agencies") / "var") as (settings, engine):
        wz, gz, staff = _build(engine)
        with serving(settings, engine) as url:
            yield AgencyWorld(settings, engine, wz, gz, staff, url)


@pytest.fixture
def client(world: AgencyWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, world.engine), cookies={"lang": "en"}) as c:
        yield c


def as_user(client: TestClient, username: str) -> str:
    """Log ``username`` in; the session's CSRF token."""
    login(client, username)
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)


def agency_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-agency="(\d+)"', html)


# ---- who sees what ----


def test_the_list_per_role(client: TestClient, world: AgencyWorld) -> None:
    as_user(client, "admin1")
    html = client.get("/sampling/agencies").text
    assert agency_ids(html)[:2] == [str(world.wz), str(world.gz)]
    assert 'id="new-agency-form"' in html
    # 温州: 1 of 2 samplers trained (李四's ended yesterday; 王五 is no sampler)
    row = html.split(f'data-agency="{world.wz}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-coverage="short">1 of 2 trained · 50.0 %' in row and "<code>WZJC</code>" in row
    as_user(client, "reg_zj")
    html = client.get("/sampling/agencies").text
    assert agency_ids(html) == [str(world.wz)] and "new-agency" not in html and "广州检测" not in html
    as_user(client, "reg_gd")
    assert agency_ids(client.get("/sampling/agencies").text) == [str(world.gz)]
    as_user(client, "wz1")
    r = client.get("/sampling/agencies", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/sampling/agencies/{world.wz}"
    for user in ("ent_a", "op_a"):
        as_user(client, user)
        r = client.get("/sampling/agencies")
        assert r.status_code == 403 and "has no list of testing agencies" in r.text, user


@pytest.mark.parametrize(
    ("user", "status", "edit", "write"),
    [
        ("admin1", 200, True, True),
        ("reg_zj", 200, False, False),
        ("wz1", 200, False, True),
        ("reg_gd", 404, False, False),
        ("gz1", 404, False, False),
        ("ent_a", 404, False, False),
        ("op_a", 404, False, False),
    ],
)
def test_the_agency_page_per_role(
    client: TestClient, world: AgencyWorld, user: str, status: int, edit: bool, write: bool
) -> None:
    as_user(client, user)
    r = client.get(f"/sampling/agencies/{world.wz}")
    assert r.status_code == status, (user, r.text[:300])
    if status == 404:
        assert f"no testing agency with id {world.wz}" in r.text
        return
    html = r.text
    assert ('id="edit-agency-form"' in html) is edit
    for form in ('id="new-staff-form"', 'id="training-form"', f'id="edit-staff-form-{world.staff["张三"]}"'):
        assert (form in html) is write, (user, form)
    assert 'id="withdraw-form-' in html if write else "withdraw-form" not in html
    s = world.staff
    assert f'data-staff="{s["张三"]}" data-training="valid"' in html
    assert f'data-staff="{s["李四"]}" data-training="expired"' in html
    assert f'data-staff="{s["王五"]}" data-training="none"' in html
    assert "钱七" not in html  # 广州's
    untrained = html.split('id="untrained"', 1)[1].split("</ul>", 1)[0]
    assert "李四" in untrained and "张三" not in untrained and "王五" not in untrained
    assert f"Valid until {(TODAY + 300 * DAY).isoformat()}" in html
    assert 'id="agency-code">WZJC<' in html
    assert client.get("/sampling/agencies/999").status_code == 404


def test_pages_are_chinese_by_default(world: AgencyWorld) -> None:
    with TestClient(create_app(world.settings, world.engine)) as c:
        login(c, "admin1")
        html = c.get(f"/sampling/agencies/{world.wz}").text
    assert '<html lang="zh-CN">' in html
    assert "检测机构" in html and "采样员" in html and "新增人员" in html and "Testing agency" not in html


# ---- the forms ----


def test_admin_creates_and_changes_an_agency(client: TestClient, world: AgencyWorld) -> None:
    token = as_user(client, "admin1")
    form = {
        "csrf_token": token, "name": "湖州检测", "credit_code": _code(9), "code": "hzjc",
        "region_code": "330502", "contact": "", "phone": "",
    }  # fmt: skip
    r = client.post("/sampling/agencies", data=form | {"code": "WZJC"})
    assert r.status_code == 409 and "agency code WZJC is already used by testing agency" in r.text
    assert 'id="new-agency" open' in r.text and 'value="湖州检测"' in r.text  # the form given back
    r = client.post("/sampling/agencies", data=form, follow_redirects=False)
    assert r.status_code == 303
    found = re.fullmatch(r"/sampling/agencies/(\d+)\?done=created", r.headers["location"])
    assert found is not None
    new = found.group(1)
    html = client.get(r.headers["location"]).text
    assert "The testing agency was created." in html and 'id="agency-code">HZJC<' in html
    assert 'id="no-staff"' in html and 'data-coverage="none"' in html
    edit = {
        "csrf_token": token, "name": "湖州市检测", "credit_code": _code(9), "region_code": "330502",
        "contact": "沈工", "phone": "0572-1234567", "active": "",
    }  # fmt: skip
    r = client.post(f"/sampling/agencies/{new}", data=edit | {"region_code": "3305"})
    assert r.status_code == 422 and "region_code" in r.text and 'id="edit-agency" open' in r.text
    r = client.post(f"/sampling/agencies/{new}", data=edit)
    assert r.status_code == 200 and "The agency was saved." in r.text and "湖州市检测" in r.text
    assert 'id="agency-active"><span class="badge info">No longer active' in r.text


def test_agency_adds_and_changes_its_people(client: TestClient, world: AgencyWorld) -> None:
    token = as_user(client, "wz1")
    base = f"/sampling/agencies/{world.wz}"
    form = {
        "csrf_token": token,
        "name": "孙八",
        "position": "sampler",
        "phone": "13800138000",
        "username": "gz1",
        "active": "on",
    }
    before = row_count(world.engine, staff_table)
    r = client.post(f"{base}/staff", data=form)
    assert r.status_code == 422 and "no agency account named &#39;gz1&#39; at testing agency" in r.text
    assert 'id="new-staff" open' in r.text and 'value="孙八"' in r.text
    assert row_count(world.engine, staff_table) == before
    r = client.post(f"{base}/staff", data=form | {"username": "WZ2"}, follow_redirects=False)
    assert r.status_code == 303
    sid = int(r.headers["location"].rsplit("#staff-", 1)[1])
    html = client.get(r.headers["location"]).text
    assert (
        "The staff member was added." in html
        and f'data-staff="{sid}" data-training="none" class="over"' in html
    )
    r = client.post(f"{base}/staff", data=form | {"name": "周九", "username": "wz2"})
    assert r.status_code == 409 and "is already linked to 孙八" in r.text
    edit = {
        "csrf_token": token,
        "name": "孙八",
        "position": "receiver",
        "phone": "",
        "username": "wz2",
        "active": "",
    }
    r = client.post(f"{base}/staff/{sid}", data=edit)
    assert r.status_code == 200 and "The staff member was saved." in r.text
    assert f'data-staff="{sid}" data-training="none">' in r.text  # a receiver who left: not flagged
    r = client.post(f"{base}/staff/{sid}", data=edit | {"position": "boss"})
    assert r.status_code == 422 and f'id="edit-staff-{sid}" open' in r.text
    # another agency's person under this path, and that agency's path: 404
    assert client.post(f"{base}/staff/{world.staff['钱七']}", data=edit).status_code == 404
    assert client.post(f"/sampling/agencies/{world.gz}/staff", data=form).status_code == 404


def test_record_and_withdraw_a_training(client: TestClient, world: AgencyWorld) -> None:
    token = as_user(client, "wz1")
    base = f"/sampling/agencies/{world.wz}"
    sid = agency_staff_id(client, base, token, "吴十")
    form = {
        "csrf_token": token, "staff_id": str(sid), "title": "识别标识系统操作培训", "held_on": TODAY.isoformat(),
        "score": "88.5", "passed": "yes", "valid_until": (TODAY - DAY).isoformat(), "note": "",
    }  # fmt: skip
    before = row_count(world.engine, trainings_table)
    r = client.post(f"{base}/trainings", data=form)
    assert r.status_code == 422 and "is before held_on" in r.text and 'id="record-training" open' in r.text
    r = client.post(f"{base}/trainings", data=form | {"passed": ""})
    assert r.status_code == 422 and "say whether the test was passed" in r.text
    r = client.post(f"{base}/trainings", data=form | {"staff_id": ""})
    assert r.status_code == 422 and "choose the person who was trained" in r.text
    assert (
        client.post(f"{base}/trainings", data=form | {"staff_id": str(world.staff["钱七"])}).status_code
        == 404
    )
    assert row_count(world.engine, trainings_table) == before
    r = client.post(f"{base}/trainings", data=form | {"valid_until": (TODAY + 365 * DAY).isoformat()})
    assert r.status_code == 200 and "The training was recorded." in r.text
    assert f'data-staff="{sid}" data-training="valid"' in r.text
    record = re.search(rf'<tr data-record="(\d+)" data-staff="{sid}" data-status="valid"', r.text)
    assert record is not None
    tid = record.group(1)
    r = client.post(f"{base}/trainings/{tid}/withdraw", data={"csrf_token": token, "reason": " "})
    assert r.status_code == 422 and "the reason (what was wrong) is required" in r.text
    r = client.post(f"{base}/trainings/{tid}/withdraw", data={"csrf_token": token, "reason": "录错了人"})
    assert r.status_code == 200 and "The training record was withdrawn." in r.text
    assert f'<tr data-record="{tid}" data-staff="{sid}" data-status="withdrawn" class="superseded">' in r.text
    assert "录错了人" in r.text and f'data-staff="{sid}" data-training="none"' in r.text
    r = client.post(f"{base}/trainings/{tid}/withdraw", data={"csrf_token": token, "reason": "again"})
    assert r.status_code == 409 and "was withdrawn already" in r.text
    # a record of another agency's person: 404 here
    gz_record = re.search(
        r'data-record="(\d+)"', _page_as(client, "admin1", f"/sampling/agencies/{world.gz}")
    )
    assert gz_record is not None
    token = as_user(client, "wz1")
    r = client.post(
        f"{base}/trainings/{gz_record.group(1)}/withdraw", data={"csrf_token": token, "reason": "x"}
    )
    assert r.status_code == 404


def agency_staff_id(client: TestClient, base: str, token: str, name: str) -> int:
    form = {
        "csrf_token": token,
        "name": name,
        "position": "sampler",
        "phone": "",
        "username": "",
        "active": "on",
    }
    r = client.post(f"{base}/staff", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("#staff-", 1)[1])


def _page_as(client: TestClient, user: str, path: str) -> str:
    as_user(client, user)
    return client.get(path).text


def test_writes_are_refused(client: TestClient, world: AgencyWorld) -> None:
    base = f"/sampling/agencies/{world.wz}"
    person = {"name": "x", "position": "sampler", "phone": "", "username": "", "active": "on"}
    before = (row_count(world.engine, staff_table), row_count(world.engine, agencies))
    token = as_user(client, "wz1")
    assert client.post(f"{base}/staff", data=person).status_code == 403  # no CSRF token
    assert client.post(f"{base}/staff", data=person | {"csrf_token": "forged"}).status_code == 403
    r = client.post("/sampling/agencies", data={"csrf_token": token, "name": "x"})
    assert r.status_code == 403 and "role agency may not create or change testing agencies" in r.text
    assert client.post(base, data={"csrf_token": token, "name": "x"}).status_code == 403
    token = as_user(client, "reg_zj")
    r = client.post(f"{base}/staff", data=person | {"csrf_token": token})
    assert r.status_code == 403 and "role regulator may not manage an agency&#39;s staff" in r.text
    for user in ("reg_gd", "gz1", "ent_a", "op_a"):
        token = as_user(client, user)
        assert client.post(f"{base}/staff", data=person | {"csrf_token": token}).status_code == 404, user
        assert client.post(base, data={"csrf_token": token, "name": "x"}).status_code == 404, user
    assert (row_count(world.engine, staff_table), row_count(world.engine, agencies)) == before


# ---- in a browser ----


@pytest.fixture(params=list(VIEWPORTS))
def tab(request: pytest.FixtureRequest, browser: Any, world: AgencyWorld) -> Iterator[tuple[str, Tab]]:
    yield from tab_per_viewport(request, browser, world.base_url, VIEWPORTS)


@pytest.mark.timeout(180)
def test_agency_adds_a_sampler_and_records_the_training(
    tab: tuple[str, Tab], world: AgencyWorld, screenshots: Path
) -> None:
    name, t = tab
    page = t.page
    fits = (
        (lambda: t.no_sideways_scroll(VIEWPORTS["phone"]["width"] + 1)) if name == "phone" else (lambda: None)
    )
    t.go("/sampling/agencies")
    t.login("wz1")
    assert t.path() == f"/sampling/agencies/{world.wz}"  # an agency goes straight to its own
    assert page.locator('#coverage [data-coverage="short"]').is_visible()
    t.shot(screenshots, f"agencies-{name}-agency")
    fits()

    person = f"新采样员{name}"
    page.click("#new-staff summary")
    page.fill("#s-name", person)
    page.select_option("#s-position", "sampler")
    page.fill("#s-phone", "13900139000")
    fits()
    page.click("#new-staff-form button[type=submit]")
    page.wait_for_load_state()
    found = re.search(r"\?done=added#staff-(\d+)$", t.path())
    assert found is not None, t.path()
    sid = found.group(1)
    assert page.locator(f'#staff tr[data-staff="{sid}"] [data-training="none"]').is_visible()
    assert page.locator(f'#untrained li[data-staff="{sid}"]').is_visible()

    page.click("#record-training summary")
    page.select_option("#t-staff", sid)
    assert page.input_value("#t-title") == "识别标识系统操作培训"
    page.fill("#t-held", TODAY.isoformat())
    page.fill("#t-score", "91")
    page.select_option("#t-passed", "yes")
    page.fill("#t-until", (TODAY + 365 * DAY).isoformat())
    t.shot(screenshots, f"agencies-{name}-training-form")
    fits()
    page.click("#training-form button[type=submit]")
    page.wait_for_load_state()
    assert t.path().endswith("?done=training#trainings")
    badge = page.locator(f'#staff tr[data-staff="{sid}"] [data-training="valid"]')
    assert badge.inner_text() == f"有效期至 {(TODAY + 365 * DAY).isoformat()}"
    assert page.locator(f'#untrained li[data-staff="{sid}"]').count() == 0
    assert page.locator(f'#records tr[data-staff="{sid}"][data-status="valid"]').count() == 1
    t.shot(screenshots, f"agencies-{name}-trained")
    fits()
    t.check_clean()
