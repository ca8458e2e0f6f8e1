"""Testing agencies, their staff and label-system trainings (WZ-A2-5) on a real store (SQLite and, where
one answers, PostgreSQL): validation, uniqueness, the fixed agency code, training status, corrections and
an agency's training coverage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select, text

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry import agency_staff as staff_store
from envwatch.registry import agency_trainings as trainings
from envwatch.registry.agencies import (
    create_agency,
    get_agency,
    list_agencies,
    trained_on,
    update_agency,
)
from envwatch.registry.agencies_schema import agency_staff, agency_trainings
from envwatch.registry.agency_trainings import TrainingFacts
from envwatch.registry.models import credit_code_check_char

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in China
TODAY = date(2026, 3, 10)
DAY = timedelta(days=1)
LATER = NOW + timedelta(hours=1)


def credit(n: int) -> str:
    first17 = f"9133030200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def agency(n: int = 1, **fields: Any) -> dict[str, Any]:
    base = {
        "name": f"温州检测{n}有限公司",
        "credit_code": credit(n),
        "code": f"WZ{n:02d}",
        "region_code": "330302",
        "contact": "陈工",
        "phone": "0577-88776655",
    }
    return base | fields


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as c:
        yield c


def facts(**fields: Any) -> TrainingFacts:
    base: dict[str, Any] = {
        "title": "识别标识系统操作培训",
        "held_on": TODAY - 10 * DAY,
        "passed": True,
        "valid_until": TODAY + 355 * DAY,
        "score": "92.5",
    }
    return TrainingFacts(**(base | fields))


# ---- agencies ----


def test_create_agency_normalises_and_keeps_fields(conn: Connection) -> None:
    row = create_agency(conn, agency(1, code=" wzjc ", credit_code=credit(1).lower()), NOW)
    assert row["code"] == "WZJC" and row["credit_code"] == credit(1)
    assert (row["name"], row["region_code"], row["contact"], row["phone"]) == (
        "温州检测1有限公司",
        "330302",
        "陈工",
        "0577-88776655",
    )
    assert row["active"] is True and row["created_at"] == row["updated_at"] == NOW
    assert get_agency(conn, row["id"]) == row


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "  "}, "name: is empty"),
        ({"credit_code": "91330302000000001"}, "must be 18 characters"),
        (
            {"credit_code": credit(1)[:17] + ("0" if credit(1)[17] != "0" else "1")},
            "fails the GB 32100 check",
        ),
        ({"code": "W"}, "is not an agency code: 2 to 8 letters A-Z and digits 0-9"),
        ({"code": "WZJC12345"}, "is not an agency code"),
        ({"code": "WZ-1"}, "is not an agency code"),
        ({"code": "温州"}, "is not an agency code"),
        ({"region_code": "3303"}, "region_code: '3303' is not a region code"),
        ({"phone": "call me"}, "phone: 'call me' is not a phone number"),
        ({"active": "yes"}, "active"),
        ({"boss": "x"}, "boss: is not a known field"),
    ],
)
def test_create_agency_refuses_bad_fields(conn: Connection, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        create_agency(conn, agency(1, **fields), NOW)
    assert list_agencies(conn) == []


def test_credit_code_and_code_are_unique(conn: Connection) -> None:
    first = create_agency(conn, agency(1), NOW)
    with pytest.raises(Conflict, match=f"credit code {credit(1)} is already registered for testing agency"):
        create_agency(conn, agency(2, credit_code=credit(1)), NOW)
    with pytest.raises(Conflict, match=f"agency code WZ01 is already used by testing agency {first['id']}"):
        create_agency(conn, agency(2, code="wz01"), NOW)
    second = create_agency(conn, agency(2), NOW)
    with pytest.raises(Conflict, match="already registered"):
        update_agency(conn, second["id"], {"credit_code": credit(1)}, LATER)
    assert [a["id"] for a in list_agencies(conn)] == [first["id"], second["id"]]


def test_a_concurrent_create_meets_the_unique_constraint_as_a_conflict(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two creates of the same code at once: the second one's check saw nothing, the constraint refuses it,
    and the answer is the same Conflict (the transaction stays usable)."""
    from envwatch.registry import agencies as module

    create_agency(conn, agency(1), NOW)
    real = module._taken
    calls: list[int] = []

    def late(c: Connection, values: Any, but: int | None) -> None:
        calls.append(1)
        if len(calls) > 1:  # the check after the refused insert is the real one
            real(c, values, but)

    monkeypatch.setattr(module, "_taken", late)
    with pytest.raises(Conflict, match="agency code WZ01 is already used"):
        create_agency(conn, agency(2, code="WZ01"), NOW)
    assert len(list_agencies(conn)) == 1


def test_the_agency_code_never_changes(conn: Connection) -> None:
    row = create_agency(conn, agency(1), NOW)
    with pytest.raises(InvalidInput, match="the agency code WZ01 cannot be changed: it is printed in every"):
        update_agency(conn, row["id"], {"code": "WZ99"}, LATER)
    with pytest.raises(InvalidInput, match="cannot be changed"):
        update_agency(conn, row["id"], {"code": None, "name": "新名"}, LATER)
    assert get_agency(conn, row["id"]) == row  # nothing changed, not even the name sent with it
    # sending it unchanged (any case) is fine: forms send every field
    same = update_agency(conn, row["id"], {"code": "wz01", "name": row["name"]}, LATER)
    assert same == row and same["updated_at"] == NOW
    changed = update_agency(
        conn, row["id"], {"name": "温州新检测有限公司", "region_code": "330304", "active": False}, LATER
    )
    assert (changed["name"], changed["region_code"], changed["active"], changed["code"]) == (
        "温州新检测有限公司",
        "330304",
        False,
        "WZ01",
    )
    assert changed["updated_at"] == LATER and changed["created_at"] == NOW
    with pytest.raises(InvalidInput, match="unknown agency fields: boss"):
        update_agency(conn, row["id"], {"boss": "x"}, LATER)
    with pytest.raises(InvalidInput, match="region_code"):
        update_agency(conn, row["id"], {"region_code": "33"}, LATER)
    with pytest.raises(NotFound, match="no testing agency with id 999"):
        update_agency(conn, 999, {"name": "x"}, LATER)


def test_list_agencies_filters(conn: Connection) -> None:
    wz = create_agency(conn, agency(1), NOW)
    hz = create_agency(conn, agency(2, region_code="330102", name="杭州检测"), NOW)
    gz = create_agency(conn, agency(3, region_code="440103", active=False), NOW)
    assert [a["id"] for a in list_agencies(conn)] == [hz["id"], wz["id"], gz["id"]]  # by region, name
    assert [a["id"] for a in list_agencies(conn, region="330000")] == [hz["id"], wz["id"]]
    assert [a["id"] for a in list_agencies(conn, region="3303")] == [wz["id"]]
    assert [a["id"] for a in list_agencies(conn, [wz["id"], gz["id"]])] == [wz["id"], gz["id"]]
    assert list_agencies(conn, []) == []
    assert [a["id"] for a in list_agencies(conn, active=False)] == [gz["id"]]


# ---- staff ----


def test_add_and_change_staff(conn: Connection) -> None:
    a = create_agency(conn, agency(1), NOW)["id"]
    row = staff_store.add_staff(
        conn, a, name=" 张采样 ", position="sampler", phone="13800138000", username=" Zhang.S ", now=NOW
    )
    assert (row["agency_id"], row["name"], row["position"], row["username"], row["active"]) == (
        a,
        "张采样",
        "sampler",
        "zhang.s",
        True,
    )
    same = staff_store.update_staff(conn, row["id"], {"name": "张采样", "phone": "13800138000"}, now=LATER)
    assert same["updated_at"] == NOW
    changed = staff_store.update_staff(
        conn, row["id"], {"position": "receiver", "username": "", "active": False}, now=LATER
    )
    assert (changed["position"], changed["username"], changed["active"], changed["updated_at"]) == (
        "receiver",
        None,
        False,
        LATER,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "the name is required"),
        ({"name": "x" * 101}, "at most 100"),
        ({"position": "boss"}, "position 'boss' is not one of sampler, receiver, analyst, manager, other"),
        ({"phone": "abc"}, "phone 'abc'"),
        ({"username": "-x"}, "username '-x': 2 to 64 characters"),
        ({"active": "yes"}, "active must be true or false"),
    ],
)
def test_staff_fields_are_checked(conn: Connection, fields: dict[str, Any], message: str) -> None:
    a = create_agency(conn, agency(1), NOW)["id"]
    person: dict[str, Any] = {"name": "李四", "position": "sampler", "phone": "", "username": None} | fields
    with pytest.raises(InvalidInput, match=message):
        staff_store.add_staff(conn, a, **person, now=NOW)
    ok = staff_store.add_staff(conn, a, name="李四", position="sampler", now=NOW)
    with pytest.raises(InvalidInput, match=message):
        staff_store.update_staff(conn, ok["id"], fields, now=LATER)


def test_staff_of_an_unknown_agency_and_unknown_fields(conn: Connection) -> None:
    with pytest.raises(NotFound, match="no testing agency with id 77"):
        staff_store.add_staff(conn, 77, name="x", position="sampler", now=NOW)
    a = create_agency(conn, agency(1), NOW)["id"]
    row = staff_store.add_staff(conn, a, name="x", position="sampler", now=NOW)
    with pytest.raises(InvalidInput, match="unknown staff fields: agency_id"):
        staff_store.update_staff(conn, row["id"], {"agency_id": 5}, now=LATER)
    with pytest.raises(NotFound, match="no agency staff member with id 999"):
        staff_store.update_staff(conn, 999, {"name": "y"}, now=LATER)


def test_one_account_is_one_person(conn: Connection) -> None:
    a = create_agency(conn, agency(1), NOW)["id"]
    b = create_agency(conn, agency(2), NOW)["id"]
    first = staff_store.add_staff(conn, a, name="甲", position="sampler", username="wz_s1", now=NOW)
    with pytest.raises(
        Conflict, match=rf"web account 'wz_s1' is already linked to 甲 \(agency staff {first['id']}\)"
    ):
        staff_store.add_staff(conn, b, name="乙", position="sampler", username="WZ_S1", now=NOW)
    other = staff_store.add_staff(conn, a, name="丙", position="analyst", now=NOW)
    with pytest.raises(Conflict, match="already linked to 甲"):
        staff_store.update_staff(conn, other["id"], {"username": "wz_s1"}, now=LATER)
    # relinking one's own account is no conflict
    assert staff_store.update_staff(conn, first["id"], {"username": "wz_s1"}, now=LATER) == first


def test_a_concurrent_link_meets_the_unique_index_as_a_conflict(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = create_agency(conn, agency(1), NOW)["id"]
    first = staff_store.add_staff(conn, a, name="甲", position="sampler", username="wz_s1", now=NOW)
    real = staff_store._unlinked
    calls: list[int] = []

    def late(c: Connection, username: str | None, staff_id: int | None) -> None:
        calls.append(1)
        if len(calls) > 1:
            real(c, username, staff_id)

    monkeypatch.setattr(staff_store, "_unlinked", late)
    with pytest.raises(Conflict, match=f"already linked to 甲 \\(agency staff {first['id']}\\)"):
        staff_store.add_staff(conn, a, name="乙", position="sampler", username="wz_s1", now=NOW)
    calls.clear()
    other = staff_store.add_staff(conn, a, name="丙", position="sampler", now=NOW)
    calls.clear()
    with pytest.raises(Conflict, match="already linked to 甲"):
        staff_store.update_staff(conn, other["id"], {"username": "wz_s1"}, now=LATER)
    assert conn.execute(select(func.count()).select_from(agency_staff)).scalar_one() == 2


def test_list_staff_with_training_status(conn: Connection) -> None:
    a = create_agency(conn, agency(1), NOW)["id"]
    ids = {
        name: staff_store.add_staff(conn, a, name=name, position=pos, now=NOW)["id"]
        for name, pos in (("甲", "sampler"), ("乙", "sampler"), ("丙", "analyst"))
    }
    trainings.record_training(conn, ids["甲"], facts(), recorded_by="admin", now=NOW)
    rows = staff_store.list_staff(conn, a, today=TODAY)
    assert [(r["name"], r["training_status"]) for r in rows] == [
        ("丙", "none"),
        ("乙", "none"),
        ("甲", "valid"),
    ]
    by_name = {r["name"]: r for r in rows}
    assert by_name["甲"]["days_left"] == 355 and by_name["甲"]["training"]["score"] == Decimal("92.5")
    assert [r["name"] for r in staff_store.list_staff(conn, a, today=TODAY, position="analyst")] == ["丙"]
    staff_store.update_staff(conn, ids["乙"], {"active": False}, now=LATER)
    assert [r["name"] for r in staff_store.list_staff(conn, a, today=TODAY, active=False)] == ["乙"]
    with pytest.raises(InvalidInput, match="position"):
        staff_store.list_staff(conn, a, today=TODAY, position="boss")


# ---- trainings ----


def _person(conn: Connection, name: str = "张三", position: str = "sampler", n: int = 1) -> int:
    rows = list_agencies(conn)
    a = rows[0]["id"] if rows else create_agency(conn, agency(n), NOW)["id"]
    return int(staff_store.add_staff(conn, a, name=name, position=position, now=NOW)["id"])


def test_record_a_training(conn: Connection) -> None:
    s = _person(conn)
    row = trainings.record_training(
        conn, s, facts(score="87.50"), note="理论+实操", recorded_by="admin", now=NOW
    )
    assert row["score"] == Decimal("87.50") and str(row["score"]) == "87.50"  # exact, as typed
    assert (row["passed"], row["note"], row["recorded_by"], row["supersedes_id"], row["withdrawn"]) == (
        True,
        "理论+实操",
        "admin",
        None,
        False,
    )
    no_score = trainings.record_training(
        conn, s, facts(title="复训", score=None, held_on=TODAY), recorded_by="admin", now=NOW
    )
    assert no_score["score"] is None
    assert trained_on(conn, s, TODAY)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"held_on": TODAY + DAY}, "held_on 2026-03-11 is after today \\(2026-03-10\\)"),
        ({"valid_until": TODAY - 11 * DAY}, "valid_until 2026-02-27 is before held_on 2026-02-28"),
        ({"title": " "}, "the title is required"),
        ({"title": "x" * 201}, "at most 200"),
        ({"score": 87.5}, "the score must be given exactly"),
        ({"score": "101"}, "the score must be from 0 to 100"),
        ({"score": "-1"}, "from 0 to 100"),
        ({"score": "NaN"}, "is not a number"),
        ({"score": "八十"}, "is not a number"),
        ({"passed": "yes"}, "passed must be true or false"),
    ],
)
def test_training_fields_are_checked(conn: Connection, fields: dict[str, Any], message: str) -> None:
    s = _person(conn)
    with pytest.raises(InvalidInput, match=message):
        trainings.record_training(conn, s, facts(**fields), recorded_by="admin", now=NOW)
    assert conn.execute(select(func.count()).select_from(agency_trainings)).scalar_one() == 0


def test_the_same_training_twice_is_a_conflict(conn: Connection) -> None:
    s = _person(conn)
    first = trainings.record_training(conn, s, facts(), recorded_by="admin", now=NOW)
    with pytest.raises(
        Conflict, match=f"already recorded for this person \\(training record {first['id']}\\)"
    ):
        trainings.record_training(conn, s, facts(score="50", passed=False), recorded_by="admin", now=NOW)
    with pytest.raises(NotFound, match="no agency staff member with id 999"):
        trainings.record_training(conn, 999, facts(), recorded_by="admin", now=NOW)


def test_the_table_refuses_changes(engine: Engine) -> None:
    """Append-only in the database itself: a correction is a new row, never an UPDATE."""
    with engine.begin() as c:
        s = _person(c)
        row = trainings.record_training(c, s, facts(), recorded_by="admin", now=NOW)
    with (
        pytest.raises(Exception, match=r"agency_trainings is append-only: UPDATE refused"),
        engine.begin() as c,
    ):
        c.execute(text("UPDATE agency_trainings SET passed = false WHERE id = :i"), {"i": row["id"]})


def test_row_and_person_status(conn: Connection) -> None:
    s = _person(conn)
    assert trainings.person_statuses(conn, [s], TODAY)[s].status == "none"
    failed = trainings.record_training(
        conn, s, facts(passed=False, score="40", held_on=TODAY - 30 * DAY), recorded_by="a", now=NOW
    )
    status = trainings.person_statuses(conn, [s], TODAY)[s]
    assert (status.status, status.training, status.days_left) == ("failed", failed, None)
    old = trainings.record_training(
        conn,
        s,
        facts(title="上岗培训", held_on=TODAY - 400 * DAY, valid_until=TODAY - DAY),
        recorded_by="a",
        now=NOW,
    )
    # the latest held is the failed one: failed, not expired
    assert trainings.person_statuses(conn, [s], TODAY)[s].status == "failed"
    # the day before the failed test the old training still counted
    assert trainings.person_statuses(conn, [s], TODAY - 31 * DAY)[s].status == "valid"
    passed = trainings.record_training(
        conn, s, facts(held_on=TODAY, valid_until=TODAY), recorded_by="a", now=NOW
    )
    status = trainings.person_statuses(conn, [s], TODAY)[s]
    assert (status.status, status.training["id"], status.days_left) == ("valid", passed["id"], 0)
    assert trainings.person_statuses(conn, [s], TODAY + DAY)[s].status == "expired"
    history = trainings.training_history(conn, s, TODAY)
    assert [(r["id"], r["status"]) for r in history] == [
        (passed["id"], "valid"),
        (failed["id"], "failed"),
        (old["id"], "expired"),
    ]
    assert trainings.row_status(passed, TODAY - DAY) == "pending"
    # the person's status is the rule on-site entry checks (agencies.trained_on), day by day
    for day in (TODAY - 500 * DAY, TODAY - 40 * DAY, TODAY - DAY, TODAY, TODAY + DAY):
        valid = trainings.person_statuses(conn, [s], day)[s].status == "valid"
        assert valid is trained_on(conn, s, day), day


def test_correct_a_training_by_a_new_row(conn: Connection) -> None:
    s = _person(conn)
    row = trainings.record_training(conn, s, facts(), note="首次", recorded_by="admin", now=NOW)
    # the last valid day was mistyped: it ended yesterday
    fixed = trainings.correct_training(
        conn,
        row["id"],
        facts(valid_until=TODAY - DAY),
        reason="有效期录入错误，应为去年",
        by="wz_admin",
        now=LATER,
    )
    assert (fixed["supersedes_id"], fixed["withdrawn"], fixed["note"], fixed["recorded_by"]) == (
        row["id"],
        False,
        "有效期录入错误，应为去年",
        "wz_admin",
    )
    assert not trained_on(conn, s, TODAY) and trained_on(conn, s, TODAY - DAY)
    history = trainings.training_history(conn, s, TODAY)
    assert [(r["id"], r["status"], r["current"]) for r in history] == [
        (fixed["id"], "expired", True),
        (row["id"], "corrected", False),
    ]
    assert history[1]["correction"] == {
        "id": fixed["id"],
        "withdrawn": False,
        "reason": "有效期录入错误，应为去年",
        "recorded_by": "wz_admin",
        "recorded_at": LATER,
    }
    assert history[0]["corrects"] == row["id"] and history[1]["note"] == "首次"
    with pytest.raises(
        Conflict, match=f"training record {row['id']} was corrected already by training record {fixed['id']}"
    ):
        trainings.correct_training(conn, row["id"], facts(), reason="again", by="a", now=LATER)
    with pytest.raises(InvalidInput, match="the correction changes nothing"):
        trainings.correct_training(
            conn, fixed["id"], facts(valid_until=TODAY - DAY), reason="x", by="a", now=LATER
        )
    with pytest.raises(InvalidInput, match="the reason \\(what was wrong\\) is required"):
        trainings.correct_training(conn, fixed["id"], facts(), reason="  ", by="a", now=LATER)
    # a correction may not repeat another current training of the person
    other = trainings.record_training(conn, s, facts(title="复训", held_on=TODAY), recorded_by="a", now=NOW)
    with pytest.raises(Conflict, match=f"training record {other['id']}"):
        trainings.correct_training(
            conn, fixed["id"], facts(title="复训", held_on=TODAY), reason="x", by="a", now=LATER
        )


def test_withdraw_a_training(conn: Connection) -> None:
    s = _person(conn)
    row = trainings.record_training(conn, s, facts(), recorded_by="admin", now=NOW)
    assert trained_on(conn, s, TODAY)
    gone = trainings.withdraw_training(conn, row["id"], reason="录错了人", by="admin", now=LATER)
    assert (gone["withdrawn"], gone["supersedes_id"], gone["note"], gone["title"], gone["passed"]) == (
        True,
        row["id"],
        "录错了人",
        row["title"],
        True,
    )
    assert not trained_on(conn, s, TODAY)
    assert trainings.person_statuses(conn, [s], TODAY)[s].status == "none"
    history = trainings.training_history(conn, s, TODAY)
    assert [(r["id"], r["status"]) for r in history] == [
        (row["id"], "withdrawn")
    ]  # the withdrawal row hidden
    assert history[0]["correction"]["reason"] == "录错了人"
    with pytest.raises(
        Conflict, match=f"training record {row['id']} was withdrawn already by training record {gone['id']}"
    ):
        trainings.withdraw_training(conn, row["id"], reason="x", by="a", now=LATER)
    with pytest.raises(Conflict, match="a withdrawal is final"):
        trainings.withdraw_training(conn, gone["id"], reason="x", by="a", now=LATER)
    with pytest.raises(NotFound, match="no training record with id 999"):
        trainings.withdraw_training(conn, 999, reason="x", by="a", now=LATER)
    # the same training may be recorded again after its withdrawal
    again = trainings.record_training(conn, s, facts(), recorded_by="admin", now=LATER)
    assert trained_on(conn, s, TODAY) and again["id"] > gone["id"]


def test_a_concurrent_second_correction_is_told_which_came_first(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _person(conn)
    row = trainings.record_training(conn, s, facts(), recorded_by="admin", now=NOW)
    first = trainings.withdraw_training(conn, row["id"], reason="错", by="a", now=LATER)
    monkeypatch.setattr(trainings, "_correctable", lambda c, r: None)  # its check ran before the first got in
    with pytest.raises(Conflict, match=f"was withdrawn already by training record {first['id']}"):
        trainings.correct_training(conn, row["id"], facts(score="60"), reason="分数错", by="b", now=LATER)
    assert conn.execute(select(func.count()).select_from(agency_trainings)).scalar_one() == 2


# ---- coverage ----


def test_coverage_counts_active_samplers_with_a_valid_training(conn: Connection) -> None:
    a = create_agency(conn, agency(1), NOW)["id"]
    ids = {
        name: staff_store.add_staff(conn, a, name=name, position=pos, now=NOW)["id"]
        for name, pos in (
            ("甲", "sampler"),
            ("乙", "sampler"),
            ("丙", "sampler"),
            ("丁", "sampler"),  # leaves: does not count
            ("戊", "analyst"),  # not a sampler: does not count
        )
    }
    staff_store.update_staff(conn, ids["丁"], {"active": False}, now=LATER)
    trainings.record_training(conn, ids["甲"], facts(), recorded_by="a", now=NOW)
    trainings.record_training(conn, ids["乙"], facts(valid_until=TODAY - DAY), recorded_by="a", now=NOW)
    trainings.record_training(conn, ids["丙"], facts(passed=False, score="30"), recorded_by="a", now=NOW)
    found = trainings.coverage(conn, a, TODAY)
    assert (found.total, found.trained, found.percent, found.complete) == (3, 1, Decimal("33.3"), False)
    assert [(p["name"], p["training_status"]) for p in found.untrained] == [
        ("丙", "failed"),
        ("乙", "expired"),
    ]
    # 乙 and 丙 are retrained: 100 %
    trainings.record_training(conn, ids["乙"], facts(title="复训", held_on=TODAY), recorded_by="a", now=NOW)
    fix = trainings.record_training(
        conn, ids["丙"], facts(title="补考", held_on=TODAY), recorded_by="a", now=NOW
    )
    found = trainings.coverage(conn, a, TODAY)
    assert (found.trained, found.percent, found.complete, found.untrained) == (3, Decimal("100.0"), True, [])
    # withdrawing 丙's retest takes the share back down; a correction to failed does too
    trainings.withdraw_training(conn, fix["id"], reason="成绩单不属于此人", by="a", now=LATER)
    found = trainings.coverage(conn, a, TODAY)
    assert (found.trained, found.percent) == (2, Decimal("66.7"))
    assert [p["name"] for p in found.untrained] == ["丙"]
    # another day: 甲's training has ended by then
    assert [p["name"] for p in trainings.coverage(conn, a, TODAY + 400 * DAY).untrained] == ["丙", "乙", "甲"]


def test_coverage_of_an_agency_without_samplers(conn: Connection) -> None:
    a = create_agency(conn, agency(1), NOW)["id"]
    staff_store.add_staff(conn, a, name="戊", position="manager", now=NOW)
    found = trainings.coverage(conn, a, TODAY)
    assert (found.total, found.trained, found.percent, found.complete) == (0, 0, None, False)
