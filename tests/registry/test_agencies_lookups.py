"""The agency lookups sampling relies on (registry.agencies): agency, staff, the person behind a web account,
and whether a person holds a passed label-system training valid on a day (WZ-A2-5), with corrections and
withdrawals of training rows (append-only: a later row supersedes an earlier one)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine, insert, select

from envwatch.core.errors import NotFound
from envwatch.registry.agencies import (
    agency_staff_of_user,
    counting_trainings,
    get_agency,
    get_agency_staff,
    trained_on,
)
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings
from envwatch.registry.models import credit_code_check_char

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DAY = NOW.date()


def _agency(conn: Connection, code: str, n: int) -> int:
    first17 = f"9133030200003{n:04d}"
    return int(
        conn.execute(
            insert(agencies)
            .values(
                name=f"{code} 检测",
                credit_code=first17 + credit_code_check_char(first17),
                code=code,
                region_code="330302",
                contact="",
                phone="",
                active=True,
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(agencies.c.id)
        ).scalar_one()
    )


def _person(conn: Connection, agency_id: int, name: str, username: str | None = None) -> int:
    return int(
        conn.execute(
            insert(agency_staff)
            .values(
                agency_id=agency_id,
                name=name,
                position="sampler",
                phone="",
                username=username,
                active=True,
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(agency_staff.c.id)
        ).scalar_one()
    )


def _training(
    conn: Connection,
    staff_id: int,
    held_on: date,
    valid_until: date,
    *,
    passed: bool = True,
    supersedes_id: int | None = None,
    withdrawn: bool = False,
) -> int:
    return int(
        conn.execute(
            insert(agency_trainings)
            .values(
                staff_id=staff_id,
                title="识别标识系统操作培训",
                held_on=held_on,
                score=Decimal("92.5"),
                passed=passed,
                valid_until=valid_until,
                note="",
                recorded_by="test",
                recorded_at=NOW,
                supersedes_id=supersedes_id,
                withdrawn=withdrawn,
            )
            .returning(agency_trainings.c.id)
        ).scalar_one()
    )


def test_get_agency_and_staff(engine: Engine) -> None:
    with engine.begin() as conn:
        agency = _agency(conn, "WZJC", 1)
        person = _person(conn, agency, "陈采样", username="wzjc_chen")
        _person(conn, agency, "无账号")
    with engine.connect() as conn:
        row = get_agency(conn, agency)
        assert (row["id"], row["code"], row["name"], row["active"]) == (agency, "WZJC", "WZJC 检测", True)
        staff = get_agency_staff(conn, person)
        assert (staff["agency_id"], staff["name"], staff["username"]) == (agency, "陈采样", "wzjc_chen")
        with pytest.raises(NotFound, match=f"no testing agency with id {agency + 100}"):
            get_agency(conn, agency + 100)
        with pytest.raises(NotFound, match="no agency staff member with id 9999"):
            get_agency_staff(conn, 9999)


def test_agency_staff_of_user(engine: Engine) -> None:
    with engine.begin() as conn:
        agency = _agency(conn, "WZJC", 1)
        chen = _person(conn, agency, "陈采样", username="wzjc_chen")
        _person(conn, agency, "吴接样", username="wzjc_wu")
        _person(conn, agency, "无账号")
    with engine.connect() as conn:
        found = agency_staff_of_user(conn, "wzjc_chen")
        assert found is not None and found["id"] == chen and found["name"] == "陈采样"
        assert agency_staff_of_user(conn, "nobody") is None
        assert agency_staff_of_user(conn, "") is None
        assert agency_staff_of_user(conn, "WZJC_CHEN") is None  # usernames are exact


def test_trained_on_the_valid_days_only(engine: Engine) -> None:
    with engine.begin() as conn:
        agency = _agency(conn, "WZJC", 1)
        chen = _person(conn, agency, "陈")
        _training(conn, chen, DAY, DAY + timedelta(days=364))
    with engine.connect() as conn:
        assert not trained_on(conn, chen, DAY - timedelta(days=1))  # before it was held
        assert trained_on(conn, chen, DAY)  # the day it was held
        assert trained_on(conn, chen, DAY + timedelta(days=364))  # the last valid day
        assert not trained_on(conn, chen, DAY + timedelta(days=365))


def test_failed_training_does_not_count(engine: Engine) -> None:
    with engine.begin() as conn:
        agency = _agency(conn, "WZJC", 1)
        person = _person(conn, agency, "未通过")
        _training(conn, person, DAY - timedelta(days=10), DAY + timedelta(days=10), passed=False)
    with engine.connect() as conn:
        assert not trained_on(conn, person, DAY)


def test_another_persons_training_does_not_count(engine: Engine) -> None:
    with engine.begin() as conn:
        agency = _agency(conn, "WZJC", 1)
        trained = _person(conn, agency, "甲")
        other = _person(conn, agency, "乙")
        _training(conn, trained, DAY - timedelta(days=10), DAY + timedelta(days=10))
    with engine.connect() as conn:
        assert trained_on(conn, trained, DAY)
        assert not trained_on(conn, other, DAY)
        assert not trained_on(conn, 9999, DAY)


def test_withdrawn_training_does_not_count(engine: Engine) -> None:
    with engine.begin() as conn:
        agency = _agency(conn, "WZJC", 1)
        person = _person(conn, agency, "撤销")
        wrong = _training(conn, person, DAY - timedelta(days=10), DAY + timedelta(days=10))
    with engine.connect() as conn:
        assert trained_on(conn, person, DAY)
    with engine.begin() as conn:
        # the withdrawing row repeats the facts and is marked withdrawn
        _training(
            conn,
            person,
            DAY - timedelta(days=10),
            DAY + timedelta(days=10),
            supersedes_id=wrong,
            withdrawn=True,
        )
    with engine.connect() as conn:
        assert not trained_on(conn, person, DAY)


def test_corrected_training_counts_as_corrected(engine: Engine) -> None:
    with engine.begin() as conn:
        agency = _agency(conn, "WZJC", 1)
        person = _person(conn, agency, "更正")
        typo = _training(
            conn, person, DAY - timedelta(days=10), DAY - timedelta(days=1)
        )  # valid_until mistyped
        fixed = _training(
            conn, person, DAY - timedelta(days=10), DAY + timedelta(days=355), supersedes_id=typo
        )
        failed = _training(
            conn, _person(conn, agency, "误记不合格"), DAY, DAY + timedelta(days=30), passed=False
        )
        _training(conn, get_agency_staff(conn, person)["id"], DAY, DAY, passed=False, supersedes_id=fixed)
    with engine.connect() as conn:
        # the latest correction (failed) is what counts: neither the typo nor the superseded fix
        assert not trained_on(conn, person, DAY - timedelta(days=5))
        assert not trained_on(conn, person, DAY)
        ids = conn.execute(
            select(agency_trainings.c.id).where(counting_trainings()).order_by(agency_trainings.c.id)
        )
        assert [i for (i,) in ids] == [failed, failed + 1]


def test_an_earlier_valid_training_still_counts_beside_a_withdrawn_one(engine: Engine) -> None:
    with engine.begin() as conn:
        agency = _agency(conn, "WZJC", 1)
        person = _person(conn, agency, "两次")
        _training(conn, person, DAY - timedelta(days=200), DAY + timedelta(days=165))
        second = _training(conn, person, DAY - timedelta(days=1), DAY + timedelta(days=364))
        _training(
            conn,
            person,
            DAY - timedelta(days=1),
            DAY + timedelta(days=364),
            supersedes_id=second,
            withdrawn=True,
        )
    with engine.connect() as conn:
        assert trained_on(conn, person, DAY)
        assert not trained_on(
            conn, person, DAY + timedelta(days=200)
        )  # only the withdrawn one reached that far
