"""``envwatch compliance plan`` and ``spot-test`` as a user runs them (Typer's runner) on a migrated SQLite
data directory holding tests/compliance/world_supervision.py's region (built at today's time: the commands
judge against the clock)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from tests.compliance.world_supervision import SupervisionWorld, build

runner = CliRunner()


@pytest.fixture
def w(sqlite_engine: Engine) -> SupervisionWorld:
    return build(sqlite_engine, utcnow())


def cli(settings: Settings, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["compliance", *args, "--data-dir", str(settings.data_dir)])
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_plan_make_show_record_list(w: SupervisionWorld, settings: Settings) -> None:
    today = to_china(utcnow()).date()
    month = f"{today:%Y-%m}"
    code, out = cli(settings, "plan", "make", "--region", "3301", "--month", month, "--by", "reg_hz")
    assert code == 0, out
    assert "made now" in out and "region 3301" in out and "2 enterprises of 2 with monitored outlets" in out
    assert "甲化工有限公司" in out and "乙热电有限公司" in out and "丙食品有限公司" not in out
    code, out = cli(settings, "plan", "make", "--region", "3301", "--month", month, "--json")
    plan = json.loads(out)
    assert code == 0 and plan["already"] is True and len(plan["items"]) == 2
    item = plan["items"][0]["id"]
    code, out = cli(settings, "plan", "record", str(plan["id"]), str(item), "--visited", today.isoformat(),
                    "--inspectors", "张三", "--item", "changes=problem:未备案的变更", "--others", "ok")  # fmt: skip
    assert code == 0, out
    assert f"of item {item}: problems" in out
    code, out = cli(settings, "plan", "record", str(plan["id"]), str(item), "--visited", today.isoformat(),
                    "--inspectors", "张三", "--item", "changes=ok")  # fmt: skip
    assert code == 2 and "not answered" in out
    code, out = cli(settings, "plan", "record", str(plan["id"]), str(item), "--visited", "2026-99-01",
                    "--inspectors", "张三")  # fmt: skip
    assert code == 2 and "is not a day YYYY-MM-DD" in out
    tomorrow = (today + timedelta(days=1)).isoformat()
    code, out = cli(settings, "plan", "record", str(plan["id"]), str(item), "--visited", tomorrow,
                    "--inspectors", "张三", "--others", "ok")  # fmt: skip
    assert code == 2 and "is in the future" in out
    code, out = cli(settings, "plan", "show", str(plan["id"]))
    assert (
        code == 0 and "visited 1 (50.0 %), 1 with problems" in out and "problem changes: 未备案的变更" in out
    )
    code, out = cli(settings, "plan", "list", "--region", "33")
    assert code == 0 and f"plan {plan['id']}  3301  {month}  visited 1 of 2 (50.0 %)" in out
    code, out = cli(settings, "plan", "make", "--region", "33", "--month", month)
    assert code == 2 and "is a province" in out
    code, out = cli(settings, "plan", "show", "999999")
    assert code == 2 and "no supervision plan with id 999999" in out


def test_spot_test_draw_show_record_list(w: SupervisionWorld, settings: Settings) -> None:
    today = to_china(utcnow()).date()
    code, out = cli(settings, "spot-test", "draw", "--region", "3301", "--year", str(today.year), "--json")
    assert code == 0, out
    made = json.loads(out)
    assert made["population"] == 3 and len(made["items"]) == 1 and made["already"] is False
    code, out = cli(settings, "spot-test", "draw", "--region", "3301", "--year", str(today.year))
    assert code == 0 and "drawn before" in out and made["seed"] in out
    item = made["items"][0]["id"]
    code, out = cli(settings, "spot-test", "record", str(made["id"]), str(item), "--tested", today.isoformat(),
                    "--agency", "杭州检测", "--report", "HZ-9", "--value", "a21026=10:13:mg/m3")  # fmt: skip
    assert code == 0, out
    assert "fail" in out and "error 30.00 %: FAIL" in out
    code, out = cli(settings, "spot-test", "record", str(made["id"]), str(item), "--tested", today.isoformat(),
                    "--agency", "杭州检测", "--report", "HZ-9", "--value", "a21026")  # fmt: skip
    assert code == 2 and "write FACTOR=MANUAL" in out
    code, out = cli(settings, "spot-test", "show", str(made["id"]))
    assert code == 0 and "tested 1 (100.0 %), 33.3 % of the population, 1 failed" in out
    assert "redoing the draw gives the same points" in out
    code, out = cli(settings, "spot-test", "list")
    assert code == 0 and f"draw {made['id']}  3301  {today.year}  tested 1 of 1 drawn" in out
