"""``envwatch compliance check | rules | findings | waive | unwaive``. Not written yet."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``envwatch compliance`` group."""
