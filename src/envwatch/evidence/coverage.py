"""Sampling jobs and their video coverage (现场采样视频覆盖, WZ-A1-5); the findings every archive check returns.

WZ-A1-5: the sampling (or field testing) of a job is filmed; a job shorter than ``video_whole_job_max_min``
(15 min) is filmed whole, a longer one at least at its start and its end.

**A sampling job** (一次采样任务) is the samples of one plan taken on one China day. Its times come from the
sampling records themselves, ``samples.sampled_at`` (采样时间), for the on-site samples of the plan
(``self_delivered`` false; self-delivered samples were not taken by the agency and have no job):

- start = the first sampling time, end = the last sampling time. ``sampled_at`` is the time the record
  states for the act the video has to show. The on-site *entry* times (``custody_events`` of event
  ``register``: server ``at``, phone ``device_at``) are deliberately not used for the end: the entry may lag
  the sampling by up to ``sampling_entry_lag_min`` (WZ-A2-6 allows typing the facts in shortly after), and an
  offline entry's server time is the later sync, not a moment on site. Stretching the job to the entries
  would demand video of the phone being typed on, and would turn short jobs into "long" ones.
- A one-sample job is an instant: "covered whole" then means a video running at that moment.

**A video belongs to a job** when it is of stage ``sampling`` and linked to one of the job's sample codes
(``video_record_links`` kind ``sample``), or to the job's plan (``video_records.plan_id``) and recorded on an
interval that overlaps the job's China day (a plan whose window spans days has a job per day; a plan-linked
video of Monday does not count for Tuesday's job).

**Coverage**: a short job needs ``[start, end]`` inside the union of its videos (gaps are reported
from–to); a long job needs a start clip, a video whose recorded interval meets ``[start − tol, start + tol]``
(``tol`` = ``video_clip_tolerance_min``), and an end clip likewise around ``end``. A job with no sampling
video at all is the archive check's "missing" (``archive_checks``), not reported twice here. Until the
archive deadline of a job has passed (end + ``video_archive_deadline_h``) its findings are ``pending``: more
video may still arrive.

Every check is side-effect free and deterministic: the same store, settings and ``now`` give the same
findings in the same order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import Connection, select

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.settings import Settings
from envwatch.evidence.schema import video_record_links, video_records
from envwatch.sampling.schema import samples
from envwatch.sampling.stats import Period

RULE: Final = "WZ-A1-5"
SAMPLING_STAGE: Final = "sampling"  # evidence.video_stages: 现场采样或检测
_CHUNK: Final = 500  # ids per IN (...) list: well below every backend's parameter limit

_s = samples.c
_v = video_records.c
_l = video_record_links.c


def china_text(moment: datetime) -> str:
    """A time as people read it in findings: China time to the second."""
    return f"{to_china(moment):%Y-%m-%d %H:%M:%S}"


@dataclass(frozen=True)
class Finding:
    """One thing an archive check found wrong (or not yet right: ``pending``).

    ``kind`` is the code of what is wrong (the check's own list, see each check); ``evidence`` holds the ids
    and times it rests on, JSON-ready (times in ISO with offset). Issue 9 stores these as findings."""

    rule: str
    kind: str
    agency_id: int
    enterprise_id: int | None
    subject: str  # what it is about: "plan 12 on 2026-11-23", "video 7", "sample WZJC…"
    message: str
    at: datetime  # the moment it concerns (ordering; the job's start, the video's end, the reprint)
    plan_id: int | None = None
    sample_codes: tuple[str, ...] = ()
    video_ids: tuple[int, ...] = ()
    pending: bool = False  # not a violation yet: the deadline for the missing evidence has not passed
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "agency_id": self.agency_id,
            "enterprise_id": self.enterprise_id,
            "subject": self.subject,
            "message": self.message,
            "at": to_china(self.at).isoformat(),
            "plan_id": self.plan_id,
            "sample_codes": list(self.sample_codes),
            "video_ids": list(self.video_ids),
            "pending": self.pending,
            "evidence": self.evidence,
        }


def sort_key(finding: Finding) -> tuple[Any, ...]:
    return (finding.at, finding.rule, finding.kind, finding.subject)


@dataclass(frozen=True, slots=True)
class Job:
    """The samples of one plan taken on one China day (see the module docstring)."""

    plan_id: int
    day: date
    agency_id: int
    enterprise_id: int | None
    samples: tuple[tuple[str, datetime], ...]  # (code, sampled_at), by sampling time then code

    @property
    def start(self) -> datetime:
        return self.samples[0][1]

    @property
    def end(self) -> datetime:
        return max(at for _code, at in self.samples)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(code for code, _at in self.samples)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def subject(self) -> str:
        return f"plan {self.plan_id} on {self.day.isoformat()}"

    def deadline(self, settings: Settings) -> datetime:
        """When the job's video must be archived by (WZ-A1-13: end + ``video_archive_deadline_h``)."""
        return self.end + timedelta(hours=settings.video_archive_deadline_h)

    def evidence(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "day": self.day.isoformat(),
            "start": to_china(self.start).isoformat(),
            "end": to_china(self.end).isoformat(),
            "samples": [{"code": c, "sampled_at": to_china(at).isoformat()} for c, at in self.samples],
        }


@dataclass(frozen=True, slots=True)
class Span:
    """A sampling-stage video's recorded interval."""

    video_id: int
    start: datetime
    end: datetime
    archived_at: datetime


def sampling_jobs(conn: Connection, period: Period, *, agency_id: int | None = None) -> list[Job]:
    """The jobs whose China day lies in ``period``, by plan and day."""
    query = (
        select(_s.code, _s.plan_id, _s.agency_id, _s.enterprise_id, _s.sampled_at)
        .where(
            _s.plan_id.is_not(None),
            _s.self_delivered.is_(False),
            _s.sampled_at.is_not(None),
            _s.sampled_at >= period.start_at,
            _s.sampled_at < period.end_at,
        )
        .order_by(_s.plan_id, _s.sampled_at, _s.code)
    )
    if agency_id is not None:
        query = query.where(_s.agency_id == agency_id)
    grouped: dict[tuple[int, date], list[Any]] = defaultdict(list)
    for row in conn.execute(query):
        grouped[(int(row.plan_id), to_china(row.sampled_at).date())].append(row)
    return [
        Job(
            plan_id=plan_id,
            day=day,
            agency_id=int(rows[0].agency_id),
            enterprise_id=rows[0].enterprise_id,
            samples=tuple((r.code, r.sampled_at) for r in rows),
        )
        for (plan_id, day), rows in sorted(grouped.items())
    ]


def _chunks(values: Sequence[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(values), _CHUNK):
        yield list(values[i : i + _CHUNK])


def job_videos(conn: Connection, jobs: Sequence[Job]) -> dict[tuple[int, date], list[Span]]:
    """The sampling-stage videos of each job (key: plan id and day), ordered by recorded start."""
    codes = sorted({code for job in jobs for code in job.codes})
    plans = sorted({job.plan_id for job in jobs})
    linked: dict[int, set[str]] = defaultdict(set)  # video id -> sample codes it is linked to
    for chunk in _chunks(codes):
        rows = conn.execute(
            select(_l.video_id, _l.value)
            .join(video_records, _v.id == _l.video_id)
            .where(_l.kind == "sample", _l.value.in_(chunk), _v.stage == SAMPLING_STAGE)
        )
        for row in rows:
            linked[int(row.video_id)].add(row.value)
    found: dict[int, Any] = {}
    for ids in _chunks(sorted(linked)):
        for row in conn.execute(select(video_records).where(_v.id.in_(ids))):
            found[int(row.id)] = row
    for chunk in _chunks(plans):
        query = select(video_records).where(_v.stage == SAMPLING_STAGE, _v.plan_id.in_(chunk))
        for row in conn.execute(query):
            found[int(row.id)] = row
    out: dict[tuple[int, date], list[Span]] = {}
    for job in jobs:
        mine = set(job.codes)
        day_start = datetime.combine(job.day, time(), CHINA_TZ)
        day_end = day_start + timedelta(days=1)
        spans = [
            Span(vid, row.recorded_start, row.recorded_end, row.archived_at)
            for vid, row in found.items()
            if linked.get(vid, set()) & mine
            or (row.plan_id == job.plan_id and row.recorded_start < day_end and row.recorded_end >= day_start)
        ]
        out[(job.plan_id, job.day)] = sorted(spans, key=lambda s: (s.start, s.video_id))
    return out


def uncovered(start: datetime, end: datetime, spans: Iterable[Span]) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end]`` no span covers, in order (an instant job: ``[(t, t)]`` or ``[]``)."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    if start == end:
        return [] if any(s.start <= start <= s.end for s in ordered) else [(start, end)]
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for span in ordered:
        if cursor >= end:
            break
        if span.start > cursor:
            gaps.append((cursor, min(span.start, end)))
        cursor = max(cursor, span.end)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def clip_near(moment: datetime, tolerance: timedelta, spans: Iterable[Span]) -> Span | None:
    """The first span whose recorded interval meets ``[moment − tolerance, moment + tolerance]``."""
    for span in spans:
        if span.start <= moment + tolerance and span.end >= moment - tolerance:
            return span
    return None


def _spans_out(spans: Sequence[Span]) -> list[dict[str, Any]]:
    return [
        {"video_id": s.video_id, "start": to_china(s.start).isoformat(), "end": to_china(s.end).isoformat()}
        for s in spans
    ]


def judge_job(job: Job, spans: Sequence[Span], settings: Settings, now: datetime) -> list[Finding]:
    """The coverage findings of one job that has at least one sampling video."""
    pending = now <= job.deadline(settings)
    base: dict[str, Any] = {
        "rule": RULE,
        "agency_id": job.agency_id,
        "enterprise_id": job.enterprise_id,
        "subject": job.subject,
        "at": job.start,
        "plan_id": job.plan_id,
        "sample_codes": job.codes,
        "video_ids": tuple(s.video_id for s in spans),
        "pending": pending,
    }
    later = f" (so far: video may be archived until {china_text(job.deadline(settings))})" if pending else ""
    evidence = job.evidence() | {"videos": _spans_out(spans)}
    whole = timedelta(minutes=settings.video_whole_job_max_min)
    if job.duration < whole:
        gaps = uncovered(job.start, job.end, spans)
        if not gaps:
            return []
        told = ", ".join(f"{china_text(a)}–{china_text(b)}" for a, b in gaps)
        missing = sum((b - a for a, b in gaps), timedelta())
        return [
            Finding(
                kind="gap",
                message=(
                    f"job of {int(job.duration.total_seconds() // 60)} min (under "
                    f"{settings.video_whole_job_max_min} min) is not filmed whole: no sampling video covers "
                    f"{told}{later}"
                ),
                evidence=evidence
                | {
                    "gaps": [
                        {"from": to_china(a).isoformat(), "to": to_china(b).isoformat()} for a, b in gaps
                    ],
                    "uncovered_s": int(missing.total_seconds()),
                },
                **base,
            )
        ]
    tolerance = timedelta(minutes=settings.video_clip_tolerance_min)
    found: list[Finding] = []
    for kind, moment, name in (("no_start_clip", job.start, "start"), ("no_end_clip", job.end, "end")):
        if clip_near(moment, tolerance, spans) is not None:
            continue
        window = (moment - tolerance, moment + tolerance)
        found.append(
            Finding(
                kind=kind,
                message=(
                    f"job of {int(job.duration.total_seconds() // 60)} min has no {name} clip: no sampling "
                    f"video runs between {china_text(window[0])} and {china_text(window[1])} "
                    f"({name} {china_text(moment)} ± {settings.video_clip_tolerance_min} min){later}"
                ),
                evidence=evidence
                | {
                    "window": {"from": to_china(window[0]).isoformat(), "to": to_china(window[1]).isoformat()}
                },
                **base,
            )
        )
    return found


def check_coverage(
    conn: Connection,
    settings: Settings,
    now: datetime,
    *,
    agency_id: int | None = None,
    period: Period,
) -> list[Finding]:
    """WZ-A1-5 over the jobs of ``period``: gaps of short jobs, missing start or end clips of long ones."""
    jobs = sampling_jobs(conn, period, agency_id=agency_id)
    videos = job_videos(conn, jobs)
    found: list[Finding] = []
    for job in jobs:
        spans = videos[(job.plan_id, job.day)]
        if spans:  # no video at all: archive_checks' "missing" / "due"
            found += judge_job(job, spans, settings, now)
    return sorted(found, key=sort_key)


__all__ = [
    "RULE",
    "SAMPLING_STAGE",
    "Finding",
    "Job",
    "Span",
    "check_coverage",
    "china_text",
    "clip_near",
    "job_videos",
    "judge_job",
    "sampling_jobs",
    "sort_key",
    "uncovered",
]
