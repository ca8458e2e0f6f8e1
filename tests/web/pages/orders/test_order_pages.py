"""The supervision order pages over HTTP: the list per role, counts and the overdue badge, the filter, the issue
form (its pickers, ``?alarm=``, the store's refusals with the values kept), the whole flow issue → respond with
evidence → return → respond → accept through the pages, evidence downloads, and every forged POST refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.alarms.orders import get_order, order_events_of
from envwatch.alarms.orders_schema import orders
from envwatch.registry.schema import attachments
from tests.web.pages.conftest import row_count, shown_count
from tests.web.pages.orders.conftest import MAX_BYTES, OrderWorld, as_user, local


def _rows(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-order="(\d+)"', html)}


@pytest.mark.parametrize(
    ("user", "seen", "unseen"),
    [
        ("admin1", {"order_a", "order_b", "order_late"}, set()),
        ("reg_zj", {"order_a", "order_late"}, {"order_b"}),  # issued in 浙江, or to an enterprise there
        ("reg_gd", {"order_b"}, {"order_a", "order_late"}),
        ("ent_a", {"order_a"}, {"order_b", "order_late"}),
        ("ent_b", {"order_b"}, {"order_a", "order_late"}),
        ("op_a", {"order_late"}, {"order_a", "order_b"}),  # addressed to 运维甲
        ("fs_a", {"order_late"}, {"order_a", "order_b"}),
        ("aud_a", {"order_late"}, {"order_a", "order_b"}),
        ("op_b", set(), {"order_a", "order_b", "order_late"}),
    ],
)
def test_the_list_follows_the_scope(
    client: TestClient, order_world: OrderWorld, user: str, seen: set[str], unseen: set[str]
) -> None:
    as_user(client, user)
    html = client.get("/orders").text
    shown = _rows(html)
    assert {order_world.orders[k] for k in seen} <= shown
    assert not {order_world.orders[k] for k in unseen} & shown
    for key in unseen:  # the page, not only the list, refuses them like missing ones
        assert client.get(f"/orders/{order_world.orders[key]}").status_code == 404


def test_counts_overdue_badge_and_filter(client: TestClient, order_world: OrderWorld) -> None:
    as_user(client, "op_a")
    html = client.get("/orders").text
    late = order_world.orders["order_late"]
    assert shown_count(html, "overdue") == 1 and shown_count(html, "issued") == 1
    row = re.search(rf'<tr data-order="{late}"[^>]*>.*?</tr>', html, re.S)
    assert row is not None and 'class="over"' in row.group(0) and 'data-overdue="1"' in row.group(0)
    assert "运维甲 <small>(operator)</small>" in row.group(0)
    page = client.get(f"/orders/{late}").text
    assert 'data-overdue="1"' in page and "Overdue" in page
    # a regulator's filter: overdue only, then issued (order_a is issued, not overdue)
    as_user(client, "reg_zj")
    overdue = _rows(client.get("/orders?state=overdue").text)
    assert late in overdue and order_world.orders["order_a"] not in overdue
    assert order_world.orders["order_a"] in _rows(client.get("/orders?state=issued").text)
    assert not {late, order_world.orders["order_a"]} & _rows(client.get("/orders?state=accepted").text)
    r = client.get("/orders?state=bogus")
    assert r.status_code == 422 and "The filter is not valid:" in r.text


def test_the_issue_form_is_for_issuers_with_pickers_from_the_scope(
    client: TestClient, order_world: OrderWorld
) -> None:
    as_user(client, "reg_zj")
    html = client.get("/orders").text
    assert 'id="issue-form"' in html
    assert f'value="enterprise:{order_world.enterprises["a"]}"' in html
    assert f'value="enterprise:{order_world.enterprises["b"]}"' not in html  # 乙 is in 广东
    assert f'value="operator:{order_world.operators["a"]}"' in html
    assert f'value="operator:{order_world.operators["b"]}"' not in html
    assert f'data-alarm="{order_world.alarms["exceed_a"]}"' in html
    assert f'data-alarm="{order_world.alarms["exceed_b"]}"' not in html
    assert 'id="i-region"' not in html  # a regulator issues in its own region
    # ?alarm= preselects the alarm and its enterprise, and opens the form
    alarm = order_world.alarms["offline_a"]
    html = client.get(f"/orders?alarm={alarm}").text
    assert re.search(rf'value="{alarm}" checked', html)
    assert re.search(rf'value="enterprise:{order_world.enterprises["a"]}" selected', html)
    assert '<details class="card" id="issue" open>' in html
    assert client.get(f"/orders?alarm={order_world.alarms['exceed_b']}").status_code == 404
    assert client.get("/orders?alarm=x").status_code == 422
    as_user(client, "admin1")
    assert 'id="i-region"' in client.get("/orders").text
    for user in ("ent_a", "op_a", "aud_a"):
        as_user(client, user)
        assert 'id="issue-form"' not in client.get("/orders").text


def _issue_form(token: str, world: OrderWorld, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token, "receiver": f"enterprise:{world.enterprises['a']}", "title": "排口整改",
        "body": "一周内完成整改并上传证明", "deadline": local(world.now + timedelta(days=3)),
    }  # fmt: skip
    return form | changes


def test_a_refused_order_shows_the_store_error_keeps_the_values_and_stores_nothing(
    client: TestClient, order_world: OrderWorld
) -> None:
    token = as_user(client, "reg_zj")
    before = row_count(order_world.engine, orders)
    past = _issue_form(token, order_world, deadline=local(order_world.now - timedelta(hours=2)))
    r = client.post("/orders", data=past)
    assert r.status_code == 422 and "The order was not issued:" in r.text and "has already passed" in r.text
    assert 'value="排口整改"' in r.text and "一周内完成整改并上传证明</textarea>" in r.text
    # the admin sees both enterprises: citing 甲's alarm on an order to 乙 (issued in 乙's region) is the
    # store's refusal
    token = as_user(client, "admin1")
    wrong = _issue_form(
        token, order_world, receiver=f"enterprise:{order_world.enterprises['b']}",
        alarm_ids=str(order_world.alarms["exceed_a"]),
    )  # fmt: skip
    r = client.post("/orders", data=wrong)
    assert r.status_code == 422 and "outside the issuing region 440103" in r.text
    assert re.search(rf'value="{order_world.alarms["exceed_a"]}" checked', r.text)
    r = client.post("/orders", data=_issue_form(token, order_world, receiver="nobody"))
    assert r.status_code == 422 and "choose the receiver" in r.text
    r = client.post("/orders", data=_issue_form(token, order_world, title=""))
    assert r.status_code == 422 and "the title is required" in r.text
    assert row_count(order_world.engine, orders) == before


def test_forged_issues_are_refused(client: TestClient, order_world: OrderWorld) -> None:
    before = row_count(order_world.engine, orders)
    token = as_user(client, "reg_zj")
    # what the regulator does not see: 404 like a missing one (乙, 运维乙, 乙's alarm)
    for changes in (
        {"receiver": f"enterprise:{order_world.enterprises['b']}"},
        {"receiver": f"operator:{order_world.operators['b']}"},
        {"alarm_ids": str(order_world.alarms["exceed_b"])},
    ):
        assert client.post("/orders", data=_issue_form(token, order_world, **changes)).status_code == 404
    assert client.post("/orders", data=_issue_form("wrong", order_world)).status_code == 403  # CSRF
    for user in ("ent_a", "op_a", "aud_a"):  # roles that do not issue
        token = as_user(client, user)
        assert client.post("/orders", data=_issue_form(token, order_world)).status_code in (403, 404)
        assert client.post("/orders", data={"csrf_token": token}).status_code == 403
    assert row_count(order_world.engine, orders) == before


def _issue(client: TestClient, world: OrderWorld, **changes: str) -> int:
    token = as_user(client, "reg_zj")
    r = client.post("/orders", data=_issue_form(token, world, **changes), follow_redirects=False)
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/orders/(\d+)\?done=issued", r.headers["location"])
    assert found is not None
    return int(found.group(1))


def _act(client: TestClient, order_id: int, token: str, event: str, text: str = "", **more: str) -> int:
    data = {"csrf_token": token, "event": event, "text": text} | more
    r = client.post(f"/orders/{order_id}/actions", data=data, follow_redirects=False)
    if r.status_code == 303:
        assert r.headers["location"] == f"/orders/{order_id}?done={event}"
    return r.status_code


def _forms(html: str) -> set[str]:
    return set(re.findall(r'id="(respond|accept|return|withdraw|comment)-form"', html))


def test_the_whole_flow_through_the_pages(client: TestClient, order_world: OrderWorld) -> None:
    alarm = order_world.alarms["exceed_a"]
    order_id = _issue(client, order_world, alarm_ids=str(alarm))
    page = client.get(f"/orders/{order_id}?done=issued").text
    assert 'id="done"' in page and "The order was issued." in page
    assert f'href="/alarms/{alarm}"' in page and "Exceedance" in page
    assert _forms(page) == {"withdraw", "comment"}  # the regulator cannot accept before a response

    # the enterprise responds with two evidence files
    token = as_user(client, "ent_a")
    assert _forms(client.get(f"/orders/{order_id}").text) == {"respond", "comment"}
    r = client.post(
        f"/orders/{order_id}/respond",
        data={"csrf_token": token, "text": "已更换采样探头"},
        files=[
            ("files", ("整改照片.jpg", b"jpeg bytes", "image/jpeg")),
            ("files", ("report.txt", b"done", "text/plain")),
        ],
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/orders/{order_id}?done=respond"
    page = client.get(r.headers["location"]).text
    assert "Your response was sent." in page and "已更换采样探头" in page
    links = re.findall(rf'href="(/orders/{order_id}/attachments/\d+)"', page)
    assert len(set(links)) == 2 and "整改照片.jpg" in page
    got = client.get(links[0])
    assert got.status_code == 200 and got.content == b"jpeg bytes"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert _forms(page) == {"comment"}  # responded: the ball is with the regulator

    # the regulator returns it with a new deadline; withdraw is no longer offered
    token = as_user(client, "reg_zj")
    assert _forms(client.get(f"/orders/{order_id}").text) == {"accept", "return", "comment"}
    new_deadline = order_world.now + timedelta(days=5)
    assert _act(client, order_id, token, "return", "证据不足", new_deadline=local(new_deadline)) == 303
    assert get_order_state(order_world, order_id) == "returned"

    # the enterprise responds again (no file this time), the regulator accepts
    token = as_user(client, "ent_a")
    r = client.post(
        f"/orders/{order_id}/respond",
        data={"csrf_token": token, "text": "补充了监测报告"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    token = as_user(client, "reg_zj")
    assert _act(client, order_id, token, "accept", "整改到位") == 303
    page = client.get(f"/orders/{order_id}?done=accept").text
    assert "The order was accepted and closed." in page and 'data-state="accepted"' in page
    assert _forms(page) == {"comment"}
    events = re.findall(r'data-event="(\w+)" data-to="(\w+)"', page)
    assert events == [
        ("issued", "issued"), ("respond", "responded"), ("return", "returned"), ("respond", "responded"),
        ("accept", "accepted"),
    ]  # fmt: skip
    assert "new deadline:" in page and "证据不足" in page and "整改到位" in page
    with order_world.engine.connect() as conn:
        journal = order_events_of(conn, order_id)
    assert journal[1]["data"]["attachments"] and journal[1]["data"]["late"] is False
    # anyone who sees it may still comment on the closed order
    token = as_user(client, "ent_a")
    assert _act(client, order_id, token, "comment", "谢谢") == 303

    # the inbox holds the notices the flow produced, for the enterprise and the regulator
    for user in ("ent_a", "reg_zj"):
        as_user(client, user)
        inbox = client.get("/inbox?topic=order").text
        subjects = re.findall(rf'href="/orders/{order_id}"><strong>【([^】]+)】', inbox)
        assert subjects == ["督办已办结", "督办已回复", "督办被退回", "督办已回复", "督办下达"], user
    as_user(client, "ent_b")
    assert f'href="/orders/{order_id}"' not in client.get("/inbox").text


def get_order_state(world: OrderWorld, order_id: int) -> str:
    with world.engine.connect() as conn:
        return str(get_order(conn, order_id)["state"])


def test_the_store_refusals_come_back_in_the_forms(client: TestClient, order_world: OrderWorld) -> None:
    order_id = _issue(client, order_world)
    token = as_user(client, "reg_zj")
    # accept before any response: the lifecycle's refusal (409), shown in the page
    r = client.post(f"/orders/{order_id}/actions", data={"csrf_token": token, "event": "accept", "text": ""})
    assert (
        r.status_code == 409
        and "cannot take &#39;accept&#39;" in r.text
        and r.text.count('id="problem"') == 1
    )
    r = client.post(
        f"/orders/{order_id}/actions", data={"csrf_token": token, "event": "withdraw", "text": ""}
    )
    assert (
        r.status_code == 422
        and "Not saved:" in r.text
        and "the reason for withdrawing it is required" in r.text
    )
    assert '<details class="act" open>' in r.text  # the failed form is open
    # the receiver's empty response is refused with nothing stored
    token = as_user(client, "ent_a")
    before = row_count(order_world.engine, attachments)
    r = client.post(
        f"/orders/{order_id}/respond",
        data={"csrf_token": token, "text": " "},
        files=[("files", ("a.txt", b"abc", "text/plain"))],
    )
    assert r.status_code == 422 and "The response was not sent:" in r.text
    assert row_count(order_world.engine, attachments) == before  # the file row went with the response
    r = client.post(
        f"/orders/{order_id}/respond",
        data={"csrf_token": token, "text": "太大的证据"},
        files=[("files", ("big.bin", b"x" * (MAX_BYTES + 1), "application/octet-stream"))],
    )
    assert r.status_code == 413 and f"larger than the limit of {MAX_BYTES} bytes" in r.text
    assert "太大的证据</textarea>" in r.text and row_count(order_world.engine, attachments) == before
    assert get_order_state(order_world, order_id) == "issued"
    # withdrawn by the regulator while issued: closed, only comments remain
    token = as_user(client, "reg_zj")
    assert _act(client, order_id, token, "withdraw", "下发有误") == 303
    assert _forms(client.get(f"/orders/{order_id}").text) == {"comment"}


def test_forged_actions_are_refused(client: TestClient, order_world: OrderWorld) -> None:
    order_a = order_world.orders["order_a"]
    before = len(_journal(order_world, order_a))
    # not visible: 404 for every POST, like a missing order
    for user in ("ent_b", "reg_gd", "op_a", "op_b"):
        token = as_user(client, user)
        for event in ("accept", "return", "withdraw", "comment"):
            assert _act(client, order_a, token, event, "x") == 404, (user, event)
        r = client.post(f"/orders/{order_a}/respond", data={"csrf_token": token, "text": "x"})
        assert r.status_code == 404
    # visible, but not theirs to do: 403
    token = as_user(client, "ent_a")
    for event in ("accept", "return", "withdraw"):
        assert _act(client, order_a, token, event, "x") == 403
    assert _act(client, order_a, "wrong-token", "comment", "x") == 403
    token = as_user(client, "reg_zj")
    r = client.post(f"/orders/{order_a}/respond", data={"csrf_token": token, "text": "x"})
    assert r.status_code == 403  # only the receiver responds
    assert _act(client, order_a, token, "respond", "x") == 422  # responses go through their own form
    token = as_user(client, "ent_a")
    r = client.post(f"/orders/{order_a}/respond", data={"csrf_token": "wrong", "text": "x"})
    assert r.status_code == 403
    assert len(_journal(order_world, order_a)) == before
    # the auditor sees 运维甲's order but is not its receiver
    token = as_user(client, "aud_a")
    late = order_world.orders["order_late"]
    assert client.post(f"/orders/{late}/respond", data={"csrf_token": token, "text": "x"}).status_code == 403


def _journal(world: OrderWorld, order_id: int) -> list[dict[str, object]]:
    with world.engine.connect() as conn:
        return order_events_of(conn, order_id)


def test_evidence_downloads_follow_the_order(client: TestClient, order_world: OrderWorld) -> None:
    order_id = _issue(client, order_world)
    token = as_user(client, "ent_a")
    client.post(
        f"/orders/{order_id}/respond",
        data={"csrf_token": token, "text": "附证据"},
        files=[("files", ("e.txt", b"respondent-only content", "text/plain"))],
    )
    with order_world.engine.connect() as conn:
        aid = conn.execute(
            select(attachments.c.id).where(
                attachments.c.owner_kind == "order", attachments.c.owner_id == order_id
            )
        ).scalar_one()
    assert client.get(f"/orders/{order_id}/attachments/{aid}").status_code == 200
    assert client.get(f"/orders/{order_world.orders['order_a']}/attachments/{aid}").status_code == 404
    as_user(client, "ent_b")
    r = client.get(f"/orders/{order_id}/attachments/{aid}")
    assert r.status_code == 404 and "respondent-only content" not in r.text


def test_english_and_chinese_render(client: TestClient, order_world: OrderWorld) -> None:
    as_user(client, "reg_zj")
    order_a = order_world.orders["order_a"]
    html = client.get("/orders").text
    assert '<html lang="en">' in html and "<h1>Supervision orders</h1>" in html
    client.cookies.set("lang", "zh_CN")
    for path in ("/orders", f"/orders/{order_a}"):
        r = client.get(path)
        assert r.status_code == 200 and '<html lang="zh-CN">' in r.text and "甲SO2超标整改" in r.text
    assert "退出登录" in client.get("/orders").text  # the page chrome in Chinese
