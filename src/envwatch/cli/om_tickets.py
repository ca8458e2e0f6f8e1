"""``envwatch om tickets``: service tickets (服务工单, CS-4.3.3) and an operator's satisfaction.

- ``list``: tickets open first, with both clocks (state and time left) as of now; filters by enterprise,
  operator, state, clock status and the China days of the request;
- ``satisfaction``: an operator's satisfaction rate (surveys recorded in the period) against the target,
  and the on-time shares of both clocks (requests of the period). Default period: this quarter.

Both read the store directly, as the administrator of the machine (no scope): the web API is for people.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, _fail, _prepare, _settings
from envwatch.operations.ticket_sla import ClockName, SlaClock

tickets_app = typer.Typer(help="service tickets (服务工单) and satisfaction", no_args_is_help=True)

Format = Annotated[str, typer.Option("--format", help="table | json")]


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    _fail(f"{option} must be a day YYYY-MM-DD, not {text!r}")
    return None  # pragma: no cover - _fail exits


def _left(clock: SlaClock) -> str:
    """A clock as text: its state, and the time left (or late) while it runs."""
    if clock.remaining is None:
        return str(clock.state)
    minutes = int(abs(clock.remaining) / timedelta(minutes=1))
    sign = "-" if clock.remaining < timedelta(0) else ""
    return f"{clock.state} ({sign}{minutes // 60}h{minutes % 60:02d})"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


@tickets_app.command("list")
def tickets_list(
    enterprise_id: Annotated[int | None, typer.Option("--enterprise-id", help="only this enterprise")] = None,
    operator_id: Annotated[int | None, typer.Option("--operator-id", help="only this operator")] = None,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="requested, responded, … (repeatable)")
    ] = None,
    clock: Annotated[str | None, typer.Option("--clock", help="running | overdue | breached")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="first China day of the request")] = None,
    to: Annotated[str | None, typer.Option("--to", help="last China day of the request (included)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 100,
    format_: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """Service tickets, open ones first, with their response and on-site clocks."""
    from envwatch.core.clock import to_china, utcnow
    from envwatch.core.errors import InvalidInput
    from envwatch.operations.ticket_sla import SlaRules
    from envwatch.operations.tickets import TicketQuery, list_tickets

    if format_ not in ("table", "json"):
        _fail(f"--format must be table or json, not {format_!r}")
    settings = _settings(data_dir)
    query = TicketQuery(
        enterprise_ids=None if enterprise_id is None else [enterprise_id],
        operator_ids=None if operator_id is None else [operator_id],
        states=state or None,
        clock=clock,
        first_day=_day(from_, "--from"),
        last_day=_day(to, "--to"),
        now=utcnow(),
        rules=SlaRules.from_settings(settings),
        limit=limit,
    )
    engine = _prepare(settings)
    try:
        with engine.connect() as conn:
            rows, total = list_tickets(conn, query)
    except InvalidInput as exc:
        _fail(exc.message)
        return
    if format_ == "json":
        out = [
            {k: v for k, v in r.items() if k != "clocks"}
            | {"clocks": {c.name: {"state": c.state, "due_at": c.due_at} for c in r["clocks"]}}
            for r in rows
        ]
        typer.echo(
            json.dumps({"total": total, "rows": out}, ensure_ascii=False, indent=2, default=_json_default)
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"service tickets: {len(rows)} of {total}")
    for column in (
        "id",
        "requested (China)",
        "state",
        "respond",
        "on site",
        "zone",
        "ent.",
        "op.",
        "subject",
    ):
        table.add_column(column)
    for r in rows:
        clocks = {c.name: c for c in r["clocks"]}
        table.add_row(
            str(r["id"]),
            f"{to_china(r['requested_at']):%Y-%m-%d %H:%M}",
            r["state"],
            _left(clocks["respond"]),
            _left(clocks["on_site"]),
            r["zone"],
            str(r["enterprise_id"]),
            str(r["operator_id"]),
            r["subject"],
        )
    Console(width=max(shutil.get_terminal_size().columns, 160)).print(table)


@tickets_app.command("satisfaction")
def tickets_satisfaction(
    operator_id: Annotated[int, typer.Option("--operator-id", help="the operator")],
    from_: Annotated[
        str | None, typer.Option("--from", help="first China day (default: this quarter)")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="last China day, included (default: this quarter)")
    ] = None,
    format_: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """An operator's satisfaction rate (CS-4.3.3: at least 85 %) and its on-time shares for a period."""
    from envwatch.core.clock import to_china, utcnow
    from envwatch.core.errors import InvalidInput, NotFound
    from envwatch.operations.ticket_sla import SlaRules
    from envwatch.operations.ticket_stats import quarter_of, satisfaction, sla_statistics
    from envwatch.registry.service_operators import get_operator

    if format_ not in ("table", "json"):
        _fail(f"--format must be table or json, not {format_!r}")
    first, last = quarter_of(to_china(utcnow()).date())
    first, last = _day(from_, "--from") or first, _day(to, "--to") or last
    settings = _settings(data_dir)
    rules = SlaRules.from_settings(settings)
    engine = _prepare(settings)
    try:
        with engine.connect() as conn:
            operator = get_operator(conn, operator_id)
            got = satisfaction(conn, operator_id, first, last, rules)
            stats = sla_statistics(conn, operator_id, first, last, utcnow(), rules)
    except (InvalidInput, NotFound) as exc:
        _fail(exc.message)
        return
    rate = got.rate
    on_time = {name: s.__dict__ for name, s in stats.clocks.items()}
    if format_ == "json":
        out = {
            "operator_id": operator_id,
            "operator": operator["name"],
            "from": first,
            "to": last,
            "surveys": rate.n,
            "satisfied": rate.satisfied,
            "percent": rate.percent,
            "target_percent": got.target,
            "meets_target": rate.meets_target,
            "tickets": stats.tickets,
            "on_time": on_time,
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2, default=_json_default))
        return
    shown = (
        "no surveys (no rate)" if rate.percent is None else f"{rate.percent} % ({rate.satisfied} of {rate.n})"
    )
    verdict = {None: "", True: "  target met", False: "  target missed"}[rate.meets_target]
    typer.echo(f"{operator['name']} (operator {operator_id}), {first} .. {last}")
    typer.echo(f"satisfaction: {shown}, target {got.target} %{verdict}")
    typer.echo(f"requests: {stats.tickets}")
    labels: tuple[tuple[ClockName, str], ...] = (
        ("respond", "responded in time"),
        ("on_site", "on site in time"),
    )
    for name, label in labels:
        s = stats.clocks[name]
        percent = "—" if s.percent is None else f"{s.percent} %"
        typer.echo(
            f"{label}: {percent} ({s.met} of {s.met + s.late}; {s.running} running, "
            f"{s.not_applicable} not applicable)"
        )
