"""Evidence bundles: export from a real store, check offline (and in a process without SQLAlchemy), and fail
for one flipped byte of a file, a proof or a body, a foreign key, or a checkpoint that does not cover."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, insert, select

from envwatch.core.blob_records import store_recorded
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.settings import Settings
from envwatch.evidence import keys, log
from envwatch.evidence.bundle import export, write_bundle
from envwatch.evidence.bundle_check import FAIL, check_bundle
from envwatch.evidence.checkpoint import verifier_key
from envwatch.evidence.schema import evidence_leaves, video_records
from tests.evidence.test_verify_support import (
    PHOTO,
    EvidenceWorld,
    build_evidence_world,
    integrate_and_checkpoint,
)


@pytest.fixture
def world(sqlite_engine: Engine, settings: Settings) -> EvidenceWorld:
    return build_evidence_world(sqlite_engine, settings)


def bundle(w: EvidenceWorld, item: str, tmp_path: Path, name: str = "b.zip") -> Path:
    path = tmp_path / name
    with w.engine.connect() as conn:
        path.write_bytes(export(conn, w.settings, item, now=w.later))
    return path


def rewrite(source: Path, target: Path, change: Any) -> Path:
    """A copy of a bundle with ``change(name, data) -> data`` applied to each member."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            new.writestr(info.filename, change(info.filename, old.read(info.filename)))
    return target


def edit_manifest(source: Path, target: Path, edit: Any) -> Path:
    def change(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest).encode()

    return rewrite(source, target, change)


def failures(path: Path, key: str | None = None) -> list[str]:
    return [f"{f.what}: {f.detail}" for f in check_bundle(path, trusted_key=key).findings if f.status == FAIL]


def test_a_sample_bundle_proves_its_entries_and_photo(world: EvidenceWorld, tmp_path: Path) -> None:
    path = bundle(world, f"sample:{world.code}", tmp_path)
    vkey = keys.public_vkey(world.settings)
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read(f"files/{world.photo}") == PHOTO
    kinds = sorted(e["kind"] for e in manifest["entries"])
    assert kinds == ["blob", "custody_event", "sample_code"]
    assert manifest["item"] == f"sample:{world.code}" and manifest["log"]["verifier_key"] == vkey
    with world.engine.connect() as conn:
        latest = log.latest_checkpoint(conn)
    assert latest is not None and manifest["log"]["checkpoint"]["note"] == latest["note"]
    assert manifest["files"][0]["sha256"] == world.photo and manifest["files"][0]["size"] == len(PHOTO)

    pinned = check_bundle(path, trusted_key=vkey)
    assert pinned.ok and pinned.key_trusted and pinned.exit_code == 0, pinned.report()
    assert "signed by the pinned platform key" in pinned.report()
    unpinned = check_bundle(path)
    assert unpinned.ok and not unpinned.key_trusted
    assert (
        "signature valid for the key in the bundle; pin the platform key with --key to trust it"
        in unpinned.report()
    )
    stranger = verifier_key(world.settings.evidence_origin, Ed25519PrivateKey.generate().public_key())
    foreign = check_bundle(path, trusted_key=stranger)
    assert not foreign.ok and foreign.exit_code == 1
    assert any("NOT signed by the pinned key" in f for f in failures(path, stranger))


def test_one_flipped_byte_of_the_file_fails(world: EvidenceWorld, tmp_path: Path) -> None:
    good = bundle(world, f"blob:{world.photo}", tmp_path)
    assert check_bundle(good).ok

    def flip(name: str, data: bytes) -> bytes:
        return data if name == "manifest.json" else data[:5] + bytes([data[5] ^ 1]) + data[6:]

    bad = rewrite(good, tmp_path / "bad.zip", flip)
    assert [f.split(":")[0] for f in failures(bad)] == [f"file 文件 {world.photo[:16]}…"]
    assert "content changed" in failures(bad)[0]


def test_a_changed_proof_body_or_file_hash_fails(world: EvidenceWorld, tmp_path: Path) -> None:
    good = bundle(world, f"sample:{world.code}", tmp_path)

    def proof(m: dict[str, Any]) -> None:
        hashes = m["entries"][0]["inclusion_proof"]
        hashes[0] = ("0" if hashes[0][0] != "0" else "1") + hashes[0][1:]

    def body(m: dict[str, Any]) -> None:
        m["entries"][0]["body"] = m["entries"][0]["body"].replace("chen", "zhou")

    def claimed(m: dict[str, Any]) -> None:  # a manifest naming another file the log never saw
        m["files"][0]["sm3"] = "00" * 32

    assert "inclusion proof 包含证明 fails" in failures(edit_manifest(good, tmp_path / "p.zip", proof))[0]
    assert "body hashes to leaf" in " ".join(failures(edit_manifest(good, tmp_path / "body.zip", body)))
    assert "content changed" in " ".join(failures(edit_manifest(good, tmp_path / "c.zip", claimed)))


def test_a_tampered_note_fails_the_signature(world: EvidenceWorld, tmp_path: Path) -> None:
    good = bundle(world, f"sample:{world.code}", tmp_path)

    def note(m: dict[str, Any]) -> None:
        cp = m["log"]["checkpoint"]
        cp["note"] = cp["note"].replace(f"\n{cp['tree_size']}\n", f"\n{cp['tree_size'] + 1}\n", 1)

    found = failures(edit_manifest(good, tmp_path / "n.zip", note))
    assert found and found[0].startswith("checkpoint signature 检查点签名: does not verify")


def test_entry_leaf_and_blob_items(world: EvidenceWorld, tmp_path: Path) -> None:
    entry_id = world.entry_id(f"samples/{world.sample_id()}")
    with world.engine.connect() as conn:
        leaf = log.leaf_of_entry(conn, entry_id)
    assert leaf is not None
    for item in (f"entry:{entry_id}", f"leaf:{leaf['leaf_index']}", f"blob:{world.photo}"):
        result = check_bundle(bundle(world, item, tmp_path, item.replace(":", "_") + ".zip"))
        assert result.ok and result.item == item, result.report()


def test_a_video_bundle_carries_the_video(world: EvidenceWorld, tmp_path: Path) -> None:
    video = b"\x00\x00\x00\x18ftypmp42 pretend video " * 5000
    now = world.later
    with world.engine.begin() as conn:
        stored = store_recorded(
            conn, world.store, video, purpose="video", media_type="video/mp4", stored_by="chen", now=now
        )
        (video_id,) = conn.execute(
            insert(video_records).values(
                blob_sha256=stored.sha256,
                size=len(video),
                media_type="video/mp4",
                file_name="采样.mp4",
                stage="sampling",
                agency_id=world.sampling.agency,
                recorded_start=now - timedelta(hours=1),
                recorded_end=now - timedelta(minutes=30),
                landmark="排口",
                device_numbers=["CAM-1"],
                annotation="",
                uploaded_by="chen",
                archived_at=now,
            )
        ).inserted_primary_key or (0,)
        submit_row(conn, video_records, int(video_id), kind="video_record", now=now)
    integrate_and_checkpoint(world.engine, world.settings, now)
    path = tmp_path / "video.zip"
    with world.engine.connect() as conn, path.open("wb") as out:
        manifest = write_bundle(conn, world.settings, f"video:{video_id}", out, now=now)
    assert sorted(e["kind"] for e in manifest["entries"]) == ["blob", "video_record"]
    assert check_bundle(path, trusted_key=keys.public_vkey(world.settings)).ok


def test_the_newest_checkpoint_must_cover_the_leaves(world: EvidenceWorld) -> None:
    with world.engine.begin() as conn:
        code = world.sampling.register(conn, world.sampling.entry(sampler="zhou"), now=world.later)["code"]
    with world.engine.connect() as conn, pytest.raises(Conflict, match="not yet in the log's tree"):
        export(conn, world.settings, f"sample:{code}")
    with world.engine.begin() as conn:
        log.integrate(conn, world.later)
    with world.engine.connect() as conn, pytest.raises(Conflict, match="envwatch evidence checkpoint"):
        export(conn, world.settings, f"sample:{code}")
    with world.engine.begin() as conn:
        log.make_checkpoint(conn, world.settings, world.later)
    with world.engine.connect() as conn:
        assert export(conn, world.settings, f"sample:{code}")


def test_unknown_items_are_refused(world: EvidenceWorld) -> None:
    with world.engine.connect() as conn:
        for item, error in (
            ("sample:nope", NotFound),
            ("entry:999999", NotFound),
            ("video:1", NotFound),
            ("blob:" + "0" * 64, NotFound),
            ("thing:1", InvalidInput),
            ("entry:x", InvalidInput),
        ):
            with pytest.raises(error):
                export(conn, world.settings, item)
        assert conn.execute(select(evidence_leaves.c.leaf_index)).first() is not None


def test_the_checker_runs_without_sqlalchemy(world: EvidenceWorld, tmp_path: Path) -> None:
    """bundle_check imports only the standard library, cryptography and the two pure evidence modules."""
    path = bundle(world, f"sample:{world.code}", tmp_path)
    vkey = keys.public_vkey(world.settings)
    script = (
        "import sys; sys.modules['sqlalchemy'] = None\n"
        "from envwatch.evidence.bundle_check import check_bundle\n"
        "result = check_bundle(sys.argv[1], trusted_key=sys.argv[2])\n"
        "print(result.report())\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('envwatch'))\n"
        "assert loaded == ['envwatch', 'envwatch.evidence', 'envwatch.evidence.bundle_check', "
        "'envwatch.evidence.checkpoint', 'envwatch.evidence.merkle'], loaded\n"
        "sys.exit(result.exit_code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), vkey], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RESULT 结论: OK" in done.stdout
    broken = edit_manifest(
        path,
        tmp_path / "broken.zip",
        lambda m: m["entries"][-1].update(leaf_index=m["entries"][-1]["leaf_index"] - 1),
    )
    failed = subprocess.run(
        [sys.executable, "-c", script, str(broken), vkey], capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 1 and "FAILED" in failed.stdout
