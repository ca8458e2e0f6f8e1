"""The yearly manual spot test (测管联动, SX-23), on SQLite and PostgreSQL: the draw's size, its
reproducibility from the seed, one draw per region and year, results with the platform's daily values,
corrections and coverage."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from envwatch.compliance import spot_tests as st
from envwatch.compliance.schema import spot_test_draws, spot_test_items, spot_test_results
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from tests.compliance.world_supervision import CITY, NOW, SupervisionWorld, add_enterprise, build
from tests.reports.month_world import add_month, day_value

SO2 = "a21026"


@pytest.fixture
def w(engine: Engine) -> SupervisionWorld:
    return build(engine)


def share(settings: Settings, percent: int) -> Settings:
    return settings.model_copy(update={"spot_test_share_percent": Decimal(percent)})


def draw(w: SupervisionWorld, settings: Settings, region: str = CITY, year: int = 2026) -> dict[str, Any]:
    with w.engine.begin() as conn:
        return st.draw(conn, region, year, settings, "reg_hz", NOW)


def count(w: SupervisionWorld, table: Any) -> int:
    with w.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize(
    ("n", "percent", "k"),
    [(0, 10, 0), (1, 10, 1), (3, 10, 1), (10, 10, 1), (11, 10, 2), (25, 10, 3), (100, 10, 10), (5, 100, 5),
     (7, Decimal("33.3"), 3), (7, Decimal("28.5"), 2)],
)  # fmt: skip
def test_sample_size_is_the_ceiling_at_least_one(n: int, percent: Decimal, k: int) -> None:
    assert st.sample_size(n, Decimal(percent)) == k


def test_the_same_seed_and_population_redo_the_same_list() -> None:
    ids = list(range(100, 160))
    first = st.pick("a1b2", ids, 6)
    assert first == st.pick("a1b2", list(reversed(ids)), 6) == sorted(first)
    assert len(set(first)) == 6 and set(first) <= set(ids)
    others = {tuple(st.pick(seed, ids, 6)) for seed in ("s1", "s2", "s3", "s4")}
    assert len(others) > 1  # the seed decides


def test_draw_of_a_city(w: SupervisionWorld, settings: Settings) -> None:
    made = draw(w, settings)
    assert (made["region_code"], made["year"], made["population"], made["share"]) == ("3301", 2026, 3, 10)
    assert made["already"] is False and len(made["seed"]) == 32
    drawn = [i["outlet_id"] for i in made["items"]]
    points = [w.outlets[k] for k in ("a1", "a2", "b1")]
    assert len(drawn) == 1 and set(drawn) <= set(points)  # ceil(3 × 10 %) = 1
    assert st.pick(made["seed"], points, 1) == drawn  # anyone with the seed and the list redoes it
    with w.engine.connect() as conn:
        again = st.redo(conn, made["id"])
        assert again.same and again.population == 3
        with pytest.raises(NotFound, match=r"no spot-test draw with id 999999"):
            st.get_draw(conn, 999999)
        kinds = conn.execute(
            select(evidence_entries.c.kind).where(evidence_entries.c.kind == "spot_test_draw")
        )
        assert len(kinds.all()) == 2  # the draw row and its item
    cov = made["coverage"]
    assert (cov["items"], cov["tested"], cov["population_share"], cov["target_met"]) == (1, 0, 0, False)


def test_share_setting_is_respected(w: SupervisionWorld, settings: Settings) -> None:
    made = draw(w, share(settings, 50))
    assert made["share"] == 50 and len(made["items"]) == 2  # ceil(1.5)
    county = draw(w, share(settings, 50), "330106")
    assert [i["outlet_id"] for i in county["items"]] == [w.outlets["b1"]]  # min 1 of a population of 1


def test_one_draw_per_region_and_year(w: SupervisionWorld, settings: Settings) -> None:
    first = draw(w, settings)
    rows = (count(w, spot_test_draws), count(w, spot_test_items))
    add_enterprise(w, "ji")
    again = draw(w, share(settings, 100))
    assert again["already"] is True and again["id"] == first["id"] and again["seed"] == first["seed"]
    assert (count(w, spot_test_draws), count(w, spot_test_items)) == rows
    with w.engine.connect() as conn:  # the population grew: the seed now gives a longer population's list
        assert st.redo(conn, first["id"]).population == 4
    assert draw(w, settings, year=2027)["already"] is False
    with pytest.raises(InvalidInput, match=r"year 2025: draw the current year .2026. or the next one"):
        draw(w, settings, year=2025)
    with pytest.raises(InvalidInput, match=r"region 3305 has no monitoring point"):
        draw(w, settings, "3305")
    with pytest.raises(InvalidInput, match=r"is a province"):
        draw(w, settings, "33")


def test_results_with_the_platforms_daily_values(w: SupervisionWorld, settings: Settings) -> None:
    with w.engine.begin() as conn:
        add_month(conn, w.devices["a1"], date(2026, 11, 1))  # SO2 day_value(d) every hour of day d
    made = draw(w, share(settings, 100))
    item = {i["outlet_id"]: i["id"] for i in made["items"]}
    a1, b1 = item[w.outlets["a1"]], item[w.outlets["b1"]]

    def record(item_id: int, values: list[st.Value], **kw: Any) -> dict[str, Any]:
        args: dict[str, Any] = {"tested_on": date(2026, 11, 3), "agency": "杭州检测", "report_no": "HZ-2026-001",
                                "values": values, "by": "reg_hz", "now": NOW} | kw  # fmt: skip
        with w.engine.begin() as conn:
            return st.record_result(conn, settings, item_id, **args)

    assert day_value(3) == "13.50"
    good = record(a1, [st.Value(SO2, Decimal("13.00"))])
    (v,) = good["values"]
    assert (v["automatic"], v["automatic_source"], v["unit"], v["relative_error_pct"], v["pass"]) == (
        "13.50", "platform", "mg/m3", "3.85", True,
    )  # fmt: skip
    assert good["outcome"] == "pass"
    bad = record(a1, [st.Value(SO2, Decimal("10"))], supersedes_id=good["id"])  # |13.5 − 10| / 10 = 35 %
    assert bad["values"][0]["relative_error_pct"] == "35.00" and bad["outcome"] == "fail"
    given = record(b1, [st.Value(SO2, Decimal("20"), Decimal("23.9"), "mg/m3"), st.Value("a21002", Decimal("0"), Decimal("0"))])  # fmt: skip
    assert [x["pass"] for x in given["values"]] == [True, True] and given["values"][0][
        "automatic_source"
    ] == "given"
    assert given["values"][1]["relative_error_pct"] is None
    errors: list[tuple[tuple[int, list[st.Value]], dict[str, Any], str]] = [
        ((b1, [st.Value(SO2, Decimal("20"))]), {}, "factor a21026: the platform has no valid daily value for 2026-11-03"),
        ((a1, [st.Value(SO2, Decimal("1"), Decimal("1"))]), {"tested_on": date(2026, 11, 23)}, "is in the future"),
        ((a1, [st.Value(SO2, Decimal("1"), Decimal("1"))]), {"tested_on": date(2025, 12, 31)}, "outside the draw's year 2026"),
        ((a1, []), {}, "give at least one tested value"),
        ((a1, [st.Value(SO2, Decimal("1"), Decimal("1"))] * 2), {}, "a factor is given twice"),
        ((a1, [st.Value(SO2, Decimal("1"), Decimal("1"))]), {"report_no": ""}, "the report number is required"),
        ((a1, [st.Value(SO2, Decimal("1"), Decimal("1"))]), {"supersedes_id": good["id"]}, "already corrected"),
        ((b1, [st.Value(SO2, Decimal("1"), Decimal("1"))]), {"supersedes_id": good["id"]}, f"is not a result of spot-test item {b1}"),
    ]  # fmt: skip
    for (item_id, values), kw, message in errors:
        with pytest.raises(InvalidInput, match=message):
            record(item_id, values, **kw)
    assert count(w, spot_test_results) == 3
    with w.engine.connect() as conn:
        shown = st.get_draw(conn, made["id"])
        listed = st.list_draws(conn, "3301")
        assert st.list_draws(conn, "44") == []
    mine = next(i for i in shown["items"] if i["id"] == a1)
    assert [r["id"] for r in mine["results"]] == [good["id"], bad["id"]] and mine["latest"][
        "outcome"
    ] == "fail"
    cov = shown["coverage"]
    assert (cov["items"], cov["tested"], cov["percent"], cov["failed"]) == (3, 2, Decimal("66.7"), 1)
    assert (cov["population_share"], cov["target_share"], cov["target_met"]) == (Decimal("66.7"), 100, False)
    assert [o["outlet_id"] for o in cov["outstanding"]] == [w.outlets["a2"]]
    assert [(d["id"], d["items"], d["tested"], d["failed"]) for d in listed] == [(made["id"], 3, 2, 1)]


def test_decimal_input(tmp_path: Path) -> None:
    assert st.decimal_of(" 12.30 ", "manual") == Decimal("12.30")
    for bad in ("x", "NaN", "Infinity"):
        with pytest.raises(InvalidInput, match=r"is not a number"):
            st.decimal_of(bad, "manual")
    assert st.judge(Decimal("10"), Decimal("12"), Decimal(20)) == (Decimal("20.00"), True)
    assert st.judge(Decimal("10"), Decimal("12.01"), Decimal(20))[1] is False
    assert st.judge(Decimal("0"), Decimal("0.1"), Decimal(20)) == (None, False)
