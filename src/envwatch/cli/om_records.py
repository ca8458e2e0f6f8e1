"""``envwatch om records``: field records (运维记录), reference-material certificates and operator registrations.

- ``list``: records, newest work first (current versions unless ``--all``), filters ``--mn``, ``--kind``,
  ``--verdict``, ``--operator-id``, ``--from``/``--to`` (China days), ``--limit``; a table or ``--json``;
- ``add --file record.json``: store one record, or a list of them (all or none), with every check of the
  API (``operations.records.add_record``); the file holds what ``POST /api/v1/om/records`` takes, with
  ``staff_id`` (who did the work) always given; ``--by`` names who records it;
- ``due``: the inspections (SX-20.3) and comparisons (SX-18.6) due now, for one operator
  (``--operator-id``) or all; a table or ``--json``.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, _fail, _prepare, _settings

records_app = typer.Typer(
    help="field records (运维记录), reference-material certificates and operator registrations",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _day(name: str, text: str | None) -> date | None:
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        _fail(f"{name} {text!r} is not a day such as 2026-11-22")
        raise  # unreachable: _fail exits


def _midnight(day: date) -> datetime:
    from envwatch.core.clock import CHINA_TZ

    return datetime.combine(day, time(0), tzinfo=CHINA_TZ).astimezone(UTC)


def _engine(data_dir: Path | None) -> tuple[Any, Any]:
    settings = _settings(data_dir)
    return settings, _prepare(settings)


def _china(moment: datetime | None) -> str:
    from envwatch.core.clock import to_china

    return "" if moment is None else f"{to_china(moment):%Y-%m-%d %H:%M}"


def _json(rows: Any) -> None:
    from envwatch.web.api.om_records import out

    typer.echo(json.dumps(out(rows), ensure_ascii=False, indent=2))


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    # wide enough for a 24-character MN without wrapping (a narrow terminal scrolls)
    Console(width=max(shutil.get_terminal_size().columns, 160)).print(table)


@records_app.command("list")
def list_(
    mn: Annotated[str | None, typer.Option("--mn", help="only this device")] = None,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="inspection, calibration, … (repeatable)")
    ] = None,
    verdict: Annotated[str | None, typer.Option("--verdict", help="pass | fail | none")] = None,
    operator_id: Annotated[int | None, typer.Option("--operator-id", help="only this operator's")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="first China day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option("--to", help="last China day, YYYY-MM-DD")] = None,
    all_: Annotated[bool, typer.Option("--all", help="corrected versions too")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 100,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Field records, newest work first, with their verdict and sign-in."""
    from envwatch.core.errors import EnvwatchError
    from envwatch.operations.record_input import device_by_mn
    from envwatch.operations.records import RecordQuery, list_records

    first, last = _day("--from", from_), _day("--to", to)
    _unused, engine = _engine(data_dir)
    try:
        with engine.connect() as conn:
            query = RecordQuery(
                device_ids=[device_by_mn(conn, mn)] if mn else None,
                operator_ids=[operator_id] if operator_id is not None else None,
                kinds=kind or None,
                verdict=verdict,
                since=_midnight(first) if first else None,
                until=_midnight(last + timedelta(days=1)) if last else None,
                current_only=not all_,
                limit=limit,
            )
            rows, total = list_records(conn, query)
    except EnvwatchError as exc:
        _fail(exc.message)
        return
    finally:
        engine.dispose()
    if as_json:
        _json({"total": total, "rows": rows})
        return
    _table(
        f"field records: {len(rows)} of {total}" + ("" if not all_ else " (with corrected versions)"),
        ("id", "done at (China)", "kind", "verdict", "on site", "MN", "enterprise", "outlet", "by", "corrected by"),
        [
            (
                str(r["id"]), _china(r["performed_at"]), r["kind"],
                r["verdict"] + (" OUT OF CONTROL" if r["payload"].get("out_of_control") else ""),
                r["on_site"] + (f" {r['distance_m']} m" if r["distance_m"] is not None else ""),
                r["mn"], r["enterprise_name"] or "", r["outlet_name"] or "", r["staff_name"],
                str(r["superseded_by"] or ""),
            )
            for r in rows
        ],
    )  # fmt: skip


@records_app.command("add")
def add(
    file: Annotated[Path, typer.Option("--file", exists=True, dir_okay=False, help="record.json")],
    by: Annotated[str, typer.Option("--by", help="who records it (a username)")] = "cli",
    data_dir: DataDir = None,
) -> None:
    """Store the record(s) of a JSON file with every check of the API; all or none."""
    from pydantic import ValidationError

    from envwatch.core.clock import utcnow
    from envwatch.core.errors import EnvwatchError
    from envwatch.operations.record_input import RecordIn, device_of, to_draft
    from envwatch.operations.records import add_record

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{file} is not a JSON file: {exc}")
        return
    items = data if isinstance(data, list) else [data]
    try:
        bodies = [RecordIn.model_validate(item) for item in items]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        _fail(f"{file}: {problems}")
        return
    settings, engine = _engine(data_dir)
    stored: list[dict[str, Any]] = []
    try:
        with engine.begin() as conn:
            for n, body in enumerate(bodies, start=1):
                try:
                    draft = to_draft(
                        conn, body, device_id=device_of(conn, body), operator_id=None, username=by
                    )
                    stored.append(add_record(conn, draft, by, utcnow(), settings))
                except EnvwatchError as exc:
                    where = f"record {n} of {len(bodies)}: " if len(bodies) > 1 else ""
                    raise type(exc)(where + exc.message) from None
    except EnvwatchError as exc:
        _fail(exc.message)
        return
    finally:
        engine.dispose()
    for row in stored:
        typer.echo(
            f"record {row['id']}: {row['kind']} of {row['mn']} at {_china(row['performed_at'])} (China), "
            f"verdict {row['verdict']}, on site {row['on_site']}, kept until {row['keep_until']}"
        )


@records_app.command("due")
def due(
    operator_id: Annotated[
        int | None, typer.Option("--operator-id", help="one operator (default: all)")
    ] = None,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Inspections (every ENVWATCH_OM_INSPECTION_EVERY_DAYS) and comparisons (gas quarterly, water monthly)
    due now."""
    from envwatch.core.clock import utcnow
    from envwatch.operations.record_due import comparison_due, inspection_due

    settings, engine = _engine(data_dir)
    now = utcnow()
    try:
        with engine.connect() as conn:
            rows = inspection_due(conn, operator_id, now, settings.om_inspection_every_days)
            rows += comparison_due(conn, operator_id, now)
    finally:
        engine.dispose()
    if as_json:
        _json({"rows": rows})
        return
    _table(
        f"due: {sum(r['due'] == 'inspection' for r in rows)} inspections, "
        f"{sum(r['due'] == 'comparison' for r in rows)} comparisons",
        ("due", "operator", "MN", "enterprise", "outlet", "last (China)", "due by"),
        [
            (
                r["due"], r["operator_name"], r["mn"], r["enterprise_name"], r["outlet_name"],
                _china(r["last_at"]) or "never",
                _china(r["due_at"]) if r["due"] == "inspection" and r["due_at"] else str(r.get("due_by") or "now"),
            )
            for r in rows
        ],
    )  # fmt: skip
