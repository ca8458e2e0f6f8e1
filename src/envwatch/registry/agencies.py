"""Testing agencies (检测机构), their people and label-system trainings (WZ-A2-5): the lookups sampling needs.

Tables in :mod:`envwatch.registry.agencies_schema`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, exists, select
from sqlalchemy.orm import aliased

from envwatch.core.errors import NotFound
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings


def get_agency(conn: Connection, agency_id: int) -> dict[str, Any]:
    row = conn.execute(select(agencies).where(agencies.c.id == agency_id)).mappings().first()
    if row is None:
        raise NotFound(f"no testing agency with id {agency_id}")
    return dict(row)


def get_agency_staff(conn: Connection, staff_id: int) -> dict[str, Any]:
    row = conn.execute(select(agency_staff).where(agency_staff.c.id == staff_id)).mappings().first()
    if row is None:
        raise NotFound(f"no agency staff member with id {staff_id}")
    return dict(row)


def agency_staff_of_user(conn: Connection, username: str) -> dict[str, Any] | None:
    """The person a web account stands for, if one is linked."""
    row = conn.execute(select(agency_staff).where(agency_staff.c.username == username)).mappings().first()
    return None if row is None else dict(row)


def counting_trainings() -> Any:
    """Training rows that count: neither withdrawn themselves nor superseded by a later row."""
    later = aliased(agency_trainings)
    superseded = exists().where(later.c.supersedes_id == agency_trainings.c.id)
    return and_(agency_trainings.c.withdrawn.is_(False), ~superseded)


def trained_on(conn: Connection, staff_id: int, day: date) -> bool:
    """WZ-A2-5: the person holds a passed label-system training valid on ``day`` (held by then)."""
    query = select(agency_trainings.c.id).where(
        agency_trainings.c.staff_id == staff_id,
        agency_trainings.c.passed.is_(True),
        agency_trainings.c.held_on <= day,
        agency_trainings.c.valid_until >= day,
        counting_trainings(),
    )
    return conn.execute(query.limit(1)).first() is not None
