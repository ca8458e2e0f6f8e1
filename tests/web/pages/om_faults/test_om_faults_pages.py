"""The fault and production-stop pages over HTTP: the list per role with its clock badges, the new-fault form
(``?alarm=``, the store's refusals with the values kept), a fault's whole course through the pages (backup,
manual results by CSV and by hand, restore and its mark), stop reports from report to restart, the alarm
page's link, and every forged POST refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from envwatch.core.clock import to_china, utcnow
from envwatch.monitoring.marks_schema import marks
from envwatch.operations.faults import get_fault
from envwatch.operations.faults_schema import faults, manual_results, production_stops
from envwatch.operations.production_stops import get_stop
from envwatch.web.scope import WRITERS
from tests.web.pages.conftest import row_count, shown_count
from tests.web.pages.om_faults.conftest import MN_A, MN_B, MN_C, SO2, FaultWorld, as_user, local


def _faults(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-fault="(\d+)"', html)}


def _stops(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-stop="(\d+)"', html)}


@pytest.mark.parametrize(
    ("user", "seen", "unseen"),
    [
        ("admin1", {"fault_a", "fault_b"}, set()),
        ("reg_zj", {"fault_a"}, {"fault_b"}),
        ("reg_gd", {"fault_b"}, {"fault_a"}),
        ("ent_a", {"fault_a"}, {"fault_b"}),
        ("ent_b", {"fault_b"}, {"fault_a"}),
        ("op_a", {"fault_a"}, {"fault_b"}),
        ("fs_a", {"fault_a"}, {"fault_b"}),
        ("aud_a", {"fault_a"}, {"fault_b"}),
        ("op_b", {"fault_b"}, {"fault_a"}),
    ],
)
def test_the_list_follows_the_scope(
    client: TestClient, fault_world: FaultWorld, user: str, seen: set[str], unseen: set[str]
) -> None:
    as_user(client, user)
    html = client.get("/om/faults").text
    ids = fault_world.ids
    assert {ids[k] for k in seen} <= _faults(html)
    assert not {ids[k] for k in unseen} & _faults(html)
    for key in unseen:  # the page itself, not only the list, answers like a missing one
        assert client.get(f"/om/faults/{ids[key]}").status_code == 404
    # 甲's stop report goes with 甲's faults (the auditor's period ends today, the stop starts tomorrow)
    sees_stop = "fault_a" in seen and user != "aud_a"
    assert (ids["stop_a"] in _stops(html)) == sees_stop
    if not sees_stop:
        assert client.get(f"/om/stops/{ids['stop_a']}").status_code == 404


def test_clock_badges_and_counts(client: TestClient, fault_world: FaultWorld) -> None:
    as_user(client, "op_a")
    html = client.get("/om/faults").text
    fid = fault_world.ids["fault_a"]
    row = re.search(rf'<tr data-fault="{fid}"[^>]*>.*?</tr>', html, re.S)
    assert row is not None and 'class="over" data-overdue="1"' in row.group(0)
    # 3 days without a backup: the 24-hour clock is overdue by 2 days
    assert 'data-clock="backup_required" data-clock-state="overdue"' in row.group(0)
    assert re.search(r"2 d 0 h late|1 d 23 h late", row.group(0))
    assert 'data-clock="restore"' in row.group(0) and 'data-clock="backup_check"' not in row.group(0)
    assert shown_count(html, "open") >= 1 and shown_count(html, "stops") >= 1
    assert 'id="new-fault"' in html and 'id="new-stop"' not in html  # the operator does not report stops
    as_user(client, "ent_a")
    html = client.get("/om/faults").text
    assert 'id="new-fault"' not in html and 'id="new-stop"' in html
    stop = re.search(rf'<tr data-stop="{fault_world.ids["stop_a"]}"[^>]*>.*?</tr>', html, re.S)
    assert stop is not None and "Submitted, awaiting approval" in stop.group(0)


def test_the_fault_page_shows_the_clocks_in_china_time(client: TestClient, fault_world: FaultWorld) -> None:
    as_user(client, "aud_a")
    fid = fault_world.ids["fault_a"]
    html = client.get(f"/om/faults/{fid}").text
    assert "甲 SO2 分析仪故障" in html and MN_A in html
    with fault_world.engine.connect() as conn:
        started = get_fault(conn, fid)["started_at"]
    due = to_china(started + timedelta(hours=24))
    row = re.search(r'<tr data-clock="backup_required".*?</tr>', html, re.S)
    assert row is not None and due.strftime("%Y-%m-%d %H:%M:%S") in row.group(0)
    assert [m for m in re.findall(r'<tr data-clock="(\w+)"', html)] == [
        "backup_required", "restore", "backup_check", "backup_max",
    ]  # fmt: skip
    assert 'id="work"' not in html  # the auditor reads only


def test_new_fault_form_and_the_alarm_prefill(client: TestClient, fault_world: FaultWorld) -> None:
    as_user(client, "fs_a")
    html = client.get("/om/faults/new").text
    assert f'<option value="{MN_A}"' in html and MN_B not in html
    alarm = fault_world.ids["alarm_a"]
    html = client.get(f"/om/faults/new?alarm={alarm}").text
    assert f'<option value="{MN_A}" selected' in html and "甲 no packet for 10 minutes</textarea>" in html
    assert f'name="alarm_id" value="{alarm}"' in html and 'id="from-alarm"' in html
    assert client.get("/om/faults/new?alarm=x").status_code == 422
    assert client.get("/om/faults/new?alarm=999999").status_code == 404
    for user in ("ent_a", "reg_zj", "aud_a"):
        as_user(client, user)
        assert client.get("/om/faults/new").status_code == 403


def test_the_alarm_page_links_to_a_new_fault_for_fault_writers(
    client: TestClient, fault_world: FaultWorld
) -> None:
    alarm = fault_world.ids["alarm_a"]
    for user, role in (
        ("admin1", "admin"),
        ("op_a", "operator"),
        ("fs_a", "field_staff"),
        ("ent_a", "enterprise"),
    ):
        as_user(client, user)
        html = client.get(f"/alarms/{alarm}").text
        assert (f'href="/om/faults/new?alarm={alarm}"' in html) == (role in WRITERS["fault"]), user


def test_a_refused_fault_keeps_the_values_and_stores_nothing(
    client: TestClient, fault_world: FaultWorld
) -> None:
    token = as_user(client, "op_a")
    before = row_count(fault_world.engine, faults)
    form = {"csrf_token": token, "mn": MN_A, "description": "新的故障", "factors": SO2}
    r = client.post("/om/faults", data=form | {"started_at": local(fault_world.now + timedelta(days=1))})
    assert r.status_code == 422 and "The fault was not recorded:" in r.text and "is in the future" in r.text
    assert "新的故障</textarea>" in r.text and f'value="{SO2}"' in r.text
    r = client.post("/om/faults", data=form | {"started_at": local(fault_world.now)})
    assert r.status_code == 409 and f"already has open fault {fault_world.ids['fault_a']}" in r.text
    r = client.post("/om/faults", data=form | {"mn": "", "started_at": local(fault_world.now)})
    assert r.status_code == 422 and "choose the device" in r.text
    assert client.post("/om/faults", data=form | {"mn": MN_B, "started_at": "x"}).status_code == 404
    assert (
        client.post(
            "/om/faults", data=form | {"csrf_token": "bad", "started_at": local(fault_world.now)}
        ).status_code
        == 403
    )
    token = as_user(client, "ent_a")
    assert (
        client.post(
            "/om/faults", data=form | {"csrf_token": token, "started_at": local(fault_world.now)}
        ).status_code
        == 403
    )
    assert row_count(fault_world.engine, faults) == before


def _forms(html: str) -> set[str]:
    return set(re.findall(r'id="(backup_started|backup_checked|backup_ended|restored|commented)-form"', html))


def test_a_fault_through_the_pages(client: TestClient, fault_world: FaultWorld) -> None:
    token = as_user(client, "fs_a")
    started = fault_world.now - timedelta(hours=30)
    r = client.post(
        "/om/faults",
        data={
            "csrf_token": token,
            "mn": MN_A,
            "started_at": local(started),
            "description": "NOx 探头故障",
            "factors": "a21002",
        },
    )
    # SO2 is the only registered factor of the device
    assert r.status_code == 422 and "has no factor a21002: registered are a21026" in r.text
    alarm = fault_world.ids["alarm_a"]
    data = {
        "csrf_token": token,
        "mn": MN_A,
        "started_at": local(started),
        "description": "数采仪死机",
        "factors": "",
        "alarm_id": str(alarm),
    }
    # the SO2 fault is open: a whole-device fault overlaps it, so restore that one first
    assert client.post("/om/faults", data=data).status_code == 409
    r = client.post(
        f"/om/faults/{fault_world.ids['fault_a']}/events",
        data={"csrf_token": token, "event": "restored", "at": local(fault_world.now - timedelta(hours=31))},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post("/om/faults", data=data, follow_redirects=False)
    assert r.status_code == 303
    found = re.fullmatch(r"/om/faults/(\d+)\?done=opened", r.headers["location"])
    assert found is not None
    fid = int(found.group(1))
    page = client.get(r.headers["location"]).text
    assert "The fault was recorded." in page and f'href="/alarms/{alarm}"' in page
    assert _forms(page) == {"backup_started", "restored", "commented"} and 'id="csv-form"' not in page

    def post(event: str, **more: str) -> int:
        resp = client.post(
            f"/om/faults/{fid}/events",
            data={"csrf_token": token, "event": event} | more,
            follow_redirects=False,
        )
        return resp.status_code

    # a refusal comes back in its form with the values kept
    r = client.post(
        f"/om/faults/{fid}/events",
        data={
            "csrf_token": token,
            "event": "backup_started",
            "kind": "manual",
            "at": local(started - timedelta(hours=1)),
            "comment": "手工监测",
        },
    )
    assert r.status_code == 422 and "Not saved:" in r.text and "is before the fault started" in r.text
    assert "手工监测</textarea>" in r.text
    assert post("backup_started", kind="manual", at=local(started + timedelta(hours=20))) == 303
    page = client.get(f"/om/faults/{fid}").text
    assert _forms(page) == {"backup_checked", "backup_ended", "restored", "commented"}
    assert 'id="csv-form"' in page and 'id="result-form"' in page
    # manual results: a CSV with a bad line is refused by line, a good one stored, one more by hand
    sampled = local(started + timedelta(hours=21)).replace("T", " ")
    bad = f"factor,sampled_at,value,unit,agency,report_no\n{SO2},{sampled},12.5,mg/m3,,R1\n"
    r = client.post(
        f"/om/faults/{fid}/manual-results",
        data={"csrf_token": token},
        files={"file": ("r.csv", bad.encode(), "text/csv")},
    )
    assert r.status_code == 422 and "line 2: the testing agency (检测机构) is required" in r.text
    good = bad.replace(",,R1", ",某检测有限公司,R1")
    r = client.post(
        f"/om/faults/{fid}/manual-results",
        data={"csrf_token": token},
        files={"file": ("r.csv", good.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/om/faults/{fid}?done=results"
    one = {
        "csrf_token": token,
        "factor": SO2,
        "sampled_at": local(started + timedelta(hours=22)),
        "value": "13.20",
        "unit": "mg/m3",
        "agency": "某检测有限公司",
        "report_no": "R2",
    }
    r = client.post(
        f"/om/faults/{fid}/manual-results",
        data=one,
        files={"file": ("", b"", "application/octet-stream")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"/om/faults/{fid}?done=results").text
    assert "The manual monitoring results were stored." in page
    assert len(re.findall(r'data-result="\d+"', page)) == 2 and "13.20 mg/m3" in page
    assert row_count(fault_world.engine, manual_results) >= 2
    # the restore: marked, the forms left are comments only
    assert post("restored") == 303
    page = client.get(f"/om/faults/{fid}?done=restored").text
    assert "The restore was recorded and the fault period marked." in page and 'id="fault-mark"' in page
    assert _forms(page) == {"commented"} and 'id="csv-form"' not in page
    with fault_world.engine.connect() as conn:
        row = get_fault(conn, fid)
        mark = conn.execute(select(marks).where(marks.c.id == row["mark_id"])).mappings().one()
    assert (mark["code"], mark["factor"], mark["start_at"]) == ("fault", None, row["started_at"])
    assert post("restored") == 409
    assert post("bogus") == 422


def test_forged_fault_posts_are_refused(client: TestClient, fault_world: FaultWorld) -> None:
    fid = fault_world.ids["fault_b"]  # 乙's
    token = as_user(client, "op_a")
    for path in (f"/om/faults/{fid}/events", f"/om/faults/{fid}/manual-results"):
        assert (
            client.post(path, data={"csrf_token": token, "event": "commented", "comment": "x"}).status_code
            == 404
        )
    token = as_user(client, "ent_b")  # sees it, may not write faults
    r = client.post(
        f"/om/faults/{fid}/events", data={"csrf_token": token, "event": "commented", "comment": "x"}
    )
    assert r.status_code == 403
    token = as_user(client, "op_b")
    assert (
        client.post(
            f"/om/faults/{fid}/events", data={"csrf_token": "wrong", "event": "commented", "comment": "x"}
        ).status_code
        == 403
    )
    assert client.post(f"/om/faults/{fid}/manual-results", data={"csrf_token": "wrong"}).status_code == 403


# ---- production stops ----


def _submit(client: TestClient, world: FaultWorld, token: str, days: int = 5, **more: str) -> int:
    data = {
        "csrf_token": token, "outlet_id": str(world.outlets["a"]), "reason": "停产检修",
        "start_at": local(world.now + timedelta(days=days)), "end_at": local(world.now + timedelta(days=days + 2)),
    } | more  # fmt: skip
    r = client.post("/om/stops", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/om/stops/(\d+)\?done=submitted", r.headers["location"])
    assert found is not None
    return int(found.group(1))


def _stop_forms(html: str) -> set[str]:
    return set(re.findall(r'id="(decision|withdraw|restart)-form"', html))


def test_the_report_form(client: TestClient, fault_world: FaultWorld) -> None:
    token = as_user(client, "ent_a")
    html = client.get("/om/stops/new").text
    assert (
        f'<option value="{fault_world.outlets["a"]}"' in html
        and f'value="{fault_world.outlets["b"]}"' not in html
    )
    before = row_count(fault_world.engine, production_stops)
    past = {
        "csrf_token": token,
        "outlet_id": str(fault_world.outlets["a"]),
        "reason": "检修",
        "start_at": local(fault_world.now - timedelta(days=1)),
        "end_at": local(fault_world.now + timedelta(days=1)),
    }
    r = client.post("/om/stops", data=past)
    assert (
        r.status_code == 422
        and "The production stop was not reported:" in r.text
        and "already past" in r.text
    )
    assert "检修</textarea>" in r.text
    assert (
        client.post("/om/stops", data=past | {"outlet_id": str(fault_world.outlets["b"])}).status_code == 404
    )
    r = client.post("/om/stops", data=past | {"outlet_id": ""})
    assert r.status_code == 422 and "choose the outlet" in r.text
    assert row_count(fault_world.engine, production_stops) == before
    for user in ("op_a", "reg_zj"):
        as_user(client, user)
        assert client.get("/om/stops/new").status_code == 403


def test_a_stop_from_report_to_withdrawal_and_approval(client: TestClient, fault_world: FaultWorld) -> None:
    token = as_user(client, "ent_a")
    sid = _submit(client, fault_world, token, days=10)
    page = client.get(f"/om/stops/{sid}?done=submitted").text
    assert "The production stop was reported." in page and _stop_forms(page) == {"withdraw"}
    assert "A stop of at most one quarter: the gas monitoring devices keep running" in page
    # the regulator of 广东 does not see it; 浙江's decides
    token = as_user(client, "reg_gd")
    assert client.get(f"/om/stops/{sid}").status_code == 404
    assert (
        client.post(
            f"/om/stops/{sid}/decision", data={"csrf_token": token, "decision": "approve"}
        ).status_code
        == 404
    )
    token = as_user(client, "reg_zj")
    page = client.get(f"/om/stops/{sid}").text
    assert _stop_forms(page) == {"decision"}
    r = client.post(
        f"/om/stops/{sid}/decision", data={"csrf_token": token, "decision": "reject", "comment": ""}
    )
    assert r.status_code == 422 and "the reason for rejecting it is required" in r.text
    r = client.post(
        f"/om/stops/{sid}/decision",
        data={"csrf_token": token, "decision": "approve", "comment": "同意"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/om/stops/{sid}?done=approved"
    page = client.get(r.headers["location"]).text
    assert "The production stop was approved and marked." in page and MN_A in page
    # one mark per device of the outlet (MN_A and MN_C)
    assert len(re.findall(r'data-mark="\d+" data-action="mark"', page)) == 2 and MN_C in page
    assert (
        client.post(
            f"/om/stops/{sid}/decision", data={"csrf_token": token, "decision": "approve"}
        ).status_code
        == 409
    )
    # the enterprise withdraws it before it starts: the mark is withdrawn with it
    token = as_user(client, "ent_a")
    assert _stop_forms(client.get(f"/om/stops/{sid}").text) == {"withdraw"}
    r = client.post(
        f"/om/stops/{sid}/withdraw", data={"csrf_token": token, "comment": "计划取消"}, follow_redirects=False
    )
    assert r.status_code == 303
    page = client.get(f"/om/stops/{sid}?done=withdrawn").text
    assert "The production stop report was withdrawn." in page and 'data-action="withdraw"' in page
    with fault_world.engine.connect() as conn:
        assert get_stop(conn, sid)["state"] == "withdrawn"
    assert client.post(f"/om/stops/{sid}/withdraw", data={"csrf_token": token}).status_code == 409


def test_a_restart_and_its_calibration_check(client: TestClient, fault_world: FaultWorld) -> None:
    token = as_user(client, "ent_a")
    start = utcnow() - timedelta(minutes=20)  # reported just within the grace: the stop is under way
    sid = _submit(
        client, fault_world, token, start_at=local(start), end_at=local(start + timedelta(hours=12))
    )
    admin = as_user(client, "admin1")
    approved = client.post(f"/om/stops/{sid}/decision", data={"csrf_token": admin, "decision": "approve"})
    assert approved.status_code == 200 and _stop_forms(approved.text) == {"restart"}  # admin writes stops too
    token = as_user(client, "ent_a")
    assert _stop_forms(client.get(f"/om/stops/{sid}").text) == {"restart"}  # too late to withdraw
    r = client.post(
        f"/om/stops/{sid}/restart", data={"csrf_token": token, "at": local(start - timedelta(hours=1))}
    )
    assert r.status_code == 422 and "must be after the stop&#39;s start" in r.text
    assert client.post(f"/om/stops/{sid}/restart", data={"csrf_token": "x"}).status_code == 403
    op = as_user(client, "op_a")
    assert client.post(f"/om/stops/{sid}/restart", data={"csrf_token": op}).status_code == 403
    token = as_user(client, "ent_a")
    r = client.post(
        f"/om/stops/{sid}/restart", data={"csrf_token": token, "comment": "已开机"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/om/stops/{sid}?done=restarted"
    page = client.get(r.headers["location"]).text
    assert "The restart was recorded." in page and _stop_forms(page) == set()
    check = re.search(
        r'<section class="card" aria-labelledby="check-h" id="restart-check" data-check="(\w+)">.*?</section>',
        page,
        re.S,
    )
    assert check is not None and check.group(1) == "running" and "Calibration due" in check.group(0)
    assert f'data-device="{MN_A}"' in check.group(0) and "no calibration recorded yet" in check.group(0)
    assert "within 14 days of the restart" in check.group(0)


def test_outsiders_never_reach_the_stop_forms(client: TestClient, fault_world: FaultWorld) -> None:
    sid = fault_world.ids["stop_a"]
    for user in ("ent_b", "op_b", "reg_gd"):
        token = as_user(client, user)
        for action in ("decision", "withdraw", "restart"):
            assert (
                client.post(
                    f"/om/stops/{sid}/{action}", data={"csrf_token": token, "decision": "approve"}
                ).status_code
                == 404
            )
    token = as_user(client, "op_a")  # sees it, writes nothing on stops
    for action in ("decision", "withdraw", "restart"):
        assert (
            client.post(
                f"/om/stops/{sid}/{action}", data={"csrf_token": token, "decision": "approve"}
            ).status_code
            == 403
        )
    with fault_world.engine.connect() as conn:
        assert get_stop(conn, sid)["state"] == "submitted"
