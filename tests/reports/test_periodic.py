"""Periodic reports: the period parser, the figures against the services, the files, the store and the
schedule, on real stores (SQLite and PostgreSQL) with the small September world of ``periodic_world``."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

from envwatch.core.blobs import BlobStore
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence_schema import blob_records, evidence_entries
from envwatch.core.settings import Settings
from envwatch.monitoring.rates import RateQuery, compute_rates
from envwatch.reports.periodic import gather_periodic
from envwatch.reports.periodic_pdf import render_periodic_pdf
from envwatch.reports.periodic_period import (
    ReportScope,
    check_begun,
    last_complete,
    parse_period,
    report_scope,
)
from envwatch.reports.periodic_schedule import due_reports, schedule_round
from envwatch.reports.periodic_schema import report_files
from envwatch.reports.periodic_store import generate, list_reports
from envwatch.reports.periodic_xlsx import render_periodic_xlsx
from tests.reports.pdf_text import page_texts
from tests.reports.periodic_world import MN_A, MN_B, NOW, build_world, china

SEPT = parse_period("month", "2026-09")


# --- periods and scopes (no store) --------------------------------------------------------------------
def test_periods_parse_and_refuse() -> None:
    assert (SEPT.first_day, SEPT.last_day, SEPT.label) == (date(2026, 9, 1), date(2026, 9, 30), "2026-09")
    q = parse_period("quarter", "2026q3")
    assert (q.first_day, q.last_day, q.label, q.label_zh) == (date(2026, 7, 1), date(2026, 9, 30), "2026Q3",
                                                              "2026年第三季度")  # fmt: skip
    assert parse_period("year", "2024").last_day == date(2024, 12, 31)
    assert parse_period("day", "2024-02-29").first_day == date(2024, 2, 29)
    assert SEPT.start == datetime(2026, 8, 31, 16, tzinfo=UTC)  # 00:00 China time
    with pytest.raises(InvalidInput, match="does not name a month: write it as 2026-10"):
        parse_period("month", "2026/09")
    with pytest.raises(InvalidInput, match="is not a real day"):
        parse_period("day", "2026-02-30")
    with pytest.raises(InvalidInput, match="period must be one of day, month, quarter, year, not 'week'"):
        parse_period("week", "2026")
    with pytest.raises(InvalidInput, match="year must be within"):
        parse_period("year", "1999")
    check_begun(parse_period("month", "2026-11"), NOW)  # running: allowed, "to date"
    with pytest.raises(InvalidInput, match="the month 2026-12 has not begun yet"):
        check_begun(parse_period("month", "2026-12"), NOW)
    # NOW is 2026-11-22 12:00 China time
    assert last_complete("day", NOW).label == "2026-11-21"
    assert last_complete("month", NOW).label == "2026-10"
    assert last_complete("quarter", NOW).label == "2026Q3"
    assert last_complete("year", NOW).label == "2025"
    assert report_scope("region", "330100") == ReportScope("region", "3301")
    with pytest.raises(InvalidInput, match="by its id"):
        report_scope("enterprise", "abc")
    with pytest.raises(InvalidInput, match="scope all takes no reference"):
        report_scope("all", "33")


# --- figures ------------------------------------------------------------------------------------------
def test_figures_equal_the_services(engine: Engine, settings: Settings) -> None:
    w = build_world(engine)
    f = gather_periodic(engine, settings, SEPT, ReportScope("all"), NOW)
    rates = compute_rates(engine, settings, RateQuery(SEPT.first_day, SEPT.last_day, group="device"), NOW)
    assert [(r.label, r.expected, r.received, r.valid, r.effective_rate) for r in f.rates_by_device] == [
        (r["mn"], r["expected"], r["received"], r["valid"], r["effective_rate"]) for r in rates
    ]
    assert [r.label for r in f.rates_by_device] == [MN_A, MN_B]
    assert (
        f.rates_by_device[1].effective_rate == Decimal("0.00") and "CS-4.3.2.1" in f.rates_by_device[1].flags
    )
    by_ent = compute_rates(
        engine, settings, RateQuery(SEPT.first_day, SEPT.last_day, group="enterprise"), NOW
    )
    assert [(r.label, r.effective_rate) for r in f.rates_by_enterprise] == [
        (r["enterprise"], r["effective_rate"]) for r in by_ent
    ]
    assert sorted(r.label for r in f.rates_by_operator) == ["(no operator)", "运维甲"]
    h = f.headline
    assert (h.devices, h.enterprises, h.expected, h.valid) == (2, 2, 1440, rates[0]["valid"])
    assert h.effective_rate == (Decimal(100) * rates[0]["valid"] / 1440).quantize(Decimal("0.01"))
    # exceedances: A 2 h (closed), B from 09-29 22:00 never ended: 26 h to the month's end; October's not
    assert [(x.alarm_id, x.hours) for x in f.exceedances] == [
        (w.alarms["a_exceed"], Decimal("2.00")),
        (w.alarms["b_exceed"], Decimal("26.00")),
    ]
    assert (h.exceedances, h.exceedance_hours) == (2, Decimal("28.00"))
    assert [(c.label, c.count, c.hours) for c in f.exceedances_by_factor] == [
        ("a21026", 1, Decimal("2.00")), ("w01018", 1, Decimal("26.00"))
    ]  # fmt: skip
    # alarm states at the month's end: the offline alarm closed on 10-03 was still open then
    assert [(k.kind, k.total, k.open, k.closed) for k in f.alarms_by_kind] == [
        ("exceedance", 2, 1, 1), ("offline", 1, 1, 0)
    ]  # fmt: skip
    assert (h.alarms, h.alarms_not_closed) == (3, 2)
    assert [(r.rule, r.new, r.open_at_end, r.resolved, r.waived) for r in f.findings_by_rule] == [
        ("SX-18.3-24H", 0, 0, 0, 1),
        ("SX-20.3-7D", 2, 1, 1, 0),
    ]
    assert f.complete and f.as_of == SEPT.end
    # the same data give the same figures
    assert gather_periodic(engine, settings, SEPT, ReportScope("all"), NOW + timedelta(days=3)) == f


def test_figures_per_scope(engine: Engine, settings: Settings) -> None:
    w = build_world(engine)
    jia = gather_periodic(engine, settings, SEPT, ReportScope("enterprise", str(w.jia)), NOW)
    assert [r.label for r in jia.rates_by_device] == [MN_A] and jia.scope_name == "甲化工"
    assert [x.alarm_id for x in jia.exceedances] == [w.alarms["a_exceed"]]
    assert [(r.rule, r.new, r.resolved, r.waived) for r in jia.findings_by_rule] == [
        ("SX-18.3-24H", 0, 0, 1), ("SX-20.3-7D", 1, 1, 0)
    ]  # fmt: skip
    region = gather_periodic(engine, settings, SEPT, ReportScope("region", "4401"), NOW)
    assert [r.label for r in region.rates_by_device] == [MN_B]
    assert [(r.rule, r.new, r.open_at_end) for r in region.findings_by_rule] == [("SX-20.3-7D", 1, 1)]
    op = gather_periodic(engine, settings, SEPT, ReportScope("operator", str(w.op)), NOW)
    assert [r.label for r in op.rates_by_device] == [MN_A]
    assert [r.label for r in op.rates_by_operator] == ["运维甲"]
    assert op.headline.findings_new == 1 and op.headline.findings_waived == 1
    nobody = gather_periodic(engine, settings, SEPT, ReportScope("region", "11"), NOW)
    assert (nobody.headline.devices, nobody.headline.alarms, nobody.findings_by_rule) == (0, 0, ())
    with pytest.raises(NotFound, match="no enterprise with id 999"):
        gather_periodic(engine, settings, SEPT, ReportScope("enterprise", "999"), NOW)
    # a running period is "to date": counted up to now
    running = gather_periodic(engine, settings, SEPT, ReportScope("all"), china(9, 30, 0))
    assert not running.complete and running.as_of == china(9, 30, 0)
    assert [x.hours for x in running.exceedances] == [Decimal("2.00"), Decimal("2.00")]


# --- files --------------------------------------------------------------------------------------------
def test_files_hold_the_figures_and_charts(sqlite_engine: Engine, settings: Settings) -> None:
    build_world(sqlite_engine)
    f = gather_periodic(sqlite_engine, settings, SEPT, ReportScope("all"), NOW)
    xlsx = render_periodic_xlsx(f)
    assert render_periodic_xlsx(f) == xlsx  # deterministic
    book = load_workbook(io.BytesIO(xlsx))
    assert book.sheetnames == ["概况 summary", "设备传输率 devices", "企业传输率 enterprises",
                               "运维单位传输率 operators", "超标 exceedances", "报警 alarms", "合规问题 findings"]  # fmt: skip
    summary = {row[0]: row[1] for row in book["概况 summary"].iter_rows(min_row=5, values_only=True)}
    assert summary["有效传输率 % effective"] == float(f.headline.effective_rate or 0)
    assert summary["超标设备小时 exceedance device-hours"] == 28
    assert summary["期末未关闭报警 alarms not closed at the end"] == 2
    devices = list(book["设备传输率 devices"].iter_rows(min_row=5, values_only=True))
    assert [(r[0], r[2], r[7]) for r in devices[:2]] == [
        (MN_A, 720, float(f.rates_by_device[0].effective_rate or 0)), (MN_B, 720, 0)
    ]  # fmt: skip
    charts = {name: len(book[name]._charts) for name in book.sheetnames}  # type: ignore[attr-defined]
    assert charts == {"概况 summary": 1, "设备传输率 devices": 1, "企业传输率 enterprises": 1,
                      "运维单位传输率 operators": 1, "超标 exceedances": 1, "报警 alarms": 1,
                      "合规问题 findings": 1}  # fmt: skip
    pdf = render_periodic_pdf(f)
    assert pdf.startswith(b"%PDF") and render_periodic_pdf(f) == pdf
    text = "".join(page_texts(pdf))
    for shown in ("污染源自动监控月报", "2026年9月", "全平台", str(f.headline.effective_rate), "28.00", "SX-20.3-7D",
                  MN_A, "第 1 页"):  # fmt: skip
        assert shown in text, shown
    # the charts are drawn (their titles exist only in the drawings)
    assert "有效传输率（按企业，%）" in text and "超标设备小时（按因子）" in text and "报警（按类型）" in text


# --- store and schedule -------------------------------------------------------------------------------
def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_generate_stores_records_and_logs(engine: Engine, settings: Settings) -> None:
    w = build_world(engine)
    blobs = BlobStore.from_settings(settings)
    row = generate(engine, settings, blobs, SEPT, ReportScope("enterprise", str(w.jia)), trigger="demand",
                   by="tester", now=NOW)  # fmt: skip
    assert (row["period_kind"], row["first_day"], row["scope_kind"], row["scope_ref"]) == (
        "month",
        date(2026, 9, 1),
        "enterprise",
        str(w.jia),
    )
    assert row["figures"]["headline"]["exceedances"] == 1 and row["generated_by"] == "tester"
    assert blobs.get(row["xlsx_sha256"]).startswith(b"PK") and blobs.get(row["pdf_sha256"]).startswith(
        b"%PDF"
    )
    with engine.connect() as conn:
        purposes = conn.execute(select(blob_records.c.sha256, blob_records.c.purpose)).all()
        logged = (
            conn.execute(select(evidence_entries.c.ref).where(evidence_entries.c.kind == "report_file"))
            .scalars()
            .all()
        )
    assert {(row["xlsx_sha256"], "report"), (row["pdf_sha256"], "report")} <= set(purposes)
    assert logged == [f"report_files/{row['id']}"]
    again = generate(engine, settings, blobs, SEPT, ReportScope("enterprise", str(w.jia)), trigger="demand",
                     by="tester", now=NOW + timedelta(hours=1))  # fmt: skip
    assert again["xlsx_sha256"] == row["xlsx_sha256"] and again["pdf_sha256"] == row["pdf_sha256"]
    with engine.connect() as conn:
        assert [r["id"] for r in list_reports(conn)] == [again["id"], row["id"]]
    with pytest.raises(InvalidInput, match="has not begun yet"):
        generate(engine, settings, blobs, parse_period("year", "2027"), ReportScope("all"), trigger="demand",
                 by="tester", now=NOW)  # fmt: skip


def test_schedule_makes_what_is_due_once(engine: Engine, settings: Settings) -> None:
    build_world(engine)
    scheduled = settings.model_copy(
        update={"report_schedule": ["month", "day"], "report_schedule_regions": 4}
    )
    blobs = BlobStore.from_settings(scheduled)
    at = china(10, 1, 1)  # September just ended; the last whole day is 09-30
    with engine.connect() as conn:
        due = due_reports(conn, scheduled, at)
    assert [(p.kind, p.label, s.label) for p, s in due] == [
        ("day", "2026-09-30", "all"), ("day", "2026-09-30", "region-3301"), ("day", "2026-09-30", "region-4401"),
        ("month", "2026-09", "all"), ("month", "2026-09", "region-3301"), ("month", "2026-09", "region-4401"),
    ]  # fmt: skip
    summary = schedule_round(engine, scheduled, blobs, at)
    assert summary is not None and summary.startswith("periodic reports made: 6")
    assert _count(engine, report_files) == 6
    assert schedule_round(engine, scheduled, blobs, at + timedelta(hours=1)) is None  # idempotent
    with engine.connect() as conn:
        assert {r["trigger"] for r in list_reports(conn)} == {"schedule"}
    # the next day only the day reports are due again
    nxt = schedule_round(engine, scheduled, blobs, china(10, 2, 1))
    assert nxt is not None and nxt.startswith("periodic reports made: 3")
    off = scheduled.model_copy(update={"report_schedule": [], "report_schedule_regions": 0})
    assert schedule_round(engine, off, blobs, china(11, 2, 1)) is None
