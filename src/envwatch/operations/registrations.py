"""Operator registrations (运营单位报备, SX-19): an operator registers with a city's bureau before working there.

Append-only: registering is a row; withdrawing it (撤销) is a later row of the same operator, city and
reference number with ``withdrawn`` true, ``registered_on`` the first day it no longer holds. Which
registration holds on a day is the newest row of that operator and city that had begun by then
(:func:`registration_in`); a withdrawal or an expiry ends it. Record pages show a warning for work in a
city without a registration; nothing is blocked (the platform cannot know every bureau's list).

The city of an outlet is the first four digits of its enterprise's region code followed by ``00``
(GB/T 2260: 330102 上城区 → 330100 杭州市).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.records_schema import operator_registrations
from envwatch.registry.schema import operators

_r = operator_registrations.c
LIST_MAX = 1000


def city_of(region_code: str) -> str:
    """The city (地级市) code of a 6-digit region code: 330102 → 330100."""
    code = region_code.strip()
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        raise InvalidInput(f"region {region_code!r} must be a 6-digit GB/T 2260 code")
    return code[:4] + "00"


def _city(region_code: str) -> str:
    code = region_code.strip()
    if (
        not (code.isascii() and code.isdigit() and len(code) == 6)
        or not code.endswith("00")
        or code.endswith("0000")
    ):
        raise InvalidInput(
            f"a registration names a city: 6 digits ending in 00 but not 0000 (e.g. 330100), not {region_code!r}"
        )
    return code


def _text(value: str, what: str, most: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > most:
        raise InvalidInput(f"{what} is {len(value)} characters; at most {most}")
    return value


def register(
    conn: Connection,
    *,
    operator_id: int,
    region_code: str,
    bureau: str,
    reference_no: str,
    registered_on: date,
    valid_until: date | None,
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a registration (报备) of ``operator_id`` with the bureau of the city ``region_code``."""
    if conn.execute(select(operators.c.id).where(operators.c.id == operator_id)).first() is None:
        raise NotFound(f"no operator with id {operator_id}")
    city = _city(region_code)
    if valid_until is not None and valid_until < registered_on:
        raise InvalidInput(
            f"valid until {valid_until.isoformat()} is before the registration day {registered_on.isoformat()}"
        )
    row = {
        "operator_id": operator_id,
        "region_code": city,
        "bureau": _text(bureau, "the bureau (受理的生态环境局)", 200),
        "reference_no": _text(reference_no, "the reference number (备案编号)", 64),
        "registered_on": registered_on,
        "valid_until": valid_until,
        "withdrawn": False,
        "recorded_by": recorded_by,
        "recorded_at": now,
    }
    new_id = conn.execute(insert(operator_registrations).values(**row).returning(_r.id)).scalar_one()
    return get_registration(conn, int(new_id))


def get_registration(conn: Connection, registration_id: int) -> dict[str, Any]:
    row = conn.execute(select(operator_registrations).where(_r.id == registration_id)).mappings().first()
    if row is None:
        raise NotFound(f"no registration with id {registration_id}")
    return dict(row)


def _withdrawal_of(conn: Connection, row: dict[str, Any]) -> dict[str, Any] | None:
    """The withdrawal row written after registration ``row`` (same operator, city and number), if any."""
    query = (
        select(operator_registrations)
        .where(
            _r.operator_id == row["operator_id"],
            _r.region_code == row["region_code"],
            _r.reference_no == row["reference_no"],
            _r.withdrawn.is_(True),
            _r.id > row["id"],
        )
        .order_by(_r.id)
        .limit(1)
    )
    found = conn.execute(query).mappings().first()
    return None if found is None else dict(found)


def withdraw(
    conn: Connection, registration_id: int, *, on: date, recorded_by: str, now: datetime
) -> dict[str, Any]:
    """Withdraw registration ``registration_id`` from day ``on`` (the first day it no longer holds): a new
    row. Conflict when it is withdrawn already; InvalidInput for a withdrawal row or a day before the
    registration began."""
    current = get_registration(conn, registration_id)
    if current["withdrawn"]:
        raise InvalidInput(f"registration {registration_id} is itself a withdrawal")
    done = _withdrawal_of(conn, current)
    if done is not None:
        raise Conflict(
            f"registration {registration_id} was withdrawn already (row {done['id']}, from "
            f"{done['registered_on'].isoformat()})"
        )
    if on < current["registered_on"]:
        raise InvalidInput(
            f"a withdrawal from {on.isoformat()} would be before the registration began "
            f"({current['registered_on'].isoformat()})"
        )
    row = {
        **{k: current[k] for k in ("operator_id", "region_code", "bureau", "reference_no")},
        "registered_on": on,
        "valid_until": None,
        "withdrawn": True,
        "recorded_by": recorded_by,
        "recorded_at": now,
    }
    new_id = conn.execute(insert(operator_registrations).values(**row).returning(_r.id)).scalar_one()
    return get_registration(conn, int(new_id))


def registration_in(conn: Connection, operator_id: int, region_code: str, on: date) -> dict[str, Any] | None:
    """The registration of ``operator_id`` that holds on day ``on`` in the city of ``region_code`` (any
    6-digit code of that city), or None: the newest row of that city begun by then, unless it is a
    withdrawal or expired before ``on``."""
    query = (
        select(operator_registrations)
        .where(_r.operator_id == operator_id, _r.region_code == city_of(region_code), _r.registered_on <= on)
        .order_by(_r.registered_on.desc(), _r.id.desc())
        .limit(1)
    )
    row = conn.execute(query).mappings().first()
    if row is None or row["withdrawn"] or (row["valid_until"] is not None and row["valid_until"] < on):
        return None
    return dict(row)


def list_registrations(
    conn: Connection,
    *,
    operator_ids: Collection[int] | None = None,
    region_prefix: str | None = None,
    either: bool = False,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Registration rows newest first, each with ``withdrawn_by`` (the id of the row withdrawing it).

    ``operator_ids`` and ``region_prefix`` narrow the list (both must hold; with ``either`` one is
    enough: a regulator sees its region's registrations and those of the operators it sees)."""
    if not 1 <= limit <= LIST_MAX:
        raise InvalidInput(f"limit must be 1-{LIST_MAX}, not {limit}")
    conditions: list[Any] = []
    if operator_ids is not None:
        conditions.append(_r.operator_id.in_(list(operator_ids)))
    if region_prefix is not None:
        conditions.append(_r.region_code.startswith(region_prefix, autoescape=True))
    query = select(operator_registrations)
    if conditions:
        query = query.where(or_(*conditions) if either else and_(*conditions))
    query = query.order_by(_r.id.desc()).limit(limit).offset(max(offset, 0))
    rows = [dict(r) for r in conn.execute(query).mappings()]
    for row in rows:
        found = None if row["withdrawn"] else _withdrawal_of(conn, row)
        row["withdrawn_by"] = None if found is None else found["id"]
    return rows
