"""Every label reprint has its video, stored and intact (补打标签视频, WZ-A2-8).

A reprint is the custody event ``reprint`` (``sampling.steps.record_reprint``); its video is the blob whose
SHA-256 the event carries (``custody_events.video_sha256``). For each reprint recorded (server time ``at``)
in ``period``, optionally of one agency, the check reports:

- ``no_video``: the event carries no video hash (the store refuses such a reprint today; rows from before
  that rule, or written around it, are caught here);
- ``video_file_missing``: no file with that hash in the blob store;
- ``video_altered``: the file is there but no longer hashes to its name (changed on disk).

The file is checked with ``BlobStore.verify(sha256)``, which re-reads it in pieces on either backend (a
reprint video may be large). Reading the files is the check's only cost; nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from sqlalchemy import Connection, select

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china
from envwatch.core.settings import Settings
from envwatch.evidence.coverage import Finding, china_text, sort_key
from envwatch.sampling.schema import custody_events, samples
from envwatch.sampling.stats import Period

RULE: Final = "WZ-A2-8"

BlobState = Literal["ok", "missing", "altered"]

_e = custody_events.c
_s = samples.c


_STATES: Final[dict[str, BlobState]] = {"ok": "ok", "missing": "missing", "changed": "altered"}


def blob_state(store: BlobStore, sha256: str) -> BlobState:
    """Whether the blob ``sha256`` is in ``store`` and intact (``BlobStore.verify`` re-reads it in pieces)."""
    return _STATES[store.verify(sha256).status]


_MESSAGES: Final[dict[str, str]] = {
    "no_video": "was recorded without a video of the reprint",
    "video_file_missing": "names video {sha} which is not in the blob store",
    "video_altered": "names video {sha} whose stored file no longer matches that SHA-256 (altered)",
}


def check_reprints(
    conn: Connection,
    settings: Settings,
    now: datetime,
    *,
    agency_id: int | None = None,
    period: Period,
    store: BlobStore | None = None,
) -> list[Finding]:
    """WZ-A2-8 over the reprints recorded in ``period`` (``now`` is unused: a reprint's video is due with
    the reprint itself; kept for the common signature of the checks)."""
    del now
    blobs = store if store is not None else BlobStore.from_settings(settings)
    query = (
        select(
            _e.id,
            _e.seq,
            _e.at,
            _e.actor,
            _e.video_sha256,
            _e.details,
            _s.code,
            _s.agency_id,
            _s.enterprise_id,
            _s.plan_id,
        )
        .join(samples, _s.id == _e.sample_id)
        .where(_e.event == "reprint", _e.at >= period.start_at, _e.at < period.end_at)
        .order_by(_e.at, _e.id)
    )
    if agency_id is not None:
        query = query.where(_s.agency_id == agency_id)
    checked: dict[str, BlobState] = {}  # one file may be named by several reprints: read it once
    found: list[Finding] = []
    for row in conn.execute(query):
        sha = row.video_sha256
        if not sha:
            kind = "no_video"
        else:
            if sha not in checked:
                checked[sha] = blob_state(blobs, sha)
            state = checked[sha]
            if state == "ok":
                continue
            kind = "video_file_missing" if state == "missing" else "video_altered"
        number = (row.details or {}).get("print")
        found.append(
            Finding(
                rule=RULE,
                kind=kind,
                agency_id=int(row.agency_id),
                enterprise_id=row.enterprise_id,
                subject=f"sample {row.code}",
                message=(
                    f"reprint of sample {row.code} (print {number}, custody event {row.id}, "
                    f"{china_text(row.at)}) " + _MESSAGES[kind].format(sha=sha)
                ),
                at=row.at,
                plan_id=row.plan_id,
                sample_codes=(row.code,),
                evidence={
                    "custody_event_id": int(row.id),
                    "seq": int(row.seq),
                    "at": to_china(row.at).isoformat(),
                    "actor": row.actor,
                    "print": number,
                    "video_sha256": sha,
                },
            )
        )
    return sorted(found, key=sort_key)
