"""``envwatch sampling``: testing agencies, samples, custody and statistics from the command line.

- ``show CODE``: a sample (agency, enterprise, point, item, sampler, on-site facts, state, prints) and its
  chain of custody, oldest first, with the steps allowed next;
- ``verify CODE``: the public answer a label's QR code gives (authentic or not, agency, state, custody
  times; nothing private), exactly ``GET /api/v1/verify/{code}``'s;
- ``stats [--from DAY --to DAY] [--xlsx FILE]``: the statistics per agency (WZ-A2-14) of the samples
  registered in ``[from, to)`` (China days, ``to`` excluded; default this month), and the credit-evaluation
  workbook of the web API;
- ``agencies``: the testing agencies, with their samplers' training coverage today (WZ-A2-5).

Each takes ``--json`` for scripts. The command line reads as the machine's administrator (no scope).
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, Json, _fail, china_time, print_json, read_store

sampling_app = typer.Typer(
    help="sampling (识别标识系统): agencies, plans, samples, custody, statistics", no_args_is_help=True
)


def _console() -> Any:
    from rich.console import Console

    # wide enough for the statistics' 13 columns without wrapping (a narrow terminal scrolls)
    return Console(width=max(shutil.get_terminal_size().columns, 200))


@sampling_app.command("show")
def show(
    code: Annotated[str, typer.Argument(help="the sample code (or its verification URL)")],
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """A sample and its chain of custody (样品流转)."""
    from rich.table import Table

    from envwatch.sampling.reads import sample_detail

    sample = read_store(data_dir, lambda conn: sample_detail(conn, code))
    if as_json:
        print_json(sample)
        return
    where = sample["enterprise_name"] or sample["client_name"] or "—"
    lines = [
        f"{sample['code']}  {sample['state']}  (prints {sample['prints']})",
        f"agency      {sample['agency_name']} ({sample['agency_code']})",
        f"enterprise  {where}{'  [self-delivered 自送]' if sample['self_delivered'] else ''}",
        f"point       {sample['point_name']}",
        f"item        {sample['item']}  {sample['container']}",
        f"sampled at  {china_time(sample['sampled_at'])}  by {sample['sampler_name'] or '—'}",
        f"appearance  {sample['appearance'] or '—'}   preservative {sample['preservative'] or '—'}",
    ]
    if sample["needs_review"]:
        lines.append("review      the entry is flagged and waits for review")
    lines.append(f"next        {', '.join(sample['next']) or 'nothing (final)'}")
    typer.echo("\n".join(lines))
    table = Table(title="chain of custody 样品流转")
    for column in ("#", "event", "state", "at (China)", "by", "check", "flags", "note"):
        table.add_column(column)
    for e in sample["custody"]:
        table.add_row(
            str(e["seq"]),
            e["event"],
            e["to_state"],
            china_time(e["at"]),
            e["staff_name"] or e["actor"],
            e["check_result"] or "",
            ", ".join(e["flags"] or []) + (" offline" if e["offline"] and not e["flags"] else ""),
            e["note"],
        )
    _console().print(table)


@sampling_app.command("verify")
def verify(
    code: Annotated[str, typer.Argument(help="a code as printed, or the URL its QR code holds")],
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """What anyone scanning the label learns (防伪查验): authentic or not, state, custody times."""
    from envwatch.sampling.reads import verification

    answer = read_store(data_dir, lambda conn: verification(conn, code))
    if as_json:
        print_json(answer)
    elif not answer["authentic"]:
        typer.echo(f"{answer['code']}: NOT AUTHENTIC — {answer['reason']}")
    else:
        typer.echo(
            f"{answer['code']}: authentic, issued {answer['issued_on'].isoformat()} by {answer['agency']}; "
            f"state {answer['state']}, labels printed {answer['prints']}"
        )
        for step in answer["custody"]:
            typer.echo(f"  {china_time(step['at'])}  {step['event']} → {step['state']}")
    if not answer["authentic"]:
        raise typer.Exit(1)


def _day(option: str, text: str | None) -> str | None:
    if text is not None:
        try:
            date.fromisoformat(text)
        except ValueError:
            _fail(f"{option} must be a day YYYY-MM-DD, not {text!r}")
    return text


def _rate(value: Decimal | None) -> str:
    return "" if value is None else f" ({value})"


@sampling_app.command("stats")
def stats(
    from_: Annotated[str | None, typer.Option("--from", help="first China day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option("--to", help="the day after the last one (excluded)")] = None,
    xlsx: Annotated[
        Path | None, typer.Option("--xlsx", dir_okay=False, help="also write the workbook")
    ] = None,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Statistics per testing agency (WZ-A2-14) of the samples registered in [from, to)."""
    from rich.table import Table

    from envwatch.core.errors import InvalidInput
    from envwatch.sampling.stats import agency_statistics
    from envwatch.web.api.sampling_stats import china_today, chosen_period, statistics_out, stats_workbook

    if xlsx is not None and not xlsx.parent.is_dir():
        _fail(f"cannot write {xlsx}: the folder {xlsx.parent} does not exist")
    today = china_today()
    try:
        p = chosen_period(_day("--from", from_), _day("--to", to), today)
    except InvalidInput as exc:
        _fail(exc.message)
        return
    result = read_store(data_dir, lambda conn: agency_statistics(conn, p, today, agency_ids=None))
    if xlsx is not None:
        xlsx.write_bytes(stats_workbook(result))
    if as_json:
        print_json(statistics_out(result))
        return
    table = Table(title=f"sampling statistics 识别标识系统使用情况 {p.first}..{p.last} (registered samples)")
    headers = (
        "agency", "code", "registered", "on site", "self-delivered", "late (/100)", "questioned", "pending",
        "reprints (/100)", "anomalies (/100)", "rejections (/100)", "handed over", "trained samplers",
    )  # fmt: skip
    for column in headers:
        table.add_column(column, no_wrap=True)
    for f in [*result.agencies, result.totals]:
        table.add_row(
            f.agency if f.agency_id else "total 合计",
            f.code,
            str(f.registered),
            str(f.on_site),
            str(f.self_delivered),
            f"{f.late_entries}{_rate(f.rates['late_entries'])}",
            str(f.questioned),
            str(f.pending_review),
            f"{f.reprints}{_rate(f.rates['reprints'])}",
            f"{f.anomalies}{_rate(f.rates['anomalies'])}",
            f"{f.rejections}{_rate(f.rates['rejections'])}",
            str(f.handed_over),
            f"{f.samplers_trained}/{f.samplers}",
        )
    _console().print(table)
    if xlsx is not None:
        typer.echo(f"workbook → {xlsx}")


@sampling_app.command("agencies")
def agencies(as_json: Json = False, data_dir: DataDir = None) -> None:
    """The testing agencies, by region and name, with today's training coverage of their samplers."""
    from rich.table import Table

    from envwatch.registry.agencies import list_agencies
    from envwatch.sampling.stats import sampler_coverage
    from envwatch.web.api.sampling_stats import china_today

    today = china_today()
    rows, coverage = read_store(
        data_dir, lambda conn: (list_agencies(conn), sampler_coverage(conn, today, agency_ids=None))
    )
    for row in rows:
        found = coverage.get(row["id"])
        row["samplers"] = found.samplers if found else 0
        row["samplers_trained"] = found.samplers_trained if found else 0
    if as_json:
        print_json(rows)
        return
    table = Table(title="testing agencies 检测机构")
    for column in ("id", "code", "name", "region", "credit code", "active", "trained samplers", "contact"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["code"],
            row["name"],
            row["region_code"],
            row["credit_code"],
            "yes" if row["active"] else "no",
            f"{row['samplers_trained']}/{row['samplers']}",
            " ".join(x for x in (row["contact"], row["phone"]) if x),
        )
    _console().print(table)
