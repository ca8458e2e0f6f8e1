"""The operator credit file and the blacklist (SX-27, SX-32) on SQLite and PostgreSQL: manual events, the
blacklist as a fold with its history, the refusals (Conflict, InvalidInput, NotFound), evidence."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select

from envwatch.compliance import credit
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from tests.compliance.assessment_world import add_findings, china, world
from tests.operations.records_world import NOW

TODAY = date(2026, 11, 22)


def test_manual_events_with_their_rules(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    (finding,) = add_findings(engine, w, [("x", "violation", china(date(2026, 8, 1)))])
    with engine.begin() as conn:
        before = conn.execute(select(func.count()).select_from(evidence_entries)).scalar_one()
        warning = credit.record_event(conn, w.op, "warning", " late again ", by="reg", now=NOW)
        penalty = credit.record_event(
            conn, w.op, "penalty", "罚款", on=date(2026, 10, 1), finding_id=finding, by="reg", now=NOW
        )
        credit.record_event(conn, w.op, "note", "talked to them", by="reg", now=NOW)
        after = conn.execute(select(func.count()).select_from(evidence_entries)).scalar_one()
        events = credit.events_of(conn, w.op)
    assert (warning["rule"], warning["reason"], warning["on"], warning["source"]) == (
        "SX-32",
        "late again",
        TODAY,
        "manual",
    )
    assert (penalty["on"], penalty["finding_id"], penalty["recorded_by"]) == (
        date(2026, 10, 1),
        finding,
        "reg",
    )
    assert [e["kind"] for e in events] == ["warning", "penalty", "note"]
    assert events[2]["rule"] is None
    assert after - before == 3


def test_refusals(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    (finding,) = add_findings(engine, w, [("x", "violation", china(date(2026, 8, 1)))])
    with engine.begin() as conn:
        with pytest.raises(InvalidInput, match="reason is required"):
            credit.record_event(conn, w.op, "warning", "  ", by="reg", now=NOW)
        with pytest.raises(InvalidInput, match="not one of warning, penalty"):
            credit.record_event(conn, w.op, "praise", "good", by="reg", now=NOW)
        with pytest.raises(InvalidInput, match="after today"):
            credit.record_event(conn, w.op, "note", "x", on=TODAY + timedelta(days=1), by="reg", now=NOW)
        with pytest.raises(InvalidInput, match=f"finding {finding} is not about operator {w.other_op}"):
            credit.record_event(conn, w.other_op, "bad_record", "x", finding_id=finding, by="reg", now=NOW)
        with pytest.raises(InvalidInput, match="no finding 999"):
            credit.record_event(conn, w.op, "bad_record", "x", finding_id=999, by="reg", now=NOW)
        with pytest.raises(NotFound, match="no operator with id 999"):
            credit.record_event(conn, 999, "note", "x", by="reg", now=NOW)
        assert credit.events_of(conn, w.op) == []


def test_blacklist_fold_with_history(engine: Engine, settings: Settings) -> None:
    w = world(engine, settings)
    with engine.begin() as conn:
        with pytest.raises(Conflict, match="not blacklisted: there is nothing to lift"):
            credit.record_event(conn, w.op, "unblacklisted", "why not", by="reg", now=NOW)
        credit.record_event(conn, w.op, "blacklisted", "造假", on=date(2026, 9, 1), by="reg", now=NOW)
        with pytest.raises(Conflict, match="already blacklisted since 2026-09-01"):
            credit.record_event(conn, w.op, "blacklisted", "again", by="reg", now=NOW)
        credit.record_event(conn, w.op, "unblacklisted", "整改完成", on=date(2026, 10, 1), by="reg", now=NOW)
        credit.record_event(conn, w.op, "blacklisted", "再犯", by="reg", now=NOW)
        credit.record_event(conn, w.other_op, "blacklisted", "x", by="reg", now=NOW)
        credit.record_event(conn, w.other_op, "unblacklisted", "y", by="reg", now=NOW)
        state = credit.blacklist_state(conn, w.op)
        everyone = credit.blacklist(conn)
    assert state.listed and state.current is not None and state.current.reason == "再犯"
    assert [(s.since, s.lifted_on, s.lift_reason) for s in state.history] == [
        (date(2026, 9, 1), date(2026, 10, 1), "整改完成"),
        (TODAY, None, None),
    ]
    assert [(s.operator_id, s.listed) for s in everyone] == [(w.op, True), (w.other_op, False)]
    assert everyone[1].history[0].lift_reason == "y"
