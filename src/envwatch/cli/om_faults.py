"""``envwatch om faults``: faults (故障), manual monitoring results and production stops (停产)."""

from __future__ import annotations

import typer

faults_app = typer.Typer(
    help="faults (故障), manual monitoring results and production stops (停产)", no_args_is_help=True
)
