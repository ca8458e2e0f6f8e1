"""Backup benchmark: ``core.backup`` on an embedded store of a given size with stored files beside it.

Builds a migrated SQLite store padded to ``--db-mb`` MB (a filler table of 4 KB rows: the SQLite backup API
copies pages, whatever tables they belong to) and ``--blobs`` stored files of ``--blob-kb`` KB each in the
write-once blob store, then measures:

1. ``backup``: the SQLite snapshot (online backup API) and the files, hashed while copied;
2. ``backup under writes``: the same while another connection commits a small row every millisecond or so,
   as the gateway's writer does (the snapshot must finish, not restart);
3. ``check``: restore's manifest check alone (every file re-hashed);
4. ``restore``: the check, then the copy into a new data directory (without the evidence re-check, which
   ``bench/evidence.py`` measures).

    .venv/bin/python -m bench.backup                       # 500 MB store, 2,000 files of 256 KB
    .venv/bin/python -m bench.backup --db-mb 100 --blobs 200

Figures go in docs/operations/backup.md. This is a benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import text

from envwatch.core import backup
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import current_revision, upgrade


def build(settings: Settings, db_mb: int, blobs: int, blob_kb: int) -> None:
    engine = make_engine(settings)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_filler (id INTEGER PRIMARY KEY, payload BLOB)"))
        conn.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
                "INSERT INTO bench_filler (payload) SELECT randomblob(4000) FROM n"
            ),
            {"rows": db_mb * 256},
        )
    engine.dispose()
    store = BlobStore.from_settings(settings)
    for _ in range(blobs):
        store.put(os.urandom(blob_kb * 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-mb", type=int, default=500)
    parser.add_argument("--blobs", type=int, default=2000)
    parser.add_argument("--blob-kb", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "var", _env_file=None)
        started = time.monotonic()
        build(settings, args.db_mb, args.blobs, args.blob_kb)
        db_bytes = (root / "var" / "envwatch.db").stat().st_size
        print(
            f"store: {db_bytes / 1e6:.0f} MB SQLite, {args.blobs} files of {args.blob_kb} KB "
            f"(built in {time.monotonic() - started:.1f} s)"
        )
        engine = make_engine(settings)
        revision = current_revision(engine)

        started = time.monotonic()
        report = backup.backup(settings, engine, root / "b1", schema_revision=revision, now=utcnow())
        took = time.monotonic() - started
        print(f"backup: {took:.1f} s for {report.bytes / 1e6:.0f} MB ({report.bytes / 1e6 / took:.0f} MB/s)")

        stop = threading.Event()
        commits = 0

        def churn() -> None:
            nonlocal commits
            while not stop.is_set():
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO bench_filler (payload) VALUES (randomblob(200))"))
                commits += 1

        worker = threading.Thread(target=churn)
        worker.start()
        started = time.monotonic()
        report = backup.backup(settings, engine, root / "b2", schema_revision=revision, now=utcnow())
        took = time.monotonic() - started
        stop.set()
        worker.join()
        print(
            f"backup under writes: {took:.1f} s ({report.bytes / 1e6 / took:.0f} MB/s) while another "
            f"connection committed {commits} rows ({commits / took:.0f}/s)"
        )
        engine.dispose()

        started = time.monotonic()
        backup.read_manifest(root / "b1")
        print(f"check (manifest, every file re-hashed): {time.monotonic() - started:.1f} s")

        target = Settings(data_dir=root / "restored", _env_file=None)
        restored = make_engine(target)
        started = time.monotonic()
        done = backup.restore(target, restored, root / "b1")
        took = time.monotonic() - started
        restored.dispose()
        print(f"restore (check + copy): {took:.1f} s ({done.bytes / 1e6 / took:.0f} MB/s)")


if __name__ == "__main__":
    main()
