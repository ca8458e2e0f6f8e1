"""The compliance findings pages over the real app and a real SQLite store, with test rules (tests/compliance/
world_findings): every role sees its own findings in both languages, one finding with its subject and
evidence links and history, the waive form (CSRF, role, reason), the rule list and "Run all rules now"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from envwatch.compliance.run import run_rules
from envwatch.compliance.schema import compliance_runs, findings
from envwatch.core.clock import CHINA_TZ, utcnow
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from tests.compliance.world_findings import (
    AT,
    MN_A,
    Board,
    World,
    about,
    about_agency,
    about_operator,
    build_world,
    rule_set_of,
)
from tests.web.pages.conftest import create_users, fresh_store
from tests.web.pages.test_pages import login

SEPTEMBER = (datetime(2026, 9, 1, tzinfo=CHINA_TZ), datetime(2026, 10, 1, tzinfo=CHINA_TZ))
ALL_KEYS = {"a1", "a2", "b1", "g1", "o1"}


@dataclass
class PagesWorld:
    settings: Settings
    engine: Engine
    world: World
    board: Board
    ids: dict[str, int]


@pytest.fixture(scope="module")
def pages_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesWorld]:
    off = {"compliance_params": {"TX-1-A": {"days": 10}}, "compliance_rules_off": ["TX-2-C"]}
    with fresh_store(tmp_path_factory.mktemp("findings_pages") / "var", **off) as (settings, engine):
        w = build_world(engine)
        board = Board(
            found={
                "TX-1-A": [
                    about(w, "a", "a1", period_start=SEPTEMBER[0], period_end=SEPTEMBER[1]),
                    about(w, "b", "b1"),
                ],
                "TX-1-B": [about(w, "a", "a2", severity="warning", message="inspection overdue (巡检超期)")],
                "TX-2-C": [about_agency(w, "g1"), about_operator(w, "a", "o1")],
            }
        )
        run_rules(
            engine,
            settings.model_copy(update={"compliance_rules_off": []}),
            at=AT,
            rule_set=rule_set_of(board),
        )
        with engine.begin() as conn:
            ids = {r.key: r.id for r in conn.execute(select(findings.c.key, findings.c.id))}
            create_users(
                conn,
                [
                    ("admin1", {"role": "admin"}),
                    ("reg_hz", {"role": "regulator", "region_code": "3301"}),
                    ("ent_a", {"role": "enterprise", "enterprise_id": w.ent_a}),
                    ("ent_b", {"role": "enterprise", "enterprise_id": w.ent_b}),
                    ("op_a", {"role": "operator", "operator_id": w.op_a}),
                    ("fs_a", {"role": "field_staff", "operator_id": w.op_a}),
                    (
                        "aud_a",
                        {
                            "role": "auditor",
                            "operator_id": w.op_a,
                            "period_from": date(2026, 10, 1),
                            "period_to": date(2026, 10, 31),
                        },
                    ),
                    ("wzjc", {"role": "agency", "agency_id": w.agency}),
                ],
                utcnow(),
            )
        yield PagesWorld(settings, engine, w, board, ids)


@pytest.fixture
def client(pages_world: PagesWorld) -> Iterator[TestClient]:
    app = create_app(pages_world.settings, pages_world.engine)
    app.state.compliance_rules = rule_set_of(pages_world.board)
    with TestClient(app) as c:
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _shown(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'data-finding="(\d+)"', html)}


SEES = {
    "admin1": ALL_KEYS,
    "reg_hz": {"a1", "a2", "o1"},
    "ent_a": {"a1", "a2"},
    "ent_b": {"b1"},
    "op_a": {"a1", "a2", "o1"},
    "fs_a": {"a1", "a2", "o1"},
    "aud_a": {"a2", "o1"},
    "wzjc": {"g1"},
}


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
@pytest.mark.parametrize("user", sorted(SEES))
def test_every_role_sees_its_own_findings(
    client: TestClient, pages_world: PagesWorld, user: str, lang: str
) -> None:
    login(client, user)
    client.cookies.set("lang", lang)
    r = client.get("/compliance/findings")
    assert r.status_code == 200, r.text
    ids = pages_world.ids
    assert _shown(r.text) == {ids[k] for k in SEES[user]}
    assert 'id="compliance-tabs"' in r.text and 'aria-current="page"' in r.text
    assert ("合规问题" in r.text) == (lang == "zh_CN")
    assert ("Compliance findings" in r.text) == (lang == "en")
    for key in ALL_KEYS:
        page = client.get(f"/compliance/findings/{ids[key]}")
        assert page.status_code == (200 if key in SEES[user] else 404), (user, key)
    rules = client.get("/compliance/rules")
    assert rules.status_code == 200 and 'data-rule="TX-1-A"' in rules.text
    assert ('id="run-form"' in rules.text) == (user in ("admin1", "reg_hz"))


def test_list_filters_and_counts(client: TestClient, pages_world: PagesWorld) -> None:
    login(client, "admin1")
    client.cookies.set("lang", "en")
    ids = pages_world.ids
    r = client.get("/compliance/findings", params={"rule": "TX-1-A"})
    assert _shown(r.text) == {ids["a1"], ids["b1"]}
    assert re.search(r'id="n-open">2<', r.text)  # counts of the filtered set
    assert _shown(client.get("/compliance/findings", params={"severity": "warning"}).text) == {ids["a2"]}
    assert _shown(client.get("/compliance/findings", params={"q": "巡检"}).text) == {ids["a2"]}
    narrowed = client.get("/compliance/findings", params={"operator_id": pages_world.world.op_a})
    assert _shown(narrowed.text) == {ids["a1"], ids["a2"], ids["o1"]} and 'id="narrowed"' in narrowed.text
    assert 'data-rule="TX-1-B"' in client.get("/compliance/findings").text  # the counts by rule
    bad = client.get("/compliance/findings", params={"state": "closed"})
    assert bad.status_code == 422 and "is not one of" in bad.text
    login(client, "ent_a")
    assert (
        client.get("/compliance/findings", params={"enterprise_id": pages_world.world.ent_b}).status_code
        == 404
    )


def test_paging(client: TestClient, pages_world: PagesWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    import envwatch.web.pages.paging as paging

    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    login(client, "admin1")
    client.cookies.set("lang", "en")
    first = client.get("/compliance/findings", params={"state": "all"})
    third = client.get("/compliance/findings", params={"state": "all", "page": 3})
    assert len(_shown(first.text)) == 2 and len(_shown(third.text)) == 1
    assert "Page 1 of 3, 5 rows" in first.text and 'rel="next"' in first.text
    assert "state=all" in re.search(r'href="([^"]+)" rel="next"', first.text).group(1)  # type: ignore[union-attr]


def test_one_finding_with_links_and_history(client: TestClient, pages_world: PagesWorld) -> None:
    login(client, "admin1")
    client.cookies.set("lang", "en")
    w = pages_world.world
    r = client.get(f"/compliance/findings/{pages_world.ids['a1']}")
    assert r.status_code == 200
    assert 'href="/om/faults/7"' in r.text  # the evidence link to the fault's page
    assert f'href="/devices/{MN_A}"' in r.text and f'href="/outlets/{w.outlet_a}"' in r.text
    assert f'href="/compliance/findings?enterprise_id={w.ent_a}&amp;state=all"' in r.text
    assert "甲化工有限公司" in r.text and "运维a公司" in r.text
    assert "2026-09-01 00:00:00" in r.text  # the period, China time
    assert 'data-event="opened"' in r.text and "test rule TX-1-A" in r.text
    assert 'id="decide-form"' in r.text
    login(client, "op_a")
    client.cookies.set("lang", "zh_CN")
    r = client.get(f"/compliance/findings/{pages_world.ids['a1']}")
    assert "测试规则 TX-1-A" in r.text and 'id="decide-form"' not in r.text
    login(client, "wzjc")
    agency = client.get(f"/compliance/findings/{pages_world.ids['g1']}")
    assert agency.status_code == 200 and f'href="/sampling/agencies/{w.agency}"' in agency.text


def test_waive_form(client: TestClient, pages_world: PagesWorld) -> None:
    fid = pages_world.ids["a2"]
    url = f"/compliance/findings/{fid}"
    login(client, "ent_a")
    token = _csrf(client.get(url).text)  # the logout form's token: the page has no waive form
    refused = client.post(f"{url}/waive", data={"csrf_token": token, "reason": "x"}, follow_redirects=False)
    assert refused.status_code == 403
    login(client, "reg_hz")
    client.cookies.set("lang", "en")
    page = client.get(url)
    token = _csrf(page.text)
    assert (
        client.post(f"{url}/waive", data={"reason": "x"}, follow_redirects=False).status_code == 403
    )  # no CSRF
    empty = client.post(f"{url}/waive", data={"csrf_token": token, "reason": " "}, follow_redirects=False)
    assert empty.status_code == 422 and "reason is required" in empty.text
    done = client.post(
        f"{url}/waive", data={"csrf_token": token, "reason": "停产已批准"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"{url}?done=waived"
    shown = client.get(done.headers["location"]).text
    assert 'id="done"' in shown and 'data-state="waived"' in shown and "停产已批准" in shown
    again = client.post(f"{url}/waive", data={"csrf_token": token, "reason": "again"}, follow_redirects=False)
    assert again.status_code == 409 and "already waived" in again.text
    back = client.post(
        f"{url}/unwaive", data={"csrf_token": token, "reason": "withdrawn"}, follow_redirects=False
    )
    assert back.status_code == 303
    assert 'data-state="open"' in client.get(url).text
    other = pages_world.ids["b1"]  # 广州: not the regulator's
    hidden = client.post(f"/compliance/findings/{other}/waive", data={"csrf_token": token, "reason": "x"})
    assert hidden.status_code == 404


def test_rules_page_and_run_now(client: TestClient, pages_world: PagesWorld, settings: Settings) -> None:
    login(client, "admin1")
    client.cookies.set("lang", "en")
    page = client.get("/compliance/rules")
    assert 'data-rule="TX-2-C" data-enabled="no"' in page.text
    assert 'data-param="days"' in page.text and "set, default" in page.text  # the override is shown
    assert "ENVWATCH_OM_INSPECTION_EVERY_DAYS" in page.text
    token = _csrf(page.text)
    assert client.post("/compliance/rules/run", follow_redirects=False).status_code == 403  # no CSRF
    with pages_world.engine.connect() as conn:
        before = conn.execute(select(compliance_runs.c.id)).scalars().all()
    done = client.post("/compliance/rules/run", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    run_id = int(re.search(r"run=(\d+)", done.headers["location"]).group(1))  # type: ignore[union-attr]
    assert run_id not in before
    shown = client.get(done.headers["location"])
    assert f'data-run="{run_id}"' in shown.text and 'id="run-result"' in shown.text
    assert "on demand by admin1" in shown.text
    login(client, "op_a")
    token = _csrf(client.get("/compliance/rules").text)
    assert client.post("/compliance/rules/run", data={"csrf_token": token}).status_code == 403


def test_the_real_rule_packs_are_listed(pages_world: PagesWorld) -> None:
    """Whatever rules the packs hold, the rule list shows each with its parameters."""
    from envwatch.compliance.packs import RULES

    with TestClient(
        create_app(
            pages_world.settings.model_copy(update={"compliance_params": {}, "compliance_rules_off": []}),
            pages_world.engine,
        )
    ) as c:
        login(c, "reg_hz")
        r = c.get("/compliance/rules")
    assert r.status_code == 200
    assert set(re.findall(r'<tr id="rule-([^"]+)"', r.text)) == {rule.id for rule in RULES}
