"""Faults, manual results and production stops over the real app and a real SQLite store, per role.

甲 (330102 杭州) has gas outlet DA001 with device MN_A (SO2 registered) and operator 运维甲 under contract;
乙 (440103 广州) has outlet DA001 with MN_B. Every tenant's route is also in tests/web/test_tenancy.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from envwatch.alarms.store import Raised, alarm_events_of, raise_alarm
from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.monitoring.marks_schema import marks
from envwatch.registry.models import credit_code_check_char
from envwatch.registry.store import import_devices, load_devices
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.helpers import device_row

MN_A = "010000A8900016F0030A0001"
MN_B = "010000A8900016F0030B0001"
SO2 = "a21026"
API = "/api/v1/om"


def _code(n: int) -> str:
    first17 = f"9133010200030{n:04d}"
    return first17 + credit_code_check_char(first17)


def local(moment: datetime) -> str:
    """China time without offset, as users type it."""
    return to_china(moment).replace(tzinfo=None).isoformat(timespec="seconds")


@dataclass
class World:
    client: TestClient
    engine: Engine
    ids: dict[str, int]

    def as_(self, principal: Principal) -> TestClient:
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client

    def who(self, name: str) -> TestClient:
        i = self.ids
        people = {
            "admin": Principal("admin", "admin"),
            "op_a": Principal("op_a", "operator", operator_id=i["op_a"]),
            "fs_a": Principal("fs_a", "field_staff", operator_id=i["op_a"]),
            "ent_a": Principal("ent_a", "enterprise", enterprise_id=i["ent_a"]),
            "ent_b": Principal("ent_b", "enterprise", enterprise_id=i["ent_b"]),
            "reg_zj": Principal("reg_zj", "regulator", region_code="33"),
            "reg_county": Principal("reg_county", "regulator", region_code="330106"),  # 西湖区, not 上城区
            "reg_gd": Principal("reg_gd", "regulator", region_code="44"),
            "aud_a": Principal(
                "aud_a",
                "auditor",
                operator_id=i["op_a"],
                period=(to_china(utcnow()).date() - timedelta(days=30), to_china(utcnow()).date()),
            ),
        }
        return self.as_(people[name])


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    import_devices(sqlite_engine, [device_row(MN_A), device_row(MN_B)], utcnow())
    devices = {mn: rec.id for mn, rec in load_devices(sqlite_engine).items()}
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as client:
        w = World(client, sqlite_engine, {"dev_a": devices[MN_A], "dev_b": devices[MN_B]})
        c = w.as_(Principal("admin", "admin"))
        reg = "/api/v1/registry"
        for n, (side, region, mn) in enumerate((("a", "330102", MN_A), ("b", "440103", MN_B))):
            ent = ok(
                c.post(
                    f"{reg}/enterprises",
                    json={"name": f"企业{side}", "credit_code": _code(n), "region_code": region},
                ),
                201,
            )
            w.ids[f"ent_{side}"] = ent["id"]
            outlet = ok(
                c.post(
                    f"{reg}/enterprises/{ent['id']}/outlets",
                    json={"code": "DA001", "name": "1号排口", "kind": "gas"},
                ),
                201,
            )
            w.ids[f"outlet_{side}"] = outlet["id"]
            ok(c.put(f"{reg}/devices/{mn}/outlet", json={"outlet_id": outlet["id"]}))
        ok(c.put(f"{reg}/devices/{MN_A}/factors", json=[{"factor": SO2, "unit": "mg/m3"}]))
        op = ok(c.post(f"{reg}/operators", json={"name": "运维甲", "credit_code": _code(9)}), 201)["id"]
        contract = {"enterprise_id": w.ids["ent_a"], "contract_no": "C1", "valid_from": "2020-01-01"}
        ok(c.post(f"{reg}/operators/{op}/contracts", json=contract), 201)
        w.ids["op_a"] = op
        yield w
    app.dependency_overrides.clear()


def _fault(w: World, who: str = "fs_a", **overrides: Any) -> Any:
    body = {
        "mn": MN_A,
        "started_at": local(utcnow() - timedelta(days=2)),
        "description": "采样泵损坏",
        "factors": [SO2],
    }
    body.update(overrides)
    return w.who(who).post(f"{API}/faults", json=body)


# ---- faults ----


def test_a_fault_through_the_api(world: World) -> None:
    fault = ok(_fault(world), 201)
    fid = fault["id"]
    assert (fault["state"], fault["factors"], fault["opened_by"], fault["operator_id"]) == (
        "open",
        [SO2],
        "fs_a",
        world.ids["op_a"],
    )
    assert [c["name"] for c in fault["clocks"]] == [
        "backup_required",
        "restore",
        "backup_check",
        "backup_max",
    ]
    assert (
        fault["clocks"][0]["state"] == "overdue" and fault["clocks"][0]["remaining_s"] < 0
    )  # no backup after 24 h
    c = world.who("fs_a")
    started = local(utcnow() - timedelta(hours=22))  # 26 h after the fault began: 2 h late
    backup = ok(
        c.post(
            f"{API}/faults/{fid}/events", json={"event": "backup_started", "at": started, "kind": "manual"}
        )
    )
    assert (backup["state"], backup["backup_kind"]) == ("on_backup", "manual")
    sampled = local(utcnow() - timedelta(hours=20))
    row = f'{{"factor": "{SO2}", "sampled_at": "{sampled}", "value": 12.30, "unit": "mg/m3", "agency": "某检测", "report_no": "R1"}}'
    added = ok(
        c.post(
            f"{API}/faults/{fid}/manual-results",
            content=f"[{row}]".encode(),
            headers={"Content-Type": "application/json"},
        ),
        201,
    )
    assert added["added"] == 1 and added["rows"][0]["value"] == "12.30"  # a JSON number, kept exact
    csv = f"factor,sampled_at,value,unit,agency,report_no\n{SO2},{local(utcnow() - timedelta(hours=10))},8.1,mg/m3,某检测,R2\n"
    as_text = ok(
        c.post(
            f"{API}/faults/{fid}/manual-results", content=csv.encode(), headers={"Content-Type": "text/csv"}
        ),
        201,
    )
    assert as_text["added"] == 1
    csv2 = csv.replace("R2", "R3").replace(
        local(utcnow() - timedelta(hours=10))[:13], local(utcnow() - timedelta(hours=5))[:13]
    )
    as_file = ok(
        c.post(f"{API}/faults/{fid}/manual-results", files={"file": ("结果.csv", csv2.encode(), "text/csv")}),
        201,
    )
    assert as_file["rows"][0]["report_no"] == "R3"
    bad = c.post(
        f"{API}/faults/{fid}/manual-results", content=b"factor,value\n", headers={"Content-Type": "text/csv"}
    )
    assert bad.status_code == 422 and bad.json()["detail"].startswith(
        "line 1: the header must name the columns"
    )
    refused = c.post(
        f"{API}/faults/{fid}/manual-results",
        json=[
            {
                "factor": SO2,
                "sampled_at": sampled,
                "value": "1",
                "unit": "mg/m3",
                "agency": "",
                "report_no": "R9",
            }
        ],
    )
    assert (
        refused.status_code == 422
        and refused.json()["detail"] == "row 1: the testing agency (检测机构) is required"
    )
    missing = c.post(f"{API}/faults/{fid}/manual-results", json=[{"factor": SO2}])
    assert (
        missing.status_code == 422
        and missing.json()["detail"] == "row 1: sampled_at, value, unit, agency, report_no missing"
    )
    assert c.post(f"{API}/faults/{fid}/manual-results", json={"factor": SO2}).json()["detail"] == (
        "send a JSON list of results, or a CSV file"
    )
    restored = ok(c.post(f"{API}/faults/{fid}/events", json={"event": "restored", "comment": "更换采样泵"}))
    assert restored["state"] == "restored" and restored["mark_id"] is not None
    with world.engine.connect() as conn:
        mark = conn.execute(select(marks).where(marks.c.id == restored["mark_id"])).mappings().one()
    assert (mark["code"], mark["factor"], mark["device_id"]) == ("fault", SO2, world.ids["dev_a"])
    again = c.post(f"{API}/faults/{fid}/events", json={"event": "restored"})
    assert again.status_code == 409 and again.json()["detail"] == (
        "a fault that is restored cannot take 'restored' (allowed: commented)"
    )
    late = c.post(
        f"{API}/faults/{fid}/manual-results", content=csv.encode(), headers={"Content-Type": "text/csv"}
    )
    assert (
        late.status_code == 409
        and "has no manual monitoring running (state restored" in late.json()["detail"]
    )
    detail = ok(c.get(f"{API}/faults/{fid}"))
    assert [e["event"] for e in detail["events"]] == ["opened", "backup_started", "restored"]
    assert len(detail["manual_results"]) == 3 and detail["clock_error"] is None
    assert {cl["name"]: cl["state"] for cl in detail["clocks"]}["backup_required"] == "breached"
    listed = ok(c.get(f"{API}/faults", params={"state": "restored"}))
    assert [r["id"] for r in listed["rows"]] == [fid] and listed["rows"][0]["mn"] == MN_A


def test_fault_input_errors(world: World) -> None:
    c = world.who("op_a")
    no_device = c.post(f"{API}/faults", json={"started_at": local(utcnow()), "description": "x"})
    assert no_device.status_code == 422 and no_device.json()["detail"] == (
        "give the device (mn) or the alarm (alarm_id) the fault is on"
    )
    bad_time = _fault(world, "op_a", started_at="yesterday")
    assert (
        bad_time.status_code == 422
        and "started_at='yesterday' is not an ISO 8601 time" in bad_time.json()["detail"]
    )
    future = _fault(world, "op_a", started_at=local(utcnow() + timedelta(hours=1)))
    assert (
        future.status_code == 422 and "is in the future; record what has happened" in future.json()["detail"]
    )
    fid = ok(_fault(world, "op_a"), 201)["id"]
    clash = _fault(world, "op_a", factors=[])
    assert clash.status_code == 409 and f"already has open fault {fid}" in clash.json()["detail"]
    no_kind = c.post(f"{API}/faults/{fid}/events", json={"event": "backup_started"})
    assert no_kind.status_code == 422 and no_kind.json()["detail"].startswith("backup_started needs the kind")
    unknown = c.post(f"{API}/faults/{fid}/events", json={"event": "opened"})
    assert unknown.status_code == 422  # not an event a person sends
    listed = ok(c.get(f"{API}/faults", params={"overdue": "true"}))
    assert [r["id"] for r in listed["rows"]] == [fid]  # no backup after 24 h
    assert ok(c.get(f"{API}/faults", params={"mn": MN_A, "state": "open"}))["total"] == 1
    assert c.get(f"{API}/faults", params={"state": "fixed"}).status_code == 422
    assert c.get(f"{API}/faults", params={"mn": MN_B}).status_code == 404


def test_opening_from_an_alarm(world: World) -> None:
    with world.engine.begin() as conn:
        at = utcnow() - timedelta(hours=3)
        alarm = raise_alarm(
            conn, Raised(world.ids["dev_a"], "offline", "", at, "SX-20.9", "no packet"), at, ack_due_s=3600
        ).alarm_id
    fault = ok(_fault(world, "op_a", mn=None, alarm_id=alarm, factors=[]), 201)
    assert fault["alarm_id"] == alarm and fault["device_id"] == world.ids["dev_a"]
    with world.engine.connect() as conn:
        assert alarm_events_of(conn, alarm)[-1]["data"] == {"fault_id": fault["id"]}
    tied = _fault(world, "op_a", mn=None, alarm_id=alarm, factors=[SO2])
    assert tied.status_code == 409 and tied.json()["detail"] == (
        f"alarm {alarm} is already tied to open fault {fault['id']}: record on that fault"
    )
    other = _fault(world, "op_a", mn=MN_B, alarm_id=alarm)
    assert other.status_code == 404  # 运维甲 does not see 乙's device


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 201), ("op_a", 201), ("fs_a", 201), ("ent_a", 403), ("reg_zj", 403), ("aud_a", 403)],
)
def test_who_writes_faults(world: World, who: str, status: int) -> None:
    r = _fault(world, who)
    assert r.status_code == status, r.text
    if status == 403:
        role = {"ent_a": "enterprise", "reg_zj": "regulator", "aud_a": "auditor"}[who]
        assert r.json()["detail"] == f"role {role} may not open or update device faults"
    fid = ok(_fault(world, "admin", factors=[]), 201)["id"] if status == 403 else r.json()["id"]
    # everyone who sees the device reads the fault; the others get 404
    assert world.who(who).get(f"{API}/faults/{fid}").status_code == 200
    for outsider in ("ent_b", "reg_gd", "reg_county"):
        missing = world.who(outsider).get(f"{API}/faults/{fid}")
        assert (missing.status_code, missing.json()["detail"]) == (404, f"no fault with id {fid}")
        assert world.who(outsider).get(f"{API}/faults").json()["rows"] == []


# ---- correcting manual results ----


def _manual_fault(w: World) -> tuple[int, list[dict[str, Any]]]:
    """A fault on manual monitoring for a day, with two results (12.30 and 8.1)."""
    fid = ok(_fault(w), 201)["id"]
    c = w.who("fs_a")
    backup = {"event": "backup_started", "at": local(utcnow() - timedelta(hours=24)), "kind": "manual"}
    ok(c.post(f"{API}/faults/{fid}/events", json=backup))
    rows = [
        {"factor": SO2, "sampled_at": local(utcnow() - timedelta(hours=h)), "value": v, "unit": "mg/m3"}
        | {"agency": "某检测", "report_no": f"R{h}"}
        for h, v in ((20, "12.30"), (10, "8.1"))
    ]
    return fid, ok(c.post(f"{API}/faults/{fid}/manual-results", json=rows), 201)["rows"]


def test_a_manual_result_corrected_then_withdrawn(world: World) -> None:
    fid, (first, second) = _manual_fault(world)
    c = world.who("fs_a")
    ok(c.post(f"{API}/faults/{fid}/events", json={"event": "restored"}))  # corrections go on after the end
    path = f"{API}/faults/{fid}/manual-results/{first['id']}/corrections"
    fixed = ok(c.post(path, json={"value": "21.30", "reason": "报告为 21.30"}), 201)
    assert (fixed["value"], fixed["supersedes_id"], fixed["recorded_by"]) == ("21.30", first["id"], "fs_a")
    assert (fixed["sampled_at"], fixed["report_no"]) == (first["sampled_at"], first["report_no"])  # kept
    r = c.post(path, json={"value": "21.3", "reason": "x"})
    assert (r.status_code, r.json()["detail"]) == (
        409,
        f"manual result {first['id']} was corrected already by manual result {fixed['id']}: correct that one "
        "instead",
    )
    gone = ok(
        c.post(
            f"{API}/faults/{fid}/manual-results/{second['id']}/corrections",
            json={"withdraw": True, "reason": "不是本故障的监测"},
        ),
        201,
    )
    assert gone["withdrawn"] is True
    detail = ok(c.get(f"{API}/faults/{fid}"))
    assert [(m["id"], m["value"]) for m in detail["manual_results"]] == [(fixed["id"], "21.30")]
    history = {h["id"]: h for h in detail["manual_result_history"]}
    assert set(history) == {first["id"], fixed["id"], second["id"]}
    assert (
        history[first["id"]]["correction"]["reason"] == "报告为 21.30" and not history[first["id"]]["current"]
    )
    assert history[second["id"]]["correction"]["withdrawn"] is True
    assert history[fixed["id"]]["current"] and history[fixed["id"]]["corrects"] == first["id"]


def test_manual_result_correction_errors(world: World) -> None:
    fid, (first, second) = _manual_fault(world)
    other = ok(_fault(world, "admin", mn=MN_B, factors=[]), 201)["id"]
    c = world.who("op_a")
    path = f"{API}/faults/{fid}/manual-results/{first['id']}/corrections"
    cases = [
        (path, {"reason": "x"}, 422,
         "give the fields to correct (factor, sampled_at, value, unit, agency, report_no), or withdraw"),
        (path, {"withdraw": True, "value": "1", "reason": "x"}, 422,
         "a withdrawal replaces the row by nothing: give no result fields (value)"),
        (path, {"value": "1", "reason": ""}, 422, "a correction needs a reason: say what was wrong in the row it corrects"),
        (path, {"value": 1.5, "reason": "x"}, 422, "the value 1.5 must be given as text (an exact decimal), not a number"),
        (path, {"sampled_at": second["sampled_at"], "reason": "x"}, 409,
         f"{SO2} at {second['sampled_at'][:19].replace('T', ' ')} is already stored (manual result {second['id']}): "
         "correct that one"),
        (path, {"sampled_at": "soon", "reason": "x"}, 422, None),
        (f"{API}/faults/{fid}/manual-results/99999/corrections", {"value": "1", "reason": "x"}, 404,
         f"no manual result with id 99999 on fault {fid}"),
    ]  # fmt: skip
    for url, body, status, detail in cases:
        r = c.post(url, json=body)
        assert r.status_code == status, (body, r.text)
        if detail is not None:
            assert r.json()["detail"] == detail, body
    # a result of another fault, even one the caller sees, is not there
    r = world.who("admin").post(
        f"{API}/faults/{other}/manual-results/{first['id']}/corrections", json={"value": "1", "reason": "x"}
    )
    assert (r.status_code, r.json()["detail"]) == (
        404,
        f"no manual result with id {first['id']} on fault {other}",
    )
    for who, role in (("ent_a", "enterprise"), ("reg_zj", "regulator"), ("aud_a", "auditor")):
        r = world.who(who).post(path, json={"value": "1", "reason": "x"})
        assert (r.status_code, r.json()["detail"]) == (
            403,
            f"role {role} may not open or update device faults",
        )
    r = world.who("ent_b").post(path, json={"value": "1", "reason": "x"})
    assert (r.status_code, r.json()["detail"]) == (404, f"no fault with id {fid}")
    assert [m["id"] for m in ok(world.who("op_a").get(f"{API}/faults/{fid}"))["manual_results"]] == [
        first["id"],
        second["id"],
    ]


# ---- production stops ----


def _stop(w: World, who: str = "ent_a", **overrides: Any) -> Any:
    body = {
        "outlet_id": w.ids["outlet_a"],
        "start_at": local(utcnow() + timedelta(days=1)),
        "end_at": local(utcnow() + timedelta(days=3)),
        "reason": "检修停产",
    }
    body.update(overrides)
    return w.who(who).post(f"{API}/stops", json=body)


def test_a_stop_from_report_to_restart(world: World) -> None:
    stop = ok(_stop(world), 201)
    sid = stop["id"]
    assert (stop["state"], stop["enterprise_id"], stop["submitted_by"]) == (
        "submitted",
        world.ids["ent_a"],
        "ent_a",
    )
    # only a regulator of the enterprise's region decides; one of another region does not even see it
    for outsider in ("reg_gd", "reg_county", "ent_b"):
        r = world.who(outsider).post(f"{API}/stops/{sid}/decision", json={"approve": True})
        assert (r.status_code, r.json()["detail"]) == (404, f"no production stop with id {sid}")
    for role, who in (("enterprise", "ent_a"), ("operator", "op_a")):
        r = world.who(who).post(f"{API}/stops/{sid}/decision", json={"approve": True})
        assert (r.status_code, r.json()["detail"]) == (
            403,
            f"role {role} may not approve or reject production stops",
        )
    approved = ok(
        world.who("reg_zj").post(f"{API}/stops/{sid}/decision", json={"approve": True, "comment": "同意"})
    )
    assert approved["state"] == "approved" and approved["decided_by"] == "reg_zj"
    assert [(m["device_id"], m["code"]) for m in approved["marks"]] == [(world.ids["dev_a"], "no_discharge")]
    assert approved["quarter_note"] == "gas_keep_running" and approved["restart_check"] is None
    again = world.who("reg_zj").post(f"{API}/stops/{sid}/decision", json={"approve": False, "comment": "x"})
    assert again.status_code == 409
    early = world.who("ent_a").post(f"{API}/stops/{sid}/restart", json={})
    assert early.status_code == 422 and "must be after the stop's start" in early.json()["detail"]
    assert world.who("reg_zj").post(f"{API}/stops/{sid}/withdraw", json={}).status_code == 403
    withdrawn = ok(world.who("ent_a").post(f"{API}/stops/{sid}/withdraw", json={"comment": "计划取消"}))
    assert withdrawn["state"] == "withdrawn" and [m["action"] for m in withdrawn["marks"]] == ["withdraw"]
    # a stop under way (admin backdates nothing: the store refuses a start already past)
    past = _stop(world, start_at=local(utcnow() - timedelta(hours=2)))
    assert (
        past.status_code == 422
        and "already past: a production stop is reported and approved" in past.json()["detail"]
    )
    rejected = ok(_stop(world), 201)["id"]
    no_reason = world.who("reg_zj").post(f"{API}/stops/{rejected}/decision", json={"approve": False})
    assert (
        no_reason.status_code == 422
        and no_reason.json()["detail"] == "the reason for rejecting it is required"
    )
    assert (
        ok(
            world.who("reg_zj").post(
                f"{API}/stops/{rejected}/decision", json={"approve": False, "comment": "材料不全"}
            )
        )["state"]
        == "rejected"
    )
    listed = ok(world.who("op_a").get(f"{API}/stops"))
    assert {r["id"]: r["state"] for r in listed["rows"]} == {sid: "withdrawn", rejected: "rejected"}
    assert ok(world.who("ent_b").get(f"{API}/stops"))["rows"] == []
    assert ok(world.who("reg_zj").get(f"{API}/stops", params={"state": "rejected"}))["total"] == 1


def test_restart_after_an_approved_stop(world: World) -> None:
    # a report made just within the grace, approved, restarted now: the check window starts
    sid = ok(
        _stop(
            world,
            start_at=local(utcnow() - timedelta(minutes=20)),
            end_at=local(utcnow() + timedelta(days=2)),
        ),
        201,
    )["id"]
    ok(world.who("admin").post(f"{API}/stops/{sid}/decision", json={"approve": True}))
    back = ok(world.who("ent_a").post(f"{API}/stops/{sid}/restart", json={"comment": "已开机"}))
    assert back["state"] == "restarted" and back["restart_check"]["state"] == "running"
    assert back["restart_check"]["within_days"] == 14
    assert [d["mn"] for d in back["restart_check"]["devices"]] == [MN_A]
    assert [m["end_at"] == back["restarted_at"] for m in back["marks"]] == [True]  # shortened to the restart
    assert ok(world.who("fs_a").get(f"{API}/stops/{sid}"))["events"][-1]["event"] == "restarted"


def test_stop_input_errors(world: World) -> None:
    other = _stop(world, outlet_id=world.ids["outlet_b"])
    assert (other.status_code, other.json()["detail"]) == (404, f"no outlet with id {world.ids['outlet_b']}")
    assert (
        _stop(world, "admin", outlet_id=world.ids["outlet_b"], enterprise_id=world.ids["ent_a"]).status_code
        == 422
    )
    assert _stop(world, "reg_zj").status_code == 403
    assert _stop(world, "op_a").status_code == 403
    bad = _stop(world, end_at="soon")
    assert bad.status_code == 422 and "end_at='soon' is not an ISO 8601 time" in bad.json()["detail"]
