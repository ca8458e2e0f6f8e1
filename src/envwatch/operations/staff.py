"""Personnel files (运维人员档案) and certificates (持证上岗, CS-4.5).

- ``staff`` is the personnel file: name, position, phone, the linked web account and whether the person
  still works for the operator change in place (``updated_at``). It is not evidence: what proves something
  (certificates, trainings, results, field records) is in append-only tables that point at the person.
- ``staff_certificates`` is append-only: a renewal is a new row, nothing is changed or deleted.

Certificate status of a person on a day (the badge of the staff list), from the certificates issued on or
before that day:

- ``valid``: one is valid that day (issued on or before, ``valid_until`` on or after) and the latest of them
  runs past the warning window;
- ``expiring``: valid that day, but its last valid day is within ``warn_days`` days (``today ≤ valid_until ≤
  today + warn_days``; ``warn_days`` = ``Settings.om_certificate_warn_days``, 0 = only on the last day);
- ``expired``: none valid that day, at least one that ended before it;
- ``none``: no certificate at all.

The status follows the same rule as ``operations.assignment.require_assignable`` (any certificate valid
that day allows field work), so a ``valid``/``expiring`` person can be assigned and an ``expired``/``none``
one cannot. :func:`expiring_certificates` looks per certificate kind instead (a person holding a gas and
a water certificate must renew each), and only at active people.

The username link: a person may be linked to a web account (``username``). That the account exists, is
an operator / field_staff / auditor account and belongs to the same operator is checked in the web layer
(``web.api.om_staff.require_staff_account``): the account tables live above ``operations``. This module
checks the form of the name and that no other personnel file holds it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from envwatch.core.clock import to_china
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.assignment import valid_certificates
from envwatch.operations.staff_schema import staff, staff_certificates, training_results, trainings
from envwatch.registry.schema import operators

POSITIONS = ("field_engineer", "sampler", "auditor", "manager", "other")
CERTIFICATE_STATUSES = ("valid", "expiring", "expired", "none")
EDITABLE = ("name", "position", "phone", "username", "active")
NAME_MAX = 100  # staff.name
PHONE_MAX = 32  # staff.phone
KIND_MAX = 64  # staff_certificates.kind
NUMBER_MAX = 64  # staff_certificates.number
ISSUER_MAX = 200  # staff_certificates.issuer
ACTOR_MAX = 100  # recorded_by
# digits with the separators people write: 13800138000, +86 138 0013 8000, 0591-8765 4321, (0591)87654321
PHONE = re.compile(r"[0-9+()\- ]{3,32}")
# the account store's rule (web.accounts.store.USERNAME), repeated here: operations may not import web
USERNAME = re.compile(r"[a-z0-9][a-z0-9_.@-]{1,63}")

_s = staff.c
_c = staff_certificates.c


# ---- checks ----


def _text(value: str, what: str, most: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > most:
        raise InvalidInput(f"{what} has {len(value)} characters; at most {most}")
    return value


def _position(value: str) -> str:
    if value not in POSITIONS:
        raise InvalidInput(f"position {value!r} is not one of {', '.join(POSITIONS)}")
    return value


def _phone(value: str) -> str:
    value = value.strip()
    if not PHONE.fullmatch(value):
        raise InvalidInput(
            f"phone {value!r}: 3 to 32 digits, spaces and + - ( ), such as 13800138000 or 0591-87654321"
        )
    return value


def normalize_username(value: str | None) -> str | None:
    """The account name as stored (lower case), None for no link; InvalidInput for a malformed one."""
    if value is None or not value.strip():
        return None
    name = value.strip().lower()
    if not USERNAME.fullmatch(name):
        raise InvalidInput(
            f"username {value!r}: 2 to 64 characters, letters, digits and _ . @ -, starting with a letter or digit"
        )
    return name


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


def _operator_exists(conn: Connection, operator_id: int) -> None:
    if conn.execute(select(operators.c.id).where(operators.c.id == operator_id)).first() is None:
        raise InvalidInput(f"no operator with id {operator_id}")


def _actor(value: str) -> str:
    return _text(value, "recorded_by", ACTOR_MAX)


def china_day(now: datetime) -> date:
    return to_china(now).date()


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
        "name": _text(name, "the name", NAME_MAX),
        "position": _position(position),
        "phone": _phone(phone),
        "username": normalize_username(username),
        "active": bool(active),
        "created_at": now,
        "updated_at": now,
    }
    _unlinked(conn, values["username"], None)
    staff_id = int(conn.execute(insert(staff).values(**values).returning(_s.id)).scalar_one())
    return staff_row(conn, staff_id)


def staff_row(conn: Connection, staff_id: int) -> dict[str, Any]:
    """The personnel file alone (NotFound for an unknown id)."""
    row = conn.execute(select(staff).where(_s.id == staff_id)).mappings().first()
    if row is None:
        raise NotFound(f"no staff member with id {staff_id}")
    return dict(row)


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
        checked["name"] = _text(changes["name"], "the name", NAME_MAX)
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
    conn.execute(update(staff).where(_s.id == staff_id).values(**differing, updated_at=now))
    return staff_row(conn, staff_id)


# ---- certificates ----


def add_certificate(
    conn: Connection,
    staff_id: int,
    *,
    kind: str,
    number: str,
    issuer: str,
    issued_on: date,
    valid_until: date,
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a certificate (上岗证) of a person; a renewal is another call. ``valid_until`` is the last day it
    is valid (on or after ``issued_on``); ``issued_on`` may not lie after today (China date of ``now``).
    The same certificate (kind, number and dates) recorded twice is a Conflict."""
    person = staff_row(conn, staff_id)
    values = {
        "staff_id": staff_id,
        "kind": _text(kind, "the certificate kind", KIND_MAX),
        "number": _text(number, "the certificate number", NUMBER_MAX),
        "issuer": _text(issuer, "the issuer", ISSUER_MAX),
        "issued_on": issued_on,
        "valid_until": valid_until,
        "recorded_by": _actor(recorded_by),
        "recorded_at": now,
    }
    today = china_day(now)
    if issued_on > today:
        raise InvalidInput(
            f"issued_on {issued_on.isoformat()} is after today ({today.isoformat()}): record a certificate "
            "once it has been issued"
        )
    if valid_until < issued_on:
        raise InvalidInput(
            f"valid_until {valid_until.isoformat()} is before issued_on {issued_on.isoformat()}"
        )
    same = conn.execute(
        select(_c.id).where(
            _c.staff_id == staff_id,
            _c.kind == values["kind"],
            _c.number == values["number"],
            _c.issued_on == issued_on,
            _c.valid_until == valid_until,
        )
    ).first()
    if same is not None:
        raise Conflict(
            f"certificate {values['number']} of {person['name']} is already recorded (record {same.id})"
        )
    cert_id = int(conn.execute(insert(staff_certificates).values(**values).returning(_c.id)).scalar_one())
    row = conn.execute(select(staff_certificates).where(_c.id == cert_id)).mappings().one()
    return dict(row)


def certificates_of(conn: Connection, staff_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """Every certificate of these people, latest ``valid_until`` first, by person."""
    found: dict[int, list[dict[str, Any]]] = {int(s): [] for s in staff_ids}
    if not found:
        return found
    query = (
        select(staff_certificates)
        .where(_c.staff_id.in_(list(found)))
        .order_by(_c.staff_id, _c.valid_until.desc(), _c.id.desc())
    )
    for row in conn.execute(query).mappings():
        found[row["staff_id"]].append(dict(row))
    return found


@dataclass(frozen=True)
class CertificateStatus:
    """A person's certificate cover on one day.

    ``certificate`` is the deciding one: the valid certificate running longest (valid, expiring), the one
    that ended last (expired), None (none). ``days_left`` counts the days after ``today`` it is still valid
    (0 = today is its last day); None unless valid or expiring."""

    status: str
    certificate: dict[str, Any] | None
    days_left: int | None

    @property
    def valid_until(self) -> date | None:
        return None if self.certificate is None else self.certificate["valid_until"]


def certificate_status(
    certificates: Iterable[Mapping[str, Any]], today: date, warn_days: int
) -> CertificateStatus:
    """The status of one person's certificates on ``today`` (module docstring)."""
    issued = [dict(c) for c in certificates if c["issued_on"] <= today]
    valid = [c for c in issued if c["valid_until"] >= today]
    if valid:
        best = max(valid, key=lambda c: (c["valid_until"], c["id"]))
        left = (best["valid_until"] - today).days
        return CertificateStatus("expiring" if left <= warn_days else "valid", best, left)
    if issued:
        return CertificateStatus("expired", max(issued, key=lambda c: (c["valid_until"], c["id"])), None)
    return CertificateStatus("none", None, None)


def expiring_certificates(
    conn: Connection, operator_id: int | Collection[int] | None, today: date, warn_days: int
) -> list[dict[str, Any]]:
    """Certificates of active people that are valid today and whose last valid day is within ``warn_days``
    days (``today ≤ valid_until ≤ today + warn_days``), soonest first: the renewals due (CS-4.5: renew
    before expiry).

    Per person and certificate kind only the latest certificate counts, so a kind already renewed is not
    listed. ``operator_id``: one operator, several, or None for all."""
    if warn_days < 0:
        raise InvalidInput(f"warn_days must not be negative, not {warn_days}")
    query = (
        select(staff_certificates, _s.name, _s.operator_id, _s.position, _s.phone)
        .join(staff, _s.id == _c.staff_id)
        .where(_s.active.is_(True), _c.issued_on <= today)
    )
    query = _for_operators(query, operator_id)
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for row in conn.execute(query).mappings():
        key = (row["staff_id"], row["kind"])
        held = latest.get(key)
        if held is None or (row["valid_until"], row["id"]) > (held["valid_until"], held["id"]):
            latest[key] = dict(row)
    due = [
        {**row, "days_left": (row["valid_until"] - today).days}
        for row in latest.values()
        if 0 <= (row["valid_until"] - today).days <= warn_days
    ]
    return sorted(due, key=lambda r: (r["valid_until"], r["name"], r["id"]))


def _for_operators(query: Any, operator_id: int | Collection[int] | None) -> Any:
    if operator_id is None:
        return query
    if isinstance(operator_id, int):
        return query.where(_s.operator_id == operator_id)
    return query.where(_s.operator_id.in_(list(operator_id)))


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
    query = _for_operators(query, operator_id)
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
    """One personnel file with everything about the person: ``certificates`` (latest first, each with
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
