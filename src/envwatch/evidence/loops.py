"""The evidence log's loops a running platform keeps going (``envwatch serve``).

- integrate (定序), every ``evidence_integrate_every_s``: submitted entries get their leaves. These rounds
  look for late commits only near the newest leaf (``sweep=False``), so they stay cheap as the log grows.
- checkpoint (签名检查点), every ``evidence_checkpoint_every_s``: first a full sweep for entries that
  committed out of id order, then a signed checkpoint when the tree grew, then (when ``evidence_tsa_url``
  is set) the RFC 3161 time-stamp of the new checkpoint and a retry of older ones that have none
  (:func:`request_timestamps`, the hook into ``envwatch.evidence.timestamps``).
- storage capacity (存储容量), every ``storage_check_every_s``: ``evidence.storage.storage_loop``;
  and hourly the part files of unfinished uploads that expired (:func:`expired_uploads_round`).

Like the alarm loops, every round is safe in several processes at once (the sequencer lock, and a
checkpoint only when the tree grew), takes ``now`` from the clock, and never ends the loop on an error:
it is logged and the next round tries again; the state is in the database.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.loops import every
from envwatch.core.settings import Settings
from envwatch.evidence import log as evidence_log

log = logging.getLogger("envwatch.evidence")

BATCH = 1000
"""Leaves given per transaction; a round repeats until the queue is empty."""


def integrate_round(engine: Engine, *, sweep: bool = False) -> dict[str, int] | None:
    """Integrate every pending entry, one transaction per batch; ``{"integrated": n}`` or None."""
    total = 0
    while True:
        with engine.begin() as conn:
            done = evidence_log.integrate(conn, utcnow(), BATCH, sweep=sweep)
        total += done
        if done < BATCH:
            return {"integrated": total} if total else None


def request_timestamps(
    engine: Engine, settings: Settings, checkpoint_id: int | None
) -> dict[str, int] | None:
    """Hook: the optional RFC 3161 time-stamp of a new checkpoint, then older checkpoints still without one.

    Only when ``evidence_tsa_url`` is set; the module is imported here, lazily, so that a platform without
    a TSA never loads it. The TSA is asked outside any transaction (the checkpoint is committed first)."""
    if not settings.evidence_tsa_url:
        return None
    from envwatch.evidence import timestamps

    if checkpoint_id is not None and timestamps.stamp_checkpoint(engine, settings, checkpoint_id) is None:
        return {"stamped": 0}  # the TSA failed (logged there); the next round retries
    retried = timestamps.stamp_pending(engine, settings, utcnow())
    return {"stamped": int(checkpoint_id is not None) + retried}


def checkpoint_round(engine: Engine, settings: Settings) -> dict[str, Any] | None:
    """Sweep for stragglers, sign a checkpoint if the tree grew, time-stamp it; a summary or None."""
    integrated = integrate_round(engine, sweep=True)
    with engine.begin() as conn:
        made = evidence_log.make_checkpoint(conn, settings, utcnow())
    stamped = request_timestamps(engine, settings, made["id"] if made else None)
    found: dict[str, Any] = {}
    if integrated:
        found.update(integrated)
    if made:
        found.update({"checkpoint": made["id"], "tree_size": made["tree_size"]})
    if stamped and stamped["stamped"]:
        found.update(stamped)
    return found or None


def expired_uploads_round(engine: Engine, settings: Settings) -> dict[str, int] | None:
    """The part files of unfinished uploads past ``video_upload_expiry_h`` (never evidence; see
    ``evidence.uploads.remove_expired``)."""
    from envwatch.evidence.uploads import remove_expired

    with engine.begin() as conn:
        removed = remove_expired(conn, settings, utcnow())
    return {"expired_uploads": len(removed)} if removed else None


def evidence_loops(engine: Engine, settings: Settings) -> list[Any]:
    """The coroutines to run as tasks (``envwatch serve``), the storage capacity check included
    (``evidence.storage``, WZ-A1-13)."""
    from envwatch.evidence.storage import storage_loop

    return [
        storage_loop(engine, settings),
        every(3600.0, "expired uploads", lambda: expired_uploads_round(engine, settings), log),
        # the raw-packet log adds entries every few seconds: these rounds log at DEBUG, checkpoints at INFO
        every(
            settings.evidence_integrate_every_s,
            "evidence integrate",
            lambda: integrate_round(engine),
            log,
            logging.DEBUG,
        ),
        every(
            settings.evidence_checkpoint_every_s,
            "evidence checkpoint",
            lambda: checkpoint_round(engine, settings),
            log,
        ),
    ]
