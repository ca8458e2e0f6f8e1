"""Personnel files (运维人员档案) and certificates (持证上岗, CS-4.5).

- ``staff`` is the personnel file: name, position, phone, the linked web account and whether the person
  still works for the operator change in place (``updated_at``). It is not evidence: what proves something
  (certificates, trainings, results, field records) is in append-only tables that point at the person.
- ``staff_certificates`` (append-only, corrected by new rows) and the certificate status of a person are
  in :mod:`envwatch.operations.certificates`, re-exported here.

The username link: a person may be linked to a web account (``username``). That the account exists, is
an operator / field_staff / auditor account and belongs to the same operator is checked in the web layer
(``web.api.om_staff.require_staff_account``): the account tables live above ``operations``. This module
checks the form of the name and that no other personnel file holds it; the unique index
``ux_staff_username`` backs the check against two files linking the same account at the same moment.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from envwatch.core.db import guarded
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.core.inputs import linked_username, phone
from envwatch.operations.assignment import valid_certificates
from envwatch.operations.certificates import (
    CERTIFICATE_STATUSES,
    CertificateDraft,
    CertificateStatus,
    add_certificate,
    certificate_history,
    certificate_row,
    certificate_status,
    certificates_of,
    correct_certificate,
    expiring_certificates,
)
from envwatch.operations.staff_checks import china_day, for_operators, staff_row, text_field
from envwatch.operations.staff_schema import staff, training_results, trainings
from envwatch.registry.schema import operators

__all__ = [  # the certificates and the shared checks are re-exported: callers know this module
    "CERTIFICATE_STATUSES",
    "EDITABLE",
    "POSITIONS",
    "CertificateDraft",
    "CertificateStatus",
    "add_certificate",
    "add_staff",
    "certificate_history",
    "certificate_row",
    "certificate_status",
    "certificates_of",
    "china_day",
    "correct_certificate",
    "expiring_certificates",
    "get_staff",
    "list_staff",
    "normalize_username",
    "results_of_person",
    "staff_names",
    "staff_row",
    "update_staff",
]

POSITIONS = ("field_engineer", "sampler", "auditor", "manager", "other")
EDITABLE = ("name", "position", "phone", "username", "active")
NAME_MAX = 100  # staff.name

_s = staff.c


# ---- checks ----


def _position(value: str) -> str:
    if value not in POSITIONS:
        raise InvalidInput(f"position {value!r} is not one of {', '.join(POSITIONS)}")
    return value


def _phone(value: str) -> str:
    return phone(value)


normalize_username = linked_username


def _unlinked(conn: Connection, username: str | None, staff_id: int | None) -> None:
    """One account is one person: refuse a username another personnel file already holds."""
    if username is None:
        return
    query = select(_s.id, _s.name).where(_s.username == username)
    if staff_id is not None:
        query = query.where(_s.id != staff_id)
    other = conn.execute(query).first()
    if other is not None:
        raise Conflict(f"username {username!r} is already linked to {other.name} (staff {other.id})")


def _linking(conn: Connection, statement: Any, username: str | None, staff_id: int | None) -> Any:
    """Run the insert (its RETURNING value) or update (None) of a personnel file; a link another write made
    since :func:`_unlinked` looked meets the unique index: the same Conflict, naming it."""
    return guarded(conn, statement, lambda: _unlinked(conn, username, staff_id))


def _operator_exists(conn: Connection, operator_id: int) -> None:
    if conn.execute(select(operators.c.id).where(operators.c.id == operator_id)).first() is None:
        raise InvalidInput(f"no operator with id {operator_id}")


# ---- the personnel file ----


def add_staff(
    conn: Connection,
    *,
    operator_id: int,
    name: str,
    position: str,
    phone: str,
    username: str | None = None,
    active: bool = True,
    now: datetime,
) -> dict[str, Any]:
    """A new personnel file; returns the row. InvalidInput for an unknown operator or a bad field, Conflict
    for a username another file holds."""
    _operator_exists(conn, operator_id)
    values: dict[str, Any] = {
        "operator_id": operator_id,
        "name": text_field(name, "the name", NAME_MAX),
        "position": _position(position),
        "phone": _phone(phone),
        "username": normalize_username(username),
        "active": bool(active),
        "created_at": now,
        "updated_at": now,
    }
    _unlinked(conn, values["username"], None)
    statement = insert(staff).values(**values).returning(_s.id)
    staff_id = int(_linking(conn, statement, values["username"], None))
    return staff_row(conn, staff_id)


def update_staff(
    conn: Connection, staff_id: int, changes: Mapping[str, Any], *, now: datetime
) -> dict[str, Any]:
    """Change name, position, phone, username (None or "" unlinks) or active; the other fields stay. Nothing
    changes (not even ``updated_at``) when every value is the one stored."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"unknown staff fields: {', '.join(unknown)} (editable: {', '.join(EDITABLE)})")
    current = staff_row(conn, staff_id)
    checked: dict[str, Any] = {}
    if "name" in changes:
        checked["name"] = text_field(changes["name"], "the name", NAME_MAX)
    if "position" in changes:
        checked["position"] = _position(changes["position"])
    if "phone" in changes:
        checked["phone"] = _phone(changes["phone"])
    if "username" in changes:
        checked["username"] = normalize_username(changes["username"])
        _unlinked(conn, checked["username"], staff_id)
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise InvalidInput(f"active must be true or false, not {changes['active']!r}")
        checked["active"] = changes["active"]
    differing = {k: v for k, v in checked.items() if current[k] != v}
    if not differing:
        return current
    statement = update(staff).where(_s.id == staff_id).values(**differing, updated_at=now)
    _linking(conn, statement, checked.get("username"), staff_id)
    return staff_row(conn, staff_id)


# ---- reading the files ----


def list_staff(
    conn: Connection,
    operator_id: int | Collection[int] | None,
    *,
    today: date,
    warn_days: int,
    active: bool | None = None,
    position: str | None = None,
    certificate: str | None = None,
) -> list[dict[str, Any]]:
    """Personnel files by name, each with its certificate status on ``today`` (``certificate_status``,
    ``certificate``, ``days_left``). Filters: ``operator_id`` (one, several, None for all), ``active``,
    ``position``, ``certificate`` (valid | expiring | expired | none)."""
    if position is not None:
        _position(position)
    if certificate is not None and certificate not in CERTIFICATE_STATUSES:
        raise InvalidInput(
            f"certificate status {certificate!r} is not one of {', '.join(CERTIFICATE_STATUSES)}"
        )
    query = select(staff)
    query = for_operators(query, operator_id)
    if active is not None:
        query = query.where(_s.active.is_(active))
    if position is not None:
        query = query.where(_s.position == position)
    people = [dict(r) for r in conn.execute(query.order_by(_s.name, _s.id)).mappings()]
    certs = certificates_of(conn, [p["id"] for p in people])
    out: list[dict[str, Any]] = []
    for person in people:
        status = certificate_status(certs[person["id"]], today, warn_days)
        if certificate is not None and status.status != certificate:
            continue
        out.append(
            {
                **person,
                "certificate_status": status.status,
                "certificate": status.certificate,
                "days_left": status.days_left,
            }
        )
    return out


def get_staff(conn: Connection, staff_id: int, *, today: date, warn_days: int) -> dict[str, Any]:
    """One personnel file with everything about the person: ``certificates`` (the current ones, latest first,
    each with ``valid_today``), ``certificate_history`` (every row with its corrections, each with
    ``valid_today``), ``current_certificate`` (the one valid today running longest, or None), the
    ``certificate_status`` of today, and ``results`` (every training result, newest first, with the
    training's kind, title, held_on and pass score; ``counts`` marks the latest result per training, the
    one that decides — see ``operations.trainings``)."""
    person = staff_row(conn, staff_id)
    certs = certificates_of(conn, [staff_id])[staff_id]
    valid_ids = {c["id"] for c in valid_certificates(conn, staff_id, today)}
    status = certificate_status(certs, today, warn_days)
    return {
        **person,
        "certificates": [{**c, "valid_today": c["id"] in valid_ids} for c in certs],
        "certificate_history": [
            {**c, "valid_today": c["id"] in valid_ids} for c in certificate_history(conn, staff_id)
        ],
        "current_certificate": status.certificate if status.status in ("valid", "expiring") else None,
        "certificate_status": status.status,
        "days_left": status.days_left,
        "results": results_of_person(conn, staff_id),
    }


def results_of_person(conn: Connection, staff_id: int) -> list[dict[str, Any]]:
    """A person's training results, newest first, with the training's kind, title, held_on and pass score;
    ``counts`` is true for the latest result of each training (by tested_on, then recording order)."""
    r, t = training_results.c, trainings.c
    query = (
        select(
            training_results,
            t.kind,
            t.title,
            t.held_on,
            t.pass_score,
            t.operator_id,
        )
        .join(trainings, t.id == r.training_id)
        .where(r.staff_id == staff_id)
        .order_by(r.tested_on.desc(), r.id.desc())
    )
    rows = [dict(row) for row in conn.execute(query).mappings()]
    seen: set[int] = set()
    for row in rows:  # newest first: the first seen of each training is the one that counts
        row["counts"] = row["training_id"] not in seen
        seen.add(row["training_id"])
    return rows


def staff_names(conn: Connection, staff_ids: Sequence[int]) -> dict[int, str]:
    if not staff_ids:
        return {}
    query = select(_s.id, _s.name).where(_s.id.in_(list(staff_ids)))
    return {int(row.id): str(row.name) for row in conn.execute(query)}
