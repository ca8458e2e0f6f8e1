"""``envwatch reports``: periodic reports (daily, monthly, quarterly, yearly). Not written yet."""

from __future__ import annotations

import typer

reports_app = typer.Typer(help="periodic reports as xlsx and PDF (日报/月报/季报/年报)", no_args_is_help=True)
