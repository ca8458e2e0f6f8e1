"""The quarterly self-inspection report as an Excel workbook (季度自查报告 xlsx), one sheet per section.

Every sheet opens with the same two lines (title; enterprise, quarter, generation time) and a blank row;
the column headers follow (Chinese first, then English, as the other workbooks) and stay frozen in view.
Measured values are the exact decimals written as numbers holding their own digits (12.50 stays 12.50).
Times are China time (Excel has no time zones; the header says so).

Deterministic: the same content (and generation time) gives the same bytes. openpyxl stamps the document
properties and every zip entry with the wall clock (the "modified" time while saving), so the archive is
written again with every entry and both document times at the generation time (:func:`stable_zip`).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from envwatch.core.clock import to_china
from envwatch.reports.self_inspection_data import RECORD_KINDS, VERDICTS, SelfInspection
from envwatch.reports.self_inspection_labels import (
    ALARM_KINDS,
    CLOCK_STATES,
    FAULT_STATES,
    ON_SITE,
    STOP_STATES,
    YES_NO,
    label,
)

MAX_SHOWN_DECIMALS = 4
HEADER_ROWS = 3  # title, who and when, a blank row: the column headers follow
_BOLD = Font(bold=True)


def _decimal_format(value: Decimal) -> str:
    exponent = value.as_tuple().exponent
    places = min(-exponent, MAX_SHOWN_DECIMALS) if isinstance(exponent, int) and exponent < 0 else 0
    return "0." + "0" * places if places else "0"


def _cell(sheet: WriteOnlyWorksheet, value: Any, *, bold: bool = False) -> Any:
    if isinstance(value, Decimal):
        # a numeric cell with the decimal's own digits (openpyxl would write a float: 99.10 → 99.0999…)
        cell = WriteOnlyCell(sheet, value=format(value, "f"))
        cell.data_type = "n"
        cell.number_format = _decimal_format(value)
    elif isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=to_china(value).replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm"
    else:
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, date):
            cell.number_format = "yyyy-mm-dd"
    if bold:
        cell.font = _BOLD
    return cell


def _sheet(
    book: Workbook,
    data: SelfInspection,
    name: str,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: dict[str, int] | None = None,
    empty: str = "无 none",
) -> None:
    sheet: WriteOnlyWorksheet = book.create_sheet(name)
    sheet.freeze_panes = f"A{HEADER_ROWS + 2}"
    dimensions = sheet.column_dimensions  # type: ignore[attr-defined]
    for column, width in (widths or {}).items():
        dimensions[column].width = width
    sheet.append([_cell(sheet, title, bold=True)])
    sheet.append([_cell(sheet, v) for v in _who(data)])
    sheet.append([])
    sheet.append([_cell(sheet, c, bold=True) for c in columns])
    for row in rows:
        sheet.append([_cell(sheet, v) for v in row])
    if not rows:
        sheet.append([_cell(sheet, empty)])


def _who(data: SelfInspection) -> list[Any]:
    e, q = data.enterprise, data.quarter
    state = "" if data.complete else "（季度未结束，截至生成时 quarter not over: so far）"
    return [
        f"{e.name}（{e.credit_code}）",
        f"{q.label_zh} {q.label}{state}",
        f"生成时间 generated {to_china(data.generated_at):%Y-%m-%d %H:%M:%S}（北京时间 China time）",
    ]


def _summary(book: Workbook, data: SelfInspection) -> None:
    e, q = data.enterprise, data.quarter
    rows: list[list[Any]] = [
        ["企业 enterprise", e.name],
        ["统一社会信用代码 credit code", e.credit_code],
        ["行政区划 region", e.region_code],
        ["地址 address", e.address],
        ["季度 quarter", f"{q.label_zh}（{q.first_day.isoformat()} ~ {q.last_day.isoformat()}）"],
        ["完整 complete", YES_NO[data.complete]],
        ["发现问题 problems", len(data.problems)],
        ["有效传输率 rates", data.rates_note or "见“有效传输率”表 see sheet 有效传输率"],
    ]
    for op in data.operators:
        scope = op.outlet_code or "全部排放口 all outlets"
        valid_to = op.valid_to.isoformat() if op.valid_to else "—"
        rows.append(
            [
                "运维单位 operator",
                f"{op.name}（{op.credit_code}） 合同 {op.contract_no} {op.valid_from.isoformat()} ~ {valid_to}；"
                f"{scope}",
            ]
        )
    if not data.operators:
        rows.append(["运维单位 operator", "本季度无运维合同 no contract in the quarter"])
    _sheet(book, data, "概况 summary", "季度自查报告 quarterly self-inspection report (SX-18.7)",
           ["项目 item", "内容 value"], rows, {"A": 28, "B": 90})  # fmt: skip


def _devices(book: Workbook, data: SelfInspection) -> None:
    rows = [[d.outlet_code, d.outlet_name, d.mn, d.name, d.kind, d.model, d.serial] for d in data.devices]
    columns = ["排放口 outlet", "排放口名称 outlet name", "MN", "设备 device", "类型 kind", "型号 model",
               "出厂编号 serial"]  # fmt: skip
    _sheet(book, data, "设备 devices", "排放口与设备 outlets and devices", columns, rows, {"C": 28, "D": 24})


def _problems(book: Workbook, data: SelfInspection) -> None:
    rows = [[n, p.clause, p.mn, p.text] for n, p in enumerate(data.problems, start=1)]
    _sheet(book, data, "发现的问题 problems", "发现的问题 problems found",
           ["序号 no.", "条款 clause", "MN", "问题 problem"], rows, {"C": 28, "D": 100},
           empty="未发现问题 no problem found")  # fmt: skip


def _work(book: Workbook, data: SelfInspection) -> None:
    rows = []
    for w in data.work:
        missed = "、".join(f"{x.first.isoformat()}~{x.last.isoformat()}" for x in w.inspections.missed)
        periods = "、".join(p.label for p in w.comparisons.missing)
        rows.append([
            w.mn, w.kind, w.inspections.done, w.inspections.expected, missed,
            w.calibrations, w.calibrations_failed, w.calibrations_out_of_control, w.standard_checks,
            w.standard_checks_failed,
            w.comparisons.required, w.comparisons.done, w.comparisons_failed, periods,
        ])  # fmt: skip
    columns = [
        "MN", "类型 kind", "巡检次数 inspections", "应巡检 expected", "缺失周期 missed windows",
        "校准 calibrations", "校准不合格 failed", "校准失控 out of control", "标样核查 standard checks",
        "核查不合格 failed",
        "应比对 comparisons owed", "已比对 done", "比对不合格 failed", "缺比对 missing",
    ]  # fmt: skip
    _sheet(book, data, "运维工作 work", "巡检、校准、核查与比对 inspections, calibrations, checks, comparisons",
           columns, rows, {"A": 28, "E": 40, "N": 24})  # fmt: skip


def _records(book: Workbook, data: SelfInspection) -> None:
    rows = [
        [r.id, r.performed_at, r.mn, label(RECORD_KINDS, r.kind), r.staff, r.operator,
         label(VERDICTS, r.verdict), YES_NO[r.out_of_control], label(ON_SITE, r.on_site), r.details, r.note,
         r.corrects]
        for r in data.records
    ]  # fmt: skip
    columns = ["编号 id", "时间 time", "MN", "类型 kind", "人员 staff", "运维单位 operator", "结论 verdict",
               "失控 out of control", "现场签到 on site", "内容 details", "备注 note", "更正记录 corrects"]  # fmt: skip
    _sheet(book, data, "运维记录 records", "运维记录（现行，不含已被更正的记录）current field records",
           columns, rows, {"B": 18, "C": 28, "J": 60, "K": 30})  # fmt: skip


def _parameters(book: Workbook, data: SelfInspection) -> None:
    rows = [
        [p.record_id, p.performed_at, p.mn, p.parameter, p.before, p.after] for p in data.parameter_changes
    ]
    _sheet(book, data, "参数变更 parameters", "参数变更 parameter changes (before / after)",
           ["记录 record", "时间 time", "MN", "参数 parameter", "变更前 before", "变更后 after"], rows,
           {"B": 18, "C": 28, "D": 24, "E": 20, "F": 20})  # fmt: skip


def _faults(book: Workbook, data: SelfInspection) -> None:
    rows = [
        [f.id, f.mn, f.factors, f.description, label(FAULT_STATES, f.state), f.started_at, f.restored_at,
         f.restore_due_at, label(CLOCK_STATES, f.restore_state), f.backup_kind or "", f.backup_started_at,
         label(CLOCK_STATES, f.backup_required_state)]
        for f in data.faults
    ]  # fmt: skip
    columns = ["编号 id", "MN", "因子 factors", "描述 description", "状态 state", "开始 started",
               "恢复 restored", "恢复期限 restore due", "5个工作日内恢复 restore (SX-18.3)",
               "备用方式 backup", "备用开始 backup started", "24小时备用 backup within 24 h"]  # fmt: skip
    _sheet(book, data, "故障 faults", "故障及恢复 faults and their restore (SX-18.3)", columns, rows,
           {"B": 28, "D": 40, "F": 18, "G": 18, "H": 18})  # fmt: skip


def _manual(book: Workbook, data: SelfInspection) -> None:
    rows = [[m.fault_id, m.mn, m.factor, m.sampled_at, m.value, m.unit, m.agency, m.report_no]
            for m in data.manual_results]  # fmt: skip
    columns = ["故障 fault", "MN", "因子 factor", "采样时间 sampled", "结果 value", "单位 unit",
               "检测机构 agency", "报告编号 report no."]  # fmt: skip
    _sheet(book, data, "手工监测 manual", "手工监测结果 manual monitoring results", columns, rows,
           {"B": 28, "D": 18, "G": 30})  # fmt: skip


def _stops(book: Workbook, data: SelfInspection) -> None:
    rows = [[s.id, s.outlet_code, s.start_at, s.end_at, label(STOP_STATES, s.state), s.restarted_at, s.reason]
            for s in data.stops]  # fmt: skip
    columns = ["编号 id", "排放口 outlet", "停产开始 start", "计划复产 end", "状态 state", "复产 restarted",
               "原因 reason"]  # fmt: skip
    _sheet(book, data, "停产 stops", "停产 production stops (SX-18.4)", columns, rows,
           {"C": 18, "D": 18, "F": 18, "G": 40})  # fmt: skip


def _marks(book: Workbook, data: SelfInspection) -> None:
    counts = [[c.mn, c.code, c.name, c.count] for c in data.mark_counts]
    _sheet(book, data, "标记统计 mark counts", "标记统计 marks in force by code",
           ["MN", "代码 code", "名称 name", "数量 count"], counts, {"A": 28, "C": 20})  # fmt: skip
    rows = [[m.id, m.mn, m.factor, m.start_at, m.end_at, m.code, m.name, m.source, YES_NO[m.late], m.reason]
            for m in data.marks]  # fmt: skip
    columns = ["编号 id", "MN", "因子 factor", "开始 start", "结束 end", "代码 code", "名称 name",
               "来源 source", "补标 late", "原因 reason"]  # fmt: skip
    _sheet(book, data, "标记明细 marks", "标记明细 marks in force (SX-18.5)", columns, rows,
           {"B": 28, "D": 18, "E": 18, "J": 40})  # fmt: skip


def _alarms(book: Workbook, data: SelfInspection) -> None:
    rows = [[label(ALARM_KINDS, a.kind), a.kind, a.total, a.still_open] for a in data.alarms]
    _sheet(book, data, "报警 alarms", "本季度报警 alarms opened in the quarter",
           ["类型 kind", "代码 code", "数量 total", "未关闭 still open"], rows, {"A": 24, "B": 24})  # fmt: skip


def _tickets(book: Workbook, data: SelfInspection) -> None:
    s = data.ticket_summary
    percent = "—" if s.satisfaction_percent is None else s.satisfaction_percent
    rows: list[list[Any]] = [
        [t.id, t.mn, t.subject, t.zone, t.state, t.requested_at, t.responded_at, t.arrived_at,
         label(CLOCK_STATES, t.respond), label(CLOCK_STATES, t.on_site), t.score]
        for t in data.tickets
    ]  # fmt: skip
    rows.append([])
    rows.append(
        ["合计 total", s.total, "按时响应 on time", s.responded_on_time, "响应超时 late", s.respond_late]
    )
    rows.append(["", "", "按时到场 on site", s.on_site_on_time, "到场超时 late", s.on_site_late])
    rows.append(["", "", "回访 surveys", s.surveys, "满意率 % satisfied", percent])
    columns = ["编号 id", "MN", "事项 subject", "区域 zone", "状态 state", "报修 requested", "响应 responded",
               "到场 arrived", "响应时限 respond (CS-4.3.3)", "到场时限 on site", "评分 score"]  # fmt: skip
    _sheet(book, data, "服务工单 tickets", "服务工单 service tickets (CS-4.3.3)", columns, rows,
           {"B": 28, "C": 30, "F": 18, "G": 18, "H": 18})  # fmt: skip


def _rates(book: Workbook, data: SelfInspection) -> None:
    rows = [
        [r.mn, r.expected, r.received, r.valid, r.effective_rate, "、".join(r.flags)]
        for r in data.rates or ()
    ]
    _sheet(book, data, "有效传输率 rates", "有效传输率 effective transmission rate of the quarter",
           ["MN", "应收 expected", "实收 received", "有效 valid", "有效传输率 % effective", "不达标 flags"],
           rows, {"A": 28, "E": 20, "F": 24}, empty=data.rates_note or "无 none")  # fmt: skip


CORE = "docProps/core.xml"
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def stable_zip(content: bytes, when: datetime) -> bytes:
    """The zip archive again, every entry dated ``when`` (China time), in the same order and compression,
    and the document's "modified" time set to ``when`` (openpyxl stamps it with the clock while saving)."""
    stamp = to_china(when).timetuple()[:6]
    modified = f"{_naive_utc(when):%Y-%m-%dT%H:%M:%S}Z".encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            data = source.read(info.filename)
            if info.filename == CORE:
                data = _MODIFIED.sub(lambda m: m.group(1) + modified + m.group(2), data)
            target.writestr(entry, data)
    return out.getvalue()


def render_self_inspection_xlsx(data: SelfInspection) -> bytes:
    """The workbook's bytes."""
    book = Workbook(write_only=True)
    book.properties.created = book.properties.modified = _naive_utc(data.generated_at)
    book.properties.creator = "envwatch"
    book.properties.title = f"{data.enterprise.name} {data.quarter.label} 季度自查报告"
    for part in (_summary, _problems, _devices, _work, _records, _parameters, _faults, _manual, _stops,
                 _marks, _alarms, _tickets, _rates):  # fmt: skip
        part(book, data)
    raw = io.BytesIO()
    book.save(raw)
    return stable_zip(raw.getvalue(), data.generated_at)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)  # what openpyxl writes as the document's times
