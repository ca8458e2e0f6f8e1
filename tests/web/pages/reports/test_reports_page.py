"""The reports page and the monthly outlet workbook over HTTP: what each role is offered, the download,
and the scope (another enterprise's outlet 404, a month ahead 422, an auditor outside its period 403)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta

import openpyxl
import pytest
from fastapi.testclient import TestClient

from envwatch.core.clock import to_china
from envwatch.reports.outlet_month_xlsx import DAILY_SHEET
from envwatch.web.app import create_app
from envwatch.web.pages.reports_page import attachment
from tests.reports.month_world import CALIBRATION_DAY, CALIBRATION_HOUR, SO2, day_value
from tests.web.pages.reports.conftest import ReportsWorld
from tests.web.pages.test_pages import login

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def client(reports_world: ReportsWorld) -> Iterator[TestClient]:
    # English: the new strings reach the Chinese catalog only when the area's translations are merged
    with TestClient(create_app(reports_world.settings, reports_world.engine), cookies={"lang": "en"}) as c:
        yield c


def _url(world: ReportsWorld, outlet: int | None = None, month: str | None = None) -> str:
    return f"/reports/outlet-month.xlsx?outlet={outlet or world.outlet_a}&month={month or f'{world.last_month:%Y-%m}'}"


def test_the_page_offers_only_visible_outlets_and_defaults_to_last_month(
    client: TestClient, reports_world: ReportsWorld
) -> None:
    login(client, "ent_a")
    r = client.get("/reports")
    assert r.status_code == 200
    html = r.text
    assert f'<option value="{reports_world.outlet_a}"' in html and "甲化工有限公司" in html
    assert f'<option value="{reports_world.outlet_b}"' not in html and "乙热电有限公司" not in html
    month = f"{reports_world.last_month:%Y-%m}"
    assert f'<option value="{month}" selected>' in html
    this_month = f"{to_china(reports_world.now):%Y-%m}"
    assert f'value="{this_month}"' in html  # this month so far may be asked for; no later one is offered
    assert 'action="/rates.xlsx"' in html and 'href="/rates"' in html
    assert "/admin/registry/export" not in html  # not for an enterprise


def test_the_admin_sees_every_outlet_the_filter_and_the_registry_export(
    client: TestClient, reports_world: ReportsWorld
) -> None:
    login(client, "admin1")
    html = client.get("/reports").text
    assert f'<option value="{reports_world.outlet_b}"' in html and 'href="/admin/registry/export"' in html
    html = client.get("/reports?q=乙热").text
    assert f'<option value="{reports_world.outlet_b}"' in html
    assert f'<option value="{reports_world.outlet_a}"' not in html
    assert 'id="no-outlets"' in client.get("/reports?q=nothing-like-this").text


def test_the_enterprise_user_downloads_its_monthly_report(
    client: TestClient, reports_world: ReportsWorld
) -> None:
    login(client, "ent_a")
    r = client.get(_url(reports_world))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    name = f"{reports_world.credit_code_a}-DA001-{reports_world.last_month:%Y-%m}.xlsx"
    assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == [DAILY_SHEET, f"小时 {SO2}"]
    hours = {
        row[0].value: row
        for row in book[f"小时 {SO2}"].iter_rows(min_row=11)
        if isinstance(row[0].value, datetime)
    }
    month = reports_world.last_month
    calibrated = hours[datetime(month.year, month.month, CALIBRATION_DAY, CALIBRATION_HOUR)]
    assert calibrated[3].value == "无效 invalid" and "数据标识C" in calibrated[4].value
    assert hours[datetime(month.year, month.month, 7, 0)][1].value == float(day_value(7))


def test_another_enterprises_outlet_is_not_found(client: TestClient, reports_world: ReportsWorld) -> None:
    login(client, "ent_b")
    assert client.get(_url(reports_world)).status_code == 404
    assert client.get(f"/reports?outlet={reports_world.outlet_a}").status_code == 404
    assert client.get(_url(reports_world, outlet=999999)).status_code == 404  # the same as a missing one
    assert client.get(_url(reports_world, outlet=reports_world.outlet_b)).status_code == 200


def test_a_month_ahead_or_unreadable_is_422_with_the_message_in_the_page(
    client: TestClient, reports_world: ReportsWorld
) -> None:
    login(client, "ent_a")
    ahead = (to_china(reports_world.now).date().replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    r = client.get(_url(reports_world, month=ahead))
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert 'id="outlet-month-error"' in r.text and "has not begun yet" in r.text and ahead in r.text
    for bad in ("2026-13", "last", "2026-1"):
        r = client.get(_url(reports_world, month=bad))
        assert r.status_code == 422 and "is not a month such as" in r.text
    r = client.get("/reports/outlet-month.xlsx?outlet=abc&month=2025-01")
    assert r.status_code == 422 and "is not an outlet number" in r.text
    assert client.get(f"/reports?month={ahead}").status_code == 422


def test_an_auditor_reads_inside_its_period_only(client: TestClient, reports_world: ReportsWorld) -> None:
    login(client, "aud_old")
    r = client.get(_url(reports_world))
    assert r.status_code == 403 and "2025-01-01..2025-01-31" in r.text
    html = client.get("/reports").text
    assert (
        '<option value="2025-01" selected>' in html
        and f'value="{reports_world.last_month:%Y-%m}"' not in html
    )
    client.cookies.clear()
    login(client, "aud_now")
    r = client.get(_url(reports_world))
    assert r.status_code == 200
    daily = openpyxl.load_workbook(io.BytesIO(r.content))[DAILY_SHEET]
    days = [row[0].value.day for row in daily.iter_rows(min_row=12) if isinstance(row[0].value, datetime)]
    assert days[0] == 10  # the period starts on the 10th: the days before it are left out


def test_non_ascii_file_names_get_an_rfc_5987_name() -> None:
    assert attachment("a-DA001-2026-10.xlsx") == 'attachment; filename="a-DA001-2026-10.xlsx"'
    assert attachment("a-废气1#-2026-10.xlsx") == (
        "attachment; filename=\"a-__1_-2026-10.xlsx\"; filename*=UTF-8''a-%E5%BA%9F%E6%B0%941%23-2026-10.xlsx"
    )


def test_the_pages_need_a_login(client: TestClient) -> None:
    for path in ("/reports", "/reports/outlet-month.xlsx?outlet=1&month=2025-01"):
        assert client.get(path, follow_redirects=False).status_code == 303
