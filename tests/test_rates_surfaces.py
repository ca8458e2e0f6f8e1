"""``envwatch rates`` and ``GET /api/v1/rates`` over one store: the same rows, in table, JSON and xlsx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from typer.testing import CliRunner

from envwatch.cli import app as cli
from envwatch.core.settings import Settings
from envwatch.monitoring.rates import GROUPS
from envwatch.web.app import create_app
from tests.helpers import GAS_MN, register_demo_devices
from tests.monitoring.test_rates import GAS, put_day

DAY = date(2026, 11, 20)


@pytest.fixture
def store(settings: Settings, sqlite_engine: Engine) -> Iterator[Engine]:
    ids = register_demo_devices(sqlite_engine)
    put_day(sqlite_engine, ids[GAS_MN], DAY, GAS, skip=range(6))  # 18 of 24 hours: 75 %
    yield sqlite_engine


def test_api_rows_carry_counts_and_rates(settings: Settings, store: Engine) -> None:
    app = create_app(settings, store)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {app.state.admin_token}"
        r = client.get("/api/v1/rates", params={"from": DAY.isoformat(), "to": DAY.isoformat(), "mn": GAS_MN})
        assert r.status_code == 200, r.text
        [row] = r.json()["rows"]
        assert (row["expected"], row["received"], row["valid"]) == (72, 54, 54)
        assert (row["transmission_rate"], row["validity_rate"], row["effective_rate"]) == (75.0, 100.0, 75.0)
        assert row["realtime"]["effective_rate"] == 75.0
        assert [f["requirement"] for f in row["flags"]] == ["CS-4.3.2.1"]
        bad = client.get("/api/v1/rates", params={"from": "2026-11-21", "to": "2026-11-20"})
        assert bad.status_code == 422 and "before" in bad.json()["detail"]
        assert client.get("/api/v1/rates", params={"from": "x", "to": "y"}).status_code == 422
        assert client.get("/api/v1/rates", headers={"Authorization": ""}).status_code == 401


def test_cli_table_json_and_xlsx(settings: Settings, store: Engine, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["rates", "--from", DAY.isoformat(), "--to", DAY.isoformat(), "--data-dir", str(settings.data_dir)]
    table = runner.invoke(cli, base)
    assert table.exit_code == 0, table.output
    assert GAS_MN in table.output and "75.00" in table.output
    as_json = runner.invoke(cli, [*base, "--format", "json", "--group", "factor", "--mn", GAS_MN])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert {r["factor"]: r["received"] for r in rows} == {"a21002": 18, "a21026": 18, "a34013": 18}
    out = tmp_path / "rates.xlsx"
    xlsx = runner.invoke(cli, [*base, "--format", "xlsx", "--out", str(out)])
    assert xlsx.exit_code == 0, xlsx.output
    sheet = load_workbook(out).active
    assert sheet is not None
    header = [c.value for c in sheet[2]]
    values = {h: c.value for h, c in zip(header, sheet[3], strict=True)}
    assert (
        values["MN"] == GAS_MN and values["应收 expected"] == 72 and values["有效传输率 % effective"] == 75.0
    )
    refused = runner.invoke(cli, [*base, "--format", "xlsx"])
    assert refused.exit_code == 2 and "--out" in refused.output
    # every group of compute_rates has its table columns (a device without a contract: "(no operator)")
    for group in GROUPS:
        grouped = runner.invoke(cli, [*base, "--group", group])
        assert grouped.exit_code == 0 and "effective transmission rate" in grouped.output, (
            group,
            grouped.output,
        )
    assert "(no operator)" in runner.invoke(cli, [*base, "--group", "operator"]).output
    unknown = runner.invoke(cli, [*base, "--mn", "NOPE"])
    assert unknown.exit_code == 2 and "no device with MN NOPE" in unknown.output
