"""``envwatch export``: measurements as Parquet files for analytics (docs/analytics.md).

- ``parquet OUT --from DAY --to DAY [--kind hour ...] [--region CODE] [--enterprise ID]``: the
  measurements of China days DAY..DAY into a new directory OUT, one row per device, DataTime and factor,
  partitioned ``kind=<kind>/month=<YYYY-MM>``, with ``manifest.json`` (rows, bytes, SHA-256 per file).
- ``verify OUT``: re-hash the files against the manifest.

Logic: ``envwatch.monitoring.parquet_export``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from envwatch.cli.common import DataDir, _fail, _prepare, _settings

export_app = typer.Typer(
    help="measurements for analytics: Parquet files (DuckDB, pandas)", no_args_is_help=True
)


@export_app.command("parquet")
def export_parquet(
    out: Annotated[Path, typer.Argument(file_okay=False, help="a new (or empty) directory")],
    first_day: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="first China day")],
    last_day: Annotated[
        datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="last China day (included)")
    ],
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="hour (default), minute, day, rtd; repeat for several")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="行政区划代码 or a prefix (32, 3205)")
    ] = None,
    enterprise: Annotated[int | None, typer.Option("--enterprise", help="an enterprise's id")] = None,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1000, help="rows per row group")] = 100_000,
    data_dir: DataDir = None,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from envwatch.core.errors import EnvwatchError
    from envwatch.monitoring.parquet_export import ExportQuery, china_period, export_measurements

    start, end = china_period(first_day.date(), last_day.date())
    query = ExportQuery(start, end, tuple(kind or ["hour"]), region, enterprise)
    engine = _prepare(_settings(data_dir))
    columns = (
        TextColumn("devices"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("export", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            manifest = export_measurements(engine, query, out, chunk_rows=chunk_rows, progress=progress)
    except EnvwatchError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()
    size = sum(f["bytes"] for f in manifest["files"])
    typer.echo(
        f"{manifest['rows']} rows from {manifest['devices']} devices in {len(manifest['files'])} files "
        f"({size / 1e6:.1f} MB) under {out}; manifest {out / 'manifest.json'}"
    )
    if manifest["values_not_in_decimal"]:
        typer.echo(f"{manifest['values_not_in_decimal']} values too long for value_decimal (kept in value)")


@export_app.command("verify")
def export_verify(out: Annotated[Path, typer.Argument(file_okay=False, exists=True)]) -> None:
    from envwatch.monitoring.parquet_export import verify_export

    problems = verify_export(out)
    for p in problems:
        typer.secho(p, fg=typer.colors.RED, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("every file matches the manifest")
