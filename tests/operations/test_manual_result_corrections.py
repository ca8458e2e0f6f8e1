"""Correcting manual monitoring results (手工监测) by new rows, on the real stores (SQLite and PostgreSQL).

The fault on GAS (SO2) began 10:00 China time on 2025-09-30; manual monitoring from 10:00 on 10-01; two
results stored (SO2 at 16:00 on 10-01: 12.30, at 08:00 on 10-02: 13.0). NOW is 12:00 on 2025-10-20.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.workdays import WorkdayCalendar
from envwatch.operations import manual_results as results_module
from envwatch.operations.fault_clocks import FaultRules
from envwatch.operations.faults import (
    ManualResultIn,
    add_manual_results,
    correct_manual_result,
    fault_view,
    manual_result_history,
    manual_results_of,
    open_fault,
    record_event,
)
from envwatch.operations.faults_schema import manual_results
from tests.operations.faults_world import NOX, SO2, build, cst

NOW = cst(2025, 10, 20, 12)
LATER = NOW + timedelta(hours=1)
START = cst(2025, 9, 30, 10)
BACKUP = cst(2025, 10, 1, 10)
H = timedelta(hours=1)


@dataclass(frozen=True)
class World:
    fault: int
    first: dict[str, Any]  # SO2 at 16:00 on 10-01, 12.30
    second: dict[str, Any]  # SO2 at 08:00 on 10-02, 13.0


def result(**overrides: Any) -> ManualResultIn:
    fields: dict[str, Any] = {
        "factor": SO2, "sampled_at": cst(2025, 10, 1, 16), "value": "12.30", "unit": "mg/m3",
        "agency": "浙江某检测有限公司", "report_no": "JC-2025-001",
    } | overrides  # fmt: skip
    return ManualResultIn(**fields)


@pytest.fixture
def world(engine: Engine) -> World:
    w = build(engine, NOW)
    with engine.begin() as conn:
        fault = open_fault(
            conn, device_id=w.devices["gas"], started_at=START, description="SO2 分析仪采样泵损坏",
            factors=[SO2], alarm_id=None, opened_by="op1", now=NOW,
        )  # fmt: skip
        record_event(
            conn, fault["id"], event="backup_started", at=BACKUP, data={"kind": "manual"}, by="op1", now=NOW
        )
        first, second = add_manual_results(
            conn,
            fault["id"],
            [result(), result(sampled_at=cst(2025, 10, 2, 8), value="13.0", report_no="JC-2025-002")],
            by="op1",
            now=NOW,
        )
    return World(fault["id"], first, second)


def correct(engine: Engine, result_id: int, new: ManualResultIn | None, reason: str = "数值抄错") -> Any:
    with engine.begin() as conn:
        return correct_manual_result(conn, result_id, new, reason=reason, by="op2", now=LATER)


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(manual_results.c.id)).all())


def test_a_correction_replaces_the_result(engine: Engine, world: World) -> None:
    fixed = correct(
        engine, world.first["id"], result(value="21.30"), reason=" 报告第 2 页，21.30 误录为 12.30 "
    )
    assert (fixed["value"], fixed["supersedes_id"], fixed["withdrawn"]) == (
        Decimal("21.30"),
        world.first["id"],
        False,
    )
    assert (fixed["fault_id"], fixed["device_id"]) == (world.fault, world.first["device_id"])
    assert (fixed["recorded_by"], fixed["recorded_at"], fixed["reason"]) == (
        "op2",
        LATER,
        "报告第 2 页，21.30 误录为 12.30",
    )
    with engine.connect() as conn:
        now = [(r["id"], r["value"]) for r in manual_results_of(conn, world.fault)]
        view = fault_view(conn, world.fault, NOW, FaultRules(), WorkdayCalendar())
        history = manual_result_history(conn, world.fault)
    assert now == [(fixed["id"], Decimal("21.30")), (world.second["id"], Decimal("13.0"))]
    assert [r["id"] for r in view["manual_results"]] == [fixed["id"], world.second["id"]]
    assert [(h["id"], h["current"], h["corrects"]) for h in history] == [
        (world.first["id"], False, None),
        (fixed["id"], True, world.first["id"]),
        (world.second["id"], True, None),
    ]
    assert history[0]["correction"] == {
        "id": fixed["id"],
        "withdrawn": False,
        "reason": "报告第 2 页，21.30 误录为 12.30",
        "recorded_by": "op2",
        "recorded_at": LATER,
    }
    assert view["manual_result_history"] == history


def test_a_withdrawn_result_no_longer_counts(engine: Engine, world: World) -> None:
    gone = correct(engine, world.second["id"], None, reason="不是本故障的监测结果")
    assert gone["withdrawn"] is True and gone["value"] == Decimal("13.0")  # the withdrawn values, kept
    with engine.connect() as conn:
        assert [r["id"] for r in manual_results_of(conn, world.fault)] == [world.first["id"]]
        history = manual_result_history(conn, world.fault)
    assert [(h["id"], h["current"]) for h in history] == [
        (world.first["id"], True),
        (world.second["id"], False),
    ]
    assert history[1]["correction"]["withdrawn"] is True
    # the factor and time are free again: the right result may be uploaded while the backup runs
    with engine.begin() as conn:
        (again,) = add_manual_results(
            conn, world.fault, [result(sampled_at=cst(2025, 10, 2, 8), value="3.1")], by="op1", now=LATER
        )
        assert [r["id"] for r in manual_results_of(conn, world.fault)] == [world.first["id"], again["id"]]


def test_a_result_is_corrected_once(engine: Engine, world: World) -> None:
    fixed = correct(engine, world.first["id"], result(value="21.30"))
    with pytest.raises(Conflict) as caught:
        correct(engine, world.first["id"], result(value="21.3"))
    assert caught.value.message == (
        f"manual result {world.first['id']} was corrected already by manual result {fixed['id']}: correct "
        "that one instead"
    )
    gone = correct(engine, fixed["id"], None, reason="整份报告作废")
    with pytest.raises(Conflict) as caught:
        correct(engine, fixed["id"], result(value="1"))
    assert (
        caught.value.message
        == f"manual result {fixed['id']} was withdrawn already by manual result {gone['id']}"
    )
    with pytest.raises(Conflict) as caught:
        correct(engine, gone["id"], result(value="1"))
    assert caught.value.message == (
        f"manual result {gone['id']} withdraws manual result {fixed['id']}: a withdrawal is final; record the "
        "right one as a new record"
    )
    assert stored(engine) == 4


def test_a_concurrent_correction_meets_the_constraint(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = correct(engine, world.first["id"], result(value="21.30"))
    checks = iter([None])  # the first check (before writing) sees no correction yet, as in a race
    original = results_module.require_correctable

    def racing(*args: Any) -> None:
        if next(checks, "after") is None:
            return
        original(*args)

    monkeypatch.setattr(results_module, "require_correctable", racing)
    with pytest.raises(Conflict) as caught:
        correct(engine, world.first["id"], None)
    assert caught.value.message == (
        f"manual result {world.first['id']} was corrected already by manual result {winner['id']}: correct "
        "that one instead"
    )
    assert stored(engine) == 3


def test_the_unique_constraint_itself(engine: Engine, world: World) -> None:
    fixed = correct(engine, world.first["id"], result(value="21.30"))
    row = {k: v for k, v in fixed.items() if k != "id"}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(manual_results).values(**row))


def test_corrected_after_the_monitoring_ended_but_sampled_within_it(engine: Engine, world: World) -> None:
    ended = cst(2025, 10, 3, 10)
    with engine.begin() as conn:
        record_event(conn, world.fault, event="backup_ended", at=ended, by="op1", now=NOW)
    with pytest.raises(InvalidInput) as caught:
        correct(engine, world.first["id"], result(sampled_at=ended + timedelta(seconds=1)))
    assert caught.value.message == (
        "sampled at 2025-10-03 10:00:01 (China time), outside the manual monitoring from 2025-10-01 10:00:00 "
        "until 2025-10-03 10:00:00"
    )
    fixed = correct(engine, world.first["id"], result(sampled_at=ended, report_no="JC-2025-003"))
    assert fixed["sampled_at"] == ended and fixed["report_no"] == "JC-2025-003"
    with pytest.raises(Conflict, match="no manual monitoring running"), engine.begin() as conn:
        add_manual_results(conn, world.fault, [result(sampled_at=ended - H)], by="op1", now=NOW)


@pytest.mark.parametrize(
    ("new", "reason", "error", "message"),
    [
        (
            result(value="21.30"),
            "",
            InvalidInput,
            "a correction needs a reason: say what was wrong in the row it corrects",
        ),
        (
            result(),
            "x",
            InvalidInput,
            "the correction changes nothing in manual result {first}: give the right values, or withdraw it",
        ),
        (
            result(sampled_at=cst(2025, 10, 2, 8)),
            "x",
            Conflict,
            f"{SO2} at 2025-10-02 08:00:00 is already stored (manual result {{second}}): correct that one",
        ),
        (
            result(sampled_at=BACKUP - timedelta(seconds=1)),
            "x",
            InvalidInput,
            "sampled at 2025-10-01 09:59:59 (China time), outside the manual monitoring from 2025-10-01 "
            "10:00:00 until now",
        ),
        (
            result(sampled_at=LATER + H),
            "x",
            InvalidInput,
            "sampled at 2025-10-20 14:00:00 (China time), outside the manual monitoring from 2025-10-01 10:00:00 until now",
        ),
        (result(factor=NOX), "x", InvalidInput, f"factor {NOX} is not one this fault covers ({SO2})"),
        (
            result(value=12.3),
            "x",
            InvalidInput,
            "the value 12.3 must be given as text (an exact decimal), not a number",
        ),
        (result(agency=" "), "x", InvalidInput, "the testing agency (检测机构) is required"),
    ],
)
def test_refused_corrections_store_nothing(
    engine: Engine, world: World, new: ManualResultIn, reason: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        correct(engine, world.first["id"], new, reason=reason)
    assert str(caught.value) == message.format(first=world.first["id"], second=world.second["id"])
    assert stored(engine) == 2


def test_the_precision_of_a_value_is_part_of_it(engine: Engine, world: World) -> None:
    fixed = correct(engine, world.first["id"], result(value="12.3"), reason="报告为 12.3，多录了一位")
    assert str(fixed["value"]) == "12.3"


def test_an_unknown_result_is_not_found(engine: Engine, world: World) -> None:
    with pytest.raises(NotFound) as caught:
        correct(engine, 99999, result())
    assert str(caught.value) == "no manual result with id 99999"


@pytest.mark.parametrize("statement", ["UPDATE manual_results SET value = '1'", "DELETE FROM manual_results"])
def test_still_append_only_after_corrections(engine: Engine, world: World, statement: str) -> None:
    correct(engine, world.first["id"], result(value="21.30"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
