"""Running rules (compliance.run.run_rules) on SQLite and PostgreSQL with test rules: one rule's failure is
recorded and the others still store their findings; switched-off, unknown and misconfigured rules are
refused by name; parameter overrides reach the rule; the run is a completed, logged compliance_runs row."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from envwatch.compliance.rules import ParamError
from envwatch.compliance.run import run_rules
from envwatch.compliance.schema import compliance_runs, finding_events, findings
from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from tests.compliance.world_findings import AT, Board, World, about, about_agency, build_world, rule_set_of


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def with_(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


def runs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(select(compliance_runs).order_by(compliance_runs.c.id)).mappings()
        ]


def test_a_failing_rule_is_recorded_and_the_others_run(
    engine: Engine, settings: Settings, world: World
) -> None:
    board = Board(found={"TX-1-A": [about(world, "a", "k1")], "TX-2-C": [about_agency(world, "g1")]})
    board.fail.add("TX-1-B")
    progress: list[tuple[str, dict[str, Any]]] = []
    result = run_rules(
        engine,
        settings,
        at=AT,
        rule_set=rule_set_of(board),
        by="tester",
        progress=lambda rule, outcome: progress.append((rule.id, outcome)),
    )
    assert not result.ok
    assert result.rules["TX-1-B"] == {"error": "RuntimeError: rule TX-1-B broke on purpose"}
    assert result.rules["TX-1-A"]["opened"] == 1 and result.rules["TX-2-C"]["opened"] == 1
    assert [rule for rule, _ in progress] == ["TX-1-A", "TX-1-B", "TX-2-C"]  # pack order, each reported
    assert result.open_findings == 2
    (run,) = runs(engine)
    assert (run["id"], run["at"], run["trigger"], run["run_by"], run["ok"]) == (
        result.run_id, AT, "demand", "tester", False,
    )  # fmt: skip
    assert run["finished_at"] is not None and run["rules"]["TX-1-B"]["error"].startswith("RuntimeError")
    with engine.connect() as conn:
        logged = (
            conn.execute(select(evidence_entries.c.ref).where(evidence_entries.c.kind == "compliance_run"))
            .scalars()
            .all()
        )
        run_ids = set(conn.execute(select(finding_events.c.run_id)).scalars())
    assert logged == [f"compliance_runs/{result.run_id}"]  # logged once, when complete
    assert run_ids == {result.run_id}  # the events name the run that caused them


def test_only_the_rules_asked_for_run(engine: Engine, settings: Settings, world: World) -> None:
    board = Board(found={"TX-1-A": [about(world, "a", "k1")], "TX-1-B": [about(world, "b", "k2")]})
    result = run_rules(engine, settings, at=AT, rule_ids=["TX-1-B", "TX-1-B"], rule_set=rule_set_of(board))
    assert list(result.rules) == ["TX-1-B"] and result.ok
    with engine.connect() as conn:
        assert set(conn.execute(select(findings.c.rule)).scalars()) == {"TX-1-B"}


def test_switched_off_rules_are_skipped_or_refused(engine: Engine, settings: Settings, world: World) -> None:
    board = Board(found={"TX-1-A": [about(world, "a", "k1")]})
    rules = rule_set_of(board)
    off = with_(settings, compliance_rules_off=["TX-1-A"])
    assert list(run_rules(engine, off, at=AT, rule_set=rules).rules) == ["TX-1-B", "TX-2-C"]
    with pytest.raises(InvalidInput, match="TX-1-A are switched off"):
        run_rules(engine, off, at=AT, rule_ids=["TX-1-A"], rule_set=rules)
    with pytest.raises(InvalidInput, match="no compliance rule 'TX-9-Z'"):
        run_rules(engine, settings, at=AT, rule_ids=["TX-9-Z"], rule_set=rules)
    with pytest.raises(InvalidInput, match="name rule 'TX-9-Z'"):  # a typo in the switch is refused
        run_rules(engine, with_(settings, compliance_rules_off=["TX-9-Z"]), at=AT, rule_set=rules)
    assert len(runs(engine)) == 1  # refusals start no run


def test_parameter_overrides_reach_the_rule(engine: Engine, settings: Settings, world: World) -> None:
    board = Board()
    rules = rule_set_of(board)
    run_rules(engine, settings, at=AT, rule_set=rules, rule_ids=["TX-1-A"])
    assert board.seen["TX-1-A"] == {"days": settings.om_inspection_every_days, "limit": 5}
    changed = with_(settings, compliance_params={"TX-1-A": {"days": "10", "limit": 8.0}})
    run_rules(engine, changed, at=AT, rule_set=rules, rule_ids=["TX-1-A"])
    assert board.seen["TX-1-A"] == {"days": 10, "limit": 8}  # converted to the default's type
    assert type(board.seen["TX-1-A"]["days"]) is int


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"TX-1-A": {"dayz": 3}}, "rule TX-1-A has no parameter dayz"),
        ({"TX-1-A": {"days": 2.5}}, r"TX-1-A.days = 2.5 is not a int"),
        ({"TX-1-A": {"days": True}}, "is not a int"),
        ({"TX-9-Z": {"days": 1}}, "name rule 'TX-9-Z'"),
    ],
)
def test_bad_overrides_are_refused(
    engine: Engine, settings: Settings, world: World, params: dict[str, Any], message: str
) -> None:
    rules = rule_set_of(Board())
    with pytest.raises(ParamError, match=message):
        run_rules(engine, with_(settings, compliance_params=params), at=AT, rule_set=rules)
    assert runs(engine) == []


def test_the_moment_judged_must_be_past_and_aware(engine: Engine, settings: Settings, world: World) -> None:
    rules = rule_set_of(Board())
    with pytest.raises(InvalidInput, match="future"):
        run_rules(engine, settings, at=utcnow() + timedelta(hours=1), rule_set=rules)
    with pytest.raises(InvalidInput, match="time zone"):
        run_rules(engine, settings, at=AT.replace(tzinfo=None), rule_set=rules)
    assert runs(engine) == []


def test_default_moment_is_now_and_scheduled_trigger_is_kept(
    engine: Engine, settings: Settings, world: World
) -> None:
    before = utcnow()
    result = run_rules(engine, settings, rule_set=rule_set_of(Board()), trigger="schedule")
    assert before <= result.at <= utcnow()
    (run,) = runs(engine)
    assert run["trigger"] == "schedule" and run["ok"] is True and run["run_by"] == "system"
    assert set(run["rules"]) == {"TX-1-A", "TX-1-B", "TX-2-C"}


def test_decimal_parameters_convert_exactly(engine: Engine, settings: Settings, world: World) -> None:
    from envwatch.compliance.rules import Param, build_rule_set

    board = Board()
    rules = build_rule_set(
        (("p", (board.rule("TX-3-D", params=(Param("pct", "a share", Decimal("95")),)),)),)
    )
    run_rules(engine, with_(settings, compliance_params={"TX-3-D": {"pct": 90.1}}), at=AT, rule_set=rules)
    assert board.seen["TX-3-D"] == {"pct": Decimal("90.1")}
