"""``envwatch om reports``: quarterly self-inspection reports (季度自查报告, SX-18.7).

- ``preview --enterprise-id N --year Y --quarter Q --out DIR``: generate the report now (the running quarter
  gives the quarter so far) and write its PDF and xlsx into DIR; nothing is stored;
- ``status [--year Y --quarter Q] [--region CODE] [--format table|json]``: every enterprise's status for the
  quarter (default: the last finished one).

Submitting is done by a person through the pages or the API, where the submitter is known.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from envwatch.cli.common import DataDir, _fail, _prepare, _settings

reports_app = typer.Typer(help="quarterly self-inspection reports (季度自查报告)", no_args_is_help=True)


@reports_app.command("preview")
def preview(
    enterprise_id: Annotated[int, typer.Option("--enterprise-id", help="the enterprise (排污单位) id")],
    year: Annotated[int, typer.Option(help="the quarter's year")],
    quarter: Annotated[int, typer.Option(help="1..4")],
    out: Annotated[Path, typer.Option("--out", help="directory to write the PDF and the xlsx into")],
    data_dir: DataDir = None,
) -> None:
    """Generate the report now and write its PDF and xlsx (not stored, not submitted)."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import InvalidInput, NotFound
    from envwatch.registry.service import get_enterprise
    from envwatch.reports.quarters import quarter_of
    from envwatch.reports.self_inspection import build_self_inspection
    from envwatch.reports.self_inspection_store import file_name, render_files

    settings = _settings(data_dir)
    engine = _prepare(settings)
    now = utcnow()
    try:
        q = quarter_of(year, quarter)
        if now < q.start:
            raise InvalidInput(f"quarter {q.label} has not begun: there is nothing to report yet")
        with engine.connect() as conn:
            credit_code = str(get_enterprise(conn, enterprise_id)["credit_code"])
        files = render_files(build_self_inspection(engine, settings, enterprise_id, q, now))
    except (InvalidInput, NotFound) as exc:
        _fail(exc.message)
        return
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    pdf, xlsx = out / file_name(credit_code, q, "pdf"), out / file_name(credit_code, q, "xlsx")
    pdf.write_bytes(files.pdf)
    xlsx.write_bytes(files.xlsx)
    typer.echo(f"{pdf}  sha256 {files.pdf_sha256}")
    typer.echo(f"{xlsx}  sha256 {files.xlsx_sha256}")


@reports_app.command("status")
def status(
    year: Annotated[int | None, typer.Option(help="the quarter's year (with --quarter)")] = None,
    quarter: Annotated[int | None, typer.Option(help="1..4 (default: the last finished quarter)")] = None,
    region: Annotated[str | None, typer.Option(help="only this region (2, 4 or 6 digits)")] = None,
    format_: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    data_dir: DataDir = None,
) -> None:
    """Every enterprise's report status for a quarter: not due yet, due, overdue, submitted, submitted late."""
    from envwatch.core.clock import to_china, utcnow
    from envwatch.core.errors import InvalidInput
    from envwatch.reports.quarters import last_finished, quarter_of
    from envwatch.reports.self_inspection_store import region_statuses, statuses

    if format_ not in ("table", "json"):
        _fail(f"--format must be table or json, not {format_!r}")
    settings = _settings(data_dir)
    engine = _prepare(settings)
    now = utcnow()
    due_days = settings.om_self_inspection_due_days
    try:
        if (year is None) != (quarter is None):
            raise InvalidInput("give both --year and --quarter, or neither (the last finished quarter)")
        q = last_finished(now) if year is None or quarter is None else quarter_of(year, quarter)
        with engine.connect() as conn:
            if region:
                found = region_statuses(conn, region, q.year, q.quarter, now, due_days)
            else:
                found = statuses(conn, None, q.year, q.quarter, now, due_days)
    except InvalidInput as exc:
        _fail(exc.message)
        return
    if format_ == "json":
        typer.echo(json.dumps([s.as_dict() for s in found], ensure_ascii=False, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"季度自查报告 self-inspection reports {q.label} (due {q.due_on(due_days)})")
    for name in (
        "id",
        "enterprise",
        "region",
        "state",
        "submissions",
        "first submitted (China time)",
        "latest",
    ):
        table.add_column(name)
    for s in found:
        first = "-" if s.first_submitted_at is None else f"{to_china(s.first_submitted_at):%Y-%m-%d %H:%M}"
        latest = "-" if s.latest_id is None else f"#{s.latest_id} {s.latest_by}"
        table.add_row(
            str(s.enterprise_id), s.enterprise, s.region_code, s.state, str(s.submissions), first, latest
        )
    Console(width=max(shutil.get_terminal_size().columns, 120)).print(table)
