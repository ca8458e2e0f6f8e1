"""Emergency plans (应急预案) and drills (应急演练) of an operator (CS-4.2.3: plans per event type, at least one
drill a year, with records).

Theory of operation
-------------------
- A plan is written for one event type (:data:`EVENT_TYPES`). ``emergency_plans`` is append-only: a revision
  is a new row for the same operator and event type with a new version, and the newest row (by recording
  order) is the **current** plan of that type. Older rows stay as the history (a drill cites the revision it
  was held under).
- A drill (:func:`add_drill`) is held under one plan revision on a China calendar day that is not in the
  future and not before that revision took effect, with the number of participants (at least 1) and the
  record of what was done and found (required). Photos and sign-in sheets are attachments (owner_kind
  ``drill``, the blob store); ``drills`` is append-only, attachments are added later as their own rows.
- :func:`drill_status` judges one calendar year: the drills held in it (a drill on 31 December counts for
  that year, one on 1 January for the next: the held day is a China date, so there is no time zone edge) and
  whether CS-4.2.3's "at least one drill a year" (:data:`DRILLS_PER_YEAR`) is met; and which named event types
  have no plan (``other`` is a catch-all, never required).

Everything takes ``now`` (DESIGN convention 6) and runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import Connection, func, insert, select

from envwatch.core.blobs import BlobStore
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.ledger_checks import actor, not_future, require_operator, text
from envwatch.operations.ledger_schema import drills, emergency_plans
from envwatch.registry.attachments import add_attachment, list_attachments

EVENT_TYPES: Final[tuple[str, ...]] = (
    "device_failure",
    "power_outage",
    "network_outage",
    "data_anomaly",
    "exceedance",
    "safety_accident",
    "natural_disaster",
    "other",
)
# the event types an operator is expected to have a plan for (``other`` is a catch-all)
REQUIRED_EVENT_TYPES: Final[tuple[str, ...]] = EVENT_TYPES[:-1]
DRILLS_PER_YEAR: Final = 1  # CS-4.2.3: at least one drill a year
BODY_MAX: Final = 100_000  # a plan's text
PARTICIPANTS_MAX: Final = 10_000
ATTACHMENT_KIND: Final = "drill"  # attachments.owner_kind of a drill's photos and sign-in sheets
_pl = emergency_plans.c
_d = drills.c


# ---- plans ----


def get_plan(conn: Connection, plan_id: int) -> dict[str, Any]:
    """One plan revision with ``current`` (it is the newest of its operator and event type)."""
    row = conn.execute(select(emergency_plans).where(_pl.id == plan_id)).mappings().first()
    if row is None:
        raise NotFound(f"no emergency plan with id {plan_id}")
    out = dict(row)
    newest = conn.execute(
        select(func.max(_pl.id)).where(
            _pl.operator_id == out["operator_id"], _pl.event_type == out["event_type"]
        )
    ).scalar()
    out["current"] = newest == out["id"]
    return out


def list_plans(
    conn: Connection,
    operator_ids: Collection[int] | None,
    *,
    event_type: str | None = None,
    current_only: bool = False,
) -> list[dict[str, Any]]:
    """Plan revisions of ``operator_ids`` (None: every operator), by operator, event type (in
    :data:`EVENT_TYPES` order) and newest first; each with ``current``."""
    if event_type is not None and event_type not in EVENT_TYPES:
        raise InvalidInput(f"event_type must be one of {', '.join(EVENT_TYPES)}; not {event_type!r}")
    newest = select(func.max(_pl.id).label("id")).group_by(_pl.operator_id, _pl.event_type).subquery("newest")
    query = select(emergency_plans, newest.c.id.is_not(None).label("current")).outerjoin(
        newest, newest.c.id == _pl.id
    )
    if operator_ids is not None:
        query = query.where(_pl.operator_id.in_(list(operator_ids)))
    if event_type is not None:
        query = query.where(_pl.event_type == event_type)
    if current_only:
        query = query.where(newest.c.id.is_not(None))
    rows = [dict(r) for r in conn.execute(query).mappings()]
    for r in rows:
        r["current"] = bool(r["current"])
    rows.sort(key=lambda r: (r["operator_id"], EVENT_TYPES.index(r["event_type"]), -r["id"]))
    return rows


def current_plans(conn: Connection, operator_id: int) -> list[dict[str, Any]]:
    """The current plan of each event type the operator has one for, in :data:`EVENT_TYPES` order."""
    return list_plans(conn, [operator_id], current_only=True)


def add_plan(
    conn: Connection,
    *,
    operator_id: int,
    event_type: str,
    title: str,
    version: str,
    effective_on: date,
    body: str,
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a plan, or a revision of the operator's plan for ``event_type`` (it becomes the current one).
    NotFound for an unknown operator; InvalidInput for an unknown event type, a missing or too long title,
    version or body, an effective day in the future; Conflict when that plan already has this version."""
    require_operator(conn, operator_id)
    if event_type not in EVENT_TYPES:
        raise InvalidInput(f"event_type must be one of {', '.join(EVENT_TYPES)}; not {event_type!r}")
    title = text(title, "the title", required=True, most=200)
    version = text(version, "the version", required=True, most=32)
    body = text(body, "the plan text", required=True, most=BODY_MAX)
    effective_on = not_future(effective_on, "the effective day", now)
    who = actor(recorded_by)
    same = conn.execute(
        select(_pl.id).where(
            _pl.operator_id == operator_id, _pl.event_type == event_type, _pl.version == version
        )
    ).first()
    if same is not None:
        raise Conflict(
            f"operator {operator_id}'s {event_type} plan already has version {version} (plan {same.id}): "
            "give a revision a new version"
        )
    new_id = conn.execute(
        insert(emergency_plans)
        .values(
            operator_id=operator_id,
            event_type=event_type,
            title=title,
            version=version,
            effective_on=effective_on,
            body=body,
            recorded_by=who,
            recorded_at=now,
        )
        .returning(_pl.id)
    ).scalar_one()
    return get_plan(conn, int(new_id))


# ---- drills ----


def _drill_query() -> Any:
    return select(
        drills,
        _pl.operator_id,
        _pl.event_type,
        _pl.title.label("plan_title"),
        _pl.version.label("plan_version"),
    ).join(emergency_plans, _pl.id == _d.plan_id)


def get_drill(conn: Connection, drill_id: int) -> dict[str, Any]:
    """One drill with its plan's operator, event type, title and version."""
    row = conn.execute(_drill_query().where(_d.id == drill_id)).mappings().first()
    if row is None:
        raise NotFound(f"no drill with id {drill_id}")
    return dict(row)


def list_drills(
    conn: Connection, operator_ids: Collection[int] | None, *, year: int | None = None
) -> list[dict[str, Any]]:
    """Drills of ``operator_ids`` (None: every operator), held in ``year`` when given, newest first."""
    query = _drill_query()
    if operator_ids is not None:
        query = query.where(_pl.operator_id.in_(list(operator_ids)))
    if year is not None:
        first, last = _year_bounds(year)
        query = query.where(_d.held_on >= first, _d.held_on <= last)
    query = query.order_by(_d.held_on.desc(), _d.id.desc())
    return [dict(r) for r in conn.execute(query).mappings()]


def _year_bounds(year: int) -> tuple[date, date]:
    if not 1900 <= year <= 9999:
        raise InvalidInput(f"year must be 1900-9999, not {year}")
    return date(year, 1, 1), date(year, 12, 31)


def add_drill(
    conn: Connection,
    plan_id: int,
    *,
    held_on: date,
    participants: int,
    summary: str,
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a drill held under plan revision ``plan_id``; returns the drill. NotFound for an unknown plan;
    InvalidInput for a day in the future or before the plan took effect, fewer than 1 participant (or more
    than the limit), a missing or too long summary."""
    plan = get_plan(conn, plan_id)
    held_on = not_future(held_on, "the drill day", now)
    if held_on < plan["effective_on"]:
        raise InvalidInput(
            f"the drill day {held_on.isoformat()} is before plan {plan_id} ({plan['version']}) took effect on "
            f"{plan['effective_on'].isoformat()}: record it under the revision in force that day"
        )
    if not 1 <= participants <= PARTICIPANTS_MAX:
        raise InvalidInput(f"participants must be 1-{PARTICIPANTS_MAX}, not {participants}")
    record = text(summary, "the drill record (what was done and found)", required=True)
    who = actor(recorded_by)
    new_id = conn.execute(
        insert(drills)
        .values(
            plan_id=plan_id,
            held_on=held_on,
            participants=participants,
            summary=record,
            recorded_by=who,
            recorded_at=now,
        )
        .returning(_d.id)
    ).scalar_one()
    return get_drill(conn, int(new_id))


def add_drill_attachment(
    conn: Connection,
    blobs: BlobStore,
    drill_id: int,
    *,
    filename: str,
    content: bytes,
    content_type: str,
    added_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Attach a photo or a sign-in sheet to a drill (the blob first, then the attachment row)."""
    get_drill(conn, drill_id)
    return add_attachment(
        conn,
        blobs,
        owner_kind=ATTACHMENT_KIND,
        owner_id=drill_id,
        filename=filename,
        content=content,
        content_type=content_type,
        added_by=added_by,
        now=now,
    )


def drill_attachments(conn: Connection, drill_id: int) -> list[dict[str, Any]]:
    return list_attachments(conn, ATTACHMENT_KIND, drill_id)


# ---- the year's status (CS-4.2.3) ----


@dataclass(frozen=True)
class DrillStatus:
    """One operator's year: the drills held in it (newest first), whether the yearly minimum is met, the
    current plans and the named event types without one."""

    operator_id: int
    year: int
    drills: list[dict[str, Any]]
    required: int
    met: bool
    plans: list[dict[str, Any]]
    missing_event_types: tuple[str, ...]


def drill_status(conn: Connection, operator_id: int, year: int) -> DrillStatus:
    """CS-4.2.3 for ``operator_id`` in calendar ``year`` (NotFound for an unknown operator)."""
    require_operator(conn, operator_id)
    held = list_drills(conn, [operator_id], year=year)
    plans = current_plans(conn, operator_id)
    covered = {p["event_type"] for p in plans}
    return DrillStatus(
        operator_id=operator_id,
        year=year,
        drills=held,
        required=DRILLS_PER_YEAR,
        met=len(held) >= DRILLS_PER_YEAR,
        plans=plans,
        missing_event_types=tuple(t for t in REQUIRED_EVENT_TYPES if t not in covered),
    )
