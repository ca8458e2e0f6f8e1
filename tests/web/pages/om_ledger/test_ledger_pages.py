"""The equipment ledger and spare parts pages over HTTP: the list per role with its state and verification badges
and the below-minimum box, the filters, opening a file and recording events through the forms (the store's
refusals in the form, values kept, nothing stored), the spare parts stock and moves, and forged POSTs refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.operations.ledger_schema import equipment, equipment_events, spare_part_moves, spare_parts
from tests.web.pages.conftest import row_count
from tests.web.pages.om_ledger.conftest import MN_A, LedgerWorld, as_user


def _rows(html: str, what: str = "equipment") -> set[int]:
    return {int(x) for x in re.findall(rf'data-{what}="(\d+)"', html)}


@pytest.mark.parametrize(
    ("user", "seen", "unseen"),
    [
        ("admin1", {"analyser", "meter", "b_analyser"}, set()),
        ("reg_zj", {"analyser", "meter"}, {"b_analyser"}),  # 运维甲 has a contract in 浙江
        ("reg_gd", {"b_analyser"}, {"analyser", "meter"}),
        ("op_a", {"analyser", "meter"}, {"b_analyser"}),
        ("fs_a", {"analyser", "meter"}, {"b_analyser"}),
        ("aud_a", {"analyser", "meter"}, {"b_analyser"}),
        ("op_b", {"b_analyser"}, {"analyser", "meter"}),
    ],
)
def test_the_list_follows_the_scope(
    client: TestClient, ledger_world: LedgerWorld, user: str, seen: set[str], unseen: set[str]
) -> None:
    as_user(client, user)
    html = client.get("/om/ledger").text
    ids = ledger_world.ids
    shown = _rows(html)
    assert {ids[k] for k in seen} <= shown
    assert not {ids[k] for k in unseen} & shown
    for key in unseen:  # the file page, not only the list, refuses them like missing ones
        r = client.get(f"/om/ledger/{ids[key]}")
        assert r.status_code == 404 and f"no equipment with id {ids[key]}" in r.text


def test_an_enterprise_has_no_ledger(client: TestClient, ledger_world: LedgerWorld) -> None:
    as_user(client, "ent_a")
    for path in ("/om/ledger", "/om/spare-parts", "/om/emergency"):
        r = client.get(path)
        assert r.status_code == 403 and "role enterprise has no equipment ledger" in r.text
    assert client.get(f"/om/ledger/{ledger_world.ids['analyser']}").status_code == 404


def test_badges_and_the_below_minimum_box(client: TestClient, ledger_world: LedgerWorld) -> None:
    as_user(client, "op_a")
    html = client.get("/om/ledger").text
    ids = ledger_world.ids
    analyser = re.search(rf'<tr data-equipment="{ids["analyser"]}"[^>]*>.*?</tr>', html, re.S)
    assert analyser is not None
    row = analyser.group(0)
    assert 'data-state="installed"' in row and 'data-verification="overdue"' in row and 'class="over"' in row
    assert "Verification overdue" in row and MN_A in row and "Installed" in row
    meter = re.search(rf'<tr data-equipment="{ids["meter"]}"[^>]*>', html)
    assert meter is not None and 'data-verification="due"' in meter.group(0)
    box = re.search(
        r'<section class="card" aria-labelledby="low-h" id="below-minimum">.*?</section>', html, re.S
    )
    assert box is not None
    assert f'data-part="{ids["pump"]}"' in box.group(0) and "1 个 in stock, minimum 2" in box.group(0)
    assert f'data-part="{ids["filter"]}"' not in box.group(0)
    assert 'id="new-equipment"' in html
    as_user(client, "reg_zj")
    assert 'id="new-equipment"' not in client.get("/om/ledger").text  # regulators read only


def test_filters(client: TestClient, ledger_world: LedgerWorld) -> None:
    ids = ledger_world.ids
    as_user(client, "admin1")
    assert _rows(client.get("/om/ledger?state=installed").text) == {ids["analyser"]}
    assert _rows(client.get("/om/ledger?verification=overdue").text) == {ids["analyser"]}
    assert _rows(client.get("/om/ledger?verification=due").text) == {ids["analyser"], ids["meter"]}
    a = ledger_world.operators["a"]
    assert _rows(client.get(f"/om/ledger?operator={a}").text) == {ids["analyser"], ids["meter"]}
    r = client.get("/om/ledger?state=bogus&verification=x")
    assert r.status_code == 422 and "The filter is not valid: state=bogus, verification=x" in r.text
    as_user(client, "op_a")
    r = client.get(f"/om/ledger?operator={ledger_world.operators['b']}")
    assert r.status_code == 404 and f"no operator with id {ledger_world.operators['b']}" in r.text
    assert client.get("/om/ledger?operator=x").status_code == 422


def _open(client: TestClient, token: str, **changes: str) -> object:
    form = {"csrf_token": token, "kind": "tool", "name": "万用表", "model": "UT-61", "serial": "UT-1"}
    form |= {"purchased_on": "2026-01-05", "comment": "采购"}
    return client.post("/om/ledger/new", data=form | changes, follow_redirects=False)


def test_opening_a_file_and_recording_events(client: TestClient, ledger_world: LedgerWorld) -> None:
    token = as_user(client, "op_a")
    form = client.get("/om/ledger/new").text
    assert 'id="n-operator"' not in form  # one's own operator
    r = _open(client, token)
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    url = r.headers["location"]  # type: ignore[attr-defined]
    assert re.fullmatch(r"/om/ledger/\d+\?done=added", url)
    equipment_id = int(url.split("/")[3].split("?")[0])
    page = client.get(url).text
    assert "The equipment file was opened." in page and 'data-event="purchased"' in page
    # in stock: the form offers what the lifecycle allows there (no move, no removal)
    offered = re.findall(r'<option value="(\w+)"', page.split('id="e-event"')[1].split("</select>")[0])
    assert offered == ["installed", "sent_to_repair", "repaired", "maintained", "verified", "scrapped"]
    assert f'<option value="{MN_A}"' in page  # the operator's contracted devices
    # the same model + serial again: the store's refusal in the form, values kept, nothing stored
    before = row_count(ledger_world.engine, equipment)
    again = _open(client, token, name="另一块表")
    assert again.status_code == 409  # type: ignore[attr-defined]
    text = again.text  # type: ignore[attr-defined]
    assert "The equipment file was not opened:" in text and f"equipment {equipment_id} (万用表)" in text
    assert 'value="另一块表"' in text
    assert row_count(ledger_world.engine, equipment) == before
    events_url = f"/om/ledger/{equipment_id}/events"
    today = ledger_world.today.isoformat()
    ok = client.post(events_url, data={"csrf_token": token, "event": "installed", "on": today, "mn": MN_A})
    assert ok.status_code == 303 and ok.headers["location"] == f"/om/ledger/{equipment_id}?done=event"
    page = client.get(ok.headers["location"]).text
    assert 'data-state="installed"' in page and "The event was recorded." in page
    journal_rows = row_count(ledger_world.engine, equipment_events)
    bad = client.post(
        events_url, data={"csrf_token": token, "event": "verified", "on": today, "comment": "年检"}
    )
    assert (
        bad.status_code == 422 and "The event was not recorded: &#39;verified&#39; needs the next" in bad.text
    )
    assert "年检</textarea>" in bad.text
    wrong_day = client.post(events_url, data={"csrf_token": token, "event": "maintained", "on": "tomorrow"})
    assert wrong_day.status_code == 422 and "the day must be a date such as 2026-11-21" in wrong_day.text
    assert row_count(ledger_world.engine, equipment_events) == journal_rows
    due = (ledger_world.today + timedelta(days=365)).isoformat()
    client.post(events_url, data={"csrf_token": token, "event": "verified", "on": today, "next_due": due})
    scrapped = client.post(
        events_url, data={"csrf_token": token, "event": "scrapped", "on": today, "comment": "报废"}
    )
    assert scrapped.status_code == 303
    page = client.get(f"/om/ledger/{equipment_id}").text
    assert 'id="event-form"' not in page and 'id="closed"' in page
    assert [e for e in re.findall(r'data-event="(\w+)"', page)] == [
        "purchased",
        "installed",
        "verified",
        "scrapped",
    ]
    late = client.post(events_url, data={"csrf_token": token, "event": "maintained", "on": today})
    assert late.status_code == 409 and "equipment that is scrapped cannot take" in late.text


def test_an_admin_names_the_operator(client: TestClient, ledger_world: LedgerWorld) -> None:
    token = as_user(client, "admin1")
    assert 'id="n-operator"' in client.get("/om/ledger/new").text
    r = _open(client, token, serial="ADM-1")
    assert r.status_code == 422 and "choose the operator the record belongs to" in r.text  # type: ignore[attr-defined]
    r = _open(client, token, serial="ADM-1", operator_id=str(ledger_world.operators["b"]))
    assert r.status_code == 303  # type: ignore[attr-defined]
    r = _open(client, token, serial="ADM-2", operator_id="999999")
    assert r.status_code == 404  # type: ignore[attr-defined]


def test_forged_writes_are_refused(client: TestClient, ledger_world: LedgerWorld) -> None:
    ids = ledger_world.ids
    before = (
        row_count(ledger_world.engine, equipment_events),
        row_count(ledger_world.engine, spare_part_moves),
    )
    event = {"event": "maintained", "on": ledger_world.today.isoformat()}
    move = {"part_id": str(ids["pump"]), "direction": "in", "quantity": "1", "reason": "x"}
    for user, status in (("op_b", 404), ("reg_gd", 404), ("reg_zj", 403), ("aud_a", 403)):
        token = as_user(client, user)
        r = client.post(f"/om/ledger/{ids['analyser']}/events", data={"csrf_token": token, **event})
        assert r.status_code == status, (user, r.text)
        r = client.post("/om/spare-parts/moves", data={"csrf_token": token, **move})
        assert r.status_code == status, (user, r.text)
    token = as_user(client, "op_a")
    assert client.post(f"/om/ledger/{ids['analyser']}/events", data=event).status_code == 403  # no CSRF token
    assert client.post("/om/spare-parts/moves", data=move).status_code == 403
    for user in ("reg_zj", "aud_a"):
        token = as_user(client, user)
        r = _open(client, token, serial="NO-1")
        assert r.status_code == 403 and "may not record equipment" in r.text  # type: ignore[attr-defined]
    after = (
        row_count(ledger_world.engine, equipment_events),
        row_count(ledger_world.engine, spare_part_moves),
    )
    assert after == before


def test_spare_parts_stock_and_moves(client: TestClient, ledger_world: LedgerWorld) -> None:
    ids = ledger_world.ids
    token = as_user(client, "fs_a")
    html = client.get("/om/spare-parts").text
    pump = re.search(rf'<tr data-part="{ids["pump"]}"[^>]*>', html)
    filt = re.search(rf'<tr data-part="{ids["filter"]}"[^>]*>', html)
    assert pump is not None and 'data-below="1"' in pump.group(0)
    assert filt is not None and "data-below" not in filt.group(0)
    assert ids["b_part"] not in _rows(html, "part")
    moves = row_count(ledger_world.engine, spare_part_moves)
    out = {
        "csrf_token": token,
        "part_id": str(ids["filter"]),
        "direction": "out",
        "quantity": "50",
        "reason": "更换",
    }
    r = client.post("/om/spare-parts/moves", data=out)
    assert r.status_code == 422
    assert (
        "The move was not recorded: spare part 滤芯 F-1 has" in r.text and "50 cannot be taken out" in r.text
    )
    assert 'value="更换"' in r.text
    r = client.post("/om/spare-parts/moves", data=out | {"quantity": "0"})
    assert r.status_code == 422 and "the quantity must be 1 or more, not 0" in r.text
    assert row_count(ledger_world.engine, spare_part_moves) == moves
    r = client.post("/om/spare-parts/moves", data=out | {"quantity": "2", "mn": MN_A})
    assert r.status_code == 303 and r.headers["location"] == "/om/spare-parts?done=move"
    with ledger_world.engine.connect() as conn:
        last = (
            conn.execute(select(spare_part_moves).order_by(spare_part_moves.c.id.desc())).mappings().first()
        )
    assert last is not None and (last["quantity"], last["recorded_by"]) == (-2, "fs_a")
    assert "The move was recorded." in client.get("/om/spare-parts?done=move").text
    part = {"csrf_token": token, "name": "标气减压阀", "model": "R-1", "unit": "个", "min_stock": "1"}
    assert client.post("/om/spare-parts", data=part).status_code == 303
    again = client.post("/om/spare-parts", data=part)
    assert again.status_code == 409 and "already has spare part 标气减压阀 R-1" in again.text
    with ledger_world.engine.connect() as conn:
        names = set(conn.execute(select(spare_parts.c.name)).scalars())
    assert "标气减压阀" in names
