"""``envwatch alarms list`` as a user runs it, on a real store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from envwatch.alarms.store import Action, Raised, apply, raise_alarm
from envwatch.cli import app
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from tests.helpers import GAS_MN, NOW, WATER_MN, register_demo_devices

runner = CliRunner()


def test_list_open_and_all(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(settings)
    upgrade(engine)
    ids = register_demo_devices(engine)
    with engine.begin() as conn:
        raise_alarm(conn, Raised(ids[GAS_MN], "offline", "", NOW, "src", "no packet"), NOW, ack_due_s=60)
        done = raise_alarm(
            conn, Raised(ids[WATER_MN], "constant", "w01018", NOW, "src", "flat COD"), NOW, ack_due_s=60
        ).alarm_id
        apply(conn, done, Action("close", cause="probe", action="cleaned"), actor="op", now=NOW)
    engine.dispose()
    data_dir = str(tmp_path / "var")

    result = runner.invoke(app, ["alarms", "list", "--open", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert "no packet" in result.output and GAS_MN in result.output and "flat COD" not in result.output
    assert "1 of 1 (not closed)" in result.output

    result = runner.invoke(app, ["alarms", "list", "--format", "json", "--data-dir", data_dir])
    listed = json.loads(result.output)
    assert listed["total"] == 2 and {r["state"] for r in listed["rows"]} == {"open", "closed"}

    result = runner.invoke(app, ["alarms", "list", "--mn", "NOPE", "--data-dir", data_dir])
    assert result.exit_code == 2 and "no device with MN NOPE" in result.output


def test_detect_one_day(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(settings)
    upgrade(engine)
    register_demo_devices(engine)
    engine.dispose()
    data_dir = str(tmp_path / "var")
    result = runner.invoke(app, ["alarms", "detect", "--day", "2026-11-21", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert "2026-11-21: 0 devices judged" in result.output  # no device is on an outlet yet
    result = runner.invoke(
        app, ["alarms", "detect", "--day", "2026-11-21", "--mn", GAS_MN, "--data-dir", data_dir]
    )
    assert result.exit_code == 0 and "1 devices judged, 0 detections" in result.output, result.output
    result = runner.invoke(app, ["alarms", "detect", "--day", "yesterday", "--data-dir", data_dir])
    assert result.exit_code == 2 and "--day must be a date" in result.output
    result = runner.invoke(
        app, ["alarms", "detect", "--day", "2026-11-21", "--mn", "NOPE", "--data-dir", data_dir]
    )
    assert result.exit_code == 2 and "no device with MN NOPE" in result.output
