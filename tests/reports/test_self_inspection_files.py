"""The self-inspection report's PDF and xlsx: what they hold, and the same bytes for the same content."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.reports.quarters import Quarter
from envwatch.reports.self_inspection import gather_self_inspection
from envwatch.reports.self_inspection_data import RecordLine, SelfInspection
from envwatch.reports.self_inspection_pdf import render_self_inspection_pdf
from envwatch.reports.self_inspection_store import render_files
from envwatch.reports.self_inspection_xlsx import HEADER_ROWS, render_self_inspection_xlsx
from tests.helpers import GAS_MN
from tests.reports.pdf_text import page_count, page_texts
from tests.reports.self_inspection_world import NOW, build_world, china, fault, manual_result, record

Q1 = Quarter(2026, 1)


@pytest.fixture
def content(sqlite_engine: Engine, settings: Settings) -> SelfInspection:
    w = build_world(sqlite_engine)
    with sqlite_engine.begin() as conn:
        record(conn, w, "gas", china(2026, 1, 2, 10), kind="inspection", payload={"item": "探头"})
        record(conn, w, "gas", china(2026, 3, 5, 10), kind="parameter_change",
               payload={"parameter": "量程", "before": "0-200", "after": "0-500"})  # fmt: skip
        late = fault(conn, w, "gas", china(2026, 3, 2, 10), restored_at=china(2026, 3, 12, 10))
        manual_result(conn, w, late, china(2026, 3, 3, 9), "12.50")
    with sqlite_engine.connect() as conn:
        return gather_self_inspection(conn, settings, w.jia, Q1, NOW)


def test_the_pdf_holds_the_report(content: SelfInspection) -> None:
    files = render_files(content)
    pdf = files.pdf
    assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF")
    assert b"/BaseFont /STSong-Light" in pdf  # the built-in CJK font: nothing embedded
    texts = page_texts(pdf)
    assert len(texts) == page_count(pdf) >= 2
    text = "".join(texts)
    for shown in ("污染源自动监控设施运维季度自查报告", "甲化工有限公司", "2026年第一季度", "发现的问题", GAS_MN,
                  "12.50", "0-200", "0-500", "生成时间：2026-05-10 12:00:00（北京时间）"):  # fmt: skip
        assert shown in text, shown
    # the last page names the xlsx generated with it; every page is numbered
    assert f"同时生成的 xlsx 文件 SHA-256：{hashlib.sha256(files.xlsx).hexdigest()}" in texts[-1]
    assert files.xlsx_sha256 == hashlib.sha256(files.xlsx).hexdigest()
    assert [f"第 {n} 页 / 共 {len(texts)} 页" in t for n, t in enumerate(texts, start=1)] == [True] * len(
        texts
    )


def test_long_tables_split_with_their_header_repeated(content: SelfInspection) -> None:
    many = tuple(
        RecordLine(n, "inspection", GAS_MN, china(2026, 1, 1, 8) + timedelta(hours=n), "张工", "运维甲",
                   "pass", "yes", "item: 检查采样探头、伴热管线与标气", False, "", None)
        for n in range(1, 301)
    )  # fmt: skip
    pdf = render_self_inspection_pdf(replace(content, records=many), "0" * 64)
    texts = page_texts(pdf)
    assert len(texts) >= 6
    with_records = [t for t in texts if "2026-01-02 08:00" in t or "2026-01-10" in t or "2026-01-13" in t]
    assert with_records and all("编号时间MN类型人员结论内容备注" in t for t in with_records)


def test_same_content_same_bytes(content: SelfInspection) -> None:
    first, second = render_files(content), render_files(content)
    assert first.pdf == second.pdf and first.xlsx == second.xlsx
    later = render_files(replace(content, generated_at=NOW + timedelta(seconds=1)))
    assert later.pdf != first.pdf and later.xlsx != first.xlsx
    with zipfile.ZipFile(io.BytesIO(first.xlsx)) as archive:  # every entry dated at the generation time
        assert {i.date_time for i in archive.infolist()} == {(2026, 5, 10, 12, 0, 0)}
        core = archive.read("docProps/core.xml").decode()
    # openpyxl writes the clock into "modified" while saving: the generation time instead (UTC)
    assert '<dcterms:created xsi:type="dcterms:W3CDTF">2026-05-10T04:00:00Z</dcterms:created>' in core
    assert '<dcterms:modified xsi:type="dcterms:W3CDTF">2026-05-10T04:00:00Z</dcterms:modified>' in core


def test_the_xlsx_holds_the_values(content: SelfInspection) -> None:
    book = load_workbook(io.BytesIO(render_self_inspection_xlsx(content)))
    assert book.sheetnames == [
        "概况 summary", "发现的问题 problems", "设备 devices", "运维工作 work", "运维记录 records",
        "参数变更 parameters", "故障 faults", "手工监测 manual", "停产 stops", "标记统计 mark counts",
        "标记明细 marks", "报警 alarms", "服务工单 tickets", "有效传输率 rates",
    ]  # fmt: skip
    for sheet in book.worksheets:
        assert sheet.freeze_panes == f"A{HEADER_ROWS + 2}", sheet.title
        assert sheet.cell(2, 1).value == "甲化工有限公司（91140105000000001B）"
    summary = book["概况 summary"]
    assert [summary.cell(r, 2).value for r in range(5, 7)] == ["甲化工有限公司", "91140105000000001B"]
    manual = book["手工监测 manual"]
    header = HEADER_ROWS + 1
    assert [c.value for c in manual[header]][:5] == [
        "故障 fault",
        "MN",
        "因子 factor",
        "采样时间 sampled",
        "结果 value",
    ]
    value = manual.cell(header + 1, 5)
    assert (
        value.data_type == "n"
        and Decimal(str(value.value)) == Decimal("12.50")
        and value.number_format == "0.00"
    )
    assert manual.cell(header + 1, 4).value.isoformat() == "2026-03-03T09:00:00"  # China time
    params = book["参数变更 parameters"]
    assert [c.value for c in params[header + 1]][3:] == ["量程", "0-200", "0-500"]
    problems = [row[3].value for row in book["发现的问题 problems"].iter_rows(min_row=header + 1)]
    assert any(p and p.startswith("故障 #") and "恢复超时" in p for p in problems)
    rates = book["有效传输率 rates"]
    assert rates.cell(header + 1, 1).value.startswith("本报告未计算有效传输率")
