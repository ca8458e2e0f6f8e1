"""Rule pack ``video``: the video archive and the sample labels of the testing agencies (WZ-A1-5, WZ-A1-13,
WZ-A2-5, WZ-A2-8).

The archive checks already exist (``evidence.archive_checks``, ``evidence.coverage``,
``evidence.reprint_check``: the checks page and ``envwatch evidence checks`` show them); these rules only
store what they find as findings, so the checks page and the findings agree by construction:

- **WZ-A1-13-72H**: videos archived later than ``video_archive_deadline_h`` after their recording ended
  (``late``), and sampling jobs without any sampling video once that deadline has passed (``missing``);
- **WZ-A1-5**: sampling jobs filmed with gaps (short jobs) or without a start or end clip (long jobs);
- **WZ-A2-8**: label reprints without their video, or whose video file is missing or altered;
- **WZ-A2-5**: every active sampler of an agency holds a passed label-system training valid on ``at``
  (``registry.agency_training_status.coverage``, the same status the agency page shows).

The three archive rules judge the China days of a lookback ending on ``at``'s day (``lookback_days``,
92 by default: a quarter and a day); a check's *pending* items (the deadline for the missing video has not
passed) are not findings yet. The subject is the agency, with the enterprise sampled where known. The key
is the check's ``kind`` and what it is about (video, plan and day, or reprint event), never a count or a
delay, so a re-run finds the same findings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from envwatch.compliance.rules import Found, Link, Param, Rule, RuleContext, Window
from envwatch.core.clock import to_china
from envwatch.core.settings import Settings
from envwatch.evidence.archive_checks import check_archive_deadline
from envwatch.evidence.coverage import Finding, check_coverage
from envwatch.evidence.reprint_check import check_reprints
from envwatch.registry.agencies_schema import agencies
from envwatch.registry.agency_training_status import coverage
from envwatch.sampling.stats import Period, period

Check = Callable[[Connection, Settings, datetime, Period], list[Finding]]

# the Chinese term of each kind of check finding, for the message
KIND_ZH = {
    "late": "视频未在规定时限内归档",
    "missing": "采样任务无现场采样视频",
    "gap": "短时采样未全程录像",
    "no_start_clip": "采样缺少开始录像",
    "no_end_clip": "采样缺少结束录像",
    "no_video": "补打标签无视频",
    "video_file_missing": "补打标签视频文件缺失",
    "video_altered": "补打标签视频被改动",
}


def lookback(at: datetime, days: int) -> Period:
    """The China days of the lookback: ``days`` days ending with ``at``'s day."""
    today = to_china(at).date()
    return period(today - timedelta(days=max(days, 1) - 1), today + timedelta(days=1))


def judged_days(ctx: RuleContext) -> Window:
    """``Rule.judges`` of the archive rules: the China days of the lookback."""
    days = lookback(ctx.at, int(ctx["lookback_days"]))
    return days.start_at, days.end_at


def finding_key(f: Finding) -> str:
    """A stable key of a check finding: its kind and what it is about."""
    if "custody_event_id" in f.evidence:  # a reprint (WZ-A2-8)
        return f"{f.kind}:sample:{f.sample_codes[0]}:event:{f.evidence['custody_event_id']}"
    if f.kind == "late":  # one late video (WZ-A1-13)
        return f"late:video:{f.video_ids[0]}"
    if f.plan_id is not None and "day" in f.evidence:  # one sampling job (plan + China day)
        return f"{f.kind}:plan:{f.plan_id}:day:{f.evidence['day']}"
    return f"{f.kind}:{f.subject}"  # pragma: no cover - every check kind is one of the above


def as_found(f: Finding) -> Found:
    evidence: list[Link] = [Link("video", str(v)) for v in f.video_ids]
    if f.plan_id is not None:
        evidence.append(Link("sampling_plan", str(f.plan_id)))
    evidence += [Link("sample", code) for code in f.sample_codes]
    return Found(
        key=finding_key(f),
        subject_kind="agency",
        subject_id=f.agency_id,
        agency_id=f.agency_id,
        enterprise_id=f.enterprise_id,
        message=f"{f.message} ({KIND_ZH.get(f.kind, f.kind)})",
        period_start=f.at,
        evidence=tuple(evidence),
    )


def _wrap(
    check: Check, overrides: Callable[[RuleContext], dict[str, Any]]
) -> Callable[[RuleContext], Iterator[Found]]:
    def evaluate(ctx: RuleContext) -> Iterator[Found]:
        settings = ctx.settings.model_copy(update=overrides(ctx))
        found = check(ctx.conn, settings, ctx.at, lookback(ctx.at, int(ctx["lookback_days"])))
        items = [as_found(f) for f in found if not f.pending]
        yield from sorted(items, key=lambda i: (i.period_start or ctx.at, i.key))

    return evaluate


def _archive(conn: Connection, settings: Settings, at: datetime, days: Period) -> list[Finding]:
    return check_archive_deadline(conn, settings, at, period=days)


def _coverage(conn: Connection, settings: Settings, at: datetime, days: Period) -> list[Finding]:
    return check_coverage(conn, settings, at, period=days)


def _reprints(conn: Connection, settings: Settings, at: datetime, days: Period) -> list[Finding]:
    return check_reprints(conn, settings, at, period=days)


def untrained_samplers(ctx: RuleContext) -> Iterator[Found]:
    """WZ-A2-5: active samplers of an active agency without a passed training valid on ``at``'s day."""
    today: date = to_china(ctx.at).date()
    rows = ctx.conn.execute(
        select(agencies.c.id, agencies.c.name).where(agencies.c.active.is_(True)).order_by(agencies.c.id)
    )
    for agency in rows:
        for person in coverage(ctx.conn, int(agency.id), today).untrained:
            if person["created_at"] > ctx.at:
                continue
            status, training = person["training_status"], person["training"]
            if status == "expired" and training is not None:
                key = f"staff:{person['id']}:until:{training['valid_until'].isoformat()}"
                why = f"the training passed on {training['held_on'].isoformat()} counted until {training['valid_until'].isoformat()}"
            elif status == "failed" and training is not None:
                key = f"staff:{person['id']}:failed"
                why = f"the latest training, held on {training['held_on'].isoformat()}, was not passed"
            else:
                key = f"staff:{person['id']}:none"
                why = "no training recorded"
            yield Found(
                key=key,
                subject_kind="agency",
                subject_id=int(agency.id),
                agency_id=int(agency.id),
                message=(
                    f"sampler {person['name']} (agency staff {person['id']}) of {agency.name} is not trained "
                    f"and tested on {today.isoformat()}: {why} (采样人员未经培训考核)"
                ),
                evidence=(Link("agency", str(agency.id), f"{agency.name}: {person['name']}"),),
            )


LOOKBACK = Param("lookback_days", "China days judged, ending with the day of the run", default=92)

RULES: tuple[Rule, ...] = (
    Rule(
        id="WZ-A1-13-72H",
        requirement="WZ-A1-13",
        title="Videos archived within 72 h; every sampling job has its video",
        title_zh="视频72小时内归档、采样任务均有录像",
        subject="agency",
        inputs="video records (recorded_end, archived_at), samples of sampling plans",
        evaluate=_wrap(_archive, lambda ctx: {"video_archive_deadline_h": int(ctx["deadline_h"])}),
        params=(
            LOOKBACK,
            Param(
                "deadline_h",
                "hours from the end of a recording to its archiving",
                setting="video_archive_deadline_h",
            ),
        ),
        judges=judged_days,
    ),
    Rule(
        id="WZ-A1-5",
        requirement="WZ-A1-5",
        title="Sampling filmed whole, or at start and end",
        title_zh="现场采样全程或首尾录像",
        subject="agency",
        inputs="samples of sampling plans, sampling-stage video records",
        evaluate=_wrap(
            _coverage,
            lambda ctx: {
                "video_whole_job_max_min": int(ctx["whole_job_max_min"]),
                "video_clip_tolerance_min": int(ctx["clip_tolerance_min"]),
            },
        ),
        params=(
            LOOKBACK,
            Param(
                "whole_job_max_min",
                "jobs shorter than this are filmed whole",
                setting="video_whole_job_max_min",
            ),
            Param(
                "clip_tolerance_min",
                "a start or end clip within this many minutes",
                setting="video_clip_tolerance_min",
            ),
        ),
        judges=judged_days,
    ),
    Rule(
        id="WZ-A2-8",
        requirement="WZ-A2-8",
        title="Every label reprint has its video",
        title_zh="补打标签均有视频",
        subject="agency",
        inputs="custody events 'reprint' and the blob store",
        evaluate=_wrap(_reprints, lambda ctx: {}),
        params=(LOOKBACK,),
        judges=judged_days,
    ),
    Rule(
        id="WZ-A2-5",
        requirement="WZ-A2-5",
        title="All sampling staff trained and tested",
        title_zh="采样人员100%经培训考核",
        subject="agency",
        inputs="active samplers of active agencies and their label-system trainings",
        evaluate=untrained_samplers,
    ),
)
