"""``envwatch sampling``: testing agencies, plans, samples and custody from the command line."""

from __future__ import annotations

import typer

sampling_app = typer.Typer(
    help="sampling (识别标识系统): agencies, plans, samples, custody, statistics", no_args_is_help=True
)
