"""Device faults (故障, SX-18.3): opening them, recording what happens, marking the fault period, reading them.

Theory of operation
-------------------
- :func:`open_fault` records one fault of a device (or of some of its factors) from the moment it began,
  by hand or from an alarm. One open fault per device and factor: a new fault whose factors overlap an
  open fault's (an empty factor list is the whole device, which overlaps everything) is refused with
  :class:`~envwatch.core.errors.Conflict` naming the open fault. The device row is locked first, so two
  people opening the same fault at once cannot both succeed (PostgreSQL; SQLite has one writer anyway).
  From an alarm, the fault is on the alarm's device and the alarm may back one open fault only; the
  alarm's journal gets a comment naming the fault (``alarms.store.apply``), so the alarm shows where its
  case went.
- :func:`record_event` is what happens next, through ``fault_lifecycle``: backup started (its kind: a
  backup device 备机 or manual monitoring 手工监测), the backup's check (比对), backup ended, restored,
  comments. Every event says when it happened (``at``, which may be before it is recorded, never in the
  future, never before the fault began). Each fact once: the SX-18.3 clocks have one slot per fact, so a
  second one is a Conflict (correct a wrong time with a comment; the journal is never edited).
- **The mark** (SX-18.3 "a fault is marked", SX-18.5): on ``restored`` the period [started_at,
  restored_at) is marked with code ``fault`` (故障, ``monitoring/data/mark_codes.json``: data invalid, not
  judged for exceedance) through ``monitoring.marks_store.create_mark``, one mark per factor of the fault
  or one for the whole device when it names none; a period longer than the marks' ``max_span`` is split
  into consecutive marks. ``faults.mark_id`` holds the first; every mark id is in the ``restored`` event's
  data (``mark_ids``).
- The projection row ``faults`` (state, backup and restore times, mark) is updated in the same
  transaction as the journal row that explains it (``fault_events``, append-only in the database), with a
  compare-and-set on the state that was read.
- Reading (:func:`fault_view` with the four SX-18.3 clocks, :func:`list_faults`) is in
  :mod:`envwatch.operations.fault_reads`, re-exported here; manual results in
  :mod:`envwatch.operations.manual_results` (with their corrections), re-exported too.

Everything takes ``now`` (DESIGN convention 6) and runs in the caller's transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Connection, and_, insert, select, update

from envwatch.alarms.notify import audience_for_device
from envwatch.alarms.schema import alarms
from envwatch.alarms.store import Action
from envwatch.alarms.store import apply as apply_to_alarm
from envwatch.core.clock import to_china
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.inputs import actor, aware
from envwatch.core.inputs import text as text_
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark
from envwatch.operations.fault_lifecycle import (
    BACKUP_KINDS,
    FAULT_EVENTS,
    FaultEvent,
    FaultState,
    next_fault_state,
)
from envwatch.operations.fault_reads import (
    FaultQuery,
    clocks_of,
    factors_of,
    facts_of,
    fault_events_of,
    fault_view,
    get_fault,
    list_faults,
    spans,
)
from envwatch.operations.faults_schema import fault_events, faults
from envwatch.operations.manual_results import (
    ManualResultIn,
    add_manual_results,
    correct_manual_result,
    manual_result_history,
    manual_result_row,
    manual_results_of,
    parse_manual_csv,
)
from envwatch.registry.schema import device_factors, devices

__all__ = [
    "FAULT_MARK_CODE",
    "FaultQuery",
    "ManualResultIn",
    "add_manual_results",
    "clocks_of",
    "correct_manual_result",
    "factors_of",
    "facts_of",
    "fault_events_of",
    "fault_view",
    "get_fault",
    "list_faults",
    "manual_result_history",
    "manual_result_row",
    "manual_results_of",
    "open_fault",
    "parse_manual_csv",
    "record_event",
    "spans",
]

_f = faults.c
_e = fault_events.c
# mark_codes.json: 故障 (equipment fault; data invalid, not judged), HJ 212 flag D
FAULT_MARK_CODE: Final = "fault"
MARK_SOURCE: Final = "operator"  # the operator answers for the device (marks.SOURCES)
DATA_MAX: Final = 4000  # characters of an event's data as JSON
FACTORS_MAX: Final = 200  # faults.factors
_FACTOR = re.compile(r"[A-Za-z0-9]{2,32}")  # an HJ 212 pollutant code (as monitoring.marks checks it)
# the projection column each fact fills (FaultFacts reads them)
_FACT_COLUMN: Final[dict[str, str]] = {
    "backup_started": "backup_started_at",
    "backup_checked": "backup_checked_at",
    "backup_ended": "backup_ended_at",
    "restored": "restored_at",
}
# what a fault is, logged as evidence when it is opened (the state and fact columns are the journal's
# projection; the fault_events are logged one by one)
FAULT_IDENTITY: Final = (
    "device_id", "operator_id", "alarm_id", "factors", "description", "started_at", "opened_by", "opened_at"
)  # fmt: skip


# ---- checks ----


def _china(moment: datetime) -> str:
    return f"{to_china(moment):%Y-%m-%d %H:%M:%S} (China time)"


def _not_future(moment: datetime, now: datetime, what: str) -> datetime:
    if aware(moment, what) > now:
        raise InvalidInput(f"{what} {_china(moment)} is in the future; record what has happened")
    return moment


def _clean_factors(conn: Connection, device_id: int, factors: Sequence[str]) -> list[str]:
    """The factors, stripped, known on the device where it has factors registered (the marks' rule), sorted."""
    clean: list[str] = []
    for factor in (f.strip() for f in factors):
        if not factor:
            continue
        if not _FACTOR.fullmatch(factor):
            raise InvalidInput(f"factor {factor!r} is not an HJ 212 pollutant code such as a21026 or w01018")
        if factor in clean:
            raise InvalidInput(f"factor {factor} is listed more than once")
        clean.append(factor)
    registered = set(
        conn.execute(select(device_factors.c.factor).where(device_factors.c.device_id == device_id)).scalars()
    )
    for factor in clean:
        if registered and factor not in registered:
            raise InvalidInput(
                f"device {device_id} has no factor {factor}: registered are {', '.join(sorted(registered))}"
            )
    if len(",".join(clean)) > FACTORS_MAX:
        raise InvalidInput(f"the factors take more than {FACTORS_MAX} characters: open several faults")
    return sorted(clean)


def _overlap(mine: list[str], theirs: list[str]) -> str | None:
    """What two factor lists share, worded; None when nothing (an empty list is the whole device)."""
    if not mine or not theirs:
        return "the whole device"
    shared = sorted(set(mine) & set(theirs))
    return ", ".join(shared) if shared else None


def _check_alarm(conn: Connection, alarm_id: int, device_id: int) -> None:
    row = conn.execute(select(alarms.c.id, alarms.c.device_id).where(alarms.c.id == alarm_id)).first()
    if row is None:
        raise NotFound(f"no alarm {alarm_id}")
    if row.device_id != device_id:
        raise InvalidInput(
            f"alarm {alarm_id} is on device {row.device_id}, not on device {device_id}: a fault opened from "
            "an alarm is on the alarm's device"
        )
    tied = conn.execute(
        select(_f.id).where(_f.alarm_id == alarm_id, _f.state != "restored").order_by(_f.id).limit(1)
    ).scalar()
    if tied is not None:
        raise Conflict(f"alarm {alarm_id} is already tied to open fault {tied}: record on that fault")


# ---- opening ----


def open_fault(
    conn: Connection,
    *,
    device_id: int,
    started_at: datetime,
    description: str,
    factors: Sequence[str] = (),
    alarm_id: int | None = None,
    opened_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a device fault that began at ``started_at``; returns the fault (see the module doc).

    NotFound for a device or alarm that does not exist; InvalidInput for a start in the future, an empty
    description, an unknown factor, an alarm on another device; Conflict for an overlapping open fault or
    an alarm already tied to an open fault."""
    started_at = _not_future(started_at, now, "the fault's start")
    description = text_(description, "the description (故障现象)", required=True)
    opened_by = actor(opened_by)
    locked = conn.execute(select(devices.c.id).where(devices.c.id == device_id).with_for_update()).first()
    if locked is None:
        raise NotFound(f"no device {device_id}")
    if alarm_id is not None:
        _check_alarm(conn, alarm_id, device_id)
    clean = _clean_factors(conn, device_id, factors)
    for other in conn.execute(
        select(_f.id, _f.factors, _f.started_at)
        .where(_f.device_id == device_id, _f.state != "restored")
        .order_by(_f.id)
    ):
        shared = _overlap(clean, factors_of({"factors": other.factors}))
        if shared is not None:
            raise Conflict(
                f"device {device_id} already has open fault {other.id} (since {_china(other.started_at)}) "
                f"covering {shared}: record on that fault, or restore it first"
            )
    covering = audience_for_device(conn, device_id, to_china(started_at).date()).operator_ids
    fault_id = int(
        conn.execute(
            insert(faults)
            .values(
                device_id=device_id,
                operator_id=covering[0] if covering else None,
                alarm_id=alarm_id,
                factors=",".join(clean),
                description=description,
                state="open",
                started_at=started_at,
                opened_by=opened_by,
                opened_at=now,
            )
            .returning(_f.id)
        ).scalar_one()
    )
    submit_row(conn, faults, fault_id, kind="fault", now=now, columns=FAULT_IDENTITY)
    data = {"factors": clean, "alarm_id": alarm_id, "operator_id": covering[0] if covering else None}
    _journal(conn, fault_id, "opened", started_at, description, data, opened_by, now)
    if alarm_id is not None:
        note = f"故障 #{fault_id} opened from this alarm: {description}"[:2000]
        apply_to_alarm(
            conn,
            alarm_id,
            Action("comment", comment=note, data={"fault_id": fault_id}),
            actor=opened_by,
            now=now,
        )
    return get_fault(conn, fault_id)


def _journal(
    conn: Connection,
    fault_id: int,
    event: FaultEvent,
    at: datetime,
    comment: str,
    data: Mapping[str, Any],
    by: str,
    now: datetime,
) -> None:
    event_id = conn.execute(
        insert(fault_events)
        .values(
            fault_id=fault_id,
            event=event,
            at=at,
            comment=comment,
            data=dict(data),
            recorded_by=by,
            recorded_at=now,
        )
        .returning(fault_events.c.id)
    ).scalar_one()
    submit_row(conn, fault_events, event_id, kind="fault_event", now=now)


# ---- what happens next ----


def _event_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(data or {})
    try:
        size = len(json.dumps(out, ensure_ascii=False))
    except (TypeError, ValueError):
        raise InvalidInput("the event's data must be plain JSON (text, numbers, lists, objects)") from None
    if size > DATA_MAX:
        raise InvalidInput(f"the event's data is {size} characters as JSON; at most {DATA_MAX}")
    return out


def _check_fact(current: Mapping[str, Any], event: str, at: datetime, data: dict[str, Any]) -> None:
    """Each fact once, in an order the clocks can read (InvalidInput / Conflict naming the fact)."""
    fault_id = current["id"]
    column = _FACT_COLUMN[event]
    if current[column] is not None:
        raise Conflict(
            f"fault {fault_id} already has its {event} at {_china(current[column])}; each fact is recorded "
            "once (add a comment to correct it)"
        )
    if event == "backup_started" and data.get("kind") not in BACKUP_KINDS:
        raise InvalidInput(
            "backup_started needs the kind: backup_device (备机) or manual (手工监测), not "
            f"{data.get('kind')!r}"
        )
    if event == "restored" and at <= current["started_at"]:
        raise InvalidInput(
            f"the restore {_china(at)} must be after the fault's start {_china(current['started_at'])}"
        )
    backup = current["backup_started_at"]
    if event in ("backup_checked", "backup_ended", "restored") and backup is not None and at < backup:
        raise InvalidInput(f"{event} {_china(at)} is before the backup started {_china(backup)}")
    checked = current["backup_checked_at"]
    if event == "backup_ended" and checked is not None and at < checked:
        raise InvalidInput(f"backup_ended {_china(at)} is before the backup's check {_china(checked)}")


def record_event(
    conn: Connection,
    fault_id: int,
    *,
    event: str,
    at: datetime,
    comment: str = "",
    data: Mapping[str, Any] | None = None,
    by: str,
    now: datetime,
    policy: MarkPolicy | None = None,
) -> dict[str, Any]:
    """Record ``event`` on the fault (see the module doc); returns the fault after it.

    ``data`` of ``backup_started`` must hold ``kind`` (backup_device | manual); a ``commented`` event needs
    its ``comment``. ``policy`` is the marks' (``MarkPolicy.from_settings``), used on ``restored``.
    InvalidTransition (409) when the state does not allow the event, Conflict when the fact is already
    recorded, InvalidInput for a time in the future or before the fault (or the backup) began."""
    if event not in FAULT_EVENTS:
        raise InvalidInput(f"unknown fault event {event!r} (events: {', '.join(FAULT_EVENTS[1:])})")
    if event == "opened":
        raise InvalidInput("'opened' creates a fault: use open_fault")
    found = conn.execute(select(faults).where(_f.id == fault_id).with_for_update()).mappings().first()
    if found is None:
        raise NotFound(f"no fault {fault_id}")
    current = dict(found)
    state = cast(FaultState, current["state"])
    to_state = next_fault_state(state, cast(FaultEvent, event))  # the state's refusal comes first
    at = _not_future(at, now, f"the time of {event}")
    if at < current["started_at"]:
        raise InvalidInput(
            f"{event} {_china(at)} is before the fault started {_china(current['started_at'])}"
        )
    by = actor(by)
    note = text_(comment, "a comment", required=event == "commented")
    payload = _event_data(data)
    changes: dict[str, Any] = {}
    if event in _FACT_COLUMN:
        _check_fact(current, event, at, payload)
        changes[_FACT_COLUMN[event]] = at
    if event == "backup_started":
        changes["backup_kind"] = payload["kind"]
    if event == "restored":
        mark_ids = _mark_fault_period(conn, current, at, by, now, policy or MarkPolicy())
        changes["mark_id"] = mark_ids[0]
        payload["mark_ids"] = mark_ids
    if changes or to_state != state:
        changes["state"] = to_state
        done = conn.execute(
            update(faults).where(and_(_f.id == fault_id, _f.state == state)).values(**changes)
        ).rowcount
        if done != 1:  # only under a concurrent change (SQLite has no row lock): the caller reloads
            raise Conflict(f"fault {fault_id} changed while this was recorded; reload it and try again")
    _journal(conn, fault_id, cast(FaultEvent, event), at, note, payload, by, now)
    return get_fault(conn, fault_id)


def _mark_fault_period(
    conn: Connection,
    fault: Mapping[str, Any],
    restored_at: datetime,
    by: str,
    now: datetime,
    policy: MarkPolicy,
) -> list[int]:
    """Mark [started_at, restored_at) as 故障: one mark per factor (or the whole device), each period of at
    most ``policy.max_span`` (longer faults get consecutive marks). Returns the mark ids."""
    reason = f"故障 #{fault['id']}: {fault['description']}"[:2000]
    ids: list[int] = []
    pieces: list[str | None] = [*factors_of(fault)] or [None]
    for factor in pieces:
        for start, end in spans(fault["started_at"], restored_at, policy):
            draft = MarkDraft(factor, start, end, FAULT_MARK_CODE, reason, MARK_SOURCE)
            mark = create_mark(conn, fault["device_id"], draft, created_by=by, now=now, policy=policy)
            ids.append(int(mark["id"]))
    return ids
