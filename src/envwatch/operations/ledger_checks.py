"""Input checks the ledger modules share (equipment, spare parts, emergency plans and drills): texts, the
recording user, days that must not lie in the future, and the operator a record belongs to.

Every check raises :class:`~envwatch.core.errors.InvalidInput` (or ``NotFound`` for an unknown operator)
with a message that names the field and says what is wrong; nothing has been written when it does.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, select

from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.registry.schema import devices, operators
from envwatch.registry.service_operators import contracted_outlets

TEXT_MAX = 4000  # a comment, a summary, a plan body is at most this long


def china_today(now: datetime) -> date:
    """The China calendar day of ``now`` (what "today" means to the people recording)."""
    return to_china(now).date()


def text(value: str, what: str, *, required: bool, most: int = TEXT_MAX) -> str:
    """``value`` stripped; required and at most ``most`` characters."""
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > most:
        raise InvalidInput(f"{what} is {len(value)} characters; at most {most}")
    return value


def actor(value: str) -> str:
    """The recording user's name (1–64 characters)."""
    value = value.strip()
    if not value or len(value) > 64:
        raise InvalidInput("recorded_by must be a username of 1-64 characters")
    return value


def not_future(day: date, what: str, now: datetime) -> date:
    """``day`` when it is not after today (China date): a record says what happened, not what will."""
    today = china_today(now)
    if day > today:
        raise InvalidInput(f"{what} {day.isoformat()} is in the future (today is {today.isoformat()})")
    return day


def require_operator(conn: Connection, operator_id: int) -> str:
    """The operator's name; NotFound for an unknown one."""
    name = conn.execute(select(operators.c.name).where(operators.c.id == operator_id)).scalar()
    if name is None:
        raise NotFound(f"no operator with id {operator_id}")
    return str(name)


def require_contracted_device(conn: Connection, operator_id: int, device_id: int, on: date) -> str:
    """The device's MN, if it sits on an outlet under a contract of ``operator_id`` in force on ``on`` (the
    registry's one contract rule, ``contracted_outlets``); else InvalidInput saying which part fails."""
    row = conn.execute(select(devices.c.mn, devices.c.outlet_id).where(devices.c.id == device_id)).first()
    if row is None:
        raise InvalidInput(f"no device with id {device_id}")
    if row.outlet_id is None or row.outlet_id not in contracted_outlets(conn, operator_id, on, on)[0]:
        raise InvalidInput(
            f"device {row.mn} is not on an outlet under a contract of operator {operator_id} on {on.isoformat()}"
        )
    return str(row.mn)
