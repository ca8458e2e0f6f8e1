"""Raising alarms and moving them through their lifecycle, each change with its journal row.

Theory of operation
-------------------
- :func:`raise_alarm` is what detectors and the offline watcher call. If the device has an alarm of that kind
  and factor that is not closed, the detection is a **repeat** of it (the count, the latest summary, the worst
  peak and the end of the condition are updated); otherwise a new alarm **opens**. The partial unique index
  ``ux_alarms_open`` makes this safe with several processes: the loser of a race to open gets an integrity
  error inside a savepoint and records a repeat instead.
- :func:`apply` is what people do (acknowledge, start handling, assign, comment, attach, close). The state
  change is a compare-and-set on the state that was read, so two people acting at once cannot both move it.
- Every change writes one ``alarm_events`` row (append-only), in the same transaction as the change and as the
  notification rows it causes (outbox): what is in the journal happened, and what happened is in the journal.

Everything takes ``now`` (DESIGN convention 6) and runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from envwatch.alarms.announce import alarm_event
from envwatch.alarms.journal import write_journal
from envwatch.alarms.lifecycle import SYSTEM_EVENTS, Event, State, next_state
from envwatch.alarms.schema import alarm_events, alarms
from envwatch.core.blobs import BlobStore
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.registry.attachments import add_attachment, list_attachments
from envwatch.registry.schema import devices

_a = alarms.c
_e = alarm_events.c
SYSTEM = "system"
TEXT_MAX = 2000  # characters of a comment, a cause or an action
# what an alarm is about, logged as evidence when it opens (the rest of the row is the projection of
# alarm_events, which are logged one by one)
ALARM_IDENTITY = ("device_id", "kind", "factor", "source", "opened_at")


@dataclass(frozen=True)
class Raised:
    """One detection, as the alarm store takes it (from a detector or the offline watcher)."""

    device_id: int
    kind: str
    factor: str
    started_at: datetime
    source: str
    summary: str
    ended_at: datetime | None = None
    peak: str | None = None
    limit_value: str | None = None
    multiple: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)  # the values behind it (JSON-able)


@dataclass(frozen=True)
class Outcome:
    alarm_id: int
    opened: bool  # False: a repeat of the alarm already open (or nothing new, see ``known``)
    known: bool = False  # the open alarm already holds this detection: nothing was written


def get_alarm(conn: Connection, alarm_id: int) -> dict[str, Any]:
    row = conn.execute(select(alarms).where(_a.id == alarm_id)).mappings().first()
    if row is None:
        raise NotFound(f"no alarm {alarm_id}")
    return dict(row)


def alarm_events_of(conn: Connection, alarm_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(alarm_events).where(_e.alarm_id == alarm_id).order_by(_e.id)).mappings()
    return [dict(r) for r in rows]


def _open_alarm_id(conn: Connection, device_id: int, kind: str, factor: str) -> tuple[int, State] | None:
    row = conn.execute(
        select(_a.id, _a.state)
        .where(_a.device_id == device_id, _a.kind == kind, _a.factor == factor, _a.state != "closed")
        .with_for_update()
    ).first()
    return (row.id, cast(State, row.state)) if row is not None else None


def _journal(
    conn: Connection,
    alarm_id: int,
    *,
    at: datetime,
    actor: str,
    event: Event,
    from_state: State | None,
    to_state: State,
    comment: str = "",
    data: Mapping[str, Any] | None = None,
) -> None:
    write_journal(
        conn,
        alarm_events,
        {"alarm_id": alarm_id},
        at=at,
        actor=actor,
        event=event,
        from_state=from_state,
        to_state=to_state,
        comment=comment,
        data=data,
    )


def _detection_data(r: Raised) -> dict[str, Any]:
    return {
        "started_at": r.started_at.isoformat(),
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        "peak": r.peak,
        "limit": r.limit_value,
        "multiple": r.multiple,
        "source": r.source,
        **dict(r.data),
    }


def _worse(old: str | None, new: str | None) -> str | None:
    """The larger of two peaks given as text (a peak that is not a number never replaces one that is)."""
    if new is None:
        return old
    if old is None:
        return new
    try:
        return new if Decimal(new) > Decimal(old) else old
    except InvalidOperation:
        return old


def raise_alarm(conn: Connection, raised: Raised, now: datetime, *, ack_due_s: float) -> Outcome:
    """Open an alarm for ``raised`` or record it as a repeat of the one already open (see module doc)."""
    existing = _open_alarm_id(conn, raised.device_id, raised.kind, raised.factor)
    if existing is None:
        try:
            with conn.begin_nested():
                alarm_id = _insert_alarm(conn, raised, now, ack_due_s)
            return Outcome(alarm_id, opened=True)
        except IntegrityError:
            # another process opened it between our read and our insert: ours is a repeat of theirs
            existing = _open_alarm_id(conn, raised.device_id, raised.kind, raised.factor)
            if existing is None:
                raise
    alarm_id, state = existing
    current = get_alarm(conn, alarm_id)
    if _already_holds(current, raised):
        return Outcome(alarm_id, opened=False, known=True)
    _repeat(conn, current, state, raised, now)
    return Outcome(alarm_id, opened=False)


def _already_holds(alarm: Mapping[str, Any], r: Raised) -> bool:
    """A detection of a period the open alarm already covers, and no worse: the detectors judge a day again
    as its hours come in, and the same exceeding hour found twice is one detection, not two."""
    if r.ended_at is None or alarm["ended_at"] is None:
        return False  # an open-ended condition (offline) is flipped once by its watcher anyway
    inside: bool = alarm["started_at"] <= r.started_at and r.ended_at <= alarm["ended_at"]
    return inside and _worse(alarm["peak"], r.peak) == alarm["peak"]


def _insert_alarm(conn: Connection, r: Raised, now: datetime, ack_due_s: float) -> int:
    alarm_id = conn.execute(
        insert(alarms)
        .values(
            device_id=r.device_id,
            kind=r.kind,
            factor=r.factor,
            state="open",
            source=r.source[:200],
            summary=r.summary[:500],
            started_at=r.started_at,
            ended_at=r.ended_at,
            peak=r.peak,
            limit_value=r.limit_value,
            multiple=r.multiple,
            detections=1,
            opened_at=now,
            last_detected_at=now,
            ack_due_at=now + timedelta(seconds=ack_due_s),
        )
        .returning(_a.id)
    ).scalar_one()
    submit_row(conn, alarms, alarm_id, kind="alarm", now=now, columns=ALARM_IDENTITY)
    _journal(
        conn,
        alarm_id,
        at=now,
        actor=SYSTEM,
        event="opened",
        from_state=None,
        to_state="open",
        comment=r.summary,
        data=_detection_data(r),
    )
    alarm_event(conn, alarm_id, "opened", now)  # the outbox row commits with the alarm (CS-4.3.2.3)
    return int(alarm_id)


def _repeat(conn: Connection, current: Mapping[str, Any], state: State, r: Raised, now: datetime) -> None:
    alarm_id = int(current["id"])
    started = min(current["started_at"], r.started_at)
    ended = r.ended_at
    if ended is not None and current["ended_at"] is not None:
        ended = max(ended, current["ended_at"])
    peak = _worse(current["peak"], r.peak)
    multiple = r.multiple if peak == r.peak and peak != current["peak"] else current["multiple"]
    conn.execute(
        update(alarms)
        .where(_a.id == alarm_id)
        .values(
            summary=r.summary[:500],
            started_at=started,
            ended_at=ended,
            peak=peak,
            multiple=multiple,
            limit_value=r.limit_value if r.limit_value is not None else current["limit_value"],
            detections=_a.detections + 1,
            last_detected_at=now,
        )
    )
    _journal(
        conn,
        alarm_id,
        at=now,
        actor=SYSTEM,
        event="repeat",
        from_state=state,
        to_state=next_state(state, "repeat"),
        comment=r.summary,
        data=_detection_data(r),
    )


def condition_ended(
    conn: Connection, device_id: int, kind: str, factor: str, ended_at: datetime, now: datetime, why: str
) -> int | None:
    """The condition behind the open alarm is over (e.g. the device is back online): record when; the alarm
    stays until a person closes it with the cause. Returns the alarm's id, or None when none is open."""
    existing = _open_alarm_id(conn, device_id, kind, factor)
    if existing is None:
        return None
    alarm_id, state = existing
    conn.execute(update(alarms).where(_a.id == alarm_id).values(ended_at=ended_at))
    _journal(
        conn,
        alarm_id,
        at=now,
        actor=SYSTEM,
        event="condition_ended",
        from_state=state,
        to_state=next_state(state, "condition_ended"),
        comment=why,
        data={"ended_at": ended_at.isoformat()},
    )
    return alarm_id


@dataclass(frozen=True)
class Action:
    """What a person does to an alarm (see ``lifecycle.PERSON_EVENTS``)."""

    event: Event
    comment: str = ""
    assignee: str | None = None  # assign
    cause: str = ""  # close: 原因
    action: str = ""  # close: 处理措施
    data: Mapping[str, Any] = field(default_factory=dict)  # attach: the attachment's id and name


def _text(value: str, what: str, *, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > TEXT_MAX:
        raise InvalidInput(f"{what} is {len(value)} characters; at most {TEXT_MAX}")
    return value


def apply(conn: Connection, alarm_id: int, act: Action, *, actor: str, now: datetime) -> dict[str, Any]:
    """A person's action on an alarm; returns the alarm after it. InvalidTransition (409) when the state does
    not allow it, InvalidInput (422) when something required is missing."""
    if act.event in SYSTEM_EVENTS:
        raise InvalidInput(f"'{act.event}' is done by the platform, not by a person")
    current = conn.execute(select(alarms).where(_a.id == alarm_id).with_for_update()).mappings().first()
    if current is None:
        raise NotFound(f"no alarm {alarm_id}")
    state = cast(State, current["state"])
    to_state = next_state(state, act.event)
    comment = _text(act.comment, "a comment", required=act.event == "comment")
    changes: dict[str, Any] = {}
    data: dict[str, Any] = dict(act.data)
    if act.event == "assign":
        assignee = (act.assignee or "").strip()
        if not assignee or len(assignee) > 64:
            raise InvalidInput("assign needs the username of the person who takes the alarm")
        changes["assignee"] = assignee
        data["assignee"] = assignee
    elif act.event == "acknowledge" and current["assignee"] is None:
        changes["assignee"] = actor  # who acknowledges owns it until it is assigned to somebody else
    elif act.event == "close":
        changes["cause"] = _text(act.cause, "the cause (原因)", required=True)
        changes["action"] = _text(act.action, "the action taken (处理措施)", required=True)
        changes["closed_at"] = now
        data.update(cause=changes["cause"], action=changes["action"])
    if to_state != state or changes:
        changes["state"] = to_state
        done = conn.execute(
            update(alarms).where(and_(_a.id == alarm_id, _a.state == state)).values(**changes)
        ).rowcount
        if done != 1:  # only under a concurrent change (SQLite has no row lock): the caller reloads
            raise Conflict(f"alarm {alarm_id} changed while this was applied; reload it and try again")
    _journal(
        conn,
        alarm_id,
        at=now,
        actor=actor,
        event=act.event,
        from_state=state,
        to_state=to_state,
        comment=comment,
        data=data,
    )
    return get_alarm(conn, alarm_id)


def escalate_overdue(conn: Connection, now: datetime) -> list[int]:
    """Open alarms past their acknowledgement deadline: mark each escalated once (compare-and-set, safe with
    several processes) and journal it. Returns the ids escalated by this call."""
    due = conn.execute(
        select(_a.id).where(_a.state == "open", _a.ack_due_at <= now, _a.escalated_at.is_(None))
    ).scalars()
    escalated: list[int] = []
    for alarm_id in list(due):
        won = conn.execute(
            update(alarms)
            .where(_a.id == alarm_id, _a.state == "open", _a.escalated_at.is_(None))
            .values(escalated_at=now)
        ).rowcount
        if won == 1:
            _journal(
                conn,
                alarm_id,
                at=now,
                actor=SYSTEM,
                event="escalate",
                from_state="open",
                to_state="open",
                comment="not acknowledged by its deadline",
            )
            alarm_event(conn, alarm_id, "escalate", now)
            escalated.append(int(alarm_id))
    return escalated


@dataclass(frozen=True)
class AlarmQuery:
    """Filters of an alarm list; ``device_ids`` None = every device (the caller's scope decides)."""

    device_ids: Collection[int] | None = None
    states: Collection[str] | None = None  # None = every state
    kinds: Collection[str] | None = None
    factor: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None  # exclusive
    escalated: bool | None = None
    limit: int = 100
    offset: int = 0


def list_alarms(conn: Connection, q: AlarmQuery) -> tuple[list[dict[str, Any]], int]:
    """Alarms newest first with the device's MN, enterprise and outlet names; and how many match in all."""
    where: list[Any] = []
    if q.device_ids is not None:
        where.append(_a.device_id.in_(sorted(q.device_ids)))
    if q.states is not None:
        where.append(_a.state.in_(sorted(q.states)))
    if q.kinds is not None:
        where.append(_a.kind.in_(sorted(q.kinds)))
    if q.factor is not None:
        where.append(_a.factor == q.factor)
    if q.opened_from is not None:
        where.append(_a.opened_at >= q.opened_from)
    if q.opened_to is not None:
        where.append(_a.opened_at < q.opened_to)
    if q.escalated is not None:
        where.append(_a.escalated_at.is_not(None) if q.escalated else _a.escalated_at.is_(None))
    total = conn.execute(select(func.count()).select_from(alarms).where(*where)).scalar_one()
    d = devices.c
    rows = conn.execute(
        select(alarms, d.mn, d.enterprise, d.outlet, d.outlet_id)
        .join(devices, d.id == _a.device_id)
        .where(*where)
        .order_by(_a.opened_at.desc(), _a.id.desc())
        .limit(q.limit)
        .offset(q.offset)
    ).mappings()
    return [dict(r) for r in rows], int(total)


def device_names(conn: Connection, device_id: int) -> dict[str, Any]:
    """The MN, enterprise and outlet names an alarm is shown with."""
    d = devices.c
    row = (
        conn.execute(select(d.mn, d.enterprise, d.outlet, d.outlet_id).where(d.id == device_id))
        .mappings()
        .one()
    )
    return dict(row)


def open_alarms(
    conn: Connection, *, device_ids: Sequence[int] | None = None, kinds: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    query = select(alarms).where(_a.state != "closed").order_by(_a.opened_at.desc(), _a.id.desc())
    if device_ids is not None:
        query = query.where(_a.device_id.in_(list(device_ids)))
    if kinds is not None:
        query = query.where(_a.kind.in_(list(kinds)))
    return [dict(r) for r in conn.execute(query).mappings()]


def add_alarm_attachment(
    conn: Connection,
    blobs: BlobStore,
    alarm_id: int,
    *,
    filename: str,
    content: bytes,
    content_type: str,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """Attach a file (a repair record, a photo) to an alarm; journaled as ``attach`` (closed alarms too)."""
    get_alarm(conn, alarm_id)
    row = add_attachment(
        conn,
        blobs,
        owner_kind="alarm",
        owner_id=alarm_id,
        filename=filename,
        content=content,
        content_type=content_type,
        added_by=actor,
        now=now,
    )
    apply(
        conn,
        alarm_id,
        Action("attach", data={"attachment_id": row["id"], "filename": row["filename"]}),
        actor=actor,
        now=now,
    )
    return row


def alarm_attachments(conn: Connection, alarm_id: int) -> list[dict[str, Any]]:
    return list_attachments(conn, "alarm", alarm_id)
