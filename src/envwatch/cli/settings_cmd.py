"""``envwatch settings``: the configuration as the code defines it (core.settings_reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

settings_app = typer.Typer(
    help="the settings (ENVWATCH_* variables) and their reference", no_args_is_help=True
)


@settings_app.command("reference")
def reference_command(
    output: Annotated[
        Path | None,
        typer.Option("--output", help="write to this file (docs/configuration.md) instead of stdout"),
    ] = None,
) -> None:
    """Every setting: field, environment variable, type, default, description (Markdown)."""
    from envwatch.core.settings_reference import reference

    text = reference()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"written to {output}")
