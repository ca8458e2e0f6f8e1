"""Who may be given field work (CS-4.5): an active member of the operator's staff holding a certificate
(上岗证) valid on the day of the work.

Every O&M write that names a person doing field work (a field record, a ticket's arrival, a fault's
repair) asks :func:`require_assignable` first, so an expired certificate blocks the assignment everywhere
in the same words.

Only current certificate rows count (``operations.corrections``): a certificate corrected to another
``valid_until`` counts with its corrected dates, a withdrawn one not at all.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.operations.corrections import current
from envwatch.operations.staff_schema import staff, staff_certificates


def valid_certificates(conn: Connection, staff_id: int, on: date) -> list[dict[str, Any]]:
    """The current certificates of ``staff_id`` valid on ``on`` (issued on or before, valid until on or
    after)."""
    rows = conn.execute(
        select(staff_certificates)
        .where(
            staff_certificates.c.staff_id == staff_id,
            staff_certificates.c.issued_on <= on,
            staff_certificates.c.valid_until >= on,
            current(staff_certificates),
        )
        .order_by(staff_certificates.c.valid_until.desc())
    )
    return [dict(r._mapping) for r in rows]


def require_assignable(conn: Connection, staff_id: int, operator_id: int, on: date) -> dict[str, Any]:
    """The staff row, if that person may do field work for ``operator_id`` on ``on``; else a clear error.

    Raises :class:`NotFound` for an unknown person or one of another operator (the same answer, so an
    operator cannot probe other operators' staff), :class:`InvalidInput` for an inactive person or one
    without a certificate valid that day (naming the last one and when it expired).
    """
    person = conn.execute(select(staff).where(staff.c.id == staff_id)).first()
    if person is None or person.operator_id != operator_id:
        raise NotFound(f"no staff member with id {staff_id} at operator {operator_id}")
    if not person.active:
        raise InvalidInput(f"{person.name} (staff {staff_id}) no longer works for the operator")
    if valid_certificates(conn, staff_id, on):
        return dict(person._mapping)
    last = conn.execute(
        select(staff_certificates.c.number, staff_certificates.c.valid_until)
        .where(staff_certificates.c.staff_id == staff_id, current(staff_certificates))
        .order_by(staff_certificates.c.valid_until.desc(), staff_certificates.c.id.desc())
        .limit(1)
    ).first()
    if last is None:
        raise InvalidInput(
            f"{person.name} (staff {staff_id}) holds no certificate: field work cannot be assigned"
        )
    raise InvalidInput(
        f"{person.name} (staff {staff_id}) has no certificate valid on {on.isoformat()} (the latest, "
        f"{last.number}, is valid until {last.valid_until.isoformat()}): field work cannot be assigned"
    )
