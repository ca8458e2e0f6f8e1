"""``envwatch om ledger``: equipment ledger (一机一档), spare parts, emergency plans and drills."""

from __future__ import annotations

import typer

ledger_app = typer.Typer(
    help="equipment ledger (一机一档), spare parts, emergency plans and drills", no_args_is_help=True
)
