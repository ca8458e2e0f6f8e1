"""``envwatch backup DEST`` / ``envwatch restore SRC`` (备份与恢复; core.backup, docs/operations/backup.md).

- ``backup DEST``: the store (SQLite online backup API, or ``pg_dump -Fc``), the data directory's files
  (stored files, the evidence signing key, the admin token) and a manifest with every file's SHA-256, the
  schema revision and the time; safe while ``serve`` runs.
- ``restore SRC``: checks the manifest, refuses a target that holds anything, restores, brings the schema
  to head and re-checks the evidence log (``evidence.verify``); exit code 1 when that check finds problems.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, _fail, _prepare, _settings
from envwatch.core.settings import Settings


@contextlib.contextmanager
def rich_progress() -> Iterator[Any]:
    """A Rich progress display and the ``progress(phase, done, total)`` callback that drives it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield progress


def _external(settings: Settings) -> dict[str, Path]:
    """The signing key when it is configured outside the data directory (else it is under data/keys)."""
    from envwatch.evidence.keys import key_path

    key = key_path(settings).resolve()
    if key.is_relative_to(settings.data_dir.resolve()):
        return {}
    return {"evidence-signing-key.pem": key}


def _known_revision(revision: str | None) -> bool:
    """This release's migrations know ``revision`` (so ``upgrade`` can bring it to head)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from envwatch.migrations import HERE

    if revision is None:
        return False
    try:
        return ScriptDirectory(str(HERE)).get_revision(revision) is not None
    except CommandError:
        return False


def backup_command(
    dest: Annotated[Path, typer.Argument(help="a new (or empty) directory for the backup")],
    data_dir: DataDir = None,
) -> None:
    """Back up the store and everything kept beside it (stored files, signing key, tokens) with a manifest
    of SHA-256 sums; consistent while `serve` runs."""
    from envwatch.core import backup
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import EnvwatchError
    from envwatch.migrations import current_revision

    settings = _settings(data_dir)
    engine = _prepare(settings)
    try:
        with rich_progress() as progress:
            report = backup.backup(
                settings,
                engine,
                dest,
                schema_revision=current_revision(engine),
                now=utcnow(),
                external=_external(settings),
                progress=progress,
            )
    except EnvwatchError as exc:
        _fail(exc.message)
        return
    finally:
        engine.dispose()
    for note in report.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW)
    typer.echo(
        f"backup written to {dest}: {report.database} store at schema {report.schema_revision}, "
        f"{report.files} files, {report.bytes} bytes (manifest {dest / backup.MANIFEST})"
    )


def restore_command(
    source: Annotated[Path, typer.Argument(help="a directory written by `envwatch backup`")],
    data_dir: DataDir = None,
) -> None:
    """Restore a backup into a new, empty store and data directory, then check the evidence log."""
    from envwatch.core import backup
    from envwatch.core.clock import utcnow
    from envwatch.core.db import make_engine
    from envwatch.core.errors import EnvwatchError
    from envwatch.evidence.verify import verify
    from envwatch.migrations import upgrade

    settings = _settings(data_dir)
    engine = make_engine(settings)
    try:
        with rich_progress() as progress:
            report = backup.restore(
                settings, engine, source, progress=progress, known_revision=_known_revision
            )
            upgrade(engine)  # a backup of an older release is brought to this release's schema
            check = verify(engine, settings, utcnow(), progress=progress, run_by="restore")
    except EnvwatchError as exc:
        _fail(exc.message)
        return
    finally:
        engine.dispose()
    typer.echo(
        f"restored {report.files} files ({report.bytes} bytes) of a {report.database} store at schema "
        f"{report.schema_revision} into {settings.data_dir}"
    )
    counts = ", ".join(f"{n} {what}" for what, n in check.counts.items())
    if check.ok:
        typer.secho(f"evidence check OK 核验通过 ({counts}; run {check.run_id})", fg=typer.colors.GREEN)
        return
    for problem in check.problems:
        typer.secho(f"✗ {problem.line()}", fg=typer.colors.RED, err=True)
    typer.secho(
        f"evidence check FAILED 核验不通过: {check.problem_count} problem(s) in the restored store",
        fg=typer.colors.RED,
        err=True,
    )
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
