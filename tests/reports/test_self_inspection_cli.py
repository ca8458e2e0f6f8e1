"""``envwatch om reports preview`` and ``status`` on a real SQLite store (the world of the content tests)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.reports.quarters import last_finished, quarter_containing
from envwatch.reports.self_inspection_store import submit
from tests.reports.self_inspection_world import build_world

runner = CliRunner()


def test_preview_writes_both_files(tmp_path: Path, settings: Settings, sqlite_engine: Engine) -> None:
    w = build_world(sqlite_engine)
    out = tmp_path / "out"
    running = quarter_containing(utcnow())
    args = ["om", "reports", "preview", "--enterprise-id", str(w.jia), "--year", str(running.year)]
    args += ["--quarter", str(running.quarter), "--out", str(out), "--data-dir", str(settings.data_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    pdf = out / f"季度自查报告-91140105000000001B-{running.label}.pdf"
    xlsx = pdf.with_suffix(".xlsx")
    assert pdf.read_bytes().startswith(b"%PDF") and xlsx.read_bytes().startswith(b"PK")
    assert f"sha256 {hashlib.sha256(xlsx.read_bytes()).hexdigest()}" in result.output
    ahead = running.next()
    later = runner.invoke(app, [*args[:6], str(ahead.year), "--quarter", str(ahead.quarter), *args[9:]])
    assert later.exit_code == 2 and f"quarter {ahead.label} has not begun" in later.output
    missing = runner.invoke(app, [*args[:4], "999", *args[5:]])
    assert missing.exit_code == 2 and "no enterprise with id 999" in missing.output


def test_status_of_every_enterprise(settings: Settings, sqlite_engine: Engine) -> None:
    w = build_world(sqlite_engine)
    last = last_finished(utcnow())
    with sqlite_engine.begin() as conn:
        submit(conn, BlobStore.from_settings(settings), settings, enterprise_id=w.jia, year=last.year,
               quarter=last.quarter, note="", by="ent", now=utcnow())  # fmt: skip
    base = ["om", "reports", "status", "--data-dir", str(settings.data_dir)]
    result = runner.invoke(app, [*base, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["enterprise"], r["submissions"], r["year"], r["quarter"]) for r in rows] == [
        ("甲化工有限公司", 1, last.year, last.quarter),
        ("乙热电有限公司", 0, last.year, last.quarter),
    ]
    assert rows[1]["state"] in ("due", "overdue")
    old = runner.invoke(
        app, [*base, "--year", "2025", "--quarter", "1", "--region", "140106", "--format", "json"]
    )
    assert [(r["enterprise"], r["state"]) for r in json.loads(old.output)] == [("乙热电有限公司", "overdue")]
    table = runner.invoke(app, [*base, "--year", "2025", "--quarter", "1"])
    assert table.exit_code == 0 and "2025Q1" in table.output and "overdue" in table.output
    half = runner.invoke(app, [*base, "--year", "2025"])
    assert half.exit_code == 2 and "give both --year and --quarter, or neither" in half.output
    bad = runner.invoke(app, [*base, "--format", "csv"])
    assert bad.exit_code == 2 and "--format must be table or json, not 'csv'" in bad.output
