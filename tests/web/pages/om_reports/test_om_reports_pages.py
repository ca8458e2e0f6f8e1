"""The self-inspection report pages over HTTP: the grid per role with its badges, the submit form and its
refusals (values kept, nothing stored), a submission's page and files, previews, forged and outside requests."""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from envwatch.core.clock import utcnow
from envwatch.operations.ledger_schema import self_inspection_reports
from envwatch.reports.quarters import quarter_containing
from tests.web.pages.conftest import row_count
from tests.web.pages.om_reports.conftest import ReportWorld, as_user

PAGE = "/om/self-inspection"


def _rows(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'<tr data-enterprise="(\d+)"', html)}


def _cell(html: str, enterprise: int, label: str) -> str:
    row = re.search(rf'<tr data-enterprise="{enterprise}">.*?</tr>', html, re.S)
    assert row is not None
    cell = re.search(rf'<td data-label="{label}" data-quarter="{label}" data-state="(\w+)">', row.group(0))
    assert cell is not None
    return cell.group(1)


@pytest.mark.parametrize(
    ("user", "seen", "form"),
    [
        ("admin1", {"jia", "yi"}, True),
        ("reg_zj", {"jia"}, False),
        ("ent_a", {"jia"}, True),
        ("ent_b", {"yi"}, True),
        ("op_a", {"jia"}, True),
        ("fs_a", {"jia"}, False),
    ],
)
def test_the_grid_follows_the_scope(
    client: TestClient, report_world: ReportWorld, user: str, seen: set[str], form: bool
) -> None:
    as_user(client, user)
    html = client.get(PAGE).text
    ids = {"jia": report_world.jia, "yi": report_world.yi}
    assert _rows(html) == {ids[k] for k in seen}
    assert ('id="submit-form"' in html) == form
    assert html.count('<th scope="col" data-quarter=') == 4


def test_badges_and_links(client: TestClient, report_world: ReportWorld) -> None:
    as_user(client, "admin1")
    html = client.get(PAGE).text
    last, running = report_world.last.label, quarter_containing(utcnow()).label
    assert _cell(html, report_world.jia, last) in ("submitted", "submitted_late")
    assert _cell(html, report_world.yi, last) in ("due", "overdue")
    assert _cell(html, report_world.jia, running) == "not_due_yet"
    assert f'href="/om/self-inspection/{report_world.report_a}"' in html
    assert f"/om/self-inspection/preview.pdf?enterprise_id={report_world.jia}&amp;year=" in html
    older = client.get(PAGE, params={"year": 2025, "quarter": 1}).text
    assert _cell(older, report_world.yi, "2024Q2") == "overdue" and "2025Q1" in older
    assert client.get(PAGE, params={"year": 2025}).status_code == 422
    assert client.get(PAGE, params={"year": "x", "quarter": 1}).status_code == 422


def test_a_submission_page_and_its_files(client: TestClient, report_world: ReportWorld) -> None:
    as_user(client, "reg_zj")
    html = client.get(f"{PAGE}/{report_world.report_a}").text
    assert "甲化工有限公司" in html and "ent_a" in html and "甲的自查" in html
    shas = re.findall(r'<code class="sha">([0-9a-f]{64})</code>', html)
    pdf = client.get(f"{PAGE}/{report_world.report_a}/pdf")
    xlsx = client.get(f"{PAGE}/{report_world.report_a}/xlsx")
    assert pdf.content.startswith(b"%PDF") and shas == [
        hashlib.sha256(pdf.content).hexdigest(),
        hashlib.sha256(xlsx.content).hexdigest(),
    ]
    assert client.get(f"{PAGE}/999999").status_code == 404


def test_outsiders_get_not_found(client: TestClient, report_world: ReportWorld) -> None:
    as_user(client, "ent_b")
    for url in (f"{PAGE}/{report_world.report_a}", f"{PAGE}/{report_world.report_a}/pdf"):
        r = client.get(url)
        assert r.status_code == 404 and "no self-inspection report with id" in r.text
    q = report_world.last
    preview = client.get(f"{PAGE}/preview.pdf", params={"enterprise_id": report_world.jia, "year": q.year,
                                                        "quarter": q.quarter})  # fmt: skip
    assert preview.status_code == 404
    own = client.get(f"{PAGE}/preview.xlsx", params={"enterprise_id": report_world.yi, "year": q.year,
                                                     "quarter": q.quarter})  # fmt: skip
    assert own.status_code == 200 and own.content.startswith(b"PK")
    assert client.get(f"{PAGE}/preview.pdf", params={"enterprise_id": report_world.yi}).status_code == 422


def test_submit_through_the_form(client: TestClient, report_world: ReportWorld) -> None:
    token = as_user(client, "op_a")
    before = row_count(report_world.engine, self_inspection_reports)
    earlier = report_world.last.previous()
    form = {
        "csrf_token": token,
        "enterprise_id": str(report_world.jia),
        "quarter": earlier.label,
        "note": "补交",
    }
    r = client.post(PAGE, data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert "The report was generated and submitted." in page and "op_a" in page and "补交" in page
    assert row_count(report_world.engine, self_inspection_reports) == before + 1
    running = quarter_containing(utcnow())
    refused = client.post(PAGE, data={**form, "quarter": running.label, "note": "太早"})
    assert refused.status_code == 422 and f"quarter {running.label} is not over yet" in refused.text
    assert "The report was not submitted:" in refused.text and "太早" in refused.text
    bad = client.post(PAGE, data={**form, "quarter": "soon"})
    assert bad.status_code == 422 and "choose a quarter such as 2026Q1, not &#39;soon&#39;" in bad.text
    assert client.post(PAGE, data={**form, "enterprise_id": str(report_world.yi)}).status_code == 404
    assert client.post(PAGE, data={**form, "csrf_token": "forged"}).status_code == 403
    assert row_count(report_world.engine, self_inspection_reports) == before + 1


def test_readers_may_not_submit(client: TestClient, report_world: ReportWorld) -> None:
    for user in ("reg_zj", "fs_a"):
        token = as_user(client, user)
        form = {
            "csrf_token": token,
            "enterprise_id": str(report_world.jia),
            "quarter": report_world.last.label,
        }
        r = client.post(PAGE, data=form)
        assert r.status_code == 403 and "may not submit quarterly self-inspection reports" in r.text, user
        assert client.post(PAGE, data={**form, "enterprise_id": ""}).status_code == 403
