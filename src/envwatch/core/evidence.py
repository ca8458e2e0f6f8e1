"""Submitting evidence to the tamper-evident log (提交存证), from any context.

A context records a fact (a custody event, a mark, a batch of raw packets, a video record, …) and, in the
same transaction, calls :func:`submit` or :func:`submit_row`: one ``evidence_entries`` row whose ``body``
is the canonical JSON (RFC 8785, via ``rfc8785``) of ``{kind, ref, submitted_at, payload}``. Because it is
the same transaction, a fact is never recorded without its entry and an entry never outlives a rolled-back
fact. The ``evidence`` context later gives each entry its Merkle leaf, signs checkpoints over the tree and
proves inclusion; ``envwatch evidence verify`` re-reads the source row of a :func:`submit_row` entry and
reports any column that no longer equals what was logged.

Values are made JSON-ready one way only (:func:`json_ready`), so the same row always gives the same bytes:
decimals as their exact text, times as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, dates as ISO, bytes as hex.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import rfc8785
from sqlalchemy import Connection, Table, insert, select

from envwatch.core.evidence_schema import evidence_entries

KIND_MAX = 40
REF_MAX = 200


def utc_text(moment: datetime) -> str:
    """The one text form of a time in evidence: UTC with microseconds and a ``Z``."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r} in evidence: pass an aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON types, the same way every time (see the module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value  # rfc8785 refuses NaN and infinities, which is what we want
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value!r} cannot be evidence: not a finite number")
        return str(value)
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be written as evidence")


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON of a JSON-ready value: the bytes a leaf hashes."""
    return rfc8785.dumps(json_ready(value))


def entry_body(kind: str, ref: str, submitted_at: datetime, payload: Mapping[str, Any]) -> bytes:
    return canonical({"kind": kind, "ref": ref, "submitted_at": submitted_at, "payload": payload})


def submit(conn: Connection, kind: str, ref: str, payload: Mapping[str, Any], now: datetime) -> int:
    """Add one entry to the evidence log's queue, in the caller's transaction; returns its id."""
    if not kind or len(kind) > KIND_MAX:
        raise ValueError(f"evidence kind {kind!r} must be 1..{KIND_MAX} characters")
    if not ref or len(ref) > REF_MAX:
        raise ValueError(f"evidence ref {ref!r} must be 1..{REF_MAX} characters")
    body = entry_body(kind, ref, now, payload).decode()
    result = conn.execute(insert(evidence_entries).values(kind=kind, ref=ref, body=body, submitted_at=now))
    (entry_id,) = result.inserted_primary_key or (None,)
    if entry_id is None:  # pragma: no cover - every backend we support returns the new key
        raise RuntimeError("the database did not return the new evidence entry's id")
    return int(entry_id)


def row_payload(table: Table, row: Mapping[Any, Any], columns: Iterable[str] | None = None) -> dict[str, Any]:
    """The logged copy of a source row: ``{"table", "id", "row": {column: value}}``.

    ``columns`` limits the copy to the columns that never change (a projection such as ``samples.state`` is
    not evidence; the custody events that explain it are)."""
    names = list(columns) if columns is not None else [column.name for column in table.columns]
    unknown = [name for name in names if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    return {"table": table.name, "id": row["id"], "row": {name: json_ready(row[name]) for name in names}}


def row_ref(table: Table, row_id: int) -> str:
    return f"{table.name}/{row_id}"


def submit_row(
    conn: Connection,
    table: Table,
    row_id: int,
    *,
    kind: str,
    now: datetime,
    columns: Iterable[str] | None = None,
) -> int:
    """Log a copy of the row ``table.id == row_id`` as it is now (read back inside the caller's transaction,
    so the copy is exactly what was written, defaults and all)."""
    row = conn.execute(select(table).where(table.c.id == row_id)).mappings().one_or_none()
    if row is None:
        raise LookupError(f"{table.name} has no row with id {row_id} to log")
    return submit(conn, kind, row_ref(table, row_id), row_payload(table, row, columns), now)
