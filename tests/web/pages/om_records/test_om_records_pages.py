"""The field-record pages over HTTP: the list per role with its filters and badges, the due box, the two-step
form for each kind (what is posted becomes the payload), refusals shown in the form with the values kept,
photos, the record page with its judgement, the registration warning and the correction chain, the reference
materials and registrations pages, and forged or outside POSTs refused."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.operations.records import RecordQuery, get_record, list_records
from envwatch.operations.records_schema import field_records, operator_registrations, reference_materials
from envwatch.registry.schema import attachments
from tests.operations.records_world import GAS_MN, OTHER_MN, SITE, WATER_MN
from tests.web.pages.conftest import row_count
from tests.web.pages.om_records.conftest import MAX_BYTES, PageWorld, as_user, local


def _ids(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-record="(\d+)"', html)}


def _form(pw: PageWorld, token: str, **fields: Any) -> dict[str, Any]:
    """An inspection of 甲's gas device an hour ago by fs_a (孙七), signed in at the outlet."""
    form: dict[str, Any] = {
        "csrf_token": token,
        "mn": GAS_MN,
        "kind": "inspection",
        "performed_at": local(pw.now - timedelta(hours=1)),
        "staff_id": str(pw.fs_staff),
        "i_item_0": "采样管线",
        "i_ok_0": "1",
        "i_note_0": "",
        "i_item_1": "伴热温度",
        "i_ok_1": "0",
        "i_note_1": "偏低",
        "i_item_2": "",
        "i_ok_2": "1",
        "i_note_2": "",
        "latitude": str(SITE[0]),
        "longitude": str(SITE[1]),
        "note": "",
    }
    form.update(fields)
    return form


def _post(client: TestClient, form: dict[str, Any], files: Any = None, path: str = "/om/records") -> Any:
    return client.post(path, data=form, files=files, follow_redirects=False)


def _saved(r: Any) -> int:
    assert r.status_code == 303, re.findall(r'id="problem">([^<]*)', r.text) or r.text[:500]
    found = re.match(r"/om/records/(\d+)\?done=(added|corrected)$", r.headers["location"])
    assert found is not None, r.headers["location"]
    return int(found.group(1))


def _problem(r: Any) -> str:
    found = re.search(r'id="problem">([^<]*)<', r.text)
    assert found is not None, r.text[:500]
    return " ".join(unescape(found.group(1)).split())


# ---- the form, kind by kind ---------------------------------------------------------------------------


def test_the_two_steps_of_the_form(client: TestClient, records_world: PageWorld) -> None:
    as_user(client, "fs_a")
    step1 = client.get("/om/records/new").text
    assert 'id="choose-form"' in step1 and f'value="{GAS_MN}"' in step1
    assert f'value="{OTHER_MN}"' not in step1  # 乙's device: not under 运维甲's contracts
    step2 = client.get("/om/records/new", params={"mn": GAS_MN, "kind": "inspection"}).text
    assert 'id="record-form"' in step2 and 'name="i_item_0"' in step2 and 'id="sign-in-button"' in step2
    assert 'accept="image/*" capture="environment"' in step2
    assert f'<option value="{records_world.fs_staff}" selected>' in step2  # the viewer's own staff record
    assert '<script src="/static/om-sign-in.js" defer></script>' in step2
    water = client.get("/om/records/new", params={"mn": WATER_MN, "kind": "inspection"}).text
    assert "Reagents: quantity and validity" in water and "Heated line temperature" not in water
    assert client.get("/om/records/new", params={"mn": OTHER_MN, "kind": "inspection"}).status_code == 404
    bad = client.get("/om/records/new", params={"mn": GAS_MN, "kind": "painting"})
    assert bad.status_code == 422 and _problem(bad) == "Choose what was done: unknown kind 'painting'"


@pytest.mark.parametrize("user", ["ent_a", "reg_zj"])
def test_only_writers_get_the_form(client: TestClient, user: str) -> None:
    token = as_user(client, user)
    assert client.get("/om/records/new").status_code == 403
    before = row_count_records(client)
    assert _post(client, {"csrf_token": token, "mn": GAS_MN, "kind": "inspection"}).status_code == 403
    assert row_count_records(client) == before


def row_count_records(client: TestClient) -> int:
    return row_count(client.app.state.engine, field_records)  # type: ignore[attr-defined]


def test_an_inspection_with_a_photo(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "fs_a")
    record_id = _saved(
        _post(client, _form(records_world, token), files={"photos": ("现场.jpg", b"\xff\xd8", "image/jpeg")})
    )
    with records_world.engine.connect() as conn:
        row = get_record(conn, record_id)
    assert (row["verdict"], row["on_site"], row["distance_m"], row["staff_id"]) == (
        "fail",
        "yes",
        0,
        records_world.fs_staff,
    )
    assert row["payload"]["items"] == [
        {"item": "采样管线", "ok": True, "note": ""},
        {"item": "伴热温度", "ok": False, "note": "偏低"},
    ]
    assert [a["filename"] for a in row["attachments"]] == ["现场.jpg"]
    page = client.get(f"/om/records/{record_id}?done=added").text
    assert 'id="done"' in page and 'data-verdict="fail"' in page and 'data-on-site="yes"' in page
    assert "伴热温度" in page and "偏低" in page
    assert f'href="/om/records/{record_id}/attachments/{row["attachments"][0]["id"]}"' in page
    download = client.get(f"/om/records/{record_id}/attachments/{row['attachments'][0]['id']}")
    assert (download.status_code, download.content) == (200, b"\xff\xd8")
    assert 'id="not-registered"' in page and "330100" in page  # 运维甲 has no registration in 杭州 yet


def test_no_position_is_saved_as_unknown(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "fs_a")
    record_id = _saved(_post(client, _form(records_world, token, latitude="", longitude="")))
    with records_world.engine.connect() as conn:
        assert get_record(conn, record_id)["on_site"] == "unknown"


def test_a_calibration_and_its_judgement(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "op_a")
    step2 = client.get("/om/records/new", params={"mn": GAS_MN, "kind": "calibration"}).text
    so2, old = records_world.w.materials["so2"], records_world.w.materials["old"]
    # only certificates valid today are offered
    assert f'name="material_ids" value="{so2}"' in step2 and f'name="material_ids" value="{old}"' not in step2
    assert '<option value="a21026">' in step2
    fields = {"kind": "calibration", "staff_id": str(records_world.w.staff["zhang"]), "factor": "a21026",
              "zero_reference": "0", "zero_reading": "0.5", "span_reference": "80", "span_reading": "90.5",
              "mode": "auto", "material_ids": str(so2)}  # fmt: skip
    record_id = _saved(_post(client, _form(records_world, token, **fields)))
    page = client.get(f"/om/records/{record_id}").text
    assert 'data-verdict="fail"' in page and 'id="out-of-control"' in page
    assert 'data-drift="span"' in page and "10.500" in page and "GBW(E)-001" in page


def test_a_comparison_from_the_form(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "op_a")
    pairs = {f"p_{side}_{n}": "20" for n in range(3) for side in ("auto", "ref")}
    pairs |= {"p_auto_3": "", "p_ref_3": ""}  # an empty line is left out
    fields = {"mn": WATER_MN, "kind": "comparison", "staff_id": str(records_world.w.staff["zhang"]),
              "factor": "w01018", "reference_method": "HJ 828-2017", "reference_agency": "某监测站", **pairs}  # fmt: skip
    record_id = _saved(_post(client, _form(records_world, token, **fields)))
    page = client.get(f"/om/records/{record_id}").text
    assert page.count('data-pass="1"') == 3 and 'data-verdict="pass"' in page
    two = {k: v for k, v in fields.items() if not k.endswith("_2")}
    r = _post(client, _form(records_world, token, **two))
    assert r.status_code == 422 and _problem(r) == (
        "The record was not saved: a comparison of w01018 needs at least 3 data pairs, not 2"
    )
    assert (
        'name="p_auto_0" inputmode="decimal" autocomplete="off" aria-label="Automatic value 1" value="20"'
        in r.text
    )


@pytest.mark.parametrize(
    ("kind", "fields", "stored"),
    [
        ("consumable", {"c_name_0": "COD试剂", "c_quantity_0": "2", "c_unit_0": "瓶", "c_lot_0": "B1", "c_name_1": ""},
         {"items": [{"name": "COD试剂", "quantity": "2", "unit": "瓶", "lot": "B1"}]}),
        ("repair", {"part": "采样泵", "symptom": "流量低", "action": "换泵膜", "result": "恢复"},
         {"part": "采样泵", "symptom": "流量低", "action": "换泵膜", "result": "恢复"}),
        ("parameter_change", {"parameter": "量程", "before": "0-200", "after": "0-500", "reason": "超量程", "factor": "a21026"},
         {"parameter": "量程", "before": "0-200", "after": "0-500", "reason": "超量程", "factor": "a21026"}),
        ("waste_liquid", {"volume": "12.5", "unit": "L", "handler": "危废公司", "manifest_no": "ZJ-1"},
         {"volume": "12.5", "unit": "L", "handler": "危废公司", "manifest_no": "ZJ-1"}),
    ],
)  # fmt: skip
def test_record_kinds_from_the_form(
    client: TestClient, records_world: PageWorld, kind: str, fields: dict[str, str], stored: dict[str, Any]
) -> None:
    token = as_user(client, "fs_a")
    assert client.get("/om/records/new", params={"mn": GAS_MN, "kind": kind}).status_code == 200
    record_id = _saved(_post(client, _form(records_world, token, kind=kind, **fields)))
    with records_world.engine.connect() as conn:
        row = get_record(conn, record_id)
    assert (row["payload"], row["verdict"]) == (stored, "none")
    assert client.get(f"/om/records/{record_id}").status_code == 200


def test_refusals_keep_the_values(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "op_a")
    before = row_count(records_world.engine, field_records)
    li = records_world.w.staff["li"]
    r = _post(client, _form(records_world, token, staff_id=str(li), note="保留的备注"))
    assert r.status_code == 422 and _problem(r).startswith(
        f"The record was not saved: 李四 (staff {li}) has no certificate valid on"
    )
    assert "保留的备注" in r.text and 'value="偏低"' in r.text and f'<option value="{li}" selected>' in r.text
    late = _post(
        client, _form(records_world, token, performed_at=local(records_world.now + timedelta(hours=2)))
    )
    assert late.status_code == 422 and "that is in the future" in _problem(late)
    cal = _post(client, _form(records_world, token, kind="calibration", factor="a21026", zero_reference="0",
                              zero_reading="1", span_reference="80", span_reading="80", mode="manual"))  # fmt: skip
    assert _problem(cal) == (
        "The record was not saved: a calibration record cites the certified reference materials it used (SX-20.5): "
        "give at least one"
    )
    bad = _post(client, _form(records_world, token, latitude="north"))
    assert _problem(bad) == "The record was not saved: the latitude 'north' is not a number"
    assert row_count(records_world.engine, field_records) == before
    assert _post(client, _form(records_world, token, mn=OTHER_MN)).status_code == 404
    no_csrf = _form(records_world, token)
    del no_csrf["csrf_token"]
    assert _post(client, no_csrf).status_code == 403
    assert row_count(records_world.engine, field_records) == before


def test_a_photo_over_the_limit(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "fs_a")
    before = row_count(records_world.engine, attachments)
    r = _post(
        client,
        _form(records_world, token),
        files={"photos": ("big.jpg", b"x" * (MAX_BYTES + 1), "image/jpeg")},
    )
    assert r.status_code == 413 and "is larger than the limit of" in r.text
    assert row_count(records_world.engine, attachments) == before


# ---- the record page: corrections and photos ------------------------------------------------------------


def test_correction_chain(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "fs_a")
    first = _saved(_post(client, _form(records_world, token)))
    page = client.get(f"/om/records/{first}").text
    assert 'id="correct-form"' in page and 'name="i_item_1" value="伴热温度"' in page
    fixed = _form(records_world, token, i_ok_1="1", i_note_1="", note="伴热温度实为正常")
    second = _saved(_post(client, fixed, path=f"/om/records/{first}/corrections"))
    page = client.get(f"/om/records/{second}").text
    assert re.findall(r'<li data-record="(\d+)"', page) == [str(first), str(second)]
    assert 'data-verdict="pass"' in page and "伴热温度实为正常" in page
    old = client.get(f"/om/records/{first}").text
    assert 'id="superseded"' in old and 'id="correct-form"' not in old
    again = _post(client, fixed, path=f"/om/records/{first}/corrections")
    assert again.status_code == 409 and _problem(again) == (
        f"The correction was not saved: record {first} was corrected already by record {second}: correct that one instead"
    )
    no_note = _post(client, _form(records_world, token), path=f"/om/records/{second}/corrections")
    assert no_note.status_code == 422 and "a correction needs a note" in _problem(no_note)
    # the list shows the current version; "with corrected versions" both
    assert first not in _ids(client.get("/om/records").text)
    assert {first, second} <= _ids(client.get("/om/records", params={"all": "1"}).text)


def test_photos_added_later(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "fs_a")
    record_id = _saved(_post(client, _form(records_world, token)))
    r = client.post(
        f"/om/records/{record_id}/attachments",
        data={"csrf_token": token},
        files={"photos": ("签字单.jpg", b"scan", "image/jpeg")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/om/records/{record_id}?done=photo"
    empty = client.post(
        f"/om/records/{record_id}/attachments", data={"csrf_token": token}, follow_redirects=False
    )
    assert (
        empty.status_code == 422
        and _problem(empty) == "The file was not added: choose a photo or file to add"
    )
    as_user(client, "ent_a")  # the enterprise sees the record, may not add to it
    assert "签字单.jpg" in client.get(f"/om/records/{record_id}").text
    token = as_user(client, "ent_a")
    refused = client.post(
        f"/om/records/{record_id}/attachments", data={"csrf_token": token}, follow_redirects=False
    )
    assert refused.status_code == 403


# ---- the list ----------------------------------------------------------------------------------------------


def test_the_list_follows_the_scope(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "admin1")
    mine = _saved(_post(client, _form(records_world, token, staff_id=str(records_world.w.staff["zhang"]))))
    theirs = _saved(
        _post(
            client,
            _form(
                records_world,
                token,
                mn=OTHER_MN,
                staff_id=str(records_world.w.staff["zhao"]),
                latitude="",
                longitude="",
            ),
        )
    )
    for user, seen, unseen in (
        ("admin1", {mine, theirs}, set()),
        ("reg_zj", {mine}, {theirs}),
        ("reg_gd", {theirs}, {mine}),
        ("ent_a", {mine}, {theirs}),
        ("ent_b", {theirs}, {mine}),
        ("op_a", {mine}, {theirs}),
        ("op_b", {theirs}, {mine}),
    ):
        as_user(client, user)
        shown = _ids(client.get("/om/records", params={"all": "1"}).text)
        assert seen <= shown and not unseen & shown, user
        for record_id in unseen:
            assert client.get(f"/om/records/{record_id}").status_code == 404


def test_filters_badges_and_paging(client: TestClient, records_world: PageWorld) -> None:
    as_user(client, "op_a")
    html = client.get("/om/records").text
    with records_world.engine.connect() as conn:
        rows, total = list_records(conn, RecordQuery(operator_ids=[records_world.w.op]))
    assert _ids(html) == {r["id"] for r in rows[:50]}
    if total:
        first = rows[0]
        row = re.search(rf'<tr data-record="{first["id"]}"[^>]*>', html)
        assert row is not None and f'data-verdict="{first["verdict"]}"' in row.group(0)
    failed = _ids(client.get("/om/records", params={"verdict": "fail"}).text)
    assert all(r["verdict"] == "fail" for r in rows if r["id"] in failed)
    water = _ids(client.get("/om/records", params={"mn": WATER_MN}).text)
    assert all(r["mn"] == WATER_MN for r in rows if r["id"] in water)
    assert _ids(client.get("/om/records", params={"mn": OTHER_MN}).text) == set()
    bad = client.get("/om/records", params={"verdict": "ok"})
    assert (
        bad.status_code == 422
        and _problem(bad) == "The filter is not valid: verdict is pass, fail or none, not 'ok'"
    )
    bad_day = client.get("/om/records", params={"from": "yesterday"})
    assert bad_day.status_code == 422 and "is not an ISO 8601 time" in _problem(bad_day)


def test_the_due_box_is_for_an_operators_people(client: TestClient, records_world: PageWorld) -> None:
    as_user(client, "op_a")
    html = client.get("/om/records").text
    # no test records a gas comparison: the gas device's is due this quarter
    assert 'id="due"' in html and f'href="/om/records/new?mn={GAS_MN}&amp;kind=comparison"' in html
    as_user(client, "ent_a")
    assert 'id="due"' not in client.get("/om/records").text


# ---- reference materials and registrations -------------------------------------------------------------


def test_materials_page(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "op_a")
    html = client.get("/om/materials").text
    w = records_world.w
    assert (
        f'data-material="{w.materials["so2"]}"' in html
        and f'data-material="{w.materials["theirs"]}"' not in html
    )
    assert re.search(rf'data-material="{w.materials["old"]}" class="over" data-expired="1"', html)
    assert f'data-material="{w.materials["old"]}"' not in client.get("/om/materials?valid=1").text
    form = {"csrf_token": token, "kind": "solution", "name": "COD标准溶液", "certificate_no": "GBW08001",
            "concentration": "100", "unit": "mg/L", "valid_until": (records_world.now.date() + timedelta(days=60)).isoformat()}  # fmt: skip
    r = client.post("/om/materials", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/om/materials?done=material"
    bad = client.post("/om/materials", data={**form, "concentration": "lots"}, follow_redirects=False)
    assert (
        bad.status_code == 422
        and _problem(bad) == "The certificate was not recorded: the concentration 'lots' is not a number"
    )
    assert 'value="COD标准溶液"' in bad.text
    token = as_user(client, "fs_a")
    assert 'id="material-form"' not in client.get("/om/materials").text
    before = row_count(records_world.engine, reference_materials)
    refused = client.post("/om/materials", data={**form, "csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 403
    assert row_count(records_world.engine, reference_materials) == before
    as_user(client, "ent_a")
    assert f'data-material="{w.materials["so2"]}"' in client.get("/om/materials").text


def test_registrations_page_and_the_record_warning(client: TestClient, records_world: PageWorld) -> None:
    token = as_user(client, "op_a")
    form = {"csrf_token": token, "region_code": "330100", "bureau": "杭州市生态环境局", "reference_no": "HZ-9",
            "registered_on": (records_world.now.date() - timedelta(days=300)).isoformat()}  # fmt: skip
    bad = client.post("/om/registrations", data={**form, "region_code": "330102"}, follow_redirects=False)
    assert bad.status_code == 422 and _problem(bad).startswith(
        "The registration was not recorded: a registration names a city"
    )
    r = client.post("/om/registrations", data=form, follow_redirects=False)
    assert r.status_code == 303
    with records_world.engine.connect() as conn:
        reg_id = conn.execute(
            select(operator_registrations.c.id).where(operator_registrations.c.reference_no == "HZ-9")
        ).scalar_one()
    token = as_user(client, "fs_a")
    record_id = _saved(_post(client, _form(records_world, token)))
    assert 'id="not-registered"' not in client.get(f"/om/records/{record_id}").text
    as_user(client, "reg_zj")
    html = client.get("/om/registrations").text
    assert f'data-registration="{reg_id}"' in html and f'id="withdraw-{reg_id}"' not in html
    as_user(client, "reg_gd")
    assert f'data-registration="{reg_id}"' not in client.get("/om/registrations").text
    token = as_user(client, "op_b")
    assert (
        client.post(
            f"/om/registrations/{reg_id}/withdraw", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 404
    )
    token = as_user(client, "op_a")
    assert f'id="withdraw-{reg_id}"' in client.get("/om/registrations").text
    done = client.post(
        f"/om/registrations/{reg_id}/withdraw", data={"csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/om/registrations?done=withdrawn"
    again = client.post(
        f"/om/registrations/{reg_id}/withdraw", data={"csrf_token": token}, follow_redirects=False
    )
    assert again.status_code == 409 and "was withdrawn already" in _problem(again)
    html = client.get("/om/registrations").text
    assert re.search(rf'data-registration="{reg_id}" data-withdrawn="1"', html)
