"""Finding and reading video records (视频检索, WZ-A1-12: fast, precise search).

:func:`search` filters by sample code, enterprise, agency, staff member, stage and recorded time (a record
is found when its recording ``[recorded_start, recorded_end]`` overlaps ``[since, until)``), newest
recording first, a page at a time with the total. The caller's visibility comes in as id sets (None =
everything), the same rule as ``Scope.sees_video``: a record of a visible agency, or filmed at a visible
enterprise. Every filter is an indexed column (``ix_video_records_*``, ``ix_video_record_links_value``).

:func:`detail` is one record with its names, links, annotations, the blob's digests and its evidence entry.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, false, func, or_, select, true

from envwatch.core.errors import NotFound
from envwatch.core.evidence_schema import blob_records, evidence_entries
from envwatch.evidence.schema import video_annotations, video_record_links, video_records
from envwatch.evidence.video_stages import STAGES
from envwatch.registry.agencies_schema import agencies, agency_staff
from envwatch.registry.schema import enterprises
from envwatch.sampling.codes import normalise

v = video_records


def visible(
    agency_ids: Collection[int] | None, enterprise_ids: Collection[int] | None
) -> ColumnElement[bool]:
    """The records a scope sees: all (both None, admin), else of its agencies or at its enterprises."""
    if agency_ids is None:
        return true()
    clauses = [v.c.agency_id.in_(list(agency_ids))] if agency_ids else []
    if enterprise_ids is None:
        clauses.append(v.c.enterprise_id.is_not(None))
    elif enterprise_ids:
        clauses.append(v.c.enterprise_id.in_(list(enterprise_ids)))
    return or_(*clauses) if clauses else false()


def _linked(kind: str, value: str) -> ColumnElement[bool]:
    return v.c.id.in_(
        select(video_record_links.c.video_id).where(
            video_record_links.c.kind == kind, video_record_links.c.value == value
        )
    )


def search(
    conn: Connection,
    *,
    agency_ids: Collection[int] | None,
    enterprise_ids: Collection[int] | None,
    sample_code: str | None = None,
    enterprise_id: int | None = None,
    agency_id: int | None = None,
    staff_id: int | None = None,
    stage: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page of rows with agency and enterprise names)."""
    where: list[ColumnElement[bool]] = [visible(agency_ids, enterprise_ids)]
    if sample_code:
        where.append(_linked("sample", normalise(sample_code)))
    if staff_id is not None:
        where.append(_linked("staff", str(staff_id)))
    if enterprise_id is not None:
        where.append(v.c.enterprise_id == enterprise_id)
    if agency_id is not None:
        where.append(v.c.agency_id == agency_id)
    if stage:
        where.append(v.c.stage == stage)
    if since is not None:
        where.append(v.c.recorded_end >= since)
    if until is not None:
        where.append(v.c.recorded_start < until)
    total = int(conn.execute(select(func.count()).select_from(v).where(*where)).scalar_one())
    query = (
        select(v, agencies.c.name.label("agency_name"), enterprises.c.name.label("enterprise_name"))
        .join(agencies, agencies.c.id == v.c.agency_id)
        .outerjoin(enterprises, enterprises.c.id == v.c.enterprise_id)
        .where(*where)
        .order_by(v.c.recorded_start.desc(), v.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = [dict(r) | {"stage_name": STAGES[r["stage"]].zh} for r in conn.execute(query).mappings()]
    return total, rows


def record_row(conn: Connection, video_id: int) -> dict[str, Any]:
    row = conn.execute(select(v).where(v.c.id == video_id)).mappings().first()
    if row is None:
        raise NotFound(f"no video record with id {video_id}")
    return dict(row)


def detail(conn: Connection, video_id: int) -> dict[str, Any]:
    """The record, its names, sample codes, staff (with names), annotations, the file's digests and
    retention (its latest ``blob_records`` row for a video) and the id of its evidence entry."""
    record = record_row(conn, video_id)
    record["stage_name"] = STAGES[record["stage"]].zh
    record["agency_name"] = conn.execute(
        select(agencies.c.name).where(agencies.c.id == record["agency_id"])
    ).scalar()
    record["enterprise_name"] = (
        conn.execute(select(enterprises.c.name).where(enterprises.c.id == record["enterprise_id"])).scalar()
        if record["enterprise_id"] is not None
        else None
    )
    links = conn.execute(
        select(video_record_links.c.kind, video_record_links.c.value)
        .where(video_record_links.c.video_id == video_id)
        .order_by(video_record_links.c.id)
    ).all()
    record["sample_codes"] = [value for kind, value in links if kind == "sample"]
    staff_ids = [int(value) for kind, value in links if kind == "staff"]
    names = dict(
        conn.execute(
            select(agency_staff.c.id, agency_staff.c.name).where(agency_staff.c.id.in_(staff_ids))
        ).all()
    )
    record["staff"] = [{"id": s, "name": names.get(s)} for s in staff_ids]
    record["annotations"] = [
        dict(r)
        for r in conn.execute(
            select(video_annotations)
            .where(video_annotations.c.video_id == video_id)
            .order_by(video_annotations.c.id)
        ).mappings()
    ]
    blob = conn.execute(
        select(blob_records.c.sha256, blob_records.c.sm3, blob_records.c.size, blob_records.c.backend,
               blob_records.c.retain_until)
        .where(blob_records.c.sha256 == record["blob_sha256"], blob_records.c.purpose == "video")
        .order_by(blob_records.c.retain_until.desc())
        .limit(1)
    ).mappings().first()  # fmt: skip
    record["blob"] = dict(blob) if blob is not None else None
    record["evidence_entry_id"] = conn.execute(
        select(evidence_entries.c.id).where(
            evidence_entries.c.ref == f"video_records/{video_id}", evidence_entries.c.kind == "video_record"
        )
    ).scalar()
    return record
