"""The people of a testing agency (检测机构人员): who samples, receives, analyses, manages.

- ``agency_staff`` is the personnel list: name, position, phone, the linked web account and whether the
  person still works there change in place (``updated_at``). What proves something (trainings, custody
  events) is in append-only tables pointing at the person.
- Positions: ``sampler`` 采样员 (enters the on-site data; needs a valid label-system training, WZ-A2-5),
  ``receiver`` 样品管理员 (takes samples over at the lab), ``analyst`` 分析人员, ``manager`` 负责人, ``other``.
- The username link: one web account is one person (unique index ``ux_agency_staff_username``). That the
  account exists, has role ``agency`` and belongs to the same agency is checked in the web layer
  (``web.api.agencies.require_agency_account``): the account tables live above ``registry``. Here: the form
  of the name and that no other person holds it; a concurrent link of the same account meets the unique
  index and gets the same Conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from envwatch.core.db import guarded
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.core.inputs import linked_username, phone
from envwatch.registry.agencies import get_agency, get_agency_staff
from envwatch.registry.agencies_schema import agency_staff
from envwatch.registry.agency_training_status import person_statuses

POSITIONS = ("sampler", "receiver", "analyst", "manager", "other")
EDITABLE = ("name", "position", "phone", "username", "active")
NAME_MAX = 100  # agency_staff.name
# digits with the separators people write: 13800138000, +86 138 0013 8000, 0577-8765 4321; may be empty

_s = agency_staff.c


# ---- checks ----


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput("the name is required")
    if len(value) > NAME_MAX:
        raise InvalidInput(f"the name has {len(value)} characters; at most {NAME_MAX}")
    return value


def position_of(value: str) -> str:
    if value not in POSITIONS:
        raise InvalidInput(f"position {value!r} is not one of {', '.join(POSITIONS)}")
    return value


def _phone(value: str) -> str:
    return phone(value, required=False)


normalize_username = linked_username


def _active(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"active must be true or false, not {value!r}")
    return value


def _unlinked(conn: Connection, username: str | None, staff_id: int | None) -> None:
    """One account is one person: Conflict when another staff member already holds ``username``."""
    if username is None:
        return
    query = select(_s.id, _s.name, _s.agency_id).where(_s.username == username)
    if staff_id is not None:
        query = query.where(_s.id != staff_id)
    other = conn.execute(query).first()
    if other is not None:
        raise Conflict(
            f"web account {username!r} is already linked to {other.name} (agency staff {other.id}): "
            "unlink it there first"
        )


def _linking(conn: Connection, statement: Any, username: str | None, staff_id: int | None) -> Any:
    """Run the insert (its RETURNING value) or update (None); a link another write made since
    :func:`_unlinked` looked meets the unique index: the same Conflict, naming it."""
    return guarded(conn, statement, lambda: _unlinked(conn, username, staff_id))


# ---- writes ----


def add_staff(
    conn: Connection,
    agency_id: int,
    *,
    name: str,
    position: str,
    phone: str = "",
    username: str | None = None,
    active: bool = True,
    now: datetime,
) -> dict[str, Any]:
    """A new person of agency ``agency_id`` (NotFound for an unknown agency); the row. InvalidInput for a
    bad field, Conflict for a web account another person is linked to."""
    get_agency(conn, agency_id)
    values: dict[str, Any] = {
        "agency_id": agency_id,
        "name": _name(name),
        "position": position_of(position),
        "phone": _phone(phone),
        "username": normalize_username(username),
        "active": _active(active),
        "created_at": now,
        "updated_at": now,
    }
    _unlinked(conn, values["username"], None)
    statement = insert(agency_staff).values(**values).returning(_s.id)
    return get_agency_staff(conn, int(_linking(conn, statement, values["username"], None)))


def update_staff(
    conn: Connection, staff_id: int, changes: Mapping[str, Any], *, now: datetime
) -> dict[str, Any]:
    """Change name, position, phone, username (None or "" unlinks) or active; the rest stays. Nothing
    changes (not even ``updated_at``) when every value is the one stored. The agency never changes."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"unknown staff fields: {', '.join(unknown)} (editable: {', '.join(EDITABLE)})")
    current = get_agency_staff(conn, staff_id)
    checks: dict[str, Any] = {"name": _name, "position": position_of, "phone": _phone, "active": _active}
    checked: dict[str, Any] = {k: checks[k](v) for k, v in changes.items() if k in checks}
    username = normalize_username(changes.get("username"))
    if "username" in changes:
        checked["username"] = username
        _unlinked(conn, username, staff_id)
    differing = {k: v for k, v in checked.items() if current[k] != v}
    if not differing:
        return current
    statement = update(agency_staff).where(_s.id == staff_id).values(**differing, updated_at=now)
    _linking(conn, statement, username, staff_id)
    return get_agency_staff(conn, staff_id)


# ---- reads ----


def list_staff(
    conn: Connection,
    agency_id: int,
    *,
    today: date,
    active: bool | None = None,
    position: str | None = None,
) -> list[dict[str, Any]]:
    """The agency's people by name, each with its training status on ``today``
    (``agency_training_status.PersonStatus``: ``training_status``, ``training`` the deciding row, ``days_left``).
    Filters: ``active``, ``position``."""
    query = select(agency_staff).where(_s.agency_id == agency_id)
    if active is not None:
        query = query.where(_s.active.is_(active))
    if position is not None:
        query = query.where(_s.position == position_of(position))
    people = [dict(r) for r in conn.execute(query.order_by(_s.name, _s.id)).mappings()]
    statuses = person_statuses(conn, [p["id"] for p in people], today)
    return [{**p, **statuses[p["id"]].as_fields()} for p in people]
