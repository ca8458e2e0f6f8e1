"""``envwatch reports generate|list|get`` on a real SQLite store (the periodic reports' world)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.settings import Settings
from tests.reports.periodic_world import build_world

runner = CliRunner()


def test_generate_list_get(tmp_path: Path, settings: Settings, sqlite_engine: Engine) -> None:
    w = build_world(sqlite_engine)
    data = ["--data-dir", str(settings.data_dir)]
    out = tmp_path / "out"
    made = runner.invoke(app, ["reports", "generate", "--period", "month", "--of", "2026-09",
                               "--enterprise", str(w.jia), "--out", str(out), *data])  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "exceedances 1" in made.output and "new findings 1" in made.output
    xlsx = out / f"定期报告-月报-2026-09-enterprise-{w.jia}-1.xlsx"
    assert xlsx.read_bytes().startswith(b"PK") and xlsx.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert f"sha256 {hashlib.sha256(xlsx.read_bytes()).hexdigest()}" in made.output
    listed = runner.invoke(app, ["reports", "list", "--json", *data])
    rows = json.loads(listed.output)
    assert [(r["id"], r["scope_kind"], r["trigger"], r["generated_by"]) for r in rows] == [
        (1, "enterprise", "demand", "cli")
    ]
    assert "2026-09-01..2026-09-30" in runner.invoke(app, ["reports", "list", *data]).output
    again = tmp_path / "again"
    got = runner.invoke(app, ["reports", "get", "1", "--out", str(again), *data])
    assert got.exit_code == 0 and (again / xlsx.name).read_bytes() == xlsx.read_bytes()
    missing = runner.invoke(app, ["reports", "get", "9", "--out", str(again), *data])
    assert missing.exit_code == 2 and "no periodic report with id 9" in missing.output
    two = runner.invoke(app, ["reports", "generate", "--period", "month", "--of", "2026-09", "--region", "33",
                              "--operator", "1", *data])  # fmt: skip
    assert two.exit_code == 2 and "at most one of --region, --enterprise and --operator" in two.output
    bad = runner.invoke(app, ["reports", "generate", "--period", "week", "--of", "2026", *data])
    assert bad.exit_code == 2 and "period must be one of day, month, quarter, year" in bad.output
