"""Certificates of the operators' staff (上岗证, 持证上岗, CS-4.5): recording, correcting, reading.

- ``staff_certificates`` is append-only: a renewal is a new row, nothing is changed or deleted. A mistyped
  certificate is corrected by a new row, or withdrawn (:func:`correct_certificate`, the rules of
  ``operations.corrections``); every reader here and in ``operations.assignment`` counts only the current
  rows, so a certificate corrected to an earlier ``valid_until`` stops allowing field work from the day
  after, and a withdrawn one at once. :func:`certificate_history` keeps every row readable with who
  corrected it, when and why.

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
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.corrections import (
    current,
    insert_correction,
    reason_of,
    require_correctable,
    with_corrections,
    withdrawal_of,
)
from envwatch.operations.staff_checks import actor, china_day, for_operators, staff_row, text_field
from envwatch.operations.staff_schema import staff, staff_certificates

CERTIFICATE_STATUSES = ("valid", "expiring", "expired", "none")
KIND_MAX = 64  # staff_certificates.kind
NUMBER_MAX = 64  # staff_certificates.number
ISSUER_MAX = 200  # staff_certificates.issuer
CERTIFICATE = "certificate record"  # how messages name a row of staff_certificates

_s = staff.c
_c = staff_certificates.c


@dataclass(frozen=True)
class CertificateDraft:
    """A certificate as given: kind (e.g. 自动监测运维上岗证（废气）), number, issuer, the day issued and the
    last day it is valid."""

    kind: str
    number: str
    issuer: str
    issued_on: date
    valid_until: date


def _certificate_values(
    conn: Connection,
    person: Mapping[str, Any],
    draft: CertificateDraft,
    *,
    recorded_by: str,
    now: datetime,
    replacing: int | None = None,
) -> dict[str, Any]:
    """The row of a certificate after every check: the fields, the dates, and no current certificate of the
    person with the same kind, number and dates (but ``replacing``, the row a correction replaces)."""
    values = {
        "staff_id": person["id"],
        "kind": text_field(draft.kind, "the certificate kind", KIND_MAX),
        "number": text_field(draft.number, "the certificate number", NUMBER_MAX),
        "issuer": text_field(draft.issuer, "the issuer", ISSUER_MAX),
        "issued_on": draft.issued_on,
        "valid_until": draft.valid_until,
        "recorded_by": actor(recorded_by),
        "recorded_at": now,
    }
    today = china_day(now)
    if draft.issued_on > today:
        raise InvalidInput(
            f"issued_on {draft.issued_on.isoformat()} is after today ({today.isoformat()}): record a "
            "certificate once it has been issued"
        )
    if draft.valid_until < draft.issued_on:
        raise InvalidInput(
            f"valid_until {draft.valid_until.isoformat()} is before issued_on {draft.issued_on.isoformat()}"
        )
    same = select(_c.id).where(
        _c.staff_id == person["id"],
        _c.kind == values["kind"],
        _c.number == values["number"],
        _c.issued_on == draft.issued_on,
        _c.valid_until == draft.valid_until,
        current(staff_certificates),
    )
    if replacing is not None:
        same = same.where(_c.id != replacing)
    found = conn.execute(same).first()
    if found is not None:
        raise Conflict(
            f"certificate {values['number']} of {person['name']} is already recorded (record {found.id})"
        )
    return values


def certificate_row(conn: Connection, certificate_id: int) -> dict[str, Any]:
    """One certificate row, current or not (NotFound for an unknown id)."""
    row = conn.execute(select(staff_certificates).where(_c.id == certificate_id)).mappings().first()
    if row is None:
        raise NotFound(f"no certificate record with id {certificate_id}")
    return dict(row)


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
    draft = CertificateDraft(kind, number, issuer, issued_on, valid_until)
    values = _certificate_values(conn, person, draft, recorded_by=recorded_by, now=now)
    cert_id = int(conn.execute(insert(staff_certificates).values(**values).returning(_c.id)).scalar_one())
    return certificate_row(conn, cert_id)


def correct_certificate(
    conn: Connection,
    certificate_id: int,
    draft: CertificateDraft | None,
    *,
    reason: str,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Correct a certificate row by a new row with ``draft`` (the right values, every check of
    :func:`add_certificate` again), or withdraw it with ``draft`` None (recorded by mistake: it is replaced
    by nothing). ``reason`` says what was wrong. Returns the new row.

    NotFound for an unknown row; Conflict when the row was corrected or withdrawn already (naming the later
    row), for a withdrawal row, or when the draft is another current certificate of the person;
    InvalidInput for a correction that changes nothing."""
    original = certificate_row(conn, certificate_id)
    # lock the personnel file: corrections and new certificates of one person go one at a time (PostgreSQL)
    person = staff_row(conn, original["staff_id"], lock=True)
    require_correctable(conn, staff_certificates, original, CERTIFICATE)
    why = reason_of(reason)
    if draft is None:
        values = {
            **withdrawal_of(original, staff_certificates),
            "recorded_by": actor(by),
            "recorded_at": now,
        }
    else:
        values = _certificate_values(conn, person, draft, recorded_by=by, now=now, replacing=certificate_id)
        if all(values[k] == original[k] for k in ("kind", "number", "issuer", "issued_on", "valid_until")):
            raise InvalidInput(
                f"the correction changes nothing in {CERTIFICATE} {certificate_id}: give the right values, "
                "or withdraw it"
            )
    values |= {"supersedes_id": certificate_id, "withdrawn": draft is None, "reason": why}
    return certificate_row(
        conn, insert_correction(conn, staff_certificates, values, certificate_id, CERTIFICATE)
    )


def certificates_of(conn: Connection, staff_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """The current certificates of these people (neither corrected nor withdrawn), latest ``valid_until``
    first, by person."""
    found: dict[int, list[dict[str, Any]]] = {int(s): [] for s in staff_ids}
    if not found:
        return found
    query = (
        select(staff_certificates)
        .where(_c.staff_id.in_(list(found)), current(staff_certificates))
        .order_by(_c.staff_id, _c.valid_until.desc(), _c.id.desc())
    )
    for row in conn.execute(query).mappings():
        found[row["staff_id"]].append(dict(row))
    return found


def certificate_history(conn: Connection, staff_id: int) -> list[dict[str, Any]]:
    """Every certificate row of a person but the withdrawals, latest ``valid_until`` first, each with
    ``current``, ``corrects`` and ``correction`` (who corrected or withdrew it, when, why:
    ``operations.corrections.with_corrections``)."""
    query = (
        select(staff_certificates)
        .where(_c.staff_id == staff_id)
        .order_by(_c.valid_until.desc(), _c.id.desc())
    )
    return with_corrections(conn.execute(query).mappings())


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
    """Current certificates of active people that are valid today and whose last valid day is within
    ``warn_days`` days (``today ≤ valid_until ≤ today + warn_days``), soonest first: the renewals due
    (CS-4.5: renew before expiry).

    Per person and certificate kind only the latest certificate counts, so a kind already renewed is not
    listed. ``operator_id``: one operator, several, or None for all."""
    if warn_days < 0:
        raise InvalidInput(f"warn_days must not be negative, not {warn_days}")
    query = (
        select(staff_certificates, _s.name, _s.operator_id, _s.position, _s.phone)
        .join(staff, _s.id == _c.staff_id)
        .where(_s.active.is_(True), _c.issued_on <= today, current(staff_certificates))
    )
    query = for_operators(query, operator_id)
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
