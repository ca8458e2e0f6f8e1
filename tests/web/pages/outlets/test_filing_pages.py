"""The filings pages over HTTP: list and filters, recording a filing, steps, attachments (upload, size
limit, download), the service's errors in the form, CSRF, and the scope (404 for another enterprise's
filing, 403 for a role that may not file)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.core.clock import to_china, utcnow
from envwatch.registry.schema import attachments, filing_steps, filings
from envwatch.web.app import create_app
from tests.web.pages.conftest import row_count
from tests.web.pages.outlets.conftest import MAX_BYTES, OutletWorld
from tests.web.pages.test_pages import login


@pytest.fixture
def client(outlet_world: OutletWorld) -> Iterator[TestClient]:
    # English: the new strings reach the Chinese catalog only when the area's translations are merged
    with TestClient(create_app(outlet_world.settings, outlet_world.engine), cookies={"lang": "en"}) as c:
        yield c


def _token(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/filings").text)
    assert found is not None
    return found.group(1)


def _local_now() -> str:
    return to_china(utcnow()).strftime("%Y-%m-%dT%H:%M")


def _filing_form(token: str, world: OutletWorld, **changes: str) -> dict[str, str]:
    with world.engine.connect() as conn:
        ent = conn.execute(select(filings.c.enterprise_id).where(filings.c.id == world.filing_a)).scalar_one()
    form = {
        "csrf_token": token, "kind": "major_change", "title": "更换烟气分析仪", "enterprise_id": str(ent),
        "outlet_id": str(world.outlet_gas_a), "device_id": "", "event_at": _local_now(), "notes": "",
    }  # fmt: skip
    return form | changes


def test_filings_list_follows_the_scope(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_a")
    html = client.get("/filings").text
    assert (
        f'data-filing="{outlet_world.filing_a}"' in html
        and f'data-filing="{outlet_world.filing_b}"' not in html
    )
    assert 'data-status="due"' in html and "DA001 锅炉排口" in html  # major change: due, outlet named
    assert 'href="/marks"' in html and 'id="stop-note"' in html  # stop reports are shutdown marks
    assert 'id="filing-form"' in html
    login(client, "ent_b")
    html = client.get("/filings").text
    assert (
        f'data-filing="{outlet_world.filing_b}"' in html
        and f'data-filing="{outlet_world.filing_a}"' not in html
    )
    login(client, "op_a")
    html = client.get("/filings").text
    assert f'data-filing="{outlet_world.filing_a}"' in html and 'id="filing-form"' not in html


def test_filings_filters(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "admin1")
    assert f'data-filing="{outlet_world.filing_b}"' in client.get("/filings?kind=filing").text
    html = client.get("/filings?kind=major_change").text
    assert (
        f'data-filing="{outlet_world.filing_a}"' in html
        and f'data-filing="{outlet_world.filing_b}"' not in html
    )
    html = client.get("/filings?status=none").text
    assert (
        f'data-filing="{outlet_world.filing_b}"' in html
        and f'data-filing="{outlet_world.filing_a}"' not in html
    )
    r = client.get("/filings?status=bogus")
    assert r.status_code == 422 and "The filter is not valid:" in r.text


def test_record_a_filing_then_a_step_and_an_attachment(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_a")
    token = _token(client)
    r = client.post("/filings", data=_filing_form(token, outlet_world), follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    filing_id = int(location.rsplit("/", 1)[1])
    page = client.get(location).text
    assert "更换烟气分析仪" in page and 'data-status="due"' in page and 'id="step-form"' in page
    # a step: reconnected meets the major change's deadline
    r = client.post(
        f"/filings/{filing_id}/steps",
        data={"csrf_token": token, "step": "reconnected", "done_at": _local_now(), "note": "已联网"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(location).text
    assert 'data-step="reconnected"' in page and "已联网" in page and 'data-status="met"' in page
    # an attachment, then its download through the API's checked read
    r = client.post(
        f"/filings/{filing_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("验收报告.txt", b"report body", "text/plain")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(location).text
    found = re.search(rf'href="(/filings/{filing_id}/attachments/\d+)"', page)
    assert found is not None and "验收报告.txt" in page
    got = client.get(found.group(1))
    assert got.status_code == 200 and got.content == b"report body"
    assert got.headers["content-disposition"].startswith("attachment;")


def test_a_too_large_attachment_is_refused_in_the_form(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_a")
    token = _token(client)
    before = row_count(outlet_world.engine, attachments)
    r = client.post(
        f"/filings/{outlet_world.filing_a}/attachments",
        data={"csrf_token": token},
        files={"file": ("big.bin", b"x" * (MAX_BYTES + 1), "application/octet-stream")},
    )
    assert r.status_code == 413 and f"larger than the limit of {MAX_BYTES} bytes" in r.text
    assert 'id="attachment-form"' in r.text  # shown on the filing page, with the form
    # far over the limit: refused from the declared length, before the body is parsed
    r = client.post(
        f"/filings/{outlet_world.filing_a}/attachments",
        data={"csrf_token": token},
        files={"file": ("huge.bin", b"x" * (MAX_BYTES + 64 * 1024), "application/octet-stream")},
    )
    assert r.status_code == 413
    r = client.post(f"/filings/{outlet_world.filing_a}/attachments", data={"csrf_token": token}, files={})
    assert r.status_code in (400, 422)
    assert row_count(outlet_world.engine, attachments) == before


def test_a_bad_filing_shows_the_service_error_and_stores_nothing(
    client: TestClient, outlet_world: OutletWorld
) -> None:
    login(client, "ent_a")
    token = _token(client)
    before = row_count(outlet_world.engine, filings)
    bad = _filing_form(token, outlet_world, kind="gas_core_part", outlet_id=str(outlet_world.outlet_water_a))
    r = client.post("/filings", data=bad)
    assert r.status_code == 422
    assert "The filing was not saved:" in r.text and "gas" in r.text and 'role="alert"' in r.text
    assert 'value="更换烟气分析仪"' in r.text  # what was typed comes back
    r = client.post("/filings", data=_filing_form(token, outlet_world, event_at="yesterday"))
    assert r.status_code == 422 and "event_at" in r.text
    r = client.post("/filings", data=_filing_form(token, outlet_world, title=""))
    assert r.status_code == 422
    assert row_count(outlet_world.engine, filings) == before


def test_a_bad_step_shows_the_service_error(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_a")
    token = _token(client)
    before = row_count(outlet_world.engine, filing_steps)
    r = client.post(
        f"/filings/{outlet_world.filing_a}/steps",
        data={"csrf_token": token, "step": "filed", "done_at": "2099-01-01T00:00", "note": ""},
    )
    assert r.status_code == 422 and "The step was not saved:" in r.text and "in the future" in r.text
    assert row_count(outlet_world.engine, filing_steps) == before


def _add_step_and_file(client: TestClient, token: str, filing_id: int) -> tuple[int, int]:
    """The statuses of adding a step to the filing and of uploading a file to it."""
    step = client.post(
        f"/filings/{filing_id}/steps", data={"csrf_token": token, "step": "filed", "done_at": _local_now()}
    )
    upload = client.post(
        f"/filings/{filing_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("x.txt", b"x", "text/plain")},
    )
    return step.status_code, upload.status_code


def test_another_enterprise_gets_404_everywhere(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_b")
    token = _token(client)
    theirs, missing = client.get(f"/filings/{outlet_world.filing_a}"), client.get("/filings/999999")
    assert theirs.status_code == missing.status_code == 404 and "甲锅炉排口重大变更" not in theirs.text
    engine = outlet_world.engine
    steps, files = row_count(engine, filing_steps), row_count(engine, attachments)
    assert _add_step_and_file(client, token, outlet_world.filing_a) == (404, 404)
    assert client.get(f"/filings/{outlet_world.filing_a}/attachments/1").status_code == 404
    # recording a filing on 甲's outlet: 404, as if it did not exist
    r = client.post("/filings", data=_filing_form(token, outlet_world))
    assert r.status_code == 404
    assert (row_count(engine, filing_steps), row_count(engine, attachments)) == (steps, files)


@pytest.mark.parametrize("user", ["op_a", "reg_zj"])
def test_readers_may_not_file(client: TestClient, outlet_world: OutletWorld, user: str) -> None:
    login(client, user)
    token = _token(client)
    before = row_count(outlet_world.engine, filings), row_count(outlet_world.engine, filing_steps)
    page = client.get(f"/filings/{outlet_world.filing_a}")
    assert (
        page.status_code == 200
        and 'id="step-form"' not in page.text
        and 'id="attachment-form"' not in page.text
    )
    assert client.post("/filings", data=_filing_form(token, outlet_world)).status_code == 403
    assert _add_step_and_file(client, token, outlet_world.filing_a) == (403, 403)
    assert (row_count(outlet_world.engine, filings), row_count(outlet_world.engine, filing_steps)) == before


def test_csrf_is_required(client: TestClient, outlet_world: OutletWorld) -> None:
    login(client, "ent_a")
    token = _token(client)
    before = (
        row_count(outlet_world.engine, filings),
        row_count(outlet_world.engine, filing_steps),
        row_count(outlet_world.engine, attachments),
    )
    form = _filing_form(token, outlet_world)
    del form["csrf_token"]
    assert client.post("/filings", data=form).status_code == 403
    r = client.post(
        f"/filings/{outlet_world.filing_a}/steps", data={"step": "filed", "done_at": _local_now()}
    )
    assert r.status_code == 403
    r = client.post(
        f"/filings/{outlet_world.filing_a}/attachments",
        data={"csrf_token": "wrong"},
        files={"file": ("x.txt", b"x", "text/plain")},
    )
    assert r.status_code == 403
    after = (
        row_count(outlet_world.engine, filings),
        row_count(outlet_world.engine, filing_steps),
        row_count(outlet_world.engine, attachments),
    )
    assert after == before
