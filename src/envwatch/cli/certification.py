"""``envwatch compliance pack``: the certification evidence pack (CS-5/6). Not written yet."""

from __future__ import annotations

import typer

pack_app = typer.Typer(help="certification evidence pack of an operator (CS-5/6)", no_args_is_help=True)
