"""``envwatch registry import|export`` as a user runs it (Typer's runner, real files, SQLite store)."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.registry.models import credit_code_check_char

runner = CliRunner()
ENT = "91350100MA2Y00001" + credit_code_check_char("91350100MA2Y00001")


def _workbook(path: Path, outlet_kind: str) -> Path:
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    ws = wb.create_sheet("enterprises")
    ws.append(["credit_code 统一社会信用代码", "name 排污单位名称", "region_code 行政区划代码"])
    ws.append([ENT, "示例电厂", 350102])
    ws = wb.create_sheet("outlets")
    ws.append(["enterprise_credit_code", "code", "name", "kind"])
    ws.append([ENT, "DA001", "1号烟囱", outlet_kind])
    wb.save(path)
    return path


def test_import_export_exit_codes_and_messages(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "var")]
    bad = runner.invoke(app, ["registry", "import", str(_workbook(tmp_path / "bad.xlsx", "smoke")), *data])
    assert bad.exit_code == 2
    assert "sheet outlets, row 2: kind: Input should be 'gas' or 'water'" in bad.output
    assert "nothing imported" in bad.output

    good = _workbook(tmp_path / "good.xlsx", "gas")
    dry = runner.invoke(app, ["registry", "import", str(good), "--dry-run", *data])
    assert dry.exit_code == 0 and "dry run" in dry.output and "outlets: 1 created" in dry.output
    done = runner.invoke(app, ["registry", "import", str(good), *data])
    assert done.exit_code == 0, done.output
    assert "sheet enterprises: 1 rows read" in done.output and "enterprises: 1 created" in done.output
    again = runner.invoke(app, ["registry", "import", str(good), *data])
    assert "enterprises: 0 created, 0 updated, 1 unchanged" in again.output  # dry run wrote nothing before

    out = runner.invoke(app, ["registry", "export", str(tmp_path / "all.xlsx"), *data])
    assert out.exit_code == 0 and "enterprises 1, outlets 1" in out.output
    csv_out = runner.invoke(app, ["registry", "export", str(tmp_path / "csvdir"), *data])
    assert csv_out.exit_code == 0 and (tmp_path / "csvdir/outlets.csv").exists()
    template = runner.invoke(app, ["registry", "export", "--template", str(tmp_path / "t.xlsx"), *data])
    assert template.exit_code == 0 and "template" in template.output
    wrong = runner.invoke(app, ["registry", "export", str(tmp_path / "x.pdf"), *data])
    assert wrong.exit_code == 2 and "give FILE.xlsx or a directory" in wrong.output
    missing = runner.invoke(app, ["registry", "import", str(tmp_path / "nope.xlsx"), *data])
    assert missing.exit_code == 2 and "does not exist" in missing.output
