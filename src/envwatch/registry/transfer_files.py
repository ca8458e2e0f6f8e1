"""The registry workbook (登记信息导入导出模板): sheet and column layout, reading and writing xlsx and csv.

Layout: one sheet per entity in dependency order (``SHEETS``), header in row 1, one record per row from
row 2 (row numbers in messages are the ones Excel shows). A header cell is the machine column name,
optionally followed by a Chinese annotation: ``credit_code 统一社会信用代码``; the import also takes a
plain ``credit_code`` or the Chinese label alone (``统一社会信用代码``). Only the first ASCII word of a
header counts, so ``credit_cod 统一社会信用代码`` is refused as an unknown column rather than guessed.

CSV: a directory with one ``<sheet>.csv`` per sheet, same header, UTF-8 with BOM on export (Excel opens
it as UTF-8 only with the BOM); on import the BOM is optional and a file that is not UTF-8 is read as
GB 18030, which is what Excel on a Chinese Windows writes for "CSV (逗号分隔)". A directory rather than a
zip: it can be edited in place, diffed and version-controlled, and needs no unpacking.

Cell values become text before validation (the input models want decimals as text, never as floats):

- text and code columns (MN, 行政区划代码, 统一社会信用代码 …): an integer cell (350102) becomes its
  digits; a fractional or ≥ 10^15 number is refused, because Excel has already lost digits (a 24-digit
  MN typed as a number shows as 1.00001E+23) — the fix is to format the column as 文本 (Text);
- decimal columns: a float cell is read with the 15 significant digits Excel keeps, which removes binary
  noise (35.499999999999999 → 35.5, 0.1+0.2 → 0.3), and padded to the decimals of the cell's number
  format (35.5 shown as ``0.00`` → "35.50"), never rounded;
- date columns: date cells, or text YYYY-MM-DD (also 2026/7/1 and 2026年7月1日).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from envwatch.core.errors import InvalidInput

Kind = Literal["text", "code", "decimal", "date", "flag"]


@dataclass(frozen=True)
class Col:
    name: str
    zh: str
    kind: Kind = "text"
    required: bool = False


def _c(name: str, zh: str, kind: Kind = "text", required: bool = False) -> Col:
    return Col(name, zh, kind, required)


_LNG, _LAT = _c("longitude", "经度", "decimal"), _c("latitude", "纬度", "decimal")

SHEETS: dict[str, tuple[Col, ...]] = {
    "enterprises": (
        _c("credit_code", "统一社会信用代码", "code", True),
        _c("name", "排污单位名称", required=True),
        _c("region_code", "行政区划代码", "code", True),
        _c("industry", "行业类别"),
        _c("attention_level", "重点排污单位级别"),
        _c("address", "地址"),
        _LNG,
        _LAT,
    ),
    "outlets": (
        _c("enterprise_credit_code", "排污单位统一社会信用代码", "code", True),
        _c("code", "排放口编号", "code", True),
        _c("name", "排放口名称", required=True),
        _c("kind", "排放口类型", required=True),
        _LNG,
        _LAT,
        _c("permit_number", "排污许可证编号", "code"),
        _c("service_zone", "服务区域"),  # urban | suburban | remote, or 城区 / 郊区 / 偏远; empty: urban
    ),
    "devices": (
        _c("mn", "数采仪MN号", "code", True),
        _c("pw", "访问密码", "code", True),
        _c("name", "数采仪名称", required=True),
        _c("kind", "监测类型", required=True),
        _c("protocol", "协议版本", "code", True),
        _c("sm4_key", "SM4密钥", "code"),
        _c("crc_variants", "CRC变体"),
        _c("model", "型号", "code"),
        _c("serial", "出厂编号", "code"),
        _c("enterprise_credit_code", "排污单位统一社会信用代码", "code"),
        _c("outlet_code", "排放口编号", "code"),
        _c("enterprise", "排污单位名称"),
        _c("outlet", "排放口名称"),
    ),
    "device_factors": (
        _c("mn", "数采仪MN号", "code", True),
        _c("factor", "监测因子编码", "code", True),
        _c("unit", "单位"),
        _c("range_low", "量程下限", "decimal"),
        _c("range_high", "量程上限", "decimal"),
        _c("detection_limit", "检出限", "decimal"),
        _c("rated", "计入有效传输率", "flag"),
        _c("basis", "报送基准(standard_dry/standard_wet/actual_wet)"),
    ),
    "emission_limits": (
        _c("enterprise_credit_code", "排污单位统一社会信用代码", "code", True),
        _c("outlet_code", "排放口编号", "code", True),
        _c("factor", "监测因子编码", "code", True),
        _c("hour_limit", "小时均值限值", "decimal"),
        _c("day_limit", "日均值限值", "decimal"),
        _c("unit", "单位"),
        _c("reference_o2", "基准氧含量", "decimal"),
        _c("ph_low", "pH下限", "decimal"),
        _c("ph_high", "pH上限", "decimal"),
        _c("valid_from", "起始日期", "date", True),
        _c("valid_to", "截止日期", "date"),
        _c("legal_source", "依据", required=True),
    ),
    "operators": (
        _c("credit_code", "统一社会信用代码", "code", True),
        _c("name", "运维单位名称", required=True),
        _c("contact", "联系人"),
        _c("phone", "联系电话", "code"),
    ),
    "contracts": (
        _c("operator_credit_code", "运维单位统一社会信用代码", "code", True),
        _c("contract_no", "运维合同编号", "code", True),
        _c("enterprise_credit_code", "排污单位统一社会信用代码", "code", True),
        _c("outlet_code", "排放口编号", "code"),
        _c("valid_from", "起始日期", "date", True),
        _c("valid_to", "截止日期", "date"),
    ),
}
INSTRUCTIONS_SHEET = "说明"
INSTRUCTIONS = (
    "envwatch 登记信息导入导出模板 (registry import/export template)",
    "每个工作表一类数据，按依赖顺序：排污单位 enterprises → 排放口 outlets → 数采仪 devices → 监测因子 "
    "device_factors → 排放限值 emission_limits → 运维单位 operators → 运维合同 contracts。",
    "第1行为表头：英文列名（可加中文注释，如 'credit_code 统一社会信用代码'），也可只写中文列名；"
    "从第2行起每行一条记录。列的顺序不限；未知的列名或工作表名会被拒绝。",
    "导入是全部或全不：任何一行有问题，全部不写入，并列出每个问题（工作表、行号、原因）。",
    "按键更新（upsert）：排污单位按统一社会信用代码，排放口按 排污单位+排放口编号，数采仪按 MN，"
    "监测因子按 MN+因子，运维单位按统一社会信用代码，合同按 运维单位+合同编号；"
    "排放限值只追加：与已有记录完全相同的行跳过。缺少的可选列保持原值不变。",
    "编码列（MN、行政区划代码、统一社会信用代码等）请设为文本格式，避免 Excel 丢失位数或前导零；"
    "数值（限值、量程、经纬度）可填数字或文本；日期填 YYYY-MM-DD。",
    "devices 表含 SM4 密钥：请按密钥妥善保管本文件。",
    "列说明 (columns): 工作表 sheet | 列 column | 中文 | 必填 required | 类型 kind",
)

# 15 significant digits: what Excel keeps of a number, so anything after them is binary float noise
_EXCEL_DIGITS = 15
_FORMAT_DECIMALS = re.compile(r"\.(0+)")
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]+")
_DATE_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_FLAGS = {"是": "true", "否": "false", "y": "true", "n": "false"}


def header_line(col: Col) -> str:
    return f"{col.name} {col.zh}"


# ---- reading ----


@dataclass
class SheetRows:
    """One sheet as read: its columns and its non-empty rows (row number, column → text)."""

    name: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "row 7: …" (without the sheet)


def _column_of(sheet: str, header: str) -> str:
    """The machine name a header cell stands for; ValueError naming it when it is not a column."""
    cols = SHEETS[sheet]
    words = _ASCII_WORD.findall(header)
    if words:
        for c in cols:
            if c.name == words[0].lower():
                return c.name
    else:
        label = re.sub(r"\s+", "", header)
        for c in cols:
            if c.zh == label:
                return c.name
    expected = ", ".join(c.name for c in cols)
    raise ValueError(f"unknown column {header!r}; the columns of {sheet} are {expected}")


def _decimal_text(value: float, number_format: str) -> str:
    exact = Decimal(format(value, f".{_EXCEL_DIGITS}g"))
    shown = _FORMAT_DECIMALS.search(number_format.split(";")[0]) if number_format else None
    places = max(len(shown.group(1)) if shown else 0, -int(exact.as_tuple().exponent))
    return format(exact.quantize(Decimal(1).scaleb(-places)), "f")


def cell_text(value: Any, number_format: str, kind: Kind) -> str:
    """One cell as the text the input models take; ValueError says why a cell cannot be read."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        if kind == "date" and (m := _DATE_TEXT.fullmatch(text)):
            return f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}"
        if kind == "flag":
            return _FLAGS.get(text.lower(), text)
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if kind != "date" or value.time() != time(0):
            raise ValueError(f"is the date/time {value}; expected {'a day' if kind == 'date' else 'text'}")
        return value.date().isoformat()
    if isinstance(value, date):
        if kind != "date":
            raise ValueError(f"is the date {value}; expected text")
        return value.isoformat()
    if isinstance(value, time | timedelta):
        raise ValueError(f"is the time {value}; expected {'a date' if kind == 'date' else 'a value'}")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"is {value}, not a number")
        if kind == "decimal":
            return _decimal_text(value, number_format)
        if kind != "date" and value.is_integer() and abs(value) < 10**_EXCEL_DIGITS:
            return str(int(value))
        raise ValueError(
            f"is the number {value!r} in the sheet, which may have lost digits: type it as text "
            "(format the column as 文本/Text)"
        )
    return str(value).strip()


def _sheet_rows(sheet: str, header: Sequence[Any], body: Any) -> SheetRows:
    """``body`` yields (row number, [(value, number_format), …])."""
    out = SheetRows(sheet)
    positions: dict[int, str] = {}
    for pos, cell in enumerate(header):
        text = str(cell).strip() if cell is not None else ""
        if not text:
            continue
        try:
            name = _column_of(sheet, text)
        except ValueError as exc:
            out.problems.append(f"header: {exc}")
            continue
        if name in positions.values():
            out.problems.append(f"header: column {name} appears twice")
            continue
        positions[pos] = name
    out.columns = list(positions.values())
    missing = [c.name for c in SHEETS[sheet] if c.required and c.name not in out.columns]
    if missing:
        out.problems.append(f"header: missing required column(s) {', '.join(missing)}")
    if out.problems:
        return out
    kinds = {c.name: c.kind for c in SHEETS[sheet]}
    for row_no, cells in body:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v, _ in cells):
            continue  # Excel keeps formatted empty rows; they are not records
        values: dict[str, str] = dict.fromkeys(out.columns, "")
        errs = []
        for pos, (value, number_format) in enumerate(cells):
            col_name = positions.get(pos)
            if col_name is None:
                if value is not None and str(value).strip():
                    errs.append(f"cell {get_column_letter(pos + 1)} has a value but its column has no header")
                continue
            try:
                values[col_name] = cell_text(value, number_format, kinds[col_name])
            except ValueError as exc:
                errs.append(f"{col_name}: {exc}")
        if errs:
            out.problems.append(f"row {row_no}: " + "; ".join(errs))
        else:
            out.rows.append((row_no, values))
    return out


def read_workbook(path: Path) -> list[SheetRows]:
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, XML errors … for a damaged file
        raise InvalidInput(f"cannot read workbook {path}: {exc}") from exc
    try:
        sheets = []
        unknown = []
        for ws in wb.worksheets:
            if ws.title == INSTRUCTIONS_SHEET:
                continue
            if ws.title not in SHEETS:
                unknown.append(ws.title)
                continue
            rows = ws.iter_rows()
            header = [c.value for c in next(rows, ())]
            body = (
                (i, [(c.value, getattr(c, "number_format", "") or "") for c in row])
                for i, row in enumerate(rows, start=2)
            )
            sheets.append(_sheet_rows(ws.title, header, body))
    finally:
        wb.close()
    if unknown:
        _unknown_sheets(unknown)
    return sheets


def _unknown_sheets(names: Sequence[str]) -> None:
    raise InvalidInput(
        f"unknown sheet(s) {', '.join(repr(n) for n in names)}; the sheets are {', '.join(SHEETS)} "
        f"(and {INSTRUCTIONS_SHEET})"
    )


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")  # Excel's "CSV (逗号分隔)" on a Chinese Windows


def read_csv(path: Path) -> list[SheetRows]:
    """A directory of ``<sheet>.csv`` files, or one such file."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    unknown = [f.name for f in files if f.stem not in SHEETS]
    if unknown:
        _unknown_sheets(unknown)
    sheets = []
    for f in sorted(files, key=lambda f: list(SHEETS).index(f.stem)):
        try:
            records = list(csv.reader(io.StringIO(_read_text(f))))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InvalidInput(f"cannot read {f}: {exc}") from exc
        header = records[0] if records else []
        body = ((i, [(v, "") for v in rec]) for i, rec in enumerate(records[1:], start=2))
        sheets.append(_sheet_rows(f.stem, header, body))
    return sheets


def read_registry(path: Path) -> list[SheetRows]:
    if not path.exists():
        raise InvalidInput(f"{path} does not exist")
    if path.is_dir() or path.suffix.lower() == ".csv":
        return read_csv(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_workbook(path)
    raise InvalidInput(f"{path}: give an .xlsx workbook, a directory of csv files or one <sheet>.csv")


# ---- writing ----


def _private(path: Path) -> None:
    # the devices sheet holds SM4 keys and HJ 212 passwords: readable by the owner only
    os.chmod(path, 0o600)


def _instruction_rows() -> list[list[str]]:
    rows = [[line] for line in INSTRUCTIONS]
    for sheet, cols in SHEETS.items():
        rows.extend([sheet, c.name, c.zh, "是" if c.required else "", c.kind] for c in cols)
    return rows


def write_workbook(path: Path, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Every sheet of ``SHEETS`` (rows from ``data``, possibly none) and the 说明 sheet."""
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for sheet, cols in SHEETS.items():
        ws = wb.create_sheet(sheet)
        ws.append([header_line(c) for c in cols])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for i, c in enumerate(cols, start=1):
            letter = get_column_letter(i)
            ws.column_dimensions[letter].width = max(14, len(header_line(c)) + 6)
            if c.kind in ("code", "decimal"):
                # Text format: what people type later stays as typed (leading zeros, 12.30, long MN)
                ws.column_dimensions[letter].number_format = "@"
        for record in data.get(sheet, ()):
            ws.append([_xlsx_value(record.get(c.name), c.kind) for c in cols])
            for cell, c in zip(ws[ws.max_row], cols, strict=True):
                cell.number_format = "yyyy-mm-dd" if c.kind == "date" else "@" if c.kind != "flag" else "0"
    notes = wb.create_sheet(INSTRUCTIONS_SHEET)
    for row in _instruction_rows():
        notes.append(row)
    notes.column_dimensions["A"].width = 18
    notes.column_dimensions["B"].width = 24
    notes.column_dimensions["C"].width = 26
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    _private(path)


def _xlsx_value(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind == "date" or kind == "flag":
        return value
    # decimals as text: a float cell could not hold 12.30 or a 20-digit value exactly
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_csv_dir(path: Path, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for sheet, cols in SHEETS.items():
        target = path / f"{sheet}.csv"
        with target.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([header_line(c) for c in cols])
            for record in data.get(sheet, ()):
                writer.writerow([_csv_value(record.get(c.name)) for c in cols])
        _private(target)
    notes = path / f"{INSTRUCTIONS_SHEET}.txt"
    notes.write_text("\n".join("\t".join(r) for r in _instruction_rows()) + "\n", encoding="utf-8-sig")


def write_registry(path: Path, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        write_workbook(path, data)
    elif path.suffix:
        raise InvalidInput(f"{path}: give FILE.xlsx or a directory (for csv files)")
    else:
        write_csv_dir(path, data)
