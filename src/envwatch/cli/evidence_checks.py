"""``envwatch evidence checks``: the archive's rule checks and self-inspection (WZ-A1-5/13/14, WZ-A2-8).

- ``run [--from DAY --to DAY] [--agency ID] [--json]``: every archive check over ``[from, to)`` (China
  days, ``to`` excluded; default this month), findings by rule; exit code 1 when a violation was found
  (pending findings alone do not count), so a cron job can alert on it;
- ``storage [--json]``: check the storage capacity now (records a ``storage_checks`` row, logs the alarm)
  and show the recent checks; exit code 1 at warn or critical;
- ``self-inspection draw --agency ID --month YYYY-MM [--by NAME]``: the month's draw (made now, or the
  one made before); ``self-inspection list [--agency ID] [--month YYYY-MM]``.

The command line reads as the machine's administrator (no scope).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from envwatch.cli.common import DataDir, Json, _fail, _prepare, _settings, china_time, print_json

checks_app = typer.Typer(
    help="checks of the video archive (WZ-A1): deadlines, coverage, storage, self-inspection",
    no_args_is_help=True,
)
self_inspection_app = typer.Typer(
    help="monthly self-inspection of video records (自查, WZ-A1-14)", no_args_is_help=True
)
checks_app.add_typer(self_inspection_app, name="self-inspection")


def _day(option: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        _fail(f"{option} {text!r} is not a day YYYY-MM-DD")
        raise  # unreachable: _fail exits


@checks_app.command("run")
def run(
    from_: Annotated[str | None, typer.Option("--from", help="first China day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option("--to", help="the day after the last one (excluded)")] = None,
    agency: Annotated[int | None, typer.Option("--agency", help="one testing agency's id")] = None,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Every archive check (WZ-A1-13 deadline, WZ-A1-5 coverage, WZ-A2-8 reprints) over [from, to)."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import InvalidInput
    from envwatch.evidence.archive_checks import grouped_out, run_checks
    from envwatch.web.api.evidence_checks import china_today
    from envwatch.web.api.sampling_stats import chosen_period

    try:
        p = chosen_period(_day("--from", from_), _day("--to", to), china_today())
    except InvalidInput as exc:
        _fail(exc.message)
        return
    settings = _settings(data_dir)
    engine = _prepare(settings)
    with engine.connect() as conn:
        groups = grouped_out(run_checks(conn, settings, utcnow(), agency_id=agency, period=p))
    violations = sum(g["count"] for g in groups)
    if as_json:
        print_json({"from": p.first.isoformat(), "to": p.end.isoformat(), "rules": groups})
    else:
        typer.echo(
            f"archive checks {p.first}..{p.last} (China days)" + (f", agency {agency}" if agency else "")
        )
        for g in groups:
            typer.echo(
                f"\n{g['rule']} {g['title']} ({g['title_zh']}): {g['count']} found, {g['pending']} pending"
            )
            for f in g["findings"]:
                mark = "…" if f["pending"] else "✗"
                typer.echo(f"  {mark} [{f['kind']}] agency {f['agency_id']}: {f['message']}")
    if violations:
        raise typer.Exit(1)


@checks_app.command("storage")
def storage(as_json: Json = False, data_dir: DataDir = None) -> None:
    """Check the storage capacity now (WZ-A1-13) and show the recent checks."""
    from envwatch.core.clock import utcnow
    from envwatch.evidence.storage import check_storage, latest_checks

    settings = _settings(data_dir)
    engine = _prepare(settings)
    with engine.begin() as conn:
        row = check_storage(conn, settings, utcnow())
    with engine.connect() as conn:
        recent = latest_checks(conn, 10)
    if as_json:
        print_json({"latest": recent[0], "checks": recent})
    else:
        for r in recent:
            percent = "?" if r["percent"] is None else f"{r['percent']:.1f} %"
            free = "?" if r["free_bytes"] is None else f"{r['free_bytes'] / 1024**3:.1f} GiB free"
            typer.echo(f"{china_time(r['checked_at'])}  {r['level']:<8} {percent:>8}  {free}  {r['target']}")
    if row["level"] != "ok":
        raise typer.Exit(1)


def _month(text: str) -> date:
    from envwatch.core.errors import InvalidInput
    from envwatch.web.api.evidence_checks import parse_month

    try:
        return parse_month(text)
    except InvalidInput as exc:
        _fail(exc.message)
        raise  # unreachable


@self_inspection_app.command("draw")
def draw(
    agency: Annotated[int, typer.Option("--agency", help="the testing agency's id")],
    month: Annotated[str, typer.Option("--month", help="the China month, YYYY-MM")],
    by: Annotated[str, typer.Option("--by", help="who draws (recorded with the draw)")] = "cli",
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Draw the agency's video records of the month for review (or show the draw made before)."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import EnvwatchError
    from envwatch.evidence.self_inspection import draw as make_draw

    chosen = _month(month)
    settings = _settings(data_dir)
    engine = _prepare(settings)
    try:
        with engine.begin() as conn:
            made = make_draw(conn, agency, chosen, settings, by, utcnow())
    except EnvwatchError as exc:
        _fail(exc.message)
        return
    if as_json:
        print_json(made)
        return
    state = "drawn before" if made["already"] else "drawn now"
    typer.echo(
        f"draw {made['id']} of agency {agency} for {made['month']:%Y-%m} ({state} by {made['drawn_by']} at "
        f"{china_time(made['drawn_at'])}): {len(made['item_ids'])} of {made['population']} video records"
    )
    typer.echo(f"seed {made['seed']}")
    typer.echo("videos " + ", ".join(str(i) for i in made["item_ids"]))


@self_inspection_app.command("list")
def list_(
    agency: Annotated[int | None, typer.Option("--agency", help="one testing agency's id")] = None,
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM")] = None,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """The self-inspection draws, newest month first, with their review progress."""
    from envwatch.evidence.self_inspection import list_draws

    chosen = _month(month) if month else None
    settings = _settings(data_dir)
    engine = _prepare(settings)
    with engine.connect() as conn:
        rows = list_draws(conn, None if agency is None else [agency], month=chosen)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no self-inspection draws")
    for d in rows:
        typer.echo(
            f"draw {d['id']}  agency {d['agency_id']}  {d['month']:%Y-%m}  {d['items']} of {d['population']} "
            f"drawn  {d['reviewed']} reviewed  {d['problems']} with problems  (by {d['drawn_by']})"
        )
