"""What field work is due (待办): inspections (SX-20.3) and comparison monitoring (SX-18.6).

- **Inspection**: every device under an operator's contract today is inspected at least every
  ``om_inspection_every_days`` (7) days. It is due once its last inspection is that old (due at
  ``last + every_days``; an inspection exactly then is still on time, so it is listed from that moment),
  and at once when it has never been inspected.
- **Comparison**: at least one per calendar quarter for a gas device and per calendar month for a water
  device (China calendar). It is due while the current quarter or month has none; ``due_by`` is the last
  day of that period.

Only current records count (a corrected record counts through its correction). Which devices an operator
looks after today is the registry's one rule (``contracted_outlets``); ``operator_id`` None lists every
operator with a contract in force today. Everything takes ``now`` (DESIGN convention 6).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, exists, func, or_, select

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.operations.records_schema import field_records
from envwatch.registry.schema import contracts, devices, enterprises, operators, outlets
from envwatch.registry.service_operators import contracted_outlets

_f = field_records.c
_later = field_records.alias("later_due")


def _operators_today(conn: Connection, operator_id: int | None, today: date) -> list[int]:
    if operator_id is not None:
        return [operator_id]
    query = (
        select(contracts.c.operator_id)
        .where(
            contracts.c.valid_from <= today,
            or_(contracts.c.valid_to.is_(None), contracts.c.valid_to >= today),
        )
        .distinct()
        .order_by(contracts.c.operator_id)
    )
    return [int(o) for o in conn.execute(query).scalars()]


def devices_under_contract(conn: Connection, operator_id: int | None, today: date) -> list[dict[str, Any]]:
    """(operator, device) pairs with the names a due list shows: the devices on the outlets each operator's
    contracts cover today."""
    out: list[dict[str, Any]] = []
    for op in _operators_today(conn, operator_id, today):
        outlet_ids = contracted_outlets(conn, op, today, today)[0]
        if not outlet_ids:
            continue
        query = (
            select(
                devices.c.id.label("device_id"),
                devices.c.mn,
                devices.c.name.label("device_name"),
                devices.c.kind,
                devices.c.outlet_id,
                outlets.c.name.label("outlet_name"),
                outlets.c.enterprise_id,
                enterprises.c.name.label("enterprise_name"),
                operators.c.name.label("operator_name"),
            )
            .select_from(devices)
            .join(outlets, outlets.c.id == devices.c.outlet_id)
            .join(enterprises, enterprises.c.id == outlets.c.enterprise_id)
            .join(operators, operators.c.id == op)
            .where(devices.c.outlet_id.in_(sorted(outlet_ids)))
            .order_by(devices.c.mn)
        )
        out.extend({"operator_id": op, **dict(r)} for r in conn.execute(query).mappings())
    return out


def _last(conn: Connection, kind: str, device_ids: Iterable[int]) -> dict[int, datetime]:
    """The latest ``performed_at`` of current records of ``kind`` per device."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    query = (
        select(_f.device_id, func.max(_f.performed_at))
        .where(_f.kind == kind, _f.device_id.in_(ids), ~exists().where(_later.c.supersedes_id == _f.id))
        .group_by(_f.device_id)
    )
    # max() keeps the column's type (UtcDateTime), so the values come back aware, in UTC
    return {int(device_id): last for device_id, last in conn.execute(query)}


def inspection_due(
    conn: Connection, operator_id: int | None, now: datetime, every_days: int
) -> list[dict[str, Any]]:
    """Devices whose inspection is due (module docstring), never-inspected first, then the longest
    overdue; each with ``last_at`` (None: never) and ``due_at``."""
    today = to_china(now).date()
    pairs = devices_under_contract(conn, operator_id, today)
    last = _last(conn, "inspection", (p["device_id"] for p in pairs))
    every = timedelta(days=every_days)
    due = []
    for pair in pairs:
        seen = last.get(pair["device_id"])
        due_at = None if seen is None else seen + every
        if due_at is None or due_at <= now:
            due.append({**pair, "due": "inspection", "last_at": seen, "due_at": due_at})
    due.sort(key=lambda d: (d["due_at"] is not None, d["due_at"] or now, d["mn"]))
    return due


def period_of(kind: str, day: date) -> tuple[date, date]:
    """The comparison period holding ``day``: its calendar quarter (gas) or month (water), first and last
    day."""
    if kind == "gas":
        first_month = 3 * ((day.month - 1) // 3) + 1
        start = date(day.year, first_month, 1)
        months = 3
    else:
        start = date(day.year, day.month, 1)
        months = 1
    year, month = divmod(start.month - 1 + months, 12)
    end = date(start.year + year, month + 1, 1) - timedelta(days=1)
    return start, end


def comparison_due(conn: Connection, operator_id: int | None, now: datetime) -> list[dict[str, Any]]:
    """Devices without a comparison in the current quarter (gas) or month (water), each with ``last_at``
    (the latest comparison ever, None: never), ``period_from`` and ``due_by``; the earliest ``due_by``
    first."""
    today = to_china(now).date()
    pairs = devices_under_contract(conn, operator_id, today)
    last = _last(conn, "comparison", (p["device_id"] for p in pairs))
    due = []
    for pair in pairs:
        start, end = period_of(pair["kind"], today)
        seen = last.get(pair["device_id"])
        if seen is None or seen < datetime.combine(start, time(0), tzinfo=CHINA_TZ):
            due.append({**pair, "due": "comparison", "last_at": seen, "period_from": start, "due_by": end})
    due.sort(key=lambda d: (d["due_by"], d["mn"]))
    return due
