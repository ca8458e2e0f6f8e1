"""``make demo``'s evidence files (envwatch.demo_evidence): video records of the demo agency made through the
upload and record stores, one of them archived late, a self-inspection draw, a signed checkpoint, and the
whole demo store verifying clean (``evidence.verify``), on SQLite and PostgreSQL; added once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, func, select

from envwatch import demo, demo_evidence, demo_om, demo_sampling
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import log as evidence_log
from envwatch.evidence.archive_checks import check_archive_deadline
from envwatch.evidence.schema import self_inspection_draws, self_inspection_outcomes, video_records
from envwatch.evidence.verify import verify
from envwatch.ingest.simulator import demo_devices
from envwatch.sampling.stats import period

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # 12:00 China time
SIMS = demo_devices(2, "2017", seed=1)


def _world(engine: Engine, settings: Settings) -> None:
    demo.install_registry(engine, settings.data_dir, SIMS, NOW - demo_om.REGISTRY_AGE)
    demo.install_users(engine, settings.data_dir, NOW, settings.password_min_length)
    demo_sampling.install_sampling(engine, settings, NOW)


def test_videos_draw_and_checkpoint_once_and_the_store_verifies(settings: Settings, engine: Engine) -> None:
    _world(engine, settings)
    later = NOW + timedelta(minutes=1)
    lines = demo_evidence.install_evidence(engine, settings, later)
    assert [line.split(":")[0] for line in lines[:2]] == ["video record 1", "video record 2"]
    assert lines[2].startswith("self-inspection draw of 2026-11: ")
    assert lines[-1].startswith("evidence log: checkpoint 1 signed over ")
    with engine.connect() as conn:
        videos = conn.execute(select(video_records).order_by(video_records.c.id)).mappings().all()
        assert [v["stage"] for v in videos] == ["sampling", "transport"]
        assert all(v["archived_at"] <= later for v in videos)
        assert videos[0]["blob_sha256"] == videos[1]["blob_sha256"]  # one clip, stored once
        assert conn.execute(select(func.count()).select_from(self_inspection_draws)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(self_inspection_outcomes)).scalar_one() == 1
        entries = conn.execute(select(func.count()).select_from(evidence_entries)).scalar_one()
        checkpoint = evidence_log.latest_checkpoint(conn)
        assert checkpoint is not None and checkpoint["tree_size"] == entries
        late = check_archive_deadline(
            conn, settings, later, period=period(date(2026, 11, 1), date(2026, 12, 1))
        )
    assert [(f.kind, f.video_ids) for f in late if f.kind == "late"] == [("late", (videos[1]["id"],))]

    report = verify(engine, settings, later + timedelta(minutes=5), run_by="test")
    assert report.ok, [p.as_dict() for p in report.problems]

    again = demo_evidence.install_evidence(engine, settings, later + timedelta(minutes=10))
    assert again[0] == "the demo agency already has video records: none added"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(video_records)).scalar_one() == 2
