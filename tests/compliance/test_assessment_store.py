"""The quarterly assessment from data (SX-26, SX-32, SX-27) on SQLite and PostgreSQL: each input equals the
service that shows it elsewhere, the ranking, publication, the system's warnings and blacklisting."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from envwatch.compliance import credit
from envwatch.compliance.assessment import assess, last_in_a_row, publish, published, published_of
from envwatch.compliance.schema import credit_events, operator_assessments
from envwatch.core.errors import InvalidInput
from envwatch.core.evidence_schema import evidence_entries as evidence_log
from envwatch.core.settings import Settings
from envwatch.monitoring.rates import RateQuery, compute_rates
from envwatch.operations.ticket_sla import SlaRules
from envwatch.operations.ticket_stats import satisfaction, sla_statistics
from tests.compliance.assessment_world import Q3_FIRST, inspect, q2_work, q3_work, world
from tests.operations.records_world import NOW

D = Decimal
Q3_LAST = date(2026, 9, 30)


def _row(ranking: object, operator_id: int) -> dict:  # type: ignore[type-arg]
    return next(r.as_dict() for r in ranking.rows if r.operator_id == operator_id)  # type: ignore[attr-defined]


def test_inputs_equal_the_services_that_show_them(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    q3_work(engine, settings, w)
    ranking = assess(engine, settings, "2026Q3", "", NOW)
    mine, theirs = _row(ranking, w.op), _row(ranking, w.other_op)
    rates = {
        r["operator_id"]: r
        for r in compute_rates(engine, settings, RateQuery(Q3_FIRST, Q3_LAST, group="operator"), NOW)
    }
    for op, row in ((w.op, mine), (w.other_op, theirs)):
        shown = row["components"]["effective_rate"]
        assert shown["effective_rate"] == rates[op]["effective_rate"]
        assert (shown["expected"], shown["valid"]) == (rates[op]["expected"], rates[op]["valid"])
    assert theirs["components"]["effective_rate"]["valid"] == 72  # the day of data, 3 factors
    assert theirs["components"]["effective_rate"]["value"] == rates[w.other_op]["effective_rate"]
    with engine.connect() as conn:
        rules = SlaRules.from_settings(settings)
        stats = sla_statistics(conn, w.op, Q3_FIRST, Q3_LAST, NOW, rules)
        sat = satisfaction(conn, w.op, Q3_FIRST, Q3_LAST, rules)
    response = mine["components"]["response"]
    assert (response["met"], response["decided"], response["tickets"]) == (1, 2, stats.tickets)
    assert response["respond_percent"] == stats.clocks["respond"].percent == D(100)
    assert response["on_site_percent"] == stats.clocks["on_site"].percent == D(0)
    assert response["value"] == D(50)
    assert mine["components"]["satisfaction"]["percent"] == sat.rate.percent
    assert mine["components"]["satisfaction"]["value"] == D(100)
    # inspections: 13 of 26 device-windows for 运维甲, 13 of 13 for 运维乙
    assert (mine["components"]["inspection"]["complete"], mine["components"]["inspection"]["windows"]) == (
        13,
        26,
    )
    assert mine["components"]["inspection"]["value"] == D(50)
    assert theirs["components"]["inspection"]["value"] == D(100)
    # findings: two violations (not the waived one, the warning nor the one of Q2) on two devices
    assert mine["components"]["findings"]["violations"] == 2
    assert mine["components"]["findings"]["devices"] == 2
    assert mine["components"]["findings"]["sub_score"] == D(98)
    assert theirs["components"]["findings"]["sub_score"] == D(100)
    # 运维乙 has no ticket: response and satisfaction left out, their weight shared
    assert theirs["left_out"] == ["response", "satisfaction"] and mine["left_out"] == []


def test_score_rank_and_last_place(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    q3_work(engine, settings, w)
    ranking = assess(engine, settings, "2026Q3", "", NOW)
    mine, theirs = _row(ranking, w.op), _row(ranking, w.other_op)
    eff_mine = mine["components"]["effective_rate"]["value"]
    assert eff_mine == D("0.00")
    # (40·0 + 20·50 + 15·50 + 15·98 + 10·100) / 100
    assert mine["score"] == D("42.20")
    eff = D(72) * 100 / theirs["components"]["effective_rate"]["expected"]
    expected = ((40 * eff + 15 * 100 + 15 * 100) / 70).quantize(D("0.01"))
    assert theirs["score"] == expected
    assert ranking.ranked == 2
    assert [(r.operator_id, r.rank, r.last_place) for r in ranking.rows] == [
        (w.other_op, 1, False),
        (w.op, 2, True),
    ]
    assert mine["passed"] is False


def test_region_ranking(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    q3_work(engine, settings, w)
    hz = assess(engine, settings, "2026Q3", "330100", NOW)  # 杭州: only 运维甲 works there
    assert hz.region == "3301"
    assert [r.operator_id for r in hz.rows] == [w.op]
    assert hz.ranked == 1 and not hz.rows[0].last_place  # alone: no last place
    gz = assess(engine, settings, "2026Q3", "4401", NOW)
    assert [r.operator_id for r in gz.rows] == [w.other_op]
    assert assess(engine, settings, "2026Q3", "11", NOW).rows == []
    with pytest.raises(InvalidInput, match="quarter"):
        assess(engine, settings, "2026Q5", "", NOW)
    with pytest.raises(InvalidInput, match="region"):
        assess(engine, settings, "2026Q3", "33x", NOW)


def test_weights_from_settings_change_the_score(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    q3_work(engine, settings, w)
    only_inspection = settings.model_copy(update={"assessment_weights": {"inspection": 1}})
    ranking = assess(engine, only_inspection, "2026Q3", "", NOW)
    assert _row(ranking, w.op)["score"] == D(50)
    assert _row(ranking, w.other_op)["score"] == D(100)
    per10 = settings.model_copy(
        update={"assessment_weights": {"findings": 1}, "assessment_findings_per_point": 10}
    )
    assert _row(assess(engine, per10, "2026Q3", "", NOW), w.op)["score"] == D(90)
    bad = settings.model_copy(update={"assessment_weights": {"speed": 1}})
    with pytest.raises(InvalidInput, match="unknown component 'speed'"):
        assess(engine, bad, "2026Q3", "", NOW)


def test_a_quarter_without_work_scores_only_what_has_data(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    ranking = assess(engine, settings, "2026Q2", "", NOW)
    mine = _row(ranking, w.op)
    # no data, no tickets, no findings: rate 0, inspection 0, findings 100 → (0 + 0 + 1500) / 70
    assert mine["score"] == D("21.43")
    # both the same: ranked, but nobody last
    assert ranking.ranked == 2 and not any(r.last_place for r in ranking.rows)


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_publish_stores_rows_logs_them_and_warns(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    q3_work(engine, settings, w)
    ranking = assess(engine, settings, "2026Q3", "", NOW)
    logged = _count(engine, evidence_log)
    with engine.begin() as conn:
        done = publish(conn, ranking, settings, by="regulator", now=NOW)
    assert set(done.assessment_ids) == {w.op, w.other_op}
    with engine.connect() as conn:
        rows = published(conn, 2026, 3, "")
        mine = rows[w.op]
        assert (mine["score"], mine["rank"], mine["ranked"], mine["last_place"]) == (D("42.20"), 2, 2, True)
        assert mine["components"]["inspection"]["complete"] == 13
        assert mine["formula"]["weights"]["effective_rate"] == "40.0"
        assert mine["published_by"] == "regulator"
        events = credit.events_of(conn, w.op)
    # both scored below 60: a warning each (SX-32), by the system, naming the publication
    assert [(e["kind"], e["rule"], e["source"], e["assessment_id"]) for e in events] == [
        ("warning", "SX-32", "system", done.assessment_ids[w.op])
    ]
    assert "42.20" in events[0]["reason"] and "2026Q3" in events[0]["reason"]
    assert len(done.credit_events) == 2
    # 2 assessments + 2 credit events logged as evidence
    assert _count(engine, evidence_log) - logged == 4
    with engine.connect() as conn:
        kinds = conn.execute(
            select(evidence_log.c.kind).order_by(evidence_log.c.id.desc()).limit(4)
        ).scalars()
        assert sorted(kinds) == ["credit_event", "credit_event", "operator_assessment", "operator_assessment"]


def test_republishing_adds_rows_newest_wins_and_warns_once(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    q3_work(engine, settings, w)
    with engine.begin() as conn:
        first = publish(conn, assess(engine, settings, "2026Q3", "", NOW), settings, by="a", now=NOW)
    # more inspections of the water device: the score moves, the republication is a new row
    inspect(engine, settings, w, "water", [Q3_FIRST + timedelta(days=7 * k + 3) for k in range(13)])
    later = NOW + timedelta(hours=1)
    with engine.begin() as conn:
        second = publish(conn, assess(engine, settings, "2026Q3", "", later), settings, by="b", now=later)
    assert second.assessment_ids[w.op] > first.assessment_ids[w.op]
    assert _count(engine, operator_assessments) == 4
    with engine.connect() as conn:
        newest = published(conn, 2026, 3, "")[w.op]
        assert newest["id"] == second.assessment_ids[w.op] and newest["published_by"] == "b"
        assert newest["components"]["inspection"]["complete"] == 26
        assert len(published_of(conn, w.op)) == 2
    assert second.credit_events == []  # warned already for this quarter and region
    assert _count(engine, credit_events) == 2


def test_append_only(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    with engine.begin() as conn:
        publish(conn, assess(engine, settings, "2026Q3", "", NOW), settings, by="a", now=NOW)
    for table in ("operator_assessments", "credit_events"):
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {table}"))
    assert w.op


def test_blacklisted_after_consecutive_last_places_and_not_twice(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    q2_work(engine, settings, w)
    q3_work(engine, settings, w)
    with engine.begin() as conn:
        q2 = publish(conn, assess(engine, settings, "2026Q2", "", NOW), settings, by="a", now=NOW)
    assert q2.ranking.rows[-1].operator_id == w.op and q2.ranking.rows[-1].last_place
    assert [e["kind"] for e in q2.credit_events if e["operator_id"] == w.op] == ["warning"]  # once last: no
    with engine.begin() as conn:
        q3 = publish(conn, assess(engine, settings, "2026Q3", "", NOW), settings, by="a", now=NOW)
        assert last_in_a_row(conn, w.op, 2026, 3, "", 2)
        assert not last_in_a_row(conn, w.other_op, 2026, 3, "", 1)
    listed = [e for e in q3.credit_events if e["kind"] == "blacklisted"]
    assert [(e["operator_id"], e["rule"], e["source"]) for e in listed] == [(w.op, "SX-26", "system")]
    with engine.connect() as conn:
        state = credit.blacklist_state(conn, w.op)
    assert state.listed and state.current is not None and state.current.since == date(2026, 11, 22)
    # republished: still last twice in a row, but already on the list
    with engine.begin() as conn:
        again = publish(conn, assess(engine, settings, "2026Q3", "", NOW), settings, by="a", now=NOW)
    assert again.credit_events == []


def test_blacklist_setting_respected(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    q3_work(engine, settings, w)
    once = settings.model_copy(update={"assessment_blacklist_after_last": 1, "assessment_pass_score": D(40)})
    with engine.begin() as conn:
        done = publish(conn, assess(engine, once, "2026Q3", "", NOW), once, by="a", now=NOW)
    # pass score 40: 42.20 and ~43 pass, no warning; last once is enough
    assert [(e["operator_id"], e["kind"]) for e in done.credit_events] == [(w.op, "blacklisted")]


def test_a_gap_breaks_the_run(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    q3_work(engine, settings, w)
    with engine.begin() as conn:
        # Q1 (everyone ties: nobody last) and Q3 published, Q2 never: no run of two
        publish(conn, assess(engine, settings, "2026Q1", "", NOW), settings, by="a", now=NOW)
        done = publish(conn, assess(engine, settings, "2026Q3", "", NOW), settings, by="a", now=NOW)
    assert not [e for e in done.credit_events if e["kind"] == "blacklisted"]


def test_nothing_to_publish_before_the_quarter(engine: Engine, settings: Settings) -> None:
    world(engine, settings)
    ranking = assess(engine, settings, "2027Q1", "", NOW)
    with pytest.raises(InvalidInput, match="has not begun"), engine.begin() as conn:
        publish(conn, ranking, settings, by="a", now=NOW)
