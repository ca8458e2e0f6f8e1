"""``envwatch om tickets list|satisfaction`` as a user runs it (Typer's runner, a real SQLite store)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.clock import utcnow
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from envwatch.operations.tickets import record_event, request_ticket
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char

runner = CliRunner()


def _code(n: int) -> str:
    first17 = f"9135010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


@pytest.fixture
def store(tmp_path: Path) -> tuple[list[str], dict[str, int]]:
    """A store with 运维甲 serving 甲: one ticket answered late and surveyed 3, one waiting for 2 hours."""
    data_dir = tmp_path / "var"
    engine = make_engine(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    upgrade(engine)
    now = utcnow()
    with engine.begin() as conn:
        ent = svc.create_enterprise(
            conn, EnterpriseIn(name="甲化工", credit_code=_code(1), region_code="350102"), now
        )
        outlet = svc.create_outlet(conn, ent["id"], OutletIn(code="DA001", name="1号排口", kind="gas"), now)
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=_code(2)), now)
        contract = ContractIn(enterprise_id=ent["id"], contract_no="HT-1", valid_from=date(2020, 1, 1))
        ops.create_contract(conn, op["id"], contract, now)

        def ask(hours_ago: float) -> int:
            return int(
                request_ticket(
                    conn, enterprise_id=ent["id"], outlet_id=outlet["id"], device_id=None, subject="数据掉线",
                    description="无数据", channel="phone", requested_at=now - timedelta(hours=hours_ago),
                    by="ent", now=now,
                )["id"]
            )  # fmt: skip

        late = ask(5)
        for event, at, extra in (
            ("respond", 3.5, {}),
            ("resolve_remotely", 3, {}),
            ("confirm", 2.5, {}),
            ("survey", 2, {"score": 3}),
        ):
            record_event(conn, late, event=event, at=now - timedelta(hours=at), by="op", now=now, **extra)
        waiting = ask(2)
    engine.dispose()
    return ["--data-dir", str(data_dir)], {"late": late, "waiting": waiting, "operator": op["id"]}


def test_list_table_and_json(store: tuple[list[str], dict[str, int]]) -> None:
    data, ids = store
    table = runner.invoke(app, ["om", "tickets", "list", *data])
    assert table.exit_code == 0, table.output
    assert "service tickets: 2 of 2" in table.output and "overdue (-1h" in table.output
    found = runner.invoke(app, ["om", "tickets", "list", "--clock", "overdue", "--format", "json", *data])
    assert found.exit_code == 0, found.output
    body = json.loads(found.output)
    assert body["total"] == 1 and [r["id"] for r in body["rows"]] == [ids["waiting"]]
    assert body["rows"][0]["clocks"]["respond"]["state"] == "overdue"
    closed = json.loads(
        runner.invoke(app, ["om", "tickets", "list", "--state", "closed", "--format", "json", *data]).output
    )
    assert [r["id"] for r in closed["rows"]] == [ids["late"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clock", "late"], "unknown clock status 'late' (one of running, overdue, breached)"),
        (["--state", "lost"], "unknown ticket state lost"),
        (["--from", "yesterday"], "--from must be a day YYYY-MM-DD, not 'yesterday'"),
        (["--format", "xml"], "--format must be table or json, not 'xml'"),
    ],
)
def test_list_refusals(store: tuple[list[str], dict[str, int]], args: list[str], message: str) -> None:
    data, _ids = store
    result = runner.invoke(app, ["om", "tickets", "list", *args, *data])
    assert result.exit_code == 2 and message in result.output


def test_satisfaction(store: tuple[list[str], dict[str, int]]) -> None:
    data, ids = store
    op = str(ids["operator"])
    text = runner.invoke(app, ["om", "tickets", "satisfaction", "--operator-id", op, *data])
    assert text.exit_code == 0, text.output
    assert "satisfaction: 0.0 % (0 of 1), target 85 %  target missed" in text.output
    assert "responded in time: 0.0 % (0 of 2; 0 running, 0 not applicable)" in text.output
    assert "on site in time: — (0 of 0; 1 running, 1 not applicable)" in text.output
    as_json = runner.invoke(
        app, ["om", "tickets", "satisfaction", "--operator-id", op, "--format", "json", *data]
    )
    body = json.loads(as_json.output)
    assert (body["surveys"], body["percent"], body["meets_target"], body["tickets"]) == (1, "0.0", False, 2)
    empty = runner.invoke(
        app,
        [
            "om",
            "tickets",
            "satisfaction",
            "--operator-id",
            op,
            "--from",
            "2020-01-01",
            "--to",
            "2020-03-31",
            *data,
        ],
    )
    assert "satisfaction: no surveys (no rate), target 85 %" in empty.output
    missing = runner.invoke(app, ["om", "tickets", "satisfaction", "--operator-id", "999", *data])
    assert missing.exit_code == 2 and "no operator with id 999" in missing.output
    backwards = runner.invoke(
        app,
        [
            "om",
            "tickets",
            "satisfaction",
            "--operator-id",
            op,
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
            *data,
        ],
    )
    assert backwards.exit_code == 2 and "from 2026-02-01 is after to 2026-01-01" in backwards.output
