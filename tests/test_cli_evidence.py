"""``envwatch evidence verify|export|check|integrate|checkpoint|status|key`` as a user runs them (Typer's
runner) on a migrated SQLite data directory holding real evidence (tests/evidence/test_verify_support.py).

The issue's key tests end to end: one changed byte of a stored file, one changed row (an entry body, a
custody event's note, a tree node), a deleted leaf and a tampered checkpoint note each fail ``verify`` with
the thing named; an exported bundle checks OK offline in a separate process without a data directory, and
fails once a byte of its file or of a proof is flipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.evidence import submit
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import keys, log
from envwatch.evidence.schema import evidence_checkpoints, evidence_leaves, evidence_nodes
from envwatch.sampling.schema import custody_events
from tests.evidence.test_verify_support import EvidenceWorld, build_evidence_world, flip_byte
from tests.evidence.test_wiring_support import _unprotect, tamper

runner = CliRunner()


@pytest.fixture
def world(sqlite_engine: Engine, settings: Settings) -> EvidenceWorld:
    return build_evidence_world(sqlite_engine, settings)


def cli(world: EvidenceWorld, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["evidence", *args, "--data-dir", str(world.settings.data_dir)])
    # --json writes JSON alone on stdout (the progress bar goes to stderr)
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_a_sound_store_verifies_and_status_shows_the_run(world: EvidenceWorld) -> None:
    code, out = cli(world, "verify")
    assert code == 0, out
    assert "OK 核验通过" in out and "2 checkpoints" in out
    code, out = cli(world, "status")
    assert code == 0 and "last verification 最近核验: #1" in out and ": OK" in out
    assert "latest checkpoint 最新检查点: #2" in out
    code, out = cli(world, "status", "--json")
    data = json.loads(out)
    with world.engine.connect() as conn:
        assert data["tree_size"] == log.tree_size(conn)
    assert data["pending_entries"] == 1  # the verify run's own entry, not integrated yet
    assert data["last_verify_run"]["ok"] is True
    code, out = cli(world, "key")
    assert code == 0 and out.strip() == keys.public_vkey(world.settings)
    assert "BEGIN PUBLIC KEY" in cli(world, "key", "--pem")[1]


def test_verify_names_a_changed_blob_byte(world: EvidenceWorld) -> None:
    flip_byte(world.photo_path())
    code, out = cli(world, "verify")
    assert code == 1
    assert f"blob_changed blob_records/{world.blob_id} (sha256 {world.photo})" in out
    assert "FAILED 核验不通过: 1 problem(s)" in out
    assert cli(world, "verify", "--no-blobs")[0] == 0


def test_verify_names_a_changed_entry_body(world: EvidenceWorld) -> None:
    entry_id = world.entry_id(f"samples/{world.sample_id()}")
    with world.engine.connect() as conn:
        body = conn.execute(
            select(evidence_entries.c.body).where(evidence_entries.c.id == entry_id)
        ).scalar_one()
    tamper(
        world.engine,
        evidence_entries,
        entry_id,
        body=body.replace('"chen"', '"zhou"').replace("2026-11-23T02", "2026-11-22T02", 1),
    )
    code, out = cli(world, "verify", "--json")
    assert code == 1
    problems = json.loads(out)["problems"]
    assert any(
        p["what"] == "entry_changed" and p["where"].startswith(f"evidence_entries/{entry_id} ")
        for p in problems
    )


def test_verify_names_a_changed_custody_note(world: EvidenceWorld) -> None:
    event = world.first_event()
    tamper(world.engine, custody_events, event["id"], note="事后改写")
    code, out = cli(world, "verify")
    assert code == 1
    assert f"source_changed custody_events/{event['id']}" in out and "note" in out


def test_verify_names_a_changed_node_and_a_deleted_leaf(world: EvidenceWorld) -> None:
    with world.engine.begin() as conn:
        for table in (evidence_nodes, evidence_leaves):
            _unprotect(conn, table)
        conn.execute(
            evidence_nodes.update()
            .where(evidence_nodes.c.level == 2, evidence_nodes.c.node_index == 0)
            .values(hash="ab" * 32)
        )
        conn.execute(evidence_leaves.delete().where(evidence_leaves.c.leaf_index == 1))
    code, out = cli(world, "verify", "--no-sources")
    assert code == 1
    assert "node_changed evidence_nodes level 2 index 0" in out
    assert "leaf_missing evidence_leaves/1" in out


def test_verify_names_a_tampered_checkpoint_note(world: EvidenceWorld) -> None:
    with world.engine.connect() as conn:
        latest = log.latest_checkpoint(conn)
    assert latest is not None
    lines = latest["note"].split("\n")
    lines[2] = lines[2][:-3] + ("AAA" if not lines[2].endswith("AAA=") else "BBB") + lines[2][-1]
    tamper(world.engine, evidence_checkpoints, latest["id"], note="\n".join(lines))
    code, out = cli(world, "verify")
    assert code == 1
    assert f"checkpoint_signature evidence_checkpoints/{latest['id']} (size {latest['tree_size']})" in out


def _check(bundle: Path, *extra: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``envwatch evidence check`` in a fresh process, in an empty directory, without any data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "envwatch.cli", "evidence", "check", str(bundle), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_an_exported_bundle_checks_offline_and_fails_when_flipped(
    world: EvidenceWorld, tmp_path: Path
) -> None:
    out_file = tmp_path / "sample.zip"
    code, out = cli(world, "export", f"sample:{world.code}", "-o", str(out_file))
    assert code == 0, out
    assert "3 entries, 1 file(s)" in out
    vkey = keys.public_vkey(world.settings)
    elsewhere = tmp_path / "court"
    elsewhere.mkdir()
    ok = _check(out_file, "--key", vkey, cwd=elsewhere)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "RESULT 结论: OK 核验通过" in ok.stdout and not (elsewhere / "var").exists()
    key_file = tmp_path / "platform.vkey"
    key_file.write_text(vkey + "\n")
    as_json = _check(out_file, "--key-file", str(key_file), "--json", cwd=elsewhere)
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["key_trusted"] is True

    flipped = tmp_path / "flipped.zip"
    proofless = tmp_path / "proof.zip"
    with (
        zipfile.ZipFile(out_file) as source,
        zipfile.ZipFile(flipped, "w") as a,
        zipfile.ZipFile(proofless, "w") as b,
    ):
        for name in source.namelist():
            data = source.read(name)
            if name.startswith("files/"):
                a.writestr(name, data[:100] + bytes([data[100] ^ 0x80]) + data[101:])
                b.writestr(name, data)
            else:
                manifest = json.loads(data)
                a.writestr(name, data)
                first = manifest["entries"][0]["inclusion_proof"]
                first[-1] = first[-1][:-1] + ("0" if first[-1][-1] != "0" else "1")
                b.writestr(name, json.dumps(manifest))
    for bad in (flipped, proofless):
        failed = _check(bad, "--key", vkey, cwd=elsewhere)
        assert failed.returncode == 1, failed.stdout
        assert "FAILED 核验不通过" in failed.stdout
    assert "content changed" in _check(flipped, cwd=elsewhere).stdout
    assert "inclusion proof 包含证明 fails" in _check(proofless, cwd=elsewhere).stdout


def test_check_needs_no_data_dir_in_process(world: EvidenceWorld, tmp_path: Path) -> None:
    out_file = tmp_path / "blob.zip"
    assert cli(world, "export", f"blob:{world.photo}", "-o", str(out_file))[0] == 0
    result = runner.invoke(app, ["evidence", "check", str(out_file)])
    assert result.exit_code == 0
    assert "pin the platform key with --key to trust it" in result.output
    both = runner.invoke(app, ["evidence", "check", str(out_file), "--key", "x", "--key-file", str(out_file)])
    assert both.exit_code == 2


def test_integrate_checkpoint_and_an_uncovered_export(world: EvidenceWorld, tmp_path: Path) -> None:
    with world.engine.begin() as conn:
        code = world.sampling.register(conn, world.sampling.entry(sampler="zhou"), now=world.later)["code"]
    code_out = cli(world, "export", f"sample:{code}", "-o", str(tmp_path / "x.zip"))
    assert code_out[0] == 2 and "envwatch evidence checkpoint" in code_out[1]
    assert not (tmp_path / "x.zip").exists()
    assert cli(world, "integrate")[1].strip() == "2 entries integrated"  # the sample_code and custody entries
    made = cli(world, "checkpoint")
    assert made[0] == 0 and "0 entries integrated; checkpoint 3:" in made[1]
    assert "the tree did not grow" in cli(world, "checkpoint")[1]
    assert cli(world, "export", f"sample:{code}", "-o", str(tmp_path / "x.zip"))[0] == 0
    with world.engine.begin() as conn:
        submit(conn, "test", "things/1", {"n": 1}, world.later)
    assert cli(world, "integrate")[1].strip() == "1 entries integrated"
