"""The messages pages over HTTP: whose in-app notices each role sees, links by topic, the topic filter, 50 a
page, and the administrator's notification addresses (add, the store's refusals in the form, deactivate;
refused to everyone else)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.alarms.notify_schema import notify_targets
from tests.web.pages.conftest import row_count
from tests.web.pages.orders.conftest import OP_B_MESSAGES, OrderWorld, as_user


def _refs(html: str, topic: str) -> set[int]:
    return {int(x) for x in re.findall(rf'data-topic="{topic}" data-ref="(\d+)"', html)}


@pytest.mark.parametrize(
    ("user", "orders_seen", "orders_unseen"),
    [
        ("ent_a", {"order_a"}, {"order_b", "order_late"}),
        ("ent_b", {"order_b"}, {"order_a", "order_late"}),
        ("reg_zj", {"order_a", "order_late"}, {"order_b"}),  # region 330102 / 330000 under 浙江
        ("reg_gd", {"order_b"}, {"order_a", "order_late"}),
        ("op_a", {"order_late"}, {"order_a", "order_b"}),
        ("fs_a", {"order_late"}, {"order_a", "order_b"}),
        ("admin1", {"order_a", "order_b", "order_late"}, set()),
    ],
)
def test_each_role_sees_its_own_messages(
    client: TestClient, order_world: OrderWorld, user: str, orders_seen: set[str], orders_unseen: set[str]
) -> None:
    as_user(client, user)
    html = client.get("/inbox?topic=order").text
    refs = _refs(html, "order")
    assert {order_world.orders[k] for k in orders_seen} <= refs
    assert not {order_world.orders[k] for k in orders_unseen} & refs


def test_messages_link_to_their_alarm_or_order(client: TestClient, order_world: OrderWorld) -> None:
    as_user(client, "ent_a")
    html = client.get("/inbox").text
    order_a, alarm = order_world.orders["order_a"], order_world.alarms["exceed_a"]
    assert f'<a href="/orders/{order_a}"><strong>【督办下达】甲SO2超标整改</strong></a>' in html
    assert f'href="/alarms/{alarm}"' in html and "【报警】" in html
    assert f'href="/alarms/{order_world.alarms["exceed_b"]}"' not in html
    assert "期限：" in html and "<br>" in html  # the body with its line breaks
    alarms_only = client.get("/inbox?topic=alarm").text
    assert _refs(alarms_only, "alarm") and not _refs(alarms_only, "order")
    r = client.get("/inbox?topic=bogus")
    assert r.status_code == 422 and "The filter is not valid:" in r.text
    assert 'href="/inbox/targets"' not in html  # the admin's only


def test_fifty_a_page(client: TestClient, order_world: OrderWorld) -> None:
    as_user(client, "op_b")
    first = client.get("/inbox?topic=audit").text
    assert first.count("data-message=") == 50 and "审核提醒 55" in first and "审核提醒 05" not in first
    assert f"Page 1 of 2, {OP_B_MESSAGES} rows" in first and 'rel="next"' in first
    second = client.get("/inbox?topic=audit&page=2").text
    assert second.count("data-message=") == OP_B_MESSAGES - 50 and "审核提醒 01" in second
    assert client.get("/inbox?topic=audit&page=99").text.count("data-message=") == OP_B_MESSAGES - 50


def test_the_auditor_has_an_empty_box(client: TestClient, order_world: OrderWorld) -> None:
    as_user(client, "aud_a")
    html = client.get("/inbox").text
    assert "data-message=" not in html and "No messages." in html


def _target(token: str, **changes: object) -> dict[str, object]:
    return {
        "csrf_token": token,
        "channel": "email",
        "address": "duty@example.com",
        "topics": ["order"],
    } | changes


def test_the_admin_manages_notification_addresses(client: TestClient, order_world: OrderWorld) -> None:
    token = as_user(client, "admin1")
    assert 'href="/inbox/targets"' in client.get("/inbox").text
    party = f"enterprise:{order_world.enterprises['a']}"
    r = client.post("/inbox/targets", data=_target(token, party=party), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/inbox/targets?saved=added"
    html = client.get(r.headers["location"]).text
    assert "The address was added." in html and "<code>duty@example.com</code>" in html
    with order_world.engine.connect() as conn:
        target_id = conn.execute(
            select(notify_targets.c.id).where(notify_targets.c.address == "duty@example.com")
        ).scalar_one()
    row = re.search(rf'<tr data-target="{target_id}" data-active="1">.*?</tr>', html, re.S)
    assert row is not None and "甲化工有限公司" in row.group(0) and "Supervision order" in row.group(0)
    # the store's refusals come back in the form with the values kept
    before = row_count(order_world.engine, notify_targets)
    r = client.post("/inbox/targets", data=_target(token, party=party))
    assert r.status_code == 409 and "already registered" in r.text
    r = client.post("/inbox/targets", data=_target(token, party=party, address="duty at example"))
    assert (
        r.status_code == 422
        and "The address was not added:" in r.text
        and 'value="duty at example"' in r.text
    )
    assert re.search(r'value="order" checked', r.text)
    r = client.post("/inbox/targets", data=_target(token, party="region", region_code="3x"))
    assert r.status_code == 422
    assert row_count(order_world.engine, notify_targets) == before
    # a region's SMS phone, all topics
    r = client.post(
        "/inbox/targets",
        data=_target(
            token, channel="sms", address="138 0013 8000", party="region", region_code="330100", topics=[]
        ),
        follow_redirects=False,
    )
    assert r.status_code == 303
    html = client.get("/inbox/targets").text
    assert "<code>13800138000</code>" in html and "region 3301" in html
    # deactivated, kept
    r = client.post(
        f"/inbox/targets/{target_id}/deactivate", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    html = client.get(r.headers["location"]).text
    assert (
        f'<tr data-target="{target_id}" data-active="0">' in html and "The address was deactivated." in html
    )
    assert client.post("/inbox/targets/99999/deactivate", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/inbox/targets/{target_id}/deactivate", data={"csrf_token": "x"}).status_code == 403


@pytest.mark.parametrize("user", ["reg_zj", "ent_a", "op_a", "aud_a"])
def test_notification_addresses_are_the_admins(
    client: TestClient, order_world: OrderWorld, user: str
) -> None:
    token = as_user(client, user)
    before = row_count(order_world.engine, notify_targets)
    assert client.get("/inbox/targets").status_code == 403
    party = f"enterprise:{order_world.enterprises['a']}"
    assert (
        client.post("/inbox/targets", data=_target(token, party=party, address="x@example.com")).status_code
        == 403
    )
    assert client.post("/inbox/targets/1/deactivate", data={"csrf_token": token}).status_code == 403
    assert row_count(order_world.engine, notify_targets) == before
