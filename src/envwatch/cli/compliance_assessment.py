"""``envwatch compliance assess`` / ``credit``: the quarterly operator assessment (SX-26) and the credit file
and blacklist (SX-27, SX-32).

- ``assess show --quarter 2026Q3 [--region 3301] [--json]``: the ranking computed now from the data;
- ``assess publish --quarter 2026Q3 [--region 3301] [--by NAME]``: store it, with the warnings and
  blacklistings it entails (``compliance.assessment.publish``);
- ``credit list OPERATOR_ID [--json]``: the operator's credit file and blacklist state;
- ``credit add OPERATOR_ID --kind warning --reason … [--on DAY] [--finding-id N] [--by NAME]``;
- ``credit blacklist [--json]``: who is on the blacklist now (with ``--all``: everyone ever listed);
- ``credit lift OPERATOR_ID --reason … [--on DAY] [--by NAME]``: take an operator off the blacklist.

The command line reads and writes the store as the machine's administrator (no scope).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, Json, _fail, print_json, read_store, use_store, write_store

assessment_app = typer.Typer(help="quarterly operator assessment and ranking (SX-26)", no_args_is_help=True)
credit_app = typer.Typer(help="operator credit file and blacklist (SX-27, SX-32)", no_args_is_help=True)

Quarter = Annotated[
    str | None, typer.Option("--quarter", help="e.g. 2026Q3 (default: the last complete one)")
]
Region = Annotated[str, typer.Option("--region", help="region code or prefix (default: all regions)")]
By = Annotated[str, typer.Option("--by", help="who records it")]


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"--on must be a day YYYY-MM-DD, not {text!r}")
    return None  # pragma: no cover - _fail exits


def _ranking_json(ranking: Any) -> dict[str, Any]:
    return {
        "quarter": ranking.quarter,
        "from": ranking.first,
        "to": ranking.last,
        "region": ranking.region,
        "formula": ranking.formula.as_dict(),
        "ranked": ranking.ranked,
        "rows": [r.as_dict() for r in ranking.rows],
    }


def _print_ranking(ranking: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from envwatch.compliance.assessment import COMPONENTS

    table = Table(
        title=f"operator assessment {ranking.quarter}, region {ranking.region or 'all'}: {ranking.ranked} ranked"
    )
    for column in ("rank", "operator", "score", *COMPONENTS, "note"):
        table.add_column(column)
    for r in ranking.rows:
        cells = []
        for name in COMPONENTS:
            part = r.components[name]
            cells.append("—" if part["sub_score"] is None else str(part["sub_score"]))
        notes = []
        if r.last_place:
            notes.append("LAST PLACE")
        if r.passed is False:
            notes.append(f"below {ranking.formula.pass_score}")
        if r.left_out:
            notes.append("no data: " + ", ".join(r.left_out))
        table.add_row(
            str(r.rank or "—"),
            f"{r.operator} ({r.operator_id})",
            "—" if r.score is None else str(r.score),
            *cells,
            "; ".join(notes),
        )
    Console(width=200).print(table)


def _quarter(quarter: str | None) -> str:
    from envwatch.compliance.assessment import previous_quarter
    from envwatch.core.clock import utcnow

    return quarter or previous_quarter(utcnow())


@assessment_app.command("show")
def assess_show(
    quarter: Quarter = None, region: Region = "", as_json: Json = False, data_dir: DataDir = None
) -> None:
    """The ranking of a quarter, computed now from the data (sub-scores per component)."""
    from envwatch.compliance.assessment import assess
    from envwatch.core.clock import utcnow

    ranking = use_store(
        data_dir, lambda engine, settings: assess(engine, settings, _quarter(quarter), region, utcnow())
    )
    if as_json:
        print_json(_ranking_json(ranking))
    else:
        _print_ranking(ranking)


@assessment_app.command("publish")
def assess_publish(
    quarter: Quarter = None,
    region: Region = "",
    by: By = "cli",
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Publish a quarter's ranking: stored for good, with its warnings (SX-32) and blacklistings (SX-26)."""
    from envwatch.compliance.assessment import assess, publish
    from envwatch.core.clock import utcnow

    def action(engine: Any, settings: Any) -> tuple[Any, Any]:
        now = utcnow()
        ranking = assess(engine, settings, _quarter(quarter), region, now)
        with engine.begin() as conn:
            return ranking, publish(conn, ranking, settings, by=by, now=now)

    ranking, done = use_store(data_dir, action)
    if as_json:
        print_json(
            {
                **_ranking_json(ranking),
                "assessment_ids": done.assessment_ids,
                "credit_events": done.credit_events,
            }
        )
        return
    _print_ranking(ranking)
    typer.echo(f"published {len(done.assessment_ids)} assessments of {ranking.quarter}")
    for e in done.credit_events:
        typer.echo(
            f"credit event {e['id']}: operator {e['operator_id']} {e['kind']} ({e['rule']}): {e['reason']}"
        )


def _record(
    operator_id: int, kind: str, reason: str, on: str | None, finding_id: int | None, by: str, data_dir: Any
) -> None:
    from envwatch.compliance.credit import record_event
    from envwatch.core.clock import utcnow

    row = write_store(
        data_dir,
        lambda conn, _settings: record_event(
            conn, operator_id, kind, reason, on=_day(on), finding_id=finding_id, by=by, now=utcnow()
        ),
    )
    typer.echo(f"credit event {row['id']}: operator {operator_id} {row['kind']} on {row['on']}")


@credit_app.command("list")
def credit_list(operator_id: int, as_json: Json = False, data_dir: DataDir = None) -> None:
    """An operator's credit file (oldest first) and its blacklist state."""
    from envwatch.compliance.credit import blacklist_state, events_of
    from envwatch.registry.service_operators import get_operator

    operator, events, state = read_store(
        data_dir,
        lambda conn: (
            get_operator(conn, operator_id),
            events_of(conn, operator_id),
            blacklist_state(conn, operator_id),
        ),
    )
    if as_json:
        print_json(
            {
                "operator_id": operator_id,
                "operator": operator["name"],
                "blacklisted": state.listed,
                "blacklist_history": [s.as_dict() for s in state.history],
                "events": events,
            }
        )
        return
    listed = f"blacklisted since {state.current.since}" if state.current else "not blacklisted"
    typer.echo(f"{operator['name']} (operator {operator_id}): {listed}")
    if not events:
        typer.echo("no credit event")
    for e in events:
        rule = f" ({e['rule']})" if e["rule"] else ""
        typer.echo(f"{e['on']}  {e['kind']}{rule} [{e['source']}, {e['recorded_by']}]: {e['reason']}")


@credit_app.command("add")
def credit_add(
    operator_id: int,
    kind: Annotated[
        str,
        typer.Option("--kind", help="warning | penalty | bad_record | blacklisted | unblacklisted | note"),
    ],
    reason: Annotated[str, typer.Option("--reason", help="why (required)")],
    on: Annotated[str | None, typer.Option("--on", help="the day it takes effect (default today)")] = None,
    finding_id: Annotated[
        int | None, typer.Option("--finding-id", help="the finding it follows from")
    ] = None,
    by: By = "cli",
    data_dir: DataDir = None,
) -> None:
    """Add an event to an operator's credit file."""
    _record(operator_id, kind, reason, on, finding_id, by, data_dir)


@credit_app.command("lift")
def credit_lift(
    operator_id: int,
    reason: Annotated[str, typer.Option("--reason", help="why it comes off the blacklist (required)")],
    on: Annotated[str | None, typer.Option("--on", help="the day (default today)")] = None,
    by: By = "cli",
    data_dir: DataDir = None,
) -> None:
    """Take an operator off the blacklist."""
    _record(operator_id, "unblacklisted", reason, on, None, by, data_dir)


@credit_app.command("blacklist")
def credit_blacklist(
    everyone: Annotated[bool, typer.Option("--all", help="also those listed once and lifted")] = False,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """The operators on the blacklist now (SX-27)."""
    from envwatch.compliance.credit import blacklist

    states = read_store(data_dir, lambda conn: [s for s in blacklist(conn) if everyone or s.listed])
    if as_json:
        print_json(
            [
                {
                    "operator_id": s.operator_id,
                    "blacklisted": s.listed,
                    "history": [h.as_dict() for h in s.history],
                }
                for s in states
            ]
        )
        return
    if not states:
        typer.echo("nobody is blacklisted")
    for s in states:
        last = s.history[-1]
        if s.listed:
            typer.echo(f"operator {s.operator_id}: blacklisted since {last.since}: {last.reason}")
        else:
            typer.echo(f"operator {s.operator_id}: lifted on {last.lifted_on} ({last.lift_reason})")
