"""Correcting staff certificates by new rows, and one web account per personnel file, on the real stores
(SQLite and PostgreSQL).

NOW is 12:00 China time on 2026-11-22 (04:00 UTC): today is 2026-11-22.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations import certificates as certificates_module
from envwatch.operations import staff as staff_module
from envwatch.operations.assignment import require_assignable
from envwatch.operations.staff import (
    CertificateDraft,
    add_certificate,
    add_staff,
    certificate_history,
    certificates_of,
    correct_certificate,
    expiring_certificates,
    get_staff,
    list_staff,
    update_staff,
)
from envwatch.operations.staff_schema import staff, staff_certificates
from envwatch.registry import service_operators as ops
from envwatch.registry.models import OperatorIn, credit_code_check_char
from tests.helpers import NOW

TODAY = date(2026, 11, 22)
DAY = timedelta(days=1)
WARN = 30
LATER = NOW + timedelta(hours=2)
KIND = "自动监测运维上岗证（废气）"
ISSUED = date(2024, 1, 10)


def credit_code(n: int) -> str:
    first17 = f"9135010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True)
class World:
    op: int
    staff_id: int
    cert: dict[str, Any]  # 张三's only certificate, mistyped: valid until TODAY + 100 days


@pytest.fixture
def world(engine: Engine) -> World:
    with engine.begin() as conn:
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(1)), NOW)["id"]
        person = add_staff(
            conn, operator_id=op, name="张三", position="field_engineer", phone="13800138000", now=NOW
        )
        cert = add_certificate(
            conn, person["id"], kind=KIND, number="ZJ-001", issuer="浙江省环境监测协会", issued_on=ISSUED,
            valid_until=TODAY + 100 * DAY, recorded_by="op_a", now=NOW,
        )  # fmt: skip
    return World(op, person["id"], cert)


def draft(**fields: Any) -> CertificateDraft:
    values: dict[str, Any] = {
        "kind": KIND, "number": "ZJ-001", "issuer": "浙江省环境监测协会", "issued_on": ISSUED,
        "valid_until": TODAY + 5 * DAY,
    } | fields  # fmt: skip
    return CertificateDraft(**values)


def correct(engine: Engine, cert_id: int, new: CertificateDraft | None, reason: str = "有效期录错") -> Any:
    with engine.begin() as conn:
        return correct_certificate(conn, cert_id, new, reason=reason, by="op_b", now=LATER)


def rows(conn: Connection) -> int:
    return len(conn.execute(select(staff_certificates.c.id)).all())


# ---- a correction replaces the row for every reader ----


def test_a_certificate_corrected_to_an_earlier_end_stops_field_work(engine: Engine, world: World) -> None:
    day = TODAY + 10 * DAY
    with engine.connect() as conn:
        assert require_assignable(conn, world.staff_id, world.op, day)["name"] == "张三"
    fixed = correct(engine, world.cert["id"], draft(), reason=" 有效期录错，应为 2026-11-27 ")
    assert fixed["supersedes_id"] == world.cert["id"] and fixed["withdrawn"] is False
    assert (fixed["reason"], fixed["recorded_by"], fixed["recorded_at"]) == (
        "有效期录错，应为 2026-11-27",
        "op_b",
        LATER,
    )
    assert fixed["valid_until"] == TODAY + 5 * DAY
    with engine.connect() as conn:
        with pytest.raises(InvalidInput) as caught:
            require_assignable(conn, world.staff_id, world.op, day)
        assert caught.value.message == (
            f"张三 (staff {world.staff_id}) has no certificate valid on 2026-12-02 (the latest, ZJ-001, is "
            "valid until 2026-11-27): field work cannot be assigned"
        )
        assert require_assignable(conn, world.staff_id, world.op, TODAY + 5 * DAY)["id"] == world.staff_id
        assert [c["id"] for c in certificates_of(conn, [world.staff_id])[world.staff_id]] == [fixed["id"]]
        (listed,) = list_staff(conn, world.op, today=TODAY, warn_days=WARN)
        assert (listed["certificate_status"], listed["days_left"]) == ("expiring", 5)
        (due,) = expiring_certificates(conn, world.op, TODAY, WARN)
        assert due["id"] == fixed["id"]  # the mistyped row is no renewal due
        person = get_staff(conn, world.staff_id, today=TODAY, warn_days=WARN)
    assert [c["id"] for c in person["certificates"]] == [fixed["id"]]
    assert person["current_certificate"]["id"] == fixed["id"]
    old, new = person["certificate_history"]  # latest valid_until first: the superseded row stays visible
    assert (old["id"], old["current"], old["valid_today"]) == (world.cert["id"], False, False)
    assert old["correction"] == {
        "id": fixed["id"],
        "withdrawn": False,
        "reason": "有效期录错，应为 2026-11-27",
        "recorded_by": "op_b",
        "recorded_at": LATER,
    }
    assert (new["id"], new["current"], new["corrects"], new["correction"]) == (
        fixed["id"],
        True,
        world.cert["id"],
        None,
    )


def test_a_withdrawn_certificate_no_longer_counts(engine: Engine, world: World) -> None:
    gone = correct(engine, world.cert["id"], None, reason="录入了别人的证书")
    assert gone["withdrawn"] is True and gone["supersedes_id"] == world.cert["id"]
    assert (gone["number"], gone["valid_until"]) == ("ZJ-001", TODAY + 100 * DAY)  # the withdrawn values
    with engine.connect() as conn:
        with pytest.raises(InvalidInput) as caught:
            require_assignable(conn, world.staff_id, world.op, TODAY)
        assert caught.value.message == (
            f"张三 (staff {world.staff_id}) holds no certificate: field work cannot be assigned"
        )
        assert certificates_of(conn, [world.staff_id]) == {world.staff_id: []}
        assert list_staff(conn, world.op, today=TODAY, warn_days=WARN)[0]["certificate_status"] == "none"
        (only,) = certificate_history(conn, world.staff_id)  # the withdrawal row itself is no certificate
    assert only["id"] == world.cert["id"] and not only["current"]
    assert only["correction"]["withdrawn"] is True and only["correction"]["reason"] == "录入了别人的证书"
    # the same certificate may be recorded again: the withdrawn row holds no place
    with engine.begin() as conn:
        again = add_certificate(
            conn, world.staff_id, kind=KIND, number="ZJ-001", issuer="浙江省环境监测协会", issued_on=ISSUED,
            valid_until=TODAY + 100 * DAY, recorded_by="op_a", now=LATER,
        )  # fmt: skip
        assert [c["id"] for c in certificates_of(conn, [world.staff_id])[world.staff_id]] == [again["id"]]


# ---- once per row ----


def test_a_row_is_corrected_once_and_the_chain_goes_on(engine: Engine, world: World) -> None:
    first = world.cert["id"]
    fixed = correct(engine, first, draft())
    with pytest.raises(Conflict) as caught:
        correct(engine, first, draft(valid_until=TODAY + 6 * DAY))
    assert caught.value.message == (
        f"certificate record {first} was corrected already by certificate record {fixed['id']}: correct "
        "that one instead"
    )
    again = correct(engine, fixed["id"], draft(valid_until=TODAY + 6 * DAY), reason="又错了")
    gone = correct(engine, again["id"], None, reason="证书已注销")
    with pytest.raises(Conflict) as caught:
        correct(engine, again["id"], draft())
    assert caught.value.message == (
        f"certificate record {again['id']} was withdrawn already by certificate record {gone['id']}"
    )
    with pytest.raises(Conflict) as caught:
        correct(engine, gone["id"], draft())
    assert caught.value.message == (
        f"certificate record {gone['id']} withdraws certificate record {again['id']}: a withdrawal is "
        "final; record the right one as a new record"
    )
    with engine.connect() as conn:
        history = certificate_history(conn, world.staff_id)
        assert rows(conn) == 4
    assert [(h["id"], h["current"]) for h in history] == [
        (first, False),
        (again["id"], False),
        (fixed["id"], False),
    ]


def test_a_concurrent_correction_meets_the_constraint(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two people correcting the same row at once: both pass the check before either wrote; the unique
    constraint on supersedes_id stops the second, who is told which row came first."""
    winner = correct(engine, world.cert["id"], draft())
    checks = iter([None])  # the first check (before writing) sees no correction yet, as in a race
    original = certificates_module.require_correctable

    def racing(*args: Any) -> None:
        if next(checks, "after") is None:
            return
        original(*args)

    monkeypatch.setattr(certificates_module, "require_correctable", racing)
    with pytest.raises(Conflict) as caught:
        correct(engine, world.cert["id"], None, reason="乙也改")
    assert caught.value.message == (
        f"certificate record {world.cert['id']} was corrected already by certificate record "
        f"{winner['id']}: correct that one instead"
    )
    with engine.connect() as conn:
        assert rows(conn) == 2


def test_the_unique_constraint_itself(engine: Engine, world: World) -> None:
    fixed = correct(engine, world.cert["id"], draft())
    row = {k: v for k, v in fixed.items() if k != "id"}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(staff_certificates).values(**row))


# ---- what is refused ----


@pytest.mark.parametrize(
    ("new", "reason", "error", "message"),
    [
        (
            draft(),
            " ",
            InvalidInput,
            "a correction needs a reason: say what was wrong in the row it corrects",
        ),
        (draft(), "因" * 2001, InvalidInput, "the reason is 2001 characters; at most 2000"),
        (
            draft(valid_until=TODAY + 100 * DAY),
            "x",
            InvalidInput,
            "the correction changes nothing in certificate record {id}: give the right values, or withdraw it",
        ),
        (
            draft(issued_on=TODAY + DAY),
            "x",
            InvalidInput,
            "issued_on 2026-11-23 is after today (2026-11-22): record a certificate once it has been issued",
        ),
        (
            draft(valid_until=ISSUED - DAY),
            "x",
            InvalidInput,
            "valid_until 2024-01-09 is before issued_on 2024-01-10",
        ),
        (draft(number=" "), "x", InvalidInput, "the certificate number is required"),
        (
            draft(number="ZJ-002", valid_until=TODAY + 200 * DAY),
            "x",
            Conflict,
            "certificate ZJ-002 of 张三 is already recorded (record {other})",
        ),
    ],
)
def test_refused_corrections_store_nothing(
    engine: Engine, world: World, new: CertificateDraft, reason: str, error: type[Exception], message: str
) -> None:
    with engine.begin() as conn:
        other = add_certificate(
            conn, world.staff_id, kind=KIND, number="ZJ-002", issuer="浙江省环境监测协会", issued_on=ISSUED,
            valid_until=TODAY + 200 * DAY, recorded_by="op_a", now=NOW,
        )  # fmt: skip
    with pytest.raises(error) as caught:
        correct(engine, world.cert["id"], new, reason=reason)
    assert str(caught.value) == message.format(id=world.cert["id"], other=other["id"])
    with engine.connect() as conn:
        assert rows(conn) == 2


def test_an_unknown_row_is_not_found(engine: Engine, world: World) -> None:
    with pytest.raises(NotFound) as caught:
        correct(engine, 99999, draft())
    assert str(caught.value) == "no certificate record with id 99999"


# ---- one web account, one personnel file ----


def test_a_username_linked_elsewhere_is_refused(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        update_staff(conn, world.staff_id, {"username": "zs"}, now=NOW)
        other = add_staff(
            conn, operator_id=world.op, name="李四", position="sampler", phone="13900139000", now=NOW
        )
    message = f"username 'zs' is already linked to 张三 (staff {world.staff_id})"
    with pytest.raises(Conflict) as caught, engine.begin() as conn:
        add_staff(
            conn, operator_id=world.op, name="王五", position="sampler", phone="13700137000", username="ZS",
            now=NOW,
        )  # fmt: skip
    assert caught.value.message == message
    with pytest.raises(Conflict) as caught, engine.begin() as conn:
        update_staff(conn, other["id"], {"username": "zs"}, now=NOW)
    assert caught.value.message == message


@pytest.mark.parametrize("how", ["add", "update"])
def test_a_concurrent_link_of_the_same_account_is_refused_by_the_index(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Two files linking one account at once: both pass the check before either wrote; the unique index
    on staff.username stops the second, which is told which file holds it."""
    with engine.begin() as conn:
        update_staff(conn, world.staff_id, {"username": "zs"}, now=NOW)
        other = add_staff(
            conn, operator_id=world.op, name="李四", position="sampler", phone="13900139000", now=NOW
        )
    checks = iter([None])
    original = staff_module._unlinked

    def racing(*args: Any) -> None:
        if next(checks, "after") is None:
            return
        original(*args)

    monkeypatch.setattr(staff_module, "_unlinked", racing)
    with pytest.raises(Conflict) as caught, engine.begin() as conn:
        if how == "add":
            add_staff(
                conn, operator_id=world.op, name="王五", position="sampler", phone="13700137000",
                username="zs", now=NOW,
            )  # fmt: skip
        else:
            update_staff(conn, other["id"], {"username": "zs", "name": "李四四"}, now=NOW)
    assert caught.value.message == f"username 'zs' is already linked to 张三 (staff {world.staff_id})"
    with engine.connect() as conn:
        names = conn.execute(select(staff.c.name, staff.c.username).order_by(staff.c.id)).all()
    assert [tuple(n) for n in names] == [("张三", "zs"), ("李四", None)]


def test_the_username_index_itself(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        a = add_staff(
            conn, operator_id=world.op, name="李四", position="sampler", phone="13900139000", now=NOW
        )
        b = add_staff(
            conn, operator_id=world.op, name="王五", position="sampler", phone="13700137000", now=NOW
        )
        # NULLs do not collide: three files without an account
        assert len(conn.execute(select(staff.c.id).where(staff.c.username.is_(None))).all()) == 3
        conn.execute(update(staff).where(staff.c.id == a["id"]).values(username="ls"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(staff).where(staff.c.id == b["id"]).values(username="ls"))
