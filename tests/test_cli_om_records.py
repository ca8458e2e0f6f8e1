"""``envwatch om records list|add|due`` as a user runs them (Typer's runner, SQLite store)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.operations.records_schema import field_records
from tests.operations.records_world import GAS_MN, OTHER_MN, SITE, WATER_MN, build
from tests.web.pages.conftest import row_count

runner = CliRunner()


def _record(w: Any, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mn": GAS_MN,
        "kind": "inspection",
        "performed_at": to_china(w.now - timedelta(hours=1))
        .replace(tzinfo=None)
        .isoformat(timespec="minutes"),
        "staff_id": w.staff["zhang"],
        "payload": {"items": [{"item": "采样管线", "ok": True}]},
        "latitude": str(SITE[0]),
        "longitude": str(SITE[1]),
    }
    body.update(changes)
    return body


def test_add_list_and_due(settings: Settings, sqlite_engine: Engine, tmp_path: Path) -> None:
    w = build(sqlite_engine, utcnow())
    data = ["--data-dir", str(settings.data_dir)]
    one = tmp_path / "record.json"
    one.write_text(json.dumps(_record(w)), encoding="utf-8")
    added = runner.invoke(app, ["om", "records", "add", "--file", str(one), "--by", "op_a", *data])
    assert added.exit_code == 0, added.output
    assert (
        "inspection of 010000A8900016F0000E0001" in added.output
        and "verdict pass, on site yes" in added.output
    )

    # several records: all or none (the second has an expired certificate)
    two = tmp_path / "two.json"
    two.write_text(
        json.dumps([_record(w, mn=WATER_MN), _record(w, staff_id=w.staff["li"])]), encoding="utf-8"
    )
    before = row_count(sqlite_engine, field_records)
    refused = runner.invoke(app, ["om", "records", "add", "--file", str(two), *data])
    assert refused.exit_code == 2 and "record 2 of 2: 李四" in refused.output
    assert "has no certificate valid on" in refused.output
    assert row_count(sqlite_engine, field_records) == before
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps(_record(w, mn=OTHER_MN)), encoding="utf-8")
    no_contract = runner.invoke(app, ["om", "records", "add", "--file", str(theirs), *data])
    assert no_contract.exit_code == 2 and "no contract of operator" in no_contract.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert (
        "is not a JSON file" in runner.invoke(app, ["om", "records", "add", "--file", str(bad), *data]).output
    )
    bad.write_text(json.dumps({"mn": GAS_MN}), encoding="utf-8")
    missing = runner.invoke(app, ["om", "records", "add", "--file", str(bad), *data])
    assert missing.exit_code == 2 and "kind: Field required" in missing.output

    listed = runner.invoke(app, ["om", "records", "list", "--json", *data])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)["rows"]
    assert [(r["mn"], r["verdict"], r["on_site"]) for r in rows] == [(GAS_MN, "pass", "yes")]
    assert rows[0]["performed_at"].endswith("+08:00")
    assert (
        json.loads(runner.invoke(app, ["om", "records", "list", "--json", "--mn", WATER_MN, *data]).output)[
            "rows"
        ]
        == []
    )
    table = runner.invoke(app, ["om", "records", "list", "--kind", "inspection", *data])
    assert table.exit_code == 0 and "field records: 1 of 1" in table.output and "yes 0 m" in table.output
    wrong = runner.invoke(app, ["om", "records", "list", "--verdict", "ok", *data])
    assert wrong.exit_code == 2 and "verdict is pass, fail or none, not 'ok'" in wrong.output
    assert runner.invoke(app, ["om", "records", "list", "--from", "yesterday", *data]).exit_code == 2

    due = runner.invoke(app, ["om", "records", "due", "--operator-id", str(w.op), "--json", *data])
    assert due.exit_code == 0, due.output
    found = {(r["due"], r["mn"]) for r in json.loads(due.output)["rows"]}
    assert found == {("inspection", WATER_MN), ("comparison", GAS_MN), ("comparison", WATER_MN)}
    table = runner.invoke(app, ["om", "records", "due", *data])
    assert (
        table.exit_code == 0
        and "due: 2 inspections, 3 comparisons" in table.output
        and "never" in table.output
    )
