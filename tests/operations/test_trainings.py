"""Training plans, held trainings, results and coverage (operations.trainings) on the real stores.

NOW is 12:00 China time on 2026-11-22 (04:00 UTC): today is 2026-11-22.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.staff import add_staff, get_staff, update_staff
from envwatch.operations.trainings import (
    add_result,
    current_of,
    get_training,
    history_of,
    list_trainings,
    plan_training,
    quarter_days,
    quarter_of,
    quarterly_status,
    record_held,
    results_of,
    sampling_label_status,
    score_of,
)
from envwatch.registry import service_operators as ops
from envwatch.registry.models import OperatorIn, credit_code_check_char
from tests.helpers import NOW

TODAY = date(2026, 11, 22)
DAY = timedelta(days=1)


def credit_code(n: int) -> str:
    first17 = f"9135010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True)
class World:
    op: int
    other_op: int
    staff: dict[
        str, int
    ]  # 张三 field engineer, 李四 sampler, 王五 sampler, 赵六 inactive sampler; 乙 at other_op


@pytest.fixture
def world(engine: Engine) -> World:
    with engine.begin() as conn:
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(1)), NOW)["id"]
        other = ops.create_operator(conn, OperatorIn(name="运维乙", credit_code=credit_code(2)), NOW)["id"]
        people = {
            "张三": (op, "field_engineer"),
            "李四": (op, "sampler"),
            "王五": (op, "sampler"),
            "赵六": (op, "sampler"),
            "乙": (other, "field_engineer"),
        }
        ids = {
            name: add_staff(
                conn, operator_id=where, name=name, position=position, phone="13800138000", now=NOW
            )["id"]
            for name, (where, position) in people.items()
        }
        update_staff(conn, ids["赵六"], {"active": False}, now=NOW)
    return World(op, other, ids)


def plan(conn: Connection, operator_id: int, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "quarterly",
        "title": "第四季度再培训",
        "planned_on": date(2026, 11, 10),
        "pass_score": "60",
        "recorded_by": "op_a",
    } | fields
    return plan_training(conn, operator_id=operator_id, now=NOW, **values)


def held(conn: Connection, operator_id: int, held_on: date, **fields: Any) -> dict[str, Any]:
    made = plan(conn, operator_id, planned_on=held_on, **fields)
    return record_held(conn, made["id"], held_on=held_on, recorded_by="op_a", now=NOW)


def result(conn: Connection, training_id: int, staff_id: int, score: str, tested_on: date) -> dict[str, Any]:
    return add_result(
        conn, training_id, staff_id=staff_id, score=score, tested_on=tested_on, recorded_by="op_a", now=NOW
    )


# ---- plans and holding ----


def test_a_plan_is_held_by_a_new_row(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        made = plan(conn, world.op, pass_score="80.5", note="季度再培训")
        assert made["state"] == "planned" and made["held_on"] is None and made["superseded_by"] is None
        assert made["pass_score"] == Decimal("80.5") and made["recorded_at"] == NOW
        done = record_held(conn, made["id"], held_on=TODAY, recorded_by="op_b", now=NOW)
        assert done["supersedes_id"] == made["id"] and done["held_on"] == TODAY and done["state"] == "held"
        assert (done["title"], done["kind"], done["planned_on"]) == (
            made["title"],
            "quarterly",
            date(2026, 11, 10),
        )
        assert done["pass_score"] == Decimal("80.5") and done["note"] == "季度再培训"
        assert done["recorded_by"] == "op_b"
        # the plan is still there, pointing at what replaced it
        old = get_training(conn, made["id"])
        assert old["held_on"] is None and old["superseded_by"] == done["id"]
        assert current_of(conn, made["id"])["id"] == done["id"]
        assert [r["id"] for r in history_of(conn, made["id"])] == [made["id"], done["id"]]
        assert [r["id"] for r in history_of(conn, done["id"])] == [made["id"], done["id"]]
        # lists show current rows only
        assert [t["id"] for t in list_trainings(conn, world.op)] == [done["id"]]


def test_a_plan_is_held_once(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        made = plan(conn, world.op)
        done = record_held(
            conn, made["id"], held_on=TODAY - DAY, note="讲授与考试", recorded_by="op_a", now=NOW
        )
        assert done["note"] == "讲授与考试"
        with pytest.raises(Conflict) as again:
            record_held(conn, made["id"], held_on=TODAY, recorded_by="op_a", now=NOW)
        assert again.value.message == (
            f"training {made['id']} (第四季度再培训) was already recorded as held on 2026-11-21 (record {done['id']})"
        )
        with pytest.raises(
            Conflict,
            match=rf"^training {done['id']} \(第四季度再培训\) was already recorded as held on 2026-11-21$",
        ):
            record_held(conn, done["id"], held_on=TODAY, recorded_by="op_a", now=NOW)


def test_plan_and_held_checks(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        for fields, message in [
            (
                {"kind": "fun"},
                "training kind 'fun' is not one of quarterly, sampling_label, onboarding, emergency, other",
            ),
            ({"title": " "}, "the title is required"),
            ({"pass_score": "101"}, "the pass score must be from 0 to 100, not 101"),
            ({"pass_score": "-1"}, "the pass score must be from 0 to 100, not -1"),
            ({"pass_score": "sixty"}, "the pass score 'sixty' is not a number such as 87.5"),
            ({"recorded_by": ""}, "recorded_by is required"),
        ]:
            with pytest.raises(InvalidInput) as caught:
                plan(conn, world.op, **fields)
            assert caught.value.message == message
        with pytest.raises(InvalidInput, match=r"^no operator with id 999$"):
            plan(conn, 999)
        made = plan(conn, world.op)
        with pytest.raises(
            InvalidInput,
            match=r"^held_on 2026-11-23 is after today \(2026-11-22\): record a training once it has been held$",
        ):
            record_held(conn, made["id"], held_on=TODAY + DAY, recorded_by="op_a", now=NOW)
        with pytest.raises(NotFound, match=r"^no training with id 999$"):
            record_held(conn, 999, held_on=TODAY, recorded_by="op_a", now=NOW)
        with pytest.raises(NotFound, match=r"^no training with id 999$"):
            get_training(conn, 999)


@pytest.mark.parametrize(
    ("value", "exact"),
    [("87.50", Decimal("87.50")), (100, Decimal(100)), (Decimal("0"), Decimal(0)), (" 60 ", Decimal(60))],
)
def test_scores_stay_exact(value: Any, exact: Decimal) -> None:
    assert str(score_of(value)) == str(exact)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (87.5, 'the score must be given exactly, as decimal text such as "87.5", not 87.5'),
        (True, 'the score must be given exactly, as decimal text such as "87.5", not True'),
        ("100.01", "the score must be from 0 to 100, not 100.01"),
        ("NaN", "the score 'NaN' is not a number such as 87.5"),
        ([], "the score must be a decimal number, not list"),
    ],
)
def test_bad_scores(value: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        score_of(value)
    assert caught.value.message == message


# ---- results ----


def test_results_pass_at_the_pass_score_and_the_latest_counts(engine: Engine, world: World) -> None:
    s = world.staff
    with engine.begin() as conn:
        made = plan(conn, world.op, pass_score="60.0")
        done = record_held(conn, made["id"], held_on=TODAY - 2 * DAY, recorded_by="op_a", now=NOW)
        exact = result(conn, made["id"], s["张三"], "60.00", TODAY - 2 * DAY)  # via the plan's id
        assert exact["training_id"] == done["id"] and exact["passed"] is True
        assert exact["score"] == Decimal("60.00") and str(exact["score"]) == "60.00"
        below = result(conn, done["id"], s["李四"], "59.99", TODAY - 2 * DAY)
        assert below["passed"] is False
        retest = result(conn, done["id"], s["李四"], "75", TODAY)
        assert retest["passed"] is True
        rows = results_of(conn, made["id"])
        assert [(r["name"], str(r["score"]), r["counts"]) for r in rows] == [
            ("张三", "60.00", True), ("李四", "75", True), ("李四", "59.99", False)
        ]  # fmt: skip
        # a correction: the same day, recorded later, counts (and here undoes the pass)
        result(conn, done["id"], s["张三"], "50", TODAY - 2 * DAY)
        mine = get_staff(conn, s["张三"], today=TODAY, warn_days=30)["results"]
        assert [(str(r["score"]), r["counts"], r["title"]) for r in mine] == [
            ("50", True, "第四季度再培训"), ("60.00", False, "第四季度再培训")
        ]  # fmt: skip
        status = quarterly_status(conn, world.op, 2026, 4)
        by_name = {p.name: p for p in status.people}
        assert by_name["张三"].passed is False and by_name["李四"].passed is True


def test_result_checks(engine: Engine, world: World) -> None:
    s = world.staff
    with engine.begin() as conn:
        made = plan(conn, world.op)
        with pytest.raises(
            InvalidInput,
            match=rf"^training {made['id']} \(第四季度再培训\) has not been held yet: record it as held first$",
        ):
            result(conn, made["id"], s["张三"], "90", TODAY)
        done = record_held(conn, made["id"], held_on=TODAY - DAY, recorded_by="op_a", now=NOW)
        with pytest.raises(
            InvalidInput,
            match=rf"^乙 \(staff {s['乙']}\) does not work for operator {world.op}, which held training {done['id']}$",
        ):
            result(conn, done["id"], s["乙"], "90", TODAY)
        with pytest.raises(InvalidInput, match=r"^no staff member with id 999$"):
            result(conn, done["id"], 999, "90", TODAY)
        with pytest.raises(
            InvalidInput, match=r"^tested_on 2026-11-20 is before the training was held \(2026-11-21\)$"
        ):
            result(conn, done["id"], s["张三"], "90", TODAY - 2 * DAY)
        with pytest.raises(InvalidInput, match=r"^tested_on 2026-11-23 is after today \(2026-11-22\)$"):
            result(conn, done["id"], s["张三"], "90", TODAY + DAY)
        with pytest.raises(InvalidInput, match=r"^the score must be from 0 to 100, not 120$"):
            result(conn, done["id"], s["张三"], "120", TODAY)
        with pytest.raises(NotFound, match=r"^no training with id 999$"):
            result(conn, 999, s["张三"], "90", TODAY)
        # a person who has left since can still get the result of a test they took
        assert result(conn, done["id"], s["赵六"], "90", TODAY)["passed"] is True


# ---- coverage ----


def test_quarterly_status_across_quarter_boundaries(engine: Engine, world: World) -> None:
    """The day the training was held decides its quarter; the test may follow in the next quarter."""
    s = world.staff
    with engine.begin() as conn:
        q3_last = held(conn, world.op, date(2026, 9, 30), title="Q3")
        q4_first = held(conn, world.op, date(2026, 10, 1), title="Q4")
        held(conn, world.op, date(2026, 12, 31) - 60 * DAY, title="another kind", kind="emergency")
        other = held(conn, world.other_op, date(2026, 10, 8), title="乙")
        plan(conn, world.op, planned_on=date(2026, 11, 30), title="planned only")
        result(conn, q3_last["id"], s["张三"], "90", date(2026, 10, 2))  # tested in Q4, counts for Q3
        result(conn, q4_first["id"], s["李四"], "90", date(2026, 10, 1))
        result(conn, q4_first["id"], s["王五"], "30", date(2026, 10, 1))  # failed
        result(conn, other["id"], s["乙"], "90", date(2026, 10, 8))

        q3 = quarterly_status(conn, world.op, 2026, 3)
        assert (q3.first, q3.last, q3.rule) == (date(2026, 7, 1), date(2026, 9, 30), "CS-4.5")
        assert [t["title"] for t in q3.trainings] == ["Q3"]
        assert [(p.name, p.passed) for p in q3.people] == [("张三", True), ("李四", False), ("王五", False)]
        assert (q3.total, q3.passed, q3.not_passed, q3.percent, q3.complete) == (
            3,
            1,
            2,
            Decimal("33.3"),
            False,
        )
        assert q3.people[0].result is not None and q3.people[0].result["tested_on"] == date(2026, 10, 2)

        q4 = quarterly_status(conn, world.op, 2026, 4)
        assert [t["title"] for t in q4.trainings] == ["Q4"]  # not the emergency drill, not the plan
        assert [(p.name, p.passed) for p in q4.people] == [("张三", False), ("李四", True), ("王五", False)]
        wang = q4.people[2]
        assert wang.result is not None and str(wang.result["score"]) == "30"  # failed: the latest shown
        assert q4.people[0].result is None  # not tested at all
        assert (q4.passed, q4.percent) == (1, Decimal("33.3"))

        q1 = quarterly_status(conn, world.op, 2027, 1)
        assert (q1.trainings, q1.passed, q1.total, q1.percent) == ([], 0, 3, Decimal("0.0"))
        assert quarterly_status(conn, world.other_op, 2026, 4).complete is True


def test_quarter_days_and_checks() -> None:
    assert quarter_days(2026, 1) == (date(2026, 1, 1), date(2026, 3, 31))
    assert quarter_days(2024, 1) == (date(2024, 1, 1), date(2024, 3, 31))
    assert quarter_days(2026, 2) == (date(2026, 4, 1), date(2026, 6, 30))
    assert quarter_days(2026, 4) == (date(2026, 10, 1), date(2026, 12, 31))
    assert quarter_of(date(2026, 3, 31)) == (2026, 1) and quarter_of(date(2026, 4, 1)) == (2026, 2)
    assert quarter_of(date(2026, 12, 31)) == (2026, 4)
    with pytest.raises(InvalidInput, match=r"^quarter must be 1, 2, 3 or 4, not 5$"):
        quarter_days(2026, 5)
    with pytest.raises(InvalidInput, match=r"^year must be from 2000 to 2100, not 1999$"):
        quarter_days(1999, 1)


def test_sampling_label_coverage(engine: Engine, world: World) -> None:
    """WZ-A2-5: every active sampler trained and tested on the sample-label system (100 %)."""
    s = world.staff
    with engine.begin() as conn:
        empty = sampling_label_status(conn, world.other_op)  # no samplers at all
        assert (empty.total, empty.percent, empty.complete) == (0, None, False)
        label = held(conn, world.op, date(2025, 5, 6), kind="sampling_label", title="采样标签系统")
        quarterly = held(conn, world.op, TODAY)
        result(conn, label["id"], s["李四"], "95", date(2025, 5, 6))
        result(conn, quarterly["id"], s["王五"], "95", TODAY)  # another kind: does not count
        result(conn, label["id"], s["张三"], "95", date(2025, 5, 6))  # not a sampler: not concerned
        status = sampling_label_status(conn, world.op)
        assert status.rule == "WZ-A2-5" and [t["title"] for t in status.trainings] == ["采样标签系统"]
        assert [(p.name, p.passed) for p in status.people] == [("李四", True), ("王五", False)]  # 赵六 left
        assert (status.total, status.passed, status.percent, status.complete) == (
            2,
            1,
            Decimal("50.0"),
            False,
        )
        result(conn, label["id"], s["王五"], "60", TODAY)
        done = sampling_label_status(conn, world.op)
        assert (done.passed, done.percent, done.complete) == (2, Decimal("100.0"), True)


def test_percent_rounds_half_up(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        for n in range(5):  # 8 people: 张三 … plus five more; 1 of 8 = 12.5 %
            add_staff(
                conn, operator_id=world.op, name=f"员工{n}", position="other", phone="13800138000", now=NOW
            )
        training = held(conn, world.op, TODAY)
        result(conn, training["id"], world.staff["张三"], "90", TODAY)
        status = quarterly_status(conn, world.op, 2026, 4)
        assert (status.passed, status.total, status.percent) == (1, 8, Decimal("12.5"))
        result(conn, training["id"], world.staff["李四"], "90", TODAY)
        result(conn, training["id"], world.staff["王五"], "90", TODAY)
        assert quarterly_status(conn, world.op, 2026, 4).percent == Decimal("37.5")


def test_list_trainings_filters(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        a = plan(conn, world.op, title="A", planned_on=date(2027, 1, 5))
        b = held(conn, world.op, date(2026, 6, 1), title="B", kind="onboarding")
        c = plan(conn, world.op, title="C", planned_on=date(2025, 12, 31))
        c_held = record_held(conn, c["id"], held_on=date(2026, 1, 2), recorded_by="op_a", now=NOW)
        d = plan(conn, world.other_op, title="D")

        def titles(**filters: Any) -> list[str]:
            return [t["title"] for t in list_trainings(conn, filters.pop("operator_id", world.op), **filters)]

        assert titles() == ["A", "B", "C"]  # latest first by held_on, else planned_on
        assert titles(year=2026) == ["B", "C"]  # C was held in 2026 though planned in 2025
        assert titles(year=2025) == [] and titles(year=2027) == ["A"]
        assert (
            titles(kind="onboarding") == ["B"]
            and titles(held=False) == ["A"]
            and titles(held=True) == ["B", "C"]
        )
        assert titles(operator_id=None) == ["A", "D", "B", "C"]
        assert titles(operator_id=[world.other_op]) == ["D"]
        assert {t["state"] for t in list_trainings(conn, world.op, held=True)} == {"held"}
        assert b and c_held and a and d
        with pytest.raises(InvalidInput, match=r"^training kind 'fun' is not one of"):
            titles(kind="fun")


def test_trainings_and_results_are_append_only(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        training = held(conn, world.op, TODAY)
        result(conn, training["id"], world.staff["张三"], "90", TODAY)
    for statement in (
        "UPDATE trainings SET held_on = NULL",
        "DELETE FROM trainings",
        "UPDATE training_results SET score = '100'",
        "DELETE FROM training_results",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
