"""Personnel files and certificates (operations.staff) on the real stores (SQLite and PostgreSQL).

NOW is 12:00 China time on 2026-11-22 (04:00 UTC): today is 2026-11-22.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.assignment import require_assignable
from envwatch.operations.staff import (
    add_certificate,
    add_staff,
    certificate_status,
    expiring_certificates,
    get_staff,
    list_staff,
    staff_row,
    update_staff,
)
from envwatch.registry import service_operators as ops
from envwatch.registry.models import OperatorIn, credit_code_check_char
from tests.helpers import NOW

TODAY = date(2026, 11, 22)
DAY = timedelta(days=1)
WARN = 30


def credit_code(n: int) -> str:
    first17 = f"9135010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True)
class World:
    op: int
    other_op: int


@pytest.fixture
def world(engine: Engine) -> World:
    with engine.begin() as conn:
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(1)), NOW)["id"]
        other = ops.create_operator(conn, OperatorIn(name="运维乙", credit_code=credit_code(2)), NOW)["id"]
    return World(op, other)


def person(conn: Connection, operator_id: int, name: str = "张三", **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"position": "field_engineer", "phone": "13800138000"} | fields
    return add_staff(conn, operator_id=operator_id, name=name, now=NOW, **values)


def certificate(
    conn: Connection, staff_id: int, valid_until: date, *, issued_on: date | None = None, **fields: Any
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "自动监测运维上岗证（废气）",
        "number": f"ZJ-{valid_until.isoformat()}",
        "issuer": "浙江省环境监测协会",
        "issued_on": issued_on or valid_until - timedelta(days=3 * 365),
        "valid_until": valid_until,
        "recorded_by": "op_a",
    } | fields
    return add_certificate(conn, staff_id, now=NOW, **values)


# ---- the personnel file ----


def test_a_personnel_file_is_added_and_changed(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        made = person(conn, world.op, " 张三 ", phone=" 0591-8765 4321 ", username=" ZhangSan ")
        assert made["name"] == "张三" and made["phone"] == "0591-8765 4321" and made["username"] == "zhangsan"
        assert made["active"] is True and made["created_at"] == made["updated_at"] == NOW
        later = NOW + timedelta(hours=1)
        same = update_staff(conn, made["id"], {"name": "张三", "active": True}, now=later)
        assert same["updated_at"] == NOW  # nothing differed: nothing written
        changed = update_staff(
            conn, made["id"], {"position": "sampler", "active": False, "username": ""}, now=later
        )
        assert (changed["position"], changed["active"], changed["username"]) == ("sampler", False, None)
        assert changed["updated_at"] == later and changed["created_at"] == NOW
        assert staff_row(conn, made["id"]) == changed


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "  "}, "the name is required"),
        ({"name": "名" * 101}, "the name has 101 characters; at most 100"),
        (
            {"position": "boss"},
            "position 'boss' is not one of field_engineer, sampler, auditor, manager, other",
        ),
        ({"phone": "call me"}, "phone 'call me': 3 to 32 digits"),
        ({"phone": ""}, "phone '': 3 to 32 digits"),
        ({"username": "-x"}, "username '-x': 2 to 64 characters"),
    ],
)
def test_bad_fields_are_refused(engine: Engine, world: World, fields: dict[str, Any], message: str) -> None:
    with engine.begin() as conn:
        with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
            person(conn, world.op, **({"name": "张三"} | fields))
        made = person(conn, world.op)
        with pytest.raises(InvalidInput) as caught:
            update_staff(conn, made["id"], fields, now=NOW)
        assert caught.value.message.startswith(message)


def test_unknown_operator_field_and_person(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        with pytest.raises(InvalidInput, match=r"^no operator with id 999$"):
            person(conn, 999)
        made = person(conn, world.op)
        with pytest.raises(
            InvalidInput,
            match=r"^unknown staff fields: operator_id \(editable: name, position, phone, username, active\)$",
        ):
            update_staff(conn, made["id"], {"operator_id": world.other_op}, now=NOW)
        with pytest.raises(InvalidInput, match=r"^active must be true or false, not 'no'$"):
            update_staff(conn, made["id"], {"active": "no"}, now=NOW)
        with pytest.raises(NotFound, match=r"^no staff member with id 999$"):
            update_staff(conn, 999, {"name": "x"}, now=NOW)
        with pytest.raises(NotFound, match=r"^no staff member with id 999$"):
            get_staff(conn, 999, today=TODAY, warn_days=WARN)


def test_one_account_is_one_person(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        first = person(conn, world.op, username="zs")
        with pytest.raises(
            Conflict, match=rf"^username 'zs' is already linked to 张三 \(staff {first['id']}\)$"
        ):
            person(conn, world.other_op, "李四", username="ZS")
        second = person(conn, world.op, "李四")
        with pytest.raises(Conflict, match="already linked to 张三"):
            update_staff(conn, second["id"], {"username": "zs"}, now=NOW)
        assert update_staff(conn, first["id"], {"username": "zs"}, now=NOW)["username"] == "zs"


# ---- certificates ----


def test_certificate_checks(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        sid = person(conn, world.op)["id"]
        with pytest.raises(
            InvalidInput,
            match=r"^issued_on 2026-11-23 is after today \(2026-11-22\): record a certificate once it has been issued$",
        ):
            certificate(conn, sid, TODAY + 400 * DAY, issued_on=TODAY + DAY)
        with pytest.raises(InvalidInput, match=r"^valid_until 2026-11-20 is before issued_on 2026-11-21$"):
            certificate(conn, sid, TODAY - 2 * DAY, issued_on=TODAY - DAY)
        with pytest.raises(InvalidInput, match=r"^the certificate number is required$"):
            certificate(conn, sid, TODAY + DAY, number=" ")
        with pytest.raises(InvalidInput, match=r"^the issuer is required$"):
            certificate(conn, sid, TODAY + DAY, issuer="")
        with pytest.raises(InvalidInput, match=r"^the certificate kind is required$"):
            certificate(conn, sid, TODAY + DAY, kind="")
        with pytest.raises(NotFound, match=r"^no staff member with id 999$"):
            certificate(conn, 999, TODAY + DAY)
        one_day = certificate(conn, sid, TODAY, issued_on=TODAY)  # issued today, valid today only
        assert one_day["valid_until"] == one_day["issued_on"] == TODAY and one_day["recorded_at"] == NOW
        with pytest.raises(
            Conflict,
            match=rf"^certificate ZJ-2026-11-22 of 张三 is already recorded \(record {one_day['id']}\)$",
        ):
            certificate(conn, sid, TODAY, issued_on=TODAY)


def test_valid_on_the_last_day_expired_the_day_after(engine: Engine, world: World) -> None:
    """``valid_until`` is the last valid day: field work may be assigned on it, not the day after."""
    with engine.begin() as conn:
        sid = person(conn, world.op)["id"]
        certificate(conn, sid, TODAY, number="ZJ-001")
        assert require_assignable(conn, sid, world.op, TODAY)["id"] == sid
        with pytest.raises(InvalidInput) as caught:
            require_assignable(conn, sid, world.op, TODAY + DAY)
        assert caught.value.message == (
            f"张三 (staff {sid}) has no certificate valid on 2026-11-23 (the latest, ZJ-001, is valid until "
            "2026-11-22): field work cannot be assigned"
        )
        on_last_day = get_staff(conn, sid, today=TODAY, warn_days=WARN)
        assert on_last_day["certificate_status"] == "expiring" and on_last_day["days_left"] == 0
        assert on_last_day["current_certificate"]["number"] == "ZJ-001"
        assert [c["valid_today"] for c in on_last_day["certificates"]] == [True]
        day_after = get_staff(conn, sid, today=TODAY + DAY, warn_days=WARN)
        assert day_after["certificate_status"] == "expired" and day_after["current_certificate"] is None
        assert day_after["days_left"] is None
        assert [c["valid_today"] for c in day_after["certificates"]] == [False]
        # a renewal is a new row; the old one stays
        certificate(conn, sid, TODAY + 3 * 365 * DAY, issued_on=TODAY, number="ZJ-002")
        assert require_assignable(conn, sid, world.op, TODAY + DAY)["id"] == sid
        renewed = get_staff(conn, sid, today=TODAY + DAY, warn_days=WARN)
        assert renewed["certificate_status"] == "valid"
        assert [c["number"] for c in renewed["certificates"]] == ["ZJ-002", "ZJ-001"]


def test_no_certificate_and_inactive(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        sid = person(conn, world.op)["id"]
        assert get_staff(conn, sid, today=TODAY, warn_days=WARN)["certificate_status"] == "none"
        with pytest.raises(InvalidInput) as caught:
            require_assignable(conn, sid, world.op, TODAY)
        assert (
            caught.value.message == f"张三 (staff {sid}) holds no certificate: field work cannot be assigned"
        )
        certificate(conn, sid, TODAY + 100 * DAY)
        update_staff(conn, sid, {"active": False}, now=NOW)
        with pytest.raises(InvalidInput, match=rf"^张三 \(staff {sid}\) no longer works for the operator$"):
            require_assignable(conn, sid, world.op, TODAY)


@pytest.mark.parametrize(
    ("valid_until", "warn_days", "status", "days_left"),
    [
        (TODAY - DAY, 30, "expired", None),
        (TODAY, 30, "expiring", 0),
        (TODAY + 30 * DAY, 30, "expiring", 30),  # the window's last day
        (TODAY + 31 * DAY, 30, "valid", 31),  # one day outside the window
        (TODAY, 0, "expiring", 0),  # warn_days 0: only on the last day
        (TODAY + DAY, 0, "valid", 1),
    ],
)
def test_status_window_edges(valid_until: date, warn_days: int, status: str, days_left: int | None) -> None:
    certs = [{"id": 1, "issued_on": date(2020, 1, 1), "valid_until": valid_until}]
    found = certificate_status(certs, TODAY, warn_days)
    assert (found.status, found.days_left, found.valid_until) == (status, days_left, valid_until)


def test_status_takes_the_longest_valid_and_ignores_not_yet_issued() -> None:
    certs = [
        {"id": 1, "issued_on": date(2020, 1, 1), "valid_until": TODAY + 5 * DAY},
        {"id": 2, "issued_on": date(2021, 1, 1), "valid_until": TODAY + 500 * DAY},
        {"id": 3, "issued_on": TODAY + DAY, "valid_until": TODAY + 900 * DAY},  # issued after "today"
    ]
    found = certificate_status(certs, TODAY, 30)
    assert (found.status, found.certificate and found.certificate["id"]) == ("valid", 2)
    assert certificate_status(certs[2:], TODAY, 30).status == "none"
    assert certificate_status([], TODAY, 30).certificate is None


def test_expiring_window_per_kind_and_active_people(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        a = person(conn, world.op, "A")["id"]
        b = person(conn, world.op, "B")["id"]
        c = person(conn, world.op, "C")["id"]
        left = person(conn, world.op, "D")["id"]
        other = person(conn, world.other_op, "E")["id"]
        gas, water = "上岗证（废气）", "上岗证（废水）"
        certificate(conn, a, TODAY + 30 * DAY, kind=gas, number="A-gas")  # last day of the window
        certificate(conn, a, TODAY + 900 * DAY, kind=water, number="A-water")  # far: not listed
        certificate(conn, b, TODAY + 31 * DAY, kind=gas, number="B-gas")  # one day outside
        certificate(conn, c, TODAY, kind=gas, number="C-old")  # today is its last day …
        certificate(conn, c, TODAY + 700 * DAY, kind=gas, number="C-new", issued_on=TODAY)  # … but renewed
        certificate(conn, c, TODAY - DAY, kind=water, number="C-water")  # already expired: not "expiring"
        certificate(conn, left, TODAY + DAY, kind=gas, number="D-gas")  # left the operator
        certificate(conn, other, TODAY, kind=gas, number="E-gas")
        update_staff(conn, left, {"active": False}, now=NOW)
        due = expiring_certificates(conn, world.op, TODAY, 30)
        assert [(r["number"], r["days_left"]) for r in due] == [("A-gas", 30)]
        assert due[0]["name"] == "A" and due[0]["operator_id"] == world.op
        assert [r["number"] for r in expiring_certificates(conn, None, TODAY, 30)] == ["E-gas", "A-gas"]
        assert [r["number"] for r in expiring_certificates(conn, [world.other_op], TODAY, 30)] == ["E-gas"]
        assert [r["number"] for r in expiring_certificates(conn, world.op, TODAY, 31)] == ["A-gas", "B-gas"]
        assert expiring_certificates(conn, world.op, TODAY, 29) == []
        with pytest.raises(InvalidInput, match=r"^warn_days must not be negative, not -1$"):
            expiring_certificates(conn, world.op, TODAY, -1)


def test_list_filters(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        a = person(conn, world.op, "A", position="sampler")["id"]
        b = person(conn, world.op, "B")["id"]
        c = person(conn, world.op, "C")["id"]
        d = person(conn, world.op, "D")["id"]
        e = person(conn, world.other_op, "E")["id"]
        certificate(conn, a, TODAY + 400 * DAY)
        certificate(conn, b, TODAY + 3 * DAY)
        certificate(conn, c, TODAY - DAY)
        update_staff(conn, d, {"active": False}, now=NOW)

        def names(**filters: Any) -> list[str]:
            operator = filters.pop("operator_id", world.op)
            rows = list_staff(conn, operator, today=TODAY, warn_days=WARN, **filters)
            return [r["name"] for r in rows]

        assert names() == ["A", "B", "C", "D"]
        rows = list_staff(conn, world.op, today=TODAY, warn_days=WARN)
        assert [(r["certificate_status"], r["days_left"]) for r in rows] == [
            ("valid", 400), ("expiring", 3), ("expired", None), ("none", None)
        ]  # fmt: skip
        assert rows[1]["certificate"]["valid_until"] == TODAY + 3 * DAY
        assert names(active=True) == ["A", "B", "C"] and names(active=False) == ["D"]
        assert names(position="sampler") == ["A"]
        assert names(certificate="valid") == ["A"] and names(certificate="expiring") == ["B"]
        assert names(certificate="expired") == ["C"] and names(certificate="none") == ["D"]
        assert names(operator_id=None) == ["A", "B", "C", "D", "E"]
        assert names(operator_id=[world.other_op]) == ["E"] and e
        assert names(operator_id=[]) == []
        with pytest.raises(InvalidInput, match=r"^position 'boss' is not one of"):
            names(position="boss")
        with pytest.raises(
            InvalidInput, match=r"^certificate status 'soon' is not one of valid, expiring, expired, none$"
        ):
            names(certificate="soon")


def test_certificates_are_append_only(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        certificate(conn, person(conn, world.op)["id"], TODAY + DAY)
    for statement in ("UPDATE staff_certificates SET number = 'x'", "DELETE FROM staff_certificates"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.begin() as conn:  # the personnel file itself is not evidence: it changes in place
        conn.execute(text("UPDATE staff SET phone = '13900139000'"))
