"""``envwatch backup`` / ``envwatch restore`` (core.backup) as an operator runs them, on real stores holding
real evidence (tests/evidence/test_verify_support.py): SQLite and PostgreSQL round trips whose restored
store passes the evidence check with identical files, and the refusals (a non-empty target, a tampered
backup) that leave the target untouched.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core import backup
from envwatch.core.errors import Unavailable
from envwatch.core.evidence_schema import blob_records, evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import keys
from tests.conftest import postgres_url
from tests.evidence.test_verify_support import EvidenceWorld, build_evidence_world, flip_byte
from tests.helpers import NOW

runner = CliRunner()


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under a data directory but the live database files and the lock."""
    skip = {"envwatch.db", "envwatch.db-wal", "envwatch.db-shm", "writer.lock"}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            int(conn.execute(select(func.count()).select_from(evidence_entries)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(blob_records)).scalar_one()),
        )


@pytest.fixture
def lite(sqlite_engine: Engine, settings: Settings) -> Iterator[EvidenceWorld]:
    world = build_evidence_world(sqlite_engine, settings)
    keys.signing_key(settings)  # the key file exists (the checkpoints made it)
    yield world


def test_sqlite_round_trip_restores_identical_files_and_passes_the_evidence_check(
    lite: EvidenceWorld, tmp_path: Path
) -> None:
    source_dir = lite.settings.data_dir
    before = counts(lite.engine)
    dest = tmp_path / "backup"
    result = runner.invoke(app, ["backup", str(dest), "--data-dir", str(source_dir)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["database"] == "sqlite" and manifest["schema_revision"]
    assert manifest["created_at"] and backup.SQLITE_NAME in manifest["files"]
    assert f"data/keys/{keys.DEFAULT_KEY_NAME}" in manifest["files"]
    assert any(name.startswith("data/blobs/") for name in manifest["files"])
    for name, entry in manifest["files"].items():
        assert backup.sha256_of(dest / name) == entry["sha256"], name

    target = tmp_path / "restored"
    result = runner.invoke(app, ["restore", str(dest), "--data-dir", str(target)])
    assert result.exit_code == 0, result.output
    assert "evidence check OK" in result.output
    assert files_of(target) == files_of(source_dir)
    restored = create_engine(f"sqlite:///{target / 'envwatch.db'}")
    try:
        entries, blobs = counts(restored)
    finally:
        restored.dispose()
    assert blobs == before[1]
    assert entries == before[0] + 1  # the restore's own verification run is logged in the restored store


def test_restore_refuses_a_non_empty_target_and_a_tampered_backup(
    lite: EvidenceWorld, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    assert runner.invoke(app, ["backup", str(dest), "--data-dir", str(lite.settings.data_dir)]).exit_code == 0
    # into the live data directory: refused, nothing touched
    before = files_of(lite.settings.data_dir)
    result = runner.invoke(app, ["restore", str(dest), "--data-dir", str(lite.settings.data_dir)])
    assert result.exit_code == 2 and "is not empty" in result.output
    assert files_of(lite.settings.data_dir) == before
    # a backup into a directory that holds something: refused
    result = runner.invoke(app, ["backup", str(dest), "--data-dir", str(lite.settings.data_dir)])
    assert result.exit_code == 2 and "not an empty directory" in result.output
    # one byte of a stored file changed in the backup: the manifest check names it, nothing is restored
    blob = next(p for p in (dest / "data" / "blobs").rglob("*") if p.is_file())
    flip_byte(blob)
    target = tmp_path / "restored"
    result = runner.invoke(app, ["restore", str(dest), "--data-dir", str(target)])
    assert result.exit_code == 2, result.output
    assert "does not match its manifest" in result.output and blob.name in result.output
    assert not target.exists() or not any(target.iterdir())
    flip_byte(blob)  # back as it was
    # a backup of a release whose schema this one does not know: refused before anything is written
    manifest_path = dest / "manifest.json"
    original = manifest_path.read_text()
    manifest_path.write_text(json.dumps({**json.loads(original), "schema_revision": "0099_future"}))
    result = runner.invoke(app, ["restore", str(dest), "--data-dir", str(target)])
    assert result.exit_code == 2 and "schema revision '0099_future' is unknown" in result.output
    assert not target.exists() or not any(target.iterdir())
    manifest_path.write_text(original)
    # a file slipped into the backup is refused too
    (dest / "data" / "extra.txt").write_text("not backed up")
    result = runner.invoke(app, ["restore", str(dest), "--data-dir", str(target)])
    assert result.exit_code == 2 and "data/extra.txt: not in the manifest" in result.output


def test_a_sqlite_backup_taken_while_another_connection_keeps_committing_is_a_sound_snapshot(
    sqlite_engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    with sqlite_engine.begin() as conn:
        conn.execute(text("CREATE TABLE churn (id INTEGER PRIMARY KEY, payload BLOB)"))
        conn.execute(text("INSERT INTO churn (payload) VALUES (randomblob(4000))"))  # a few MB to copy
        for _ in range(10):
            conn.execute(text("INSERT INTO churn (payload) SELECT randomblob(4000) FROM churn LIMIT 200"))
        before = conn.execute(text("SELECT count(*) FROM churn")).scalar_one()
    stop = threading.Event()
    committed = 0

    def churn() -> None:  # what the gateway's writer does all day: small commits, one after the other
        nonlocal committed
        while not stop.is_set():
            with sqlite_engine.begin() as conn:
                conn.execute(text("INSERT INTO churn (payload) VALUES (randomblob(100))"))
            committed += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        time.sleep(0.05)
        report = backup.backup(settings, sqlite_engine, tmp_path / "b", schema_revision="x", now=NOW)
    finally:
        stop.set()
        worker.join()
    assert committed > 0 and report.database == "sqlite"
    copy = sqlite3.connect(tmp_path / "b" / backup.SQLITE_NAME)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT count(*) FROM churn").fetchone()[0] >= before
    finally:
        copy.close()


@pytest.fixture
def empty_pg_database() -> Iterator[str]:
    url = postgres_url()
    assert url is not None
    name = f"t_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_postgresql_round_trip_with_pg_dump(
    pg_engine: Engine,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    try:
        backup.find_pg_tool("pg_dump")
        backup.find_pg_tool("pg_restore")
    except Unavailable as exc:
        pytest.skip(exc.message)
    world = build_evidence_world(pg_engine, settings)
    before = counts(world.engine)
    monkeypatch.setenv("ENVWATCH_DATABASE_URL", pg_engine.url.render_as_string(hide_password=False))
    dest = tmp_path / "backup"
    result = runner.invoke(app, ["backup", str(dest), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["database"] == "postgresql" and backup.PGDUMP_NAME in manifest["files"]

    # into a database that holds tables: refused
    target = tmp_path / "restored"
    result = runner.invoke(app, ["restore", str(dest), "--data-dir", str(target)])
    assert result.exit_code == 2 and "tables" in result.output

    empty = request.getfixturevalue("empty_pg_database")
    monkeypatch.setenv("ENVWATCH_DATABASE_URL", empty)
    result = runner.invoke(app, ["restore", str(dest), "--data-dir", str(target)])
    assert result.exit_code == 0, result.output
    assert "evidence check OK" in result.output
    assert files_of(target) == files_of(settings.data_dir)
    restored = create_engine(empty)
    try:
        entries, blobs = counts(restored)
    finally:
        restored.dispose()
    assert blobs == before[1] and entries == before[0] + 1
