"""``envwatch evidence``: the tamper-evident log, its verification and offline bundles; video records and
the archive's checks (``videos``, ``checks``).

- ``verify [--no-blobs] [--no-sources] [--json]``: re-check the log, checkpoints, stored files and sources
  (``evidence.verify``) with a progress bar; every problem is printed; exit code 1 when any was found;
- ``export ITEM [-o FILE]``: the evidence bundle (zip) of ``entry:<id>``, ``leaf:<index>``, ``video:<id>``,
  ``sample:<code>`` or ``blob:<sha256>``;
- ``check BUNDLE [--key VKEY | --key-file F] [--json]``: check a bundle offline (no database, no data
  directory: this command runs on any machine with envwatch installed); exit code 1 when a check failed;
- ``integrate``: give pending entries their leaves now; ``checkpoint``: integrate, then sign a checkpoint;
- ``status [--json]``: tree size, latest checkpoint, pending entries, the last verification run;
- ``key``: the platform's verifier key (C2SP vkey) that third parties pin (``--pem`` for the PEM).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, Json, _fail, _prepare, _settings
from envwatch.cli.evidence_checks import checks_app
from envwatch.cli.evidence_videos import videos_app

evidence_app = typer.Typer(
    help="evidence (证据存证): tamper-evident log, verification, bundles, video records", no_args_is_help=True
)
evidence_app.add_typer(videos_app, name="videos")
evidence_app.add_typer(checks_app, name="checks")


def _print_json(data: Any) -> None:
    from envwatch.core.evidence import json_ready

    typer.echo(json.dumps(json_ready(data), ensure_ascii=False, indent=2))


def _china(moment: Any) -> str:
    from envwatch.core.clock import to_china

    return "—" if moment is None else f"{to_china(moment):%Y-%m-%d %H:%M:%S}"


@evidence_app.command("verify")
def verify_command(
    no_blobs: Annotated[bool, typer.Option("--no-blobs", help="do not re-hash stored files")] = False,
    no_sources: Annotated[bool, typer.Option("--no-sources", help="do not re-read the source rows")] = False,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Re-check everything (log, checkpoints, files, sources) and name what is missing or changed."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from envwatch.core.clock import utcnow
    from envwatch.evidence.verify import Problem, verify

    settings = _settings(data_dir)
    engine = _prepare(settings)
    console = Console(stderr=as_json)
    found: list[Problem] = []
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, Any] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total)
                bar.update(tasks[phase], completed=done, total=total)

            def problem(p: Problem) -> None:
                found.append(p)
                if not as_json:
                    bar.console.print(
                        f"[red]✗ {p.what}[/red] " + escape(f"{p.where}: {p.detail}"),
                        highlight=False,
                        soft_wrap=True,
                    )

            report = verify(
                engine, settings, utcnow(), progress=progress, blobs=not no_blobs, sources=not no_sources,
                on_problem=problem,
            )  # fmt: skip
    finally:
        engine.dispose()
    if as_json:
        data = report.as_json()
        data["problems"] = [p.as_dict() for p in found]
        _print_json(data)
    else:
        counts = ", ".join(f"{n} {what}" for what, n in report.counts.items())
        typer.echo(f"checked: {counts}; run {report.run_id} recorded (evidence entry {report.entry_id})")
        if report.ok:
            typer.secho("OK 核验通过: nothing missing or changed", fg=typer.colors.GREEN)
        else:
            typer.secho(
                f"FAILED 核验不通过: {report.problem_count} problem(s), listed above", fg=typer.colors.RED
            )
    if not report.ok:
        raise typer.Exit(1)


@evidence_app.command("export")
def export_command(
    item: Annotated[
        str, typer.Argument(help="entry:<id> | leaf:<index> | video:<id> | sample:<code> | blob:<sha256>")
    ],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="zip file to write (default ./evidence-ITEM.zip)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write the evidence bundle of ITEM: entries, inclusion proofs, signed checkpoint, key and files."""
    from envwatch.core.errors import EnvwatchError
    from envwatch.evidence.bundle import write_bundle

    settings = _settings(data_dir)
    target = out or Path(f"evidence-{item.replace(':', '-')}.zip")
    partial = target.with_name(f".{target.name}.partial")
    engine = _prepare(settings)
    try:
        with engine.connect() as conn, partial.open("wb") as handle:
            manifest = write_bundle(conn, settings, item, handle)
        partial.replace(target)
    except EnvwatchError as exc:
        partial.unlink(missing_ok=True)
        _fail(exc.message)
        return
    finally:
        engine.dispose()
    size = manifest["log"]["checkpoint"]["tree_size"]
    typer.echo(
        f"{target}: {len(manifest['entries'])} entries, {len(manifest['files'])} file(s), proved against the "
        f"checkpoint of {size} leaves. Check it anywhere with: envwatch evidence check {target} --key '<vkey>'"
    )


@evidence_app.command("check")
def check_command(
    bundle: Annotated[Path, typer.Argument(help="the bundle (zip) to check", exists=True, dir_okay=False)],
    key: Annotated[
        str | None, typer.Option("--key", help="the platform's verifier key (vkey) to trust")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="a file holding the vkey", exists=True)
    ] = None,
    as_json: Json = False,
) -> None:
    """Check a bundle offline: files, leaves, inclusion proofs, the checkpoint signature (no database)."""
    from envwatch.evidence.bundle_check import check_bundle

    if key is not None and key_file is not None:
        _fail("give the key once: --key or --key-file, not both")
    trusted = key_file.read_text().strip() if key_file is not None else key
    result = check_bundle(bundle, trusted_key=trusted)
    if as_json:
        _print_json(result.as_json())
    else:
        typer.echo(result.report())
    raise typer.Exit(result.exit_code)


def _integrate_all(engine: Any) -> int:
    from envwatch.core.clock import utcnow
    from envwatch.evidence import log

    total = 0
    while True:
        with engine.begin() as conn:
            done = log.integrate(conn, utcnow())
        total += done
        if not done:
            return total


@evidence_app.command("integrate")
def integrate_command(data_dir: DataDir = None) -> None:
    """Give every pending entry its Merkle leaf now (the service does this every few seconds)."""
    engine = _prepare(_settings(data_dir))
    try:
        typer.echo(f"{_integrate_all(engine)} entries integrated")
    finally:
        engine.dispose()


@evidence_app.command("checkpoint")
def checkpoint_command(data_dir: DataDir = None) -> None:
    """Integrate pending entries, then sign a checkpoint of the tree now (if it grew)."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import EnvwatchError
    from envwatch.evidence import log

    settings = _settings(data_dir)
    engine = _prepare(settings)
    try:
        integrated = _integrate_all(engine)
        with engine.begin() as conn:
            made = log.make_checkpoint(conn, settings, utcnow())
    except EnvwatchError as exc:
        _fail(exc.message)
        return
    finally:
        engine.dispose()
    if made is None:
        typer.echo(
            f"{integrated} entries integrated; the tree did not grow since the last checkpoint: none made"
        )
    else:
        typer.echo(
            f"{integrated} entries integrated; checkpoint {made['id']}: {made['tree_size']} leaves, root {made['root_hash']}"
        )
        typer.echo(made["note"], nl=False)


@evidence_app.command("status")
def status_command(as_json: Json = False, data_dir: DataDir = None) -> None:
    """Tree size, latest checkpoint, pending entries and the last verification run."""
    from envwatch.evidence import log
    from envwatch.evidence.verify import last_runs, pending_entries

    engine = _prepare(_settings(data_dir))
    try:
        with engine.connect() as conn:
            data: dict[str, Any] = {
                "tree_size": log.tree_size(conn),
                "pending_entries": pending_entries(conn),
                "latest_checkpoint": log.latest_checkpoint(conn),
                "last_verify_run": next(iter(last_runs(conn, 1)), None),
            }
    finally:
        engine.dispose()
    if as_json:
        _print_json(data)
        return
    typer.echo(
        f"tree size 树大小: {data['tree_size']} leaves; pending 待入树: {data['pending_entries']} entries"
    )
    cp = data["latest_checkpoint"]
    if cp is None:
        typer.echo("latest checkpoint 最新检查点: none yet (envwatch evidence checkpoint)")
    else:
        typer.echo(
            f"latest checkpoint 最新检查点: #{cp['id']} at {_china(cp['created_at'])}, {cp['tree_size']} leaves, root {cp['root_hash']}"
        )
    run = data["last_verify_run"]
    if run is None:
        typer.echo("last verification 最近核验: never (envwatch evidence verify)")
    else:
        verdict = "OK" if run["ok"] else f"FAILED, {run['problem_count']} problem(s)"
        typer.echo(
            f"last verification 最近核验: #{run['id']} at {_china(run['finished_at'])} by {run['run_by']}: {verdict}"
        )
        for problem in run["problems"][:20]:
            typer.echo(f"  ✗ {problem['what']}: {problem['where']}: {problem['detail']}")


@evidence_app.command("key")
def key_command(
    pem: Annotated[bool, typer.Option("--pem", help="the public key as PEM instead of the vkey")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print the platform's verifier key: publish it; whoever checks a bundle pins it with --key."""
    from envwatch.evidence import keys

    settings = _settings(data_dir)
    typer.echo(keys.public_pem(settings).rstrip() if pem else keys.public_vkey(settings))
