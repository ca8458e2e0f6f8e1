"""``envwatch evidence videos``: video records (视频记录, WZ-A1). (Scaffold: being written.)"""

from __future__ import annotations

import typer

videos_app = typer.Typer(help="video records (视频记录, WZ-A1): upload, search, show", no_args_is_help=True)
