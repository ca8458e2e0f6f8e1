"""``envwatch om reports``: quarterly self-inspection reports (季度自查报告, SX-18.7)."""

from __future__ import annotations

import typer

reports_app = typer.Typer(help="quarterly self-inspection reports (季度自查报告)", no_args_is_help=True)
