"""``envwatch om staff``: staff (运维人员), certificates, trainings and results."""

from __future__ import annotations

import typer

staff_app = typer.Typer(help="staff (运维人员), certificates, trainings and results", no_args_is_help=True)
