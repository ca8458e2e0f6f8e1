"""Appending to a sample's chain of custody: one event row and the sample's projection, together.

Every change of a sample goes through :func:`append`: it checks the event against the state table
(:mod:`envwatch.sampling.custody`), inserts the event with the next ``seq`` and moves the projection with a
compare-and-set on ``last_seq``. If another request appended to the same sample in between, the update
touches no row and the transaction is refused (Conflict, retryable): two receivers scanning one sample at
once cannot both hand it over. The unique ``(sample_id, seq)`` backs this on every database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, update

from envwatch.core.errors import Conflict
from envwatch.core.evidence import submit_row
from envwatch.sampling.custody import Event, State, next_state
from envwatch.sampling.schema import custody_events, samples


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What an event records besides its kind: who, where, and the evidence."""

    actor: str
    staff_id: int | None = None
    device_at: datetime | None = None
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    distance_m: int | None = None
    offline: bool = False
    check_result: str | None = None
    seal_no: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    photo_sha256: str | None = None
    video_sha256: str | None = None
    note: str = ""


def event_row(sample_id: int, seq: int, event: Event, before: State | None, after: State, facts: EventFacts,
              now: datetime) -> dict[str, Any]:  # fmt: skip
    return {
        "sample_id": sample_id,
        "seq": seq,
        "event": event,
        "from_state": before,
        "to_state": after,
        "actor": facts.actor,
        "staff_id": facts.staff_id,
        "at": now,
        "device_at": facts.device_at,
        "latitude": facts.latitude,
        "longitude": facts.longitude,
        "distance_m": facts.distance_m,
        "offline": facts.offline,
        "check_result": facts.check_result,
        "seal_no": facts.seal_no,
        "details": facts.details,
        "flags": list(facts.flags),
        "photo_sha256": facts.photo_sha256,
        "video_sha256": facts.video_sha256,
        "note": facts.note,
    }


def append(
    conn: Connection,
    sample: dict[str, Any],
    event: Event,
    facts: EventFacts,
    now: datetime,
    *,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record ``event`` on ``sample`` (its current row) and return the event row.

    ``changes``: projection columns besides state and last_seq (prints, needs_review)."""
    before: State = sample["state"]
    after = next_state(before, event)
    seq = sample["last_seq"] + 1
    moved = conn.execute(
        update(samples)
        .where(samples.c.id == sample["id"], samples.c.last_seq == sample["last_seq"])
        .values(state=after, last_seq=seq, **(changes or {}))
    )
    if moved.rowcount != 1:
        raise Conflict(f"sample {sample['code']} changed while this was recorded: reload it and try again")
    row = event_row(sample["id"], seq, event, before, after, facts, now)
    row["id"] = conn.execute(insert(custody_events).values(row).returning(custody_events.c.id)).scalar_one()
    submit_row(conn, custody_events, row["id"], kind="custody_event", now=now)
    return row
