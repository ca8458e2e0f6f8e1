"""Storing findings (compliance.findings) on SQLite and PostgreSQL: a situation opens once, stays open while
found, resolves when gone, reopens when back, stays waived when waived; a past run leaves newer findings
alone; each finding and event is logged as evidence; waiving needs a reason and the right state."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from envwatch.compliance.findings import apply_found, finding_history, unwaive, waive
from envwatch.compliance.rules import Found, Link
from envwatch.compliance.schema import finding_events, findings
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence_schema import evidence_entries
from tests.compliance.world_findings import AT, Board, World, about, about_agency, build_world, rule_set_of

NOW = AT + timedelta(minutes=5)


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


RULE = rule_set_of(Board()).get("TX-1-A")


def apply(engine: Engine, items: list[Found], at: Any = AT) -> dict[str, int]:
    with engine.begin() as conn:
        return apply_found(conn, RULE, items, at=at, now=NOW).as_dict()


def stored(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["key"]: dict(r) for r in conn.execute(select(findings)).mappings()}


def events(engine: Engine, finding_id: int) -> list[str]:
    with engine.connect() as conn:
        return [e["event"] for e in finding_history(conn, finding_id)]


def evidence_kinds(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(evidence_entries.c.kind, evidence_entries.c.ref)
            .where(evidence_entries.c.kind.in_(("finding", "finding_event")))
            .order_by(evidence_entries.c.id)
        )
        return [(r.kind, r.ref) for r in rows]


def test_a_new_situation_opens_a_finding_named_and_logged(engine: Engine, world: World) -> None:
    done = apply(engine, [about(world, "a", "k1"), about_agency(world, "k2")])
    assert done == {"found": 2, "opened": 2, "reopened": 0, "resolved": 0, "still_open": 0, "waived_seen": 0}
    rows = stored(engine)
    k1 = rows["k1"]
    assert (k1["state"], k1["rule"], k1["first_seen"], k1["last_seen"]) == ("open", "TX-1-A", AT, AT)
    assert (k1["enterprise_id"], k1["operator_id"], k1["device_id"]) == (
        world.ent_a,
        world.op_a,
        world.device_a,
    )
    assert k1["region_code"] == "330102"  # the enterprise's region
    assert rows["k2"]["region_code"] == "330302"  # the agency's region
    assert k1["evidence"] == [{"kind": "fault", "ref": "7", "label": "fault 7"}]
    assert events(engine, k1["id"]) == ["opened"]
    logged = evidence_kinds(engine)
    assert logged.count(("finding", f"findings/{k1['id']}")) == 1
    assert sum(1 for kind, _ in logged if kind == "finding_event") == 2


def test_rerun_is_idempotent_but_last_seen_moves(engine: Engine, world: World) -> None:
    apply(engine, [about(world, "a", "k1")])
    before_logged = len(evidence_kinds(engine))
    later = AT + timedelta(hours=3)
    done = apply(engine, [about(world, "a", "k1", message="new figures (测试问题)")], at=later)
    assert done["still_open"] == 1 and done["opened"] == 0
    row = stored(engine)["k1"]
    assert (row["state"], row["first_seen"], row["last_seen"]) == ("open", AT, later)
    assert row["message"] == "new figures (测试问题)"  # the newest message is kept
    assert events(engine, row["id"]) == ["opened"]  # a re-run is not news
    assert len(evidence_kinds(engine)) == before_logged
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(findings)).scalar_one() == 1


def test_gone_resolves_and_back_reopens(engine: Engine, world: World) -> None:
    apply(engine, [about(world, "a", "k1")])
    t1, t2 = AT + timedelta(days=1), AT + timedelta(days=2)
    assert apply(engine, [], at=t1)["resolved"] == 1
    row = stored(engine)["k1"]
    assert row["state"] == "resolved" and "no longer found" in row["state_reason"]
    assert apply(engine, [about(world, "a", "k1")], at=t2)["reopened"] == 1
    row = stored(engine)["k1"]
    assert (row["state"], row["state_reason"], row["first_seen"], row["last_seen"]) == ("open", "", AT, t2)
    assert events(engine, row["id"]) == ["opened", "resolved", "reopened"]
    with engine.connect() as conn:
        history = finding_history(conn, row["id"])
    assert [(e["from_state"], e["to_state"]) for e in history] == [
        (None, "open"),
        ("open", "resolved"),
        ("resolved", "open"),
    ]


def test_a_past_run_leaves_a_newer_finding_alone(engine: Engine, world: World) -> None:
    apply(engine, [about(world, "a", "k1")], at=AT)
    # judging an older moment that did not find it: it cannot know, so nothing resolves
    assert apply(engine, [], at=AT - timedelta(days=3))["resolved"] == 0
    assert stored(engine)["k1"]["state"] == "open"
    # a past run that finds it does not move last seen back
    apply(engine, [about(world, "a", "k1")], at=AT - timedelta(days=1))
    assert stored(engine)["k1"]["last_seen"] == AT


def test_waived_stays_waived_while_found_and_when_gone(engine: Engine, world: World) -> None:
    apply(engine, [about(world, "a", "k1")])
    fid = stored(engine)["k1"]["id"]
    with engine.begin() as conn:
        row = waive(conn, fid, "  approved production stop (停产已批准) ", by="reg", now=NOW)
    assert (row["state"], row["state_reason"]) == ("waived", "approved production stop (停产已批准)")
    later = AT + timedelta(days=1)
    assert apply(engine, [about(world, "a", "k1")], at=later)["waived_seen"] == 1
    row = stored(engine)["k1"]
    assert row["state"] == "waived" and row["last_seen"] == later
    assert apply(engine, [], at=later + timedelta(days=1))["resolved"] == 0
    assert stored(engine)["k1"]["state"] == "waived"
    with engine.begin() as conn:
        unwaive(conn, fid, "the stop was withdrawn", by="reg", now=NOW)
    assert stored(engine)["k1"]["state"] == "open"
    with engine.connect() as conn:
        history = finding_history(conn, fid)
    assert [(e["event"], e["recorded_by"]) for e in history] == [
        ("opened", "system"),
        ("waived", "reg"),
        ("unwaived", "reg"),
    ]
    assert history[1]["reason"] == "approved production stop (停产已批准)"


def test_waive_and_unwaive_refusals(engine: Engine, world: World) -> None:
    apply(engine, [about(world, "a", "k1")])
    fid = stored(engine)["k1"]["id"]
    for reason in ("", "   "):
        with pytest.raises(InvalidInput, match="reason is required"), engine.begin() as conn:
            waive(conn, fid, reason, by="reg", now=NOW)
    with pytest.raises(InvalidInput, match="longer than"), engine.begin() as conn:
        waive(conn, fid, "x" * 2001, by="reg", now=NOW)
    with pytest.raises(Conflict, match="not waived"), engine.begin() as conn:
        unwaive(conn, fid, "why", by="reg", now=NOW)
    with pytest.raises(NotFound), engine.begin() as conn:
        waive(conn, fid + 1000, "why", by="reg", now=NOW)
    with engine.begin() as conn:
        waive(conn, fid, "why", by="reg", now=NOW)
    with pytest.raises(Conflict, match="already waived"), engine.begin() as conn:
        waive(conn, fid, "again", by="reg", now=NOW)
    with pytest.raises(InvalidInput, match="reason is required"), engine.begin() as conn:
        unwaive(conn, fid, "", by="reg", now=NOW)
    assert events(engine, fid) == ["opened", "waived"]  # refusals left no event


def test_a_resolved_finding_can_be_waived(engine: Engine, world: World) -> None:
    apply(engine, [about(world, "a", "k1")])
    apply(engine, [], at=AT + timedelta(days=1))
    fid = stored(engine)["k1"]["id"]
    with engine.begin() as conn:
        assert waive(conn, fid, "closed by inspection", by="reg", now=NOW)["state"] == "waived"
    with engine.connect() as conn:
        assert finding_history(conn, fid)[-1]["from_state"] == "resolved"


def test_malformed_output_is_refused_whole(engine: Engine, world: World) -> None:
    with pytest.raises(ValueError, match="twice"):
        apply(engine, [about(world, "a", "k1"), about(world, "b", "k1")])
    with pytest.raises(ValueError, match="subject kind"):
        apply(engine, [about(world, "a", "k1", subject_kind="planet")])
    with pytest.raises(ValueError, match="longer than 200"):
        apply(engine, [about(world, "a", "k" * 201)])
    assert stored(engine) == {}


def test_events_carry_the_run_and_the_evidence_at_the_time(engine: Engine, world: World) -> None:
    item = about(world, "a", "k1", evidence=(Link("ticket", "3", "ticket 3"), Link("record", "9")))
    with engine.begin() as conn:
        apply_found(conn, RULE, [item], at=AT, now=NOW, run_id=42, by="cli")
    fid = stored(engine)["k1"]["id"]
    with engine.connect() as conn:
        (opened,) = finding_history(conn, fid)
        body = conn.execute(
            select(evidence_entries.c.body).where(evidence_entries.c.ref == f"finding_events/{opened['id']}")
        ).scalar_one()
    assert (opened["run_id"], opened["recorded_by"]) == (42, "cli")
    assert opened["data"]["evidence"][0] == {"kind": "ticket", "ref": "3", "label": "ticket 3"}
    assert json.loads(body)["kind"] == "finding_event"


def test_finding_events_are_append_only(engine: Engine, world: World) -> None:
    apply(engine, [about(world, "a", "k1")])
    with pytest.raises(Exception), engine.begin() as conn:  # noqa: B017 - the trigger's error differs per backend
        conn.execute(finding_events.update().values(reason="rewritten"))
