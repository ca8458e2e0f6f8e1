"""The monthly outlet report as an Excel workbook (排放口月报): a daily sheet and one hour sheet per factor.

- "日报 daily": one row per China day, one column group per factor series (daily value 日均值, valid or
  not, valid hours, day limit in force, above it), days not over yet marked incomplete;
- "小时 <factor>": every hour judged: China time, value, 折算浓度, verdict, reasons in Chinese, the mark
  that decides it, hour limit, above it.

Each sheet opens with the same header block (enterprise, credit code, outlet, month, generated at, data
source and the rule that only valid data may be used for enforcement: SX-4/5, monitoring data = data +
marks). Values are the services' exact decimals written as numbers holding their own digits (12.50 stays
12.50 in the file, no float noise) with a number format showing their decimals.
Headers are Chinese first, then English, as in ``rates_xlsx``. No web imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from envwatch.core.clock import to_china
from envwatch.monitoring.validity import SRC_GAS_INVALID, SRC_MARKS, SRC_WATER_INVALID
from envwatch.reports.outlet_month import DayRow, HourRow, OutletMonth, Series, month_days

# a computed mean carries up to 28 digits: its cell shows at most this many decimals (the value is exact)
MAX_SHOWN_DECIMALS = 4
DAILY_SHEET = "日报 daily"
SOURCE = (
    f"envwatch；标记规则 marking rules: {SRC_MARKS}；有效性 validity: {SRC_GAS_INVALID}, {SRC_WATER_INVALID}"
)
NOTE = (
    "仅判定为有效的小时、日数据可作为执法依据；无效、免除的数据及原因见各小时表（监测数据 = 数据 + 标记）。"
    " Only hours and days judged valid may be used for enforcement; invalid and exempt data and their "
    "reasons are in the hour sheets (SX-4/5: monitoring data = data + marks)."
)
OUTCOMES = {"valid": "有效 valid", "invalid": "无效 invalid", "exempt": "免除 exempt"}
YES, NO = "是 yes", "否 no"
# an hour or day that is above its limit but not valid: shown, never an exceedance to act on
ABOVE_NOT_VALID = "是（数据无效）yes (not valid)"
INCOMPLETE = "未完 incomplete"
DAY_COLUMNS = (
    "日均值 daily value",
    "有效 valid",
    "有效小时数 valid hours",
    "日均限值 day limit",
    "超标 above",
)
HOUR_COLUMNS = (
    "时间 hour (China time)",
    "小时值 value",
    "折算浓度 converted",
    "判定 verdict",
    "原因 reasons",
    "决定标记 deciding mark",
    "小时限值 hour limit",
    "超标 above",
)
_BOLD = Font(bold=True)
HEADER_ROWS = 9  # title, seven label rows, one blank: the table header follows


def _decimal_format(value: Decimal) -> str:
    exponent = value.as_tuple().exponent
    places = min(-exponent, MAX_SHOWN_DECIMALS) if isinstance(exponent, int) and exponent < 0 else 0
    return "0." + "0" * places if places else "0"


def _cell(sheet: WriteOnlyWorksheet, value: Any, *, bold: bool = False) -> Cell:
    if isinstance(value, Decimal):
        # openpyxl writes numbers with "%.16g" (99.10 → 99.09999999999999): a numeric cell holding the
        # decimal's own digits instead (positional notation, as a spreadsheet reads it)
        cell = WriteOnlyCell(sheet, value=format(value, "f"))
        cell.data_type = "n"
        cell.number_format = _decimal_format(value)
    else:
        cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm"
    elif isinstance(value, date):
        cell.number_format = "yyyy-mm-dd"
    if bold:
        cell.font = _BOLD
    return cell


def _widths(sheet: WriteOnlyWorksheet, widths: dict[str, int]) -> None:
    # a write-only sheet has column dimensions (set up like a normal sheet's) that its stubs do not name
    dimensions = sheet.column_dimensions  # type: ignore[attr-defined]
    for column, width in widths.items():
        dimensions[column].width = width


def _append(sheet: WriteOnlyWorksheet, values: Sequence[Any], *, bold: bool = False) -> None:
    # plain texts and counts go in as they are: a styled cell object each costs most of the writing time
    sheet.append(
        [
            v if not bold and (v is None or type(v) in (str, int)) else _cell(sheet, v, bold=bold)
            for v in values
        ]
    )


def _limit_value(limit: dict[str, Any] | None, which: str) -> Decimal | str | None:
    """The limit as shown: the number, or a pH range as text."""
    if limit is None:
        return None
    low, high = limit.get("ph_low"), limit.get("ph_high")
    if low is not None or high is not None:
        return f"{'' if low is None else low}~{'' if high is None else high}"
    bound: Decimal | None = limit.get(f"{which}_limit")
    return bound


def _above(above: bool | None, valid: bool) -> str | None:
    if above is None:
        return None
    if not above:
        return NO
    return YES if valid else ABOVE_NOT_VALID


def _series_label(series: Series) -> str:
    unit = f" ({series.unit})" if series.unit else ""
    return f"{series.factor} {series.name}{unit} · MN {series.mn}".replace("  ", " ")


def _header(sheet: WriteOnlyWorksheet, data: OutletMonth, title: str) -> None:
    month = f"{data.month:%Y-%m}"
    if (data.first_day, data.last_day) != (data.month, month_days(data.month)[1]):
        month += f"（{data.first_day.isoformat()}..{data.last_day.isoformat()}）"
    _append(sheet, [title], bold=True)
    for label, value in (
        ("企业 enterprise", data.enterprise),
        ("统一社会信用代码 credit code", data.credit_code),
        ("排放口 outlet", f"{data.outlet_code} {data.outlet_name}"),
        ("月份 month", month),
        ("生成时间 generated at (China time)", f"{to_china(data.generated_at):%Y-%m-%d %H:%M:%S}"),
        ("数据来源 data source", SOURCE),
        ("说明 note", NOTE),
    ):
        sheet.append([_cell(sheet, label, bold=True), _cell(sheet, value)])
    sheet.append([])


def _day_cells(row: DayRow | None) -> list[Any]:
    if row is None:
        return [None] * len(DAY_COLUMNS)
    valid = OUTCOMES["valid"] if row.valid else OUTCOMES["invalid"]
    return [
        row.value,
        valid if row.complete else INCOMPLETE,
        row.n_valid,
        _limit_value(row.limit, "day"),
        _above(row.above, row.valid and row.complete),
    ]


def _daily(book: Workbook, data: OutletMonth) -> None:
    sheet: WriteOnlyWorksheet = book.create_sheet(DAILY_SHEET)
    sheet.freeze_panes = f"B{HEADER_ROWS + 3}"  # the day column and both header rows stay in view
    _widths(sheet, {"A": 30})
    _header(sheet, data, "排放口月报（日均值） monthly outlet report, daily values")
    groups: list[Any] = ["日期 day"]
    columns: list[Any] = ["日期 day"]
    for series in data.series:
        groups += [_series_label(series)] + [None] * (len(DAY_COLUMNS) - 1)
        columns += DAY_COLUMNS
    _append(sheet, groups, bold=True)
    _append(sheet, columns, bold=True)
    by_day = [{row.day: row for row in series.days} for series in data.series]
    day = data.first_day
    while day <= data.last_day:
        cells: list[Any] = [day]
        for rows in by_day:
            cells += _day_cells(rows.get(day))
        _append(sheet, cells)
        day = date.fromordinal(day.toordinal() + 1)
    if not data.series:
        _append(sheet, ["无已登记或已上报的监测因子 no rated or reported factor on this outlet"])


def _hour_cells(row: HourRow) -> list[Any]:
    return [
        to_china(row.start).replace(tzinfo=None),  # Excel has no time zones: China time, said in the header
        row.value,
        row.converted,
        OUTCOMES.get(row.outcome, row.outcome),
        "；".join(row.reasons_zh),
        "；".join(row.deciding_marks) or None,
        _limit_value(row.limit, "hour"),
        _above(row.above, row.outcome == "valid"),
    ]


def _sheet_name(series: Series, taken: set[str]) -> str:
    """ "小时 <factor>", with the device's MN tail when two devices of the outlet measure the same factor
    (Excel: at most 31 characters, unique)."""
    name = f"小时 {series.factor}"[:31]
    if name in taken:
        name = f"小时 {series.factor} {series.mn[-6:]}"[:31]
    taken.add(name)
    return name


def _hourly(book: Workbook, data: OutletMonth, series: Series, name: str) -> None:
    sheet: WriteOnlyWorksheet = book.create_sheet(name)
    sheet.freeze_panes = f"B{HEADER_ROWS + 2}"
    _widths(sheet, {"A": 30, "D": 14, "E": 60, "F": 24})
    _header(
        sheet, data, f"排放口月报（小时值） monthly outlet report, hourly values: {_series_label(series)}"
    )
    _append(sheet, HOUR_COLUMNS, bold=True)
    for row in series.hours:
        _append(sheet, _hour_cells(row))
    if not series.hours:
        _append(sheet, ["本月尚无已结束的小时 no hour of this month is over yet"])


def write_outlet_month(target: Path | IO[bytes], data: OutletMonth) -> None:
    """Write the workbook to a path or a binary stream. Write-only mode: a month of ten devices is some
    hundred thousand cells, streamed rather than held as cell objects."""
    book = Workbook(write_only=True)
    _daily(book, data)
    taken = {DAILY_SHEET}
    for series in data.series:
        _hourly(book, data, series, _sheet_name(series, taken))
    book.save(target)
