"""The staff and training pages over HTTP (TestClient, English): what each role sees, the forms, refusals."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.operations.staff_schema import staff, staff_certificates, training_results, trainings
from tests.web.pages.conftest import row_count
from tests.web.pages.om_staff.conftest import DAY, EXPIRING_IN, TODAY, StaffWorld, as_user

PAGES = ("/om/staff", "/om/staff/new", "/om/trainings")


def rows_of(html: str, table: str, world: StaffWorld | None = None) -> list[str]:
    """The ``data-staff`` ids of a table's rows, in order (only the world's people when it is given: tests
    that write add people of their own)."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    found = re.findall(r'<tr data-staff="(\d+)"', body)
    if world is None:
        return found
    known = {str(i) for i in world.staff.values()}
    return [i for i in found if i in known]


# ---- the list ----


def test_operator_sees_its_staff_with_certificate_badges(client: TestClient, staff_world: StaffWorld) -> None:
    s = staff_world.staff
    as_user(client, "op_a")
    r = client.get("/om/staff")
    assert r.status_code == 200
    html = r.text
    assert rows_of(html, "staff", staff_world) == [str(s[n]) for n in ("张三", "李四", "王五", "赵六")]
    assert "钱七" not in html  # 运维乙's
    assert f'data-staff="{s["张三"]}" data-cert="valid"' in html
    assert f"Valid until {(TODAY + 730 * DAY).isoformat()}" in html
    assert f"Expires in {EXPIRING_IN} days" in html
    assert (
        f'data-cert="expired">Expired</span> <small>Valid until {(TODAY - DAY).isoformat()}</small>' in html
    )
    assert f'data-staff="{s["赵六"]}" data-cert="none"' in html and "No certificate" in html
    assert f'href="/om/staff/{s["张三"]}"' in html and 'id="add-staff"' in html
    # the renewals due: 李四's only (王五's has ended, 张三's is far off)
    due = html.split('id="due"', 1)[1].split("</table>", 1)[0]
    assert "CERT-李四" in due and "CERT-王五" not in due and "CERT-张三" not in due
    # filters
    assert rows_of(client.get("/om/staff?certificate=expiring").text, "staff", staff_world) == [
        str(s["李四"])
    ]
    assert rows_of(client.get("/om/staff?active=no").text, "staff", staff_world) == [str(s["赵六"])]
    assert rows_of(client.get("/om/staff?position=sampler&active=yes").text, "staff", staff_world) == [
        str(s["李四"]),
        str(s["王五"]),
    ]
    assert 'id="no-staff"' in client.get("/om/staff?position=manager").text
    assert client.get("/om/staff?certificate=soon").status_code == 422
    assert client.get("/om/staff?position=boss").status_code == 422


def test_field_staff_see_the_list_not_the_files(client: TestClient, staff_world: StaffWorld) -> None:
    s = staff_world.staff
    as_user(client, "fs_a")
    html = client.get("/om/staff").text
    assert rows_of(html, "staff", staff_world) == [str(s[n]) for n in ("张三", "李四", "王五", "赵六")]
    assert f'href="/om/staff/{s["张三"]}"' not in html and 'id="renewals"' not in html
    assert 'id="add-staff"' not in html
    for path in (
        f"/om/staff/{s['张三']}",
        "/om/trainings",
        f"/om/trainings/{staff_world.trainings['quarterly']}",
    ):
        r = client.get(path)
        assert r.status_code == 403, path
        assert "role field_staff may not read staff files, certificates or trainings" in r.text
    assert client.get("/om/staff/new").status_code == 403


def test_admin_and_regulator_choose_the_operator(client: TestClient, staff_world: StaffWorld) -> None:
    ops, s = staff_world.operators, staff_world.staff
    as_user(client, "reg_zj")
    html = client.get("/om/staff").text  # all operators of its area: 运维甲 only
    assert rows_of(html, "staff", staff_world) == [str(s[n]) for n in ("张三", "李四", "王五", "赵六")]
    assert f'<option value="{ops["a"]}"' in html and f'<option value="{ops["b"]}"' not in html
    assert client.get(f"/om/staff?operator={ops['b']}").status_code == 404
    assert client.get(f"/om/staff/{s['钱七']}").status_code == 404
    assert 'id="add-staff"' not in html  # reads, does not write
    page = client.get("/om/trainings").text
    assert 'id="choose"' in page and 'id="quarterly"' not in page
    page = client.get(f"/om/trainings?operator={ops['a']}").text
    assert 'id="quarterly"' in page and 'id="plan-form"' not in page
    as_user(client, "admin1")
    html = client.get("/om/staff").text
    assert str(s["钱七"]) in rows_of(html, "staff", staff_world)  # every operator, with the operator column
    assert "运维乙" in html
    assert client.get("/om/staff?operator=x").status_code == 422


def test_other_roles_are_refused(client: TestClient, staff_world: StaffWorld) -> None:
    for user in ("ent_a", "aud_a"):
        as_user(client, user)
        for path in PAGES:
            assert client.get(path).status_code == 403, (user, path)
        assert client.get(f"/om/staff/{staff_world.staff['张三']}").status_code == 403
    as_user(client, "op_b")
    assert client.get(f"/om/staff/{staff_world.staff['张三']}").status_code == 404
    assert client.get(f"/om/trainings/{staff_world.trainings['quarterly']}").status_code == 404


# ---- adding and changing a personnel file ----


def test_add_a_person_then_change_the_file(client: TestClient, staff_world: StaffWorld) -> None:
    token = as_user(client, "op_a")
    form = {
        "csrf_token": token,
        "name": "孙八",
        "position": "sampler",
        "phone": "0571-88886666",
        "active": "on",
    }
    r = client.post("/om/staff/new", data=form, follow_redirects=False)
    assert r.status_code == 303
    new_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    page = client.get(r.headers["location"]).text
    assert "The staff member was added." in page and "孙八" in page and 'id="no-certificates"' in page
    with staff_world.engine.connect() as conn:
        row = conn.execute(select(staff).where(staff.c.id == new_id)).mappings().one()
    assert (row["operator_id"], row["position"], row["active"]) == (
        staff_world.operators["a"],
        "sampler",
        True,
    )
    # the edit form: link the field staff account, then leave (the box unchecked)
    edit = {
        "csrf_token": token,
        "name": "孙八",
        "position": "sampler",
        "phone": "0571-88886666",
        "username": "FS_A2",
    }
    r = client.post(f"/om/staff/{new_id}", data=edit | {"active": "on"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/om/staff/{new_id}?done=changed"
    r = client.post(f"/om/staff/{new_id}", data=edit, follow_redirects=False)
    with staff_world.engine.connect() as conn:
        row = conn.execute(select(staff).where(staff.c.id == new_id)).mappings().one()
    assert (row["username"], row["active"]) == ("fs_a2", False)


def test_refused_forms_keep_the_values(client: TestClient, staff_world: StaffWorld) -> None:
    token = as_user(client, "op_a")
    before = row_count(staff_world.engine, staff)
    form = {"csrf_token": token, "name": "周九", "position": "sampler", "phone": "call me", "active": "on"}
    r = client.post("/om/staff/new", data=form)
    assert r.status_code == 422
    assert "Not saved: phone &#39;call me&#39;: 3 to 32 digits" in r.text and 'value="周九"' in r.text
    r = client.post("/om/staff/new", data=form | {"phone": "123", "username": "op_b"})
    assert (
        r.status_code == 422 and "no operator, field_staff or auditor account named &#39;op_b&#39;" in r.text
    )
    assert row_count(staff_world.engine, staff) == before
    # admin must say which operator
    token = as_user(client, "admin1")
    r = client.post("/om/staff/new", data=form | {"csrf_token": token, "phone": "123"})
    assert r.status_code == 422 and "choose the operator the person works for" in r.text
    # no CSRF token: 403, nothing stored
    r = client.post("/om/staff/new", data={k: v for k, v in form.items() if k != "csrf_token"})
    assert r.status_code == 403
    assert row_count(staff_world.engine, staff) == before


def test_outsiders_cannot_write(client: TestClient, staff_world: StaffWorld) -> None:
    s, t = staff_world.staff, staff_world.trainings
    before = [
        row_count(staff_world.engine, x) for x in (staff, staff_certificates, trainings, training_results)
    ]
    token = as_user(client, "reg_zj")  # sees 运维甲, may not write
    edit = {"csrf_token": token, "name": "x", "position": "other", "phone": "123", "active": "on"}
    assert client.post(f"/om/staff/{s['张三']}", data=edit).status_code == 403
    assert (
        client.post(
            f"/om/trainings/{t['plan']}/held", data={"csrf_token": token, "held_on": TODAY.isoformat()}
        ).status_code
        == 403
    )
    token = as_user(client, "op_b")  # does not see 运维甲
    assert client.post(f"/om/staff/{s['张三']}", data=edit | {"csrf_token": token}).status_code == 404
    r = client.post(
        f"/om/trainings/{t['quarterly_b']}/results",
        data={
            "csrf_token": token,
            "tested_on": TODAY.isoformat(),
            "staff_id": [str(s["张三"])],
            "score": ["90"],
        },
    )
    assert r.status_code == 404  # a person of another operator: not found, not named
    after = [
        row_count(staff_world.engine, x) for x in (staff, staff_certificates, trainings, training_results)
    ]
    assert after == before


# ---- certificates ----


def test_record_a_certificate(client: TestClient, staff_world: StaffWorld) -> None:
    token = as_user(client, "op_a")
    r = client.post(
        "/om/staff/new",
        data={
            "csrf_token": token,
            "name": "吴十",
            "position": "field_engineer",
            "phone": "123",
            "active": "on",
        },
        follow_redirects=False,
    )
    sid = int(r.headers["location"].split("/")[-1].split("?")[0])
    page = client.get(f"/om/staff/{sid}").text
    assert 'data-cert="none"' in page and 'id="certificate-form"' in page
    cert = {"csrf_token": token, "kind": "运维上岗证（废水）", "number": "W-1", "issuer": "协会"}
    bad = cert | {"issued_on": TODAY.isoformat(), "valid_until": (TODAY - DAY).isoformat()}
    r = client.post(f"/om/staff/{sid}/certificates", data=bad)
    assert r.status_code == 422
    assert (
        f"The certificate was not recorded: valid_until {(TODAY - DAY).isoformat()} is before issued_on"
        in r.text
    )
    assert 'value="W-1"' in r.text
    r = client.post(
        f"/om/staff/{sid}/certificates", data=cert | {"issued_on": "soon", "valid_until": TODAY.isoformat()}
    )
    assert (
        r.status_code == 422 and "issued_on must be a date such as 2026-11-21, not &#39;soon&#39;" in r.text
    )
    good = cert | {"issued_on": TODAY.isoformat(), "valid_until": TODAY.isoformat()}
    r = client.post(f"/om/staff/{sid}/certificates", data=good, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert (
        "The certificate was recorded." in page
        and "Last valid day: today" in page
        and 'data-valid="yes"' in page
    )
    r = client.post(f"/om/staff/{sid}/certificates", data=good)
    assert r.status_code == 409 and "is already recorded" in r.text


# ---- trainings ----


def test_trainings_page_tables(client: TestClient, staff_world: StaffWorld) -> None:
    s, t = staff_world.staff, staff_world.trainings
    as_user(client, "op_a")
    html = client.get("/om/trainings").text
    listed = re.findall(r'<tr data-training="(\d+)"', html)
    assert (
        str(t["quarterly"]) in listed and str(t["labels"]) in listed and str(t["quarterly_b"]) not in listed
    )
    known = {str(i) for i in s.values()}  # other tests add people of their own

    def passed(table: str) -> list[tuple[str, str]]:
        body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
        return [(i, p) for i, p in re.findall(r'data-staff="(\d+)" data-passed="(\w+)"', body) if i in known]

    assert passed("quarterly") == [
        (str(s["张三"]), "yes"), (str(s["李四"]), "no"), (str(s["王五"]), "no")
    ]  # fmt: skip
    assert passed("labels") == [(str(s["李四"]), "yes"), (str(s["王五"]), "no")]
    assert re.search(r'id="label-percent">\d+\.\d %', html)
    # another quarter: nobody held a re-training then
    year = TODAY.year - 1
    other = client.get(f"/om/trainings?year={year}&quarter=1").text
    assert 'id="no-quarterly"' in other and 'id="no-trainings"' in other
    assert client.get("/om/trainings?quarter=5").status_code == 422


def test_plan_hold_and_enter_results(client: TestClient, staff_world: StaffWorld) -> None:
    s = staff_world.staff
    token = as_user(client, "op_a")
    plan = {
        "csrf_token": token,
        "kind": "quarterly",
        "title": "补训",
        "planned_on": TODAY.isoformat(),
        "pass_score": "abc",
    }
    r = client.post("/om/trainings", data=plan)
    assert (
        r.status_code == 422
        and "The training was not planned: the pass score &#39;abc&#39; is not a number" in r.text
    )
    r = client.post("/om/trainings", data=plan | {"pass_score": "80"}, follow_redirects=False)
    assert r.status_code == 303
    plan_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    page = client.get(r.headers["location"]).text
    assert (
        "The training was planned." in page and 'id="held-form"' in page and 'id="results-form"' not in page
    )
    r = client.post(
        f"/om/trainings/{plan_id}/held", data={"csrf_token": token, "held_on": (TODAY + DAY).isoformat()}
    )
    assert r.status_code == 422 and "is after today" in r.text
    r = client.post(
        f"/om/trainings/{plan_id}/held",
        data={"csrf_token": token, "held_on": TODAY.isoformat()},
        follow_redirects=False,
    )
    assert r.status_code == 303
    held_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    assert held_id != plan_id
    page = client.get(r.headers["location"]).text
    assert 'id="results-form"' in page and 'id="held-form"' not in page
    entry = rows_of(page, "entry")
    assert {str(s[n]) for n in ("张三", "李四", "王五")} <= set(entry) and str(
        s["赵六"]
    ) not in entry  # working here
    again = client.post(
        f"/om/trainings/{plan_id}/held", data={"csrf_token": token, "held_on": TODAY.isoformat()}
    )
    assert again.status_code == 409 and "was already recorded as held on" in again.text
    # several people at once, all or nothing: 王五's score is out of range
    before = row_count(staff_world.engine, training_results)
    ids = [str(s[n]) for n in ("张三", "李四", "王五")]
    form = {"csrf_token": token, "tested_on": TODAY.isoformat(), "staff_id": ids, "score": ["85", "", "120"]}
    r = client.post(f"/om/trainings/{held_id}/results", data=form)
    assert (
        r.status_code == 422
        and "No result was recorded: 王五: the score must be from 0 to 100, not 120" in r.text
    )
    assert 'value="120"' in r.text and 'value="85"' in r.text
    assert row_count(staff_world.engine, training_results) == before
    r = client.post(f"/om/trainings/{held_id}/results", data=form | {"score": ["", "", ""]})
    assert r.status_code == 422 and "type in at least one score" in r.text
    r = client.post(
        f"/om/trainings/{plan_id}/results", data=form | {"score": ["85", "", "79.5"]}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/om/trainings/{held_id}?done=results"
    page = client.get(r.headers["location"]).text
    assert "The results were recorded." in page
    results = page.split('id="results"', 1)[1].split("</table>", 1)[0]
    assert "85" in results and "79.5" in results and results.count("badge ok") == 1
    assert row_count(staff_world.engine, training_results) == before + 2
    # the plan's page says it was replaced
    old = client.get(f"/om/trainings/{plan_id}").text
    assert 'id="superseded"' in old and f'href="/om/trainings/{held_id}"' in old


def test_person_page_shows_results(client: TestClient, staff_world: StaffWorld) -> None:
    as_user(client, "reg_zj")
    page = client.get(f"/om/staff/{staff_world.staff['李四']}").text
    assert "本季度再培训" in page and "采样标签系统培训" in page and 'id="edit-form"' not in page
    assert f"Expires in {EXPIRING_IN} days" in page and "CERT-李四" in page
    assert 'id="certificate-form"' not in page


def test_pages_in_chinese(client: TestClient, staff_world: StaffWorld) -> None:
    as_user(client, "op_a")
    client.cookies.set("lang", "zh_CN")
    html = client.get("/om/staff").text
    assert "人员与证书" in html and f"{EXPIRING_IN} 天后到期" in html
    html = client.get("/om/trainings").text
    assert "季度再培训" in html and "采样标签系统" in html
