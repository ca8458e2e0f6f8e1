"""``envwatch compliance assess`` / ``credit``: quarterly operator assessment and the credit file. Not written yet."""

from __future__ import annotations

import typer

assessment_app = typer.Typer(help="quarterly operator assessment and ranking (SX-26)", no_args_is_help=True)
credit_app = typer.Typer(help="operator credit file and blacklist (SX-27, SX-32)", no_args_is_help=True)
