"""The quarterly self-inspection report as a PDF (季度自查报告), for the local bureau (SX-18.7).

ReportLab platypus on A4 in the layout shared with the periodic reports (``pdf_layout``: the built-in CJK
font ``STSong-Light``, nothing embedded). Chinese headings; tables split across pages and repeat their
header row; every page carries "第 n 页 / 共 N 页" and the enterprise and quarter; the last page says when the report
was generated and gives the SHA-256 of the xlsx generated with it, so the two files can be matched.

Deterministic: ``invariant=1`` (no creation date or random document id in the file), the generation time
comes from the content: the same content gives the same bytes.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer

from envwatch.core.clock import to_china
from envwatch.reports.pdf_layout import MARGIN, PdfWriter, fmt, numbered_canvas
from envwatch.reports.self_inspection_data import RECORD_KINDS, VERDICTS, SelfInspection
from envwatch.reports.self_inspection_labels import (
    ALARM_KINDS,
    CLOCK_STATES,
    FAULT_STATES,
    STOP_STATES,
    YES_NO,
    label,
)

NUMERALS = "一二三四五六七八九十"


class _Writer(PdfWriter):
    """Builds the story in the shared layout: headings numbered 一、二、…, a plain line stays with the table
    after it ("lead"), yes/no as 是/否, narrow cell padding for the wide tables."""

    para_style = "lead"
    booleans = YES_NO
    cell_padding = 3

    def __init__(self) -> None:
        super().__init__()
        self.styles["title"].spaceAfter = 4
        # the line before a table stays with it (no lead-in alone at a page's foot)
        self.styles["lead"] = ParagraphStyle("lead", parent=self.styles["body"], keepWithNext=1)
        self.sections = 0

    def heading(self, text: str) -> None:
        self.sections += 1
        number = NUMERALS[self.sections - 1] if self.sections <= len(NUMERALS) else str(self.sections)
        self.story.append(Paragraph(f"{number}、{escape(text)}", self.styles["h2"]))


def _basics(w: _Writer, data: SelfInspection) -> None:
    e, q = data.enterprise, data.quarter
    w.heading("基本情况")
    rows: list[list[Any]] = [
        ["排污单位", e.name],
        ["统一社会信用代码", e.credit_code],
        ["行政区划代码", e.region_code],
        ["地址", e.address],
        ["报告期", f"{q.label_zh}（{q.first_day.isoformat()} 至 {q.last_day.isoformat()}）"],
    ]
    if not data.complete:
        rows.append(["说明", "本季度尚未结束，本报告为截至生成时间的预览"])
    w.table(["项目", "内容"], rows, [1, 3])
    w.para("运维单位（本季度内运维合同）")
    w.table(
        ["运维单位", "统一社会信用代码", "合同编号", "合同期限", "范围"],
        [
            [
                o.name,
                o.credit_code,
                o.contract_no,
                f"{fmt(o.valid_from)} 至 {fmt(o.valid_to)}",
                o.outlet_code or "全部排放口",
            ]
            for o in data.operators
        ],
        [3, 2.4, 1.6, 2.4, 1.4],
        empty="本季度无运维合同",
    )
    w.para("排放口与监测设备")
    w.table(
        ["排放口", "名称", "MN", "设备", "类型", "型号", "出厂编号"],
        [[d.outlet_code, d.outlet_name, d.mn, d.name, d.kind, d.model, d.serial] for d in data.devices],
        [1, 1.6, 2.8, 1.8, 0.8, 1.2, 1.2],
        empty="无登记的监测设备",
    )


def _problems(w: _Writer, data: SelfInspection) -> None:
    w.heading("发现的问题")
    w.table(
        ["序号", "条款", "MN", "问题"],
        [[n, p.clause, p.mn, p.text] for n, p in enumerate(data.problems, start=1)],
        [0.6, 1, 2.6, 6],
        empty="未发现问题。",
    )


def _work(w: _Writer, data: SelfInspection) -> None:
    w.heading("巡检、校准与比对监测")
    w.para(
        f"巡检至少每 {data.inspection_every_days} 天一次（SX-20.3）；比对监测：废气每季度至少一次，"
        "废水每月至少一次（SX-18.6）。"
    )
    rows = []
    for x in data.work:
        missed = "、".join(f"{m.first:%m-%d}~{m.last:%m-%d}" for m in x.inspections.missed) or "—"
        rows.append([
            x.mn, x.kind, f"{x.inspections.done}/{x.inspections.expected}", missed,
            f"{x.calibrations}（不合格 {x.calibrations_failed}，失控 {x.calibrations_out_of_control}）",
            f"{x.standard_checks}（不合格 {x.standard_checks_failed}）",
            f"{x.comparisons.done}/{x.comparisons.required}（不合格 {x.comparisons_failed}）",
        ])  # fmt: skip
    w.table(
        ["MN", "类型", "巡检 实际/应", "缺失周期", "校准", "标样核查", "比对 已/应"],
        rows,
        [2.6, 0.7, 1, 2.2, 1.3, 1.4, 1.6],
        empty="无监测设备",
    )


def _records(w: _Writer, data: SelfInspection) -> None:
    w.heading("运维记录")
    w.para("现行记录（已被更正的记录由更正后的记录代替）。")
    w.table(
        ["编号", "时间", "MN", "类型", "人员", "结论", "内容", "备注"],
        [
            [
                r.id,
                r.performed_at,
                r.mn,
                label(RECORD_KINDS, r.kind),
                r.staff,
                label(VERDICTS, r.verdict),
                r.details,
                r.note,
            ]
            for r in data.records
        ],
        [0.6, 1.5, 2.4, 1, 0.9, 0.8, 3, 1.4],
        empty="本季度无运维记录",
    )
    w.para("参数变更（变更前 / 变更后）")
    w.table(
        ["记录", "时间", "MN", "参数", "变更前", "变更后"],
        [[p.record_id, p.performed_at, p.mn, p.parameter, p.before, p.after] for p in data.parameter_changes],
        [0.7, 1.5, 2.4, 1.6, 1.4, 1.4],
        empty="本季度无参数变更",
    )


def _faults(w: _Writer, data: SelfInspection) -> None:
    w.heading("故障与手工监测")
    w.para("故障须于 5 个工作日内恢复；超过 24 小时须启用备用设备或开展手工监测（SX-18.3）。")
    w.table(
        ["编号", "MN", "描述", "开始", "恢复", "恢复期限", "时限", "状态"],
        [
            [
                f.id,
                f.mn,
                f.description,
                f.started_at,
                f.restored_at,
                f.restore_due_at,
                label(CLOCK_STATES, f.restore_state),
                label(FAULT_STATES, f.state),
            ]
            for f in data.faults
        ],
        [0.6, 2.3, 2.2, 1.4, 1.4, 1.4, 0.8, 0.8],
        empty="本季度无故障",
    )
    w.para("手工监测结果")
    w.table(
        ["故障", "MN", "因子", "采样时间", "结果", "单位", "检测机构", "报告编号"],
        [
            [m.fault_id, m.mn, m.factor, m.sampled_at, m.value, m.unit, m.agency, m.report_no]
            for m in data.manual_results
        ],
        [0.6, 2.3, 0.9, 1.4, 0.9, 0.8, 1.8, 1.2],
        empty="无",
    )


def _stops_marks_alarms(w: _Writer, data: SelfInspection) -> None:
    w.heading("停产")
    w.table(
        ["编号", "排放口", "停产开始", "计划复产", "状态", "复产时间", "原因"],
        [
            [s.id, s.outlet_code, s.start_at, s.end_at, label(STOP_STATES, s.state), s.restarted_at, s.reason]
            for s in data.stops
        ],
        [0.6, 0.9, 1.5, 1.5, 0.9, 1.5, 3],
        empty="本季度无停产",
    )
    w.heading("数据标记")
    w.para(f"本季度有效标记 {len(data.marks)} 条（明细见 xlsx）。")
    w.table(
        ["MN", "代码", "名称", "数量"],
        [[c.mn, c.code, c.name, c.count] for c in data.mark_counts],
        [3, 2, 2.5, 1],
        empty="本季度无标记",
    )
    w.heading("报警")
    w.table(
        ["类型", "代码", "数量", "未关闭"],
        [[label(ALARM_KINDS, a.kind), a.kind, a.total, a.still_open] for a in data.alarms],
        [2.5, 2.5, 1, 1],
        empty="本季度无报警",
    )


def _tickets(w: _Writer, data: SelfInspection) -> None:
    s = data.ticket_summary
    w.heading("服务工单")
    percent = "—" if s.satisfaction_percent is None else f"{s.satisfaction_percent}%"
    w.para(
        f"共 {s.total} 件；按时响应 {s.responded_on_time} 件，响应超时 {s.respond_late} 件；按时到场 "
        f"{s.on_site_on_time} 件，到场超时 {s.on_site_late} 件；回访 {s.surveys} 件，满意率 {percent}"
        "（CS-4.3.3）。"
    )
    w.table(
        ["编号", "MN", "事项", "报修时间", "响应", "到场", "评分"],
        [
            [
                t.id,
                t.mn,
                t.subject,
                t.requested_at,
                label(CLOCK_STATES, t.respond),
                label(CLOCK_STATES, t.on_site),
                t.score,
            ]
            for t in data.tickets
        ],
        [0.6, 2.4, 3, 1.5, 0.8, 0.8, 0.6],
        empty="本季度无服务工单",
    )


def _rates(w: _Writer, data: SelfInspection) -> None:
    w.heading("有效传输率")
    if data.rates is None:
        w.para(data.rates_note, "body")
        return
    w.table(
        ["MN", "应收", "实收", "有效", "有效传输率 %", "不达标"],
        [[r.mn, r.expected, r.received, r.valid, r.effective_rate, "、".join(r.flags)] for r in data.rates],
        [3, 1, 1, 1, 1.3, 1.6],
        empty="无",
    )


def _closing(w: _Writer, data: SelfInspection, xlsx_sha256: str) -> None:
    styles = w.styles
    block: list[Flowable] = [
        Paragraph("生成信息", styles["h2"]),
        Paragraph(
            escape(f"生成时间：{to_china(data.generated_at):%Y-%m-%d %H:%M:%S}（北京时间）"), styles["body"]
        ),
        Paragraph(
            "本报告由 envwatch 根据平台中的运维记录、故障、工单、标记、报警与监测数据生成。", styles["body"]
        ),
        Paragraph(escape(f"同时生成的 xlsx 文件 SHA-256：{xlsx_sha256}"), styles["body"]),
    ]
    w.story.append(KeepTogether(block))


def render_self_inspection_pdf(data: SelfInspection, xlsx_sha256: str) -> bytes:
    """The PDF's bytes; ``xlsx_sha256`` is the workbook generated from the same content."""
    w = _Writer()
    e, q = data.enterprise, data.quarter
    w.para("污染源自动监控设施运维季度自查报告", "title")
    w.para(f"{e.name}　{q.label_zh}", "subtitle")
    w.story.append(Spacer(1, 6))
    for part in (_basics, _problems, _work, _records, _faults, _stops_marks_alarms, _tickets, _rates):
        part(w, data)
    _closing(w, data, xlsx_sha256)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{e.name} {q.label} 季度自查报告",
        author="envwatch",
        creator="envwatch",
        subject="SX-18.7",
        invariant=1,
    )
    doc.build(w.story, canvasmaker=numbered_canvas(f"{e.name} · {q.label_zh} 季度自查报告"))
    return out.getvalue()
