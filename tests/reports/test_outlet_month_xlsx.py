"""The monthly outlet report (排放口月报): data gathered over real stores, written and read back with openpyxl."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.registry import service, service_limits
from envwatch.registry.models import EmissionLimitIn, EnterpriseIn, credit_code_check_char
from envwatch.reports.outlet_month import gather_outlet_month
from envwatch.reports.outlet_month_xlsx import DAILY_SHEET, NOTE, write_outlet_month
from tests.helpers import NOW
from tests.reports.month_world import (
    ABOVE_DAY,
    CALIBRATION_DAY,
    CALIBRATION_HOUR,
    MARKED_DAY,
    MARKED_HOUR,
    NOX,
    SO2,
    add_month,
    add_outlet,
    day_value,
    register,
)

MONTH = date(2026, 10, 1)  # NOW is 2026-11-22: the whole month is over
MN = "010000A8900016F0003A0001"
FIRST_ROW = 12  # daily sheet: nine header-block rows, the group row, the column row


def _credit_code() -> str:
    first17 = "91330102000000001"
    return first17 + credit_code_check_char(first17)


def _outlet(engine: Engine, mns: list[str], factors: tuple[str, ...] = (SO2,)) -> int:
    ids = register(engine, mns, NOW)
    with engine.begin() as conn:
        ent = service.create_enterprise(
            conn, EnterpriseIn(name="甲化工有限公司", credit_code=_credit_code(), region_code="330102"), NOW
        )
        outlet = add_outlet(conn, ent["id"], mns, NOW, factors=factors)
        for mn in mns:
            add_month(conn, ids[mn], MONTH, factors=factors)
    return outlet


def _book(engine: Engine, settings: Settings, outlet: int) -> openpyxl.Workbook:
    stream = io.BytesIO()
    with engine.connect() as conn:
        write_outlet_month(stream, gather_outlet_month(conn, settings, outlet, MONTH, NOW))
    stream.seek(0)
    return openpyxl.load_workbook(stream)


def _label_values(sheet: openpyxl.worksheet.worksheet.Worksheet) -> dict[str, object]:
    return {str(row[0]): row[1] for row in sheet.iter_rows(min_row=2, max_row=8, max_col=2, values_only=True)}


def test_sheets_header_block_and_a_known_daily_value(engine: Engine, settings: Settings) -> None:
    book = _book(engine, settings, _outlet(engine, [MN]))
    assert book.sheetnames == [DAILY_SHEET, f"小时 {SO2}"]
    for sheet in book.worksheets:
        header = _label_values(sheet)
        assert header["企业 enterprise"] == "甲化工有限公司"
        assert header["统一社会信用代码 credit code"] == _credit_code()
        assert header["排放口 outlet"] == "DA001 锅炉排口"
        assert header["月份 month"] == "2026-10"
        assert header["生成时间 generated at (China time)"] == "2026-11-22 12:00:00"  # NOW is 04:00 UTC
        assert "标记规则" in str(header["数据来源 data source"])
        assert header["说明 note"] == NOTE and "执法" in NOTE
    daily = book[DAILY_SHEET]
    assert SO2 in str(daily.cell(FIRST_ROW - 2, 2).value)
    assert [c.value for c in daily[FIRST_ROW - 1]][:6] == [
        "日期 day", "日均值 daily value", "有效 valid", "有效小时数 valid hours", "日均限值 day limit", "超标 above",
    ]  # fmt: skip
    rows = {
        r[0].value.date(): r for r in daily.iter_rows(min_row=FIRST_ROW) if isinstance(r[0].value, datetime)
    }
    assert sorted(rows) == [date(2026, 10, d) for d in range(1, 32)]
    seventh = rows[date(2026, 10, 7)]
    assert seventh[1].value == float(day_value(7)) and seventh[1].number_format == "0.00"
    assert [c.value for c in seventh[2:6]] == ["有效 valid", 24, 30, "否 no"]
    # the calibration hour is invalid: 23 valid hours, the day still valid (≥ 20) and its mean unchanged
    fifth = rows[date(2026, 10, CALIBRATION_DAY)]
    assert (fifth[1].value, fifth[3].value) == (float(day_value(CALIBRATION_DAY)), 23)
    assert rows[date(2026, 10, ABOVE_DAY)][5].value == "是 yes"


def test_a_known_invalid_hour_with_its_chinese_reason_and_the_deciding_mark(
    engine: Engine, settings: Settings
) -> None:
    hours = _book(engine, settings, _outlet(engine, [MN]))[f"小时 {SO2}"]
    rows = {r[0].value: r for r in hours.iter_rows(min_row=11) if isinstance(r[0].value, datetime)}
    assert len(rows) == 31 * 24
    calibrated = [c.value for c in rows[datetime(2026, 10, CALIBRATION_DAY, CALIBRATION_HOUR)]]
    assert calibrated[1] == 99.1 and calibrated[3] == "无效 invalid"
    assert "数据标识C" in calibrated[4]  # the flag's reason, in Chinese
    assert calibrated[5] is None  # decided by the flag, no mark
    assert calibrated[6:] == [35, "是（数据无效）yes (not valid)"]  # above, but not an exceedance
    marked = [c.value for c in rows[datetime(2026, 10, MARKED_DAY, MARKED_HOUR)]]
    assert marked[3] == "无效 invalid" and "标记" in marked[4] and "maintenance" in marked[5]
    valid = [c.value for c in rows[datetime(2026, 10, 7, 0)]]
    assert valid[3] == "有效 valid" and valid[7] == "否 no"


def test_decimals_are_written_exactly(engine: Engine, settings: Settings) -> None:
    """The sheet XML holds the stored digits (12.50, 99.10), not a binary float's."""
    stream = io.BytesIO()
    outlet = _outlet(engine, [MN])
    with engine.connect() as conn:
        write_outlet_month(stream, gather_outlet_month(conn, settings, outlet, MONTH, NOW))
    with zipfile.ZipFile(stream) as archive:
        xml = "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/"))
    assert "<v>99.10</v>" in xml and "<v>12.50</v>" in xml
    assert "99.0999" not in xml and "12.4999" not in xml


def test_an_auditor_period_narrows_the_days(engine: Engine, settings: Settings) -> None:
    outlet = _outlet(engine, [MN])
    with engine.connect() as conn:
        data = gather_outlet_month(
            conn, settings, outlet, MONTH, NOW, days=(date(2026, 10, 10), date(2026, 10, 12))
        )
    [series] = data.series
    assert [d.day.day for d in series.days] == [10, 11, 12] and len(series.hours) == 72
    assert series.days[0].value == Decimal("31.50") and series.days[0].above is True


def test_a_month_for_a_ten_device_outlet_is_written_quickly(
    sqlite_engine: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ten devices, two rated factors each, a month of hour records: 20 hour sheets of 744 rows."""
    mns = [f"010000A8900016F0003B{n:04d}" for n in range(10)]
    outlet = _outlet(sqlite_engine, mns, factors=(SO2, NOX))
    started = time.perf_counter()
    book = _book(sqlite_engine, settings, outlet)
    took = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nmonthly outlet report, 10 devices x 2 factors x 744 hours: {took:.1f} s")
    assert len(book.sheetnames) == 21
    assert took < 60  # a generous bound for a loaded 2-core machine; see docs/web-reports.md for the figure


def test_converted_concentration_from_the_day_a_reference_o2_is_in_force(
    engine: Engine, settings: Settings
) -> None:
    """From the 15th a new limit row carries a reference O2 of 6 %: hours get 折算浓度 (O2 is 8 %), the
    hour limit is held against it."""
    outlet = _outlet(engine, [MN])
    with engine.begin() as conn:
        limit = EmissionLimitIn(
            factor=SO2, hour_limit=Decimal("35"), day_limit=Decimal("30"), unit="mg/m3", reference_o2=Decimal("6"),
            valid_from=date(2026, 10, 15), legal_source="GB 13223-2011 表1",
        )  # fmt: skip
        service_limits.add_emission_limit(conn, outlet, limit, NOW)
    hours = _book(engine, settings, outlet)[f"小时 {SO2}"]
    rows = {r[0].value: r for r in hours.iter_rows(min_row=11) if isinstance(r[0].value, datetime)}
    assert rows[datetime(2026, 10, 14, 0)][2].value is None
    converted = rows[datetime(2026, 10, 15, 0)][2]
    # 15.50 × (21 − 6) / (21 − 8) = 17.88…: shown with four decimals, stored with the service's digits
    assert converted.value == pytest.approx(15.5 * 15 / 13) and converted.number_format == "0.0000"
