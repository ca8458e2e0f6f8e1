"""Correcting and withdrawing a certificate on the personnel file's page (TestClient, English): the forms,
the history struck through with who, when and why, refusals with the message in the form."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from envwatch.core.clock import utcnow
from envwatch.operations import staff as staff_store
from envwatch.operations.staff_schema import staff_certificates
from tests.web.pages.conftest import row_count
from tests.web.pages.om_staff.conftest import DAY, TODAY, StaffWorld, as_user


def _person(world: StaffWorld, name: str) -> tuple[int, int]:
    """A person of 运维甲 of this test's own, with one certificate valid for 300 more days."""
    now = utcnow()
    with world.engine.begin() as conn:
        sid = staff_store.add_staff(
            conn, operator_id=world.operators["a"], name=name, position="sampler", phone="123", now=now
        )["id"]
        cid = staff_store.add_certificate(
            conn, sid, kind="运维上岗证（废水）", number=f"W-{name}", issuer="环境监测协会",
            issued_on=TODAY - 100 * DAY, valid_until=TODAY + 300 * DAY, recorded_by="op_a", now=now,
        )["id"]  # fmt: skip
    return int(sid), int(cid)


def _row(html: str, cid: int) -> str:
    found = re.search(rf'<tr data-certificate="{cid}"[^>]*>.*?</tr>', html, re.S)
    assert found is not None, cid
    return found.group(0)


def _form(token: str, **fields: Any) -> dict[str, Any]:
    return {
        "csrf_token": token, "kind": "运维上岗证（废水）", "number": "W-1", "issuer": "环境监测协会",
        "issued_on": (TODAY - 100 * DAY).isoformat(), "valid_until": (TODAY + 300 * DAY).isoformat(),
        "reason": "",
    } | fields  # fmt: skip


def test_correct_then_withdraw_a_certificate(client: TestClient, staff_world: StaffWorld) -> None:
    sid, cid = _person(staff_world, "郑一")
    token = as_user(client, "op_a")
    page = client.get(f"/om/staff/{sid}").text
    row = _row(page, cid)
    assert f'id="correct-form-{cid}"' in row and 'value="W-郑一"' in row  # prefilled with the row's values
    assert f'value="{(TODAY + 300 * DAY).isoformat()}"' in row
    url = f"/om/staff/{sid}/certificates/{cid}/corrections"
    until = (TODAY + 3 * DAY).isoformat()
    form = _form(token, number="W-郑一", valid_until=until, reason="有效期录错")
    r = client.post(url, data=form, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/om/staff/{sid}?done=certificate_corrected")
    page = client.get(r.headers["location"]).text
    assert "The correction of the certificate was recorded." in page
    old = _row(page, cid)
    assert 'class="superseded" data-superseded="corrected"' in old
    assert f"<del>{(TODAY + 300 * DAY).isoformat()}</del>" in old and "<del>W-郑一</del>" in old
    assert "Corrected by op_a at " in old and "有效期录错" in old and "correct-form" not in old
    new_id = int(re.findall(r'<tr data-certificate="(\d+)"', page)[-1])
    new = _row(page, new_id)
    assert "superseded" not in new and f'<td data-label="Last valid day">{until}</td>' in new
    assert "Corrects an earlier record: 有效期录错" in new and f'id="correct-form-{new_id}"' in new
    assert "Expires in 3 days" in page.split('id="cert-today"', 1)[1].split("</dd>", 1)[0]
    # the first row again: refused, the message in its form (no longer shown), nothing stored
    before = row_count(staff_world.engine, staff_certificates)
    r = client.post(url, data=form | {"reason": "again"})
    assert r.status_code == 409
    assert (
        f"The correction was not recorded: certificate record {cid} was corrected already by certificate "
        f"record {new_id}: correct that one instead"
    ) in _row(r.text, cid)  # shown in the superseded row itself (its form is gone)
    assert row_count(staff_world.engine, staff_certificates) == before
    # withdraw the current row (no field is needed, the reason is)
    withdraw = {"csrf_token": token, "action": "withdraw", "reason": ""}
    url = f"/om/staff/{sid}/certificates/{new_id}/corrections"
    r = client.post(url, data=withdraw)
    assert r.status_code == 422
    assert "Not withdrawn: a correction needs a reason: say what was wrong in the row it corrects" in r.text
    assert re.search(rf'<details class="act" id="correct-{new_id}" open>', r.text)
    assert row_count(staff_world.engine, staff_certificates) == before
    r = client.post(url, data=withdraw | {"reason": "证书已注销"}, follow_redirects=False)
    assert r.headers["location"] == f"/om/staff/{sid}?done=certificate_withdrawn"
    page = client.get(r.headers["location"]).text
    assert "The certificate was withdrawn." in page
    assert 'data-superseded="withdrawn"' in _row(page, new_id) and "Withdrawn by op_a at " in page
    assert 'data-cert="none"' in page and "correct-form" not in page  # nothing current is left


def test_refused_corrections_keep_the_values(client: TestClient, staff_world: StaffWorld) -> None:
    sid, cid = _person(staff_world, "王二")
    token = as_user(client, "op_a")
    url = f"/om/staff/{sid}/certificates/{cid}/corrections"
    before = row_count(staff_world.engine, staff_certificates)
    cases = [
        (_form(token, number="W-王二", valid_until="soon", reason="x"), 422,
         "The correction was not recorded: valid_until must be a date such as 2026-11-21, not &#39;soon&#39;"),
        (_form(token, number="W-王二", reason="x"), 422,
         f"The correction was not recorded: the correction changes nothing in certificate record {cid}: give "
         "the right values, or withdraw it"),
        (_form(token, number="W-王二", valid_until=(TODAY - 200 * DAY).isoformat(), reason="录错"), 422,
         "valid_until"),
    ]  # fmt: skip
    for form, status, message in cases:
        r = client.post(url, data=form)
        assert r.status_code == status, form
        assert message in r.text
        row = _row(r.text, cid)
        assert f'<details class="act" id="correct-{cid}" open>' in row and 'role="alert"' in row
        assert f">{form['reason']}</textarea>" in row  # what was typed is given back
    assert row_count(staff_world.engine, staff_certificates) == before


def test_who_may_correct(client: TestClient, staff_world: StaffWorld) -> None:
    sid, cid = _person(staff_world, "冯三")
    other, _ = _person(staff_world, "陈四")
    before = row_count(staff_world.engine, staff_certificates)
    url = f"/om/staff/{sid}/certificates/{cid}/corrections"
    token = as_user(client, "reg_zj")  # reads 运维甲's files: the history, no form; may not write
    page = client.get(f"/om/staff/{sid}").text
    assert 'id="certificates"' in page and "correct-form" not in page
    r = client.post(url, data=_form(token, reason="x", number="N"))
    assert r.status_code == 403 and "role regulator may not manage staff" in r.text
    token = as_user(client, "op_b")  # does not see 运维甲
    assert client.post(url, data=_form(token, reason="x", number="N")).status_code == 404
    token = as_user(client, "op_a")
    r = client.post(f"/om/staff/{other}/certificates/{cid}/corrections", data=_form(token, reason="x"))
    assert r.status_code == 404 and f"no certificate record with id {cid} of staff member {other}" in r.text
    r = client.post(url, data={k: v for k, v in _form(token, reason="x").items() if k != "csrf_token"})
    assert r.status_code == 403
    assert row_count(staff_world.engine, staff_certificates) == before


def test_the_history_in_chinese(client: TestClient, staff_world: StaffWorld) -> None:
    sid, cid = _person(staff_world, "褚五")
    token = as_user(client, "op_a")
    form = _form(token, number="W-褚五", valid_until=(TODAY + 30 * DAY).isoformat(), reason="有效期录错")
    client.post(f"/om/staff/{sid}/certificates/{cid}/corrections", data=form)
    client.cookies.set("lang", "zh_CN")
    page = client.get(f"/om/staff/{sid}").text
    assert "op_a 于 " in page and " 更正：" in page and "已更正" in page and "撤销：误录" in page
