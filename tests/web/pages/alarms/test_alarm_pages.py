"""The alarm pages over HTTP: the list (scope per role, filters, counts, paging), one alarm (cover sheet,
data links, journal with the values behind each detection, attachments), the actions the lifecycle table
allows (each moves the state and writes the journal), the errors in the form, CSRF, read-only roles (no
forms, a forged POST is 403), 404 for what is not visible, and both languages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select

from envwatch.alarms.orders import issue_order
from envwatch.alarms.schema import alarm_events, alarms
from envwatch.alarms.store import alarm_events_of, get_alarm
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.registry.schema import attachments, devices, outlets
from envwatch.web.accounts.schema import audit_log
from envwatch.web.app import create_app
from envwatch.web.pages.alarm_view import device_page_link
from tests.web.pages.alarms.conftest import MAX_BYTES, MN_A, MN_B, PAGED, SO2, AlarmWorld, fresh_alarm
from tests.web.pages.conftest import row_count
from tests.web.pages.test_pages import login


@pytest.fixture
def client(alarm_world: AlarmWorld) -> Iterator[TestClient]:
    # English: the new strings reach the Chinese catalog only when the area's translations are merged
    with TestClient(create_app(alarm_world.settings, alarm_world.engine), cookies={"lang": "en"}) as c:
        yield c


def _token(client: TestClient) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)


def _listed(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'data-alarm="(\d+)"', html)}


def _state(world: AlarmWorld, alarm_id: int) -> str:
    with world.engine.connect() as conn:
        return str(get_alarm(conn, alarm_id)["state"])


def _journal(world: AlarmWorld, alarm_id: int) -> list[tuple[str, str, str | None, str]]:
    with world.engine.connect() as conn:
        return [
            (e["event"], e["actor"], e["from_state"], e["to_state"]) for e in alarm_events_of(conn, alarm_id)
        ]


def _act(client: TestClient, token: str, alarm_id: int, event: str, **fields: str) -> httpx2.Response:
    return client.post(
        f"/alarms/{alarm_id}/actions",
        data={"csrf_token": token, "event": event, **fields},
        follow_redirects=False,
    )


# ---- the list ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "sees", "hidden"),
    [
        ("admin1", {"exceed_a", "offline_a", "unknown_a", "exceed_b"}, set()),
        ("ent_a", {"exceed_a", "offline_a", "unknown_a"}, {"exceed_b"}),
        ("op_a", {"exceed_a", "offline_a", "unknown_a"}, {"exceed_b"}),
        ("fs_a", {"exceed_a", "offline_a", "unknown_a"}, {"exceed_b"}),
        ("reg_zj", {"exceed_a", "offline_a", "unknown_a"}, {"exceed_b"}),
        ("ent_b", {"exceed_b"}, {"exceed_a", "offline_a", "unknown_a"}),
    ],
)
def test_each_role_lists_only_its_scope(
    client: TestClient, alarm_world: AlarmWorld, user: str, sees: set[str], hidden: set[str]
) -> None:
    login(client, user)
    r = client.get("/alarms?q=0009")  # both test devices' MNs contain it; fresh alarms of other tests too
    assert r.status_code == 200
    shown = _listed(r.text)
    assert {alarm_world.alarms[k] for k in sees} <= shown
    assert not {alarm_world.alarms[k] for k in hidden} & shown
    if "exceed_b" in hidden:
        assert MN_B not in r.text and "乙热电有限公司" not in r.text


def test_the_auditor_lists_the_alarms_of_its_period_only(client: TestClient, alarm_world: AlarmWorld) -> None:
    login(client, "aud_a")
    html = client.get("/alarms?state=all").text
    assert _listed(html) == {alarm_world.alarms["closed_a"]}
    assert client.get(f"/alarms/{alarm_world.alarms['exceed_a']}").status_code == 404  # today: outside
    page = client.get(f"/alarms/{alarm_world.alarms['closed_a']}")
    assert page.status_code == 200 and "分析仪采样管堵塞" in page.text


def test_a_role_without_a_scope_gets_403(client: TestClient, alarm_world: AlarmWorld) -> None:
    login(client, "agency1")
    assert client.get("/alarms").status_code == 403
    assert client.get(f"/alarms/{alarm_world.alarms['exceed_a']}").status_code == 403


def test_the_list_shows_the_alarm_in_words(client: TestClient, alarm_world: AlarmWorld) -> None:
    login(client, "admin1")
    html = client.get("/alarms").text
    row = re.search(rf'<tr data-alarm="{alarm_world.alarms["exceed_a"]}".*?</tr>', html, re.S)
    assert row is not None
    cells = row.group(0)
    assert "Exceedance" in cells and f"<code>{SO2}</code>" in cells and "sulphur dioxide" in cells
    assert "甲化工有限公司" in cells and MN_A in cells and "1号排口" in cells
    assert "50.5 / 35" in cells and "0.44 times over the limit" in cells
    assert re.search(r'class="num">2</td>', cells)  # detected twice
    opened = to_china(alarm_world.now - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert opened in cells  # China time
    offline = re.search(rf'<tr data-alarm="{alarm_world.alarms["offline_a"]}".*?</tr>', html, re.S)
    assert (
        offline is not None
        and "Device offline" in offline.group(0)
        and 'data-escalated="1"' in offline.group(0)
    )
    unknown = re.search(rf'<tr data-alarm="{alarm_world.alarms["unknown_a"]}".*?</tr>', html, re.S)
    assert unknown is not None and "<code>mystery_kind</code>" in unknown.group(0)


def test_the_list_is_newest_first_and_not_closed_by_default(
    client: TestClient, alarm_world: AlarmWorld
) -> None:
    login(client, "admin1")
    html = client.get("/alarms").text
    states = re.findall(r'<tr data-alarm="\d+" data-state="(\w+)"', html)
    assert states and "closed" not in states
    ids = [int(n) for n in re.findall(r'<tr data-alarm="(\d+)"', html)]
    with alarm_world.engine.connect() as conn:
        opened = dict(conn.execute(select(alarms.c.id, alarms.c.opened_at).where(alarms.c.id.in_(ids))).all())
    times = [opened[i] for i in ids]
    assert times == sorted(times, reverse=True)


def test_filters(client: TestClient, alarm_world: AlarmWorld) -> None:
    login(client, "admin1")
    w = alarm_world.alarms
    assert _listed(client.get("/alarms?state=closed&kind=constant").text) == {w["closed_a"]}
    offline = _listed(client.get("/alarms?kind=offline").text)
    assert w["offline_a"] in offline and w["exceed_a"] not in offline
    escalated = _listed(client.get("/alarms?escalated=1").text)
    assert w["offline_a"] in escalated and w["exceed_a"] not in escalated
    by_mn = _listed(client.get(f"/alarms?q={MN_B[-6:]}&kind=exceedance").text)
    assert by_mn == {w["exceed_b"]}
    by_name = _listed(client.get("/alarms?q=乙热电&kind=exceedance").text)
    assert by_name == {w["exceed_b"]}
    assert _listed(client.get("/alarms?q=no-such-thing").text) == set()
    assert _listed(client.get("/alarms?q=%25").text) == set()  # a % is searched for, not a wildcard
    r = client.get("/alarms?state=bogus")
    assert r.status_code == 422 and "The filter is not valid:" in r.text and "state=bogus" in r.text


def test_counts_per_state(client: TestClient, alarm_world: AlarmWorld) -> None:
    login(client, "ent_b")
    html = client.get("/alarms").text
    with alarm_world.engine.connect() as conn:
        b = alarm_world.devices[MN_B]
        rows = conn.execute(
            select(alarms.c.state, func.count()).where(alarms.c.device_id == b).group_by(alarms.c.state)
        ).all()
    expected = {"open": 0, "acknowledged": 0, "handling": 0, "closed": 0} | {s: n for s, n in rows}
    shown = {s: int(re.search(rf'id="n-{s}">(\d+)<', html).group(1)) for s in expected}  # type: ignore[union-attr]
    assert shown == expected and expected["closed"] >= PAGED
    assert 'id="n-escalated">0<' in html
    # the counts follow the kind filter: 乙 has no offline alarm
    html = client.get("/alarms?kind=offline").text
    assert all(f'id="n-{s}">0<' in html for s in expected)


def test_paging_50_a_page(client: TestClient, alarm_world: AlarmWorld) -> None:
    login(client, "admin1")
    first = client.get("/alarms?state=closed&kind=over_range").text
    assert len(_listed(first)) == 50 and "Page 1 of 2, 52 rows" in first
    link = re.search(r'href="(/alarms\?[^"]*page=2[^"]*)" rel="next"', first)
    assert link is not None
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query["state"] == ["closed"] and query["kind"] == ["over_range"]
    second = client.get(link.group(1).replace("&amp;", "&")).text
    assert len(_listed(second)) == PAGED - 50 and not _listed(first) & _listed(second)
    # past the end: the last page
    assert _listed(client.get("/alarms?state=closed&kind=over_range&page=99").text) == _listed(second)
    assert _listed(client.get(f"/alarms?state=closed&kind=over_range&page={10**30}").text) == _listed(second)
    assert _listed(client.get("/alarms?state=closed&kind=over_range&page=x").text) == _listed(first)


# ---- one alarm -----------------------------------------------------------------------------------------


def test_the_cover_sheet_journal_and_data_links(client: TestClient, alarm_world: AlarmWorld) -> None:
    login(client, "ent_a")
    alarm_id = alarm_world.alarms["exceed_a"]
    r = client.get(f"/alarms/{alarm_id}")
    assert r.status_code == 200
    html = r.text
    head = re.search(r'<dl class="pairs" id="alarm-head">.*?</dl>', html, re.S)
    assert head is not None
    cover = head.group(0)
    for text in (
        "Exceedance",
        SO2,
        "甲化工有限公司",
        MN_A,
        "50.5",
        "35",
        "0.44 times over the limit",
        "EXC-01",
        "HJ 75-2017",
    ):
        assert text in cover, text
    started = to_china(alarm_world.now - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    assert started in cover
    # the data behind it: the device page over the period, and the API's JSON
    assert f'href="/devices/{MN_A}?span=' in cover and f"factor={SO2}" in cover
    assert f'href="/api/v1/devices/{MN_A}/hours?from=' in cover
    # the journal: raised, detected again, each with its points and the excluded maintenance period
    journal = re.search(r'<ol class="steps" id="journal">.*?</ol>', html, re.S)
    assert journal is not None
    assert re.findall(r'data-event="(\w+)"', journal.group(0)) == ["opened", "repeat"]
    assert journal.group(0).count('<table class="points">') == 2 and "maintenance" in journal.group(0)
    point = to_china(alarm_world.now - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert point in journal.group(0) and "50.5" in journal.group(0) and "the platform" in journal.group(0)
    # the enterprise works on alarms: the forms the open state allows
    for form in ("acknowledge-form", "start_handling-form", "assign-form", "comment-form", "close-form"):
        assert f'id="{form}"' in html, form
    assert 'id="attachment-form"' in html


def test_the_device_link_covers_the_period() -> None:
    now = datetime.fromisoformat("2026-03-10T12:00:00+00:00")  # 20:00 China time
    row = {
        "started_at": now - timedelta(hours=30),
        "ended_at": None,
        "last_detected_at": now - timedelta(hours=1),
        "factor": SO2,
    }
    # from 29+1 h before now to now: the shortest span reaching back is 48 h, ending today (China date)
    assert device_page_link(row, MN_A, now) == f"/devices/{MN_A}?span=48&until=2026-03-10&factor={SO2}"
    row |= {"started_at": now - timedelta(hours=2), "factor": ""}
    assert device_page_link(row, MN_A, now) == f"/devices/{MN_A}?span=24&until=2026-03-10"
    # an alarm of last month that ended: the day of its end, 7 days back to its start
    row |= {"started_at": now - timedelta(days=40), "ended_at": now - timedelta(days=36)}
    assert device_page_link(row, MN_A, now) == f"/devices/{MN_A}?span=168&until=2026-02-02"
    row |= {"started_at": now - timedelta(days=100)}  # longer than any span: the longest
    assert device_page_link(row, MN_A, now).startswith(f"/devices/{MN_A}?span=720&")


@pytest.mark.parametrize(("user", "alarm"), [("op_a", "exceed_a"), ("aud_a", "closed_a")])
def test_the_device_link_opens_the_device_page(
    client: TestClient, alarm_world: AlarmWorld, user: str, alarm: str
) -> None:
    login(client, user)
    html = client.get(f"/alarms/{alarm_world.alarms[alarm]}").text
    link = re.search(r'<dd id="alarm-data"><a href="([^"]+)"', html)
    assert link is not None
    assert client.get(link.group(1).replace("&amp;", "&")).status_code == 200


def test_a_closed_alarm_shows_cause_and_action_and_takes_only_comments(
    client: TestClient, alarm_world: AlarmWorld
) -> None:
    login(client, "admin1")
    html = client.get(f"/alarms/{alarm_world.alarms['closed_a']}").text
    assert "分析仪采样管堵塞" in html and "疏通采样管并校准" in html and 'id="alarm-cause"' in html
    assert "end not recorded" in html and "still going" not in html  # closed without an end of its own
    assert 'id="comment-form"' in html and 'id="attachment-form"' in html
    for form in ("acknowledge-form", "start_handling-form", "assign-form", "close-form"):
        assert f'id="{form}"' not in html, form


def test_not_visible_is_404_like_missing(client: TestClient, alarm_world: AlarmWorld) -> None:
    login(client, "ent_b")
    theirs = client.get(f"/alarms/{alarm_world.alarms['exceed_a']}")
    missing = client.get("/alarms/99999999")
    assert theirs.status_code == missing.status_code == 404
    assert MN_A not in theirs.text and "<!doctype html>" in theirs.text.lower()
    token = _token(client)
    before = row_count(alarm_world.engine, alarm_events)
    assert _act(client, token, alarm_world.alarms["exceed_a"], "comment", comment="x").status_code == 404
    r = client.post(
        f"/alarms/{alarm_world.alarms['exceed_a']}/attachments",
        data={"csrf_token": token},
        files={"file": ("x.txt", b"x", "text/plain")},
    )
    assert r.status_code == 404
    assert client.get(f"/alarms/{alarm_world.alarms['exceed_a']}/attachments/1").status_code == 404
    assert row_count(alarm_world.engine, alarm_events) == before


# ---- working on an alarm -------------------------------------------------------------------------------


def test_acknowledge_handle_assign_comment_close(client: TestClient, alarm_world: AlarmWorld) -> None:
    alarm_id = fresh_alarm(alarm_world)
    login(client, "op_a")
    token = _token(client)
    r = _act(client, token, alarm_id, "acknowledge")
    assert r.status_code == 303 and r.headers["location"] == f"/alarms/{alarm_id}?done=acknowledge"
    page = client.get(r.headers["location"]).text
    assert 'id="done"' in page and "The alarm was acknowledged." in page
    assert (
        'id="acknowledge-form"' not in page and 'id="start_handling-form"' in page
    )  # the table's next steps
    assert _state(alarm_world, alarm_id) == "acknowledged"
    assert _act(client, token, alarm_id, "start_handling", comment="到场").status_code == 303
    assert _act(client, token, alarm_id, "assign", assignee="fs_a").status_code == 303
    assert _act(client, token, alarm_id, "comment", comment="更换了采样泵").status_code == 303
    assert _state(alarm_world, alarm_id) == "handling"
    r = _act(client, token, alarm_id, "close", cause="采样泵故障", action="更换采样泵")
    assert r.status_code == 303
    assert _journal(alarm_world, alarm_id) == [
        ("opened", "system", None, "open"),
        ("acknowledge", "op_a", "open", "acknowledged"),
        ("start_handling", "op_a", "acknowledged", "handling"),
        ("assign", "op_a", "handling", "handling"),
        ("comment", "op_a", "handling", "handling"),
        ("close", "op_a", "handling", "closed"),
    ]
    page = client.get(f"/alarms/{alarm_id}").text
    assert "采样泵故障" in page and "更换采样泵" in page and "更换了采样泵" in page and "到场" in page
    assert re.search(r'id="alarm-assignee">fs_a<', page) and "Assigned to fs_a" in page
    assert 'id="close-form"' not in page
    # every page write is in the audit trail, with the status the browser got
    with alarm_world.engine.connect() as conn:
        audited = (
            conn.execute(
                select(audit_log.c.status_code).where(
                    audit_log.c.path == f"/alarms/{alarm_id}/actions", audit_log.c.username == "op_a"
                )
            )
            .scalars()
            .all()
        )
    assert list(audited) == [303] * 5


@pytest.mark.parametrize("user", ["ent_a", "fs_a", "admin1"])
def test_the_other_working_roles_may_act(client: TestClient, alarm_world: AlarmWorld, user: str) -> None:
    alarm_id = fresh_alarm(alarm_world)
    login(client, user)
    assert _act(client, _token(client), alarm_id, "acknowledge").status_code == 303
    assert _journal(alarm_world, alarm_id)[-1] == ("acknowledge", user, "open", "acknowledged")


def test_close_without_cause_shows_the_error_and_keeps_the_values(
    client: TestClient, alarm_world: AlarmWorld
) -> None:
    alarm_id = fresh_alarm(alarm_world)
    login(client, "op_a")
    token = _token(client)
    r = _act(client, token, alarm_id, "close", cause="  ", action="重启数采仪", comment="夜班")
    assert r.status_code == 422
    html = r.text
    assert "The alarm was not closed: enter the cause." in html and 'role="alert"' in html
    assert "重启数采仪</textarea>" in html and 'value="夜班"' in html  # what was typed comes back
    assert re.search(r'id="w-cause"[^>]*aria-invalid="true"', html)
    assert not re.search(r'id="w-action"[^>]*aria-invalid', html)
    assert re.search(r'<details class="act" open>\s*<summary>Close</summary>', html)  # the form is open
    r = _act(client, token, alarm_id, "close")
    assert "enter the cause and the action taken." in r.text
    r = _act(client, token, alarm_id, "close", cause="断电")
    assert "enter the action taken." in r.text and "断电</textarea>" in r.text
    assert _state(alarm_world, alarm_id) == "open" and len(_journal(alarm_world, alarm_id)) == 1


def test_close_without_cause_in_chinese(alarm_world: AlarmWorld) -> None:
    alarm_id = fresh_alarm(alarm_world)
    with TestClient(create_app(alarm_world.settings, alarm_world.engine)) as client:
        login(client, "op_a")
        r = _act(client, _token(client), alarm_id, "close", action="重启")
    assert r.status_code == 422 and '<html lang="zh-CN">' in r.text
    assert 'role="alert"' in r.text and "重启</textarea>" in r.text


def test_other_form_errors(client: TestClient, alarm_world: AlarmWorld) -> None:
    alarm_id = fresh_alarm(alarm_world)
    login(client, "op_a")
    token = _token(client)
    r = _act(client, token, alarm_id, "assign", assignee=" ")
    assert r.status_code == 422 and "enter the username" in r.text
    r = _act(client, token, alarm_id, "comment", comment="")
    assert r.status_code == 422 and "write the comment" in r.text
    r = _act(client, token, alarm_id, "escalate")  # the platform's event, not a person's
    assert r.status_code == 422 and "The alarm was not changed:" in r.text
    r = _act(client, token, alarm_id, "assign", assignee="x" * 65)  # the service's own check
    assert r.status_code == 422 and "The alarm was not changed:" in r.text
    assert len(_journal(alarm_world, alarm_id)) == 1
    # what the state does not allow any more (another tab closed it): 409, the service's words
    assert _act(client, token, alarm_id, "close", cause="c", action="a").status_code == 303
    r = _act(client, token, alarm_id, "acknowledge")
    assert r.status_code == 409 and "cannot take &#39;acknowledge&#39;" in r.text and 'id="problem"' in r.text


@pytest.mark.parametrize("user", ["reg_zj", "aud_a"])
def test_readers_see_no_forms_and_a_forged_post_is_403(
    client: TestClient, alarm_world: AlarmWorld, user: str
) -> None:
    alarm_id = alarm_world.alarms["exceed_a" if user == "reg_zj" else "closed_a"]
    login(client, user)
    page = client.get(f"/alarms/{alarm_id}")
    assert page.status_code == 200
    assert 'id="work"' not in page.text and 'id="attachment-form"' not in page.text
    assert 'action="/alarms/' not in page.text
    token = _token(client)
    before = row_count(alarm_world.engine, alarm_events), row_count(alarm_world.engine, attachments)
    for event, fields in (
        ("acknowledge", {}),
        ("comment", {"comment": "x"}),
        ("close", {"cause": "c", "action": "a"}),
    ):
        assert _act(client, token, alarm_id, event, **fields).status_code == 403
    r = client.post(
        f"/alarms/{alarm_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("x.txt", b"x", "text/plain")},
    )
    assert r.status_code == 403
    assert (row_count(alarm_world.engine, alarm_events), row_count(alarm_world.engine, attachments)) == before


def test_csrf_is_required(client: TestClient, alarm_world: AlarmWorld) -> None:
    alarm_id = fresh_alarm(alarm_world)
    login(client, "op_a")
    r = client.post(f"/alarms/{alarm_id}/actions", data={"event": "acknowledge"})
    assert r.status_code == 403
    r = _act(client, "wrong", alarm_id, "acknowledge")
    assert r.status_code == 403
    r = client.post(
        f"/alarms/{alarm_id}/attachments",
        data={"csrf_token": "wrong"},
        files={"file": ("x.txt", b"x", "text/plain")},
    )
    assert r.status_code == 403
    assert _state(alarm_world, alarm_id) == "open" and len(_journal(alarm_world, alarm_id)) == 1


def test_upload_and_download_an_attachment(client: TestClient, alarm_world: AlarmWorld) -> None:
    alarm_id = fresh_alarm(alarm_world)
    login(client, "fs_a")
    token = _token(client)
    r = client.post(
        f"/alarms/{alarm_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("维修记录.txt", b"pump replaced", "text/plain")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/alarms/{alarm_id}?done=attach"
    page = client.get(r.headers["location"]).text
    found = re.search(rf'href="(/alarms/{alarm_id}/attachments/(\d+))"', page)
    assert found is not None and "维修记录.txt" in page and "The attachment was added." in page
    assert _journal(alarm_world, alarm_id)[-1] == ("attach", "fs_a", "open", "open")
    got = client.get(found.group(1))
    assert got.status_code == 200 and got.content == b"pump replaced"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    # the attachment under another alarm's id: 404
    other = alarm_world.alarms["exceed_a"]
    assert client.get(f"/alarms/{other}/attachments/{found.group(2)}").status_code == 404
    # another enterprise: 404 for the file as for the alarm
    login(client, "ent_b")
    assert client.get(found.group(1)).status_code == 404


def test_a_too_large_attachment_is_refused_in_the_form(client: TestClient, alarm_world: AlarmWorld) -> None:
    alarm_id = fresh_alarm(alarm_world)
    login(client, "op_a")
    token = _token(client)
    before = row_count(alarm_world.engine, attachments)
    r = client.post(
        f"/alarms/{alarm_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("big.bin", b"x" * (MAX_BYTES + 1), "application/octet-stream")},
    )
    assert r.status_code == 413 and f"larger than the limit of {MAX_BYTES} bytes" in r.text
    assert 'id="attachment-form"' in r.text
    r = client.post(
        f"/alarms/{alarm_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("huge.bin", b"x" * (MAX_BYTES + 64 * 1024), "application/octet-stream")},
    )
    assert r.status_code == 413
    r = client.post(f"/alarms/{alarm_id}/attachments", data={"csrf_token": token}, files={})
    assert r.status_code in (400, 422)
    assert row_count(alarm_world.engine, attachments) == before
    assert len(_journal(alarm_world, alarm_id)) == 1


# ---- languages -----------------------------------------------------------------------------------------


def test_chinese_is_the_default(alarm_world: AlarmWorld) -> None:
    with TestClient(create_app(alarm_world.settings, alarm_world.engine)) as client:
        login(client, "admin1")
        listing = client.get("/alarms")
        one = client.get(f"/alarms/{alarm_world.alarms['exceed_a']}")
    for r in (listing, one):
        assert r.status_code == 200 and '<html lang="zh-CN">' in r.text
    # table headings and cover labels already in the catalog come in Chinese
    assert "监测因子" in listing.text and "状态" in listing.text and "二氧化硫" in listing.text
    assert "排污单位" in one.text and "附件" in one.text


def test_english_renders(client: TestClient, alarm_world: AlarmWorld) -> None:
    login(client, "admin1")
    html = client.get(f"/alarms/{alarm_world.alarms['offline_a']}").text
    assert '<html lang="en">' in html and "Escalated" in html and "not about one factor" in html
    assert "Not acknowledged" in html and "overdue" in html


def test_a_regulator_issues_an_order_from_an_alarm_and_the_alarm_lists_it(alarm_world: AlarmWorld) -> None:
    alarm_id = fresh_alarm(alarm_world)
    with TestClient(create_app(alarm_world.settings, alarm_world.engine), cookies={"lang": "en"}) as c:
        login(c, "ent_a")
        page = c.get(f"/alarms/{alarm_id}").text
        assert f"/orders?alarm={alarm_id}" not in page  # only who issues orders gets the link
    with TestClient(create_app(alarm_world.settings, alarm_world.engine), cookies={"lang": "en"}) as c:
        login(c, "reg_zj")
        assert f'href="/orders?alarm={alarm_id}"' in c.get(f"/alarms/{alarm_id}").text
        with alarm_world.engine.begin() as conn:
            enterprise = get_alarm(conn, alarm_id)["device_id"]
            order = issue_order(
                conn,
                region_code="330000",
                enterprise_id=_enterprise_of(conn, enterprise),
                title="整改",
                body="查明原因",
                deadline=alarm_world.now + timedelta(days=3),
                alarm_ids=[alarm_id],
                issued_by="reg_zj",
                now=utcnow(),
            )
        assert f'href="/orders/{order["id"]}"' in c.get(f"/alarms/{alarm_id}").text


def _enterprise_of(conn: Connection, device_id: int) -> int:
    d, o = devices.c, outlets.c
    found: int = conn.execute(
        select(o.enterprise_id)
        .select_from(devices.join(outlets, d.outlet_id == o.id))
        .where(d.id == device_id)
    ).scalar_one()
    return found


def test_a_file_whose_blob_is_gone_is_the_html_404_page(client: TestClient, alarm_world: AlarmWorld) -> None:
    """A missing blob is a 404 like a missing attachment: the page, not the API's JSON."""
    alarm_id = fresh_alarm(alarm_world)
    login(client, "fs_a")
    content = b"blob to lose " + str(alarm_id).encode()
    client.post(
        f"/alarms/{alarm_id}/attachments",
        data={"csrf_token": _token(client)},
        files={"file": ("lost.txt", content, "text/plain")},
    )
    with alarm_world.engine.connect() as conn:
        row = conn.execute(select(attachments).where(attachments.c.owner_id == alarm_id)).mappings().one()
    BlobStore.from_settings(alarm_world.settings).path_of(row["sha256"]).unlink()
    got = client.get(f"/alarms/{alarm_id}/attachments/{row['id']}")
    assert got.status_code == 404 and got.headers["content-type"].startswith("text/html")
