"""``envwatch compliance pack``: the certification evidence pack (认证证据包, CS-5/6) from the command line.

- ``pack make --operator ID --from DAY --to DAY --out FILE [--by NAME]``: write the zip, record the make
  (``certification_packs`` + its evidence entry) and print its SHA-256, its size and whether an earlier pack
  of the same operator and period had the same bytes;
- ``pack kpis --operator ID --from DAY --to DAY [--json]``: the KPIs with requirement, target, value, met.

Same functions as the API (``reports.certification_pack``), with the administrator's reach. Errors print the
store's message and exit with code 2.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from envwatch.cli.common import DataDir, Json, _fail, _prepare, _settings, print_json

pack_app = typer.Typer(help="certification evidence pack of an operator (CS-5/6)", no_args_is_help=True)

OperatorOpt = Annotated[int, typer.Option("--operator", help="the operator's id")]
FromOpt = Annotated[str, typer.Option("--from", help="first China day, YYYY-MM-DD")]
ToOpt = Annotated[str, typer.Option("--to", help="last China day (included), YYYY-MM-DD")]


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{name} must be a date such as 2026-09-30, not {text!r}")
        raise  # pragma: no cover - _fail exits


@pack_app.command("make")
def make(
    operator: OperatorOpt,
    from_: FromOpt,
    to: ToOpt,
    out: Annotated[Path, typer.Option("--out", help="the zip file to write")],
    by: Annotated[str, typer.Option("--by", help="who makes it (recorded)")] = "cli",
    data_dir: DataDir = None,
) -> None:
    """Write the pack and record the make."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import EnvwatchError
    from envwatch.reports.certification_pack import make_pack

    first, last = _day("--from", from_), _day("--to", to)
    settings = _settings(data_dir)
    engine = _prepare(settings)
    partial = out.with_name(out.name + ".part")
    try:
        with partial.open("wb") as fh:
            made = make_pack(engine, settings, operator, first, last, out=fh, made_by=by, now=utcnow())
        partial.replace(out)
    except EnvwatchError as exc:
        partial.unlink(missing_ok=True)
        _fail(exc.message)
        return
    finally:
        engine.dispose()
    typer.echo(f"pack #{made.id}: {out} ({made.result.size} bytes)")
    typer.echo(f"sha256 {made.result.sha256}")
    if made.same_as is None:
        typer.echo("not the same as any earlier pack of this operator and period")
    else:
        typer.echo(f"same as pack #{made.same_as}: the data has not changed since")


@pack_app.command("kpis")
def kpis(
    operator: OperatorOpt, from_: FromOpt, to: ToOpt, json_: Json = False, data_dir: DataDir = None
) -> None:
    """The KPIs of the pack."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import EnvwatchError
    from envwatch.reports.certification_kpis import certification_kpis

    first, last = _day("--from", from_), _day("--to", to)
    settings = _settings(data_dir)
    engine = _prepare(settings)
    try:
        got = certification_kpis(engine, settings, operator, first, last, utcnow())
    except EnvwatchError as exc:
        _fail(exc.message)
        return
    finally:
        engine.dispose()
    if json_:
        print_json(got.as_dict())
        return
    for k in got.kpis:
        met = {True: "met", False: "NOT MET", None: "undecided"}[k.met]
        value = "—" if k.value is None else f"{k.value}{' %' if k.unit == '%' else ''}"
        base = "" if k.denominator is None else f" ({k.numerator}/{k.denominator})"
        typer.echo(f"{k.requirement:<11} {k.key:<15} {value:>9}{base}  target {k.target}  {met}")
