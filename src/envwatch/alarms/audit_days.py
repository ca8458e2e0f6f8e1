"""The daily data audit (数据审核, CS-4.3.2.2): an operator's auditor reviews each day's anomalies and signs
the day off; days nobody signed stay visible.

Theory of operation
-------------------
- A **day** is a China calendar day (Asia/Shanghai, DESIGN convention 6). It can be signed only once it is
  over there (00:00 China time of the next day), since its data is not complete before.
- The **anomalies of a day** for an operator (:func:`day_anomalies`) are the alarms opened that China day on
  devices sitting on the outlets the operator looked after that day (its contracts in force that day, the
  rule of ``registry.service_operators.contracted_outlets``; a contract without an outlet covers every outlet
  of its enterprise).
- A **sign-off** (:func:`sign_day`) is an append-only ``audit_days`` row: who signed, when, how many anomalies
  were reviewed, a note. Signing a day again is a **correction**: allowed, it needs a note saying why, and
  the newest row (highest id) is the one that counts; the earlier ones stay as history
  (:func:`sign_offs_of`).
- :func:`audit_status` lists every day of a range with its current sign-off or None, so an unsigned day is
  a visible gap, not a missing row; :func:`unaudited_days` is just the gaps.

Everything takes ``now`` where time matters and runs in the caller's transaction.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, insert, select

from envwatch.alarms.orders_schema import audit_days
from envwatch.alarms.schema import alarms
from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.errors import InvalidInput
from envwatch.registry.schema import devices
from envwatch.registry.service_operators import contracted_outlets, get_operator

_d = audit_days.c
NOTE_MAX = 4000  # characters of a sign-off note
RANGE_MAX_DAYS = 366  # days one audit_status / unaudited_days call covers


class DayStatus(NamedTuple):
    """One day of an operator's audit: its current sign-off (the newest row), or None when unsigned."""

    day: date
    signed: dict[str, Any] | None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The China day ``day`` as [start, end) instants."""
    start = datetime.combine(day, time(0), tzinfo=CHINA_TZ)
    return start, start + timedelta(days=1)


def last_auditable_day(now: datetime) -> date:
    """The latest China day that is over at ``now`` (yesterday in China), the usual end of a status range."""
    return to_china(now).date() - timedelta(days=1)


def day_anomalies(conn: Connection, operator_id: int, day: date) -> list[dict[str, Any]]:
    """Alarms opened on China day ``day`` on the outlets the operator looked after that day, oldest first;
    each alarm row with its device's ``outlet_id``."""
    get_operator(conn, operator_id)
    scope = contracted_outlets(conn, operator_id, day, day)[0]
    if not scope:
        return []
    start, end = day_bounds(day)
    query = (
        select(alarms, devices.c.outlet_id)
        .join(devices, devices.c.id == alarms.c.device_id)
        .where(
            devices.c.outlet_id.in_(sorted(scope)),
            alarms.c.opened_at >= start,
            alarms.c.opened_at < end,
        )
        .order_by(alarms.c.opened_at, alarms.c.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def sign_offs_of(conn: Connection, operator_id: int, day: date) -> list[dict[str, Any]]:
    """Every sign-off of one day, oldest first (the last one counts; the others were corrected)."""
    query = select(audit_days).where(_d.operator_id == operator_id, _d.day == day).order_by(_d.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def sign_day(
    conn: Connection,
    *,
    operator_id: int,
    day: date,
    signed_by: str,
    note: str,
    anomalies: int,
    now: datetime,
) -> dict[str, Any]:
    """Sign off one operator's China day (CS-4.3.2.2); returns the new row. InvalidInput (422) when the day is
    not over in China yet, the count is negative, the note is too long, or the day was signed before and no
    note says why it is signed again (a correction). NotFound when the operator does not exist."""
    get_operator(conn, operator_id)
    _, end = day_bounds(day)
    if now < end:
        raise InvalidInput(
            f"{day} is not over in China time until {to_china(end):%Y-%m-%d %H:%M}; sign it off after that"
        )
    if anomalies < 0:
        raise InvalidInput(f"the number of anomalies reviewed cannot be negative ({anomalies})")
    signed_by = signed_by.strip()
    if not signed_by or len(signed_by) > 64:
        raise InvalidInput("signed_by must be a username of 1-64 characters")
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"the note is {len(note)} characters; at most {NOTE_MAX}")
    earlier = sign_offs_of(conn, operator_id, day)
    if earlier and not note:
        last = earlier[-1]
        raise InvalidInput(
            f"{day} was already signed off by {last['signed_by']} at "
            f"{to_china(last['signed_at']):%Y-%m-%d %H:%M}; signing it again is a correction: say why in the note"
        )
    row = {
        "operator_id": operator_id,
        "day": day,
        "signed_by": signed_by,
        "signed_at": now,
        "anomalies": anomalies,
        "note": note,
    }
    new_id = conn.execute(insert(audit_days).values(**row).returning(_d.id)).scalar_one()
    return {"id": int(new_id), **row}


def _days(start: date, end: date) -> list[date]:
    if end < start:
        raise InvalidInput(f"the range ends ({end}) before it starts ({start})")
    count = (end - start).days + 1
    if count > RANGE_MAX_DAYS:
        raise InvalidInput(f"the range covers {count} days; at most {RANGE_MAX_DAYS}")
    return [start + timedelta(days=i) for i in range(count)]


def audit_status(conn: Connection, operator_id: int, start: date, end: date) -> list[DayStatus]:
    """Every day of start..end (inclusive) with its current sign-off, or None when nobody signed it."""
    days = _days(start, end)
    get_operator(conn, operator_id)
    query = (
        select(audit_days)
        .where(_d.operator_id == operator_id, _d.day >= start, _d.day <= end)
        .order_by(_d.id)
    )
    newest: dict[date, dict[str, Any]] = {}
    for row in conn.execute(query).mappings():
        newest[row["day"]] = dict(row)  # ascending ids: the last one seen is the newest
    return [DayStatus(d, newest.get(d)) for d in days]


def unaudited_days(conn: Connection, operator_id: int, start: date, end: date) -> list[date]:
    """The days of start..end (inclusive) that nobody signed off."""
    return [s.day for s in audit_status(conn, operator_id, start, end) if s.signed is None]
