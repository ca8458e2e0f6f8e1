"""Registry administration over HTTP: each list, create and edit form, the services' refusals shown in
the form with nothing saved, emission limits as append-only history, a device's page, audit rows."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.registry.schema import contracts, device_keys, emission_limits, enterprises, outlets
from envwatch.web.accounts.schema import audit_log
from envwatch.web.pages.paging import PAGE_SIZE, search_page
from tests.web.pages.admin.conftest import MN_2025, AdminWorld, credit_code
from tests.web.pages.conftest import row_count

Admin = tuple[TestClient, str]


def _problem(page: str) -> str:
    found = re.search(r'role="alert" id="problem">(.*?)</p>', page, re.S)
    assert found is not None, "no problem shown"
    return html.unescape(found.group(1))


def _outlet_id(aworld: AdminWorld, enterprise_id: int, code: str) -> int:
    with aworld.engine.connect() as conn:
        query = select(outlets.c.id).where(outlets.c.enterprise_id == enterprise_id, outlets.c.code == code)
        return int(conn.execute(query).scalar_one())


def _last_audit(aworld: AdminWorld) -> dict[str, object]:
    with aworld.engine.connect() as conn:
        row = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).one()
    return dict(row._mapping)


def test_enterprise_create_edit_search_and_bad_credit_code(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    code = credit_code(11)
    form = {"csrf_token": token, "name": "丁化工有限公司", "region_code": "350102", "attention_level": "city"}
    before = row_count(aworld.engine, enterprises)
    # a mistyped check character: the model's GB 32100 message, under the page's lead-in; nothing saved
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    r = client.post("/admin/registry/enterprises", data=form | {"credit_code": wrong})
    assert r.status_code == 422
    assert _problem(r.text).startswith("The enterprise was not saved: credit_code: credit code")
    assert "fails the GB 32100 check" in r.text
    assert 'value="丁化工有限公司"' in r.text  # what was typed is kept
    assert row_count(aworld.engine, enterprises) == before
    assert _last_audit(aworld)["status_code"] == 422

    r = client.post("/admin/registry/enterprises", data=form | {"credit_code": code}, follow_redirects=False)
    assert r.status_code == 303
    new_id = int(r.headers["location"].rsplit("=", 1)[1])
    audit = _last_audit(aworld)
    assert (audit["path"], audit["status_code"], audit["username"]) == (
        "/admin/registry/enterprises",
        303,
        "admin1",
    )
    assert audit["detail"] == {"section": "enterprises", "created": str(new_id)}
    listing = client.get("/admin/registry/enterprises?q=丁化工").text
    assert f'data-key="{new_id}"' in listing and "甲化工" not in listing

    # the same credit code again: the service's Conflict
    r = client.post("/admin/registry/enterprises", data=form | {"credit_code": code, "name": "戊"})
    assert r.status_code == 409 and "already registered" in _problem(r.text)

    # edit: rename, and a refused edit (empty name) leaves the row as it was
    edit = form | {"credit_code": code, "name": "丁化工股份有限公司", "q": "丁", "page": "1"}
    r = client.post(f"/admin/registry/enterprises/{new_id}", data=edit, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"q=%E4%B8%81&page=1&saved={new_id}")
    assert _last_audit(aworld)["target"] == f"row_id={new_id}"
    r = client.post(f"/admin/registry/enterprises/{new_id}", data=edit | {"name": ""})
    assert r.status_code == 422 and "name: is empty" in _problem(r.text)
    with aworld.engine.connect() as conn:
        assert (
            conn.execute(select(enterprises.c.name).where(enterprises.c.id == new_id)).scalar()
            == "丁化工股份有限公司"
        )


def test_outlet_duplicate_code_and_edit(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    form = {
        "csrf_token": token,
        "enterprise_id": str(aworld.enterprise_a),
        "code": "DW009",
        "name": "废水总排口",
    }
    r = client.post("/admin/registry/outlets", data=form | {"kind": "water"}, follow_redirects=False)
    assert r.status_code == 303
    before = row_count(aworld.engine, outlets)
    r = client.post("/admin/registry/outlets", data=form | {"kind": "water", "name": "另一个"})
    assert r.status_code == 409
    assert "already has an outlet with code DW009" in _problem(r.text)
    assert row_count(aworld.engine, outlets) == before
    # no enterprise chosen
    r = client.post("/admin/registry/outlets", data=form | {"enterprise_id": "", "kind": "water"})
    assert r.status_code == 422 and "choose an enterprise" in _problem(r.text)
    outlet_id = _outlet_id(aworld, aworld.enterprise_a, "DW009")
    edit = {"csrf_token": token, "code": "DW009", "name": "废水排口(改)", "kind": "water"}
    r = client.post(f"/admin/registry/outlets/{outlet_id}", data=edit, follow_redirects=False)
    assert r.status_code == 303
    assert "废水排口(改)" in client.get("/admin/registry/outlets").text


def test_limits_are_added_never_edited(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    outlet_id = _outlet_id(aworld, aworld.enterprise_a, "DA001")
    form = {
        "csrf_token": token,
        "outlet_id": str(outlet_id),
        "factor": "a21026",
        "hour_limit": "35.0",
        "unit": "mg/m3",
        "reference_o2": "6",
        "valid_from": "2026-01-01",
        "legal_source": "GB 13223-2011 表1",
    }
    before = row_count(aworld.engine, emission_limits)
    r = client.post("/admin/registry/limits", data=form | {"valid_to": "2025-12-31"})
    assert r.status_code == 422
    assert "valid_to 2025-12-31 is before valid_from 2026-01-01" in _problem(r.text)
    assert row_count(aworld.engine, emission_limits) == before
    assert client.post("/admin/registry/limits", data=form, follow_redirects=False).status_code == 303
    newer = form | {"hour_limit": "30.00", "valid_from": "2026-07-01"}
    assert client.post("/admin/registry/limits", data=newer, follow_redirects=False).status_code == 303
    assert row_count(aworld.engine, emission_limits) == before + 2
    page = client.get("/admin/registry/limits?q=a21026").text
    assert "35.0" in page and "30.00" in page  # digit for digit, both in the history
    assert "New version" in page and "/admin/registry/limits/" not in page  # no edit route for limits
    assert client.post(f"/admin/registry/limits/{before + 1}", data=form).status_code in (404, 405)


def test_operator_and_contract(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    r = client.post(
        "/admin/registry/operators",
        data={"csrf_token": token, "name": "己运维", "credit_code": credit_code(12), "phone": "0571-1234"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    operator_id = r.headers["location"].rsplit("=", 1)[1]
    contract = {
        "csrf_token": token,
        "operator_id": operator_id,
        "enterprise_id": str(aworld.enterprise_a),
        "contract_no": "YW-2026-01",
        "valid_from": "2026-01-01",
    }
    before = row_count(aworld.engine, contracts)
    r = client.post("/admin/registry/contracts", data=contract | {"valid_to": "2025-01-01"})
    assert r.status_code == 422 and "is before valid_from" in _problem(r.text)
    # an outlet of another enterprise: the service's check
    other_outlet = _outlet_id(aworld, aworld.enterprise_b, "DA001")
    r = client.post("/admin/registry/contracts", data=contract | {"outlet_id": str(other_outlet)})
    assert r.status_code == 422 and "not to the contract's enterprise" in _problem(r.text)
    assert row_count(aworld.engine, contracts) == before
    r = client.post("/admin/registry/contracts", data=contract, follow_redirects=False)
    assert r.status_code == 303
    contract_id = r.headers["location"].rsplit("=", 1)[1]
    edit = {k: v for k, v in contract.items() if k != "operator_id"} | {"valid_to": "2026-12-31"}
    r = client.post(f"/admin/registry/contracts/{contract_id}", data=edit, follow_redirects=False)
    assert r.status_code == 303
    assert "2026-12-31" in client.get("/admin/registry/contracts?q=YW-2026").text


def test_device_create_place_factors_and_key(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    water = _outlet_id(aworld, aworld.enterprise_a, "DA001")  # a gas outlet
    device = {"csrf_token": token, "mn": "NEWDEV0001", "pw": "123456", "name": "新数采仪", "protocol": "2017"}
    # a water device on a gas outlet: refused by the service, and the device is not half-created
    r = client.post("/admin/registry/devices", data=device | {"kind": "water", "outlet_id": str(water)})
    assert r.status_code == 422 and "is a gas outlet" in _problem(r.text)
    assert "123456" not in r.text  # the access password is not sent back
    assert client.get("/admin/registry/devices/NEWDEV0001").status_code == 404
    r = client.post(
        "/admin/registry/devices",
        data=device | {"kind": "gas", "outlet_id": str(water)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/admin/registry/devices/NEWDEV0001").text
    assert "甲化工有限公司" in page and "123456" not in page

    # placement with model and serial
    base = f"/admin/registry/devices/{MN_2025}"
    r = client.post(
        base + "/outlet",
        data={"csrf_token": token, "outlet_id": str(water), "model": "XY-100", "serial": "SN-9"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "XY-100" in client.get(base).text
    # factors: a bad range is refused in the form, a good one is listed
    factor = {"csrf_token": token, "factor": "a21026", "unit": "mg/m3", "basis": "standard_dry", "rated": "1"}
    r = client.post(base + "/factors", data=factor | {"range_low": "100", "range_high": "0"})
    assert r.status_code == 422 and "must be below range_high" in _problem(r.text)
    r = client.post(
        base + "/factors", data=factor | {"range_low": "0", "range_high": "200.0"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert 'data-factor="a21026"' in client.get(base).text and "200.0" in client.get(base).text

    # a new SM4 key: shown once, never again (only its fingerprint)
    keys_before = row_count(aworld.engine, device_keys)
    r = client.post(base + "/keys", data={"csrf_token": token})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    key = re.search(r'class="secret"><code>([0-9A-F]{32})</code>', r.text)
    assert key is not None
    assert row_count(aworld.engine, device_keys) == keys_before + 1
    later = client.get(base).text
    assert key.group(1) not in later and "current" in later
    assert _last_audit(aworld)["detail"] == {"mn": MN_2025, "change": "sm4_key"}
    # a 2017 device has no SM4 key: the service's refusal
    r = client.post("/admin/registry/devices/NEWDEV0001/keys", data={"csrf_token": token})
    assert r.status_code == 422 and "only 2025 devices use SM4 keys" in _problem(r.text)
    assert client.post("/admin/registry/devices/NOPE/keys", data={"csrf_token": token}).status_code == 404


def test_lists_page_by_fifty() -> None:
    rows = [f"row {n}" for n in range(PAGE_SIZE * 2 + 3)]
    first = search_page(rows, str, "", None)
    assert (len(first.rows), first.pages, first.total) == (PAGE_SIZE, 3, len(rows))
    last = search_page(rows, str, "", "99")  # out of range: the last page
    assert last.page == 3 and last.rows == rows[-3:]
    assert search_page(rows, str, " ROW 10 ", "1").rows == ["row 10", "row 100", "row 101", "row 102"]
