"""The service ticket pages over HTTP: the list per role with its clock badges and the satisfaction at the top,
the filters, the request form (its pickers, the store's refusals with the values kept), one ticket's forms
per role and state, every step through the pages, the survey, the quarter figures, and forged POSTs refused."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.core.clock import utcnow
from envwatch.operations.tickets import get_ticket, journal_of
from envwatch.operations.tickets_schema import tickets
from tests.web.pages.conftest import row_count
from tests.web.pages.om_tickets.conftest import TicketWorld, as_user, local, new_ticket


def _rows(page: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-ticket="(\d+)"', page)]


def _problem(page: str) -> str:
    found = re.search(r'role="alert" id="problem">(.*?)</p>', page, re.S)
    assert found is not None, "no problem shown"
    return html.unescape(found.group(1)).strip()


def _forms(page: str) -> list[str]:
    return re.findall(r'id="([a-z_]+)-form"', page)


@pytest.mark.parametrize(
    ("user", "seen", "unseen"),
    [
        ("admin1", {"open_a", "closed_a", "open_b"}, set()),
        ("reg_zj", {"open_a", "closed_a"}, {"open_b"}),
        ("reg_gd", {"open_b"}, {"open_a", "closed_a"}),
        ("ent_a", {"open_a", "closed_a"}, {"open_b"}),
        ("ent_b", {"open_b"}, {"open_a", "closed_a"}),
        ("op_a", {"open_a", "closed_a"}, {"open_b"}),
        ("fs_a", {"open_a", "closed_a"}, {"open_b"}),
        ("op_b", {"open_b"}, {"open_a", "closed_a"}),
    ],
)
def test_the_list_follows_the_scope(
    client: TestClient, ticket_world: TicketWorld, user: str, seen: set[str], unseen: set[str]
) -> None:
    as_user(client, user)
    shown = set(_rows(client.get("/om/tickets").text))
    assert {ticket_world.tickets[k] for k in seen} <= shown
    assert not {ticket_world.tickets[k] for k in unseen} & shown
    for key in unseen:  # the page, not only the list, refuses them like missing ones
        assert client.get(f"/om/tickets/{ticket_world.tickets[key]}").status_code == 404


def test_open_first_with_clock_badges_and_time_left(client: TestClient, ticket_world: TicketWorld) -> None:
    as_user(client, "ent_a")
    page = client.get("/om/tickets").text
    rows = _rows(page)
    assert rows.index(ticket_world.tickets["open_a"]) < rows.index(ticket_world.tickets["closed_a"])
    row = re.search(rf'<tr data-ticket="{ticket_world.tickets["open_a"]}"[^>]*>.*?</tr>', page, re.S)
    assert row is not None and 'class="over"' in row.group(0)
    assert 'data-clock="respond" data-clock-state="overdue"' in row.group(0)
    assert 'data-clock="on_site" data-clock-state="running"' in row.group(0)
    assert re.search(r"1 h \d min late", row.group(0))  # asked 2 h ago, due after 1 h
    assert re.search(r"1 h 5\d min left", row.group(0))  # on site within 4 h (urban): 2 h left
    closed = re.search(rf'<tr data-ticket="{ticket_world.tickets["closed_a"]}"[^>]*>.*?</tr>', page, re.S)
    assert (
        closed is not None and 'data-clock-state="met"' in closed.group(0) and "left" not in closed.group(0)
    )
    # the operator's satisfaction this quarter, at the top
    tile = re.search(r'<ul class="tiles" id="satisfaction".*?</ul>', page, re.S)
    assert tile is not None and "运维甲" in tile.group(0) and 'data-rate="100.0"' in tile.group(0)
    assert "1 surveys, target 85 %" in tile.group(0)
    assert 'id="new-ticket"' in page


def test_the_operator_sees_its_rate_and_admin_a_link(client: TestClient) -> None:
    as_user(client, "op_b")
    page = client.get("/om/tickets").text
    assert "no surveys yet, target 85 %" in page and 'id="new-ticket"' not in page
    as_user(client, "admin1")
    page = client.get("/om/tickets").text
    assert 'id="satisfaction-link"' in page and 'id="satisfaction"' not in page


def test_filters(client: TestClient, ticket_world: TicketWorld) -> None:
    as_user(client, "admin1")
    assert _rows(client.get("/om/tickets?clock=overdue").text) == [ticket_world.tickets["open_a"]]
    assert ticket_world.tickets["closed_a"] in _rows(client.get("/om/tickets?state=closed").text)
    assert ticket_world.tickets["open_a"] not in _rows(client.get("/om/tickets?state=closed").text)
    r = client.get("/om/tickets?state=lost")
    assert r.status_code == 422 and _problem(r.text) == "The filter is not valid: state=lost clock="


def test_the_request_form_and_its_refusals(client: TestClient, ticket_world: TicketWorld) -> None:
    token = as_user(client, "ent_a")
    page = client.get("/om/tickets/new").text
    outlet = ticket_world.outlets["a"]
    assert f'<option value="{outlet}"' in page and f'value="{ticket_world.outlets["b"]}"' not in page
    assert 'name="channel" value="phone"' in page and 'type="datetime-local"' in page
    before = row_count(ticket_world.engine, tickets)
    form = {"csrf_token": token, "outlet_id": str(outlet), "subject": " ", "description": "COD 不变"}
    r = client.post("/om/tickets/new", data=form)
    assert (
        r.status_code == 422 and _problem(r.text) == "The request was not recorded: the subject is required"
    )
    assert "COD 不变" in r.text  # what was typed is kept
    future = form | {"subject": "COD", "requested_at": local(utcnow() + timedelta(hours=2))}
    r = client.post("/om/tickets/new", data=future)
    assert r.status_code == 422 and "is in the future" in _problem(r.text)
    r = client.post("/om/tickets/new", data={**form, "outlet_id": ""})
    assert r.status_code == 422 and _problem(r.text).endswith("choose the outlet the request is about")
    assert row_count(ticket_world.engine, tickets) == before
    # another enterprise's outlet or device: as for a missing one
    assert (
        client.post("/om/tickets/new", data={**form, "outlet_id": str(ticket_world.outlets["b"])}).status_code
        == 404
    )
    other_device = {**form, "subject": "x", "device_id": str(ticket_world.devices["b"])}
    assert client.post("/om/tickets/new", data=other_device).status_code == 404
    # a phone call entered afterwards keeps its time
    called = utcnow() - timedelta(hours=3)
    ok = form | {
        "subject": "电话报修",
        "channel": "phone",
        "requested_at": local(called),
        "device_id": str(ticket_world.devices["a"]),
    }
    r = client.post("/om/tickets/new", data=ok, follow_redirects=False)
    assert r.status_code == 303
    found = re.fullmatch(r"/om/tickets/(\d+)\?done=requested", r.headers["location"])
    assert found is not None
    with ticket_world.engine.connect() as conn:
        row = get_ticket(conn, int(found.group(1)))
    assert (row["channel"], row["device_id"], row["operator_id"]) == (
        "phone",
        ticket_world.devices["a"],
        ticket_world.operators["a"],
    )
    assert local(row["requested_at"]) == local(called)
    page = client.get(r.headers["location"]).text
    assert 'id="done"' in page and "(entered " in page


@pytest.mark.parametrize("user", ["op_a", "fs_a", "reg_zj"])
def test_only_requesters_get_the_form(client: TestClient, user: str) -> None:
    token = as_user(client, user)
    assert client.get("/om/tickets/new").status_code == 403
    assert client.post("/om/tickets/new", data={"csrf_token": token, "outlet_id": "1"}).status_code in (
        403,
        404,
    )


def test_forms_by_role_and_state(client: TestClient, ticket_world: TicketWorld) -> None:
    open_a = ticket_world.tickets["open_a"]
    for user, forms in (
        ("ent_a", ["cancel", "comment"]),
        ("fs_a", ["respond", "comment"]),
        ("op_a", ["respond", "comment"]),
        ("admin1", ["respond", "cancel", "comment"]),
        ("reg_zj", []),
    ):
        as_user(client, user)
        assert _forms(client.get(f"/om/tickets/{open_a}").text) == forms, user
    closed = ticket_world.tickets["closed_a"]
    as_user(client, "ent_a")
    page = client.get(f"/om/tickets/{closed}").text
    assert _forms(page) == ["comment"]  # surveyed already: no second survey form
    assert 'id="ticket-score"' in page and "★★★★★" in page and "Very satisfied" in page


def test_a_whole_ticket_through_the_pages(client: TestClient, ticket_world: TicketWorld) -> None:
    t = new_ticket(ticket_world)
    url = f"/om/tickets/{t}"

    def post(token: str, event: str, status: int = 303, **fields: str) -> str:
        r = client.post(
            f"{url}/events", data={"csrf_token": token, "event": event, **fields}, follow_redirects=False
        )
        assert r.status_code == status, r.text
        return r.text if status != 303 else r.headers["location"]

    ent = as_user(client, "ent_a")
    post(ent, "respond", 403)
    fs = as_user(client, "fs_a")
    assert post(fs, "respond", comment="已接单") == f"{url}?done=respond"
    page = client.get(url).text
    assert _forms(page) == ["arrive", "resolve_remotely", "comment"]
    # the field engineer's own staff record is chosen; the expired certificate is refused in the form
    assert f'<option value="{ticket_world.staff["zhang"]}" selected>张工</option>' in page
    text = post(fs, "arrive", 422, staff_id=str(ticket_world.staff["li"]))
    assert _problem(text).startswith("Not saved: 李工 (staff") and "has no certificate valid on" in _problem(
        text
    )
    assert 'id="arrive-form"' in text and f'<option value="{ticket_world.staff["li"]}" selected>' in text
    text = post(
        fs, "arrive", 422, staff_id=str(ticket_world.staff["zhang"]), at=local(utcnow() + timedelta(hours=1))
    )
    assert "is in the future" in _problem(text)
    post(fs, "arrive", staff_id=str(ticket_world.staff["zhang"]))
    post(fs, "resolve", comment="更换电源模块")
    ent = as_user(client, "ent_a")
    text = post(ent, "reject", 422)
    assert _problem(text) == "Not saved: the reason is required"
    post(ent, "reject", comment="仍然掉线")
    post(as_user(client, "op_a"), "resolve", comment="更换数采仪")
    ent = as_user(client, "ent_a")
    post(ent, "confirm")
    page = client.get(url).text
    assert _forms(page) == ["survey", "comment"]
    assert [re.search(rf'id="score-{n}"', page) is not None for n in range(1, 6)] == [True] * 5
    assert page.count('type="radio" id="score-') == 5
    text = post(ent, "survey", 422)
    assert _problem(text) == "Not saved: a survey gives a score 1-5"
    text = post(ent, "survey", 422, score="9")
    assert _problem(text) == "Not saved: a survey score is 1-5, not 9"
    post(ent, "survey", score="4", comment="满意")
    assert post(ent, "survey", 409, score="5")  # once: the state still allows it, the store refuses
    with ticket_world.engine.connect() as conn:
        events = [e["event"] for e in journal_of(conn, t)]
        row = get_ticket(conn, t)
    assert events == ["requested", "respond", "arrive", "resolve", "reject", "resolve", "confirm", "survey"]
    assert (row["state"], row["score"]) == ("closed", 4)
    page = client.get(url).text
    assert (
        'data-clock="respond" data-clock-state="met"' in page
        and 'data-clock="on_site" data-clock-state="met"' in page
    )


def test_a_remote_fix_and_a_cancel_through_the_pages(client: TestClient, ticket_world: TicketWorld) -> None:
    t, u = new_ticket(ticket_world), new_ticket(ticket_world)
    op = as_user(client, "op_a")
    for event in ("respond", "resolve_remotely"):
        r = client.post(
            f"/om/tickets/{t}/events", data={"csrf_token": op, "event": event}, follow_redirects=False
        )
        assert r.status_code == 303
    page = client.get(f"/om/tickets/{t}").text
    assert (
        'data-state="remote_fixed"' in page
        and 'data-clock="on_site" data-clock-state="not_applicable"' in page
    )
    ent = as_user(client, "ent_a")
    r = client.post(
        f"/om/tickets/{u}/events", data={"csrf_token": ent, "event": "cancel"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert 'data-state="cancelled"' in client.get(f"/om/tickets/{u}").text


def test_forged_posts_are_refused(client: TestClient, ticket_world: TicketWorld) -> None:
    t = ticket_world.tickets["open_b"]
    token = as_user(client, "ent_a")
    before = row_count(ticket_world.engine, tickets)
    assert (
        client.post(f"/om/tickets/{t}/events", data={"csrf_token": token, "event": "cancel"}).status_code
        == 404
    )
    own = ticket_world.tickets["open_a"]
    assert (
        client.post(f"/om/tickets/{own}/events", data={"event": "comment", "comment": "x"}).status_code == 403
    )
    r = client.post(f"/om/tickets/{own}/events", data={"csrf_token": token, "event": "teleport"})
    assert r.status_code == 422
    as_user(client, "reg_zj")
    token = as_user(client, "reg_zj")
    r = client.post(
        f"/om/tickets/{own}/events", data={"csrf_token": token, "event": "comment", "comment": "x"}
    )
    assert r.status_code == 403
    assert row_count(ticket_world.engine, tickets) == before
    with ticket_world.engine.connect() as conn:
        assert [e["event"] for e in journal_of(conn, own)] == ["requested"]
        assert conn.execute(select(tickets.c.state).where(tickets.c.id == own)).scalar_one() == "requested"


def test_the_satisfaction_page(client: TestClient, ticket_world: TicketWorld) -> None:
    as_user(client, "admin1")
    page = client.get("/om/tickets/satisfaction").text
    a, b = ticket_world.operators["a"], ticket_world.operators["b"]
    row_a = re.search(rf'<tr data-operator="{a}">.*?</tr>', page, re.S)
    row_b = re.search(rf'<tr data-operator="{b}">.*?</tr>', page, re.S)
    assert row_a is not None and row_b is not None
    assert 'data-rate="100.0"' in row_a.group(0) and 'data-target="met"' in row_a.group(0)
    assert 'data-target="none"' in row_b.group(0)
    assert re.search(r'data-clock="on_site"><span>[^<]*<small>\(\d+ of \d+\)', row_a.group(0))
    assert client.get("/om/tickets/satisfaction?quarter=2020Q1").status_code == 200
    assert 'id="no-figures"' in client.get("/om/tickets/satisfaction?quarter=2020Q1").text
    r = client.get("/om/tickets/satisfaction?quarter=2026Q5")
    assert r.status_code == 422 and "quarter &#39;2026Q5&#39; is not a quarter such as 2026Q3" in r.text
    as_user(client, "ent_b")
    page = client.get("/om/tickets/satisfaction").text
    assert f'data-operator="{b}"' in page and f'data-operator="{a}"' not in page
    assert "Only the requests you can see are counted." in page


def test_the_chinese_pages(client: TestClient, ticket_world: TicketWorld) -> None:
    as_user(client, "ent_a")
    client.cookies.set("lang", "zh_CN")
    page = html.unescape(client.get("/om/tickets").text)
    assert "服务工单" in page and "逾期" in page and "城区" in page
    page = html.unescape(client.get(f"/om/tickets/{ticket_world.tickets['closed_a']}").text)
    assert "非常满意" in page and "到场" in page
    page = html.unescape(client.get("/om/tickets/new").text)
    assert "申请服务（报修）" in page and "报修方式" in page
