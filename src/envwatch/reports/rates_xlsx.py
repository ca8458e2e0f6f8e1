"""Effective transmission rates as an Excel workbook (有效传输率统计表): one row per group, counts and rates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

# (header, path in the row dict); Chinese first, as the regulators' tables are
COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("区域 region", ("region_code",)),
    ("企业 enterprise", ("enterprise",)),
    ("排放口 outlet", ("outlet",)),
    ("MN", ("mn",)),
    ("设备 device", ("device",)),
    ("因子 factor", ("factor",)),
    ("应收 expected", ("expected",)),
    ("实收 received", ("received",)),
    ("有效 valid", ("valid",)),
    ("传输率 % transmission", ("transmission_rate",)),
    ("有效率 % validity", ("validity_rate",)),
    ("有效传输率 % effective", ("effective_rate",)),
    ("即时实收 realtime received", ("realtime", "received")),
    ("即时有效 realtime valid", ("realtime", "valid")),
    ("即时有效传输率 % realtime effective", ("realtime", "effective_rate")),
    ("停运免除小时 exempt hours", ("exempt_hours",)),
    ("标样核查免除 QC exempt hours", ("qc_exempt_hours",)),
    ("标记无效小时 marked invalid hours", ("marked_invalid_hours",)),
    ("故障 faults", ("faults",)),
    ("不达标 flags", ("flags",)),
)


def _cell(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = row
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if path == ("flags",):
        return "; ".join(f"{f['requirement']}: {f['text']}" for f in value or [])
    return float(value) if path[-1].endswith("_rate") and value is not None else value


def write_rates_xlsx(path: Path, rows: Sequence[dict[str, Any]], *, title: str) -> None:
    """Write the rows; columns that no row has (e.g. factor when grouped by device) are left out."""
    used = [(h, p) for h, p in COLUMNS if any(p[0] in r for r in rows) or p[0] in ("expected",)]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "rates"
    sheet.append([title])
    sheet["A1"].font = Font(bold=True)
    sheet.append([h for h, _ in used])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_cell(row, p) for _, p in used])
    sheet.freeze_panes = "A3"
    book.save(path)
