"""``envwatch om tickets``: service tickets (服务工单) and satisfaction."""

from __future__ import annotations

import typer

tickets_app = typer.Typer(help="service tickets (服务工单) and satisfaction", no_args_is_help=True)
