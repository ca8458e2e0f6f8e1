"""Correcting evidence by new rows (更正, DESIGN convention 5): staff certificates and manual monitoring results.

Theory of operation
-------------------
The tables corrected this way (``staff_certificates``, ``manual_results``) are append-only in the database
and carry ``supersedes_id``, ``withdrawn`` and ``reason`` next to ``recorded_by`` / ``recorded_at``:

- a **correction** is a new row with the right values, ``supersedes_id`` = the row it corrects and the
  ``reason`` (what was wrong);
- a **withdrawal** is a new row with ``withdrawn`` true that copies the withdrawn row's values (its columns
  are required) and gives the reason: the row is replaced by nothing (recorded by mistake).

Invariants:

- a row is corrected or withdrawn at most once: the unique constraint on ``supersedes_id`` backs the check
  against a concurrent second correction, whose author is told which row came first
  (:func:`insert_correction`); the versions of one thing form a chain and only its last row is corrected;
- a withdrawal is final (it is not corrected itself: record the thing again instead);
- **current** rows — neither superseded by a later row nor a withdrawal (:func:`current`) — are the only
  ones any reader counts; every row stays readable as history (:func:`with_corrections`), who corrected
  it, when and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Table, and_, exists, insert, select
from sqlalchemy.exc import IntegrityError

from envwatch.core.errors import Conflict, InvalidInput

REASON_MAX: Final = 2000
CORRECTION_FIELDS: Final = ("id", "withdrawn", "reason", "recorded_by", "recorded_at")


def current(table: Table) -> ColumnElement[bool]:
    """The rows of ``table`` that count: not a withdrawal, and no later row superseding them."""
    later = table.alias(f"later_{table.name}")
    return and_(table.c.withdrawn.is_(False), ~exists().where(later.c.supersedes_id == table.c.id))


def reason_of(text: str) -> str:
    """The reason of a correction or withdrawal (required: the history must say why)."""
    text = text.strip()
    if not text:
        raise InvalidInput("a correction needs a reason: say what was wrong in the row it corrects")
    if len(text) > REASON_MAX:
        raise InvalidInput(f"the reason is {len(text)} characters; at most {REASON_MAX}")
    return text


def correction_of(conn: Connection, table: Table, row_id: int) -> dict[str, Any] | None:
    """The row correcting or withdrawing ``row_id`` (its id, withdrawn, reason, who and when), or None."""
    cols = [table.c[name] for name in CORRECTION_FIELDS]
    found = conn.execute(select(*cols).where(table.c.supersedes_id == row_id)).mappings().first()
    return None if found is None else dict(found)


def _already(what: str, row_id: int, later: Mapping[str, Any]) -> str:
    if later["withdrawn"]:
        return f"{what} {row_id} was withdrawn already by {what} {later['id']}"
    return f"{what} {row_id} was corrected already by {what} {later['id']}: correct that one instead"


def require_correctable(conn: Connection, table: Table, row: Mapping[str, Any], what: str) -> None:
    """Conflict unless ``row`` is the last of its chain and not a withdrawal (``what``: how messages name a
    row, e.g. "certificate record")."""
    if row["withdrawn"]:
        raise Conflict(
            f"{what} {row['id']} withdraws {what} {row['supersedes_id']}: a withdrawal is final; record the "
            "right one as a new record"
        )
    later = correction_of(conn, table, int(row["id"]))
    if later is not None:
        raise Conflict(_already(what, int(row["id"]), later))


def withdrawal_of(row: Mapping[str, Any], table: Table) -> dict[str, Any]:
    """The values of a withdrawal row: the withdrawn row's own values (without its id and correction
    fields); the caller adds supersedes_id, withdrawn, reason, recorded_by and recorded_at."""
    skip = {"id", "supersedes_id", "withdrawn", "reason", "recorded_by", "recorded_at"}
    return {c.name: row[c.name] for c in table.columns if c.name not in skip}


def insert_correction(
    conn: Connection, table: Table, values: Mapping[str, Any], row_id: int, what: str
) -> int:
    """Insert the correcting (or withdrawing) row of ``row_id``; its id. A concurrent correction that got in
    first since :func:`require_correctable` meets the unique constraint: Conflict naming it."""
    try:
        with conn.begin_nested():  # roll back just this insert, the transaction stays usable for the check
            return int(conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())
    except IntegrityError:
        later = correction_of(conn, table, row_id)
        if later is None:
            raise
        raise Conflict(_already(what, row_id, later)) from None


def with_corrections(rows: Iterable[Mapping[Any, Any]]) -> list[dict[str, Any]]:
    """The history of one owner's rows (all of them, withdrawals included, in the order wanted): every row
    but the withdrawals, each with ``current`` and ``correction`` (the row that corrected or withdrew it —
    CORRECTION_FIELDS — or None) and ``corrects`` (the id it supersedes, or None)."""
    every = [dict(r) for r in rows]
    later = {r["supersedes_id"]: r for r in every if r["supersedes_id"] is not None}
    out: list[dict[str, Any]] = []
    for row in every:
        if row["withdrawn"]:
            continue
        found = later.get(row["id"])
        correction = None if found is None else {k: found[k] for k in CORRECTION_FIELDS}
        out.append(
            {**row, "current": found is None, "correction": correction, "corrects": row["supersedes_id"]}
        )
    return out
