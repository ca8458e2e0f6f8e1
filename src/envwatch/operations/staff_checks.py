"""What the staff modules share (运维人员): the checks of a text field and of who records, the China day of
a moment, a personnel file by id, and the operator filter of a list.

Below ``operations.certificates`` and ``operations.staff`` (which re-exports these names): both need them,
and the personnel file's reads need the certificates.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.operations.staff_schema import staff

ACTOR_MAX = 100  # recorded_by

_s = staff.c


def text_field(value: str, what: str, most: int) -> str:
    """A required text, stripped; InvalidInput naming ``what`` when empty or longer than ``most``."""
    value = value.strip()
    if not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > most:
        raise InvalidInput(f"{what} has {len(value)} characters; at most {most}")
    return value


def actor(value: str) -> str:
    """Who records it (``recorded_by``)."""
    return text_field(value, "recorded_by", ACTOR_MAX)


def china_day(now: datetime) -> date:
    return to_china(now).date()


def staff_row(conn: Connection, staff_id: int, *, lock: bool = False) -> dict[str, Any]:
    """The personnel file alone (NotFound for an unknown id); ``lock``: FOR UPDATE (PostgreSQL), so that
    writes about one person go one at a time."""
    query = select(staff).where(_s.id == staff_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound(f"no staff member with id {staff_id}")
    return dict(row)


def for_operators(query: Any, operator_id: int | Collection[int] | None) -> Any:
    """``query`` (over ``staff``) narrowed to one operator, several, or none (None: all)."""
    if operator_id is None:
        return query
    if isinstance(operator_id, int):
        return query.where(_s.operator_id == operator_id)
    return query.where(_s.operator_id.in_(list(operator_id)))
