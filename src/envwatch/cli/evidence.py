"""``envwatch evidence``: the tamper-evident log, its verification and offline bundles; video records and
the archive's checks (``videos``, ``checks``).

(Scaffold: the log commands are being written.)
"""

from __future__ import annotations

import typer

from envwatch.cli.evidence_checks import checks_app
from envwatch.cli.evidence_videos import videos_app

evidence_app = typer.Typer(
    help="evidence (证据存证): tamper-evident log, verification, bundles, video records", no_args_is_help=True
)
evidence_app.add_typer(videos_app, name="videos")
evidence_app.add_typer(checks_app, name="checks")
