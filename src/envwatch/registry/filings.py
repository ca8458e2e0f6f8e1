"""Filings (备案): acceptance, filing and change filings, their steps, attachments and deadline status.

Theory of operation
-------------------
A filing row records one event at an installation: an acceptance (验收), a filing (备案), a major
change (重大变更), a replaced gas analyser core part (核心部件更换) or a change of filed content
(备案内容变更). ``event_at`` is what a deadline counts from. What was done afterwards is recorded as
``filing_steps`` rows, which the database keeps append-only: a step is never edited, a mistake stays
visible next to whatever is recorded after it.

:data:`KIND_RULES` is the one table saying, per kind, which deadline rule applies (SX-14, SX-15 in
:mod:`envwatch.registry.deadlines`) and which step meets it. The status of a filing at ``now`` is

* ``none``: the kind has no deadline (acceptance, filing: the steps only record the dates);
* ``due`` / ``met`` / ``overdue``: from :func:`~envwatch.registry.deadlines.deadline_status`;
* ``withdrawn``: a ``withdrawn`` step closed the filing before its deadline passed (no finding);
* ``unknown``: the working-day calendar does not cover the deadline's year (``problem`` says what to
  set); only in lists and details, :func:`filing_status` raises instead.

Invariants:

* the **first recorded** meeting step counts: a later step of the same name (even one claiming an
  earlier ``done_at``) never moves ``met_at``, so a late filing cannot be turned into a timely one by
  recording the duty again with a back-dated time;
* a step's ``done_at`` is never after the moment it is recorded, and a meeting step's ``done_at`` is
  never before ``event_at`` (the duty cannot be met before the event that creates it);
* after ``withdrawn`` no further step is accepted (the filing is closed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from envwatch.core.blobs import BlobStore
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.workdays import CalendarNotCovered, WorkdayCalendar
from envwatch.registry.attachments import add_attachment, get_attachment, list_attachments
from envwatch.registry.deadlines import (
    Deadline,
    deadline_status,
    gas_core_part_debug_deadline,
    major_change_deadline,
    refiling_deadline,
)
from envwatch.registry.schema import devices, enterprises, filing_steps, filings, outlets

DeadlineRule = Callable[[datetime, WorkdayCalendar], Deadline]


@dataclass(frozen=True, slots=True)
class KindRule:
    label: str  # the Chinese term shown to users
    deadline: DeadlineRule | None  # None: the kind only records dates, no deadline finding
    met_by: str | None  # the step whose done_at meets the deadline
    gas_only: bool = False  # only for gas (废气) outlets / devices


# kind → (deadline rule, step that meets it). The one place that ties filings to SX-14 / SX-15.
KIND_RULES: dict[str, KindRule] = {
    "acceptance": KindRule("验收", None, None),
    "filing": KindRule("备案", None, None),
    # SX-14: reconnection (联网) is the last of install, debug, simple acceptance, filing, reconnection,
    # so the day it is done is the day everything is back.
    "major_change": KindRule("重大变更", lambda at, _cal: major_change_deadline(at), "reconnected"),
    "gas_core_part": KindRule(
        "核心部件更换", lambda at, _cal: gas_core_part_debug_deadline(at), "debug_tested", gas_only=True
    ),
    # SX-15: re-file (重新备案) within 5 working days after the change.
    "content_change": KindRule("备案内容变更", refiling_deadline, "filed"),
}

STEPS: dict[str, str] = {
    "filed": "已备案",
    "accepted": "验收通过 (incl. 简易验收)",
    "debug_tested": "调试检测完成",
    "reconnected": "已联网",
    "withdrawn": "撤回 (closes the filing)",
}
WITHDRAWN = "withdrawn"
STATUSES = ("none", "due", "met", "overdue", "withdrawn", "unknown")

_MAX_TITLE = 300
_MAX_NAME = 100


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{name} must be a time-zone aware datetime, got naive {moment.isoformat()}")


def _calendar_gap(exc: CalendarNotCovered) -> InvalidInput:
    # CalendarNotCovered is a 500-class configuration error by default; for a filing it means "this
    # deadline cannot be computed yet", which the user can act on, so it travels as 422 with its text.
    return InvalidInput(f"deadline cannot be computed: {exc.message}")


# --- creating ----------------------------------------------------------------------------------------


def create_filing(
    engine: Engine,
    *,
    kind: str,
    enterprise_id: int,
    title: str,
    event_at: datetime,
    created_by: str,
    now: datetime,
    outlet_id: int | None = None,
    device_id: int | None = None,
    notes: str = "",
) -> dict[str, Any]:
    """Record a filing (备案记录). ``event_at`` may lie ahead: SX-14 asks to file *before* a major change.

    The outlet (排放口) must belong to the enterprise and the device sit on that outlet; a core-part
    replacement (核心部件更换) needs a gas outlet or device, since SX-14's 72 h test is for gas analysers.
    """
    _require_aware(event_at, "event_at")
    _require_aware(now, "now")
    rule = KIND_RULES.get(kind)
    if rule is None:
        raise InvalidInput(f"kind must be one of {', '.join(KIND_RULES)}, not {kind!r}")
    title = title.strip()
    if not title or len(title) > _MAX_TITLE:
        raise InvalidInput(f"title must be 1-{_MAX_TITLE} characters")
    with engine.begin() as conn:
        if conn.execute(select(enterprises.c.id).where(enterprises.c.id == enterprise_id)).first() is None:
            raise InvalidInput(f"no enterprise (排污单位) with id {enterprise_id}")
        kinds: list[str] = []  # gas | water of the outlet and device named
        if outlet_id is not None:
            outlet = conn.execute(select(outlets).where(outlets.c.id == outlet_id)).mappings().first()
            if outlet is None:
                raise InvalidInput(f"no outlet (排放口) with id {outlet_id}")
            if outlet["enterprise_id"] != enterprise_id:
                raise InvalidInput(f"outlet {outlet_id} belongs to enterprise {outlet['enterprise_id']}")
            kinds.append(outlet["kind"])
        if device_id is not None:
            device = conn.execute(select(devices).where(devices.c.id == device_id)).mappings().first()
            if device is None:
                raise InvalidInput(f"no device with id {device_id}")
            if outlet_id is not None and device["outlet_id"] != outlet_id:
                raise InvalidInput(f"device {device_id} does not sit on outlet {outlet_id}")
            if device["outlet_id"] is not None:
                owner = conn.execute(
                    select(outlets.c.enterprise_id).where(outlets.c.id == device["outlet_id"])
                ).scalar_one()
                if owner != enterprise_id:
                    raise InvalidInput(f"device {device_id} sits on an outlet of enterprise {owner}")
            kinds.append(device["kind"])
        if rule.gas_only:
            if not kinds:
                raise InvalidInput(f"a {kind} filing ({rule.label}) must name its gas outlet or device")
            if any(k != "gas" for k in kinds):
                raise InvalidInput(
                    f"a {kind} filing ({rule.label}) is for gas (废气) analysers only (SX-14 72 h debug "
                    f"test); the outlet or device named is {'/'.join(sorted(set(kinds)))}"
                )
        row = {
            "kind": kind,
            "enterprise_id": enterprise_id,
            "outlet_id": outlet_id,
            "device_id": device_id,
            "title": title,
            "event_at": event_at,
            "notes": notes,
            "created_by": created_by[:_MAX_NAME],
            "created_at": now,
        }
        new_id = conn.execute(insert(filings).values(**row)).inserted_primary_key[0]  # type: ignore[index]
    return {"id": new_id, **row}


def add_step(
    engine: Engine,
    filing_id: int,
    *,
    step: str,
    done_at: datetime,
    recorded_by: str,
    now: datetime,
    note: str = "",
) -> dict[str, Any]:
    """Append a step (办理环节) to a filing. ``done_at`` may be before ``now`` (entered afterwards).

    Refused: an unknown step, a ``done_at`` in the future, a meeting step dated before the event, and
    any step after ``withdrawn``. Recording the meeting step twice is allowed (it is a fact someone
    entered) but the first recorded one keeps counting.
    """
    _require_aware(done_at, "done_at")
    _require_aware(now, "now")
    if step not in STEPS:
        raise InvalidInput(f"step must be one of {', '.join(STEPS)}, not {step!r}")
    if done_at > now:
        raise InvalidInput(
            f"done_at {done_at.isoformat()} is in the future (now is {now.isoformat()}): "
            "record a step once it is done"
        )
    with engine.begin() as conn:
        # FOR UPDATE (PostgreSQL; SQLite writers are serialised anyway) so that two concurrent steps
        # cannot both pass the "not withdrawn" check below.
        filing = (
            conn.execute(select(filings).where(filings.c.id == filing_id).with_for_update())
            .mappings()
            .first()
        )
        if filing is None:
            raise NotFound(f"no filing with id {filing_id}")
        rule = KIND_RULES[filing["kind"]]
        if step == rule.met_by and done_at < filing["event_at"]:
            raise InvalidInput(
                f"step {step} done at {done_at.isoformat()} is before the filing's event_at "
                f"{filing['event_at'].isoformat()}: the duty starts with the event"
            )
        withdrawn = conn.execute(
            select(filing_steps.c.id).where(
                filing_steps.c.filing_id == filing_id, filing_steps.c.step == WITHDRAWN
            )
        ).first()
        if withdrawn is not None:
            raise Conflict(f"filing {filing_id} was withdrawn: no further steps are accepted")
        row = {
            "filing_id": filing_id,
            "step": step,
            "done_at": done_at,
            "note": note,
            "recorded_by": recorded_by[:_MAX_NAME],
            "recorded_at": now,
        }
        new_id = conn.execute(insert(filing_steps).values(**row)).inserted_primary_key[0]  # type: ignore[index]
    return {"id": new_id, **row}


# --- status ------------------------------------------------------------------------------------------


def compute_status(
    filing: dict[str, Any], steps: list[dict[str, Any]], now: datetime, calendar: WorkdayCalendar
) -> dict[str, Any]:
    """Deadline status of one filing at ``now`` from its row and its steps (pure; raises
    :class:`CalendarNotCovered` when a working-day deadline runs into an unknown year)."""
    _require_aware(now, "now")
    rule = KIND_RULES[filing["kind"]]
    ordered = sorted(steps, key=lambda s: s["id"])  # recording order: the first recorded counts
    # Steps done after ``now`` are not known at ``now`` (a report on the past must not see the future).
    withdrawn_at = next(
        (s["done_at"] for s in ordered if s["step"] == WITHDRAWN and s["done_at"] <= now), None
    )
    out: dict[str, Any] = {
        "status": "none",
        "requirement": None,
        "rule": None,
        "event_at": filing["event_at"],
        "due_at": None,
        "met_at": None,
        "withdrawn_at": withdrawn_at,
        "met_by": rule.met_by,
        "problem": None,
    }
    if rule.deadline is None or rule.met_by is None:
        if withdrawn_at is not None:
            out["status"] = "withdrawn"
        return out
    deadline = rule.deadline(filing["event_at"], calendar)
    met_at = next((s["done_at"] for s in ordered if s["step"] == rule.met_by), None)
    status = deadline_status(deadline, now, met_at).value
    if withdrawn_at is not None:
        # A withdrawal closes the filing without a finding, unless the deadline had already been
        # missed when it came: withdrawing late must not erase an overdue finding.
        at_withdrawal = deadline_status(deadline, withdrawn_at, met_at).value
        status = "overdue" if at_withdrawal == "overdue" else "withdrawn"
    out.update(
        status=status,
        requirement=deadline.requirement,
        rule=deadline.rule,
        due_at=deadline.due_at,
        met_at=met_at if met_at is not None and met_at <= now else None,
    )
    return out


def _safe_status(
    filing: dict[str, Any], steps: list[dict[str, Any]], now: datetime, calendar: WorkdayCalendar
) -> dict[str, Any]:
    # In lists and details one filing near the year end must not hide every other one: its status is
    # "unknown" with the reason, and the rest of the record stays readable.
    try:
        return compute_status(filing, steps, now, calendar)
    except CalendarNotCovered as exc:
        rule = KIND_RULES[filing["kind"]]
        return {
            "status": "unknown",
            "requirement": None,
            "rule": None,
            "event_at": filing["event_at"],
            "due_at": None,
            "met_at": None,
            "withdrawn_at": None,
            "met_by": rule.met_by,
            "problem": _calendar_gap(exc).message,
        }


def _filing_row(conn: Connection, filing_id: int) -> dict[str, Any]:
    row = conn.execute(select(filings).where(filings.c.id == filing_id)).mappings().first()
    if row is None:
        raise NotFound(f"no filing with id {filing_id}")
    return dict(row)


def _steps_of(conn: Connection, filing_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    by_filing: dict[int, list[dict[str, Any]]] = {i: [] for i in filing_ids}
    if filing_ids:
        query = (
            select(filing_steps).where(filing_steps.c.filing_id.in_(filing_ids)).order_by(filing_steps.c.id)
        )
        for row in conn.execute(query).mappings():
            by_filing[row["filing_id"]].append(dict(row))
    return by_filing


def filing_status(engine: Engine, filing_id: int, now: datetime, calendar: WorkdayCalendar) -> dict[str, Any]:
    """Deadline status of a filing at ``now``: status, due_at, event_at, requirement clause, rule, met_at.

    Raises :class:`InvalidInput` (422) naming the year and the settings to set when the working-day
    calendar (工作日) cannot answer, and :class:`NotFound` for an unknown filing.
    """
    with engine.connect() as conn:
        filing = _filing_row(conn, filing_id)
        steps = _steps_of(conn, [filing_id])[filing_id]
    try:
        return compute_status(filing, steps, now, calendar)
    except CalendarNotCovered as exc:
        raise _calendar_gap(exc) from exc


def get_filing(engine: Engine, filing_id: int, now: datetime, calendar: WorkdayCalendar) -> dict[str, Any]:
    """One filing with its steps (in recording order), its attachments (附件) and its status at ``now``."""
    with engine.connect() as conn:
        filing = _filing_row(conn, filing_id)
        steps = _steps_of(conn, [filing_id])[filing_id]
        files = list_attachments(conn, "filing", filing_id)
    return {
        **filing,
        "steps": steps,
        "attachments": files,
        "deadline": _safe_status(filing, steps, now, calendar),
    }


def list_filings(
    engine: Engine,
    now: datetime,
    calendar: WorkdayCalendar,
    *,
    enterprise_id: int | None = None,
    outlet_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Filings, newest event first, each with its status at ``now``; ``status`` filters on that status."""
    if kind is not None and kind not in KIND_RULES:
        raise InvalidInput(f"kind must be one of {', '.join(KIND_RULES)}, not {kind!r}")
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    f = filings.c
    query = select(filings).order_by(f.event_at.desc(), f.id.desc())
    if enterprise_id is not None:
        query = query.where(f.enterprise_id == enterprise_id)
    if outlet_id is not None:
        query = query.where(f.outlet_id == outlet_id)
    if kind is not None:
        query = query.where(f.kind == kind)
    if status is None:
        query = query.limit(limit)  # with a status filter the limit applies after filtering, below
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
        steps = _steps_of(conn, [r["id"] for r in rows])
    out: list[dict[str, Any]] = []
    for row in rows:
        state = _safe_status(row, steps[row["id"]], now, calendar)
        if status is None or state["status"] == status:
            out.append({**row, "deadline": state})
            if len(out) >= limit:
                break
    return out


# --- attachments -------------------------------------------------------------------------------------


def attach_to_filing(
    engine: Engine,
    blobs: BlobStore,
    filing_id: int,
    *,
    filename: str,
    content: bytes,
    content_type: str,
    added_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Store a file (附件) and tie it to the filing; :class:`NotFound` for an unknown filing."""
    with engine.begin() as conn:
        _filing_row(conn, filing_id)  # checked first: no file is stored for a filing that is not there
        return add_attachment(
            conn,
            blobs,
            owner_kind="filing",
            owner_id=filing_id,
            filename=filename,
            content=content,
            content_type=content_type,
            added_by=added_by[:_MAX_NAME],
            now=now,
        )


def read_filing_attachment(
    engine: Engine, blobs: BlobStore, filing_id: int, attachment_id: int
) -> tuple[dict[str, Any], bytes]:
    """An attachment of a filing and its bytes, checked against the stored SHA-256 by the blob store."""
    with engine.connect() as conn:
        _filing_row(conn, filing_id)
        row = get_attachment(conn, attachment_id)
    if row is None or row["owner_kind"] != "filing" or row["owner_id"] != filing_id:
        raise NotFound(f"filing {filing_id} has no attachment {attachment_id}")
    return row, blobs.get(row["sha256"])
