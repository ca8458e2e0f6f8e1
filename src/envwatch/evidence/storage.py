"""Storage capacity of the evidence archive (存储容量检查, WZ-A1-13 periodic checks).

Videos are kept ten years and never deleted, so the store only grows: running out of space would stop the
archive (and every upload with it). Each check measures the blob store, judges the share in use against
``storage_warn_percent`` and ``storage_critical_percent`` and records one ``storage_checks`` row
(append-only: the history is the record that capacity was watched).

- What is measured: ``BlobStore.usage()`` → ``(total | None, used, free | None)``: on the local backend the
  file system the blobs live on (total, free) and the bytes of the stored files (used); an S3 bucket knows
  no total or free. The row's ``target`` says what was measured (``local:<root>`` or ``s3://<bucket>``).
- The share in use is ``(total − free) / total`` when both are known (what else fills the disk counts: it
  takes the same space), else ``used / total``; with no total it cannot be judged and the level is ``ok``
  (the row still records ``used``).
- Level: ``critical`` at or above the critical percent, ``warn`` at or above the warning percent, else ok.

Alarm: the platform's notifications (``alarms.notify``) are addressed to enterprises, operators and regions
about devices, alarms and orders; there is no platform-level recipient (the administrator) nor a topic for
the platform itself, so a storage alarm is **logged** (WARNING for warn, ERROR for critical, logger
``envwatch.evidence.storage``) and shown on ``/evidence/storage``, ``/evidence/checks`` and in the API. It
does not pretend to be a device alarm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import Connection, Engine, insert, select

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.core.loops import every
from envwatch.core.settings import Settings
from envwatch.evidence.schema import storage_checks

log = logging.getLogger("envwatch.evidence.storage")

Level = Literal["ok", "warn", "critical"]
LEVELS: Final[tuple[Level, ...]] = ("ok", "warn", "critical")


@dataclass(frozen=True, slots=True)
class Usage:
    target: str
    total: int | None
    used: int
    free: int | None


def measure(settings: Settings, store: BlobStore | None = None) -> Usage:
    """The blob store's capacity: ``BlobStore.usage()`` on the configured backend."""
    blobs = store if store is not None else BlobStore.from_settings(settings)
    total, used, free = blobs.usage()
    if blobs.backend_name == "s3":
        target = f"s3://{settings.blob_s3_bucket}"
    else:
        target = f"{blobs.backend_name}:{blobs.root}"
    return Usage(target, total, int(used), free)


def used_percent(usage: Usage) -> float | None:
    if not usage.total:
        return None
    taken = usage.total - usage.free if usage.free is not None else usage.used
    return 100.0 * taken / usage.total


def level_of(percent: float | None, settings: Settings) -> Level:
    if percent is None:
        return "ok"
    if percent >= settings.storage_critical_percent:
        return "critical"
    if percent >= settings.storage_warn_percent:
        return "warn"
    return "ok"


def record(conn: Connection, usage: Usage, settings: Settings, now: datetime) -> dict[str, Any]:
    """Judge ``usage`` and append its ``storage_checks`` row; returns the row (with ``percent``)."""
    percent = used_percent(usage)
    row: dict[str, Any] = {
        "checked_at": now,
        "target": usage.target[:200],
        "total_bytes": usage.total,
        "used_bytes": usage.used,
        "free_bytes": usage.free,
        "level": level_of(percent, settings),
    }
    row["id"] = conn.execute(insert(storage_checks).values(row).returning(storage_checks.c.id)).scalar_one()
    return row | {"percent": percent}


def alarm(row: dict[str, Any], settings: Settings) -> None:
    """The storage alarm: logged (module docstring: there is no platform-level notification path)."""
    if row["level"] == "ok":
        return
    percent = row.get("percent")
    shown = "?" if percent is None else f"{percent:.1f} %"
    threshold = (
        settings.storage_critical_percent if row["level"] == "critical" else settings.storage_warn_percent
    )
    log.log(
        logging.ERROR if row["level"] == "critical" else logging.WARNING,
        "evidence storage %s: %s used of %s (%s bytes free) at %s, threshold %s %%; add capacity before "
        "uploads fail (WZ-A1-13)",
        row["level"],
        shown,
        row["target"],
        row["free_bytes"],
        f"{to_china(row['checked_at']):%Y-%m-%d %H:%M}",
        threshold,
    )


def check_storage(
    conn: Connection, settings: Settings, now: datetime, store: Any | None = None
) -> dict[str, Any]:
    """Measure, record and (on warn or critical) raise the alarm; returns the recorded row."""
    row = record(conn, measure(settings, store), settings, now)
    alarm(row, settings)
    return row


def with_percent(row: dict[str, Any]) -> dict[str, Any]:
    total, free, used = row["total_bytes"], row["free_bytes"], row["used_bytes"]
    percent = None if not total else 100.0 * ((total - free) if free is not None else used) / total
    return dict(row) | {"percent": None if percent is None else round(percent, 2)}


def latest_checks(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` checks, newest first, with their percent in use."""
    query = select(storage_checks).order_by(storage_checks.c.checked_at.desc(), storage_checks.c.id.desc())
    return [with_percent(dict(r)) for r in conn.execute(query.limit(limit)).mappings()]


def storage_round(engine: Engine, settings: Settings) -> dict[str, Any]:
    with engine.begin() as conn:
        return check_storage(conn, settings, utcnow())


async def storage_loop(engine: Engine, settings: Settings) -> None:
    """Check every ``storage_check_every_s`` until cancelled; an error is logged and the next round tries
    again (``core.loops.every``)."""

    def round_() -> str:
        row = storage_round(engine, settings)
        return f"{row['level']}, {row['used_bytes']} bytes used at {row['target']}"

    await every(settings.storage_check_every_s, "storage check", round_, log)
