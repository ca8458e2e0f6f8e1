"""``envwatch compliance check|rules|findings|finding|waive|unwaive`` as a user runs them (Typer's runner, a
real SQLite store), with test rules (tests/compliance/world_findings) in place of the packs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from envwatch.cli import app, compliance_check
from envwatch.compliance.schema import compliance_runs, findings
from envwatch.core.clock import to_china, utcnow
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from tests.compliance.world_findings import Board, World, about, about_agency, build_world, rule_set_of

runner = CliRunner()


@dataclass
class Cli:
    data_dir: Path
    world: World
    board: Board

    def run(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return runner.invoke(app, ["compliance", *args, "--data-dir", str(self.data_dir)], env=env)

    def rows(self, table: Any) -> list[dict[str, Any]]:
        engine = make_engine(Settings(data_dir=self.data_dir, _env_file=None))  # type: ignore[call-arg]
        try:
            with engine.connect() as conn:
                return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]
        finally:
            engine.dispose()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    data_dir = tmp_path / "var"
    engine = make_engine(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    upgrade(engine)
    world = build_world(engine)
    engine.dispose()
    board = Board(found={"TX-1-A": [about(world, "a", "a1")], "TX-2-C": [about_agency(world, "g1")]})
    rules = rule_set_of(board)
    monkeypatch.setattr(compliance_check, "rule_set", lambda: rules)
    for name in ("ENVWATCH_COMPLIANCE_PARAMS", "ENVWATCH_COMPLIANCE_RULES_OFF"):
        monkeypatch.delenv(name, raising=False)
    yield Cli(data_dir, world, board)


def test_check_runs_with_progress_and_counts(cli: Cli) -> None:
    r = cli.run("check", "--at", "2026-10-20T10:00:00")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["TX-1-A", "TX-1-B", "TX-2-C"]  # a line per rule
    assert "found 1, opened 1" in lines[0]
    assert (
        "as of 2026-10-20 10:00:00 (China time): 3 rules, 2 opened, 0 reopened, 0 resolved, 2 open"
        in lines[-1]
    )
    (run,) = cli.rows(compliance_runs)
    assert (run["trigger"], run["run_by"], to_china(run["at"]).hour) == ("demand", "cli", 10)
    again = cli.run("check", "--at", "2026-10-20T03:00:00+00:00", "--rule", "TX-1-A", "--json")
    assert again.exit_code == 0, again.output
    body = json.loads(again.output)
    assert body["at"] == "2026-10-20T11:00:00+08:00" and list(body["rules"]) == ["TX-1-A"]
    assert body["rules"]["TX-1-A"]["still_open"] == 1


def test_check_exit_codes(cli: Cli) -> None:
    cli.board.fail.add("TX-1-B")
    failed = cli.run("check", "--at", "2026-10-20T10:00:00")
    assert failed.exit_code == 1
    assert "TX-1-B" in failed.output and "RuntimeError: rule TX-1-B broke on purpose" in failed.output
    assert "failed: TX-1-B" in failed.output
    assert len(cli.rows(findings)) == 2  # the others' findings were stored
    for args, message in (
        (("--rule", "TX-9-Z"), "no compliance rule 'TX-9-Z'"),
        (("--at", "yesterday"), "is not an ISO 8601 time"),
        (("--at", to_china(utcnow() + timedelta(days=1)).replace(tzinfo=None).isoformat()), "future"),
    ):
        r = cli.run("check", *args)
        assert r.exit_code == 2 and message in r.output, (args, r.output)
    off = cli.run("check", "--rule", "TX-2-C", env={"ENVWATCH_COMPLIANCE_RULES_OFF": '["TX-2-C"]'})
    assert off.exit_code == 2 and "switched off" in off.output
    bad = cli.run("check", env={"ENVWATCH_COMPLIANCE_PARAMS": '{"TX-1-A": {"dayz": 1}}'})
    assert bad.exit_code == 2 and "has no parameter dayz" in bad.output
    assert len(cli.rows(compliance_runs)) == 1  # refusals started no run


def test_rules(cli: Cli) -> None:
    env = {
        "ENVWATCH_COMPLIANCE_PARAMS": '{"TX-1-A": {"days": 10}}',
        "ENVWATCH_COMPLIANCE_RULES_OFF": '["TX-2-C"]',
    }
    r = cli.run("rules", env=env)
    assert r.exit_code == 0, r.output
    assert "TX-1-A" in r.output and "[testpack] on" in r.output and "[other] OFF" in r.output
    assert "days = 10 (set; default 7)" in r.output
    body = json.loads(cli.run("rules", "--json", env=env).output)
    (days, limit) = body["rules"][0]["params"]
    assert (days["value"], days["overridden"], limit["value"], limit["overridden"]) == (10, True, 5, False)


def test_findings_finding_waive_unwaive(cli: Cli) -> None:
    assert cli.run("check", "--at", "2026-10-20T10:00:00").exit_code == 0
    listed = cli.run("findings")
    assert listed.exit_code == 0 and "2 finding(s): 2 open, 0 resolved, 0 waived" in listed.output
    body = json.loads(cli.run("findings", "--rule", "TX-1-A", "--json").output)
    (row,) = body["rows"]
    fid = row["id"]
    assert row["key"] == "a1" and body["counts"]["by_rule"]["TX-1-A"]["open"] == 1
    by_enterprise = json.loads(cli.run("findings", "--enterprise", str(cli.world.ent_a), "--json").output)
    assert [r["key"] for r in by_enterprise["rows"]] == ["a1"]
    by_operator = json.loads(cli.run("findings", "--operator", str(cli.world.op_b), "--json").output)
    assert by_operator["rows"] == []
    limited = cli.run("findings", "--limit", "1").output.splitlines()
    assert len(limited) == 2 and limited[-1].endswith("(first 1 shown)")
    assert cli.run("findings", "--state", "gone").exit_code == 2
    shown = cli.run("finding", str(fid))
    assert shown.exit_code == 0 and "TX-1-A  open" in shown.output and "evidence: fault 7" in shown.output
    assert "opened" in shown.output and "by cli" in shown.output
    assert cli.run("finding", "99999").exit_code == 2
    assert cli.run("waive", str(fid), "--reason", " ").exit_code == 2  # a reason is required
    waived = cli.run("waive", str(fid), "--reason", "停产已批准", "--by", "张科长")
    assert waived.exit_code == 0, waived.output
    assert "waived" in waived.output and "by 张科长" in waived.output
    assert cli.run("waive", str(fid), "--reason", "again").exit_code == 2  # already waived
    assert json.loads(cli.run("finding", str(fid), "--json").output)["state"] == "waived"
    back = cli.run("unwaive", str(fid), "--reason", "stop withdrawn")
    assert back.exit_code == 0 and "unwaived" in back.output
    assert cli.run("unwaive", str(fid), "--reason", "again").exit_code == 2  # not waived
    history = json.loads(cli.run("finding", str(fid), "--json").output)["history"]
    assert [(e["event"], e["recorded_by"]) for e in history] == [
        ("opened", "cli"),
        ("waived", "张科长"),
        ("unwaived", "cli"),
    ]
