"""``envwatch reports``: periodic reports (定期报告: 日报 / 月报 / 季报 / 年报) as xlsx and PDF.

- ``generate --period day|month|quarter|year --of 2026-10 [--region CODE | --enterprise ID | --operator ID]
  [--out DIR]``: make one now, store it (blob store, ``report_files``, evidence) and, with ``--out``, also
  write both files into DIR; no scope option = the whole platform;
- ``list [--period KIND] [--json]``: the generated reports, newest period first;
- ``get ID --out DIR``: write a stored report's xlsx and PDF into DIR.

The schedule (setting ``report_schedule``) makes the reports of finished periods from ``serve``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, Json, _fail, _prepare, _settings, json_default

reports_app = typer.Typer(help="periodic reports as xlsx and PDF (日报/月报/季报/年报)", no_args_is_help=True)

CLI_USER = "cli"


def _write(out: Path, row: dict[str, Any], xlsx: bytes, pdf: bytes) -> None:
    from envwatch.reports.periodic_store import file_name

    if out.exists() and not out.is_dir():
        _fail(f"--out {out} is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for kind, content in (("xlsx", xlsx), ("pdf", pdf)):
        path = out / file_name(row, kind)  # type: ignore[arg-type]
        path.write_bytes(content)
        typer.echo(f"{path}  sha256 {row[f'{kind}_sha256']}")


def _scope(region: str | None, enterprise: int | None, operator: int | None) -> tuple[str, str]:
    given = [(k, v) for k, v in (("region", region), ("enterprise", enterprise), ("operator", operator)) if v]
    if len(given) > 1:
        _fail("give at most one of --region, --enterprise and --operator")
    return (given[0][0], str(given[0][1])) if given else ("all", "")


@reports_app.command("generate")
def generate(
    period: Annotated[str, typer.Option(help="day | month | quarter | year")],
    of: Annotated[str, typer.Option("--of", help="2026-10-05, 2026-10, 2026Q3 or 2026 (China calendar)")],
    region: Annotated[str | None, typer.Option(help="a region code (2, 4 or 6 digits)")] = None,
    enterprise: Annotated[int | None, typer.Option(help="an enterprise id")] = None,
    operator: Annotated[int | None, typer.Option(help="an operator id")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="also write the xlsx and PDF into this directory")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Generate one periodic report now and store it (a running period is reported to date)."""
    from envwatch.core.blobs import BlobStore
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import InvalidInput, NotFound
    from envwatch.reports.periodic_period import parse_period, report_scope
    from envwatch.reports.periodic_store import generate as make

    kind, ref = _scope(region, enterprise, operator)
    settings = _settings(data_dir)
    engine = _prepare(settings)
    blobs = BlobStore.from_settings(settings)
    try:
        row = make(engine, settings, blobs, parse_period(period, of), report_scope(kind, ref),
                   trigger="demand", by=CLI_USER, now=utcnow())  # fmt: skip
    except (InvalidInput, NotFound) as exc:
        _fail(exc.message)
        return
    h = row["figures"]["headline"]
    typer.echo(
        f"report {row['id']}: {period} {of} {kind} {ref}".rstrip()
        + f" — devices {h['devices']}, effective rate {h['effective_rate'] or '-'} %, exceedances "
        f"{h['exceedances']}, alarms {h['alarms']}, new findings {h['findings_new']}"
    )
    if out is not None:
        _write(out, row, blobs.get(row["xlsx_sha256"]), blobs.get(row["pdf_sha256"]))


@reports_app.command("list")
def list_(
    period: Annotated[str | None, typer.Option(help="only this kind: day | month | quarter | year")] = None,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """The generated periodic reports, newest period first."""
    from envwatch.core.clock import to_china
    from envwatch.reports.periodic_store import list_reports

    settings = _settings(data_dir)
    engine = _prepare(settings)
    with engine.connect() as conn:
        rows = list_reports(conn, period_kind=period)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=json_default))
        return
    if not rows:
        typer.echo("no periodic report yet")
    for r in rows:
        scope = r["scope_kind"] + (f" {r['scope_ref']}" if r["scope_ref"] else "")
        typer.echo(
            f"{r['id']:>5}  {r['period_kind']:<7} {r['first_day']}..{r['last_day']}  {scope:<18} "
            f"{r['trigger']:<8} {r['generated_by']} {to_china(r['generated_at']):%Y-%m-%d %H:%M}"
        )


@reports_app.command("get")
def get(
    report_id: Annotated[int, typer.Argument(help="the report's id (see `envwatch reports list`)")],
    out: Annotated[Path, typer.Option("--out", help="directory to write the xlsx and PDF into")],
    data_dir: DataDir = None,
) -> None:
    """Write a stored report's xlsx and PDF into a directory."""
    from envwatch.core.blobs import BlobStore
    from envwatch.core.errors import NotFound
    from envwatch.reports.periodic_store import get_report

    settings = _settings(data_dir)
    engine = _prepare(settings)
    blobs = BlobStore.from_settings(settings)
    try:
        with engine.connect() as conn:
            row = get_report(conn, report_id)
        xlsx, pdf = blobs.get(row["xlsx_sha256"]), blobs.get(row["pdf_sha256"])
    except NotFound as exc:
        _fail(exc.message)
        return
    _write(out, row, xlsx, pdf)
