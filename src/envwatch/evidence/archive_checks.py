"""The archive deadline (归档时限, WZ-A1-13) and every archive check at once (``run_checks``).

WZ-A1-13: a video is archived within ``video_archive_deadline_h`` (72 h) of the end of its recording.

``check_archive_deadline`` reports, for ``period`` (China days) and optionally one agency:

- ``late``: a video record (any stage) whose recording ended in the period and that was archived
  (``archived_at``, the server's time of storing) more than the deadline after ``recorded_end``; the
  finding says by how much;
- ``missing``: a sampling job (``coverage.sampling_jobs``) of the period without any video of stage
  ``sampling`` whose deadline (the job's last sampling time + the deadline) has passed at ``now``;
- ``due``: the same before the deadline (``pending``: not a violation yet, a reminder).

``run_checks`` runs this, the coverage check (WZ-A1-5, ``coverage``) and the reprint check (WZ-A2-8,
``reprint_check``) and returns the findings grouped by rule. Side-effect free: nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, select

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china
from envwatch.core.settings import Settings
from envwatch.evidence.coverage import (
    Finding,
    check_coverage,
    china_text,
    job_videos,
    sampling_jobs,
    sort_key,
)
from envwatch.evidence.reprint_check import check_reprints
from envwatch.evidence.schema import video_records
from envwatch.sampling.stats import Period

RULE: Final = "WZ-A1-13"

_v = video_records.c


@dataclass(frozen=True, slots=True)
class RuleInfo:
    rule: str
    title: str  # English; the pages translate it
    title_zh: str


RULES: Final[tuple[RuleInfo, ...]] = (
    RuleInfo("WZ-A1-13", "Videos archived within the deadline", "视频在规定时限内归档"),
    RuleInfo("WZ-A1-5", "Sampling filmed whole, or at start and end", "现场采样全程或首尾录像"),
    RuleInfo("WZ-A2-8", "Every label reprint has its video", "补打标签均有视频"),
)
KINDS: Final[dict[str, str]] = {  # every finding kind and what it means (docs, pages)
    "late": "archived after the deadline",
    "missing": "sampling job without any sampling video, deadline passed",
    "due": "sampling job without video yet, deadline not passed",
    "gap": "short job not filmed whole",
    "no_start_clip": "long job without a start clip",
    "no_end_clip": "long job without an end clip",
    "no_video": "reprint recorded without a video",
    "video_file_missing": "reprint video not in the blob store",
    "video_altered": "reprint video no longer matches its SHA-256",
}


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def late_videos(
    conn: Connection, settings: Settings, *, agency_id: int | None, period: Period
) -> list[Finding]:
    deadline = timedelta(hours=settings.video_archive_deadline_h)
    query = (
        select(_v.id, _v.agency_id, _v.enterprise_id, _v.plan_id, _v.stage, _v.recorded_end, _v.archived_at)
        .where(_v.recorded_end >= period.start_at, _v.recorded_end < period.end_at)
        .order_by(_v.recorded_end, _v.id)
    )
    if agency_id is not None:
        query = query.where(_v.agency_id == agency_id)
    found: list[Finding] = []
    for row in conn.execute(query):
        delay = row.archived_at - row.recorded_end
        if delay <= deadline:
            continue
        found.append(
            Finding(
                rule=RULE,
                kind="late",
                agency_id=int(row.agency_id),
                enterprise_id=row.enterprise_id,
                subject=f"video {row.id}",
                message=(
                    f"video {row.id} ({row.stage}) recorded until {china_text(row.recorded_end)} was archived "
                    f"at {china_text(row.archived_at)}: {_hours(delay)} after, "
                    f"{_hours(delay - deadline)} later than the {settings.video_archive_deadline_h} h allowed"
                ),
                at=row.recorded_end,
                plan_id=row.plan_id,
                video_ids=(int(row.id),),
                evidence={
                    "video_id": int(row.id),
                    "stage": row.stage,
                    "recorded_end": to_china(row.recorded_end).isoformat(),
                    "archived_at": to_china(row.archived_at).isoformat(),
                    "delay_s": int(delay.total_seconds()),
                    "late_by_s": int((delay - deadline).total_seconds()),
                },
            )
        )
    return found


def jobs_without_video(
    conn: Connection, settings: Settings, now: datetime, *, agency_id: int | None, period: Period
) -> list[Finding]:
    jobs = sampling_jobs(conn, period, agency_id=agency_id)
    videos = job_videos(conn, jobs)
    found: list[Finding] = []
    for job in jobs:
        if videos[(job.plan_id, job.day)]:
            continue
        deadline = job.deadline(settings)
        passed = now > deadline
        job_text = (
            f"sampling job {job.subject} ({china_text(job.start)}–{china_text(job.end)}, "
            f"{len(job.samples)} sample(s))"
        )
        message = (
            f"{job_text} has no sampling video: the deadline {china_text(deadline)} has passed"
            if passed
            else f"{job_text} has no sampling video yet: it is due by {china_text(deadline)}"
        )
        found.append(
            Finding(
                rule=RULE,
                kind="missing" if passed else "due",
                agency_id=job.agency_id,
                enterprise_id=job.enterprise_id,
                subject=job.subject,
                message=message,
                at=job.start,
                plan_id=job.plan_id,
                sample_codes=job.codes,
                pending=not passed,
                evidence=job.evidence() | {"deadline": to_china(deadline).isoformat()},
            )
        )
    return found


def check_archive_deadline(
    conn: Connection,
    settings: Settings,
    now: datetime,
    *,
    agency_id: int | None = None,
    period: Period,
) -> list[Finding]:
    """WZ-A1-13: late videos, and sampling jobs without video (missing, or due before the deadline)."""
    found = late_videos(conn, settings, agency_id=agency_id, period=period)
    found += jobs_without_video(conn, settings, now, agency_id=agency_id, period=period)
    return sorted(found, key=sort_key)


def run_checks(
    conn: Connection,
    settings: Settings,
    now: datetime,
    *,
    agency_id: int | None = None,
    period: Period,
    store: BlobStore | None = None,
) -> dict[str, list[Finding]]:
    """Every archive check over ``period``, by rule in ``RULES`` order."""
    return {
        "WZ-A1-13": check_archive_deadline(conn, settings, now, agency_id=agency_id, period=period),
        "WZ-A1-5": check_coverage(conn, settings, now, agency_id=agency_id, period=period),
        "WZ-A2-8": check_reprints(conn, settings, now, agency_id=agency_id, period=period, store=store),
    }


def grouped_out(found: dict[str, list[Finding]]) -> list[dict[str, Any]]:
    """The findings per rule as the API and CLI give them: rule, titles, counts, findings."""
    out = []
    for info in RULES:
        rows = found.get(info.rule, [])
        out.append(
            {
                "rule": info.rule,
                "title": info.title,
                "title_zh": info.title_zh,
                "count": sum(1 for f in rows if not f.pending),
                "pending": sum(1 for f in rows if f.pending),
                "findings": [f.as_dict() for f in rows],
            }
        )
    return out
