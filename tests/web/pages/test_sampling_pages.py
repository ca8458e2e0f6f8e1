"""The sampling desk pages (issue 7): the hub, the sample list, plans (list, form, one plan, its labels)
and the registration of self-delivered samples, per role and scope.

The world (also used by test_sampling_sample_page): enterprises 甲 (杭州 330102, outlet DW001 with a
position) and 乙 (广州 440103); testing agencies A (杭州 330100, code HZJC) and B (广州 440100, code GZJC).
A's staff: 张采样 (sampler, trained, account ag_s), 赵未训 (sampler, no training), 李收样 (receiver, trained,
account ag_a), 王分析 (analyst, no account); B's: 陈采样 (sampler, trained, account ag_b). ag_x is an agency A
account linked to nobody. Plans: A's at 甲 (window open now), B's at 乙. Samples: A's at 甲 (registered),
B's at 乙, and A's entered offline (waiting for review).

Users (``PASSWORD``): admin1, reg_zj (浙江 33), reg_gd (广东 44), ent_a, ent_b, op_a (operator), ag_a, ag_s,
ag_b, ag_x. Tests that change things make their own plans and samples.
"""

from __future__ import annotations

import html
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings
from envwatch.registry.models import EnterpriseIn, OperatorIn, OutletIn
from envwatch.sampling.entry import Position
from envwatch.sampling.plans import PlanDraft, PlanItemDraft, create_plan, get_plan
from envwatch.sampling.registration import OnSiteEntry, register_on_site
from envwatch.sampling.schema import custody_events, samples, sampling_plans
from envwatch.web.api.sampling_common import entry_rules
from envwatch.web.app import create_app
from tests.web.pages.conftest import create_users, credit_code, fresh_store, row_count
from tests.web.pages.test_pages import login

LAT_A, LON_A = Decimal("30.274100"), Decimal("120.155100")  # 甲's outlet DW001
LAT_B, LON_B = Decimal("23.129100"), Decimal("113.264400")


@dataclass(frozen=True)
class SamplingWorld:
    settings: Settings
    engine: Engine
    now: datetime
    enterprises: dict[str, int]
    outlets: dict[str, int]
    agencies: dict[str, int]
    staff: dict[str, int]
    plans: dict[str, int]
    codes: dict[str, str]  # sample_a, sample_b, flagged


def _code(n: int) -> str:
    return credit_code(n, "9133010700000")


def _agency(conn: Any, name: str, code: str, region: str, n: int, now: datetime) -> int:
    return int(
        conn.execute(
            insert(agencies)
            .values(name=name, credit_code=_code(n), code=code, region_code=region, active=True,
                    created_at=now, updated_at=now)
            .returning(agencies.c.id)
        ).scalar_one()
    )  # fmt: skip


def _person(conn: Any, agency_id: int, name: str, position: str, username: str | None, now: datetime) -> int:
    return int(
        conn.execute(
            insert(agency_staff)
            .values(agency_id=agency_id, name=name, position=position, username=username, active=True,
                    created_at=now, updated_at=now)
            .returning(agency_staff.c.id)
        ).scalar_one()
    )  # fmt: skip


def _train(conn: Any, staff_id: int, today: date, now: datetime) -> None:
    conn.execute(
        insert(agency_trainings).values(
            staff_id=staff_id, title="识别标识系统操作培训", held_on=today - timedelta(days=30), passed=True,
            valid_until=today + timedelta(days=365), recorded_by="admin1", recorded_at=now,
        )
    )  # fmt: skip


def plan_for(world_or_engine: Any, agency: str, **changes: Any) -> int:
    """A new plan of agency ``a`` at 甲 (or ``b`` at 乙) whose window is open now."""
    w: SamplingWorld = world_or_engine
    now = utcnow()
    side = agency
    fields: dict[str, Any] = {
        "agency_id": w.agencies[side],
        "enterprise_id": w.enterprises[side],
        "outlet_id": w.outlets[side],
        "point_name": "1号废水排放口" if side == "a" else "乙 排放口",
        "window_start": now - timedelta(hours=1),
        "window_end": now + timedelta(days=2),
        "team": [w.staff["sampler"], w.staff["untrained"]] if side == "a" else [w.staff["b_sampler"]],
        "items": [
            PlanItemDraft("化学需氧量", "500 mL 玻璃瓶", "加 H2SO4 至 pH<2", 2),
            PlanItemDraft("氨氮", "250 mL 聚乙烯瓶"),
        ],
    } | changes
    with w.engine.begin() as conn:
        return int(create_plan(conn, PlanDraft(**fields), actor="ag_s", now=now)["id"])


def sample_for(w: SamplingWorld, plan_id: int, *, offline: bool = False) -> str:
    """A sample registered on site against the plan's first item (by its first team member), as the phone
    page would; its code."""
    now = utcnow()
    with w.engine.begin() as conn:
        plan = conn.execute(select(sampling_plans).where(sampling_plans.c.id == plan_id)).mappings().one()
        item_id = get_plan(conn, plan_id)["items"][0]["id"]
        entry = OnSiteEntry(
            plan_item_id=item_id,
            sampler_staff_id=plan["team"][0],
            appearance="无色透明",
            preservative="H2SO4",
            device_at=now - timedelta(minutes=10) if offline else now,
            position=Position(plan["latitude"], plan["longitude"]),
            offline=offline,
        )
        row = register_on_site(
            conn, entry, actor="ag_s", now=now, rules=entry_rules(w.settings),
            random_chars=w.settings.sampling_code_random_chars,
        )  # fmt: skip
    return str(row["code"])


def _build(engine: Engine, settings: Settings, now: datetime) -> SamplingWorld:
    today = to_china(now).date()
    ents: dict[str, int] = {}
    outs: dict[str, int] = {}
    with engine.begin() as conn:
        for n, (key, name, region, lat, lon) in enumerate(
            (
                ("a", "甲化工有限公司", "330102", LAT_A, LON_A),
                ("b", "乙热电有限公司", "440103", LAT_B, LON_B),
            ),
            1,
        ):
            ent = svc.create_enterprise(
                conn, EnterpriseIn(name=name, credit_code=_code(n), region_code=region), now
            )
            outlet = OutletIn(code="DW001", name="1号废水排放口", kind="water", latitude=lat, longitude=lon)
            ents[key], outs[key] = ent["id"], svc.create_outlet(conn, ent["id"], outlet, now)["id"]
        operator = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=_code(9)), now)
        ag = {
            "a": _agency(conn, "杭州某检测有限公司", "HZJC", "330100", 11, now),
            "b": _agency(conn, "广州某检测有限公司", "GZJC", "440100", 12, now),
        }
        staff = {
            "sampler": _person(conn, ag["a"], "张采样", "sampler", "ag_s", now),
            "untrained": _person(conn, ag["a"], "赵未训", "sampler", None, now),
            "receiver": _person(conn, ag["a"], "李收样", "receiver", "ag_a", now),
            "analyst": _person(conn, ag["a"], "王分析", "analyst", None, now),
            "b_sampler": _person(conn, ag["b"], "陈采样", "sampler", "ag_b", now),
        }
        for key in ("sampler", "receiver", "analyst", "b_sampler"):
            _train(conn, staff[key], today, now)
        users: list[tuple[str, dict[str, object]]] = [
            ("admin1", {"role": "admin"}),
            ("reg_zj", {"role": "regulator", "region_code": "330000"}),
            ("reg_gd", {"role": "regulator", "region_code": "440000"}),
            ("ent_a", {"role": "enterprise", "enterprise_id": ents["a"]}),
            ("ent_b", {"role": "enterprise", "enterprise_id": ents["b"]}),
            ("op_a", {"role": "operator", "operator_id": operator["id"]}),
            ("ag_a", {"role": "agency", "agency_id": ag["a"]}),
            ("ag_s", {"role": "agency", "agency_id": ag["a"]}),
            ("ag_b", {"role": "agency", "agency_id": ag["b"]}),
            ("ag_x", {"role": "agency", "agency_id": ag["a"]}),
        ]
        create_users(conn, users, now)
    w = SamplingWorld(settings, engine, now, ents, outs, ag, staff, {}, {})
    w.plans["a"] = plan_for(w, "a")
    w.plans["b"] = plan_for(w, "b")
    w.codes["sample_a"] = sample_for(w, w.plans["a"])
    w.codes["sample_b"] = sample_for(w, w.plans["b"])
    w.codes["flagged"] = sample_for(w, w.plans["a"], offline=True)
    return w


@pytest.fixture(scope="session")
def sampling_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamplingWorld]:
    with fresh_store(tmp_path_factory.mktemp("sampling_pages") / "var") as (settings, engine):
        yield _build(engine, settings, utcnow())


@pytest.fixture
def client(sampling_world: SamplingWorld) -> Iterator[TestClient]:
    # English: the page strings are checked in their msgid form (test_i18n checks the Chinese catalog)
    app = create_app(sampling_world.settings, sampling_world.engine)
    with TestClient(app, cookies={"lang": "en"}) as c:
        yield c


def as_user(client: TestClient, username: str) -> str:
    """Log ``username`` in on ``client``; the session's CSRF token."""
    login(client, username)
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)


def local(moment: datetime) -> str:
    return to_china(moment).strftime("%Y-%m-%dT%H:%M")


def pdf_text(content: bytes) -> str:
    """The text of a PDF (poppler's pdftotext), to see what a label says."""
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def codes_on(html: str) -> set[str]:
    return set(re.findall(r'data-code="([^"]+)"', html))


# ---- the hub ------------------------------------------------------------------------------------------------


HUB_LINKS = {
    "admin1": {
        "/sampling/scan",
        "/sampling/plans",
        "/sampling/samples",
        "/sampling/self-delivered",
        "/sampling/agencies",
        "/sampling/stats",
    },
    "reg_zj": {
        "/sampling/scan",
        "/sampling/plans",
        "/sampling/samples",
        "/sampling/agencies",
        "/sampling/stats",
    },
    "ent_a": {"/sampling/scan", "/sampling/plans", "/sampling/samples"},
    "ag_a": {
        "/sampling/scan",
        "/sampling/plans",
        "/sampling/samples",
        "/sampling/self-delivered",
        "/sampling/agencies",
        "/sampling/stats",
    },
}


@pytest.mark.parametrize("username", sorted(HUB_LINKS))
def test_hub_links_what_the_role_may_open(
    client: TestClient, sampling_world: SamplingWorld, username: str
) -> None:
    as_user(client, username)
    r = client.get("/sampling")
    assert r.status_code == 200
    assert set(re.findall(r'data-section="([^"]+)"', r.text)) == HUB_LINKS[username]
    assert ('id="review"' in r.text) == (username in ("admin1", "reg_zj"))


def test_hub_shows_open_plans_recent_samples_and_reviews_in_scope(
    client: TestClient, sampling_world: SamplingWorld
) -> None:
    w = sampling_world
    as_user(client, "reg_zj")
    page = client.get("/sampling").text
    assert f'data-plan="{w.plans["a"]}"' in page and f'data-plan="{w.plans["b"]}"' not in page
    assert w.codes["sample_a"] in page and w.codes["sample_b"] not in page
    waiting = page.split('id="waiting"')[1].split("</table>")[0]
    assert codes_on(waiting) >= {w.codes["flagged"]} and w.codes["sample_a"] not in waiting
    as_user(client, "ag_b")
    page = client.get("/sampling").text
    assert w.codes["sample_b"] in page and w.codes["sample_a"] not in page and w.codes["flagged"] not in page


@pytest.mark.parametrize(
    "path",
    ["/sampling", "/sampling/samples", "/sampling/plans", "/sampling/plans/new", "/sampling/self-delivered"],
)
def test_operator_is_refused(client: TestClient, path: str) -> None:
    as_user(client, "op_a")
    r = client.get(path)
    assert r.status_code == 403 and "operator" in r.text


# ---- the sample list ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "sees_a", "sees_b"),
    [("admin1", True, True), ("reg_zj", True, False), ("reg_gd", False, True), ("ent_a", True, False),
     ("ent_b", False, True), ("ag_a", True, False), ("ag_b", False, True)],
)  # fmt: skip
def test_sample_list_is_scoped(
    client: TestClient, sampling_world: SamplingWorld, username: str, sees_a: bool, sees_b: bool
) -> None:
    as_user(client, username)
    shown = codes_on(client.get("/sampling/samples").text)
    assert (sampling_world.codes["sample_a"] in shown) == sees_a
    assert (sampling_world.codes["sample_b"] in shown) == sees_b


def test_sample_list_filters(client: TestClient, sampling_world: SamplingWorld) -> None:
    w = sampling_world
    as_user(client, "admin1")
    flagged = codes_on(client.get("/sampling/samples?needs_review=yes").text)
    assert w.codes["flagged"] in flagged and w.codes["sample_a"] not in flagged
    unflagged = codes_on(client.get("/sampling/samples?needs_review=no").text)
    assert w.codes["sample_a"] in unflagged and w.codes["flagged"] not in unflagged
    rejected = client.get("/sampling/samples?state=rejected").text
    assert w.codes["sample_a"] not in codes_on(rejected)
    registered = codes_on(client.get("/sampling/samples?state=registered").text)
    assert w.codes["sample_b"] in registered
    # the statistics page's filters: one agency, registration days [from, to)
    today = to_china(utcnow()).date()
    of_a = codes_on(client.get(f"/sampling/samples?agency_id={w.agencies['a']}").text)
    assert w.codes["sample_a"] in of_a and w.codes["sample_b"] not in of_a
    days = f"from={today.isoformat()}&to={(today + timedelta(days=1)).isoformat()}"
    assert w.codes["sample_b"] in codes_on(client.get(f"/sampling/samples?{days}").text)
    later = f"from={(today + timedelta(days=1)).isoformat()}"
    assert codes_on(client.get(f"/sampling/samples?{later}").text) == set()
    bad = client.get("/sampling/samples?from=yesterday")
    assert bad.status_code == 422 and "from must be a day such as 2026-11-01" in html.unescape(bad.text)
    as_user(client, "reg_gd")  # agency A is not seated in 广东, nor were its samples taken there
    hidden = client.get(f"/sampling/samples?agency_id={w.agencies['a']}").text
    assert codes_on(hidden) == set() and "杭州某检测有限公司" not in hidden
    as_user(client, "admin1")
    # an unknown state is no filter rather than an error
    assert w.codes["sample_a"] in codes_on(client.get("/sampling/samples?state=bogus").text)


# ---- plans: list and one plan ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "status_a", "status_b"),
    [("admin1", 200, 200), ("reg_zj", 200, 404), ("reg_gd", 404, 200), ("ent_a", 200, 404), ("ag_a", 200, 404),
     ("ag_b", 404, 200)],
)  # fmt: skip
def test_plan_pages_are_scoped(
    client: TestClient, sampling_world: SamplingWorld, username: str, status_a: int, status_b: int
) -> None:
    w = sampling_world
    as_user(client, username)
    listing = client.get("/sampling/plans").text
    assert (f'data-plan="{w.plans["a"]}"' in listing) == (status_a == 200)
    assert (f'data-plan="{w.plans["b"]}"' in listing) == (status_b == 200)
    assert client.get(f"/sampling/plans/{w.plans['a']}").status_code == status_a
    missing = client.get("/sampling/plans/999999")
    other = client.get(f"/sampling/plans/{w.plans['b']}")
    assert other.status_code == status_b and missing.status_code == 404
    if status_b == 404:  # not visible reads exactly like missing
        assert f"no sampling plan with id {w.plans['b']}" in other.text


def test_plan_page_shows_items_samples_entry_link_and_print_form(
    client: TestClient, sampling_world: SamplingWorld
) -> None:
    w = sampling_world
    as_user(client, "ag_s")
    page = client.get(f"/sampling/plans/{w.plans['a']}").text
    assert "化学需氧量" in page and "500 mL 玻璃瓶" in page and "加 H2SO4 至 pH&lt;2" in page
    items = page.split('id="plan-items"')[1].split("</table>")[0]
    assert re.findall(r'class="registered">(\d+)<', items)[0] == "2"  # sample_a and flagged on item 1
    assert w.codes["sample_a"] in page and f"/sampling/plans/{w.plans['a']}/entry" in page
    assert 'id="labels-form"' in page and "Recorded as 张采样." in page
    team = page.split('id="plan-team"')[1].split("</dd>")[0]
    assert "赵未训" in team and "no valid training" in team and "张采样" in team
    # an enterprise reads the plan but gets no entry link and no print form
    as_user(client, "ent_a")
    page = client.get(f"/sampling/plans/{w.plans['a']}").text
    assert "化学需氧量" in page and "/entry" not in page and 'id="labels-form"' not in page


# ---- the plan form --------------------------------------------------------------------------------------


def _plan_form(w: SamplingWorld, token: str, **changes: str) -> dict[str, str]:
    now = utcnow()
    return {
        "csrf_token": token, "site": f"{w.enterprises['a']}:{w.outlets['a']}", "point_name": "2号排放口",
        "latitude": "", "longitude": "", "window_start": local(now + timedelta(hours=1)),
        "window_end": local(now + timedelta(days=1)), "item_1": "总磷", "container_1": "500 mL 玻璃瓶",
        "preservation_1": "", "quantity_1": "3", "rows": "6", "note": "",
    } | changes  # fmt: skip


def test_plan_form_offers_registry_team_with_trainings_and_no_on_site_fields(
    client: TestClient, sampling_world: SamplingWorld
) -> None:
    w = sampling_world
    as_user(client, "ag_a")
    page = client.get("/sampling/plans/new").text
    assert f'value="{w.enterprises["a"]}:{w.outlets["a"]}"' in page and "乙热电有限公司" in page
    team = page.split('id="team"')[1].split("</fieldset>")[0]
    assert set(re.findall(r'data-staff="(\d+)"', team)) == {
        str(w.staff[k]) for k in ("sampler", "untrained", "receiver", "analyst")
    }  # agency A's active staff only
    untrained = re.search(rf'data-staff="{w.staff["untrained"]}".*?</label>', team, re.S)
    assert untrained is not None and "no valid training" in untrained.group(0)
    trained = re.search(rf'data-staff="{w.staff["sampler"]}".*?</label>', team, re.S)
    assert trained is not None and "no valid training" not in trained.group(0)
    for name in ("sampled_at", "sampler", "appearance", "preservative"):
        assert f'name="{name}"' not in page  # WZ-A2-6: entered on site only
    assert "entered on site" in page
    # the search narrows the enterprises
    narrowed = client.get("/sampling/plans/new?q=乙热电").text
    assert "乙热电有限公司" in narrowed and "甲化工有限公司" not in narrowed
    # admin chooses the agency first; regulators and enterprises may not plan
    as_user(client, "admin1")
    first = client.get("/sampling/plans/new").text
    assert 'id="agency-form"' in first and 'id="plan-form"' not in first
    assert 'id="plan-form"' in client.get(f"/sampling/plans/new?agency={w.agencies['b']}").text
    for username in ("reg_zj", "ent_a"):
        as_user(client, username)
        assert client.get("/sampling/plans/new").status_code == 403


def test_plan_form_saves_a_plan(client: TestClient, sampling_world: SamplingWorld) -> None:
    w = sampling_world
    token = as_user(client, "ag_a")
    form = _plan_form(w, token, item_2="氨氮", container_2="250 mL 聚乙烯瓶", quantity_2="")
    r = client.post(
        "/sampling/plans", data=form | {"team": [str(w.staff["sampler"])]}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert "The plan was saved" in page and "2号排放口" in page and "总磷" in page and "氨氮" in page
    planned = re.findall(r'data-label="Planned" class="num">(\d+)<', page)
    assert planned == ["3", "1"]  # an empty quantity is one container


@pytest.mark.parametrize(
    ("changes", "team", "words"),
    [
        ({"site": ""}, "sampler", "choose the enterprise (and outlet) from the list"),
        ({"point_name": " "}, "sampler", "the sampling point (点位) is required"),
        ({"window_end": "2020-01-01T08:00"}, "sampler", "the window must end after it starts"),
        ({"window_start": "tomorrow"}, "sampler", "is not an ISO 8601 time"),
        ({}, "", "the sampling team needs at least one person"),
        ({}, "b_sampler", "no staff member with id"),
        ({"item_1": "", "container_1": "", "quantity_1": ""}, "sampler", "a plan needs at least one monitoring item"),
        ({"container_1": ""}, "sampler", "item 1: the container (容器) is required"),
        ({"quantity_1": "two"}, "sampler", "item 1: quantity must be a whole number"),
        ({"quantity_1": "500"}, "sampler", "item 1: quantity must be 1 to 100"),
        ({"latitude": "north"}, "sampler", "the latitude 'north' is not a number"),
        ({"site": "1:2:3"}, "sampler", "choose the enterprise (and outlet) from the list"),
    ],
)  # fmt: skip
def test_plan_form_refuses_bad_input_in_words_and_stores_nothing(
    client: TestClient, sampling_world: SamplingWorld, changes: dict[str, str], team: str, words: str
) -> None:
    w = sampling_world
    token = as_user(client, "ag_a")
    before = row_count(w.engine, sampling_plans)
    form = _plan_form(w, token, **changes)
    data: dict[str, Any] = form | ({"team": [str(w.staff[team])]} if team else {})
    r = client.post("/sampling/plans", data=data)
    assert r.status_code in (404, 409, 422), r.text
    problem = re.search(r'id="problem">(.*?)</p>', r.text, re.S)
    assert problem is not None and "The plan was not saved:" in problem.group(1)
    assert words in problem.group(1).replace("&#39;", "'").replace("&lt;", "<")
    assert row_count(w.engine, sampling_plans) == before
    # what was typed comes back
    if form["point_name"].strip():
        assert 'value="2号排放口"' in r.text


def test_plan_form_writes_need_the_right_role_and_token(
    client: TestClient, sampling_world: SamplingWorld
) -> None:
    w = sampling_world
    before = row_count(w.engine, sampling_plans)
    token = as_user(client, "reg_zj")
    data = _plan_form(w, token) | {"team": [str(w.staff["sampler"])], "agency_id": str(w.agencies["a"])}
    assert client.post("/sampling/plans", data=data).status_code == 403
    token = as_user(client, "ag_a")
    assert client.post("/sampling/plans", data=data | {"csrf_token": "wrong"}).status_code == 403
    # an agency account cannot plan for another agency
    r = client.post(
        "/sampling/plans",
        data=_plan_form(w, token, agency_id=str(w.agencies["b"])) | {"team": [str(w.staff["sampler"])]},
    )
    assert r.status_code == 404 and "no testing agency with id" in r.text
    assert row_count(w.engine, sampling_plans) == before


# ---- printing a plan's labels ------------------------------------------------------------------------------


def test_plan_labels_print_every_unprinted_sample_once(
    client: TestClient, sampling_world: SamplingWorld
) -> None:
    w = sampling_world
    plan_id = plan_for(w, "a")
    codes = {sample_for(w, plan_id), sample_for(w, plan_id)}
    token = as_user(client, "ag_s")
    page = client.get(f"/sampling/plans/{plan_id}").text
    assert "2 registered samples have no label yet." in page
    r = client.post(
        f"/sampling/plans/{plan_id}/labels", data={"csrf_token": token, "size": "60x40", "format": "pdf"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="plan-{plan_id}-labels.pdf"'
    text = pdf_text(r.content)
    for code in codes:
        assert code in text.replace(" ", "")
    with w.engine.connect() as conn:
        rows = conn.execute(
            select(samples.c.code, samples.c.state, samples.c.prints).where(samples.c.plan_id == plan_id)
        ).all()
        printed = conn.execute(
            select(custody_events.c.staff_id).join(samples, samples.c.id == custody_events.c.sample_id)
            .where(samples.c.plan_id == plan_id, custody_events.c.event == "print_label")
        ).scalars().all()  # fmt: skip
    assert {(r.code, r.state, r.prints) for r in rows} == {(c, "labelled", 1) for c in codes}
    assert printed == [w.staff["sampler"]] * 2  # the agency account acts as its own person
    # nothing left to print: the page says so, and a second POST prints nothing
    assert 'id="all-printed"' in client.get(f"/sampling/plans/{plan_id}").text
    again = client.post(f"/sampling/plans/{plan_id}/labels", data={"csrf_token": token, "size": "60x40"})
    assert again.status_code == 422 and "No label was printed:" in again.text
    assert "there is no registered sample whose label was not printed yet" in again.text


def test_plan_labels_refusals_store_nothing(client: TestClient, sampling_world: SamplingWorld) -> None:
    w = sampling_world
    plan_id = plan_for(w, "a")
    code = sample_for(w, plan_id)
    before = row_count(w.engine, custody_events)
    token = as_user(client, "ag_s")
    bad_size = client.post(f"/sampling/plans/{plan_id}/labels", data={"csrf_token": token, "size": "10x10"})
    assert bad_size.status_code == 422 and "unknown label size" in bad_size.text
    token = as_user(client, "ag_x")  # an agency account linked to nobody
    page = client.get(f"/sampling/plans/{plan_id}").text
    assert "not linked to an active staff member" in page and 'id="labels-form"' not in page
    unlinked = client.post(f"/sampling/plans/{plan_id}/labels", data={"csrf_token": token, "size": "50x30"})
    assert unlinked.status_code == 403 and "is not linked to a staff member" in unlinked.text
    token = as_user(client, "admin1")
    nobody = client.post(f"/sampling/plans/{plan_id}/labels", data={"csrf_token": token, "size": "50x30"})
    assert nobody.status_code == 422 and "name the person acting" in nobody.text
    other = client.post(
        f"/sampling/plans/{plan_id}/labels",
        data={"csrf_token": token, "size": "50x30", "staff_id": str(w.staff["b_sampler"])},
    )
    assert other.status_code == 404 and "at the sample's agency" in html.unescape(other.text)
    token = as_user(client, "reg_zj")
    assert (
        client.post(
            f"/sampling/plans/{plan_id}/labels", data={"csrf_token": token, "size": "50x30"}
        ).status_code
        == 403
    )
    token = as_user(client, "ag_b")
    assert (
        client.post(
            f"/sampling/plans/{plan_id}/labels", data={"csrf_token": token, "size": "50x30"}
        ).status_code
        == 404
    )
    assert row_count(w.engine, custody_events) == before
    with w.engine.connect() as conn:
        assert conn.execute(select(samples.c.prints).where(samples.c.code == code)).scalar_one() == 0


def test_admin_prints_plan_labels_as_zpl_for_a_chosen_person(
    client: TestClient, sampling_world: SamplingWorld
) -> None:
    w = sampling_world
    plan_id = plan_for(w, "a")
    code = sample_for(w, plan_id)
    token = as_user(client, "admin1")
    page = client.get(f"/sampling/plans/{plan_id}").text
    assert 'name="staff_id"' in page and "王分析" in page
    r = client.post(
        f"/sampling/plans/{plan_id}/labels",
        data={"csrf_token": token, "size": "50x30", "format": "zpl", "staff_id": str(w.staff["receiver"])},
    )
    assert r.status_code == 200 and r.content.startswith(b"^XA") and code.encode() in r.content
    with w.engine.connect() as conn:
        staff_id = conn.execute(
            select(custody_events.c.staff_id).join(samples, samples.c.id == custody_events.c.sample_id)
            .where(samples.c.code == code, custody_events.c.event == "print_label")
        ).scalar_one()  # fmt: skip
    assert staff_id == w.staff["receiver"]


# ---- self-delivered samples -----------------------------------------------------------------------------


def _self_form(token: str, **changes: str) -> dict[str, str]:
    return {
        "csrf_token": token, "client_name": "某某食品厂", "enterprise_id": "", "point_name": "厂区总排口",
        "item": "悬浮物", "container": "1 L 聚乙烯瓶", "sampled_at": local(utcnow() - timedelta(hours=3)),
        "appearance": "微浑", "preservative": "", "check_result": "intact", "seal_no": "F-0001", "note": "",
    } | changes  # fmt: skip


def test_self_delivered_registration_goes_to_the_new_sample(
    client: TestClient, sampling_world: SamplingWorld
) -> None:
    token = as_user(client, "ag_a")
    form = client.get("/sampling/self-delivered").text
    assert 'id="self-form"' in form and "Recorded as 李收样." in form
    photo = b"\xff\xd8\xff\xe0" + b"seal photo" * 10
    r = client.post(
        "/sampling/self-delivered",
        data=_self_form(token, check_result="abnormal", note="封条边缘起翘"),
        files={"photo": ("seal.jpg", photo, "image/jpeg")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    code = r.headers["location"].removeprefix("/sampling/samples/").split("?")[0]
    assert code.startswith("330100-HZJC-")
    page = client.get(r.headers["location"]).text
    assert "The sample was registered. Print its label now." in page
    assert 'id="print_label-form"' in page and "某某食品厂" in page and 'data-state="handed_over"' in page
    assert 'data-check="abnormal"' in page
    photo_link = re.search(r'href="(/sampling/samples/[^"]+/files/[0-9a-f]{64})" class="photo"', page)
    assert photo_link is not None
    served = client.get(photo_link.group(1))
    assert (
        served.status_code == 200
        and served.content == photo
        and served.headers["content-type"] == "image/jpeg"
    )


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"check_result": "damaged"}, "seal or label damaged: the sample cannot be accepted"),
        ({"check_result": "abnormal"}, "an abnormal seal or label needs a note and a photo"),
        ({"client_name": ""}, "the client (送样单位) is required"),
        ({"item": ""}, "the monitoring item (监测项目) is required"),
        ({"sampled_at": "2999-01-01T08:00"}, "must carry a UTC offset and not lie in the future"),
        ({"enterprise_id": "x"}, "choose the enterprise from the list"),
    ],
)
def test_self_delivered_refusals_store_nothing(
    client: TestClient, sampling_world: SamplingWorld, changes: dict[str, str], words: str
) -> None:
    w = sampling_world
    token = as_user(client, "ag_a")
    before = (row_count(w.engine, samples), row_count(w.engine, custody_events))
    blobs = w.settings.data_dir / "blobs"
    photos_before = sorted(p.name for p in blobs.rglob("*")) if blobs.exists() else []
    r = client.post(
        "/sampling/self-delivered", data=_self_form(token, **changes),
        files={"photo": ("p.png", b"\x89PNG\r\n\x1a\n" + words.encode(), "image/png")} if changes.get("check_result") == "damaged" else None,
    )  # fmt: skip
    assert r.status_code in (409, 422), r.text
    problem = re.search(r'id="problem">(.*?)</p>', r.text, re.S)
    assert problem is not None and "The sample was not registered:" in problem.group(1)
    assert words in problem.group(1)
    assert (row_count(w.engine, samples), row_count(w.engine, custody_events)) == before
    assert (sorted(p.name for p in blobs.rglob("*")) if blobs.exists() else []) == photos_before


def test_self_delivered_roles(client: TestClient, sampling_world: SamplingWorld) -> None:
    w = sampling_world
    for username in ("reg_zj", "ent_a"):
        token = as_user(client, username)
        assert client.get("/sampling/self-delivered").status_code == 403
        assert client.post("/sampling/self-delivered", data=_self_form(token)).status_code == 403
    as_user(client, "ag_x")
    assert "not linked to an active staff member" in client.get("/sampling/self-delivered").text
    token = as_user(client, "admin1")
    assert 'id="agency-form"' in client.get("/sampling/self-delivered").text
    form = client.get(f"/sampling/self-delivered?agency={w.agencies['a']}").text
    assert 'name="staff_id"' in form and "李收样" in form
    r = client.post(
        "/sampling/self-delivered",
        data=_self_form(token, agency_id=str(w.agencies["b"]), staff_id=str(w.staff["b_sampler"]), enterprise_id=str(w.enterprises["b"]), client_name=""),
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303 and "/sampling/samples/440100-GZJC-" in r.headers["location"]
