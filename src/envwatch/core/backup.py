"""Backup and restore of a whole installation (备份与恢复): the store plus everything kept beside it.

Theory of operation
-------------------
A backup is a directory::

    manifest.json            format, time, schema revision, database kind, SHA-256 and size of every file
    database/envwatch.db     SQLite: a copy made with SQLite's online backup API
    database/envwatch.pgdump PostgreSQL: ``pg_dump -Fc`` (custom format, for ``pg_restore``)
    data/…                   the data directory's other files: blobs/ (write-once stored files), keys/
                             (the evidence signing key), admin_token, …
    external/<name>          files configured outside the data directory (a signing key elsewhere)

Consistency: the database is copied first, in one snapshot (the SQLite backup API copies a consistent
image while ``serve`` keeps writing; ``pg_dump`` runs in one repeatable-read transaction). The files come
after. Stored files are write-once and a file is stored *before* the row that names it commits, so every
file the snapshot names is already on disk when it is copied; files stored after the snapshot are copied
too and are harmless extras (a later ``put`` of the same content finds them). Each file is hashed while it
is copied, so the manifest describes the bytes in the backup, not the bytes of a file that moved on.

Left out on purpose: the live database files (``envwatch.db``, ``-wal``, ``-shm``: the snapshot replaces
them), ``writer.lock``, half-written blobs (``blobs/.incoming``), the S3 backend's ``blobs-spool``,
video uploads still in progress (``uploads``: their senders resume or restart them) and admin import
scratch files (``admin-imports``).

Restore checks the whole manifest before it writes anything (every file listed is there with its hash,
nothing unlisted is there), refuses a target that already holds data (a non-empty data directory, an
existing SQLite file, a PostgreSQL database with tables, an existing external file: evidence is never
overwritten), then copies. Checking the evidence log afterwards is the caller's (``envwatch restore``
runs ``evidence.verify``), since this module sits below the evidence context.

S3 blob backend: the bucket is not copied. Objects under Object Lock cannot be rewritten into another
bucket by a restore that must keep their retention, and copying terabytes of video through this process
would be wrong anyway: protect the bucket with S3 bucket replication (to a second, also Object-Locked
bucket). The backup says so in its manifest (``blobs: "s3 bucket … not copied"``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import URL

from envwatch.core.errors import Conflict, InvalidInput, Unavailable
from envwatch.core.settings import Settings

FORMAT = "envwatch-backup/1"
MANIFEST = "manifest.json"
SQLITE_NAME = "database/envwatch.db"
PGDUMP_NAME = "database/envwatch.pgdump"
CHUNK = 1024 * 1024

# names under the data directory that are not copied (module docstring)
_SKIP_TOP = {"writer.lock", "uploads", "blobs-spool", "admin-imports"}
_SKIP_DIRS = {".incoming"}

Progress = Callable[[str, int, int], None]  # phase, done, total (bytes or files)


@dataclass
class BackupReport:
    dest: Path
    database: str
    schema_revision: str | None
    files: int = 0
    bytes: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class RestoreReport:
    source: Path
    database: str
    schema_revision: str | None
    files: int = 0
    bytes: int = 0


# --- helpers --------------------------------------------------------------------------------------------
def _copy_hashing(src: Path, dest: Path) -> tuple[str, int]:
    """Copy ``src`` to ``dest`` (new file), returning the SHA-256 and size of the bytes written."""
    digest = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as inp, dest.open("xb") as out:
        while chunk := inp.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    shutil.copymode(src, dest)
    return digest.hexdigest(), size


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as inp:
        while chunk := inp.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _data_files(data_dir: Path, skip: set[Path]) -> Iterator[Path]:
    """Files under the data directory to copy, relative to it, sorted (module docstring: what is left out)."""
    if not data_dir.is_dir():
        return
    for root, dirs, files in os.walk(data_dir):
        here = Path(root)
        rel_root = here.relative_to(data_dir)
        dirs[:] = sorted(
            d for d in dirs if d not in _SKIP_DIRS and not (rel_root == Path(".") and d in _SKIP_TOP)
        )
        for name in sorted(files):
            rel = rel_root / name
            if rel_root == Path(".") and name in _SKIP_TOP:
                continue
            if (here / name).resolve() in skip or not (here / name).is_file():
                continue
            yield rel


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def sqlite_path(engine: Engine) -> Path:
    return Path(engine.url.database or "").resolve()


def _sqlite_side_files(path: Path) -> set[Path]:
    return {path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))}


def find_pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: on the PATH, else the newest of Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    raise Unavailable(
        f"{name} is not installed: the PostgreSQL store is backed up with pg_dump -Fc and restored with "
        "pg_restore (Debian: apt-get install postgresql-client, of a version at least the server's)"
    )


def _pg_args(url: URL) -> tuple[list[str], dict[str, str]]:
    """libpq connection options and environment for ``url``; the password goes in PGPASSWORD, never argv."""
    args = ["--dbname", url.database or ""]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _run_pg(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Unavailable(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()}")


# --- backup ---------------------------------------------------------------------------------------------
def backup(
    settings: Settings,
    engine: Engine,
    dest: Path,
    *,
    schema_revision: str | None,
    now: datetime,
    external: Mapping[str, Path] | None = None,
    progress: Progress | None = None,
) -> BackupReport:
    """Write a backup of the store at ``engine`` and of ``settings.data_dir`` into the new directory
    ``dest`` (it must not exist or be empty). ``external``: files outside the data directory to include,
    by name (restored to the same path)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} exists and is not an empty directory: a backup goes into a new directory")
    data_dir = settings.data_dir.resolve()
    if dest.resolve().is_relative_to(data_dir):
        raise InvalidInput(f"{dest} is inside the data directory {data_dir}: put the backup elsewhere")
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o700)  # it holds the signing key and the admin token
    kind = engine.dialect.name
    report = BackupReport(dest=dest, database=kind, schema_revision=schema_revision)
    files: dict[str, dict[str, Any]] = {}
    skip: set[Path] = set()

    if kind == "sqlite":
        source = sqlite_path(engine)
        skip |= _sqlite_side_files(source)
        _sqlite_snapshot(source, dest / SQLITE_NAME, progress)
        name = SQLITE_NAME
    elif kind == "postgresql":
        if progress:
            progress("database (pg_dump -Fc)", 0, 1)
        args, env = _pg_args(engine.url)
        (dest / "database").mkdir()
        _run_pg([find_pg_tool("pg_dump"), "-Fc", "--file", str(dest / PGDUMP_NAME), *args], env)
        if progress:
            progress("database (pg_dump -Fc)", 1, 1)
        name = PGDUMP_NAME
    else:
        raise Unavailable(f"backup knows SQLite and PostgreSQL, not {kind}")
    files[name] = {"sha256": sha256_of(dest / name), "size": (dest / name).stat().st_size}

    rels = list(_data_files(data_dir, skip))
    externals = {n: p for n, p in (external or {}).items() if p.is_file()}
    copies = [(data_dir / r, f"data/{r.as_posix()}") for r in rels]
    copies += [(p, f"external/{n}") for n, p in sorted(externals.items())]
    total = sum(_size(src) for src, _target in copies)
    done = 0
    for src, target in copies:
        try:
            sha, size = _copy_hashing(src, dest / target)
        except FileNotFoundError:  # a temporary file (a key or token being written) went meanwhile; the
            continue  # source is opened before the copy is created, so nothing of it is in the backup
        files[target] = {"sha256": sha, "size": size}
        done += size
        if progress:
            progress("files", done, total)
    if progress and not copies:
        progress("files", 0, 0)

    blobs = "local: data/blobs"
    if settings.blob_backend == "s3":
        blobs = (
            f"s3 bucket {settings.blob_s3_bucket!r} not copied: protect it with bucket replication "
            "(docs/operations/backup.md)"
        )
        report.notes.append(blobs)
    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "schema_revision": schema_revision,
        "database": kind,
        "blobs": blobs,
        "external": {n: str(p) for n, p in externals.items()},
        "files": files,
    }
    _write_json(dest / MANIFEST, manifest)
    report.files = len(files)
    report.bytes = sum(int(f["size"]) for f in files.values())
    return report


def _sqlite_snapshot(source: Path, target: Path, progress: Progress | None) -> None:
    """SQLite's online backup API: a consistent copy while other connections keep writing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    out = sqlite3.connect(target)
    try:

        def step(_status: int, remaining: int, total: int) -> None:
            if progress:
                progress("database (SQLite backup API)", total - remaining, total)

        # All pages in one step, inside one read transaction: in WAL mode the writers go on meanwhile and
        # the copy is the snapshot of its start. Copying in several steps would restart from the first
        # page whenever another connection commits between two steps, which on a busy gateway is always.
        if progress:
            progress("database (SQLite backup API)", 0, 1)
        src.backup(out, pages=-1, progress=step)
    finally:
        out.close()
        src.close()


def _write_json(path: Path, data: Any) -> None:
    with path.open("x", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, indent=2, sort_keys=True)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())


# --- restore --------------------------------------------------------------------------------------------
def read_manifest(source: Path, progress: Progress | None = None) -> dict[str, Any]:
    """The manifest of the backup at ``source``, after checking every file against it (size, SHA-256)
    and that nothing unlisted is there. :class:`InvalidInput` names every difference."""
    path = source / MANIFEST
    if not path.is_file():
        raise InvalidInput(f"{source} is not an envwatch backup: {MANIFEST} is missing")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} cannot be read: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    listed: dict[str, dict[str, Any]] = manifest.get("files") or {}
    problems: list[str] = []
    present = {
        p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file() and p.name != MANIFEST
    }
    problems += [f"{name}: not in the manifest" for name in sorted(present - set(listed))]
    total = sum(int(f.get("size", 0)) for f in listed.values())
    done = 0
    for name, expected in sorted(listed.items()):
        file = source / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            problems.append(f"{name}: not a path inside the backup")
        elif not file.is_file():
            problems.append(f"{name}: missing")
        elif file.stat().st_size != expected.get("size"):
            problems.append(f"{name}: {file.stat().st_size} bytes, the manifest says {expected.get('size')}")
        elif sha256_of(file) != expected.get("sha256"):
            problems.append(f"{name}: SHA-256 differs from the manifest")
        done += int(expected.get("size", 0))
        if progress:
            progress("checking the backup", done, total)
    if manifest.get("database") not in ("sqlite", "postgresql"):
        problems.append(f"database {manifest.get('database')!r} unknown")
    if problems:
        raise InvalidInput(
            f"the backup {source} does not match its manifest; nothing was restored:\n  "
            + "\n  ".join(problems)
        )
    return manifest


def _refuse_non_empty(settings: Settings, engine: Engine, manifest: Mapping[str, Any]) -> None:
    data_dir = settings.data_dir
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise Conflict(
            f"the data directory {data_dir} is not empty: restore only into a new, empty one "
            "(nothing that exists is overwritten: evidence is never replaced)"
        )
    kind = engine.dialect.name
    if kind != manifest["database"]:
        raise InvalidInput(f"the backup holds a {manifest['database']} store; the target is {kind}")
    if kind == "sqlite":
        if sqlite_path(engine).exists():
            raise Conflict(f"the store {sqlite_path(engine)} exists: restore only into a new store")
    else:
        tables = inspect(engine).get_table_names()
        if tables:
            raise Conflict(
                f"the database {engine.url.database} holds {len(tables)} tables: restore only into a new, "
                "empty database (createdb)"
            )
    for name, path in (manifest.get("external") or {}).items():
        if Path(path).exists():
            raise Conflict(f"{path} (backed up as external/{name}) exists: it is never overwritten")


def restore(
    settings: Settings,
    engine: Engine,
    source: Path,
    *,
    progress: Progress | None = None,
    known_revision: Callable[[str | None], bool] | None = None,
) -> RestoreReport:
    """Restore the backup at ``source`` into the (empty) store at ``engine`` and data directory of
    ``settings``: the manifest is checked first, a non-empty target refused (module docstring).
    ``known_revision``: whether this release knows the backup's schema revision (else it is refused before
    anything is written: a newer release's store cannot be migrated by this one)."""
    manifest = read_manifest(source, progress)
    revision = manifest.get("schema_revision")
    if known_revision is not None and not known_revision(revision):
        raise InvalidInput(
            f"the backup's schema revision {revision!r} is unknown to this release of envwatch (a newer "
            "release made it?): restore it with that release; nothing was restored"
        )
    _refuse_non_empty(settings, engine, manifest)
    files: dict[str, dict[str, Any]] = manifest["files"]
    report = RestoreReport(
        source=source, database=manifest["database"], schema_revision=manifest.get("schema_revision")
    )
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    if manifest["database"] == "sqlite":
        target = sqlite_path(engine)
        engine.dispose()  # no pooled connection may hold the file we are about to create
        _copy_hashing(source / SQLITE_NAME, target)
    else:
        if progress:
            progress("database (pg_restore)", 0, 1)
        args, env = _pg_args(engine.url)
        _run_pg(
            [
                find_pg_tool("pg_restore"),
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                *args,
                str(source / PGDUMP_NAME),
            ],
            env,
        )
        if progress:
            progress("database (pg_restore)", 1, 1)
    externals = {n: Path(p) for n, p in (manifest.get("external") or {}).items()}
    rest = sorted(n for n in files if not n.startswith("database/"))
    total = sum(int(files[n]["size"]) for n in rest)
    done = 0
    for name in rest:
        if name.startswith("data/"):
            target = data_dir / name.removeprefix("data/")
        else:
            target = externals[name.removeprefix("external/")]
        sha, size = _copy_hashing(source / name, target)
        if sha != files[name]["sha256"]:  # the backup changed under us since the check
            raise InvalidInput(f"{name} changed while it was restored (SHA-256 differs from the manifest)")
        done += size
        if progress:
            progress("files", done, total)
    _restore_blob_modes(data_dir / "blobs")
    if (data_dir / "keys").is_dir():
        (data_dir / "keys").chmod(0o700)  # as evidence.keys makes it: the signing key's directory
    report.files = len(files)
    report.bytes = sum(int(f["size"]) for f in files.values())
    return report


def _restore_blob_modes(root: Path) -> None:
    """Stored files are read-only (0444); copymode kept that, this makes sure of it."""
    if root.is_dir():
        for path in root.rglob("*"):
            if path.is_file() and ".incoming" not in path.parts:
                path.chmod(0o444)
