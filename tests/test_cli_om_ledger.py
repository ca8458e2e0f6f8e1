"""``envwatch om ledger equipment|due|stock|drills`` as a user runs them (Typer's runner, SQLite store)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.operations import emergency, equipment, spare_parts
from tests.operations.ledger_world import build

runner = CliRunner()


def test_ledger_commands(settings: Settings, sqlite_engine: Engine, tmp_path: Path) -> None:
    w = build(sqlite_engine)
    now = utcnow()
    today = to_china(now).date()
    with sqlite_engine.begin() as conn:
        soon = equipment.add_equipment(
            conn, operator_id=w.op, kind="analyser", name="SO2 分析仪", model="XG", serial="S1",
            purchased_on=today - timedelta(days=30), recorded_by="op", now=now,
        )["id"]  # fmt: skip
        equipment.record_event(
            conn,
            soon,
            event="verified",
            on=today,
            next_due=today + timedelta(days=3),
            recorded_by="op",
            now=now,
        )
        equipment.add_equipment(
            conn, operator_id=w.other_op, kind="tool", name="万用表", model="UT", serial="U1",
            purchased_on=today, recorded_by="op", now=now,
        )  # fmt: skip
        pump = spare_parts.add_part(
            conn, operator_id=w.op, name="采样泵", model="N86", unit="个", min_stock=2, now=now
        )
        spare_parts.move(conn, pump["id"], 1, "入库", recorded_by="op", now=now)
        spare_parts.add_part(conn, operator_id=w.op, name="滤芯", model="F", unit="个", min_stock=0, now=now)
        plan = emergency.add_plan(
            conn, operator_id=w.op, event_type="power_outage", title="停电", version="V1",
            effective_on=date(2020, 1, 1), body="x", recorded_by="op", now=now,
        )  # fmt: skip
        emergency.add_drill(
            conn, plan["id"], held_on=today, participants=3, summary="演练", recorded_by="op", now=now
        )
    data = ["--data-dir", str(settings.data_dir)]

    listed = runner.invoke(app, ["om", "ledger", "equipment", "--format", "json", *data])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)["rows"]
    assert [(r["name"], r["verification"]) for r in rows] == [("SO2 分析仪", "due"), ("万用表", "none")]
    mine = runner.invoke(app, ["om", "ledger", "equipment", "--operator-id", str(w.other_op), *data])
    assert mine.exit_code == 0 and "万用表" in mine.output and "SO2" not in mine.output
    bad = runner.invoke(app, ["om", "ledger", "equipment", "--state", "broken", *data])
    assert bad.exit_code == 2 and "unknown equipment state broken" in bad.output
    nobody = runner.invoke(app, ["om", "ledger", "equipment", "--operator-id", "999999", *data])
    assert nobody.exit_code == 2 and "no operator with id 999999" in nobody.output
    wrong = runner.invoke(app, ["om", "ledger", "stock", "--format", "csv", *data])
    assert wrong.exit_code == 2 and "--format must be table or json, not 'csv'" in wrong.output

    due = runner.invoke(app, ["om", "ledger", "due", "--within-days", "3", "--format", "json", *data])
    assert [(r["id"], r["days_left"]) for r in json.loads(due.output)["rows"]] == [(soon, 3)]
    assert (
        json.loads(
            runner.invoke(
                app, ["om", "ledger", "due", "--within-days", "2", "--format", "json", *data]
            ).output
        )["rows"]
        == []
    )
    table = runner.invoke(app, ["om", "ledger", "due", *data])
    assert table.exit_code == 0 and "SO2 分析仪" in table.output

    stock = runner.invoke(app, ["om", "ledger", "stock", "--below-min", "--format", "json", *data])
    assert [(r["name"], r["stock"]) for r in json.loads(stock.output)["rows"]] == [("采样泵", 1)]
    assert "BELOW MINIMUM" in runner.invoke(app, ["om", "ledger", "stock", *data]).output

    # 运维乙 has no drill this year: the command says so and exits 1
    drills = runner.invoke(app, ["om", "ledger", "drills", "--format", "json", *data])
    assert drills.exit_code == 1
    by_op = {o["operator_id"]: o for o in json.loads(drills.output)["operators"]}
    assert by_op[w.op]["met"] is True and len(by_op[w.op]["drills"]) == 1
    assert by_op[w.other_op]["met"] is False and "power_outage" in by_op[w.other_op]["missing_event_types"]
    one = runner.invoke(
        app, ["om", "ledger", "drills", "--year", str(today.year), "--operator-id", str(w.op), *data]
    )
    assert one.exit_code == 0 and "yes" in one.output
    last = runner.invoke(
        app, ["om", "ledger", "drills", "--year", str(today.year - 1), "--operator-id", str(w.op), *data]
    )
    assert last.exit_code == 1 and "NO" in last.output
