"""An operator's service figures for a period (CS-4.3.3): the satisfaction rate of its surveys (满意度) and
how many requests it answered and reached in time (响应及时率, 到场及时率).

- **Satisfaction** counts the surveys *recorded in* the period (China days, inclusive): a survey is the
  periodic 回访 the clause asks for, so a request of March surveyed in April counts in April. The rate and
  the 85 % target are ``ticket_sla.satisfaction_rate`` (exact comparison, half-up display, no surveys = no
  rate).
- **On time** counts the tickets *requested in* the period. A clock counts as on time when ``met``, late
  when ``breached`` or ``overdue`` (still nobody there after the limit); ``running`` (not due yet) and
  ``not_applicable`` (cancelled in time, solved remotely in time) are counted apart and are in neither
  side. No ticket with a decided clock is "no figure", not 0 % or 100 %.

``enterprise_ids`` narrows both to the requests of those enterprises (a regulator's region, an enterprise
itself): an operator's figure is always computed over what the asker may see.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, select

from envwatch.core.errors import InvalidInput
from envwatch.operations.ticket_sla import CLOCKS, ClockName, Rate, SlaRules, satisfaction_rate
from envwatch.operations.tickets import china_midnight, projected_clocks
from envwatch.operations.tickets_schema import ticket_events, tickets

_t = tickets.c
_e = ticket_events.c
_QUARTER = re.compile(r"(\d{4})-?Q([1-4])", re.IGNORECASE)


# ---- quarters (季度) ----


def quarter_of(day: date) -> tuple[date, date]:
    """The first and last day of the calendar quarter holding ``day``."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    first = date(day.year, first_month, 1)
    following = date(day.year + 1, 1, 1) if first_month == 10 else date(day.year, first_month + 3, 1)
    return first, following - timedelta(days=1)


def parse_quarter(text: str) -> tuple[date, date]:
    """``2026Q3`` (or ``2026-Q3``) → its first and last day; InvalidInput otherwise."""
    found = _QUARTER.fullmatch(text.strip())
    if found is None:
        raise InvalidInput(f"quarter {text!r} is not a quarter such as 2026Q3")
    return quarter_of(date(int(found[1]), 3 * int(found[2]) - 2, 1))


def quarter_name(first: date) -> str:
    return f"{first.year}Q{(first.month - 1) // 3 + 1}"


def _period(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    if first_day > last_day:
        raise InvalidInput(f"from {first_day} is after to {last_day}")
    return china_midnight(first_day), china_midnight(last_day + timedelta(days=1))


# ---- satisfaction ----


@dataclass(frozen=True)
class Satisfaction:
    operator_id: int
    first_day: date
    last_day: date
    rate: Rate
    target: Decimal  # the percent the rate must reach (``ticket_satisfaction_min_percent``)


def satisfaction(
    conn: Connection,
    operator_id: int,
    first_day: date,
    last_day: date,
    rules: SlaRules | None = None,
    *,
    enterprise_ids: Collection[int] | None = None,
) -> Satisfaction:
    """The satisfaction rate of the surveys of ``operator_id``'s tickets recorded in first..last."""
    rules = rules or SlaRules()
    start, end = _period(first_day, last_day)
    query = (
        select(_e.score)
        .select_from(ticket_events.join(tickets, _t.id == _e.ticket_id))
        .where(_t.operator_id == operator_id, _e.event == "survey", _e.at >= start, _e.at < end)
    )
    if enterprise_ids is not None:
        query = query.where(_t.enterprise_id.in_(list(enterprise_ids)))
    scores = [int(s) for s in conn.execute(query).scalars()]
    return Satisfaction(
        operator_id, first_day, last_day, satisfaction_rate(scores, rules), rules.satisfaction_min_percent
    )


# ---- on time ----


@dataclass(frozen=True)
class ClockStats:
    """One clock over the tickets of a period: counts per clock state and the on-time percent."""

    met: int
    late: int  # breached or overdue
    running: int
    not_applicable: int
    percent: Decimal | None  # met / (met + late), half-up to 0.1; None when nothing was decided yet


@dataclass(frozen=True)
class SlaStatistics:
    operator_id: int
    first_day: date
    last_day: date
    tickets: int
    clocks: dict[ClockName, ClockStats]


def _stats(states: Counter[str]) -> ClockStats:
    met, late = states["met"], states["breached"] + states["overdue"]
    percent = None
    if met + late:
        percent = (Decimal(100) * met / (met + late)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return ClockStats(met, late, states["running"], states["not_applicable"], percent)


def sla_statistics(
    conn: Connection,
    operator_id: int,
    first_day: date,
    last_day: date,
    now: datetime,
    rules: SlaRules | None = None,
    *,
    enterprise_ids: Collection[int] | None = None,
) -> SlaStatistics:
    """How the tickets of ``operator_id`` requested in first..last did against the two clocks, as of
    ``now``."""
    start, end = _period(first_day, last_day)
    query = select(tickets).where(
        _t.operator_id == operator_id, _t.requested_at >= start, _t.requested_at < end
    )
    if enterprise_ids is not None:
        query = query.where(_t.enterprise_id.in_(list(enterprise_ids)))
    counted: dict[ClockName, Counter[str]] = {name: Counter() for name in CLOCKS}
    n = 0
    for row in conn.execute(query).mappings():
        n += 1
        for clock in projected_clocks(dict(row), now, rules):
            counted[clock.name][clock.state] += 1
    return SlaStatistics(
        operator_id, first_day, last_day, n, {name: _stats(c) for name, c in counted.items()}
    )


def operators_with_tickets(
    conn: Connection, first_day: date, last_day: date, *, enterprise_ids: Collection[int] | None = None
) -> list[int]:
    """Operators with a ticket requested or surveyed in first..last (the satisfaction page's rows)."""
    start, end = _period(first_day, last_day)
    requested = select(_t.operator_id).where(_t.requested_at >= start, _t.requested_at < end)
    surveyed = (
        select(_t.operator_id)
        .select_from(ticket_events.join(tickets, _t.id == _e.ticket_id))
        .where(_e.event == "survey", _e.at >= start, _e.at < end)
    )
    if enterprise_ids is not None:
        requested = requested.where(_t.enterprise_id.in_(list(enterprise_ids)))
        surveyed = surveyed.where(_t.enterprise_id.in_(list(enterprise_ids)))
    found: set[Any] = set(conn.execute(requested).scalars()) | set(conn.execute(surveyed).scalars())
    return sorted(int(i) for i in found)
