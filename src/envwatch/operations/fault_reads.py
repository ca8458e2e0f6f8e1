"""Reading faults (故障): one fault with its journal, manual results and SX-18.3 clocks; the lists.

Split from :mod:`envwatch.operations.faults` (which re-exports every name here): this side only reads.
:func:`fault_view` gives a fault with its journal, manual results and the four clocks of ``fault_clocks``
(a year the working-day calendar does not cover leaves the clocks out and says why); :func:`list_faults`
lists them, open ones first, with the "a clock is overdue" filter computed here (it needs the calendar).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, case, func, select

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.workdays import CalendarNotCovered, WorkdayCalendar
from envwatch.monitoring.marks import MarkPolicy
from envwatch.operations.fault_clocks import Clock, FaultFacts, FaultRules, fault_clocks
from envwatch.operations.fault_lifecycle import FAULT_STATES
from envwatch.operations.faults_schema import fault_events, faults
from envwatch.operations.manual_results import manual_result_history, manual_results_of
from envwatch.registry.schema import devices, outlets

_f = faults.c
_e = fault_events.c
LIST_MAX: Final = 1000  # rows one list_faults call returns


def get_fault(conn: Connection, fault_id: int) -> dict[str, Any]:
    """The fault with its device's MN and names, its outlet and enterprise ids."""
    d = devices.c
    row = (
        conn.execute(
            select(faults, d.mn, d.name.label("device_name"), d.enterprise, d.outlet, d.outlet_id, d.kind)
            .add_columns(outlets.c.enterprise_id)
            .join(devices, d.id == _f.device_id)
            .outerjoin(outlets, outlets.c.id == d.outlet_id)
            .where(_f.id == fault_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no fault {fault_id}")
    return dict(row)


def fault_events_of(conn: Connection, fault_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(fault_events).where(_e.fault_id == fault_id).order_by(_e.id)).mappings()
    return [dict(r) for r in rows]


def factors_of(row: Mapping[str, Any]) -> list[str]:
    """The fault's factors as a list (empty: the whole device)."""
    text = str(row["factors"] or "")
    return [f for f in text.split(",") if f]


def facts_of(row: Mapping[str, Any]) -> FaultFacts:
    return FaultFacts(
        started_at=row["started_at"],
        restored_at=row["restored_at"],
        backup_started_at=row["backup_started_at"],
        backup_ended_at=row["backup_ended_at"],
        check_done_at=row["backup_checked_at"],
    )


def clocks_of(
    row: Mapping[str, Any], now: datetime, rules: FaultRules, calendar: WorkdayCalendar
) -> list[Clock]:
    """The four SX-18.3 clocks of a fault row as of ``now`` (CalendarNotCovered for an unknown year)."""
    return fault_clocks(facts_of(row), now, rules, calendar)


def fault_view(
    conn: Connection, fault_id: int, now: datetime, rules: FaultRules, calendar: WorkdayCalendar
) -> dict[str, Any]:
    """The fault, its journal, its manual results (``manual_results``: the current ones;
    ``manual_result_history``: every row with its corrections) and its clocks. A year the working-day
    calendar does not cover leaves ``clocks`` None and says why in ``clock_error`` (the fault itself is
    still shown)."""
    row = get_fault(conn, fault_id)
    clocks: list[Clock] | None
    try:
        clocks, problem = clocks_of(row, now, rules, calendar), None
    except CalendarNotCovered as exc:
        clocks, problem = None, exc.message
    return {
        "fault": row,
        "factors": factors_of(row),
        "events": fault_events_of(conn, fault_id),
        "manual_results": manual_results_of(conn, fault_id),
        "manual_result_history": manual_result_history(conn, fault_id),
        "clocks": clocks,
        "clock_error": problem,
    }


@dataclass(frozen=True)
class FaultQuery:
    """Filters of a fault list. ``device_ids`` None = every device (the caller's scope decides); the other
    fields narrow it further. ``overdue_at``: only faults with a clock ``overdue`` at that time (computed
    with ``rules`` and ``calendar`` of :func:`list_faults`)."""

    device_ids: Collection[int] | None = None
    device_id: int | None = None
    enterprise_id: int | None = None
    operator_id: int | None = None
    states: Collection[str] | None = None
    overdue_at: datetime | None = None
    limit: int = 100
    offset: int = 0


def _query(q: FaultQuery) -> Any:
    d = devices.c
    where: list[Any] = []
    if q.device_ids is not None:
        where.append(_f.device_id.in_(sorted(q.device_ids)))
    if q.device_id is not None:
        where.append(_f.device_id == q.device_id)
    if q.enterprise_id is not None:
        where.append(outlets.c.enterprise_id == q.enterprise_id)
    if q.operator_id is not None:
        where.append(_f.operator_id == q.operator_id)
    if q.states is not None:
        unknown = sorted(set(q.states) - set(FAULT_STATES))
        if unknown:
            raise InvalidInput(
                f"unknown fault state {', '.join(unknown)} (states: {', '.join(FAULT_STATES)})"
            )
        where.append(_f.state.in_(sorted(q.states)))
    return (
        select(faults, d.mn, d.enterprise, d.outlet, d.outlet_id, outlets.c.enterprise_id)
        .join(devices, d.id == _f.device_id)
        .outerjoin(outlets, outlets.c.id == d.outlet_id)
        .where(*where)
    )


def list_faults(
    conn: Connection,
    q: FaultQuery,
    *,
    rules: FaultRules | None = None,
    calendar: WorkdayCalendar | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Faults matching ``q``, open ones first, then the latest start first; and how many match in all.

    The overdue filter needs the clocks, which need the working-day calendar: it is applied here, over the
    faults the other filters leave (a fault whose year the calendar does not cover is not counted
    overdue: its restore clock cannot be computed)."""
    if not 1 <= q.limit <= LIST_MAX:
        raise InvalidInput(f"limit must be 1-{LIST_MAX}, not {q.limit}")
    if q.offset < 0:
        raise InvalidInput(f"offset must not be negative, not {q.offset}")
    base = _query(q)
    order = (case((_f.state == "restored", 1), else_=0), _f.started_at.desc(), _f.id.desc())
    if q.overdue_at is None:
        total = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        rows = conn.execute(base.order_by(*order).limit(q.limit).offset(q.offset)).mappings()
        return [dict(r) for r in rows], int(total)
    rules, calendar = rules or FaultRules(), calendar or WorkdayCalendar()
    candidates = [dict(r) for r in conn.execute(base.order_by(*order)).mappings()]
    overdue = [r for r in candidates if _overdue(r, q, rules, calendar)]
    return overdue[q.offset : q.offset + q.limit], len(overdue)


def _overdue(row: Mapping[str, Any], q: FaultQuery, rules: FaultRules, calendar: WorkdayCalendar) -> bool:
    assert q.overdue_at is not None
    try:
        return any(c.state == "overdue" for c in clocks_of(row, q.overdue_at, rules, calendar))
    except (CalendarNotCovered, InvalidInput):
        return False  # an unknown year, or facts after the time asked about


def spans(start: datetime, end: datetime, policy: MarkPolicy) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive pieces of at most ``policy.max_span`` (one mark each)."""
    out: list[tuple[datetime, datetime]] = []
    while start < end:
        piece_end = min(end, start + policy.max_span)
        out.append((start, piece_end))
        start = piece_end
    return out
