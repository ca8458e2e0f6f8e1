"""Helpers of the wiring and sources tests (no tests here): reading the evidence entries back, checking
that a write produced exactly one entry per new source row, and tampering with append-only tables.

Tampering needs the append-only protection out of the way: on SQLite the triggers ``<table>_no_update`` /
``<table>_no_delete`` are dropped (migrations/append_only.py names them), on PostgreSQL the transaction runs
with ``session_replication_role = replica`` (triggers, including foreign keys, do not fire).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, select, text, update

from envwatch.core.db import metadata
from envwatch.core.evidence_schema import evidence_entries
from envwatch.evidence.sources import SOURCE_TABLES, recheck
from envwatch.ingest.raw_evidence import KIND as RAW_BATCH

_e = evidence_entries.c
ROW_KIND_OF_TABLE = {table: kind for kind, table in SOURCE_TABLES.items() if kind != RAW_BATCH}


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str
    ref: str
    payload: dict[str, Any]
    submitted_at: datetime


def last_entry_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(_e.id), 0))).scalar_one())


def entries(conn: Connection, after: int = 0, kind: str | None = None) -> list[Entry]:
    query = select(_e.id, _e.kind, _e.ref, _e.body, _e.submitted_at).where(_e.id > after).order_by(_e.id)
    if kind is not None:
        query = query.where(_e.kind == kind)
    out = []
    for row in conn.execute(query):
        body = json.loads(row.body)
        assert (body["kind"], body["ref"]) == (row.kind, row.ref)  # the columns repeat the body
        out.append(Entry(row.id, row.kind, row.ref, body["payload"], row.submitted_at))
    return out


def recheck_all(conn: Connection) -> list[str]:
    return [line for e in entries(conn) for line in recheck(conn, e.kind, e.ref, e.payload)]


def snapshot(conn: Connection) -> dict[str, int]:
    """The highest id of every row-kind source table, and of the entries (key ``""``)."""
    out = {"": last_entry_id(conn)}
    for name in ROW_KIND_OF_TABLE:
        table = metadata.tables[name]
        out[name] = int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())
    return out


def new_rows(conn: Connection, before: dict[str, int]) -> list[str]:
    """``table/id`` of every source row written since ``before``."""
    out = []
    for name in ROW_KIND_OF_TABLE:
        table = metadata.tables[name]
        ids = conn.execute(select(table.c.id).where(table.c.id > before[name]).order_by(table.c.id))
        out += [f"{name}/{i}" for i in ids.scalars()]
    return out


def assert_one_entry_per_new_row(conn: Connection, before: dict[str, int], now: datetime) -> list[Entry]:
    """Every source row written since ``before`` has exactly one entry of its table's kind, submitted at
    ``now``, and there is no other entry. Returns the new entries."""
    made = entries(conn, before[""])
    rows = new_rows(conn, before)
    assert sorted(e.ref for e in made) == sorted(rows), "one entry per new source row, and no other"
    for e in made:
        assert e.kind == ROW_KIND_OF_TABLE[e.ref.split("/")[0]]
        assert e.submitted_at == now
        assert e.payload["id"] == int(e.ref.split("/")[1])
    return made


def by_kind(made: list[Entry]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in made:
        out[e.kind] = out.get(e.kind, 0) + 1
    return out


def _unprotect(conn: Connection, table: Table) -> None:
    if conn.dialect.name == "sqlite":
        for action in ("update", "delete"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {table.name}_no_{action}"))
    else:
        conn.execute(text("SET LOCAL session_replication_role = replica"))


def tamper(engine: Engine, table: Table, row_id: int, **values: Any) -> None:
    """Change a row behind the application's back (what an attacker with database access would do)."""
    with engine.begin() as conn:
        _unprotect(conn, table)
        assert conn.execute(update(table).where(table.c.id == row_id).values(**values)).rowcount == 1


def remove(engine: Engine, table: Table, row_id: int) -> None:
    with engine.begin() as conn:
        _unprotect(conn, table)
        assert conn.execute(delete(table).where(table.c.id == row_id)).rowcount == 1
