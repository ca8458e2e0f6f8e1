"""Supervision orders (电子督办): issuing them, answering them, and escalating the overdue ones.

Theory of operation
-------------------
- :func:`issue_order` is a regulator's order to **one** receiver, an enterprise or an operator, made from
  alarms (or from findings on site, then without alarms). Every alarm must be the receiver's: its device sits
  on an outlet of the receiver enterprise, or on an outlet under a contract of the receiver operator in force
  on some day between the alarm's start and the issue (China dates; the rule of
  ``registry.service_operators.contracted_outlets``). The receiver enterprise, and the enterprise of every
  alarm, must lie in the issuing regulator's region (``registry.service.region_prefix``): a regulator orders
  only what it supervises.
- :func:`respond`, :func:`accept`, :func:`return_order`, :func:`withdraw` and :func:`comment` move the order
  through ``order_lifecycle``. The state change is a compare-and-set on the state that was read, so two
  people acting at once cannot both move it. A response cites its evidence files by attachment id
  (attachments with owner_kind ``order`` and this order's id, uploaded first); the ids go into the journal.
- **Escalation, once per deadline**: an order waiting on its receiver (issued or returned) whose deadline
  has passed escalates once (:func:`escalate_overdue`, compare-and-set on ``escalated_at``, safe with several
  processes). A return may set a new deadline (it must be in the future and is recorded in the journal); an
  order escalated before that return can then escalate again once the new deadline passes. The rule in the
  database: due when ``deadline <= now`` and ``escalated_at`` is empty or earlier than ``deadline`` (an
  escalation for the current deadline is never earlier than it).
- Every change writes one ``order_events`` row (append-only in the database), in the same transaction.

Everything takes ``now`` (DESIGN convention 6) and runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from envwatch.alarms.announce import order_event
from envwatch.alarms.journal import write_journal
from envwatch.alarms.order_lifecycle import (
    AWAITING_RECEIVER,
    ORDER_STATES,
    OrderEvent,
    OrderState,
    next_order_state,
)
from envwatch.alarms.orders_schema import order_alarms, order_events, orders
from envwatch.alarms.schema import alarms
from envwatch.core.clock import to_china
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.registry.schema import attachments, devices, enterprises, operators, outlets
from envwatch.registry.service import region_prefix as prefix_of_region
from envwatch.registry.service_operators import contracted_outlets

_o = orders.c
_e = order_events.c
_oa = order_alarms.c
SYSTEM = "system"
TITLE_MAX = 200  # orders.title
TEXT_MAX = 4000  # the body, a response, a reason, a comment
ALARMS_MAX = 1000  # alarms one order may cite
ATTACHMENTS_MAX = 50  # evidence files one response may cite
LIST_MAX = 1000  # rows one list_orders call returns
ATTACHMENT_KIND = "order"  # attachments.owner_kind of an order's evidence files
# what an order is, logged as evidence when it is issued (state, deadline and the closing times are the
# projection of order_events, which are logged one by one; the issued event holds the first deadline)
ORDER_IDENTITY = ("region_code", "enterprise_id", "operator_id", "title", "body", "issued_by", "issued_at")


# ---- reading ----


def get_order(conn: Connection, order_id: int) -> dict[str, Any]:
    row = conn.execute(select(orders).where(_o.id == order_id)).mappings().first()
    if row is None:
        raise NotFound(f"no order {order_id}")
    return dict(row)


def order_events_of(conn: Connection, order_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(order_events).where(_e.order_id == order_id).order_by(_e.id)).mappings()
    return [dict(r) for r in rows]


def alarm_ids_of(conn: Connection, order_id: int) -> list[int]:
    """The alarms the order was made from, in the order given at issue."""
    query = select(_oa.alarm_id).where(_oa.order_id == order_id).order_by(_oa.id)
    return [int(a) for a in conn.execute(query).scalars()]


def orders_of_alarm(conn: Connection, alarm_id: int) -> list[int]:
    """Ids of the orders made from an alarm (for the alarm's page), oldest first."""
    query = select(_oa.order_id).where(_oa.alarm_id == alarm_id).order_by(_oa.order_id)
    return [int(o) for o in conn.execute(query).scalars()]


@dataclass(frozen=True)
class OrderFilter:
    """Which orders a list holds. Every field given narrows the list (they combine with AND); None leaves
    it open and an empty collection matches nothing.

    - ``enterprise_ids`` / ``operator_ids``: the receiver is one of these (an order has exactly one
      receiver, so giving both lists matches nothing unless the web layer means it);
    - ``region_prefix``: the issuing region starts with it (already a prefix: see
      ``registry.service.region_prefix``);
    - ``regulator``: what a regulator sees, (its region prefix, the enterprises of its region): issued in
      its region OR received by one of those enterprises;
    - ``overdue_at``: waiting on the receiver (issued or returned) with the deadline at or before it.
    """

    enterprise_ids: Collection[int] | None = None
    operator_ids: Collection[int] | None = None
    region_prefix: str | None = None
    regulator: tuple[str, Collection[int]] | None = None
    states: Collection[str] | None = None
    overdue_at: datetime | None = None


def _where(f: OrderFilter) -> list[Any]:
    where: list[Any] = []
    if f.enterprise_ids is not None:
        where.append(_o.enterprise_id.in_(list(f.enterprise_ids)))
    if f.operator_ids is not None:
        where.append(_o.operator_id.in_(list(f.operator_ids)))
    if f.region_prefix is not None:
        where.append(_o.region_code.startswith(f.region_prefix, autoescape=True))
    if f.regulator is not None:
        prefix, enterprise_ids = f.regulator
        where.append(
            or_(
                _o.region_code.startswith(prefix, autoescape=True), _o.enterprise_id.in_(list(enterprise_ids))
            )
        )
    if f.states is not None:
        unknown = sorted(set(f.states) - set(ORDER_STATES))
        if unknown:
            raise InvalidInput(
                f"unknown order state {', '.join(unknown)} (states: {', '.join(ORDER_STATES)})"
            )
        where.append(_o.state.in_(list(f.states)))
    if f.overdue_at is not None:
        where.extend([_o.state.in_(sorted(AWAITING_RECEIVER)), _o.deadline <= f.overdue_at])
    return where


def list_orders(
    conn: Connection, f: OrderFilter | None = None, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Orders matching ``f``, newest first."""
    if not 1 <= limit <= LIST_MAX:
        raise InvalidInput(f"limit must be 1-{LIST_MAX}, not {limit}")
    if offset < 0:
        raise InvalidInput(f"offset must not be negative, not {offset}")
    query = (
        select(orders).where(*_where(f or OrderFilter())).order_by(_o.id.desc()).limit(limit).offset(offset)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def count_orders(conn: Connection, f: OrderFilter | None = None) -> int:
    return int(
        conn.execute(select(func.count()).select_from(orders).where(*_where(f or OrderFilter()))).scalar_one()
    )


# ---- issuing ----


def _text(value: str, what: str, *, required: bool, most: int = TEXT_MAX) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > most:
        raise InvalidInput(f"{what} is {len(value)} characters; at most {most}")
    return value


def _actor(value: str, what: str) -> str:
    value = value.strip()
    if not value or len(value) > 64:
        raise InvalidInput(f"{what} must be a username of 1-64 characters")
    return value


def _future_deadline(deadline: datetime, now: datetime, what: str) -> datetime:
    if deadline.tzinfo is None:
        raise InvalidInput(f"{what} {deadline.isoformat()} has no time zone; give it with one")
    if deadline <= now:
        raise InvalidInput(
            f"{what} {to_china(deadline):%Y-%m-%d %H:%M} (China time) has already passed; give a later one"
        )
    return deadline


def _receiver(
    conn: Connection, region: str, enterprise_id: int | None, operator_id: int | None
) -> tuple[int | None, int | None]:
    if (enterprise_id is None) == (operator_id is None):
        raise InvalidInput(
            "an order goes to exactly one receiver: give an enterprise or an operator, not both"
        )
    if enterprise_id is not None:
        row = conn.execute(
            select(enterprises.c.name, enterprises.c.region_code).where(enterprises.c.id == enterprise_id)
        ).first()
        if row is None:
            raise InvalidInput(f"no enterprise {enterprise_id} to receive the order")
        if not row.region_code.startswith(region):
            raise InvalidInput(
                f"enterprise {enterprise_id} ({row.name}) is in region {row.region_code}, outside the issuing "
                f"region {region}"
            )
    elif conn.execute(select(operators.c.id).where(operators.c.id == operator_id)).first() is None:
        raise InvalidInput(f"no operator {operator_id} to receive the order")
    return enterprise_id, operator_id


def _check_alarms(
    conn: Connection,
    alarm_ids: Sequence[int],
    region: str,
    enterprise_id: int | None,
    operator_id: int | None,
    now: datetime,
) -> list[int]:
    ids = [int(a) for a in alarm_ids]
    if len(ids) > ALARMS_MAX:
        raise InvalidInput(f"an order cites at most {ALARMS_MAX} alarms, not {len(ids)}")
    repeated = sorted({a for a in ids if ids.count(a) > 1})
    if repeated:
        raise InvalidInput(f"alarm {', '.join(map(str, repeated))} is listed more than once")
    if not ids:
        return ids
    query = (
        select(
            alarms.c.id,
            alarms.c.device_id,
            alarms.c.started_at,
            devices.c.outlet_id,
            outlets.c.enterprise_id,
            enterprises.c.region_code,
        )
        .select_from(alarms)
        .join(devices, devices.c.id == alarms.c.device_id)
        .outerjoin(outlets, outlets.c.id == devices.c.outlet_id)
        .outerjoin(enterprises, enterprises.c.id == outlets.c.enterprise_id)
        .where(alarms.c.id.in_(ids))
    )
    found = {row.id: row for row in conn.execute(query)}
    missing = [a for a in ids if a not in found]
    if missing:
        raise InvalidInput(f"no alarm {', '.join(map(str, missing))}")
    today = to_china(now).date()
    covered: dict[date, frozenset[int]] = {}  # outlets under the operator's contracts, by first day
    for alarm_id in ids:
        row = found[alarm_id]
        if row.outlet_id is None:
            raise InvalidInput(
                f"alarm {alarm_id} is on device {row.device_id}, which is on no outlet: it has no receiver"
            )
        if not row.region_code.startswith(region):
            raise InvalidInput(
                f"alarm {alarm_id} is at enterprise {row.enterprise_id} in region {row.region_code}, outside "
                f"the issuing region {region}"
            )
        if enterprise_id is not None and row.enterprise_id != enterprise_id:
            raise InvalidInput(
                f"alarm {alarm_id} is on outlet {row.outlet_id} of enterprise {row.enterprise_id}, not of the "
                f"receiver enterprise {enterprise_id}"
            )
        if operator_id is not None:
            first = min(to_china(row.started_at).date(), today)
            if first not in covered:
                covered[first] = contracted_outlets(conn, operator_id, first, today)[0]
            if row.outlet_id not in covered[first]:
                raise InvalidInput(
                    f"alarm {alarm_id} is on outlet {row.outlet_id}, which no contract of the receiver operator "
                    f"{operator_id} covered between {first} and {today}"
                )
    return ids


def issue_order(
    conn: Connection,
    *,
    region_code: str,
    enterprise_id: int | None = None,
    operator_id: int | None = None,
    title: str,
    body: str,
    deadline: datetime,
    alarm_ids: Sequence[int],
    issued_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Issue an order (下发督办) to exactly one receiver; returns the order. InvalidInput (422) naming what is
    wrong: no or two receivers, a receiver or alarm that does not exist, is not the receiver's or lies
    outside ``region_code`` (the issuing regulator's region, 2/4/6 digits), a deadline not in the future,
    a title of 0 or more than 200 characters, a body of 0 or more than 4000."""
    region_code = region_code.strip()
    region = prefix_of_region(region_code)
    title = _text(title, "the title", required=True, most=TITLE_MAX)
    body = _text(body, "the body (督办要求)", required=True)
    deadline = _future_deadline(deadline, now, "the deadline")
    issued_by = _actor(issued_by, "issued_by")
    enterprise_id, operator_id = _receiver(conn, region, enterprise_id, operator_id)
    ids = _check_alarms(conn, alarm_ids, region, enterprise_id, operator_id, now)
    order_id = int(
        conn.execute(
            insert(orders)
            .values(
                region_code=region_code,
                enterprise_id=enterprise_id,
                operator_id=operator_id,
                title=title,
                body=body,
                state="issued",
                deadline=deadline,
                issued_by=issued_by,
                issued_at=now,
            )
            .returning(_o.id)
        ).scalar_one()
    )
    if ids:
        conn.execute(insert(order_alarms), [{"order_id": order_id, "alarm_id": a} for a in ids])
    submit_row(conn, orders, order_id, kind="order", now=now, columns=ORDER_IDENTITY)
    _journal(
        conn,
        order_id,
        at=now,
        actor=issued_by,
        event="issued",
        from_state=None,
        to_state="issued",
        comment=title,
        data={
            "enterprise_id": enterprise_id,
            "operator_id": operator_id,
            "deadline": deadline.isoformat(),
            "alarm_ids": ids,
        },
    )
    order_event(conn, order_id, "issued", now)  # the outbox row commits with the order
    return get_order(conn, order_id)


# ---- moving ----


def _journal(
    conn: Connection,
    order_id: int,
    *,
    at: datetime,
    actor: str,
    event: OrderEvent,
    from_state: OrderState | None,
    to_state: OrderState,
    comment: str = "",
    data: Mapping[str, Any] | None = None,
) -> None:
    write_journal(
        conn,
        order_events,
        {"order_id": order_id},
        at=at,
        actor=actor,
        event=event,
        from_state=from_state,
        to_state=to_state,
        comment=comment,
        data=data,
    )


def _locked(conn: Connection, order_id: int) -> dict[str, Any]:
    row = conn.execute(select(orders).where(_o.id == order_id).with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"no order {order_id}")
    return dict(row)


def _move(
    conn: Connection,
    current: Mapping[str, Any],
    event: OrderEvent,
    *,
    actor: str,
    now: datetime,
    comment: str,
    data: Mapping[str, Any] | None = None,
    changes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply ``event`` (already checked by the caller) with a compare-and-set on the state read."""
    order_id = int(current["id"])
    state = cast(OrderState, current["state"])
    to_state = next_order_state(state, event)
    values = dict(changes or {})
    if to_state != state or values:
        values["state"] = to_state
        done = conn.execute(
            update(orders).where(and_(_o.id == order_id, _o.state == state)).values(**values)
        ).rowcount
        if done != 1:  # only under a concurrent change (SQLite has no row lock): the caller reloads
            raise Conflict(f"order {order_id} changed while this was applied; reload it and try again")
    _journal(
        conn,
        order_id,
        at=now,
        actor=actor,
        event=event,
        from_state=state,
        to_state=to_state,
        comment=comment,
        data=data,
    )
    order_event(conn, order_id, event, now, comment)  # comments are not announced (order_event skips them)
    return get_order(conn, order_id)


def _evidence(conn: Connection, order_id: int, attachment_ids: Sequence[int]) -> list[int]:
    ids = [int(a) for a in attachment_ids]
    if len(ids) > ATTACHMENTS_MAX:
        raise InvalidInput(f"a response cites at most {ATTACHMENTS_MAX} attachments, not {len(ids)}")
    repeated = sorted({a for a in ids if ids.count(a) > 1})
    if repeated:
        raise InvalidInput(f"attachment {', '.join(map(str, repeated))} is listed more than once")
    if not ids:
        return ids
    a = attachments.c
    rows = conn.execute(select(a.id, a.owner_kind, a.owner_id).where(a.id.in_(ids)))
    owners = {row.id: (row.owner_kind, row.owner_id) for row in rows}
    for attachment_id in ids:
        owner = owners.get(attachment_id)
        if owner is None:
            raise InvalidInput(f"no attachment {attachment_id}")
        if owner != (ATTACHMENT_KIND, order_id):
            raise InvalidInput(
                f"attachment {attachment_id} belongs to {owner[0]} {owner[1]}, not to order {order_id}: "
                "upload the evidence to this order first"
            )
    return ids


def respond(
    conn: Connection, order_id: int, *, text: str, attachment_ids: Sequence[int], actor: str, now: datetime
) -> dict[str, Any]:
    """The receiver's response (反馈): what was done (required) and the evidence files (attachment ids of
    this order). Allowed when issued or returned; a late response is taken and marked ``late`` in the
    journal."""
    current = _locked(conn, order_id)
    next_order_state(current["state"], "respond")  # the state's refusal comes before the input's
    text = _text(text, "the response text (what was done)", required=True)
    ids = _evidence(conn, order_id, attachment_ids)
    return _move(
        conn,
        current,
        "respond",
        actor=_actor(actor, "actor"),
        now=now,
        comment=text,
        data={"attachments": ids, "late": now > current["deadline"]},
    )


def accept(
    conn: Connection, order_id: int, *, comment: str = "", actor: str, now: datetime
) -> dict[str, Any]:
    """The regulator accepts the response (办结); the order is closed."""
    current = _locked(conn, order_id)
    next_order_state(current["state"], "accept")
    note = _text(comment, "the comment", required=False)
    return _move(
        conn,
        current,
        "accept",
        actor=_actor(actor, "actor"),
        now=now,
        comment=note,
        changes={"closed_at": now},
    )


def return_order(
    conn: Connection,
    order_id: int,
    *,
    reason: str,
    new_deadline: datetime | None = None,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """The regulator returns the response (退回) with the reason (required), and a new deadline if given
    (it must be in the future; without one the old deadline stands, even if it has passed)."""
    current = _locked(conn, order_id)
    next_order_state(current["state"], "return")
    why = _text(reason, "the reason for returning it", required=True)
    data: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    if new_deadline is not None:
        changes["deadline"] = _future_deadline(new_deadline, now, "the new deadline")
        data = {"deadline": new_deadline.isoformat(), "previous_deadline": current["deadline"].isoformat()}
    return _move(
        conn,
        current,
        "return",
        actor=_actor(actor, "actor"),
        now=now,
        comment=why,
        data=data,
        changes=changes,
    )


def withdraw(conn: Connection, order_id: int, *, reason: str, actor: str, now: datetime) -> dict[str, Any]:
    """The regulator cancels an order issued by mistake (撤销), with the reason; only before any response."""
    current = _locked(conn, order_id)
    next_order_state(current["state"], "withdraw")
    why = _text(reason, "the reason for withdrawing it", required=True)
    return _move(
        conn,
        current,
        "withdraw",
        actor=_actor(actor, "actor"),
        now=now,
        comment=why,
        changes={"closed_at": now},
    )


def comment(conn: Connection, order_id: int, *, text: str, actor: str, now: datetime) -> dict[str, Any]:
    """A note on the order's file, in any state; the state does not change."""
    current = _locked(conn, order_id)
    note = _text(text, "a comment", required=True)
    return _move(conn, current, "comment", actor=_actor(actor, "actor"), now=now, comment=note)


def escalate_overdue(conn: Connection, now: datetime) -> list[int]:
    """Orders waiting on their receiver past the deadline: escalate each once per deadline (compare-and-set,
    safe with several processes) and journal it. Returns the ids escalated by this call."""

    def due() -> Any:
        return and_(
            _o.state.in_(sorted(AWAITING_RECEIVER)),
            _o.deadline <= now,
            or_(_o.escalated_at.is_(None), _o.escalated_at < _o.deadline),
        )

    candidates = conn.execute(select(_o.id, _o.state, _o.deadline).where(due()).order_by(_o.id)).all()
    escalated: list[int] = []
    for order_id, state, deadline in candidates:
        won = conn.execute(
            update(orders).where(_o.id == order_id, _o.state == state, due()).values(escalated_at=now)
        ).rowcount
        if won == 1:
            _journal(
                conn,
                order_id,
                at=now,
                actor=SYSTEM,
                event="escalate",
                from_state=state,
                to_state=next_order_state(state, "escalate"),
                comment="no response by the deadline",
                data={"deadline": deadline.isoformat()},
            )
            order_event(conn, order_id, "escalate", now)
            escalated.append(int(order_id))
    return escalated
