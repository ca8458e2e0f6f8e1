"""Rule pack ``video`` (WZ-A1-5, WZ-A1-13, WZ-A2-5, WZ-A2-8) on samples taken through the real sampling stores,
video rows as the upload writes them, reprints through the custody store and videos in the blob store of
the settings; SQLite and PostgreSQL.

The sampling world (tests/sampling/conftest.py) is built ten days before its usual day, so that the moments
judged (up to 72 h after the sampling) lie in the past of any run: ``W`` is 10:00 China time on
2026-11-13, the plan of 温州检测 (``world.agency``) at 甲 runs 09:00-17:00 that day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from envwatch.compliance.run import run_rules
from envwatch.core.blobs import BlobStore
from envwatch.core.settings import Settings
from envwatch.sampling.steps import record_reprint
from tests.compliance.world_service import judge, keys, stored
from tests.evidence.test_checks import add_video
from tests.sampling.conftest import SAMPLING_NOW, SamplingWorld, build_sampling_world

W = SAMPLING_NOW - timedelta(days=10)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
AFTER = W + 10 * MIN + 72 * HOUR + MIN  # the archive deadline of a job ending at T(10) has passed


def T(minutes: float) -> datetime:
    return W + timedelta(minutes=minutes)


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest) -> Iterator[SamplingWorld]:
    engine: Engine = request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
    yield build_sampling_world(engine, W)


def take(world: SamplingWorld, *minutes: float) -> list[str]:
    codes = []
    with world.engine.begin() as conn:
        for m in minutes:
            codes.append(world.register(conn, world.entry(device_at=T(m)), now=T(m))["code"])
    return codes


# ---- WZ-A1-13-72H ----


def test_late_archiving_and_jobs_without_video(world: SamplingWorld, settings: Settings) -> None:
    codes = take(world, 0, 10)
    engine = world.engine
    # before the deadline a job without video is pending: not a finding
    assert judge(engine, settings, "WZ-A1-13-72H", T(60)) == []
    found = judge(engine, settings, "WZ-A1-13-72H", AFTER)
    day = "2026-11-13"
    assert keys(found) == [f"missing:plan:{world.plan['id']}:day:{day}"]
    missing = found[0]
    assert (missing.subject_kind, missing.subject_id, missing.agency_id) == (
        "agency",
        world.agency,
        world.agency,
    )
    assert missing.enterprise_id == world.enterprises["jia"]
    assert [(link.kind, link.ref) for link in missing.evidence] == [
        ("sampling_plan", str(world.plan["id"])),
        ("sample", codes[0]),
        ("sample", codes[1]),
    ]
    assert "(采样任务无现场采样视频)" in missing.message
    # the video comes, 80 h after its recording ended: the job is covered, the video is late
    with engine.begin() as conn:
        video = add_video(conn, world, T(-2), T(12), codes=codes, archived_at=T(12) + 80 * HOUR)
    found = judge(engine, settings, "WZ-A1-13-72H", T(12) + 81 * HOUR)
    assert keys(found) == [f"late:video:{video}"]
    assert "8.0 h later than the 72 h allowed" in found[0].message
    assert found[0].evidence[0].kind == "video"
    # a province allowing 96 h
    assert judge(engine, settings, "WZ-A1-13-72H", T(12) + 81 * HOUR, deadline_h=96) == []
    # out of the lookback: not judged
    assert judge(engine, settings, "WZ-A1-13-72H", T(12) + 81 * HOUR + 100 * 24 * HOUR) == []


# ---- WZ-A1-5 ----


def test_a_gap_in_a_short_job_and_a_whole_one(world: SamplingWorld, settings: Settings) -> None:
    codes = take(world, 0, 10)
    with world.engine.begin() as conn:
        add_video(conn, world, T(-2), T(3), codes=codes)
        add_video(conn, world, T(6), T(12), codes=codes)
    assert judge(world.engine, settings, "WZ-A1-5", T(60)) == []  # pending: more video may come
    (gap,) = judge(world.engine, settings, "WZ-A1-5", AFTER)
    assert gap.key == f"gap:plan:{world.plan['id']}:day:2026-11-13"
    assert "no sampling video covers 2026-11-13 10:03:00–2026-11-13 10:06:00" in gap.message
    assert [link.kind for link in gap.evidence] == ["video", "video", "sampling_plan", "sample", "sample"]
    # counted as a long job (over 5 min) it needs a start and an end clip only, and has both
    assert judge(world.engine, settings, "WZ-A1-5", AFTER, whole_job_max_min=5) == []


# ---- WZ-A2-8 ----


def test_a_reprint_needs_its_video_in_the_store(world: SamplingWorld, settings: Settings) -> None:
    good = BlobStore.from_settings(settings).put(b"reprint video").sha256
    with world.engine.begin() as conn:
        codes = [world.register(conn)["code"] for _ in range(2)]
        for code in codes:
            world.step(conn, code, "print_label", "chen")
        for n, (code, sha) in enumerate(((codes[0], good), (codes[1], "e" * 64))):
            record_reprint(
                conn, code, staff_id=world.staff["chen"], video_sha256=sha, reason="标签污损", actor="chen",
                now=W + (5 + n) * MIN,
            )  # fmt: skip
    (found,) = judge(world.engine, settings, "WZ-A2-8", W + HOUR)
    assert found.key.startswith(f"video_file_missing:sample:{codes[1]}:event:")
    assert "补打标签视频文件缺失" in found.message
    assert [(link.kind, link.ref) for link in found.evidence] == [
        ("sampling_plan", str(world.plan["id"])),
        ("sample", codes[1]),
    ]


# ---- WZ-A2-5 ----


def test_samplers_not_trained_and_tested(world: SamplingWorld, settings: Settings) -> None:
    found = judge(world.engine, settings, "WZ-A2-5", W)
    s = world.staff
    assert set(keys(found)) == {
        f"staff:{s['expired']}:until:2026-11-12",
        f"staff:{s['failed']}:failed",
        f"staff:{s['withdrawn']}:none",
        f"staff:{s['untrained']}:none",
    }
    assert keys(judge(world.engine, settings, "WZ-A2-5", W)) == keys(found)  # the same order every time
    assert {f.agency_id for f in found} == {world.agency}  # 杭州检测's sampler is trained
    assert all(f.subject_kind == "agency" for f in found)
    expired = next(f for f in found if f.key.endswith("until:2026-11-12"))
    assert "counted until 2026-11-12" in expired.message and "采样人员未经培训考核" in expired.message
    # the day before, the expired training still counted
    assert f"staff:{s['expired']}:until:2026-11-12" not in keys(
        judge(world.engine, settings, "WZ-A2-5", W - 24 * HOUR)
    )


# ---- through the engine ----


def test_the_pack_runs_through_the_engine_and_a_rerun_changes_nothing(
    world: SamplingWorld, settings: Settings
) -> None:
    take(world, 0, 10)
    rules = ["WZ-A1-13-72H", "WZ-A1-5", "WZ-A2-8", "WZ-A2-5"]
    first = run_rules(world.engine, settings, at=AFTER, rule_ids=rules)
    assert first.ok, first.rules
    assert [first.rules[r]["opened"] for r in rules] == [1, 0, 0, 4]
    (row,) = stored(world.engine, "WZ-A1-13-72H")
    assert (row["subject_kind"], row["agency_id"], row["region_code"]) == ("agency", world.agency, "330302")
    again = run_rules(world.engine, settings, at=AFTER, rule_ids=rules)
    assert [again.rules[r]["still_open"] for r in rules] == [1, 0, 0, 4]
    assert all(o["opened"] == o["resolved"] == 0 for o in again.rules.values())
    # the video arrives (late): the missing-video finding is resolved, a late-video finding opens
    with world.engine.begin() as conn:
        add_video(conn, world, T(-2), T(12), plan=True, archived_at=AFTER + HOUR)
    later = run_rules(world.engine, settings, at=AFTER + 2 * HOUR, rule_ids=["WZ-A1-13-72H"])
    outcome = later.rules["WZ-A1-13-72H"]
    assert (outcome["opened"], outcome["resolved"]) == (1, 1)
    assert {r["key"].split(":")[0]: r["state"] for r in stored(world.engine, "WZ-A1-13-72H")} == {
        "late": "open",
        "missing": "resolved",
    }
