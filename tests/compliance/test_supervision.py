"""The monthly full-coverage supervision plan (SX-22.3) and its checklist results (SX-22.4), on SQLite and
PostgreSQL: who is on the plan, making it twice, supplements, the checklist's validation, corrections,
coverage and the evidence log."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import DBAPIError

from envwatch.compliance import supervision as sv
from envwatch.compliance.schema import supervision_plan_items, supervision_plans, supervision_results
from envwatch.compliance.supervision_checklist import CHECKLIST, KEYS
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence_schema import evidence_entries
from tests.compliance.world_supervision import CITY, MONTH, NOW, SupervisionWorld, add_enterprise, build


@pytest.fixture
def w(engine: Engine) -> SupervisionWorld:
    return build(engine)


def make(w: SupervisionWorld, region: str = CITY, month: str = MONTH, now: Any = NOW) -> dict[str, Any]:
    with w.engine.begin() as conn:
        return sv.make_plan(conn, region, month, "reg_hz", now)


def all_ok(**changes: sv.Answer) -> dict[str, sv.Answer]:
    return {k: sv.Answer("ok") for k in KEYS} | changes


def record(w: SupervisionWorld, item_id: int, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "visited_on": date(2026, 11, 20),
        "inspectors": "张三, 李四",
        "checklist": all_ok(),
        "by": "reg_hz",
        "now": NOW,
    } | kwargs
    with w.engine.begin() as conn:
        return sv.record_result(conn, item_id, **args)


def plan(w: SupervisionWorld, plan_id: int) -> dict[str, Any]:
    with w.engine.connect() as conn:
        return sv.get_plan(conn, plan_id)


def count(w: SupervisionWorld, table: Any) -> int:
    with w.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def entries(w: SupervisionWorld, kind: str) -> int:
    with w.engine.connect() as conn:
        query = select(func.count()).select_from(evidence_entries).where(evidence_entries.c.kind == kind)
        return int(conn.execute(query).scalar_one())


def test_the_checklist_is_the_nine_items_of_sx_22_4() -> None:
    assert [c.number for c in CHECKLIST] == list(range(1, 10))
    assert len(set(KEYS)) == 9 and all(c.text and c.text_zh for c in CHECKLIST)
    assert CHECKLIST[6].text_zh == "相关标准物质证书的有效性"


def test_plan_covers_every_monitored_enterprise_and_none_without(w: SupervisionWorld) -> None:
    made = make(w)
    assert made["already"] is False and made["supplementary"] is False and made["related"] == []
    assert (made["region_code"], made["month"], made["population"]) == ("3301", MONTH, 2)
    items = {i["enterprise_id"]: [o["id"] for o in i["outlets"]] for i in made["items"]}
    # 甲 with its two monitored outlets (not DA003 without a device), 乙; not 丙 (no device), not 丁 or 戊
    assert items == {
        w.enterprises["jia"]: [w.outlets["a1"], w.outlets["a2"]],
        w.enterprises["yi"]: [w.outlets["b1"]],
    }
    assert made["coverage"]["items"] == 2 and made["coverage"]["done"] == 0
    assert made["coverage"]["percent"] == 0
    assert {o["enterprise"] for o in made["coverage"]["outstanding"]} == {"甲化工有限公司", "乙热电有限公司"}
    # evidence: the plan row and each item, in the same transaction
    assert entries(w, "supervision_plan") == 3


def test_region_codes(w: SupervisionWorld) -> None:
    county = make(w, "330106")
    assert county["region_code"] == "330106"
    assert [i["enterprise_id"] for i in county["items"]] == [w.enterprises["yi"]]
    city = make(w, "330100")  # a 6-digit code ending in 00 names the city
    assert city["region_code"] == "3301" and len(city["items"]) == 2
    with pytest.raises(InvalidInput, match=r"is a province"):
        make(w, "33")
    with pytest.raises(InvalidInput, match=r"must be 2 .province., 4 .city. or 6 .county. digits"):
        make(w, "33x1")
    with pytest.raises(InvalidInput, match=r"no enterprise with a monitored outlet"):
        make(w, "3305")


def test_month_rules(w: SupervisionWorld) -> None:
    with pytest.raises(InvalidInput, match=r"2026-10 is over: plan the current month .2026-11."):
        make(w, month="2026-10")
    with pytest.raises(InvalidInput, match=r"is not a month YYYY-MM"):
        make(w, month="2026-13")
    with pytest.raises(InvalidInput, match=r"is not a month YYYY-MM"):
        make(w, month="11/2026")
    assert make(w, month="2026-12")["month"] == "2026-12"


def test_making_it_twice_answers_the_first_then_a_supplement_for_newcomers(w: SupervisionWorld) -> None:
    first = make(w)
    rows = (count(w, supervision_plans), count(w, supervision_plan_items))
    again = make(w)
    assert again["already"] is True and again["id"] == first["id"]
    assert (count(w, supervision_plans), count(w, supervision_plan_items)) == rows
    add_enterprise(w, "ji")  # a monitored enterprise registered mid-month
    supplement = make(w)
    assert supplement["already"] is False and supplement["id"] != first["id"]
    assert supplement["supplementary"] is True and supplement["related"] == [first["id"]]
    assert [i["enterprise_id"] for i in supplement["items"]] == [w.enterprises["ji"]]
    assert supplement["population"] == 3
    third = make(w)
    assert third["already"] is True and third["id"] == first["id"] and third["related"] == [supplement["id"]]
    # another month is another plan, with the whole population
    assert len(make(w, month="2026-12")["items"]) == 3


def test_checklist_validation_is_specific(w: SupervisionWorld) -> None:
    item = make(w)["items"][0]["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"checklist": all_ok(gas_leak=sv.Answer("ok"))}, "unknown checklist item.s. gas_leak"),
        ({"checklist": {k: sv.Answer("ok") for k in KEYS[:8]}}, "checklist item.s. other not answered"),
        ({"checklist": all_ok(changes=sv.Answer("bad"))}, "checklist item changes: 'bad' is not one of ok, problem, na"),
        ({"checklist": all_ok(comparison=sv.Answer("problem"))}, "the note of checklist item comparison .what the problem is. is required"),
        ({"visited_on": date(2026, 10, 31)}, "visited on 2026-10-31 is outside the plan's month 2026-11"),
        ({"visited_on": date(2026, 11, 23)}, "visited on 2026-11-23 is in the future .today is 2026-11-22."),
        ({"inspectors": "  "}, "the inspectors is required"),
    ]  # fmt: skip
    for change, message in cases:
        with pytest.raises(InvalidInput, match=message):
            record(w, item, **change)
    with pytest.raises(NotFound, match=r"no supervision plan item with id 999999"):
        record(w, 999999)
    assert count(w, supervision_results) == 0 and entries(w, "supervision_result") == 0


def test_results_corrections_and_coverage(w: SupervisionWorld) -> None:
    made = make(w)
    jia, yi = (
        next(i["id"] for i in made["items"] if i["enterprise_id"] == w.enterprises[k]) for k in ("jia", "yi")
    )
    ok = record(w, jia, checklist=all_ok(other=sv.Answer("na")), note="全部正常")
    assert ok["outcome"] == "ok" and ok["checklist"]["other"] == {"state": "na", "note": ""}
    assert list(ok["checklist"]) == list(KEYS)
    shown = plan(w, made["id"])
    assert shown["coverage"] | {"outstanding": None} == {
        "items": 2, "done": 1, "percent": 50, "problems": 0, "outstanding": None,
    }  # fmt: skip
    assert [o["enterprise_id"] for o in shown["coverage"]["outstanding"]] == [w.enterprises["yi"]]
    # a correction: the reference materials were in fact expired
    fixed = record(
        w, jia, supersedes_id=ok["id"],
        checklist=all_ok(reference_materials=sv.Answer("problem", "SO2 标气证书已过期")),
    )  # fmt: skip
    assert fixed["outcome"] == "problems" and fixed["supersedes_id"] == ok["id"]
    with pytest.raises(
        InvalidInput, match=f"result {ok['id']} was already corrected by result {fixed['id']}"
    ):
        record(w, jia, supersedes_id=ok["id"])
    with pytest.raises(InvalidInput, match=f"result {ok['id']} is not a result of plan item {yi}"):
        record(w, yi, supersedes_id=ok["id"])
    record(w, yi, visited_on=date(2026, 11, 1))
    shown = plan(w, made["id"])
    item = next(i for i in shown["items"] if i["id"] == jia)
    assert [r["id"] for r in item["results"]] == [ok["id"], fixed["id"]] and item["latest"]["id"] == fixed[
        "id"
    ]
    assert shown["coverage"]["done"] == 2 and shown["coverage"]["percent"] == 100
    assert shown["coverage"]["problems"] == 1 and shown["coverage"]["outstanding"] == []
    with w.engine.connect() as conn:
        listed = sv.list_plans(conn, "33")
    assert [(p["id"], p["items"], p["done"], p["problems"]) for p in listed] == [(made["id"], 2, 2, 1)]
    assert entries(w, "supervision_result") == 3


def test_list_by_region_and_month(w: SupervisionWorld) -> None:
    hz = make(w)
    county = make(w, "330106", "2026-12")
    with w.engine.connect() as conn:
        assert [p["id"] for p in sv.list_plans(conn)] == [county["id"], hz["id"]]
        assert [p["id"] for p in sv.list_plans(conn, "330106")] == [county["id"]]
        assert [p["id"] for p in sv.list_plans(conn, "3301", month="2026-11")] == [hz["id"]]
        assert sv.list_plans(conn, "44") == []
    assert sv.region_within("330106", "3301") and sv.region_within("3301", "330100")
    assert not sv.region_within("3301", "330106") and not sv.region_within("3301", None)


def test_plans_and_results_are_append_only(w: SupervisionWorld) -> None:
    made = make(w)
    record(w, made["items"][0]["id"])
    for table in (supervision_plans, supervision_results):
        with pytest.raises(DBAPIError), w.engine.begin() as conn:
            conn.execute(update(table).values(id=table.c.id))


def test_a_visit_on_the_last_day_of_the_month(w: SupervisionWorld) -> None:
    made = make(w)
    later = NOW + timedelta(days=20)
    done = record(w, made["items"][0]["id"], visited_on=date(2026, 11, 30), now=later)
    assert done["visited_on"] == date(2026, 11, 30)
