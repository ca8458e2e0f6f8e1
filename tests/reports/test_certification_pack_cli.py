"""``envwatch compliance pack make|kpis`` as a user runs them (Typer's runner, SQLite store)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.settings import Settings
from tests.reports.test_certification_pack_world import build_quarter

runner = CliRunner()


def test_make_twice_and_kpis(settings: Settings, sqlite_engine: Engine, tmp_path: Path) -> None:
    w, _ = build_quarter(sqlite_engine, settings)
    data = ["--data-dir", str(settings.data_dir)]
    period = ["--operator", str(w.op), "--from", "2026-07-01", "--to", "2026-09-30"]
    out = tmp_path / "pack.zip"
    first = runner.invoke(
        app, ["compliance", "pack", "make", *period, "--out", str(out), "--by", "张审核", *data]
    )
    assert first.exit_code == 0, first.output
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in first.output and "not the same as any earlier pack" in first.output
    again = runner.invoke(
        app, ["compliance", "pack", "make", *period, "--out", str(tmp_path / "b.zip"), *data]
    )
    assert again.exit_code == 0, again.output
    assert "same as pack #1" in again.output and (tmp_path / "b.zip").read_bytes() == out.read_bytes()
    shown = runner.invoke(app, ["compliance", "pack", "kpis", *period, "--json", *data])
    assert shown.exit_code == 0, shown.output
    kpis = {k["key"]: k for k in json.loads(shown.output)["kpis"]}
    assert kpis["satisfaction"]["value"] == "50.0" and kpis["satisfaction"]["met"] is False
    text = runner.invoke(app, ["compliance", "pack", "kpis", *period, *data])
    assert "CS-4.3.3" in text.output and "NOT MET" in text.output
    bad = runner.invoke(
        app,
        [
            "compliance",
            "pack",
            "kpis",
            "--operator",
            "999",
            "--from",
            "2026-07-01",
            "--to",
            "2026-09-30",
            *data,
        ],
    )
    assert bad.exit_code == 2 and "no operator" in bad.output
    worse = runner.invoke(
        app,
        [
            "compliance",
            "pack",
            "make",
            *period[:2],
            "--from",
            "x",
            "--to",
            "2026-09-30",
            "--out",
            str(out),
            *data,
        ],
    )
    assert worse.exit_code == 2
