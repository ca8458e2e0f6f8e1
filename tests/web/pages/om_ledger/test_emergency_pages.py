"""The emergency plan and drill pages over HTTP (CS-4.2.3): the year's status and the plans per event type, the
overview of several operators, plans and drills (with files) through the forms, the drill page with its
attachments, and the refusals."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from envwatch.operations.ledger_schema import drills, emergency_plans
from envwatch.registry.schema import attachments
from tests.web.pages.conftest import row_count
from tests.web.pages.om_ledger.conftest import MAX_BYTES, LedgerWorld, as_user


def test_the_operators_year(client: TestClient, ledger_world: LedgerWorld) -> None:
    as_user(client, "op_a")
    html = client.get("/om/emergency").text
    year = ledger_world.today.year
    assert 'id="drill-status" data-met="1"' in html
    assert f"CS-4.2.3 met: at least 1 drill held in {year}." in html
    assert f'data-drill="{ledger_world.ids["drill"]}"' in html
    plans = html.split('id="plans"')[1].split("</table>")[0]
    assert re.search(r'<tr data-type="power_outage">.*?停电应急预案.*?V1\.0', plans, re.S)
    assert '<tr data-type="device_failure" class="over" data-missing="1">' in plans
    assert '<tr data-type="other">' in plans  # the catch-all is never missing
    assert re.search(r'id="n-missing">6<', html)  # seven named types, one with a plan
    assert 'id="drill-form"' in html and 'id="plan-form"' in html
    last_year = client.get(f"/om/emergency?year={year - 1}").text
    assert 'data-met="0"' in last_year and f"CS-4.2.3 not met: no drill held in {year - 1}." in last_year
    assert 'id="no-drills"' in last_year
    r = client.get("/om/emergency?year=abc")
    assert r.status_code == 422 and "The filter is not valid: year=abc" in r.text
    # readers who do not record see no forms
    as_user(client, "aud_a")
    html = client.get("/om/emergency").text
    assert 'data-met="1"' in html and 'id="drill-form"' not in html and 'id="plan-form"' not in html


def test_several_operators_get_an_overview(client: TestClient, ledger_world: LedgerWorld) -> None:
    a, b = ledger_world.operators["a"], ledger_world.operators["b"]
    as_user(client, "admin1")
    html = client.get("/om/emergency").text
    assert f'<tr data-operator="{a}" data-met="1">' in html
    assert f'<tr data-operator="{b}" data-met="0" class="over">' in html
    detail = client.get(f"/om/emergency?operator={b}").text
    assert 'id="drill-status" data-met="0"' in detail and 'id="plan-form"' in detail
    assert 'id="drill-form"' not in detail  # no plan yet to hold a drill under
    # a regulator reading one operator goes straight to it
    as_user(client, "reg_gd")
    html = client.get("/om/emergency").text
    assert 'id="drill-status" data-met="0"' in html and 'id="overview"' not in html
    assert client.get(f"/om/emergency?operator={a}").status_code == 404


def test_a_plan_and_its_revision_through_the_form(client: TestClient, ledger_world: LedgerWorld) -> None:
    token = as_user(client, "op_b")
    form = {
        "csrf_token": token, "event_type": "network_outage", "title": "断网应急预案", "version": "V1",
        "effective_on": ledger_world.today.isoformat(), "body": "启用4G备份链路\n补传数据",
    }  # fmt: skip
    b = ledger_world.operators["b"]
    r = client.post("/om/emergency/plans", data=form)
    assert r.status_code == 303 and r.headers["location"] == f"/om/emergency?operator={b}&done=plan"
    before = row_count(ledger_world.engine, emergency_plans)
    again = client.post("/om/emergency/plans", data=form)
    assert again.status_code == 409
    assert "The plan was not recorded: operator" in again.text and "already has version V1" in again.text
    assert "启用4G备份链路\n补传数据</textarea>" in again.text
    future = (ledger_world.today + timedelta(days=1)).isoformat()
    r = client.post("/om/emergency/plans", data=form | {"version": "V2", "effective_on": future})
    assert r.status_code == 422 and "is in the future" in r.text
    assert row_count(ledger_world.engine, emergency_plans) == before
    assert client.post("/om/emergency/plans", data=form | {"version": "V2"}).status_code == 303
    html = client.get("/om/emergency").text
    assert re.search(r'<tr data-type="network_outage">.*?V2', html, re.S) and 'id="history"' in html
    # a regulator reads, never records
    token = as_user(client, "reg_gd")
    r = client.post("/om/emergency/plans", data=form | {"csrf_token": token, "version": "V3"})
    assert r.status_code == 403
    assert row_count(ledger_world.engine, emergency_plans) == before + 1


def _drill_form(token: str, world: LedgerWorld, **changes: str) -> dict[str, str]:
    form = {"csrf_token": token, "plan_id": str(world.ids["plan"]), "held_on": world.today.isoformat()}
    return form | {"participants": "5", "summary": "断电演练：切换 UPS"} | changes


def test_a_drill_with_its_files_through_the_form(client: TestClient, ledger_world: LedgerWorld) -> None:
    token = as_user(client, "fs_a")
    files = [
        ("files", ("现场.jpg", b"\xff\xd8photo", "image/jpeg")),
        ("files", ("签到.pdf", b"%PDF-1", "application/pdf")),
    ]
    r = client.post("/om/emergency/drills", data=_drill_form(token, ledger_world), files=files)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    assert re.fullmatch(r"/om/emergency/drills/\d+\?done=drill", url)
    page = client.get(url).text
    assert "The drill was recorded." in page and "断电演练：切换 UPS" in page
    links = re.findall(r'<a href="(/om/emergency/drills/\d+/attachments/\d+)" download>([^<]+)</a>', page)
    assert [name for _, name in links] == ["现场.jpg", "签到.pdf"]
    got = client.get(links[1][0])
    assert (got.status_code, got.content) == (200, b"%PDF-1")
    # refusals: nothing stored, values kept
    counts = (row_count(ledger_world.engine, drills), row_count(ledger_world.engine, attachments))
    future = (ledger_world.today + timedelta(days=1)).isoformat()
    r = client.post(
        "/om/emergency/drills", data=_drill_form(token, ledger_world, held_on=future), files=files
    )
    assert r.status_code == 422 and "The drill was not recorded: the drill day" in r.text
    assert "断电演练：切换 UPS</textarea>" in r.text
    r = client.post("/om/emergency/drills", data=_drill_form(token, ledger_world, participants="many"))
    assert r.status_code == 422 and "the number of participants must be a whole number" in r.text
    big = [("files", ("big.bin", b"x" * (MAX_BYTES + 1), "application/octet-stream"))]
    r = client.post("/om/emergency/drills", data=_drill_form(token, ledger_world), files=big)
    assert r.status_code == 413 and f"larger than the limit of {MAX_BYTES} bytes" in r.text
    assert (row_count(ledger_world.engine, drills), row_count(ledger_world.engine, attachments)) == counts
    # another operator's plan is not there; a reader may not record
    token = as_user(client, "op_b")
    assert client.post("/om/emergency/drills", data=_drill_form(token, ledger_world)).status_code == 404
    token = as_user(client, "aud_a")
    assert client.post("/om/emergency/drills", data=_drill_form(token, ledger_world)).status_code == 403
    assert (row_count(ledger_world.engine, drills), row_count(ledger_world.engine, attachments)) == counts


def test_the_drill_page_and_its_attachments(client: TestClient, ledger_world: LedgerWorld) -> None:
    drill, sheet = ledger_world.ids["drill"], ledger_world.ids["sheet"]
    token = as_user(client, "op_a")
    page = client.get(f"/om/emergency/drills/{drill}").text
    assert (
        "模拟停电，UPS 切换正常。" in page
        and f'data-attachment="{sheet}"' in page
        and 'id="attachment-form"' in page
    )
    got = client.get(f"/om/emergency/drills/{drill}/attachments/{sheet}")
    assert got.status_code == 200 and got.content == b"sign-in"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/om/emergency/drills/{drill}/attachments/999999").status_code == 404
    url = f"/om/emergency/drills/{drill}/attachments"
    r = client.post(url, data={"csrf_token": token}, files={"file": ("照片.jpg", b"\xff\xd8x", "image/jpeg")})
    assert r.status_code == 303 and r.headers["location"] == f"/om/emergency/drills/{drill}?done=attach"
    assert "照片.jpg" in client.get(f"/om/emergency/drills/{drill}").text
    r = client.post(
        url, data={"csrf_token": token}, files={"file": ("big.bin", b"x" * (MAX_BYTES + 1), "x/y")}
    )
    assert r.status_code == 413 and "The attachment was not saved: the file is over the limit" in r.text
    r = client.post(url, data={"csrf_token": token})
    assert r.status_code == 422 and "choose a file to upload" in r.text
    assert client.post(url, files={"file": ("a.txt", b"a", "text/plain")}).status_code == 403  # no CSRF token
    for user, status in (("op_b", 404), ("reg_gd", 404), ("aud_a", 403), ("reg_zj", 403)):
        token = as_user(client, user)
        r = client.post(url, data={"csrf_token": token}, files={"file": ("a.txt", b"a", "text/plain")})
        assert r.status_code == status, user
    for user in ("op_b", "reg_gd"):
        as_user(client, user)
        assert client.get(f"/om/emergency/drills/{drill}").status_code == 404
        assert client.get(f"/om/emergency/drills/{drill}/attachments/{sheet}").status_code == 404
    as_user(client, "reg_zj")  # a regulator of the region reads the record and its files
    page = client.get(f"/om/emergency/drills/{drill}").text
    assert f'data-attachment="{sheet}"' in page and 'id="attachment-form"' not in page
