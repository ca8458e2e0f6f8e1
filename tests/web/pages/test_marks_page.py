"""The marks page over HTTP: a mark made through the form is listed and decides the device page's hour;
correction, withdrawal and review; errors of the services shown in the form; CSRF; scope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from envwatch.core.clock import to_china, utcnow
from envwatch.web.app import create_app
from tests.web.pages.conftest import MN_A, MN_B, SO2, World
from tests.web.pages.test_pages import login


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, world.engine)) as c:
        yield c


def _local(hours_ago: int) -> str:
    """A whole hour ``hours_ago`` before now, as a datetime-local value in China time."""
    hour = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    return to_china(hour).strftime("%Y-%m-%dT%H:%M")


def _token(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/marks").text)
    assert found is not None
    return found.group(1)


def _mark_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-mark="(\d+)"', html)]


def _hour_row(html: str, start_local: str) -> str:
    """The device page's hour-table row of the hour starting at ``start_local`` (China time)."""
    shown = start_local.replace("T", " ") + ":00"
    rows = re.findall(r'<tr data-start="[^"]+" data-outcome="\w+">.*?</tr>', html, re.S)
    return str(next(r for r in rows if f"<time>{shown}</time>" in r))


def test_a_mark_made_in_the_form_decides_the_hour(client: TestClient) -> None:
    login(client, "ent_a")
    token = _token(client)
    start, end = _local(3), _local(2)  # a valid hour of the seeded data
    assert 'data-outcome="valid"' in _hour_row(client.get(f"/devices/{MN_A}").text, start)
    before = set(_mark_ids(client.get("/marks").text))
    form = {"csrf_token": token, "mn": MN_A, "factor": SO2, "code": "maintenance", "start": start, "end": end}
    r = client.post("/marks", data=form | {"reason": "更换紫外灯"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/marks"
    listing = client.get("/marks").text
    [mark_id] = set(_mark_ids(listing)) - before
    assert "更换紫外灯" in listing and "维护" in listing
    # the device page: the hour is now invalid because of the mark, and the mark is listed there
    page = client.get(f"/devices/{MN_A}").text
    row = _hour_row(page, start)
    assert 'data-outcome="invalid"' in row and f"标记{mark_id}" in row
    assert f'<tr data-mark="{mark_id}">' in page and "更换紫外灯" in page

    # correct it (a new version supersedes it), then withdraw the correction: the hour is valid again
    r = client.post(
        f"/marks/{mark_id}/supersede", data=form | {"reason": "更换紫外灯（更正）"}, follow_redirects=False
    )
    assert r.status_code == 303
    listing = client.get("/marks").text
    [new_id] = set(_mark_ids(listing)) - before
    assert new_id != mark_id and "更正" in listing
    history = client.get("/marks?superseded=1&mn=" + MN_A).text
    assert f'<tr data-mark="{mark_id}"' in history and "已更正" in history
    # the old version can no longer be corrected: the service's Conflict is shown in the form
    r = client.post(f"/marks/{mark_id}/withdraw", data={"csrf_token": token, "reason": "x"})
    assert r.status_code == 409 and "标记未撤销：" in r.text and f"superseded by mark {new_id}" in r.text
    r = client.post(
        f"/marks/{new_id}/withdraw", data={"csrf_token": token, "reason": "误标"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert new_id not in _mark_ids(client.get("/marks").text)
    assert 'data-outcome="valid"' in _hour_row(client.get(f"/devices/{MN_A}").text, start)


def test_service_errors_are_shown_in_the_form(client: TestClient) -> None:
    login(client, "ent_a")
    token = _token(client)
    bad = {"csrf_token": token, "mn": MN_A, "code": "maintenance", "start": _local(2), "end": _local(3)}
    r = client.post("/marks", data=bad | {"reason": "反了"})
    assert r.status_code == 422 and "标记未保存：" in r.text and "must be before its end" in r.text
    assert "反了" in r.text  # the form keeps what was typed
    r = client.post("/marks", data=bad | {"start": "", "reason": "x"})
    assert r.status_code == 422 and "start and end are required" in r.text
    r = client.post("/marks", data=bad | {"code": "nonsense", "end": _local(1), "reason": "x"})
    assert r.status_code == 422 and "unknown mark code" in r.text


def test_forms_need_the_csrf_token(client: TestClient) -> None:
    login(client, "ent_a")
    form = {"mn": MN_A, "code": "maintenance", "start": _local(3), "end": _local(2), "reason": "x"}
    assert client.post("/marks", data=form).status_code == 403
    assert client.post("/marks", data=form | {"csrf_token": "forged"}).status_code == 403
    assert client.post("/marks/1/withdraw", data={"reason": "x"}).status_code == 403
    assert client.post("/marks/1/review", data={"decision": "approved"}).status_code == 403


def test_scope_of_marks(client: TestClient) -> None:
    login(client, "ent_a")
    token = _token(client)
    form = {"csrf_token": token, "mn": MN_B, "code": "maintenance", "start": _local(3), "end": _local(2)}
    r = client.post("/marks", data=form | {"reason": "x"})
    assert r.status_code == 404  # another enterprise's device: as if it did not exist
    assert client.get(f"/marks?mn={MN_B}").status_code == 404
    page = client.get("/marks").text
    assert MN_B not in page and 'action="/marks"' in page  # the enterprise marks its own devices
    assert "/review" not in page  # … but does not review


def test_admin_reviews_a_shutdown_mark(client: TestClient) -> None:
    login(client, "admin1")
    token = _token(client)
    form = {"csrf_token": token, "mn": MN_B, "code": "shutdown", "start": _local(30), "end": _local(28)}
    assert (
        client.post("/marks", data=form | {"reason": "停炉检修"}, follow_redirects=False).status_code == 303
    )
    page = client.get(f"/marks?mn={MN_B}").text
    [mark_id] = _mark_ids(page)
    assert 'data-review="pending"' in page and "待审核" in page
    r = client.post(f"/marks/{mark_id}/review", data={"csrf_token": token, "decision": "rejected"})
    assert r.status_code == 422 and "审核未保存：" in r.text and "needs a note" in r.text
    r = client.post(
        f"/marks/{mark_id}/review", data={"csrf_token": token, "decision": "approved"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert 'data-review="approved"' in client.get(f"/marks?mn={MN_B}").text
