"""Production stops (停产, SX-18.4): the report, the regulator's approval with its shutdown marks, the
withdrawal, the restart and its calibration check.

Theory of operation
-------------------
- :func:`submit_stop`: the enterprise reports a planned stop of one outlet, [start_at, end_at), **before
  it starts** (SX-18.4 "report and get approval first"). A start already past is refused, except within
  :data:`SUBMIT_GRACE` (a form opened at 08:00 for a stop at 08:00 and sent at 08:10 is still "before"
  in any sense a regulator cares about). A stop overlapping another report of the outlet that is waiting
  or approved is a Conflict naming it.
- :func:`decide`: a regulator approves or rejects (the API lets only a regulator of the enterprise's
  region, or admin, reach it), only while the report waits. The approval marks the period on **every
  device of the outlet** with code ``no_discharge`` (停产/无排放, ``monitoring/data/mark_codes.json``: the
  hours leave the transmission-rate base, once approved) through ``marks_store.create_mark``, and reviews
  each mark ``approved`` in the same breath (``review_mark``: the regulator's decision is the mark's
  review, so nobody approves the same period twice). A period longer than the marks' ``max_span`` is split
  into consecutive marks; the marks' ``max_future`` limit (meant for everyday marks) is widened to the
  approved end, since an approved plan is marked when approved. ``production_stops.mark_id`` holds the
  first mark (the table has one column); every mark id, by device, is in the approval event's data.
- :func:`withdraw`: the enterprise withdraws a waiting report, or an approved one before the stop starts;
  the marks of an approved one are withdrawn (``withdraw_mark``).
- :func:`restarted`: the enterprise records the restart (at, after the start, not in the future). A
  restart before the approved end shortens the marks to it (``supersede_mark``, the shortened version
  reviewed approved by ``system``: a part of an approved period is approved; marks wholly after the
  restart are withdrawn). A restart after the approved end leaves the marks as approved: the overrun is
  not an approved stop (the event's data says ``overran``). SX-18.4 then wants the device started first,
  calibrated and checked within ``om_restart_check_within_days`` (14): :func:`stop_view` shows, per device
  of the outlet, whether a calibration field record lies in [restart, restart + 14 days]
  (``operations.stop_checks``).
- Gas devices keep running during a stop of at most one quarter (SX-18.4); :func:`stop_view` notes for a
  gas outlet whether that applies (``operations.stop_checks.quarter_note``).

The projection ``production_stops`` is updated in the same transaction as its journal row
(``production_stop_events``, append-only), with a compare-and-set on the state read. Everything takes
``now`` (DESIGN convention 6).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Connection, and_, func, insert, select, update

from envwatch.core.clock import to_china
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.inputs import actor, aware
from envwatch.core.inputs import text as text_
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_schema import marks
from envwatch.monitoring.marks_store import create_mark, review_mark, supersede_mark, withdraw_mark
from envwatch.operations.fault_reads import spans
from envwatch.operations.faults_schema import production_stop_events, production_stops
from envwatch.operations.stop_checks import quarter_note, restart_check
from envwatch.operations.stop_lifecycle import STOP_STATES, StopEvent, StopState, next_stop_state
from envwatch.registry.schema import devices, enterprises, outlets

_s = production_stops.c
_e = production_stop_events.c
# mark_codes.json: 停产/无排放 (production stopped; exempt from the rate base once approved)
STOP_MARK_CODE: Final = "no_discharge"
MARK_SOURCE: Final = "enterprise"  # the enterprise's report (marks.SOURCES); the regulator reviews it
SYSTEM: Final = "system"
# a report may be sent this long after the planned start and still count as "before" (SX-18.4) [P]
SUBMIT_GRACE: Final = timedelta(minutes=30)
LIST_MAX: Final = 1000
# what a stop report is, logged as evidence when it is submitted (state, mark and decision are the
# projection of the production_stop_events, which are logged one by one)
STOP_IDENTITY: Final = (
    "enterprise_id", "outlet_id", "start_at", "end_at", "reason", "submitted_by", "submitted_at"
)  # fmt: skip


# ---- reading ----


def get_stop(conn: Connection, stop_id: int) -> dict[str, Any]:
    """The report with its outlet's code, name and kind and its enterprise's name and region."""
    o, n = outlets.c, enterprises.c
    row = (
        conn.execute(
            select(
                production_stops,
                o.code.label("outlet_code"),
                o.name.label("outlet_name"),
                o.kind.label("outlet_kind"),
                n.name.label("enterprise_name"),
                n.region_code,
            )
            .join(outlets, o.id == _s.outlet_id)
            .join(enterprises, n.id == _s.enterprise_id)
            .where(_s.id == stop_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no production stop {stop_id}")
    return dict(row)


def stop_events_of(conn: Connection, stop_id: int) -> list[dict[str, Any]]:
    query = select(production_stop_events).where(_e.stop_id == stop_id).order_by(_e.id)
    return [dict(r) for r in conn.execute(query).mappings()]


@dataclass(frozen=True)
class StopQuery:
    """Filters of a stop list; ``outlet_ids`` None = every outlet (the caller's scope decides)."""

    outlet_ids: Collection[int] | None = None
    enterprise_id: int | None = None
    outlet_id: int | None = None
    states: Collection[str] | None = None
    limit: int = 100
    offset: int = 0


def list_stops(conn: Connection, q: StopQuery) -> tuple[list[dict[str, Any]], int]:
    """Stop reports matching ``q``, the latest planned start first; and how many match in all."""
    if not 1 <= q.limit <= LIST_MAX:
        raise InvalidInput(f"limit must be 1-{LIST_MAX}, not {q.limit}")
    if q.offset < 0:
        raise InvalidInput(f"offset must not be negative, not {q.offset}")
    where: list[Any] = []
    if q.outlet_ids is not None:
        where.append(_s.outlet_id.in_(sorted(q.outlet_ids)))
    if q.enterprise_id is not None:
        where.append(_s.enterprise_id == q.enterprise_id)
    if q.outlet_id is not None:
        where.append(_s.outlet_id == q.outlet_id)
    if q.states is not None:
        unknown = sorted(set(q.states) - set(STOP_STATES))
        if unknown:
            raise InvalidInput(
                f"unknown production stop state {', '.join(unknown)} (states: {', '.join(STOP_STATES)})"
            )
        where.append(_s.state.in_(sorted(q.states)))
    total = conn.execute(select(func.count()).select_from(production_stops).where(*where)).scalar_one()
    o, n = outlets.c, enterprises.c
    query = (
        select(
            production_stops,
            o.code.label("outlet_code"),
            o.name.label("outlet_name"),
            o.kind.label("outlet_kind"),
            n.name.label("enterprise_name"),
        )
        .join(outlets, o.id == _s.outlet_id)
        .join(enterprises, n.id == _s.enterprise_id)
        .where(*where)
        .order_by(_s.start_at.desc(), _s.id.desc())
        .limit(q.limit)
        .offset(q.offset)
    )
    return [dict(r) for r in conn.execute(query).mappings()], int(total)


def outlet_devices(conn: Connection, outlet_id: int) -> list[dict[str, Any]]:
    d = devices.c
    query = select(d.id, d.mn, d.name, d.kind).where(d.outlet_id == outlet_id).order_by(d.id)
    return [dict(r) for r in conn.execute(query).mappings()]


# ---- checks ----


def _china(moment: datetime) -> str:
    return f"{to_china(moment):%Y-%m-%d %H:%M} (China time)"


def _journal(
    conn: Connection,
    stop_id: int,
    event: StopEvent,
    at: datetime,
    comment: str,
    data: Mapping[str, Any],
    by: str,
    now: datetime,
) -> None:
    event_id = conn.execute(
        insert(production_stop_events)
        .values(
            stop_id=stop_id,
            event=event,
            at=at,
            comment=comment,
            data=dict(data),
            recorded_by=by,
            recorded_at=now,
        )
        .returning(production_stop_events.c.id)
    ).scalar_one()
    submit_row(conn, production_stop_events, event_id, kind="production_stop_event", now=now)


# ---- submitting ----


def submit_stop(
    conn: Connection,
    *,
    enterprise_id: int,
    outlet_id: int,
    start_at: datetime,
    end_at: datetime,
    reason: str,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Report a planned production stop of one outlet (停产报告); returns it, ``submitted``."""
    found = conn.execute(select(enterprises.c.id).where(enterprises.c.id == enterprise_id)).first()
    if found is None:
        raise NotFound(f"no enterprise {enterprise_id}")
    outlet = conn.execute(
        select(outlets.c.enterprise_id, outlets.c.name).where(outlets.c.id == outlet_id)
    ).first()
    if outlet is None:
        raise NotFound(f"no outlet {outlet_id}")
    if outlet.enterprise_id != enterprise_id:
        raise InvalidInput(
            f"outlet {outlet_id} ({outlet.name}) belongs to enterprise {outlet.enterprise_id}, not to "
            f"enterprise {enterprise_id}"
        )
    start_at, end_at = aware(start_at, "the stop's start"), aware(end_at, "the stop's end")
    if end_at <= start_at:
        raise InvalidInput(f"the stop's end {_china(end_at)} must be after its start {_china(start_at)}")
    if start_at < now - SUBMIT_GRACE:
        raise InvalidInput(
            f"the stop starts {_china(start_at)}, already past: a production stop is reported and approved "
            "before it starts (SX-18.4); for a stop already under way, mark the period and explain it"
        )
    reason = text_(reason, "the reason (停产原因)", required=True)
    by = actor(by)
    clash = conn.execute(
        select(_s.id, _s.state, _s.start_at, _s.end_at)
        .where(
            _s.outlet_id == outlet_id,
            _s.state.in_(("submitted", "approved")),
            _s.start_at < end_at,
            _s.end_at > start_at,
        )
        .order_by(_s.id)
        .limit(1)
    ).first()
    if clash is not None:
        raise Conflict(
            f"outlet {outlet_id} already has production stop {clash.id} ({clash.state}) from "
            f"{_china(clash.start_at)} to {_china(clash.end_at)}, overlapping this one"
        )
    stop_id = int(
        conn.execute(
            insert(production_stops)
            .values(
                enterprise_id=enterprise_id,
                outlet_id=outlet_id,
                start_at=start_at,
                end_at=end_at,
                reason=reason,
                state="submitted",
                submitted_by=by,
                submitted_at=now,
            )
            .returning(_s.id)
        ).scalar_one()
    )
    submit_row(conn, production_stops, stop_id, kind="production_stop", now=now, columns=STOP_IDENTITY)
    data = {"start_at": start_at.isoformat(), "end_at": end_at.isoformat()}
    _journal(conn, stop_id, "submitted", now, reason, data, by, now)
    return get_stop(conn, stop_id)


# ---- moving ----


def _locked(conn: Connection, stop_id: int) -> dict[str, Any]:
    row = conn.execute(select(production_stops).where(_s.id == stop_id).with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"no production stop {stop_id}")
    return dict(row)


def _move(
    conn: Connection,
    current: Mapping[str, Any],
    event: StopEvent,
    *,
    at: datetime,
    comment: str,
    data: Mapping[str, Any],
    by: str,
    now: datetime,
    changes: Mapping[str, Any],
) -> dict[str, Any]:
    stop_id, state = int(current["id"]), cast(StopState, current["state"])
    values = {**changes, "state": next_stop_state(state, event)}
    done = conn.execute(
        update(production_stops).where(and_(_s.id == stop_id, _s.state == state)).values(**values)
    ).rowcount
    if done != 1:  # only under a concurrent change (SQLite has no row lock): the caller reloads
        raise Conflict(f"production stop {stop_id} changed while this was recorded; reload it and try again")
    _journal(conn, stop_id, event, at, comment, data, by, now)
    return get_stop(conn, stop_id)


def decide(
    conn: Connection,
    stop_id: int,
    *,
    approve: bool,
    comment: str,
    by: str,
    now: datetime,
    policy: MarkPolicy | None = None,
) -> dict[str, Any]:
    """Approve (the shutdown marks are made and reviewed) or reject (a comment saying why is required) a
    waiting report. The caller checks that ``by`` is a regulator of the enterprise's region (or admin)."""
    current = _locked(conn, stop_id)
    event: StopEvent = "approved" if approve else "rejected"
    next_stop_state(current["state"], event)  # the state's refusal comes first
    by = actor(by)
    note = text_(
        comment, "the reason for rejecting it" if not approve else "the comment", required=not approve
    )
    data: dict[str, Any] = {}
    changes: dict[str, Any] = {"decided_by": by, "decided_at": now}
    if approve:
        by_device = _mark_stop(conn, current, note, by, now, policy or MarkPolicy())
        mark_ids = [m for entry in by_device for m in entry["mark_ids"]]
        data = {"mark_ids": mark_ids, "devices": by_device}
        changes["mark_id"] = mark_ids[0] if mark_ids else None
    return _move(conn, current, event, at=now, comment=note, data=data, by=by, now=now, changes=changes)


def _mark_stop(
    conn: Connection, stop: Mapping[str, Any], note: str, by: str, now: datetime, policy: MarkPolicy
) -> list[dict[str, Any]]:
    """The approved period's 停产 marks on every device of the outlet, each reviewed approved."""
    widened = replace(policy, max_future=max(policy.max_future, stop["end_at"] - now))
    reason = f"停产 #{stop['id']}: {stop['reason']}"[:2000]
    review = note or f"production stop {stop['id']} approved"
    out: list[dict[str, Any]] = []
    for device in outlet_devices(conn, stop["outlet_id"]):
        ids: list[int] = []
        for start, end in spans(stop["start_at"], stop["end_at"], policy):
            draft = MarkDraft(None, start, end, STOP_MARK_CODE, reason, MARK_SOURCE)
            mark = create_mark(conn, device["id"], draft, created_by=by, now=now, policy=widened)
            review_mark(conn, mark["id"], decision="approved", note=review[:2000], reviewed_by=by, now=now)
            ids.append(int(mark["id"]))
        out.append({"device_id": device["id"], "mark_ids": ids})
    return out


def stop_marks(conn: Connection, stop_id: int) -> list[dict[str, Any]]:
    """The latest version of each mark the approval made (a withdrawal row once withdrawn), by device and
    start; empty before an approval."""
    approval = conn.execute(
        select(_e.data).where(_e.stop_id == stop_id, _e.event == "approved").order_by(_e.id).limit(1)
    ).scalar()
    out: list[dict[str, Any]] = []
    for mark_id in (approval or {}).get("mark_ids", []):
        row = conn.execute(select(marks).where(marks.c.id == mark_id)).mappings().one()
        while True:
            later = conn.execute(select(marks).where(marks.c.supersedes_id == row["id"])).mappings().first()
            if later is None:
                break
            row = later
        out.append(dict(row))
    return sorted(out, key=lambda m: (m["device_id"], m["start_at"], m["id"]))


def withdraw(
    conn: Connection,
    stop_id: int,
    *,
    comment: str,
    by: str,
    now: datetime,
    policy: MarkPolicy | None = None,
) -> dict[str, Any]:
    """The enterprise withdraws its report: while it waits, or once approved as long as the stop has not
    started (its marks are withdrawn)."""
    current = _locked(conn, stop_id)
    next_stop_state(current["state"], "withdrawn")
    if current["state"] == "approved" and now >= current["start_at"]:
        raise Conflict(
            f"production stop {stop_id} began {_china(current['start_at'])}: an approved stop is withdrawn "
            "only before it starts; record the restart instead"
        )
    by = actor(by)
    note = text_(comment, "the comment", required=False)
    withdrawn: list[int] = []
    for mark in stop_marks(conn, stop_id):
        if mark["action"] == "mark":
            why = f"production stop {stop_id} withdrawn" + (f": {note}" if note else "")
            row = withdraw_mark(
                conn, mark["id"], reason=why[:2000], source=MARK_SOURCE, created_by=by, now=now,
                policy=policy or MarkPolicy(),
            )  # fmt: skip
            withdrawn.append(int(row["id"]))
    data = {"withdrawn_marks": withdrawn} if withdrawn else {}
    return _move(conn, current, "withdrawn", at=now, comment=note, data=data, by=by, now=now, changes={})


def restarted(
    conn: Connection,
    stop_id: int,
    *,
    at: datetime,
    comment: str = "",
    by: str,
    now: datetime,
    policy: MarkPolicy | None = None,
) -> dict[str, Any]:
    """Record the restart of an approved stop (开机恢复生产) at ``at``: after the start, not in the future.
    A restart before the approved end shortens the marks to it (see the module doc)."""
    current = _locked(conn, stop_id)
    next_stop_state(current["state"], "restarted")
    at = aware(at, "the restart")
    if at > now:
        raise InvalidInput(f"the restart {_china(at)} is in the future; record it once it has happened")
    if at <= current["start_at"]:
        raise InvalidInput(
            f"the restart {_china(at)} must be after the stop's start {_china(current['start_at'])}; a stop "
            "that did not happen is withdrawn before it starts"
        )
    by = actor(by)
    note = text_(comment, "the comment", required=False)
    data: dict[str, Any] = {"overran": at > current["end_at"]}
    if at < current["end_at"]:
        data |= _shorten(conn, current, at, by, now, policy or MarkPolicy())
    return _move(
        conn,
        current,
        "restarted",
        at=at,
        comment=note,
        data=data,
        by=by,
        now=now,
        changes={"restarted_at": at},
    )


def _shorten(
    conn: Connection, stop: Mapping[str, Any], at: datetime, by: str, now: datetime, policy: MarkPolicy
) -> dict[str, list[int]]:
    shortened: list[int] = []
    withdrawn: list[int] = []
    why = f"停产 #{stop['id']}: restarted {_china(at)}, before the approved end"
    for mark in stop_marks(conn, stop["id"]):
        if mark["action"] != "mark" or mark["end_at"] <= at:
            continue
        if mark["start_at"] >= at:
            row = withdraw_mark(
                conn, mark["id"], reason=why, source=MARK_SOURCE, created_by=by, now=now, policy=policy
            )
            withdrawn.append(int(row["id"]))
            continue
        draft = MarkDraft(mark["factor"], mark["start_at"], at, mark["code"], mark["reason"], MARK_SOURCE)
        row = supersede_mark(conn, mark["id"], draft, created_by=by, now=now, policy=policy)
        # a part of an approved period is approved: the shortened version carries the approval over
        note = f"part of production stop {stop['id']} approved by {stop['decided_by']}"
        review_mark(conn, row["id"], decision="approved", note=note, reviewed_by=SYSTEM, now=now)
        shortened.append(int(row["id"]))
    return {"shortened_marks": shortened, "withdrawn_marks": withdrawn}


# ---- the view ----


def stop_view(conn: Connection, stop_id: int, now: datetime, *, check_within_days: int) -> dict[str, Any]:
    """The report, its journal, its marks, the outlet's devices, the restart check and the quarter note."""
    stop = get_stop(conn, stop_id)
    devs = outlet_devices(conn, stop["outlet_id"])
    return {
        "stop": stop,
        "events": stop_events_of(conn, stop_id),
        "marks": stop_marks(conn, stop_id),
        "devices": devs,
        "restart_check": restart_check(conn, stop, devs, now, timedelta(days=check_within_days)),
        "quarter_note": quarter_note(stop),
    }
