"""Video records (视频记录, WZ-A1): finishing an upload into a record, and annotating records.

Finishing (:func:`finish`) turns a complete upload (``evidence.uploads``) into evidence:

1. the metadata is checked first, while the upload can still be retried: the stage, the agency, the
   recorded times, a landmark or a GPS position for the sampling stage (WZ-A1-5), the sample codes (of that
   agency), the staff (of that agency), the enterprise and the plan;
2. the media type is told from the file's first bytes (MP4/QuickTime, Matroska/WebM, AVI, MPEG-TS), never
   from what the client said, and anything else is refused;
3. the file moves into the blob store (``put_file(move=True)``: hashed, SHA-256 and SM3, write-once);
4. in ONE transaction: the ``blob_records`` row, the ``video_records`` row (``archived_at`` = now, what the
   72 h rule of WZ-A1-13 is checked against), its ``video_record_links`` (sample codes, staff) and the
   evidence entry ``video_record`` (``video_records/<id>``) with the record, its links and the file's
   digests.

Finishing is idempotent on the upload: a second call returns the record the first one made. Between the
move (3) and the commit (4) the part file no longer exists; what was stored is written next to it
(``<id>.stored.json``) first, so a finish whose transaction failed can simply be called again.

Records, links and annotations are append-only (the migration's triggers); an annotation (文字注释) added
later is a new row with its own evidence entry ``video_annotation``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from envwatch.core.blob_records import record_blob
from envwatch.core.blobs import BlobStore, StoredBlob
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import json_ready, row_payload, submit, submit_row
from envwatch.core.settings import Settings
from envwatch.evidence import uploads
from envwatch.evidence.schema import video_annotations, video_record_links, video_records
from envwatch.evidence.video_stages import stage as stage_named
from envwatch.registry.agencies_schema import agencies, agency_staff
from envwatch.registry.schema import enterprises
from envwatch.sampling.codes import normalise
from envwatch.sampling.schema import samples, sampling_plans

MAX_LINKS: Final = 200  # sample codes, staff or device numbers on one record
TEXT_MAX: Final = 4000
HEAD_BYTES: Final = 4096


@dataclass(frozen=True, slots=True)
class VideoDraft:
    """What the uploader says about a finished upload (times are aware; the web layer reads China time)."""

    upload_id: str
    stage: str
    agency_id: int
    recorded_start: datetime
    recorded_end: datetime
    enterprise_id: int | None = None
    plan_id: int | None = None
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    landmark: str = ""
    device_numbers: Sequence[str] = ()
    sample_codes: Sequence[str] = ()
    staff_ids: Sequence[int] = ()
    annotation: str = ""


# ---- the file's media type ----


def sniff(head: bytes) -> str | None:
    """The video container the first bytes announce, or None for anything else."""
    if len(head) >= 12 and head[4:8] == b"ftyp":  # ISO base media (MP4, 3GP) and QuickTime
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska, or WebM when its DocType says so
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    for first, step in ((0, 188), (4, 192)):  # MPEG-TS: a 0x47 sync byte every packet (M2TS: 4-byte prefix)
        marks = range(first, min(len(head), first + 3 * step), step)
        if len(marks) == 3 and all(head[i] == 0x47 for i in marks):
            return "video/mp2t"
    return None


# ---- checking the metadata ----


def _one_of_agency(conn: Connection, table: Any, row_id: int, agency_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(table).where(table.c.id == row_id)).mappings().first()
    return dict(row) if row is not None and row["agency_id"] == agency_id else None


def _sample_codes(conn: Connection, codes: Sequence[str], agency_id: int) -> list[str]:
    wanted = list(dict.fromkeys(normalise(c) for c in codes if c.strip()))
    found = dict(
        conn.execute(select(samples.c.code, samples.c.agency_id).where(samples.c.code.in_(wanted))).all()
    )
    # a sample of another agency is "not found", exactly like a missing one: its existence is not revealed
    missing = [code for code in wanted if found.get(code) != agency_id]
    if missing:
        raise InvalidInput(f"no sample with code {', '.join(missing)} at this agency: check the codes")
    return wanted


def _staff(conn: Connection, staff_ids: Sequence[int], agency_id: int) -> list[int]:
    wanted = list(dict.fromkeys(staff_ids))
    rows = conn.execute(
        select(agency_staff.c.id).where(agency_staff.c.id.in_(wanted), agency_staff.c.agency_id == agency_id)
    ).scalars()
    missing = sorted(set(wanted) - set(rows))
    if missing:
        raise InvalidInput(
            f"no staff member with id {', '.join(map(str, missing))} at this agency: name its agency staff"
        )
    return wanted


def _texts(values: Sequence[str], what: str) -> list[str]:
    out = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if len(out) > MAX_LINKS or any(len(v) > 100 for v in out):
        raise InvalidInput(f"{what}: at most {MAX_LINKS}, each at most 100 characters")
    return out


def check(conn: Connection, draft: VideoDraft, *, now: datetime, clock_skew: timedelta) -> dict[str, Any]:
    """The ``video_records`` values and links of a draft, or 422 naming what to correct."""
    stage = stage_named(draft.stage)
    if conn.execute(select(agencies.c.id).where(agencies.c.id == draft.agency_id)).scalar() is None:
        raise NotFound(f"no testing agency with id {draft.agency_id}")
    if draft.recorded_end <= draft.recorded_start:
        raise InvalidInput("recorded_end must be after recorded_start")
    if draft.recorded_end > now + clock_skew:
        raise InvalidInput("recorded_end is in the future: give the time the recording ended (China time)")
    if (draft.latitude is None) != (draft.longitude is None):
        raise InvalidInput("give latitude and longitude together (WGS-84), or neither")
    if (
        draft.latitude is not None
        and draft.longitude is not None
        and not (-90 <= draft.latitude <= 90 and -180 <= draft.longitude <= 180)
    ):
        raise InvalidInput("latitude must be within ±90 and longitude within ±180 (WGS-84 degrees)")
    landmark = draft.landmark.strip()
    if len(landmark) > 200 or len(draft.annotation) > TEXT_MAX:
        raise InvalidInput(f"landmark: at most 200 characters; annotation: at most {TEXT_MAX}")
    if stage.needs_position and not landmark and draft.latitude is None:
        raise InvalidInput(
            "a sampling video shows where it was taken (WZ-A1-5): give the landmark filmed, or latitude "
            "and longitude"
        )
    enterprise_id = draft.enterprise_id
    if draft.plan_id is not None:
        plan = _one_of_agency(conn, sampling_plans, draft.plan_id, draft.agency_id)
        if plan is None:
            raise InvalidInput(f"no sampling plan with id {draft.plan_id} at this agency")
        if enterprise_id is not None and plan["enterprise_id"] not in (None, enterprise_id):
            raise InvalidInput(f"plan {draft.plan_id} samples another enterprise than {enterprise_id}")
        enterprise_id = enterprise_id if enterprise_id is not None else plan["enterprise_id"]
    if enterprise_id is not None and (
        conn.execute(select(enterprises.c.id).where(enterprises.c.id == enterprise_id)).scalar() is None
    ):
        raise InvalidInput(f"no enterprise with id {enterprise_id}")
    values = {
        "stage": stage.code,
        "agency_id": draft.agency_id,
        "enterprise_id": enterprise_id,
        "plan_id": draft.plan_id,
        "recorded_start": draft.recorded_start,
        "recorded_end": draft.recorded_end,
        "latitude": draft.latitude,
        "longitude": draft.longitude,
        "landmark": landmark,
        "device_numbers": _texts(draft.device_numbers, "device_numbers"),
        "annotation": draft.annotation.strip(),
    }
    links = [
        ("sample", c)
        for c in _sample_codes(conn, _texts(draft.sample_codes, "sample_codes"), draft.agency_id)
    ]
    links += [("staff", str(s)) for s in _staff(conn, draft.staff_ids, draft.agency_id)]
    return {"values": values, "links": links}


# ---- finishing ----


def _save_stored(path: Path, stored: StoredBlob, media_type: str) -> None:
    data = json_ready(dataclasses.asdict(stored)) | {"media_type": media_type}
    path.write_text(json.dumps(data))


def _load_stored(path: Path) -> tuple[StoredBlob, str]:
    data = json.loads(path.read_text())
    media_type = data.pop("media_type")
    if data.get("locked_until"):
        data["locked_until"] = datetime.fromisoformat(data["locked_until"].replace("Z", "+00:00"))
    return StoredBlob(**data), media_type


def finish(
    engine: Engine, settings: Settings, draft: VideoDraft, *, by: str, now: datetime
) -> tuple[int, bool]:
    """Make the record of upload ``draft.upload_id`` (account ``by``'s); returns (record id, made now).

    404/410 for an upload that is not the caller's or expired, 409 while it is incomplete, 422 for bad
    metadata or a file that is no video. Slow for a big file (it is hashed): call it off the event loop."""
    with engine.connect() as conn:
        session = uploads.get(conn, settings, draft.upload_id, by=by, now=now)
        existing = uploads.finished_record(conn, session.id)
        if existing is not None:
            return existing, False
        checked = check(conn, draft, now=now, clock_skew=timedelta(seconds=settings.sampling_clock_skew_s))
    path = uploads.part_path(settings, session.id)
    sidecar = uploads.stored_path(settings, session.id)
    if sidecar.exists():  # an earlier finish stored the file and then failed to commit
        stored, media_type = _load_stored(sidecar)
    else:
        if not session.complete:
            raise Conflict(
                f"upload {session.id} has {session.offset} of {session.length} bytes: send the rest "
                "(PATCH from the offset HEAD reports), then finish"
            )
        with uploads.locked(path) as handle:
            found = sniff(handle.read(HEAD_BYTES))
            if found is None:
                raise InvalidInput(
                    "the file is not a video this archive takes: MP4/MOV, Matroska/WebM, AVI or MPEG-TS "
                    "(told from its first bytes, not its name); convert it and upload again"
                )
            media_type = found
            store = BlobStore.from_settings(settings)
            stored = store.put_file(path, move=True, max_bytes=settings.video_max_bytes, purpose="video")
            _save_stored(sidecar, stored, media_type)
    file_name = (session.meta.get("filename") or session.meta.get("name") or "video")[:255]
    try:
        with engine.begin() as conn:
            video_id = _record(conn, settings, session, checked, stored, media_type, file_name, by, now)
    except IntegrityError:
        # another finish of the same upload committed first (upload_id is unique): that record it is
        with engine.connect() as conn:
            existing = uploads.finished_record(conn, session.id)
        if existing is None:
            raise
        video_id, made = existing, False
    else:
        made = True
    sidecar.unlink(missing_ok=True)
    return video_id, made


def _record(
    conn: Connection,
    settings: Settings,
    session: uploads.Session,
    checked: dict[str, Any],
    stored: StoredBlob,
    media_type: str,
    file_name: str,
    by: str,
    now: datetime,
) -> int:
    record_blob(
        conn, stored, purpose="video", media_type=media_type, stored_by=by, now=now, settings=settings
    )
    row = checked["values"] | {
        "upload_id": session.id,
        "blob_sha256": stored.sha256,
        "size": stored.size,
        "media_type": media_type,
        "file_name": file_name,
        "uploaded_by": by,
        "archived_at": now,
    }
    video_id = int(conn.execute(insert(video_records).values(row).returning(video_records.c.id)).scalar_one())
    links = [{"video_id": video_id, "kind": kind, "value": value} for kind, value in checked["links"]]
    if links:
        conn.execute(insert(video_record_links), links)
    submit(conn, "video_record", f"video_records/{video_id}", record_payload(conn, video_id, stored.sm3), now)
    return video_id


def record_payload(conn: Connection, video_id: int, sm3: str) -> dict[str, Any]:
    """The logged copy of a record: ``row_payload``'s ``{table, id, row}`` plus its links (in insertion
    order) and the file's digests, so that a check can re-read each of them."""
    row = conn.execute(select(video_records).where(video_records.c.id == video_id)).mappings().one()
    links = conn.execute(
        select(video_record_links.c.kind, video_record_links.c.value)
        .where(video_record_links.c.video_id == video_id)
        .order_by(video_record_links.c.id)
    ).all()
    return row_payload(video_records, row) | {
        "links": [{"kind": k, "value": v} for k, v in links],
        "blob": {"sha256": row["blob_sha256"], "sm3": sm3, "size": row["size"]},
    }


# ---- annotations ----


def annotate(
    conn: Connection, video_id: int, text: str, at_second: int | None, *, by: str, now: datetime
) -> dict[str, Any]:
    """A text note on a record (文字注释), optionally at a moment of the video; logged as evidence."""
    if conn.execute(select(video_records.c.id).where(video_records.c.id == video_id)).scalar() is None:
        raise NotFound(f"no video record with id {video_id}")
    text = text.strip()
    if not text or len(text) > TEXT_MAX:
        raise InvalidInput(f"an annotation is 1..{TEXT_MAX} characters of text")
    if at_second is not None and not 0 <= at_second <= 7 * 24 * 3600:
        raise InvalidInput("at_second is the second of the video the note is about: 0 or more")
    values = {"video_id": video_id, "at_second": at_second, "text": text, "created_by": by, "created_at": now}
    annotation_id = int(
        conn.execute(insert(video_annotations).values(values).returning(video_annotations.c.id)).scalar_one()
    )
    entry_id = submit_row(conn, video_annotations, annotation_id, kind="video_annotation", now=now)
    return {"id": annotation_id, **values, "evidence_entry_id": entry_id}
