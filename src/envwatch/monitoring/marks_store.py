"""Storing and reading marks (标记): create, supersede, withdraw, review, history, and the resolved view.

Rows are only ever inserted (``marks`` and ``mark_reviews`` are append-only in the database itself).
The rules live in :mod:`envwatch.monitoring.marks`; this module runs them against the stored rows, in
one transaction per change. Concurrency: two corrections of the same mark race on the unique
``supersedes_id``; the loser gets :class:`~envwatch.core.errors.Conflict`, never a forked chain.

:func:`effective_marks` is what validity and rates consume: the marks in force over a period, as they
stood at ``as_of``, resolved to :class:`~envwatch.monitoring.marking.MarkSpan`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, select
from sqlalchemy.exc import IntegrityError

from envwatch.core.blobs import BlobStore
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.settings import Settings
from envwatch.monitoring.marking import MarkEffect, MarkSpan
from envwatch.monitoring.marks import (
    DECISIONS,
    MarkDraft,
    MarkPolicy,
    check_can_change,
    check_source,
    clean_reason,
    effect_in_force,
    is_late,
    validate_draft,
)
from envwatch.monitoring.marks_schema import mark_reviews, marks
from envwatch.registry.attachments import add_attachment, list_attachments
from envwatch.registry.schema import device_factors, devices

__all__ = [
    "add_mark_attachment",
    "create_mark",
    "effective_marks",
    "get_mark",
    "list_marks",
    "mark_attachments",
    "mark_history",
    "mark_reviews_of",
    "review_mark",
    "supersede_mark",
    "withdraw_mark",
]

_NOTE_MAX = 2000


def _check_device(conn: Connection, device_id: int, factor: str | None) -> None:
    if conn.execute(select(devices.c.id).where(devices.c.id == device_id)).first() is None:
        raise NotFound(f"no device with id {device_id}")
    if factor is None:
        return
    # factors are checked against the registry only where the device has its factors registered
    # (devices imported from a plain MN list have none, and their marks must still be possible)
    registered = set(
        conn.execute(select(device_factors.c.factor).where(device_factors.c.device_id == device_id)).scalars()
    )
    if registered and factor not in registered:
        raise InvalidInput(
            f"device {device_id} has no factor {factor}: registered are {', '.join(sorted(registered))}"
        )


def _insert(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    try:
        # PostgreSQL aborts the whole transaction on an error: a savepoint keeps the caller's usable after a
        # lost race. Not on SQLite: pysqlite opens no transaction before a SAVEPOINT, so the savepoint would
        # become the transaction and its RELEASE would commit the caller's work half-way; SQLite keeps the
        # transaction usable after a failed INSERT anyway.
        savepoint = conn.begin_nested() if conn.dialect.name == "postgresql" else contextlib.nullcontext()
        with savepoint:
            new_id = conn.execute(insert(marks).values(**row)).inserted_primary_key[0]  # type: ignore[index]
    except IntegrityError:
        if row["supersedes_id"] is not None:
            later = _superseded_by(conn, row["supersedes_id"])
            if later is not None:
                check_can_change(row["supersedes_id"], "mark", later)
        raise
    submit_row(conn, marks, new_id, kind="mark", now=row["created_at"])  # marks, corrections, withdrawals
    return {"id": new_id, **row}


def create_mark(
    conn: Connection,
    device_id: int,
    draft: MarkDraft,
    *,
    created_by: str,
    now: datetime,
    policy: MarkPolicy,
) -> dict[str, Any]:
    """Record a new mark (in ``conn``'s transaction); late ones are accepted and flagged."""
    draft = validate_draft(draft, now=now, policy=policy)
    _check_device(conn, device_id, draft.factor)
    return _insert(conn, _row(device_id, draft, None, "mark", created_by, now, policy))


def _row(
    device_id: int,
    draft: MarkDraft,
    supersedes_id: int | None,
    action: str,
    created_by: str,
    now: datetime,
    policy: MarkPolicy,
) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "factor": draft.factor,
        "start_at": draft.start,
        "end_at": draft.end,
        "code": draft.code,
        "reason": draft.reason,
        "source": draft.source,
        "supersedes_id": supersedes_id,
        "action": action,
        "late": is_late(draft.end, now, policy),
        "created_by": created_by,
        "created_at": now,
    }


def get_mark(conn: Connection, mark_id: int) -> dict[str, Any]:
    row = conn.execute(select(marks).where(marks.c.id == mark_id)).mappings().first()
    if row is None:
        raise NotFound(f"no mark with id {mark_id}")
    return dict(row)


def _superseded_by(conn: Connection, mark_id: int) -> tuple[int, datetime] | None:
    row = conn.execute(select(marks.c.id, marks.c.created_at).where(marks.c.supersedes_id == mark_id)).first()
    return None if row is None else (row[0], row[1])


def _latest_version(conn: Connection, mark_id: int, what: str) -> dict[str, Any]:
    old = get_mark(conn, mark_id)
    check_can_change(mark_id, old["action"], _superseded_by(conn, mark_id), what=what)
    return old


def supersede_mark(
    conn: Connection,
    mark_id: int,
    draft: MarkDraft,
    *,
    created_by: str,
    now: datetime,
    policy: MarkPolicy,
) -> dict[str, Any]:
    """A new version of mark ``mark_id`` (range, code, reason or factor may change; the device stays).

    The new version has no reviews: a changed 停运 mark needs approving again."""
    old = _latest_version(conn, mark_id, "supersede")
    draft = validate_draft(draft, now=now, policy=policy)
    _check_device(conn, old["device_id"], draft.factor)
    return _insert(conn, _row(old["device_id"], draft, mark_id, "mark", created_by, now, policy))


def withdraw_mark(
    conn: Connection,
    mark_id: int,
    *,
    reason: str,
    source: str,
    created_by: str,
    now: datetime,
    policy: MarkPolicy,
) -> dict[str, Any]:
    """Cancel mark ``mark_id``: a ``withdraw`` row that supersedes it (same device, range and code)."""
    old = _latest_version(conn, mark_id, "withdraw")
    check_source(source)
    # the withdrawal repeats the range and code it cancels; the time limits are not applied again (an old
    # mark must stay withdrawable), and ``late`` says whether the withdrawal itself came after the deadline
    draft = MarkDraft(
        old["factor"], old["start_at"], old["end_at"], old["code"], clean_reason(reason), source
    )
    return _insert(conn, _row(old["device_id"], draft, mark_id, "withdraw", created_by, now, policy))


def review_mark(
    conn: Connection, mark_id: int, *, decision: str, note: str, reviewed_by: str, now: datetime
) -> dict[str, Any]:
    """Approve or reject (审核) the latest version of a mark; the latest review decides."""
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    note = note.strip()
    if len(note) > _NOTE_MAX:
        raise InvalidInput(f"the note is {len(note)} characters; at most {_NOTE_MAX}")
    if decision == "rejected" and not note:
        raise InvalidInput("a rejection needs a note saying why")
    _latest_version(conn, mark_id, "review")
    row = {
        "mark_id": mark_id,
        "decision": decision,
        "note": note,
        "reviewed_by": reviewed_by,
        "reviewed_at": now,
    }
    new_id = conn.execute(insert(mark_reviews).values(**row)).inserted_primary_key[0]  # type: ignore[index]
    submit_row(conn, mark_reviews, new_id, kind="mark_review", now=now)
    return {"id": new_id, **row}


def mark_reviews_of(conn: Connection, mark_id: int) -> list[dict[str, Any]]:
    r = mark_reviews.c
    return [
        dict(x)
        for x in conn.execute(select(mark_reviews).where(r.mark_id == mark_id).order_by(r.id)).mappings()
    ]


def mark_history(conn: Connection, mark_id: int) -> list[dict[str, Any]]:
    """The whole chain ``mark_id`` belongs to, oldest first (first mark … its corrections … withdrawal)."""
    current = get_mark(conn, mark_id)
    chain = [current]
    while chain[0]["supersedes_id"] is not None:
        chain.insert(0, get_mark(conn, chain[0]["supersedes_id"]))
    while True:
        later = conn.execute(select(marks).where(marks.c.supersedes_id == chain[-1]["id"])).mappings().first()
        if later is None:
            return chain
        chain.append(dict(later))


def list_marks(
    conn: Connection,
    device_id: int | None,
    start: datetime,
    end: datetime,
    *,
    include_superseded: bool = False,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Marks overlapping [start, end), in start order; by default only those in force now (neither
    superseded nor withdrawals). Each row says ``superseded_by`` (an id or None)."""
    m = marks.c
    later = marks.alias("later")
    query = (
        select(marks, later.c.id.label("superseded_by"))
        .outerjoin(later, later.c.supersedes_id == m.id)
        .where(m.start_at < end, m.end_at > start)
        .order_by(m.start_at, m.id)
        .limit(limit)
    )
    if device_id is not None:
        query = query.where(m.device_id == device_id)
    if not include_superseded:
        query = query.where(later.c.id.is_(None), m.action == "mark")
    return [dict(r) for r in conn.execute(query).mappings()]


def effective_marks(
    conn: Connection,
    device_ids: Collection[int] | None,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime | None = None,
    require_approval: bool = True,
) -> list[MarkSpan]:
    """The marks in force over [start, end), resolved (what validity and rates use), in device and start order.

    - in force: a ``mark`` row created at or before ``as_of`` and not superseded (or withdrawn) by a row
      created at or before ``as_of``; ``as_of`` None means every stored row (the view now). With
      ``as_of`` a rate is recomputed as it stood at that time (即时 vs 补全 rates);
    - reviews count when given at or before ``as_of``; the effect follows
      :func:`~envwatch.monitoring.marks.effect_in_force`: a 停运 mark not (yet) approved is INFO when
      ``require_approval``, a rejected mark is INFO;
    - device_ids None: every device. Spans keep the mark's full range (not clipped to [start, end)).
    """
    m = marks.c
    later = marks.alias("later")
    superseded = [later.c.supersedes_id == m.id]
    query = select(marks).where(m.action == "mark", m.start_at < end, m.end_at > start)
    if as_of is not None:
        superseded.append(later.c.created_at <= as_of)
        query = query.where(m.created_at <= as_of)
    query = query.where(~exists().where(and_(*superseded))).order_by(m.device_id, m.start_at, m.id)
    if device_ids is not None:
        if not device_ids:
            return []
        query = query.where(m.device_id.in_(list(device_ids)))
    rows = list(conn.execute(query).mappings())
    decisions = _latest_decisions(conn, [r["id"] for r in rows], as_of)
    return [
        MarkSpan(
            mark_id=r["id"],
            device_id=r["device_id"],
            factor=r["factor"],
            start=r["start_at"],
            end=r["end_at"],
            code=r["code"],
            effect=effect_in_force(r["code"], decisions.get(r["id"]), require_approval=require_approval),
            late=bool(r["late"]),
        )
        for r in rows
    ]


def _latest_decisions(conn: Connection, mark_ids: list[int], as_of: datetime | None) -> dict[int, str]:
    out: dict[int, str] = {}
    r = mark_reviews.c
    for chunk in range(0, len(mark_ids), 500):  # bounded IN lists (SQLite's variable limit)
        query = (
            select(r.mark_id, r.decision).where(r.mark_id.in_(mark_ids[chunk : chunk + 500])).order_by(r.id)
        )
        if as_of is not None:
            query = query.where(r.reviewed_at <= as_of)
        for mark_id, decision in conn.execute(query):
            out[mark_id] = decision  # ascending id: the last one seen is the latest review
    return out


def add_mark_attachment(
    conn: Connection,
    blobs: BlobStore,
    mark_id: int,
    *,
    filename: str,
    content: bytes,
    content_type: str,
    added_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Attach a file (proof of 停运, a maintenance record …) to a mark; any version may get one."""
    get_mark(conn, mark_id)
    return add_attachment(
        conn,
        blobs,
        owner_kind="mark",
        owner_id=mark_id,
        filename=filename,
        content=content,
        content_type=content_type,
        added_by=added_by,
        now=now,
    )


def mark_attachments(conn: Connection, mark_id: int) -> list[dict[str, Any]]:
    return list_attachments(conn, "mark", mark_id)


def deciding_marks(
    conn: Connection,
    settings: Settings,
    device_ids: Collection[int] | None,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime | None = None,
) -> list[MarkSpan]:
    """The marks as validity, the explanations and the rates use them — one view everywhere.

    ``effective_marks`` with the approval rule of the settings (``rates_shutdown_needs_approval``), and
    late marks (entered after the marking deadline) turned into information unless ``late_marks_decide``:
    they are accepted and shown, but after the deadline the automatic flags stand (legacy national rule,
    RENREN-ETR). Their code is kept, so a late 故障 mark still counts as a fault."""
    spans = effective_marks(
        conn, device_ids, start, end, as_of=as_of, require_approval=settings.rates_shutdown_needs_approval
    )
    if settings.late_marks_decide:
        return spans
    return [s._replace(effect=MarkEffect.INFO) if s.late else s for s in spans]
