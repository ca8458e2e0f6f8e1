"""``envwatch compliance assess show|publish`` and ``credit list|add|blacklist|lift`` as a user runs them
(Typer's runner, a real SQLite store with the assessment world)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from tests.compliance.assessment_world import q3_work, world
from tests.operations.records_world import RecordsWorld

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> tuple[list[str], RecordsWorld]:
    data_dir = tmp_path / "var"
    settings = Settings(data_dir=data_dir, _env_file=None)
    engine = make_engine(settings)
    upgrade(engine)
    w = world(engine, settings)
    q3_work(engine, settings, w)
    engine.dispose()
    return ["--data-dir", str(data_dir)], w


def run(*args: str) -> str:
    result = runner.invoke(app, ["compliance", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_assess_show_and_publish(store: tuple[list[str], RecordsWorld]) -> None:
    where, w = store
    body = json.loads(run("assess", "show", "--quarter", "2026Q3", "--json", *where))
    assert [(r["operator_id"], r["rank"], r["last_place"]) for r in body["rows"]] == [
        (w.other_op, 1, False),
        (w.op, 2, True),
    ]
    assert body["rows"][1]["score"] == "42.20"
    text = run("assess", "show", "--quarter", "2026Q3", *where)
    assert "LAST PLACE" in text and "运维甲" in text
    assert "1 ranked" in run("assess", "show", "--quarter", "2026Q3", "--region", "330100", *where)
    out = run("assess", "publish", "--quarter", "2026Q3", "--by", "张局", *where)
    assert "published 2 assessments of 2026Q3" in out and "warning (SX-32)" in out
    bad = runner.invoke(app, ["compliance", "assess", "show", "--quarter", "2026Q9", *where])
    assert bad.exit_code == 2 and "2026Q9" in bad.output


def test_credit_commands(store: tuple[list[str], RecordsWorld]) -> None:
    where, w = store
    op = str(w.op)
    assert "nobody is blacklisted" in run("credit", "blacklist", *where)
    run("credit", "add", op, "--kind", "warning", "--reason", "迟报", "--on", "2026-11-01", *where)
    run("credit", "add", op, "--kind", "blacklisted", "--reason", "造假", *where)
    again = runner.invoke(
        app, ["compliance", "credit", "add", op, "--kind", "blacklisted", "--reason", "x", *where]
    )
    assert again.exit_code == 2 and "already blacklisted" in again.output
    listed = json.loads(run("credit", "blacklist", "--json", *where))
    assert [(e["operator_id"], e["blacklisted"]) for e in listed] == [(w.op, True)]
    text = run("credit", "list", op, *where)
    assert "blacklisted since" in text and "2026-11-01  warning (SX-32)" in text
    run("credit", "lift", op, "--reason", "整改完成", *where)
    assert "nobody is blacklisted" in run("credit", "blacklist", *where)
    assert "lifted on" in run("credit", "blacklist", "--all", *where)
    lift = runner.invoke(app, ["compliance", "credit", "lift", op, "--reason", "x", *where])
    assert lift.exit_code == 2 and "not blacklisted" in lift.output
    history = json.loads(run("credit", "list", op, "--json", *where))
    assert [e["kind"] for e in history["events"]] == ["warning", "blacklisted", "unblacklisted"]
    missing = runner.invoke(app, ["compliance", "credit", "list", "999", *where])
    assert missing.exit_code == 2
