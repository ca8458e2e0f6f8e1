"""A field record as people send it (JSON over the API, a file for ``envwatch om records add``) and how it
becomes a :class:`~envwatch.operations.records.RecordDraft`: the device by MN or id, the time in China time
unless it says otherwise, the operator and the person (the caller's own staff record when not given).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.operations.records import RecordDraft
from envwatch.operations.staff_schema import staff
from envwatch.registry.schema import devices


class RecordIn(BaseModel):
    """One field record. ``payload`` holds the kind's fields (docs/om/records.md)."""

    mn: str | None = Field(default=None, description="the device's MN (or device_id)")
    device_id: int | None = Field(default=None, description="the device's id (or mn)")
    kind: str = Field(
        description="inspection | calibration | standard_check | comparison | consumable | repair | "
        "parameter_change | waste_liquid"
    )
    performed_at: str = Field(description="when the work was done, ISO 8601; no offset = China time")
    operator_id: int | None = Field(default=None, description="the operator (operator roles: their own)")
    staff_id: int | None = Field(default=None, description="who did it (default: the caller's staff record)")
    payload: dict[str, Any] = Field(description="the kind's fields")
    latitude: Decimal | None = Field(default=None, description="GPS sign-in, WGS-84 degrees")
    longitude: Decimal | None = None
    material_ids: list[int] = Field(default_factory=list, description="reference materials used")
    note: str = Field(default="", description="remarks; a correction says what was wrong")


def parse_moment(name: str, text: str) -> datetime:
    """ISO 8601; a time without offset is China time. InvalidInput for an empty or unreadable one."""
    if not text.strip():
        raise InvalidInput(f"{name} is required")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{name}={text!r} is not an ISO 8601 time such as 2026-11-22T08:00:00+08:00"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TZ)).astimezone(UTC)


def device_of(conn: Connection, body: RecordIn) -> int:
    """The device the record names (by MN or id, exactly one of them); NotFound when there is none."""
    if (body.mn is None) == (body.device_id is None):
        raise InvalidInput("name the device by mn or by device_id (one of them)")
    if body.mn is not None:
        return device_by_mn(conn, body.mn)
    found = conn.execute(select(devices.c.id).where(devices.c.id == body.device_id)).scalar()
    if found is None:
        raise NotFound(f"no device with id {body.device_id}")
    return int(found)


def device_by_mn(conn: Connection, mn: str) -> int:
    found = conn.execute(select(devices.c.id).where(devices.c.mn == mn.strip())).scalar()
    if found is None:
        raise NotFound(f"no device with MN {mn}")
    return int(found)


def staff_for_user(conn: Connection, operator_id: int, username: str) -> int | None:
    """The active staff record of ``operator_id`` that belongs to web user ``username``, if any."""
    query = select(staff.c.id).where(
        staff.c.operator_id == operator_id, staff.c.username == username, staff.c.active.is_(True)
    )
    found = conn.execute(query.order_by(staff.c.id)).scalar()
    return None if found is None else int(found)


def staff_operator(conn: Connection, staff_id: int) -> int:
    found = conn.execute(select(staff.c.operator_id).where(staff.c.id == staff_id)).scalar()
    if found is None:
        raise NotFound(f"no staff member with id {staff_id}")
    return int(found)


def to_draft(
    conn: Connection, body: RecordIn, *, device_id: int, operator_id: int | None, username: str
) -> RecordDraft:
    """The draft of ``body`` for ``device_id``; ``operator_id`` is the one the caller works for (None: the
    body's, else the staff member's)."""
    operator = operator_id if operator_id is not None else body.operator_id
    if operator is None:
        if body.staff_id is None:
            raise InvalidInput("give the operator (operator_id) or the person who did the work (staff_id)")
        operator = staff_operator(conn, body.staff_id)
    person = body.staff_id if body.staff_id is not None else staff_for_user(conn, operator, username)
    if person is None:
        raise InvalidInput(
            f"give the person who did the work (staff_id): user {username} has no staff record at operator "
            f"{operator}"
        )
    return RecordDraft(
        device_id=device_id,
        kind=body.kind,
        operator_id=operator,
        staff_id=person,
        performed_at=parse_moment("performed_at", body.performed_at),
        payload=body.payload,
        latitude=body.latitude,
        longitude=body.longitude,
        material_ids=tuple(body.material_ids),
        note=body.note,
    )
