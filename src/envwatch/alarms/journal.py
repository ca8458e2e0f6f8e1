"""One row of a case journal (``alarm_events``, ``order_events``): who did what, from which state to which.

Both journals have the same columns (the owner's id under its own name); they are append-only in the
database (migration 0009), so this insert is the only write they ever take.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, insert

from envwatch.core.evidence import submit_row

# the evidence kind of each journal's rows (alarm and order state changes, 报警/督办处理记录)
EVIDENCE_KINDS = {"alarm_events": "alarm_event", "order_events": "order_event"}


def write_journal(
    conn: Connection,
    table: Table,
    owner: Mapping[str, int],
    *,
    at: datetime,
    actor: str,
    event: str,
    from_state: str | None,
    to_state: str,
    comment: str = "",
    data: Mapping[str, Any] | None = None,
) -> None:
    """Append one event; ``owner`` is ``{"alarm_id": 7}`` or ``{"order_id": 3}``. The event is logged as
    evidence in the same transaction (``at`` is the time of recording)."""
    event_id = conn.execute(
        insert(table)
        .values(
            **owner,
            at=at,
            actor=actor,
            event=event,
            from_state=from_state,
            to_state=to_state,
            comment=comment,
            data=dict(data or {}),
        )
        .returning(table.c.id)
    ).scalar_one()
    submit_row(conn, table, event_id, kind=EVIDENCE_KINDS[table.name], now=at)
