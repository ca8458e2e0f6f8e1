"""A periodic report as an Excel workbook (定期报告 xlsx): a summary sheet, one sheet per table, native charts.

Sheets: "概况 summary" (period, scope, headline numbers), "设备传输率 devices", "企业传输率 enterprises",
"运维单位传输率 operators", "超标 exceedances" (by enterprise, by factor, then each alarm), "报警 alarms"
(by kind and state at the period's end), "合规问题 findings" (by rule). Charts (openpyxl bar charts, drawn
by the spreadsheet from the cells beside them): effective rate by enterprise, exceedance hours by factor,
alarms by kind, findings by rule — placed on the sheet of their table and, for the rates, on the summary.

Exact decimals are written as numeric cells holding their own digits (the self-inspection workbook's way).
Deterministic: the document's times and every zip entry carry the report's ``as_of`` (the period's end, or
the moment counted to), never the clock (``self_inspection_xlsx.stable_zip``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from envwatch.core.clock import to_china
from envwatch.reports.periodic import PeriodicFigures, RateLine
from envwatch.reports.periodic_period import KIND_EN, KIND_ZH
from envwatch.reports.self_inspection_xlsx import stable_zip

HEADER_ROWS: Final = 3  # title, period and scope, blank: the column headers follow on row 4
MAX_SHOWN_DECIMALS: Final = 4
_BOLD = Font(bold=True)
RATE_COLUMNS: Final = (
    "应收 expected", "实收 received", "有效 valid", "传输率 % transmission", "有效率 % validity",
    "有效传输率 % effective", "故障 faults", "不达标 flags",
)  # fmt: skip


def title_of(figures: PeriodicFigures) -> str:
    p = figures.period
    return f"{p.label_zh}{KIND_ZH[p.kind]} {p.label} {KIND_EN[p.kind]} report"


def subtitle_of(figures: PeriodicFigures) -> str:
    p = figures.period
    state = "" if figures.complete else f"（截至 to date {to_china(figures.as_of):%Y-%m-%d %H:%M}）"
    return (
        f"{figures.scope_name}；{p.first_day.isoformat()} ~ {p.last_day.isoformat()}{state}"
        "（北京时间 China time）"
    )


def _put(sheet: Worksheet, row: int, col: int, value: Any, *, bold: bool = False) -> None:
    cell = sheet.cell(row=row, column=col)
    if isinstance(value, Decimal):
        cell.value = format(value, "f")
        cell.data_type = "n"  # a number with the decimal's own digits (not a float's)
        exponent = value.as_tuple().exponent
        places = min(-exponent, MAX_SHOWN_DECIMALS) if isinstance(exponent, int) and exponent < 0 else 0
        cell.number_format = "0." + "0" * places if places else "0"
    elif isinstance(value, datetime):
        cell.value = to_china(value).replace(tzinfo=None)
        cell.number_format = "yyyy-mm-dd hh:mm"
    else:
        cell.value = value
    if bold:
        cell.font = _BOLD


def _sheet(book: Workbook, figures: PeriodicFigures, name: str, title: str) -> Worksheet:
    sheet: Worksheet = book.create_sheet(name)
    _put(sheet, 1, 1, title, bold=True)
    _put(sheet, 2, 1, subtitle_of(figures))
    sheet.freeze_panes = f"A{HEADER_ROWS + 2}"
    sheet.column_dimensions["A"].width = 30
    return sheet


def _table(
    sheet: Worksheet, top: int, columns: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "无 none"
) -> int:
    """The header at row ``top`` and the rows under it; the row after the table."""
    for col, name in enumerate(columns, start=1):
        _put(sheet, top, col, name, bold=True)
    for r, row in enumerate(rows, start=top + 1):
        for col, value in enumerate(row, start=1):
            _put(sheet, r, col, value)
    if not rows:
        _put(sheet, top + 1, 1, empty)
        return top + 2
    return top + 1 + len(rows)


def _bar(
    sheet: Worksheet,
    title: str,
    y_title: str,
    label_col: int,
    value_col: int,
    first: int,
    last: int,
    anchor: str,
    source: Worksheet | None = None,
) -> None:
    """A bar chart of column ``value_col`` against ``label_col`` over rows first..last (nothing when empty)."""
    if last < first:
        return
    data_sheet = source or sheet
    chart = BarChart()
    chart.type = "col"
    chart.title = title
    chart.y_axis.title = y_title
    chart.legend = None
    chart.height, chart.width = 7.5, 16
    data = Reference(data_sheet, min_col=value_col, min_row=first - 1, max_row=last)
    labels = Reference(data_sheet, min_col=label_col, min_row=first, max_row=last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(labels)
    sheet.add_chart(chart, anchor)


def _rate_rows(lines: Sequence[RateLine], with_detail: bool) -> list[list[Any]]:
    out = []
    for r in lines:
        head: list[Any] = [r.label, r.detail] if with_detail else [r.label]
        out.append([*head, r.expected, r.received, r.valid, r.transmission_rate, r.validity_rate,
                    r.effective_rate, r.faults, "、".join(r.flags)])  # fmt: skip
    return out


def _summary(book: Workbook, figures: PeriodicFigures) -> Worksheet:
    h, p = figures.headline, figures.period
    sheet = _sheet(book, figures, "概况 summary", title_of(figures))
    sheet.column_dimensions["B"].width = 40
    rows: list[list[Any]] = [
        ["报告期 period", f"{p.label_zh}（{p.first_day.isoformat()} ~ {p.last_day.isoformat()}）"],
        ["范围 scope", f"{figures.scope_name}（{figures.scope.label}）"],
        ["完整 complete", "是 yes" if figures.complete else "否，截至目前 no, to date"],
        ["统计截至 counted up to", figures.as_of],
        ["设备 devices", h.devices],
        ["企业 enterprises", h.enterprises],
        ["应收小时 expected hours", h.expected],
        ["实收小时 received hours", h.received],
        ["有效小时 valid hours", h.valid],
        ["传输率 % transmission", h.transmission_rate],
        ["有效率 % validity", h.validity_rate],
        ["有效传输率 % effective", h.effective_rate],
        ["传输率不达标设备 devices below a rate threshold", h.devices_below_threshold],
        ["超标 exceedances", h.exceedances],
        ["超标设备小时 exceedance device-hours", h.exceedance_hours],
        ["报警 alarms", h.alarms],
        ["期末未关闭报警 alarms not closed at the end", h.alarms_not_closed],
        ["新发现问题 new findings", h.findings_new],
        ["期末未解决问题 findings open at the end", h.findings_open_at_end],
        ["期内已解决 resolved", h.findings_resolved],
        ["期内已豁免 waived", h.findings_waived],
    ]
    _table(sheet, HEADER_ROWS + 1, ["指标 item", "数值 value"], rows)
    return sheet


def _rates(book: Workbook, figures: PeriodicFigures, summary: Worksheet) -> None:
    parts = (
        ("设备传输率 devices", "设备有效传输率 effective rate by device", ["MN", "设备 device"],
         figures.rates_by_device, True),
        ("企业传输率 enterprises", "企业有效传输率 effective rate by enterprise", ["企业 enterprise"],
         figures.rates_by_enterprise, False),
        ("运维单位传输率 operators", "运维单位有效传输率 effective rate by operator", ["运维单位 operator"],
         figures.rates_by_operator, False),
    )  # fmt: skip
    for name, title, head, lines, detail in parts:
        sheet = _sheet(book, figures, name, title)
        sheet.column_dimensions["B"].width = 40 if detail else 12
        top = HEADER_ROWS + 1
        end = _table(sheet, top, [*head, *RATE_COLUMNS], _rate_rows(lines, detail))
        rate_col = len(head) + 6  # 有效传输率
        if lines:
            _bar(sheet, title, "%", 1, rate_col, top + 1, top + len(lines), f"A{end + 2}")
            if name.startswith("企业"):
                _bar(summary, title, "%", 1, rate_col, top + 1, top + len(lines), "D4", source=sheet)


def _exceedances(book: Workbook, figures: PeriodicFigures) -> None:
    sheet = _sheet(book, figures, "超标 exceedances", "超标 exceedances (exceedance, ph_out_of_range)")
    for col in "BCDEFGHIJK":
        sheet.column_dimensions[col].width = 16
    top = HEADER_ROWS + 1
    columns = ["因子 factor", "次数 count", "设备小时 device-hours"]
    by_factor = [[c.label, c.count, c.hours] for c in figures.exceedances_by_factor]
    end = _table(sheet, top, columns, by_factor)
    _bar(sheet, "超标设备小时（按因子）exceedance hours by factor", "h", 1, 3, top + 1, top + len(by_factor),
         "E4")  # fmt: skip
    by_ent = [[c.label, c.count, c.hours] for c in figures.exceedances_by_enterprise]
    end = _table(sheet, max(end + 1, top + 17), ["企业 enterprise", *columns[1:]], by_ent)
    lines = [
        [x.alarm_id, x.mn, x.enterprise, x.factor, x.kind, x.started_at, x.ended_at, x.hours, x.peak,
         x.limit_value, x.multiple]
        for x in figures.exceedances
    ]  # fmt: skip
    _table(sheet, end + 1, ["报警 alarm", "MN", "企业 enterprise", "因子 factor", "类型 kind", "开始 started",
                            "结束 ended", "期内小时 hours", "峰值 peak", "限值 limit", "超标倍数 multiple"],
           lines)  # fmt: skip


def _alarms(book: Workbook, figures: PeriodicFigures) -> None:
    sheet = _sheet(
        book, figures, "报警 alarms", "报警（期内开始，按期末状态）alarms begun, by state at the end"
    )
    top = HEADER_ROWS + 1
    rows = [[k.kind, k.total, k.open, k.acknowledged, k.handling, k.closed] for k in figures.alarms_by_kind]
    _table(sheet, top, ["类型 kind", "合计 total", "未确认 open", "已确认 acknowledged", "处理中 handling",
                        "已关闭 closed"], rows)  # fmt: skip
    _bar(sheet, "报警（按类型）alarms by kind", "n", 1, 2, top + 1, top + len(rows), "H4")


def _findings(book: Workbook, figures: PeriodicFigures) -> None:
    sheet = _sheet(book, figures, "合规问题 findings", "合规问题（按规则）findings by rule")
    top = HEADER_ROWS + 1
    rows = [[f.rule, f.new, f.open_at_end, f.resolved, f.waived] for f in figures.findings_by_rule]
    _table(sheet, top, ["规则 rule", "新发现 new", "期末未解决 open at end", "已解决 resolved",
                        "已豁免 waived"], rows)  # fmt: skip
    _bar(sheet, "新发现问题（按规则）new findings by rule", "n", 1, 2, top + 1, top + len(rows), "G4")


def render_periodic_xlsx(figures: PeriodicFigures) -> bytes:
    """The workbook's bytes (the same figures give the same bytes)."""
    book = Workbook()
    default = book.active
    if default is not None:
        book.remove(default)
    when = figures.as_of.astimezone(UTC).replace(tzinfo=None)
    book.properties.created = book.properties.modified = when
    book.properties.creator = "envwatch"
    book.properties.title = title_of(figures)
    summary = _summary(book, figures)
    _rates(book, figures, summary)
    _exceedances(book, figures)
    _alarms(book, figures)
    _findings(book, figures)
    raw = io.BytesIO()
    book.save(raw)
    return stable_zip(raw.getvalue(), figures.as_of)
