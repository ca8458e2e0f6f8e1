"""``envwatch labels``: print sample labels (识别标识码, WZ-A2-7/8) as PDF or ZPL."""

from __future__ import annotations

import typer

labels_app = typer.Typer(help="sample labels (识别标识码): print as PDF or ZPL", no_args_is_help=True)
