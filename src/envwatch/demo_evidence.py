"""The evidence part of the demo world (存证演示数据): video records of the demo agency, a self-inspection
draw, and a signed checkpoint of the evidence log, so that ``make demo`` shows /evidence with content.

Runs after ``demo_sampling.install_sampling`` and goes through the stores like a real upload: a tus upload
session (``evidence.uploads``) filled with the bundled clip ``evidence/data/demo-video.mp4`` (6 s, 320×180
H.264 made with ffmpeg from its test pattern; the same file for every record, so the blob store keeps it
once), finished into a record (``evidence.videos.finish``), each act as of when it happened:

- last week's plan at 太原示范热电: a sampling-stage video covering the job from a few minutes before the first
  sample to after the last, archived two hours later (in time); a transport video archived four days after
  its recording ended (late: the archive check WZ-A1-13 reports it);
- today's plan at 山西示范焦化 has samples and no video yet (the checks show it as due);
- the self-inspection draw of the month of last week's videos, one outcome recorded;
- the log integrated and a checkpoint signed, so /evidence shows a tree and its signed note.

Idempotent: when the demo agency has video records, no video is added (the checkpoint round still runs).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any

from sqlalchemy import Engine, func, select

from envwatch.core.clock import to_china
from envwatch.core.settings import Settings
from envwatch.demo_sampling import AGENCY_CREDIT
from envwatch.evidence import self_inspection, uploads, videos
from envwatch.evidence.loops import checkpoint_round
from envwatch.evidence.schema import video_records
from envwatch.registry.agencies_schema import agencies
from envwatch.sampling.schema import samples

UPLOADER = "agency1"  # the demo agency's account (demo_sampling)
MINUTE = timedelta(minutes=1)


def demo_clip() -> bytes:
    return files("envwatch.evidence").joinpath("data", "demo-video.mp4").read_bytes()


def install_evidence(engine: Engine, settings: Settings, now: datetime) -> list[str]:
    """Add the demo agency's video records, a self-inspection draw and a checkpoint; lines saying what."""
    with engine.connect() as conn:
        agency_id = conn.execute(
            select(agencies.c.id).where(agencies.c.credit_code == AGENCY_CREDIT)
        ).scalar()
        if agency_id is None:
            return ["no demo agency: no video records added"]
        has_videos = conn.execute(
            select(func.count()).select_from(video_records).where(video_records.c.agency_id == agency_id)
        ).scalar_one()
        taken = conn.execute(
            select(samples.c.code, samples.c.plan_id, samples.c.enterprise_id, samples.c.sampled_at,
                   samples.c.sampler_staff_id)
            .where(samples.c.agency_id == agency_id, samples.c.plan_id.is_not(None),
                   samples.c.sampled_at.is_not(None))
            .order_by(samples.c.sampled_at)
        ).mappings().all()  # fmt: skip
    lines: list[str] = []
    if has_videos:
        lines.append("the demo agency already has video records: none added")
    elif taken:
        first_plan = taken[0]["plan_id"]
        job = [dict(row) for row in taken if row["plan_id"] == first_plan]
        lines.extend(_videos(engine, settings, int(agency_id), job, now))
    made = checkpoint_round(engine, settings)
    if made and "checkpoint" in made:
        lines.append(f"evidence log: checkpoint {made['checkpoint']} signed over {made['tree_size']} leaves")
    return lines


def _videos(
    engine: Engine, settings: Settings, agency_id: int, job: list[dict[str, Any]], now: datetime
) -> list[str]:
    start, end = job[0]["sampled_at"], job[-1]["sampled_at"]
    codes = [row["code"] for row in job]
    staff = sorted({row["sampler_staff_id"] for row in job if row["sampler_staff_id"] is not None})
    common = {
        "agency_id": agency_id,
        "plan_id": job[0]["plan_id"],
        "enterprise_id": job[0]["enterprise_id"],
        "sample_codes": codes,
        "staff_ids": staff,
    }
    on_site = _upload(
        engine, settings, archived_at=min(end + timedelta(hours=2), now), file_name="采样现场.mp4",
        stage="sampling", recorded_start=start - 3 * MINUTE, recorded_end=end + 2 * MINUTE,
        landmark="厂区东门标志牌", device_numbers=["CY-2024-031"],
        annotation="采样前拍摄厂区标志牌；采样、密封、贴标全过程", **common,
    )  # fmt: skip
    transport = _upload(
        engine, settings, archived_at=min(end + timedelta(days=4), now), file_name="运输途中.mp4",
        stage="transport", recorded_start=end + 30 * MINUTE, recorded_end=end + 90 * MINUTE,
        device_numbers=["LC-07"], annotation="冷藏箱 4℃，避光运输", **common,
    )  # fmt: skip
    lines = [
        f"video record {on_site}: sampling at plan {common['plan_id']} ({len(codes)} samples), archived in time",
        f"video record {transport}: transport, archived 4 days after recording (late, WZ-A1-13)",
    ]
    month = to_china(start).date()
    if month.replace(day=1) <= to_china(now).date().replace(day=1):
        with engine.begin() as conn:
            drawn = self_inspection.draw(conn, agency_id, month, settings, UPLOADER, now)
            items = drawn.get("item_ids") or []
            if items:
                self_inspection.record_outcome(conn, int(items[0]), "ok", "", UPLOADER, now)
        lines.append(f"self-inspection draw of {month:%Y-%m}: {len(items)} video(s) drawn, one reviewed")
    return lines


def _upload(
    engine: Engine, settings: Settings, *, archived_at: datetime, file_name: str, **draft: Any
) -> int:
    """One tus session filled with the demo clip and finished into a record at ``archived_at``."""
    clip = demo_clip()
    begun = archived_at - 5 * MINUTE
    with engine.begin() as conn:
        session = uploads.create(
            conn, settings, length=len(clip), meta={"filename": file_name}, by=UPLOADER, now=begun
        )
    uploads.part_path(settings, session.id).write_bytes(clip)
    video_id, _made = videos.finish(
        engine, settings, videos.VideoDraft(upload_id=session.id, **draft), by=UPLOADER, now=archived_at
    )
    return video_id
