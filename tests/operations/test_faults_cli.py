"""``envwatch om faults`` as a user runs it, on a real store: open, events, manual results from CSV, lists."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.clock import to_china, utcnow
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from envwatch.operations.production_stops import submit_stop
from tests.operations.faults_world import GAS_MN, SO2, build

runner = CliRunner()


def _china(hours_ago: float) -> str:
    return f"{to_china(utcnow() - timedelta(hours=hours_ago)):%Y-%m-%d %H:%M}"


def test_the_fault_commands(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(settings)
    upgrade(engine)
    now = utcnow()
    world = build(engine, now)
    with engine.begin() as conn:
        submit_stop(
            conn, enterprise_id=world.jia, outlet_id=world.outlets["gas_a"], start_at=now + timedelta(days=1),
            end_at=now + timedelta(days=2), reason="检修", by="ent1", now=now,
        )  # fmt: skip
    engine.dispose()
    data = ["--data-dir", str(tmp_path / "var")]
    om = ["om", "faults"]

    opened = runner.invoke(
        app,
        [*om, "open", "--mn", GAS_MN, "--started", _china(30), "--description", "采样泵坏", "--factor", SO2,
         "--by", "op1", *data],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    assert opened.output.startswith("fault 1 opened on " + GAS_MN)
    again = runner.invoke(
        app, [*om, "open", "--mn", GAS_MN, "--started", _china(1), "--description", "x", "--by", "op1", *data]
    )
    assert again.exit_code == 2 and "already has open fault 1" in again.output
    unknown = runner.invoke(
        app, [*om, "open", "--mn", "NOPE", "--started", _china(1), "--description", "x", "--by", "o", *data]
    )
    assert unknown.exit_code == 2 and "no device with MN NOPE" in unknown.output

    no_kind = runner.invoke(app, [*om, "event", "1", "backup_started", "--by", "op1", *data])
    assert no_kind.exit_code == 2 and "backup_started needs the kind" in no_kind.output
    backup = runner.invoke(
        app,
        [*om, "event", "1", "backup_started", "--kind", "manual", "--at", _china(7), "--by", "op1", *data],
    )
    assert backup.exit_code == 0 and "now on_backup" in backup.output, backup.output

    csv = tmp_path / "results.csv"
    csv.write_text(
        f"factor,sampled_at,value,unit,agency,report_no\n{SO2},{_china(5)},12.5,mg/m3,某检测,R1\n",
        encoding="utf-8",
    )
    stored = runner.invoke(app, [*om, "manual-results", "1", "--csv", str(csv), "--by", "op1", *data])
    assert stored.exit_code == 0 and "1 manual results stored" in stored.output, stored.output
    twice = runner.invoke(app, [*om, "manual-results", "1", "--csv", str(csv), "--by", "op1", *data])
    assert (
        twice.exit_code == 2 and "line 2: a21026 at" in twice.output and "is already stored" in twice.output
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("factor,value\n", encoding="utf-8")
    refused = runner.invoke(app, [*om, "manual-results", "1", "--csv", str(bad), "--by", "op1", *data])
    assert refused.exit_code == 2 and "line 1: the header must name the columns" in refused.output

    listed = runner.invoke(app, [*om, "list", "--format", "json", *data])
    rows = json.loads(listed.output)["rows"]
    assert [(r["id"], r["state"], r["factors"]) for r in rows] == [(1, "on_backup", [SO2])]
    overdue = runner.invoke(app, [*om, "list", "--overdue", *data])
    assert overdue.exit_code == 0 and "faults: 0 of 0" in overdue.output  # backup within 24 h, restore ahead
    restored = runner.invoke(
        app, [*om, "event", "1", "restored", "--comment", "更换采样泵", "--by", "op1", *data]
    )
    assert restored.exit_code == 0 and "now restored, marked (mark 1)" in restored.output, restored.output
    assert "faults: 0 of 0" in runner.invoke(app, [*om, "list", "--open", *data]).output
    table = runner.invoke(app, [*om, "list", "--mn", GAS_MN, *data])
    assert "faults: 1 of 1" in table.output and "restored" in table.output

    stops = runner.invoke(app, [*om, "stops", "--format", "json", *data])
    assert [r["state"] for r in json.loads(stops.output)["rows"]] == ["submitted"]
    assert (
        "production stops: 1 of 1" in runner.invoke(app, [*om, "stops", "--state", "submitted", *data]).output
    )
    assert runner.invoke(app, [*om, "stops", "--format", "xml", *data]).exit_code == 2
