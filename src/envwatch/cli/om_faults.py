"""``envwatch om faults``: faults (故障), manual monitoring results and production stops (停产).

- ``list``: faults, open ones first, with their SX-18.3 clocks (``--open``, ``--mn``, ``--overdue``,
  ``--format json``);
- ``open``: record a fault of a device (``--mn``, ``--started`` China time, ``--description``, ``--factor``
  repeatable, ``--alarm``);
- ``event``: record what happened on a fault (backup_started with ``--kind``, backup_checked, backup_ended,
  restored, commented);
- ``manual-results``: store manual monitoring results from a CSV file (``--csv FILE``, columns
  factor,sampled_at,value,unit,agency,report_no);
- ``stops``: the production stop reports (``--state``, ``--format json``).

Every change names the person (``--by``) and runs through the same store as the API and the pages.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, _fail, _prepare, _settings

faults_app = typer.Typer(
    help="faults (故障), manual monitoring results and production stops (停产)", no_args_is_help=True
)

By = Annotated[str, typer.Option("--by", help="who records it (a username)")]
Format = Annotated[str, typer.Option("--format", help="table | json")]


def _time(name: str, text: str | None) -> datetime | None:
    """ISO 8601 or ``YYYY-MM-DD HH:MM``; without an offset, China time."""
    from envwatch.core.clock import CHINA_TZ

    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(f"{name} {text!r} is not a time such as 2026-11-22 08:00 (China time)")
        raise  # unreachable: _fail exits
    return (moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TZ)).astimezone(UTC)


def _format(value: str) -> None:
    if value not in ("table", "json"):
        _fail(f"--format must be table or json, not {value!r}")


def _china(moment: datetime | None) -> str:
    from envwatch.core.clock import to_china

    return "" if moment is None else f"{to_china(moment):%Y-%m-%d %H:%M}"


def _run(work: Any, data_dir: Path | None) -> Any:
    """``work(conn, settings)`` in one transaction; a refusal of the store is printed, exit code 2."""
    from envwatch.core.errors import EnvwatchError

    settings = _settings(data_dir)
    engine = _prepare(settings)
    try:
        with engine.begin() as conn:
            return work(conn, settings)
    except EnvwatchError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()


def _device_id(conn: Any, mn: str) -> int:
    from sqlalchemy import select

    from envwatch.registry.schema import devices

    found = conn.execute(select(devices.c.id).where(devices.c.mn == mn)).scalar()
    if found is None:
        _fail(f"no device with MN {mn}")
    return int(found)


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=max(shutil.get_terminal_size().columns, 160)).print(table)


@faults_app.command("list")
def list_faults(
    open_: Annotated[bool, typer.Option("--open", help="only faults not restored yet")] = False,
    mn: Annotated[str | None, typer.Option("--mn", help="only this device")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="only faults with an overdue clock")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 100,
    format_: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """Faults, open ones first, with their SX-18.3 clocks (times in China time)."""
    from envwatch.core.clock import utcnow
    from envwatch.core.workdays import CalendarNotCovered, WorkdayCalendar
    from envwatch.operations.fault_clocks import FaultRules
    from envwatch.operations.faults import FaultQuery, clocks_of, factors_of
    from envwatch.operations.faults import list_faults as listing

    _format(format_)
    now = utcnow()

    def work(conn: Any, settings: Any) -> tuple[list[dict[str, Any]], int, Any, Any]:
        rules, calendar = FaultRules.from_settings(settings), WorkdayCalendar.from_settings(settings)
        q = FaultQuery(
            device_id=_device_id(conn, mn) if mn is not None else None,
            states=["open", "on_backup"] if open_ else None,
            overdue_at=now if overdue else None,
            limit=limit,
        )
        rows, total = listing(conn, q, rules=rules, calendar=calendar)
        return rows, total, rules, calendar

    rows, total, rules, calendar = _run(work, data_dir)
    out = []
    for r in rows:
        try:
            clocks = [(c.name, c.state, c.due_at) for c in clocks_of(r, now, rules, calendar)]
        except CalendarNotCovered:
            clocks = []
        out.append({**r, "factors": factors_of(r), "clocks": clocks})
    if format_ == "json":
        typer.echo(json.dumps({"total": total, "rows": out}, ensure_ascii=False, indent=2, default=str))
        return
    table_rows = [
        [
            str(r["id"]), r["state"], r["mn"], f"{r['enterprise']} {r['outlet']}", ",".join(r["factors"]) or "*",
            _china(r["started_at"]),
            " ".join(f"{name}:{state}" for name, state, _due in r["clocks"] if state != "not_applicable"),
        ]
        for r in out
    ]  # fmt: skip
    columns = ["id", "state", "MN", "enterprise / outlet", "factors", "began (China)", "clocks"]
    _print_table(f"faults: {len(out)} of {total}", columns, table_rows)


@faults_app.command("open")
def open_fault(
    mn: Annotated[str, typer.Option("--mn", help="the device (数采仪) MN")],
    started: Annotated[str, typer.Option("--started", help="when it began, e.g. '2026-11-22 08:00' (China)")],
    description: Annotated[str, typer.Option("--description", help="故障现象: what is wrong")],
    by: By,
    factor: Annotated[list[str] | None, typer.Option("--factor", help="a factor down (repeatable)")] = None,
    alarm: Annotated[int | None, typer.Option("--alarm", help="the alarm it is opened from")] = None,
    data_dir: DataDir = None,
) -> None:
    """Record a device fault (SX-18.3)."""
    from envwatch.core.clock import utcnow
    from envwatch.operations import faults

    began = _time("--started", started)
    assert began is not None

    def work(conn: Any, _settings: Any) -> dict[str, Any]:
        return faults.open_fault(
            conn, device_id=_device_id(conn, mn), started_at=began, description=description,
            factors=factor or [], alarm_id=alarm, opened_by=by, now=utcnow(),
        )  # fmt: skip

    row = _run(work, data_dir)
    typer.echo(f"fault {row['id']} opened on {row['mn']} since {_china(row['started_at'])} (China time)")


@faults_app.command("event")
def record_event(
    fault_id: Annotated[int, typer.Argument(help="the fault")],
    event: Annotated[
        str, typer.Argument(help="backup_started | backup_checked | backup_ended | restored | commented")
    ],
    by: By,
    at: Annotated[str | None, typer.Option("--at", help="when it happened (China time); default now")] = None,
    comment: Annotated[str, typer.Option("--comment")] = "",
    kind: Annotated[str | None, typer.Option("--kind", help="backup_started: backup_device | manual")] = None,
    data_dir: DataDir = None,
) -> None:
    """Record what happened on a fault; ``restored`` marks the fault period."""
    from envwatch.core.clock import utcnow
    from envwatch.monitoring.marks import MarkPolicy
    from envwatch.operations import faults

    now = utcnow()
    moment = _time("--at", at) or now

    def work(conn: Any, settings: Any) -> dict[str, Any]:
        return faults.record_event(
            conn, fault_id, event=event, at=moment, comment=comment, data={"kind": kind} if kind else {},
            by=by, now=now, policy=MarkPolicy.from_settings(settings),
        )  # fmt: skip

    row = _run(work, data_dir)
    marked = f", marked (mark {row['mark_id']})" if event == "restored" else ""
    typer.echo(f"fault {row['id']}: {event} recorded; now {row['state']}{marked}")


@faults_app.command("manual-results")
def manual_results(
    fault_id: Annotated[int, typer.Argument(help="the fault with manual monitoring running")],
    csv: Annotated[
        Path,
        typer.Option(
            "--csv", exists=True, dir_okay=False, help="factor,sampled_at,value,unit,agency,report_no"
        ),
    ],
    by: By,
    data_dir: DataDir = None,
) -> None:
    """Store manual monitoring results (手工监测) from a UTF-8 CSV file; all rows or none."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import InvalidInput
    from envwatch.operations import faults

    try:
        text = csv.read_text(encoding="utf-8")
        rows = faults.parse_manual_csv(text)
    except UnicodeDecodeError:
        _fail(f"{csv} is not UTF-8 text: save it as CSV UTF-8")
        raise
    except InvalidInput as exc:
        _fail(f"{csv}: {exc.message}")
        raise
    added = _run(
        lambda conn, _s: faults.add_manual_results(conn, fault_id, rows, by=by, now=utcnow()), data_dir
    )
    typer.echo(f"fault {fault_id}: {len(added)} manual results stored")


@faults_app.command("stops")
def list_stops(
    state: Annotated[
        list[str] | None, typer.Option("--state", help="submitted, approved, rejected, withdrawn, restarted")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    format_: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """Production stop reports (停产报告), the latest planned start first."""
    from envwatch.operations.production_stops import StopQuery
    from envwatch.operations.production_stops import list_stops as listing

    _format(format_)
    rows, total = _run(lambda conn, _s: listing(conn, StopQuery(states=state or None, limit=limit)), data_dir)
    if format_ == "json":
        typer.echo(json.dumps({"total": total, "rows": rows}, ensure_ascii=False, indent=2, default=str))
        return
    table_rows = [
        [
            str(r["id"]), r["state"], f"{r['enterprise_name']} {r['outlet_code']}", _china(r["start_at"]),
            _china(r["end_at"]), r["submitted_by"], r["decided_by"] or "",
        ]
        for r in rows
    ]  # fmt: skip
    columns = [
        "id",
        "state",
        "enterprise / outlet",
        "from (China)",
        "to (China)",
        "reported by",
        "decided by",
    ]
    _print_table(f"production stops: {len(rows)} of {total}", columns, table_rows)
