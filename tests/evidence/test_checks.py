"""The archive deadline (WZ-A1-13) and the coverage of sampling jobs by video (WZ-A1-5), on samples taken
through the real sampling stores and video records inserted as rows (the upload code is another module's).

The sampling world (tests/sampling/conftest.py): plan ``world.plan`` of 温州检测 at 甲, window 09:00–17:00
China time on 2026-11-23; ``world.now`` is 10:00. ``T(m)`` is 10:00 + m minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert

from envwatch.core.settings import Settings
from envwatch.evidence.archive_checks import check_archive_deadline, grouped_out, run_checks
from envwatch.evidence.coverage import (
    Span,
    check_coverage,
    clip_near,
    sampling_jobs,
    uncovered,
)
from envwatch.evidence.schema import video_record_links, video_records
from envwatch.sampling.stats import period
from tests.sampling.conftest import SAMPLING_NOW, SamplingWorld, build_sampling_world

DAY = date(2026, 11, 23)
PERIOD = period(DAY, DAY + timedelta(days=1))
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def T(minutes: float) -> datetime:
    return SAMPLING_NOW + timedelta(minutes=minutes)


def add_video(
    conn: Connection,
    world: SamplingWorld,
    start: datetime,
    end: datetime,
    *,
    codes: Iterable[str] = (),
    plan: bool = False,
    stage: str = "sampling",
    archived_at: datetime | None = None,
    agency_id: int | None = None,
    sha: str = "c" * 64,
) -> int:
    """A video record row (+ its sample links) as the upload would write it."""
    video_id = int(
        conn.execute(
            insert(video_records)
            .values(
                blob_sha256=sha,
                size=1000,
                media_type="video/mp4",
                file_name="clip.mp4",
                stage=stage,
                agency_id=agency_id or world.agency,
                enterprise_id=world.enterprises["jia"],
                plan_id=world.plan["id"] if plan else None,
                recorded_start=start,
                recorded_end=end,
                landmark="厂门",
                device_numbers=["JL-01"],
                annotation="",
                uploaded_by="chen",
                archived_at=archived_at or end + HOUR,
            )
            .returning(video_records.c.id)
        ).scalar_one()
    )
    for code in codes:
        conn.execute(insert(video_record_links).values(video_id=video_id, kind="sample", value=code))
    return video_id


def take(world: SamplingWorld, *minutes: float) -> list[str]:
    """On-site samples of the plan taken (and entered live) at T(m) each; their codes."""
    codes = []
    with world.engine.begin() as conn:
        for m in minutes:
            entry = world.entry(device_at=T(m))
            codes.append(world.register(conn, entry, now=T(m))["code"])
    return codes


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest) -> Iterator[SamplingWorld]:
    engine: Engine = request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
    yield build_sampling_world(engine)


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return settings  # the defaults: 72 h, 15 min whole job, 5 min clip tolerance


def coverage(world: SamplingWorld, cfg: Settings, now: datetime) -> list[Any]:
    with world.engine.connect() as conn:
        return check_coverage(conn, cfg, now, period=PERIOD)


# --- the pure pieces ---------------------------------------------------------------------------------


def span(a: float, b: float, vid: int = 1) -> Span:
    return Span(vid, T(a), T(b), T(b))


def test_uncovered_reports_each_gap_from_to() -> None:
    spans = [span(7, 12, 3), span(-2, 3), span(3, 6.5, 4), span(6, 8, 2)]  # touching and overlapping
    assert uncovered(T(0), T(10), spans) == []
    assert uncovered(T(0), T(14), spans) == [(T(12), T(14))]
    assert uncovered(T(0), T(10), spans[:2]) == [(T(3), T(7))]
    assert uncovered(T(-5), T(10), [span(6, 8), span(-2, 3)]) == [
        (T(-5), T(-2)),
        (T(3), T(6)),
        (T(8), T(10)),
    ]
    assert uncovered(T(0), T(10), []) == [(T(0), T(10))]
    assert uncovered(T(0), T(10), [span(3, 3)]) == [(T(0), T(3)), (T(3), T(10))]
    # an instant job: covered by a video running then (its ends included), else the instant itself
    assert uncovered(T(4), T(4), [span(0, 4)]) == []
    assert uncovered(T(4), T(4), [span(5, 9)]) == [(T(4), T(4))]


def test_clip_near_takes_the_tolerance_on_both_sides() -> None:
    tol = 5 * MIN
    assert clip_near(T(0), tol, [span(5, 9)]) is not None  # starts exactly at +5
    assert clip_near(T(0), tol, [span(5.1, 9)]) is None
    assert clip_near(T(0), tol, [span(-9, -5)]) is not None
    assert clip_near(T(0), tol, [span(-9, -5.1)]) is None


# --- jobs --------------------------------------------------------------------------------------------


def test_a_job_is_one_plan_on_one_china_day_by_sampling_time(world: SamplingWorld) -> None:
    codes = take(world, 0, 10, 4)
    with world.engine.begin() as conn:
        world.register_delivered(conn)  # self-delivered: no plan, no job
        jobs = sampling_jobs(conn, PERIOD)
        assert sampling_jobs(conn, period(DAY + timedelta(days=1), DAY + timedelta(days=2))) == []
        assert sampling_jobs(conn, PERIOD, agency_id=world.other_agency) == []
    assert len(jobs) == 1
    job = jobs[0]
    assert (job.plan_id, job.day, job.agency_id) == (world.plan["id"], DAY, world.agency)
    assert job.codes == (codes[0], codes[2], codes[1])  # by sampling time
    assert (job.start, job.end, job.duration) == (T(0), T(10), 10 * MIN)


def test_a_sampler_given_time_is_the_sampling_time(world: SamplingWorld) -> None:
    with world.engine.begin() as conn:
        late = world.entry(device_at=T(30), sampled_at=T(-20))  # entered 50 min after sampling
        world.register(conn, late, now=T(30))
        (job,) = sampling_jobs(conn, PERIOD)
    assert (job.start, job.end) == (T(-20), T(-20))


# --- coverage (WZ-A1-5) ------------------------------------------------------------------------------


def test_a_short_job_filmed_whole_by_several_videos_passes(world: SamplingWorld, cfg: Settings) -> None:
    codes = take(world, 0, 10)
    with world.engine.begin() as conn:
        add_video(conn, world, T(-2), T(4), codes=codes[:1])
        add_video(conn, world, T(4), T(12), plan=True)  # linked to the plan only
    assert coverage(world, cfg, T(60)) == []


def test_a_gap_in_a_short_job_is_reported_from_to(world: SamplingWorld, cfg: Settings) -> None:
    codes = take(world, 0, 10)
    with world.engine.begin() as conn:
        first = add_video(conn, world, T(-2), T(3), codes=codes)
        second = add_video(conn, world, T(6), T(12), codes=codes[1:])
        add_video(conn, world, T(2), T(8), codes=codes, stage="transport")  # another stage: no cover
    (found,) = coverage(world, cfg, T(60))
    assert (found.rule, found.kind, found.pending) == ("WZ-A1-5", "gap", True)
    assert found.video_ids == (first, second) and found.sample_codes == tuple(codes)
    assert found.evidence["gaps"] == [
        {"from": "2026-11-23T10:03:00+08:00", "to": "2026-11-23T10:06:00+08:00"}
    ]
    assert found.evidence["uncovered_s"] == 180
    assert "2026-11-23 10:03:00–2026-11-23 10:06:00" in found.message
    # after the archive deadline the gap is a violation, not "so far"
    (final,) = coverage(world, cfg, T(10) + 72 * HOUR + MIN)
    assert final.pending is False and "so far" not in final.message


def test_a_one_sample_job_needs_a_video_running_then(world: SamplingWorld, cfg: Settings) -> None:
    (code,) = take(world, 0)
    with world.engine.begin() as conn:
        add_video(conn, world, T(1), T(5), codes=[code])
    (found,) = coverage(world, cfg, T(60))
    assert found.kind == "gap" and found.evidence["gaps"][0]["from"] == found.evidence["gaps"][0]["to"]
    with world.engine.begin() as conn:
        add_video(conn, world, T(-1), T(0), codes=[code])
    assert coverage(world, cfg, T(60)) == []


def test_a_long_job_needs_start_and_end_clips(world: SamplingWorld, cfg: Settings) -> None:
    codes = take(world, 0, 40)
    with world.engine.begin() as conn:
        add_video(conn, world, T(-3), T(1), codes=codes[:1])  # the start clip
        add_video(conn, world, T(46), T(50), codes=codes[1:])  # 6 min after the end: too far
    (found,) = coverage(world, cfg, T(120))
    assert found.kind == "no_end_clip"
    assert found.evidence["window"] == {
        "from": "2026-11-23T10:35:00+08:00",
        "to": "2026-11-23T10:45:00+08:00",
    }
    with world.engine.begin() as conn:
        add_video(conn, world, T(44), T(46), codes=codes[1:])
    assert coverage(world, cfg, T(120)) == []


def test_fifteen_minutes_is_already_a_long_job(world: SamplingWorld, cfg: Settings) -> None:
    codes = take(world, 0, 15)
    with world.engine.begin() as conn:
        add_video(conn, world, T(0), T(1), codes=codes)
        add_video(conn, world, T(14), T(15), codes=codes)  # start and end only, a gap between
    assert coverage(world, cfg, T(60)) == []
    kinds = {f.kind for f in coverage(world, cfg.model_copy(update={"video_whole_job_max_min": 16}), T(60))}
    assert kinds == {"gap"}


def test_videos_of_other_plans_days_and_agencies_do_not_count(world: SamplingWorld, cfg: Settings) -> None:
    (code,) = take(world, 0)
    with world.engine.begin() as conn:
        mine = add_video(conn, world, T(2), T(3), codes=[code])  # belongs, does not cover
        add_video(conn, world, T(-1), T(1), codes=["WZJC-OTHER"])  # another sample
        add_video(conn, world, T(-1) - 24 * HOUR, T(1) - 24 * HOUR, plan=True)  # the plan, the day before
        add_video(conn, world, T(-1), T(1), agency_id=world.other_agency)  # unlinked
    (found,) = coverage(world, cfg, T(60))
    assert found.video_ids == (mine,)


# --- archive deadline (WZ-A1-13) ---------------------------------------------------------------------


def test_late_archiving_says_by_how_much(world: SamplingWorld, cfg: Settings) -> None:
    with world.engine.begin() as conn:
        on_time = add_video(conn, world, T(0), T(10), archived_at=T(10) + 72 * HOUR, stage="analysis")
        late = add_video(conn, world, T(0), T(20), archived_at=T(20) + 73.5 * HOUR, stage="transport")
        add_video(conn, world, T(-24 * 60), T(-24 * 60 + 5), archived_at=T(0) + 200 * HOUR)  # day before
        found = check_archive_deadline(conn, cfg, T(0) + 300 * HOUR, period=PERIOD)
        assert check_archive_deadline(conn, cfg, T(0), period=PERIOD, agency_id=world.other_agency) == []
    assert [f.video_ids for f in found] == [(late,)] and on_time not in found[0].video_ids
    f = found[0]
    assert (f.rule, f.kind, f.pending, f.subject) == ("WZ-A1-13", "late", False, f"video {late}")
    assert f.evidence["late_by_s"] == 5400 and f.evidence["delay_s"] == int(73.5 * 3600)
    assert "73.5 h after, 1.5 h later than the 72 h allowed" in f.message


def test_a_job_without_video_is_due_then_missing(world: SamplingWorld, cfg: Settings) -> None:
    codes = take(world, 0, 5)
    with world.engine.connect() as conn:
        (due,) = check_archive_deadline(conn, cfg, T(5) + 72 * HOUR, period=PERIOD)
        (missing,) = check_archive_deadline(conn, cfg, T(5) + 72 * HOUR + MIN, period=PERIOD)
    assert (due.kind, due.pending) == ("due", True)
    assert (missing.kind, missing.pending) == ("missing", False)
    assert missing.sample_codes == tuple(codes) and missing.plan_id == world.plan["id"]
    assert missing.evidence["deadline"] == "2026-11-26T10:05:00+08:00"
    with world.engine.begin() as conn:
        add_video(conn, world, T(20), T(25), plan=True, stage="transport")  # not a sampling video
        assert [f.kind for f in check_archive_deadline(conn, cfg, T(6000), period=PERIOD)] == ["missing"]
        add_video(conn, world, T(20), T(25), plan=True)
        assert check_archive_deadline(conn, cfg, T(6000), period=PERIOD) == []
        # ...and the coverage check now reports that the video does not show the job
        assert {f.kind for f in check_coverage(conn, cfg, T(6000), period=PERIOD)} == {"gap"}


def test_run_checks_groups_by_rule_and_is_deterministic(world: SamplingWorld, cfg: Settings) -> None:
    take(world, 0)
    with world.engine.begin() as conn:
        add_video(conn, world, T(0), T(1), archived_at=T(1) + 80 * HOUR, stage="handover")
        first = run_checks(conn, cfg, T(6000), period=PERIOD)
        again = run_checks(conn, cfg, T(6000), period=PERIOD)
    assert first == again
    out = grouped_out(first)
    assert [(g["rule"], g["count"]) for g in out] == [("WZ-A1-13", 2), ("WZ-A1-5", 0), ("WZ-A2-8", 0)]
    assert sorted(f["kind"] for f in out[0]["findings"]) == ["late", "missing"]
