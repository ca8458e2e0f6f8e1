"""A periodic report as a PDF (定期报告 PDF): A4, title in Chinese and English, period, scope, headline
numbers, charts, then the tables (long tables split across pages and repeat their header row).

ReportLab platypus in the layout shared with ``self_inspection_pdf`` (``pdf_layout``: the built-in CJK font
``STSong-Light``, nothing embedded; the styles, tables and page footer). Charts are ``reportlab.graphics`` drawings made from the same figures as the
tables: a bar chart of the effective rate by enterprise, one of alarms by kind, one of new findings by rule
and a pie of exceedance hours by factor. Every page carries "第 n 页 / 共 N 页" and the report's name.

Deterministic: ``invariant=1`` and no clock: the same figures give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, Final

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Spacer

from envwatch.core.clock import to_china
from envwatch.reports.pdf_layout import HEAD_COLOR, MARGIN, WIDTH, PdfWriter, font, numbered_canvas
from envwatch.reports.periodic import PeriodicFigures, RateLine
from envwatch.reports.periodic_period import KIND_EN, KIND_ZH

CHART_BARS: Final = 20  # the chart shows the first bars; the table below it has every row
BAR_COLOR: Final = HEAD_COLOR  # bars in the colour of the tables' header rows
PIE_COLORS: Final = ("#35506b", "#c8553d", "#f2a541", "#588b8b", "#8e6c8a", "#93b7be", "#b5b682", "#6d597a")


def _short(text: str, n: int = 12) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float], top: float | None = None
) -> Drawing:
    """A vertical bar chart (the first ``CHART_BARS`` bars) with its title; labels in the CJK font."""
    labels, values = list(labels)[:CHART_BARS], list(values)[:CHART_BARS]
    drawing = Drawing(WIDTH, 62 * mm)
    drawing.add(String(0, 58 * mm, title, fontName=font(), fontSize=10))
    chart = VerticalBarChart()
    # reportlab types these as int; points are floats everywhere else in it
    chart.x, chart.y = 12 * mm, 16 * mm  # type: ignore[assignment]
    chart.width, chart.height = WIDTH - 16 * mm, 38 * mm  # type: ignore[assignment]
    chart.data = [values]
    chart.bars[0].fillColor = BAR_COLOR
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = top if top is not None else max([*values, 1]) * 1.15
    chart.valueAxis.labels.fontName = "Helvetica"
    chart.valueAxis.labels.fontSize = 7
    chart.categoryAxis.categoryNames = [_short(x) for x in labels]
    chart.categoryAxis.labels.fontName = font()
    chart.categoryAxis.labels.fontSize = 6.5
    chart.categoryAxis.labels.angle = 30 if len(labels) > 6 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(labels) > 6 else "n"
    drawing.add(chart)
    return drawing


def pie_chart(title: str, labels: Sequence[str], values: Sequence[float]) -> Drawing:
    drawing = Drawing(WIDTH, 62 * mm)
    drawing.add(String(0, 58 * mm, title, fontName=font(), fontSize=10))
    pie = Pie()
    pie.x, pie.y = 30 * mm, 6 * mm  # type: ignore[assignment]  # as in bar_chart
    pie.width = pie.height = 46 * mm  # type: ignore[assignment]
    pie.data = list(values)
    pie.labels = [f"{_short(label)} {v:g}" for label, v in zip(labels, values, strict=True)]
    pie.slices.fontName = font()
    pie.slices.fontSize = 7
    for n in range(len(values)):
        pie.slices[n].fillColor = colors.HexColor(PIE_COLORS[n % len(PIE_COLORS)])
    drawing.add(pie)
    return drawing


def _charts(w: PdfWriter, figures: PeriodicFigures) -> None:
    ents = [r for r in figures.rates_by_enterprise if r.effective_rate is not None]
    if ents:
        w.story.append(bar_chart("有效传输率（按企业，%）effective rate by enterprise",
                                 [r.label for r in ents], [float(r.effective_rate or 0) for r in ents], 100))  # fmt: skip
    if figures.alarms_by_kind:
        w.story.append(bar_chart("报警（按类型）alarms by kind", [k.kind for k in figures.alarms_by_kind],
                                 [k.total for k in figures.alarms_by_kind]))  # fmt: skip
    if figures.findings_by_rule:
        w.story.append(bar_chart("新发现问题（按规则）new findings by rule",
                                 [f.rule for f in figures.findings_by_rule],
                                 [f.new for f in figures.findings_by_rule]))  # fmt: skip
    hours = [c for c in figures.exceedances_by_factor if c.hours > 0]
    if hours:
        w.story.append(pie_chart("超标设备小时（按因子）exceedance hours by factor", [c.label for c in hours],
                                 [float(c.hours) for c in hours]))  # fmt: skip


def _rate_table(w: PdfWriter, lines: Sequence[RateLine], head: str, detail: bool) -> None:
    columns = [head, *(["设备"] if detail else []), "应收", "实收", "有效", "传输率%", "有效率%", "有效传输率%",
               "故障", "不达标"]  # fmt: skip
    rows = [
        [r.label, *([r.detail] if detail else []), r.expected, r.received, r.valid, r.transmission_rate,
         r.validity_rate, r.effective_rate, r.faults, "、".join(r.flags)]
        for r in lines
    ]  # fmt: skip
    widths = [2.6, *([3] if detail else []), 0.9, 0.9, 0.9, 1, 1, 1.1, 0.7, 1.4]
    w.table(columns, rows, widths)


def headline_rows(figures: PeriodicFigures) -> list[list[Any]]:
    h = figures.headline
    return [
        ["设备 devices", h.devices, "企业 enterprises", h.enterprises],
        ["有效传输率 % effective", h.effective_rate, "传输率 % transmission", h.transmission_rate],
        [
            "有效率 % validity",
            h.validity_rate,
            "不达标设备 devices below threshold",
            h.devices_below_threshold,
        ],
        ["超标 exceedances", h.exceedances, "超标设备小时 exceedance hours", h.exceedance_hours],
        ["报警 alarms", h.alarms, "期末未关闭 not closed at end", h.alarms_not_closed],
        ["新发现问题 new findings", h.findings_new, "期末未解决 open at end", h.findings_open_at_end],
        ["期内已解决 resolved", h.findings_resolved, "期内已豁免 waived", h.findings_waived],
    ]


def render_periodic_pdf(figures: PeriodicFigures) -> bytes:
    """The PDF's bytes."""
    p = figures.period
    w = PdfWriter()
    w.para(f"污染源自动监控{KIND_ZH[p.kind]}", "title")
    w.para(f"Pollution source monitoring {KIND_EN[p.kind]} report", "subtitle")
    w.para(
        f"{p.label_zh}（{p.first_day.isoformat()} 至 {p.last_day.isoformat()}）　{figures.scope_name}",
        "subtitle",
    )
    if not figures.complete:
        w.para(f"本期尚未结束：统计截至 {to_china(figures.as_of):%Y-%m-%d %H:%M}（北京时间）period not over: to date",
               "subtitle")  # fmt: skip
    w.story.append(Spacer(1, 6))
    w.para("主要指标 headline", "h2")
    w.table(["指标", "数值", "指标", "数值"], headline_rows(figures), [3, 1.2, 3, 1.2])
    w.para("图表 charts", "h2")
    _charts(w, figures)
    w.para("企业有效传输率 effective rate by enterprise", "h2")
    _rate_table(w, figures.rates_by_enterprise, "企业", False)
    w.para("运维单位有效传输率 effective rate by operator", "h2")
    _rate_table(w, figures.rates_by_operator, "运维单位", False)
    w.para("设备有效传输率 effective rate by device", "h2")
    _rate_table(w, figures.rates_by_device, "MN", True)
    w.para("超标 exceedances", "h2")
    w.table(["因子", "次数", "设备小时"], [[c.label, c.count, c.hours] for c in figures.exceedances_by_factor],
            [3, 1, 1])  # fmt: skip
    w.table(["企业", "次数", "设备小时"],
            [[c.label, c.count, c.hours] for c in figures.exceedances_by_enterprise], [3, 1, 1])  # fmt: skip
    w.table(
        ["报警", "MN", "企业", "因子", "开始", "结束", "小时", "峰值", "限值", "倍数"],
        [[x.alarm_id, x.mn, x.enterprise, x.factor, x.started_at, x.ended_at, x.hours, x.peak, x.limit_value,
          x.multiple] for x in figures.exceedances],
        [0.7, 2.6, 2, 0.9, 1.5, 1.5, 0.7, 0.8, 0.8, 0.7],
    )  # fmt: skip
    w.para("报警（期内开始，按期末状态）alarms by kind and state", "h2")
    w.table(["类型", "合计", "未确认", "已确认", "处理中", "已关闭"],
            [[k.kind, k.total, k.open, k.acknowledged, k.handling, k.closed] for k in figures.alarms_by_kind],
            [3, 1, 1, 1, 1, 1])  # fmt: skip
    w.para("合规问题（按规则）findings by rule", "h2")
    w.table(["规则", "新发现", "期末未解决", "期内已解决", "期内已豁免"],
            [[f.rule, f.new, f.open_at_end, f.resolved, f.waived] for f in figures.findings_by_rule],
            [3, 1, 1, 1, 1])  # fmt: skip
    w.para(f"统计截至 {to_china(figures.as_of):%Y-%m-%d %H:%M}（北京时间）。由 envwatch 根据平台数据生成。")
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=MARGIN,
        title=f"{p.label} {KIND_ZH[p.kind]} {figures.scope.label}", author="envwatch", creator="envwatch",
        invariant=1,
    )  # fmt: skip
    doc.build(w.story, canvasmaker=numbered_canvas(f"{figures.scope_name} · {p.label_zh}{KIND_ZH[p.kind]}"))
    return out.getvalue()
