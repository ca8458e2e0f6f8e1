"""The command line as a user runs it (Typer's runner, real files, real store)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from envwatch.cli import app

EXAMPLES = json.loads(
    (Path(__file__).resolve().parents[2] / "shared/reference/hj212-standard-examples.json").read_text()
)
runner = CliRunner()


def test_decode_the_standards_examples(tmp_path: Path) -> None:
    lines = [e["packet"] for e in EXAMPLES] + ["not a packet at all"]
    src = tmp_path / "packets.txt"
    src.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    result = runner.invoke(app, ["hj212", "decode", str(src), "--key", "30" * 16])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert len(out) == len(lines)
    assert all(o["ok"] and o["crc_ok"] for o in out[:-1])
    assert out[-1]["ok"] is False and out[-1]["error"]
    first = out[0]
    assert (
        first["version"] == "2017"
        and first["header"]["CN"] == "1062"
        and first["cp"] == {"RtdInterval": "30"}
    )
    encrypted = out[3]
    assert encrypted["factors"]["a01014"] == {"Min": "3.20", "Avg": "3.211", "Max": "3.212", "Flag": "N"}
    assert encrypted["version"] == "2025"


def test_decode_reads_stdin_and_refuses_a_bad_key() -> None:
    result = runner.invoke(app, ["hj212", "decode"], input=EXAMPLES[0]["packet"] + "\n")
    assert result.exit_code == 0 and json.loads(result.output)["ok"] is True
    bad = runner.invoke(app, ["hj212", "decode", "--key", "abc"], input="x\n")
    assert bad.exit_code == 2 and "32 hex digits" in bad.output


def test_devices_import_all_or_nothing(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "var")]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "mn,pw,name,enterprise,outlet,kind,protocol,sm4_key\n"
        "010000A8900016F000169DC0,123456,炉1,电厂,DA001,gas,2017,\n"
        "010000A8900016F000169DC1,123456,炉2,电厂,DA002,air,2017,\n"
        "010000A8900016F000169DC0,123456,炉3,电厂,DA003,gas,2030,XYZ\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["devices", "import", str(bad), *data])
    assert result.exit_code == 2
    assert "row 3: kind 'air' must be gas or water" in result.output
    assert "row 4:" in result.output and "already on row 2" in result.output and "sm4_key" in result.output
    listed = runner.invoke(app, ["devices", "list", *data])
    assert listed.exit_code == 0 and listed.output == ""  # nothing half-imported

    good = tmp_path / "good.csv"
    good.write_text(
        bad.read_text(encoding="utf-8").splitlines()[0]
        + "\n"
        + bad.read_text(encoding="utf-8").splitlines()[1]
        + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["devices", "import", str(good), *data])
    assert result.exit_code == 0 and "1 created" in result.output
    again = runner.invoke(app, ["devices", "import", str(good), *data])
    assert "0 created, 0 updated, 1 unchanged" in again.output
    assert "010000A8900016F000169DC0" in runner.invoke(app, ["devices", "list", *data]).output


def test_missing_columns_are_named(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("mn,pw\nX,1\n")
    result = runner.invoke(app, ["devices", "import", str(f), "--data-dir", str(tmp_path / "var")])
    assert (
        result.exit_code == 2
        and "missing column(s) name, enterprise, outlet, kind, protocol, sm4_key" in result.output
    )


def test_init_prints_a_token(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", "--data-dir", str(tmp_path / "var")])
    assert result.exit_code == 0 and "admin API token:" in result.output
    token = (tmp_path / "var/admin_token").read_text().strip()
    assert token in result.output and len(token) >= 32
    assert (tmp_path / "var/admin_token").stat().st_mode & 0o777 == 0o600
