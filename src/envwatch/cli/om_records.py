"""``envwatch om records``: field records (运维记录), reference-material certificates and operator registrations."""

from __future__ import annotations

import typer

records_app = typer.Typer(
    help="field records (运维记录), reference-material certificates and operator registrations",
    no_args_is_help=True,
)
