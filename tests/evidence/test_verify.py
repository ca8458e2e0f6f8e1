"""``evidence.verify``: a sound store verifies clean; one changed byte or row is found and named exactly."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Table, insert, select, text, update
from sqlalchemy.sql import ColumnElement

from envwatch.core.evidence import submit
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import keys, log, verify_tree
from envwatch.evidence.checkpoint import Checkpoint, sign
from envwatch.evidence.schema import (
    evidence_checkpoints,
    evidence_leaves,
    evidence_nodes,
    evidence_verify_runs,
)
from envwatch.evidence.verify import VerifyReport, verify
from envwatch.sampling.schema import custody_events
from tests.evidence.test_verify_support import EvidenceWorld, build_evidence_world, flip_byte
from tests.evidence.test_wiring_support import _unprotect, tamper


@pytest.fixture
def world(engine: Engine, settings: Settings) -> EvidenceWorld:
    return build_evidence_world(engine, settings)


@pytest.fixture
def lite(sqlite_engine: Engine, settings: Settings) -> EvidenceWorld:
    return build_evidence_world(sqlite_engine, settings)


def run(w: EvidenceWorld, **options: Any) -> VerifyReport:
    return verify(w.engine, w.settings, w.later, **options)


def whats(report: VerifyReport) -> list[tuple[str, str]]:
    return [(p.what, p.where) for p in report.problems]


def change(engine: Engine, table: Table, where: ColumnElement[bool], **values: Any) -> None:
    with engine.begin() as conn:
        _unprotect(conn, table)
        assert conn.execute(update(table).where(where).values(**values)).rowcount == 1


def test_a_sound_store_verifies_and_the_run_is_recorded_and_logged(world: EvidenceWorld) -> None:
    phases: set[str] = set()
    report = run(world, progress=lambda phase, done, total: phases.add(phase))
    assert report.ok and report.problems == [], [p.line() for p in report.problems]
    with world.engine.connect() as conn:
        size = log.tree_size(conn)
        entries = conn.execute(select(evidence_entries.c.id)).all()
        run_row = conn.execute(select(evidence_verify_runs)).mappings().one()
        logged = log.entry(conn, report.entry_id or 0)
    assert report.tree_size == size > 0
    assert report.counts["entries"] == len(entries) - 1  # all but its own verify_run entry
    assert report.counts["checkpoints"] == 2 and report.counts["blobs"] == 1
    assert report.counts["nodes"] == sum(size >> level for level in range(size.bit_length()))
    assert {"tree", "checkpoints", "entries", "blobs"} <= phases
    assert run_row["ok"] is True and run_row["problem_count"] == 0 and run_row["tree_size"] == size
    assert run_row["id"] == report.run_id and run_row["started_at"] == world.later
    assert (
        logged is not None
        and logged["kind"] == "verify_run"
        and logged["ref"] == f"evidence_verify_runs/{report.run_id}"
    )
    # the next run checks the first run's entry too (integrated meanwhile), still clean
    with world.engine.begin() as conn:
        log.integrate(conn, world.later)
    again = verify(world.engine, world.settings, world.later + timedelta(minutes=1))
    assert again.ok, [p.line() for p in again.problems]
    assert again.counts["entries"] == len(entries)


def test_one_changed_byte_of_a_stored_file_names_the_blob(world: EvidenceWorld) -> None:
    flip_byte(world.photo_path())
    report = run(world)
    assert not report.ok
    assert whats(report) == [("blob_changed", f"blob_records/{world.blob_id} (sha256 {world.photo})")]
    assert "SHA-256 is now" in report.problems[0].detail


def test_a_missing_file_is_named(lite: EvidenceWorld) -> None:
    path = lite.photo_path()
    path.chmod(0o644)
    path.unlink()
    assert whats(run(lite)) == [("blob_missing", f"blob_records/{lite.blob_id} (sha256 {lite.photo})")]
    assert run(lite, blobs=False).ok  # --no-blobs skips the files


def test_a_changed_entry_body_is_named_with_its_leaf(world: EvidenceWorld) -> None:
    entry_id = world.entry_id(f"samples/{world.sample_id()}")
    with world.engine.connect() as conn:
        body = conn.execute(
            select(evidence_entries.c.body).where(evidence_entries.c.id == entry_id)
        ).scalar_one()
        leaf = log.leaf_of_entry(conn, entry_id)
    assert leaf is not None
    forged = json.loads(body)
    forged["payload"]["row"]["point_name"] = "另一个排口"
    tamper(world.engine, evidence_entries, entry_id, body=json.dumps(forged, ensure_ascii=False))
    report = run(world)
    where = f"evidence_entries/{entry_id} (leaf {leaf['leaf_index']})"
    assert ("entry_changed", where) in whats(report)
    # the tree and checkpoints still agree with the leaf: the body alone is named, plus its source
    assert {what for what, _ in whats(report)} == {"entry_changed", "source_changed"}
    assert report.problem_count == 2


def test_a_changed_source_row_names_table_id_and_column(world: EvidenceWorld) -> None:
    event = world.first_event()
    tamper(world.engine, custody_events, event["id"], note="改过的备注")
    report = run(world)
    assert [p.what for p in report.problems] == ["source_changed"]
    problem = report.problems[0]
    assert problem.where.startswith(f"custody_events/{event['id']} (evidence_entries/")
    assert "note" in problem.detail and f"custody_events/{event['id']}" in problem.detail
    assert run(world, sources=False).ok


def test_a_changed_node_is_named_alone(world: EvidenceWorld) -> None:
    nodes = evidence_nodes.c
    change(world.engine, evidence_nodes, (nodes.level == 1) & (nodes.node_index == 0), hash="ab" * 32)
    report = run(world)
    assert whats(report) == [("node_changed", "evidence_nodes level 1 index 0")]
    assert "hash of its two children" in report.problems[0].detail


def test_a_changed_leaf_row_is_named(lite: EvidenceWorld) -> None:
    change(lite.engine, evidence_leaves, evidence_leaves.c.leaf_index == 2, leaf_hash="cd" * 32)
    report = run(lite)
    assert [p.what for p in report.problems] == ["leaf_changed"]
    assert report.problems[0].where.startswith("evidence_leaves/2 (entry ")


def test_a_deleted_leaf_is_named(world: EvidenceWorld) -> None:
    with world.engine.begin() as conn:
        _unprotect(conn, evidence_leaves)
        entry_id = conn.execute(
            select(evidence_leaves.c.entry_id).where(evidence_leaves.c.leaf_index == 3)
        ).scalar_one()
        conn.execute(evidence_leaves.delete().where(evidence_leaves.c.leaf_index == 3))
    report = run(world)
    assert ("leaf_missing", "evidence_leaves/3") in whats(report)
    assert ("entry_not_integrated", f"evidence_entries/{entry_id}") in whats(report)
    assert report.problem_count == 2  # the tree above rests on the level-0 node: no cascade


def test_a_removed_last_leaf_and_node_break_the_checkpoint(lite: EvidenceWorld) -> None:
    with lite.engine.begin() as conn:
        size = log.tree_size(conn)
        for table in (evidence_leaves, evidence_nodes):
            _unprotect(conn, table)
        conn.execute(evidence_leaves.delete().where(evidence_leaves.c.leaf_index == size - 1))
        for level in range(size.bit_length()):
            nodes = evidence_nodes.c
            conn.execute(
                evidence_nodes.delete().where(nodes.level == level, nodes.node_index >= size >> level)
            )
    report = run(lite)
    assert any(what == "checkpoint_beyond_log" for what, _ in whats(report)), report.problems


def test_a_tampered_checkpoint_note_is_named(world: EvidenceWorld) -> None:
    with world.engine.connect() as conn:
        first = conn.execute(select(evidence_checkpoints).order_by(evidence_checkpoints.c.id)).first()
    assert first is not None
    forged = first.note.replace(f"\n{first.tree_size}\n", f"\n{first.tree_size + 1}\n", 1)
    tamper(world.engine, evidence_checkpoints, first.id, note=forged)
    report = run(world)
    assert ("checkpoint_signature", f"evidence_checkpoints/{first.id} (size {first.tree_size})") in whats(
        report
    )
    assert report.problems[0].detail.startswith("the signed note does not verify with the platform key")


def test_a_changed_checkpoint_column_is_named(lite: EvidenceWorld) -> None:
    with lite.engine.connect() as conn:
        latest = log.latest_checkpoint(conn)
    assert latest is not None
    tamper(lite.engine, evidence_checkpoints, latest["id"], root_hash="00" * 32)
    assert [p.what for p in run(lite).problems] == ["checkpoint_changed"]


def test_a_split_view_checkpoint_signed_with_the_key_fails_root_and_consistency(lite: EvidenceWorld) -> None:
    """Whoever holds the key signs a different tree: the root and the consistency proof give it away."""
    with lite.engine.begin() as conn:
        size = log.tree_size(conn)
        name, key = keys.signing_key(lite.settings)
        note = sign(Checkpoint(lite.settings.evidence_origin, size, b"\x07" * 32), key, name)
        conn.execute(
            insert(evidence_checkpoints).values(
                tree_size=size, root_hash=("07" * 32), note=note, key_name=name, created_at=lite.later
            )
        )
    whats_found = {what for what, _ in whats(run(lite))}
    assert whats_found == {"checkpoint_root", "checkpoint_consistency"}


def test_pending_entries_are_reported_after_the_grace_period(lite: EvidenceWorld) -> None:
    with lite.engine.begin() as conn:
        entry_id = submit(conn, "test", "things/1", {"n": 1}, lite.later)
    assert verify(lite.engine, lite.settings, lite.later + timedelta(seconds=30)).ok
    late = verify(lite.engine, lite.settings, lite.later + timedelta(hours=1))
    assert ("entry_not_integrated", f"evidence_entries/{entry_id}") in whats(late)


def test_changed_entry_columns_are_named(lite: EvidenceWorld) -> None:
    entry_id = lite.entry_id(f"blob_records/{lite.blob_id}")
    tamper(lite.engine, evidence_entries, entry_id, ref="blob_records/999")
    report = run(lite)
    assert [p.what for p in report.problems] == ["entry_changed"]
    assert "column ref is 'blob_records/999'" in report.problems[0].detail


def test_problems_are_capped_but_counted(lite: EvidenceWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("envwatch.evidence.verify.MAX_PROBLEMS", 2)
    with lite.engine.begin() as conn:
        _unprotect(conn, evidence_nodes)
        conn.execute(evidence_nodes.delete().where(evidence_nodes.c.level == 0))
    report = run(lite)
    assert report.problem_count > 2 and len(report.problems) == 2
    with lite.engine.connect() as conn:
        row = conn.execute(select(evidence_verify_runs)).mappings().one()
    assert row["problem_count"] == report.problem_count and len(row["problems"]) == 2 and row["ok"] is False


def test_a_long_log_streams_in_chunks(
    sqlite_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With chunks of 4 leaves, 45 leaves need the carries above the chunks: each level is still checked."""
    monkeypatch.setattr(verify_tree, "CHUNK_LEVELS", 2)
    monkeypatch.setattr(verify_tree, "CHUNK", 4)
    now = build_evidence_world(sqlite_engine, settings).later
    with sqlite_engine.begin() as conn:
        for n in range(45 - log.tree_size(conn)):
            submit(conn, "test", f"things/{n}", {"n": n}, now)
        log.integrate(conn, now)
        assert log.tree_size(conn) == 45
        log.make_checkpoint(conn, settings, now)
    assert verify(sqlite_engine, settings, now, sources=False).ok
    nodes = evidence_nodes.c
    for level, index in ((4, 1), (5, 0), (3, 4)):
        change(
            sqlite_engine,
            evidence_nodes,
            (nodes.level == level) & (nodes.node_index == index),
            hash="ee" * 32,
        )
    report = verify(sqlite_engine, settings, now, sources=False)
    assert sorted(whats(report)) == [
        ("node_changed", f"evidence_nodes level {lv} index {ix}") for lv, ix in ((3, 4), (4, 1), (5, 0))
    ]


def test_a_node_row_beyond_the_tree_is_named(lite: EvidenceWorld) -> None:
    with lite.engine.begin() as conn:
        size = log.tree_size(conn)
        conn.execute(insert(evidence_nodes).values(level=0, node_index=size + 5, hash="11" * 32))
        conn.execute(text("SELECT 1"))
    report = run(lite)
    assert ("node_extra", f"evidence_nodes level 0 index {size + 5}") in whats(report)
