"""``envwatch om staff`` as a user runs it, on a real store (SQLite)."""

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
from envwatch.operations.trainings import add_result, plan_training, quarter_of, record_held
from envwatch.registry import service_operators as ops
from envwatch.registry.models import OperatorIn, credit_code_check_char
from envwatch.web.accounts import store as accounts

runner = CliRunner()
DAY = timedelta(days=1)


def _code(n: int) -> str:
    first17 = f"9135010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def test_staff_commands(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(settings)
    upgrade(engine)
    now = utcnow()
    today = to_china(now).date()
    with engine.begin() as conn:
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=_code(1)), now)["id"]
        other = ops.create_operator(conn, OperatorIn(name="运维乙", credit_code=_code(2)), now)["id"]
        accounts.create_user(
            conn, "fs_a", "correct horse battery", {"role": "field_staff", "operator_id": op}, now,
            min_password_length=10,
        )  # fmt: skip
    data_dir = ["--data-dir", str(tmp_path / "var")]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["om", "staff", *args, *data_dir])
        return result.exit_code, result.output

    code, out = run(
        "add",
        "--operator-id",
        str(op),
        "--name",
        "张三",
        "--position",
        "sampler",
        "--phone",
        "13800138000",
        "--username",
        "fs_a",
    )
    assert code == 0 and "staff 1: 张三 (sampler) at operator" in out, out
    code, out = run(
        "add",
        "--operator-id",
        str(other),
        "--name",
        "李四",
        "--position",
        "sampler",
        "--phone",
        "123",
        "--username",
        "fs_a",
    )
    assert (
        code == 2 and f"no operator, field_staff or auditor account named 'fs_a' at operator {other}" in out
    )
    code, out = run("add", "--operator-id", str(op), "--name", "李四", "--position", "boss", "--phone", "123")
    assert code == 2 and "position 'boss' is not one of" in out

    until = (today + 10 * DAY).isoformat()
    code, out = run(
        "certificate", "1", "--kind", "上岗证", "--number", "N-1", "--issuer", "协会",
        "--issued-on", (today - 700 * DAY).isoformat(), "--valid-until", until,
    )  # fmt: skip
    assert code == 0 and f"certificate 1 (N-1) of staff 1: valid until {until}" in out, out
    code, out = run(
        "certificate",
        "1",
        "--kind",
        "k",
        "--number",
        "n",
        "--issuer",
        "i",
        "--issued-on",
        "soon",
        "--valid-until",
        until,
    )
    assert code == 2 and "--issued-on must be a date such as 2026-11-21, not 'soon'" in out
    code, out = run(
        "certificate",
        "9",
        "--kind",
        "k",
        "--number",
        "n",
        "--issuer",
        "i",
        "--issued-on",
        today.isoformat(),
        "--valid-until",
        until,
    )
    assert code == 2 and "no staff member with id 9" in out

    code, out = run("list")
    assert code == 0 and "张三" in out and f"certificate expiring until {until}" in out and "1 staff" in out
    code, out = run("list", "--format", "json", "--certificate", "valid")
    assert code == 0 and json.loads(out) == []
    code, out = run("list", "--certificate", "soon")
    assert code == 2 and "certificate status 'soon'" in out
    code, out = run("expiring", "--operator-id", str(op))
    assert code == 0 and "(10 days)  staff 1 张三" in out and "1 certificates to renew within 30 days" in out
    code, out = run("expiring", "--warn-days", "9")
    assert code == 0 and "0 certificates to renew within 9 days" in out

    year, quarter = quarter_of(today)
    with engine.begin() as conn:
        plan = plan_training(
            conn, operator_id=op, kind="quarterly", title="季度培训", planned_on=today, pass_score="60",
            recorded_by="op", now=now,
        )  # fmt: skip
        held = record_held(conn, plan["id"], held_on=today, recorded_by="op", now=now)
        add_result(conn, held["id"], staff_id=1, score="88.5", tested_on=today, recorded_by="op", now=now)
    engine.dispose()
    args = ["--operator-id", str(op), "--year", str(year), "--quarter", str(quarter)]
    code, out = run("quarterly", *args)
    assert code == 0 and f"quarterly re-training 季度培训 ({today})" in out, out
    assert "passed      staff 1 张三 (sampler)  88.5 on" in out and "1 of 1 passed (100.0 %)" in out
    code, out = run("quarterly", *args, "--format", "json")
    answer = json.loads(out)
    assert (answer["rule"], answer["percent"], answer["people"][0]["result"]["score"]) == (
        "CS-4.5",
        "100.0",
        "88.5",
    )
    code, out = run("quarterly", "--operator-id", str(op), "--year", str(year), "--quarter", "5")
    assert code == 2 and "quarter must be 1, 2, 3 or 4, not 5" in out
    code, out = run("sampling-label", "--operator-id", str(op))
    assert code == 0 and "NOT passed  staff 1 张三" in out and "0 of 1 passed (0.0 %)" in out
