"""The equipment ledger (一机一档, CS-4.4.3): one file per instrument or tool of an operator, from purchase
through use, maintenance and verification to scrapping.

Theory of operation
-------------------
- :func:`add_equipment` opens a file: identity (kind, name, model, serial), the operator it belongs to, and
  the ``purchased`` event on the purchase day. Model + serial are unique per operator (one physical
  instrument has one file): a second file for the same pair is a :class:`Conflict` naming the first.
- :func:`record_event` adds one journal row (``equipment_events``, append-only in the database) and updates
  the projection on ``equipment`` (``state``, ``device_id``, ``next_verification_due``) in the same
  transaction, with a compare-and-set on the state that was read (PostgreSQL also locks the row first), so two
  people recording at once cannot both move it. Which event is allowed in which state is the table in
  ``equipment_lifecycle``.
- The file is kept in the order things happened: an event is dated on a China calendar day that is not in
  the future, not before the purchase and not before the file's latest event (the same day is fine). So the
  projection is always the journal replayed in order, and a late entry that would contradict a later one is
  refused instead of silently reordering the file.
- ``installed`` and ``moved`` name the device (数采仪) the equipment goes to: it must sit on an outlet under a
  contract of the operator in force that day. ``verified`` gives the next verification due date, after the
  verification day; it becomes the file's ``next_verification_due``.

Everything takes ``now`` (DESIGN convention 6) and runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.equipment_lifecycle import (
    EQUIPMENT_STATES,
    LEAVES_DEVICE,
    NEEDS_COMMENT,
    RECORDED_EVENTS,
    TAKES_DEVICE,
    EquipmentEvent,
    EquipmentState,
    next_equipment_state,
)
from envwatch.operations.ledger_checks import (
    actor,
    not_future,
    require_contracted_device,
    require_operator,
    text,
)
from envwatch.operations.ledger_schema import equipment, equipment_events
from envwatch.registry.schema import devices

KINDS: Final[tuple[str, ...]] = ("analyser", "tool", "meter", "other")
VERIFICATION_WARN_DAYS: Final = 30  # "due soon" when the next verification is at most this many days away
LIST_MAX: Final = 1000
_q = equipment.c
_ev = equipment_events.c


# ---- reading ----


def _with_mn() -> Any:
    return (
        select(equipment, devices.c.mn)
        .select_from(equipment)
        .outerjoin(devices, devices.c.id == _q.device_id)
    )


def get_equipment_row(conn: Connection, equipment_id: int) -> dict[str, Any]:
    """The equipment's identity and projection (with its device's MN); NotFound when there is none."""
    row = conn.execute(_with_mn().where(_q.id == equipment_id)).mappings().first()
    if row is None:
        raise NotFound(f"no equipment with id {equipment_id}")
    return dict(row)


def equipment_journal(conn: Connection, equipment_id: int) -> list[dict[str, Any]]:
    """The file's journal in recording order, each event with the MN of the device it names."""
    query = (
        select(equipment_events, devices.c.mn)
        .select_from(equipment_events)
        .outerjoin(devices, devices.c.id == _ev.device_id)
        .where(_ev.equipment_id == equipment_id)
        .order_by(_ev.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def get_equipment(conn: Connection, equipment_id: int) -> dict[str, Any]:
    """The whole file (一机一档): identity, current state and device, next verification due, and the journal
    (``events``, oldest first)."""
    row = get_equipment_row(conn, equipment_id)
    row["events"] = equipment_journal(conn, equipment_id)
    return row


def verification_status(due: date | None, state: str, today: date, within_days: int) -> str:
    """``none`` (no due date, or scrapped), ``overdue`` (due before today), ``due`` (due today or within
    ``within_days``) or ``ok``."""
    if due is None or state == "scrapped":
        return "none"
    if due < today:
        return "overdue"
    if due <= today + timedelta(days=within_days):
        return "due"
    return "ok"


@dataclass(frozen=True)
class EquipmentFilter:
    """Which files a list holds; every field given narrows it (AND). ``operator_ids``: None = every
    operator, empty = none. ``due_by``: not scrapped, next verification due on or before that day (overdue
    ones included); ``overdue_on``: not scrapped, next verification due before that day."""

    operator_ids: Collection[int] | None = None
    device_id: int | None = None
    states: Collection[str] | None = None
    due_by: date | None = None
    overdue_on: date | None = None


def list_equipment(
    conn: Connection, f: EquipmentFilter | None = None, *, limit: int = 500
) -> list[dict[str, Any]]:
    """Files matching ``f`` (with their device's MN), by operator then id."""
    f = f or EquipmentFilter()
    if not 1 <= limit <= LIST_MAX:
        raise InvalidInput(f"limit must be 1-{LIST_MAX}, not {limit}")
    where: list[Any] = []
    if f.operator_ids is not None:
        where.append(_q.operator_id.in_(list(f.operator_ids)))
    if f.device_id is not None:
        where.append(_q.device_id == f.device_id)
    if f.states is not None:
        unknown = sorted(set(f.states) - set(EQUIPMENT_STATES))
        if unknown:
            raise InvalidInput(
                f"unknown equipment state {', '.join(unknown)} (states: {', '.join(EQUIPMENT_STATES)})"
            )
        where.append(_q.state.in_(list(f.states)))
    if f.due_by is not None or f.overdue_on is not None:
        where.extend([_q.state != "scrapped", _q.next_verification_due.is_not(None)])
    if f.due_by is not None:
        where.append(_q.next_verification_due <= f.due_by)
    if f.overdue_on is not None:
        where.append(_q.next_verification_due < f.overdue_on)
    query = _with_mn().where(*where).order_by(_q.operator_id, _q.id).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def verification_due(
    conn: Connection,
    operator_id: int | Collection[int] | None,
    today: date,
    within_days: int = VERIFICATION_WARN_DAYS,
) -> list[dict[str, Any]]:
    """Equipment (not scrapped) of ``operator_id`` (one operator, several, or None: every operator) whose
    next verification (检定/校准) is due within ``within_days`` of ``today`` or already overdue, soonest
    first; each row with ``overdue`` (due before today) and ``days_left`` (negative when overdue)."""
    if within_days < 0:
        raise InvalidInput(f"within_days must not be negative, not {within_days}")
    operator_ids = [operator_id] if isinstance(operator_id, int) else operator_id
    f = EquipmentFilter(operator_ids=operator_ids, due_by=today + timedelta(days=within_days))
    rows = list_equipment(conn, f, limit=LIST_MAX)
    rows.sort(key=lambda r: (r["next_verification_due"], r["id"]))
    for r in rows:
        r["days_left"] = (r["next_verification_due"] - today).days
        r["overdue"] = r["days_left"] < 0
    return rows


# ---- opening a file ----


def _existing(conn: Connection, operator_id: int, model: str, serial: str) -> None:
    other = conn.execute(
        select(_q.id, _q.name).where(_q.operator_id == operator_id, _q.model == model, _q.serial == serial)
    ).first()
    if other is not None:
        raise Conflict(
            f"operator {operator_id} already has equipment model {model} serial {serial}: "
            f"equipment {other.id} ({other.name})"
        )


def add_equipment(
    conn: Connection,
    *,
    operator_id: int,
    kind: str,
    name: str,
    model: str,
    serial: str,
    purchased_on: date,
    comment: str = "",
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Open the file of one instrument or tool (``in_stock``, with its ``purchased`` event); returns the file.
    NotFound for an unknown operator; InvalidInput for an unknown kind, a missing or too long name, model or
    serial, a purchase day in the future; Conflict when the operator already has this model + serial."""
    require_operator(conn, operator_id)
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}; not {kind!r}")
    name = text(name, "the name", required=True, most=200)
    model = text(model, "the model", required=True, most=100)
    serial = text(serial, "the serial number", required=True, most=100)
    purchased_on = not_future(purchased_on, "the purchase day", now)
    note = text(comment, "the comment", required=False)
    who = actor(recorded_by)
    _existing(conn, operator_id, model, serial)
    try:
        new_id = conn.execute(
            insert(equipment)
            .values(
                operator_id=operator_id,
                kind=kind,
                name=name,
                model=model,
                serial=serial,
                device_id=None,
                state="in_stock",
                purchased_on=purchased_on,
                next_verification_due=None,
                created_at=now,
                updated_at=now,
            )
            .returning(_q.id)
        ).scalar_one()
    except IntegrityError:  # the same pair added at the same moment by someone else
        raise Conflict(
            f"operator {operator_id} already has equipment model {model} serial {serial}"
        ) from None
    _journal(conn, int(new_id), "purchased", purchased_on, None, None, note, who, now)
    return get_equipment(conn, int(new_id))


# ---- recording an event ----


def _journal(
    conn: Connection,
    equipment_id: int,
    event: EquipmentEvent,
    on: date,
    device_id: int | None,
    next_due: date | None,
    comment: str,
    recorded_by: str,
    now: datetime,
) -> None:
    conn.execute(
        insert(equipment_events).values(
            equipment_id=equipment_id,
            event=event,
            on=on,
            device_id=device_id,
            next_due=next_due,
            comment=comment,
            recorded_by=recorded_by,
            recorded_at=now,
        )
    )


def _locked(conn: Connection, equipment_id: int) -> dict[str, Any]:
    row = conn.execute(select(equipment).where(_q.id == equipment_id).with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"no equipment with id {equipment_id}")
    return dict(row)


def _check_day(conn: Connection, current: dict[str, Any], on: date, now: datetime) -> None:
    not_future(on, "the day", now)
    purchased = current["purchased_on"]
    if purchased is not None and on < purchased:
        raise InvalidInput(f"the day {on.isoformat()} is before the purchase on {purchased.isoformat()}")
    last = conn.execute(
        select(_ev.on, _ev.event)
        .where(_ev.equipment_id == current["id"])
        .order_by(_ev.on.desc(), _ev.id.desc())
        .limit(1)
    ).first()
    if last is not None and on < last.on:
        raise InvalidInput(
            f"the day {on.isoformat()} is before the file's latest event ({last.event} on "
            f"{last.on.isoformat()}): record events in the order they happened"
        )


def _device_for(
    conn: Connection, current: dict[str, Any], event: EquipmentEvent, device_id: int | None, on: date
) -> int | None:
    """The device the event names in the journal and the equipment's device after it."""
    if event in TAKES_DEVICE:
        if device_id is None:
            raise InvalidInput(f"'{event}' needs the device the equipment goes to")
        if event == "moved" and device_id == current["device_id"]:
            raise InvalidInput(f"equipment {current['id']} is already installed at that device")
        require_contracted_device(conn, current["operator_id"], device_id, on)
        return device_id
    if device_id is not None:
        raise InvalidInput(f"'{event}' takes no device: it is recorded where the equipment is")
    return None


def record_event(
    conn: Connection,
    equipment_id: int,
    *,
    event: str,
    on: date,
    device_id: int | None = None,
    next_due: date | None = None,
    comment: str = "",
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record one event in the file and update its state; returns the file. NotFound for an unknown
    equipment; InvalidTransition (409) for an event its state does not allow (nothing after ``scrapped``);
    InvalidInput for an unknown event, a day in the future, before the purchase or before the latest event, a
    missing or foreign device (``installed``, ``moved``), a device on another event, a ``verified`` without a
    next due day after ``on`` or a next due day on another event, a missing comment (``sent_to_repair``,
    ``repaired``, ``scrapped``)."""
    if event not in RECORDED_EVENTS:
        raise InvalidInput(f"event must be one of {', '.join(RECORDED_EVENTS)}; not {event!r}")
    what: EquipmentEvent = event
    current = _locked(conn, equipment_id)
    state = cast(EquipmentState, current["state"])
    to_state = next_equipment_state(state, what)  # the state's refusal comes before the input's
    _check_day(conn, current, on, now)
    target = _device_for(conn, current, what, device_id, on)
    if what == "verified":
        if next_due is None:
            raise InvalidInput("'verified' needs the next verification due day")
        if next_due <= on:
            raise InvalidInput(
                f"the next verification due day {next_due.isoformat()} must be after the verification on "
                f"{on.isoformat()}"
            )
    elif next_due is not None:
        raise InvalidInput(f"only 'verified' takes a next verification due day, not '{event}'")
    note = text(comment, "the comment", required=what in NEEDS_COMMENT)
    who = actor(recorded_by)
    values: dict[str, Any] = {"state": to_state, "updated_at": now}
    if what in TAKES_DEVICE:
        values["device_id"] = target
    elif what in LEAVES_DEVICE:
        values["device_id"] = None
    if what == "verified":
        values["next_verification_due"] = next_due
    done = conn.execute(
        update(equipment).where(and_(_q.id == equipment_id, _q.state == state)).values(**values)
    ).rowcount
    if done != 1:  # only under a concurrent change (SQLite has no row lock): the caller reloads
        raise Conflict(f"equipment {equipment_id} changed while this was recorded; reload it and try again")
    # the journal names the device the event happened at: the new one, or the one it was on
    at = target if what in TAKES_DEVICE else current["device_id"]
    _journal(conn, equipment_id, what, on, at, next_due, note, who, now)
    return get_equipment(conn, equipment_id)
