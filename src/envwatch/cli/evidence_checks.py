"""``envwatch evidence checks``: the archive's rule checks and self-inspection (WZ-A1-5/13/14, WZ-A2-8).
(Scaffold: being written.)"""

from __future__ import annotations

import typer

checks_app = typer.Typer(
    help="checks of the video archive (WZ-A1): deadlines, coverage, storage, self-inspection",
    no_args_is_help=True,
)
