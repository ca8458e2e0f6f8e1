"""The daily audit pages over HTTP: whose days each role sees, the day list (anomaly counts, signed or "not
audited", today not over), the day view, signing and re-signing (a note required), a month, the auditor's
period, and every forged sign-off refused."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from envwatch.alarms.audit_days import sign_offs_of
from envwatch.alarms.orders_schema import audit_days
from tests.web.pages.conftest import row_count, shown_count
from tests.web.pages.orders.conftest import (
    AUDIT_ANOMALY_DAYS_AGO,
    AUDITOR_PERIOD,
    SIGNED_DAYS_AGO,
    OrderWorld,
    as_user,
)


def _days(html: str) -> dict[str, str]:
    """day → its audit state (signed, unaudited, running) as the list shows it."""
    return dict(re.findall(r'data-day="([\d-]+)" data-audit="(\w+)"', html))


def _count(html: str, day: date) -> int:
    found = re.search(rf'data-day="{day.isoformat()}".*?class="num">(\d+)<', html, re.S)
    assert found is not None
    return int(found.group(1))


def _sign(
    client: TestClient, token: str, world: OrderWorld, day: date, note: str = "", operator: str = "a"
) -> int:
    r = client.post(
        f"/audit/{day.isoformat()}?operator={world.operators[operator]}",
        data={"csrf_token": token, "note": note},
        follow_redirects=False,
    )
    return r.status_code


def test_an_operator_sees_its_last_30_days_and_today(client: TestClient, order_world: OrderWorld) -> None:
    as_user(client, "op_a")
    html = client.get("/audit").text
    days = _days(html)
    today = order_world.days_ago(0)
    assert len(days) == 31 and next(iter(days)) == today.isoformat()  # newest first
    assert days[today.isoformat()] == "running"
    assert days[order_world.days_ago(SIGNED_DAYS_AGO).isoformat()] == "signed"
    assert days[order_world.days_ago(30).isoformat()] == "unaudited"
    assert order_world.days_ago(31).isoformat() not in days
    assert "已核查" in html and 'id="a-operator"' not in html  # its own operator: no chooser
    assert _count(html, order_world.days_ago(AUDIT_ANOMALY_DAYS_AGO)) >= 1
    assert shown_count(html, "unaudited") == sum(1 for s in days.values() if s == "unaudited")
    assert re.search(r'<tr data-day="[\d-]+" data-audit="unaudited" class="over">', html)  # highlighted


def test_the_day_view_lists_the_anomalies_and_the_sign_offs(
    client: TestClient, order_world: OrderWorld
) -> None:
    as_user(client, "op_a")
    day = order_world.days_ago(AUDIT_ANOMALY_DAYS_AGO)
    html = client.get(f"/audit/{day.isoformat()}").text
    assert f'href="/alarms/{order_world.alarms["day_a"]}"' in html and "Sudden jump" in html
    assert f'href="/alarms/{order_world.alarms["exceed_b"]}"' not in html  # 乙's: not 运维甲's outlet
    assert 'id="not-audited"' in html and 'id="sign-form"' in html
    signed = client.get(f"/audit/{order_world.days_ago(SIGNED_DAYS_AGO).isoformat()}").text
    assert "已核查" in signed and 'data-current="1"' in signed and "say why it is signed again" in signed
    assert client.get("/audit/yesterday").status_code == 422


def test_sign_then_re_sign_with_a_note(client: TestClient, order_world: OrderWorld) -> None:
    token = as_user(client, "op_a")
    day = order_world.days_ago(AUDIT_ANOMALY_DAYS_AGO)
    assert _sign(client, token, order_world, day, "") == 303  # the first sign-off needs no note
    html = client.get(f"/audit/{day.isoformat()}?operator={order_world.operators['a']}&done=signed").text
    assert "The day was signed off." in html and "1 anomalies reviewed" in html
    # again without a note: refused in the form, nothing stored
    before = row_count(order_world.engine, audit_days)
    r = client.post(f"/audit/{day.isoformat()}", data={"csrf_token": token, "note": "  "})
    assert (
        r.status_code == 422 and "The day was not signed off:" in r.text and "say why in the note" in r.text
    )
    assert row_count(order_world.engine, audit_days) == before
    assert _sign(client, token, order_world, day, "漏看了一条报警，重新审核") == 303
    with order_world.engine.connect() as conn:
        rows = sign_offs_of(conn, order_world.operators["a"], day)
    assert [r["note"] for r in rows] == ["", "漏看了一条报警，重新审核"] and rows[-1]["anomalies"] == 1
    html = client.get("/audit").text
    assert _days(html)[day.isoformat()] == "signed" and "漏看了一条报警" in html
    html = client.get(f"/audit/{day.isoformat()}").text
    assert html.count("data-sign-off=") == 2 and "corrected later" in html


def test_today_cannot_be_signed(client: TestClient, order_world: OrderWorld) -> None:
    token = as_user(client, "op_a")
    today = order_world.days_ago(0)
    html = client.get(f"/audit/{today.isoformat()}").text
    assert (
        'id="not-over"' in html and 'id="sign-form"' not in html and "is not over in China time until" in html
    )
    r = client.post(f"/audit/{today.isoformat()}", data={"csrf_token": token, "note": ""})
    assert r.status_code == 422 and "sign it off after that" in r.text


def test_a_month(client: TestClient, order_world: OrderWorld) -> None:
    as_user(client, "op_a")
    day = order_world.days_ago(40)
    html = client.get(f"/audit?month={day:%Y-%m}").text
    days = _days(html)
    assert day.isoformat() in days and all(d.startswith(f"{day:%Y-%m}") for d in days)
    assert client.get("/audit?month=2026-13").status_code == 422
    assert client.get(f"/audit?month={order_world.days_ago(-40):%Y-%m}").status_code == 422  # not begun


def test_admin_and_regulators_choose_an_operator_in_their_scope(
    client: TestClient, order_world: OrderWorld
) -> None:
    op_a, op_b = order_world.operators["a"], order_world.operators["b"]
    as_user(client, "admin1")
    html = client.get("/audit").text
    assert 'id="choose"' in html and f'<option value="{op_a}">' in html and f'<option value="{op_b}">' in html
    assert len(_days(client.get(f"/audit?operator={op_b}").text)) == 31
    as_user(client, "reg_zj")
    html = client.get("/audit").text
    assert f'<option value="{op_a}">' in html and f'<option value="{op_b}">' not in html
    html = client.get(f"/audit?operator={op_a}").text
    assert _days(html)[order_world.days_ago(SIGNED_DAYS_AGO).isoformat()] == "signed"
    day = order_world.days_ago(SIGNED_DAYS_AGO).isoformat()
    assert 'id="sign-form"' not in client.get(f"/audit/{day}?operator={op_a}").text  # regulators read only
    assert client.get(f"/audit?operator={op_b}").status_code == 404
    assert client.get(f"/audit/{day}?operator={op_b}").status_code == 404
    assert client.get(f"/audit/{day}").status_code == 422  # whose day?
    assert client.get("/audit?operator=x").status_code == 422


@pytest.mark.parametrize(("user", "status"), [("ent_a", 403), ("fs_a", 403), ("op_b", 404), ("reg_gd", 404)])
def test_others_never_read_operator_a(
    client: TestClient, order_world: OrderWorld, user: str, status: int
) -> None:
    as_user(client, user)
    op_a = order_world.operators["a"]
    day = order_world.days_ago(SIGNED_DAYS_AGO).isoformat()
    assert client.get(f"/audit?operator={op_a}").status_code == status
    assert client.get(f"/audit/{day}?operator={op_a}").status_code == status


def test_forged_sign_offs_are_refused(client: TestClient, order_world: OrderWorld) -> None:
    before = row_count(order_world.engine, audit_days)
    day = order_world.days_ago(10)
    for user, status in (("reg_zj", 403), ("ent_a", 403), ("fs_a", 403), ("op_b", 404), ("reg_gd", 404)):
        token = as_user(client, user)
        assert _sign(client, token, order_world, day, "伪造") == status, user
    token = as_user(client, "op_a")
    assert _sign(client, "wrong", order_world, day, "x") == 403  # CSRF
    assert _sign(client, token, order_world, day, "x", operator="b") == 404  # another operator's day
    assert row_count(order_world.engine, audit_days) == before


def test_the_auditor_works_inside_its_period(client: TestClient, order_world: OrderWorld) -> None:
    token = as_user(client, "aud_a")
    days = _days(client.get("/audit").text)
    newest, oldest = order_world.days_ago(2), order_world.days_ago(AUDITOR_PERIOD + 1)
    assert next(iter(days)) == newest.isoformat() and len(days) == AUDITOR_PERIOD  # its period, not today's
    assert oldest.isoformat() in days and order_world.days_ago(AUDITOR_PERIOD + 2).isoformat() not in days
    inside = order_world.days_ago(8)
    assert _sign(client, token, order_world, inside, "审核完毕") == 303
    outside = order_world.days_ago(1)
    assert client.get(f"/audit/{outside.isoformat()}").status_code == 403
    assert _sign(client, token, order_world, outside, "x") == 403
    assert client.get(f"/audit?month={order_world.days_ago(400):%Y-%m}").status_code == 403
