"""Service tickets (服务工单, CS-4.3.3): recording a request on the 7×24 line and every step that followed.

Theory of operation
-------------------
- :func:`request_ticket` records a request (every request is recorded, CS-4.3.3): the outlet must be the
  enterprise's; the operator is the one whose contract covers the outlet on the China day of the request
  (an outlet's own contract before an enterprise-wide one, ``registry.service_operators``); the outlet's
  service zone (服务区域) is copied onto the ticket, so a later change of the outlet never moves a past
  clock. ``requested_at`` is when the enterprise asked: a phone request entered afterwards carries its real
  time (the clocks start then), and the journal's ``recorded_at`` shows when it was entered. It may not be
  in the future.
- :func:`record_event` moves the ticket through ``ticket_lifecycle`` (an event the state does not allow is
  a :class:`~.ticket_lifecycle.InvalidTransition`, 409, naming the state and the event). ``at`` is when it
  happened: not in the future, not before the previous event (the clocks of ``ticket_sla`` read these
  times). An arrival names the staff member on site, who must be assignable that day
  (``operations.assignment.require_assignable``: an expired certificate blocks it). A survey (满意度回访)
  comes once, on a closed ticket, with a score 1..5.
- The journal (``ticket_events``) is append-only in the database; the projection columns of ``tickets``
  (state, responded_at, arrived_at, resolved_at, closed_at, cancelled_at, assigned_staff_id, score) are
  updated in the same transaction, with a compare-and-set on the state that was read.
- :func:`projected_clocks` gives the two CS-4.3.3 clocks from the projection alone (for lists); they equal
  the journal's (:func:`ticket_view`), because the projection keeps exactly what the clocks read: the first
  response, the first arrival, a standing remote fix (``resolved_at`` of a ticket never on site) and the
  cancellation.

Everything takes ``now`` (DESIGN convention 6) and runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal, cast, get_args

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.operations.assignment import require_assignable
from envwatch.operations.ticket_lifecycle import (
    TICKET_EVENTS,
    TICKET_STATES,
    TicketEvent,
    TicketState,
    next_state,
)
from envwatch.operations.ticket_sla import ServiceZone, SlaClock, SlaRules, ticket_clocks
from envwatch.operations.tickets_schema import ticket_events, tickets
from envwatch.registry.schema import contracts, devices, enterprises, operators, outlets

_t = tickets.c
_e = ticket_events.c

Channel = Literal["phone", "web", "app"]
CHANNELS: Final[tuple[Channel, ...]] = get_args(Channel)
ClockFilter = Literal["running", "overdue", "breached"]
CLOCK_FILTERS: Final[tuple[ClockFilter, ...]] = get_args(ClockFilter)
SUBJECT_MAX = 200  # tickets.subject
TEXT_MAX = 4000  # a description or a comment
LIST_MAX = 1000  # rows one list_tickets call returns
# a comment is required with these events: a rejection says why, a note says something
COMMENT_REQUIRED: Final[frozenset[str]] = frozenset({"reject", "comment"})
# what a ticket is, logged as evidence when it is requested (state, clocks, staff and score are the
# projection of the ticket_events, which are logged one by one)
TICKET_IDENTITY: Final = (
    "enterprise_id", "outlet_id", "device_id", "operator_id", "zone", "channel", "subject", "description",
    "requested_at", "requested_by",
)  # fmt: skip


# ---- reading ----


def get_ticket(conn: Connection, ticket_id: int) -> dict[str, Any]:
    row = conn.execute(select(tickets).where(_t.id == ticket_id)).mappings().first()
    if row is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return dict(row)


def journal_of(conn: Connection, ticket_id: int) -> list[dict[str, Any]]:
    """The ticket's journal, in the order it was written (which is also time order)."""
    rows = conn.execute(select(ticket_events).where(_e.ticket_id == ticket_id).order_by(_e.id)).mappings()
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class TicketView:
    """One ticket with its journal and its two CS-4.3.3 clocks as of ``now``."""

    ticket: dict[str, Any]
    journal: list[dict[str, Any]]
    clocks: list[SlaClock]


def ticket_view(conn: Connection, ticket_id: int, now: datetime, rules: SlaRules | None = None) -> TicketView:
    """The ticket, its journal and its clocks replayed from the journal (``ticket_sla.ticket_clocks``)."""
    row = get_ticket(conn, ticket_id)
    journal = journal_of(conn, ticket_id)
    history = [(e["event"], e["at"]) for e in journal]
    clocks = ticket_clocks(history, cast(ServiceZone, row["zone"]), max(now, history[-1][1]), rules)
    return TicketView(row, journal, clocks)


def projected_clocks(row: dict[str, Any], now: datetime, rules: SlaRules | None = None) -> list[SlaClock]:
    """The clocks of a ``tickets`` row from its projection columns (no journal read: for lists)."""
    history: list[tuple[str, datetime]] = [("requested", row["requested_at"])]
    if row["responded_at"] is not None:
        history.append(("respond", row["responded_at"]))
    if row["arrived_at"] is not None:
        history.append(("arrive", row["arrived_at"]))
    elif row["state"] in ("remote_fixed", "closed") and row["resolved_at"] is not None:
        # never on site, yet fixed (awaiting the confirmation, or confirmed): the standing remote fix
        history.append(("resolve_remotely", row["resolved_at"]))
    if row["cancelled_at"] is not None:
        history.append(("cancel", row["cancelled_at"]))
    latest = max(at for _event, at in history)
    return ticket_clocks(history, cast(ServiceZone, row["zone"]), max(now, latest), rules)


@dataclass(frozen=True)
class TicketQuery:
    """Which tickets a list holds. Every field given narrows it (AND); None leaves it open and an empty
    collection matches nothing. ``first_day``/``last_day``: China days of the request, inclusive.
    ``clock``: a clock of the ticket is in that state as of ``now`` (``running``, ``overdue``, or
    ``breached``: met late)."""

    enterprise_ids: Collection[int] | None = None
    operator_ids: Collection[int] | None = None
    outlet_ids: Collection[int] | None = None
    states: Collection[str] | None = None
    clock: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    now: datetime | None = None
    rules: SlaRules = field(default_factory=SlaRules)
    limit: int = 100
    offset: int = 0


def china_midnight(day: date) -> datetime:
    """00:00 China time of ``day`` (the start of a China day, as an aware time)."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)


def _where(q: TicketQuery) -> list[Any]:
    where: list[Any] = []
    for column, ids in ((_t.enterprise_id, q.enterprise_ids), (_t.operator_id, q.operator_ids)):
        if ids is not None:
            where.append(column.in_(list(ids)))
    if q.outlet_ids is not None:
        where.append(_t.outlet_id.in_(list(q.outlet_ids)))
    if q.states is not None:
        unknown = sorted(set(q.states) - set(TICKET_STATES))
        if unknown:
            raise InvalidInput(
                f"unknown ticket state {', '.join(unknown)} (states: {', '.join(TICKET_STATES)})"
            )
        where.append(_t.state.in_(list(q.states)))
    if q.first_day is not None and q.last_day is not None and q.first_day > q.last_day:
        raise InvalidInput(f"from {q.first_day} is after to {q.last_day}")
    if q.first_day is not None:
        where.append(_t.requested_at >= china_midnight(q.first_day))
    if q.last_day is not None:
        where.append(_t.requested_at < china_midnight(q.last_day + timedelta(days=1)))
    if q.clock is not None:
        if q.clock not in CLOCK_FILTERS:
            raise InvalidInput(f"unknown clock status {q.clock!r} (one of {', '.join(CLOCK_FILTERS)})")
        if q.clock in ("running", "overdue"):  # only a ticket nobody reached yet has a clock still going
            where.append(_t.state.in_(["requested", "responded"]))
    return where


def list_tickets(conn: Connection, q: TicketQuery) -> tuple[list[dict[str, Any]], int]:
    """One page of the tickets matching ``q`` (open ones first, then newest request first), each with its
    ``clocks`` (:func:`projected_clocks` as of ``q.now``), and how many match in all."""
    if not 1 <= q.limit <= LIST_MAX:
        raise InvalidInput(f"limit must be 1-{LIST_MAX}, not {q.limit}")
    if q.offset < 0:
        raise InvalidInput(f"offset must not be negative, not {q.offset}")
    if q.now is None:
        raise InvalidInput("a ticket list needs now (the clocks are as of then)")
    now = q.now
    where = _where(q)
    closed_last = case((_t.state.in_(["closed", "cancelled"]), 1), else_=0)
    query = select(tickets).where(*where).order_by(closed_last, _t.requested_at.desc(), _t.id.desc())
    if q.clock is None:
        total = int(conn.execute(select(func.count()).select_from(tickets).where(*where)).scalar_one())
        rows = [dict(r) for r in conn.execute(query.limit(q.limit).offset(q.offset)).mappings()]
        return [{**r, "clocks": projected_clocks(r, now, q.rules)} for r in rows], total
    # the clock states come from the rules, not from SQL: filter the candidates here (tickets are few:
    # tens a month per operator), then page
    wanted = []
    for r in conn.execute(query).mappings():
        clocks = projected_clocks(dict(r), now, q.rules)
        if any(c.state == q.clock for c in clocks):
            wanted.append({**r, "clocks": clocks})
    return wanted[q.offset : q.offset + q.limit], len(wanted)


# ---- requesting ----


def _text(value: str, what: str, *, required: bool, most: int = TEXT_MAX) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > most:
        raise InvalidInput(f"{what} is {len(value)} characters; at most {most}")
    return value


def _actor(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 64:
        raise InvalidInput("the user recording it must be a username of 1-64 characters")
    return value


def _past(at: datetime, now: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"{what} {at.isoformat()} has no time zone; give it with one")
    if at > now:
        raise InvalidInput(
            f"{what} {to_china(at):%Y-%m-%d %H:%M:%S} (China time) is in the future; record what has happened"
        )
    return at


def operator_for(conn: Connection, outlet: dict[str, Any], day: date) -> int:
    """The operator whose contract covers ``outlet`` on China day ``day``: a contract naming the outlet
    comes before one covering its whole enterprise; none, or two operators alike, is InvalidInput."""
    c = contracts.c
    rows = conn.execute(
        select(c.operator_id, c.outlet_id, operators.c.name)
        .join(operators, operators.c.id == c.operator_id)
        .where(
            c.enterprise_id == outlet["enterprise_id"],
            or_(c.outlet_id == outlet["id"], c.outlet_id.is_(None)),
            c.valid_from <= day,
            or_(c.valid_to.is_(None), c.valid_to >= day),
        )
    ).all()
    label = f"{outlet['id']} ({outlet['code']} {outlet['name']})"
    own = {r.operator_id: r.name for r in rows if r.outlet_id is not None}
    chosen = own or {r.operator_id: r.name for r in rows}
    if not chosen:
        raise InvalidInput(f"no operator under contract for outlet {label} on {day.isoformat()}")
    if len(chosen) > 1:
        names = ", ".join(f"{i} ({n})" for i, n in sorted(chosen.items()))
        raise InvalidInput(
            f"outlet {label} is under contract with several operators on {day.isoformat()}: {names}; "
            "correct the contracts in the registry"
        )
    return int(next(iter(chosen)))


def _outlet_of(conn: Connection, enterprise_id: int, outlet_id: int, device_id: int | None) -> dict[str, Any]:
    if conn.execute(select(enterprises.c.id).where(enterprises.c.id == enterprise_id)).first() is None:
        raise InvalidInput(f"no enterprise {enterprise_id}")
    found = conn.execute(select(outlets).where(outlets.c.id == outlet_id)).mappings().first()
    if found is None:
        raise InvalidInput(f"no outlet {outlet_id}")
    outlet = dict(found)
    if outlet["enterprise_id"] != enterprise_id:
        raise InvalidInput(
            f"outlet {outlet_id} ({outlet['code']} {outlet['name']}) belongs to enterprise "
            f"{outlet['enterprise_id']}, not to enterprise {enterprise_id}"
        )
    if device_id is not None:
        device = conn.execute(
            select(devices.c.mn, devices.c.outlet_id).where(devices.c.id == device_id)
        ).first()
        if device is None:
            raise InvalidInput(f"no device {device_id}")
        if device.outlet_id != outlet_id:
            raise InvalidInput(f"device {device_id} ({device.mn}) is not on outlet {outlet_id}")
    return outlet


def request_ticket(
    conn: Connection,
    *,
    enterprise_id: int,
    outlet_id: int,
    device_id: int | None,
    subject: str,
    description: str,
    channel: str,
    requested_at: datetime,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a service request (报修/咨询); returns the ticket. InvalidInput (422) naming what is wrong: an
    empty or too long subject (200) or description (4000), an unknown channel, a request time without
    zone or in the future, an enterprise, outlet or device that does not exist or does not belong
    together, no operator (or several) under contract for the outlet on the day of the request."""
    subject = _text(subject, "the subject", required=True, most=SUBJECT_MAX)
    description = _text(description, "the description (what is wrong)", required=True)
    if channel not in CHANNELS:
        raise InvalidInput(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    requested_at = _past(requested_at, now, "the request time")
    by = _actor(by)
    outlet = _outlet_of(conn, enterprise_id, outlet_id, device_id)
    operator_id = operator_for(conn, outlet, to_china(requested_at).date())
    ticket_id = int(
        conn.execute(
            insert(tickets)
            .values(
                enterprise_id=enterprise_id,
                outlet_id=outlet_id,
                device_id=device_id,
                operator_id=operator_id,
                zone=outlet["service_zone"],
                channel=channel,
                subject=subject,
                description=description,
                state="requested",
                requested_at=requested_at,
                requested_by=by,
            )
            .returning(_t.id)
        ).scalar_one()
    )
    submit_row(conn, tickets, ticket_id, kind="ticket", now=now, columns=TICKET_IDENTITY)
    _journal(conn, ticket_id, "requested", requested_at, None, "requested", "", None, None, by, now)
    return get_ticket(conn, ticket_id)


# ---- recording what happened ----


def _journal(
    conn: Connection,
    ticket_id: int,
    event: str,
    at: datetime,
    from_state: str | None,
    to_state: str,
    comment: str,
    staff_id: int | None,
    score: int | None,
    by: str,
    now: datetime,
) -> None:
    event_id = conn.execute(
        insert(ticket_events).values(
            ticket_id=ticket_id, event=event, at=at, from_state=from_state, to_state=to_state,
            comment=comment, staff_id=staff_id, score=score, recorded_by=by, recorded_at=now,
        ).returning(ticket_events.c.id)
    ).scalar_one()  # fmt: skip
    submit_row(conn, ticket_events, event_id, kind="ticket_event", now=now)


def _locked(conn: Connection, ticket_id: int) -> dict[str, Any]:
    row = conn.execute(select(tickets).where(_t.id == ticket_id).with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return dict(row)


def _last_at(conn: Connection, ticket_id: int) -> datetime:
    query = select(_e.at).where(_e.ticket_id == ticket_id).order_by(_e.id.desc()).limit(1)
    return cast(datetime, conn.execute(query).scalar_one())


def recordable(event: str) -> TicketEvent:
    """``event`` as a step one may record (every lifecycle event but the request itself), or InvalidInput."""
    if event not in TICKET_EVENTS or event == "requested":
        allowed = ", ".join(e for e in TICKET_EVENTS if e != "requested")
        raise InvalidInput(f"unknown ticket event {event!r} (events: {allowed})")
    return cast(TicketEvent, event)


def _survey_score(score: int | None, rules: SlaRules) -> int:
    if score is None:
        raise InvalidInput(f"a survey gives a score 1-{rules.survey_scale_max}")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= rules.survey_scale_max:
        raise InvalidInput(f"a survey score is 1-{rules.survey_scale_max}, not {score!r}")
    return score


def _changes(event: TicketEvent, current: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The projection columns ``event`` sets (the state is set by the caller)."""
    if event == "respond":
        return {"responded_at": at}
    if event == "arrive":
        return {"arrived_at": current["arrived_at"] or at}  # the first arrival is the one the clock reads
    if event in ("resolve", "resolve_remotely"):
        return {"resolved_at": at}
    if event == "reject":
        return {"resolved_at": None}  # the fix does not stand; the journal keeps it
    if event == "confirm":
        return {"closed_at": at}
    if event == "cancel":
        return {"cancelled_at": at}
    return {}


def record_event(
    conn: Connection,
    ticket_id: int,
    *,
    event: str,
    at: datetime,
    comment: str = "",
    staff_id: int | None = None,
    score: int | None = None,
    by: str,
    now: datetime,
    rules: SlaRules | None = None,
) -> dict[str, Any]:
    """Record one step of a ticket (respond, arrive, resolve, resolve_remotely, reject, confirm, cancel,
    survey, comment); returns the ticket. NotFound for an unknown ticket (or an unknown staff member /
    one of another operator, from ``require_assignable``); InvalidTransition (409) for an event its state
    does not allow; Conflict for a second survey; InvalidInput for the rest (see the module docstring)."""
    rules = rules or SlaRules()
    current = _locked(conn, ticket_id)
    step = recordable(event)
    state = cast(TicketState, current["state"])
    to_state = next_state(state, step)  # the state's refusal comes before the input's
    if step == "survey" and current["score"] is not None:
        raise Conflict(
            f"ticket {ticket_id} was already surveyed (score {current['score']}): a survey is recorded once"
        )
    at = _past(at, now, "the time")
    previous = _last_at(conn, ticket_id)
    if at < previous:
        raise InvalidInput(
            f"the time {to_china(at):%Y-%m-%d %H:%M:%S} is before the ticket's previous step "
            f"({to_china(previous):%Y-%m-%d %H:%M:%S} China time)"
        )
    note = _text(
        comment, "a comment" if step == "comment" else "the reason", required=step in COMMENT_REQUIRED
    )
    if step == "arrive":
        if staff_id is None:
            raise InvalidInput("an arrival names the staff member on site (staff_id)")
        require_assignable(conn, staff_id, current["operator_id"], to_china(at).date())
    elif staff_id is not None:
        raise InvalidInput(f"only an arrival names a staff member, not '{step}'")
    if step == "survey":
        score = _survey_score(score, rules)
    elif score is not None:
        raise InvalidInput(f"only a survey gives a score, not '{step}'")
    by = _actor(by)
    values = _changes(step, current, at)
    if step == "arrive":
        values["assigned_staff_id"] = staff_id
    if step == "survey":
        values["score"] = score
    if to_state != state or values:
        values["state"] = to_state
        done = conn.execute(
            update(tickets).where(and_(_t.id == ticket_id, _t.state == state)).values(**values)
        ).rowcount
        if done != 1:  # only under a concurrent change (SQLite has no row lock): the caller reloads
            raise Conflict(f"ticket {ticket_id} changed while this was recorded; reload it and try again")
    _journal(conn, ticket_id, step, at, state, to_state, note, staff_id, score, by, now)
    return get_ticket(conn, ticket_id)
