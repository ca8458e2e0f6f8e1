"""``envwatch om ledger``: the equipment ledger (一机一档, CS-4.4.3), spare parts, emergency plans and drills
(CS-4.2.3), read with the administrator's reach (every operator, or one with ``--operator-id``).

The same store functions as the API and the pages (``operations.equipment``, ``operations.spare_parts``,
``operations.emergency``). Errors print the store's message and exit with code 2. Days are China dates.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, _fail, _prepare, _settings

ledger_app = typer.Typer(
    help="equipment ledger (一机一档), spare parts, emergency plans and drills", no_args_is_help=True
)

OperatorOpt = Annotated[int | None, typer.Option("--operator-id", help="only this operator (default: all)")]
FormatOpt = Annotated[str, typer.Option("--format", help="table | json")]


def _format(value: str) -> str:
    if value not in ("table", "json"):
        _fail(f"--format must be table or json, not {value!r}")
    return value


def _json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _today() -> date:
    from envwatch.core.clock import to_china, utcnow

    return to_china(utcnow()).date()


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=max(shutil.get_terminal_size().columns, 140)).print(table)


def _operators(conn: Any, operator_id: int | None) -> list[dict[str, Any]]:
    from envwatch.core.errors import NotFound
    from envwatch.registry.service_operators import get_operator, list_operators

    if operator_id is None:
        return list_operators(conn)
    try:
        return [get_operator(conn, operator_id)]
    except NotFound as exc:
        _fail(exc.message)
        raise  # pragma: no cover - _fail exits


@ledger_app.command("equipment")
def equipment_list(
    operator_id: OperatorOpt = None,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="in_stock | installed | repairing | scrapped (repeatable)"),
    ] = None,
    format_: FormatOpt = "table",
    data_dir: DataDir = None,
) -> None:
    """Equipment files (一机一档) with their state, device and verification status today."""
    from envwatch.core.errors import InvalidInput
    from envwatch.operations.equipment import (
        VERIFICATION_WARN_DAYS,
        EquipmentFilter,
        list_equipment,
        verification_status,
    )

    _format(format_)
    engine = _prepare(_settings(data_dir))
    today = _today()
    with engine.connect() as conn:
        ops = _operators(conn, operator_id)
        f = EquipmentFilter(operator_ids=[o["id"] for o in ops], states=state or None)
        try:
            rows = list_equipment(conn, f, limit=1000)
        except InvalidInput as exc:
            _fail(exc.message)
            return
    for r in rows:
        r["verification"] = verification_status(
            r["next_verification_due"], r["state"], today, VERIFICATION_WARN_DAYS
        )
    if format_ == "json":
        _json({"today": today, "rows": rows})
        return
    _table(
        f"equipment: {len(rows)}",
        ["id", "operator", "kind", "name", "model", "serial", "state", "device", "next verification", ""],
        [
            [
                str(r["id"]), str(r["operator_id"]), r["kind"], r["name"], r["model"], r["serial"], r["state"],
                r["mn"] or "", str(r["next_verification_due"] or ""), r["verification"],
            ]
            for r in rows
        ],
    )  # fmt: skip


@ledger_app.command("due")
def due(
    operator_id: OperatorOpt = None,
    within_days: Annotated[int, typer.Option("--within-days", min=0, help="due within this many days")] = 30,
    format_: FormatOpt = "table",
    data_dir: DataDir = None,
) -> None:
    """Equipment whose verification (检定/校准) is overdue or due within ``--within-days``, soonest first."""
    from envwatch.operations.equipment import verification_due

    _format(format_)
    engine = _prepare(_settings(data_dir))
    today = _today()
    with engine.connect() as conn:
        if operator_id is not None:
            _operators(conn, operator_id)
        rows = verification_due(conn, operator_id, today, within_days)
    if format_ == "json":
        _json({"today": today, "within_days": within_days, "rows": rows})
        return
    _table(
        f"verification due within {within_days} days of {today}: {len(rows)}",
        ["id", "operator", "name", "model", "serial", "due", "days left", ""],
        [
            [
                str(r["id"]), str(r["operator_id"]), r["name"], r["model"], r["serial"],
                str(r["next_verification_due"]), str(r["days_left"]), "OVERDUE" if r["overdue"] else "",
            ]
            for r in rows
        ],
    )  # fmt: skip


@ledger_app.command("stock")
def stock_list(
    operator_id: OperatorOpt = None,
    below_min: Annotated[bool, typer.Option("--below-min", help="only parts below their minimum")] = False,
    format_: FormatOpt = "table",
    data_dir: DataDir = None,
) -> None:
    """Spare parts (备品备件) with their stock (the sum of their moves) and the below-minimum flag."""
    from envwatch.operations.spare_parts import stock

    _format(format_)
    engine = _prepare(_settings(data_dir))
    with engine.connect() as conn:
        if operator_id is not None:
            _operators(conn, operator_id)
        rows = [r for r in stock(conn, operator_id) if r["below_min"] or not below_min]
    if format_ == "json":
        _json({"rows": rows})
        return
    _table(
        f"spare parts: {len(rows)}",
        ["id", "operator", "name", "model", "stock", "minimum", ""],
        [
            [
                str(r["id"]), str(r["operator_id"]), r["name"], r["model"], f"{r['stock']} {r['unit']}",
                str(r["min_stock"]), "BELOW MINIMUM" if r["below_min"] else "",
            ]
            for r in rows
        ],
    )  # fmt: skip


@ledger_app.command("drills")
def drills(
    year: Annotated[
        int | None, typer.Option("--year", min=1900, max=9999, help="default: this China year")
    ] = None,
    operator_id: OperatorOpt = None,
    format_: FormatOpt = "table",
    data_dir: DataDir = None,
) -> None:
    """CS-4.2.3 per operator for one calendar year: drills held, whether at least one was, and the event
    types without a current emergency plan. Exits with code 1 when an operator has not met it."""
    from envwatch.operations.emergency import drill_status

    _format(format_)
    engine = _prepare(_settings(data_dir))
    chosen = year or _today().year
    with engine.connect() as conn:
        statuses = [(o, drill_status(conn, o["id"], chosen)) for o in _operators(conn, operator_id)]
    if format_ == "json":
        _json(
            {
                "year": chosen,
                "operators": [
                    {
                        "operator_id": o["id"],
                        "name": o["name"],
                        "drills": s.drills,
                        "met": s.met,
                        "missing_event_types": list(s.missing_event_types),
                    }
                    for o, s in statuses
                ],
            }
        )
    else:
        _table(
            f"drills in {chosen} (CS-4.2.3: at least {statuses[0][1].required if statuses else 1} a year)",
            ["operator", "name", "drills", "met", "event types without a plan"],
            [
                [str(o["id"]), o["name"], str(len(s.drills)), "yes" if s.met else "NO",
                 ", ".join(s.missing_event_types) or "-"]
                for o, s in statuses
            ],
        )  # fmt: skip
    if any(not s.met for _, s in statuses):
        raise typer.Exit(1)
