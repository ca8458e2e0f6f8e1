"""The O&M records API over the real app and a real SQLite store: field records (create, read, list, correct,
photos, what is due), reference materials and registrations, per role. Tenancy across two tenants is in
test_tenancy; the stores' own rules are in tests/operations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.operations.records import years_after
from envwatch.operations.records_schema import field_records
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.operations.records_world import GAS_MN, OTHER_MN, SITE, WATER_MN, RecordsWorld, add_staff, build

API = "/api/v1/om"


@dataclass
class Api:
    client: TestClient
    world: RecordsWorld
    engine: Engine
    now: datetime

    def as_(self, role: str, **fields: Any) -> TestClient:
        principal = Principal(name=fields.pop("name", role), role=role, **fields)
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client

    def admin(self) -> TestClient:
        return self.as_("admin")

    def operator(self, role: str = "operator", name: str = "op_a") -> TestClient:
        return self.as_(role, name=name, operator_id=self.world.op)

    def local(self, hours: float = -1) -> str:
        """A China time without offset, ``hours`` from now."""
        return to_china(self.now + timedelta(hours=hours)).replace(tzinfo=None).isoformat(timespec="minutes")


@pytest.fixture
def api(settings: Settings, sqlite_engine: Engine) -> Iterator[Api]:
    now = utcnow()
    world = build(sqlite_engine, now)
    with sqlite_engine.begin() as conn:
        add_staff(
            conn,
            world.op,
            "孙七",
            valid=(now.date() - timedelta(days=30), now.date() + timedelta(days=30)),
            username="fs_a",
        )
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as client:
        yield Api(client, world, sqlite_engine, now)
    app.dependency_overrides.clear()


def inspection_body(api: Api, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mn": GAS_MN,
        "kind": "inspection",
        "performed_at": api.local(),
        "staff_id": api.world.staff["zhang"],
        "payload": {"items": [{"item": "采样管线", "ok": True}, {"item": "站房温度", "ok": True}]},
        "latitude": str(SITE[0]),
        "longitude": str(SITE[1]),
    }
    body.update(changes)
    return body


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def records_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(field_records)).scalar_one())


def test_a_record_from_create_to_correction(api: Api) -> None:
    c = api.operator()
    row = created(c.post(f"{API}/records", json=inspection_body(api)))
    assert (row["verdict"], row["on_site"], row["distance_m"], row["mn"]) == ("pass", "yes", 0, GAS_MN)
    assert row["operator_id"] == api.world.op and row["recorded_by"] == "op_a"
    assert row["performed_at"].endswith("+08:00") and row["latitude"] == str(SITE[0])
    assert (row["registration_city"], row["registration"]) == ("330100", None)  # not registered: a warning
    assert row["keep_until"] == years_after(to_china(api.now - timedelta(hours=1)).date(), 3).isoformat()
    url = f"{API}/records/{row['id']}"
    assert c.get(url).json()["chain"][0]["id"] == row["id"]
    fixed = created(
        c.post(
            f"{url}/corrections",
            json=inspection_body(api, note="补记站房温度", latitude=None, longitude=None),
        )
    )
    assert (fixed["supersedes_id"], fixed["on_site"]) == (row["id"], "unknown")
    again = c.post(f"{url}/corrections", json=inspection_body(api, note="再改"))
    assert again.status_code == 409
    assert (
        again.json()["detail"]
        == f"record {row['id']} was corrected already by record {fixed['id']}: correct that one instead"
    )
    old = c.get(url).json()
    assert old["superseded_by"] == fixed["id"] and [v["id"] for v in old["chain"]] == [row["id"], fixed["id"]]
    listed = c.get(f"{API}/records").json()
    assert [r["id"] for r in listed["rows"]] == [fixed["id"]] and listed["total"] == 1
    everything = c.get(f"{API}/records", params={"current": "false"}).json()
    assert {r["id"] for r in everything["rows"]} == {row["id"], fixed["id"]}


def test_a_calibration_with_its_material_and_a_photo(api: Api) -> None:
    c = api.operator("field_staff", "fs_a")
    body = inspection_body(
        api,
        kind="calibration",
        staff_id=None,  # the caller's own staff record (孙七)
        payload={"factor": "a21026", "zero_reference": "0", "zero_reading": "0.8", "span_reference": "80",
                 "span_reading": "85.5", "mode": "manual"},
        material_ids=[api.world.materials["so2"]],
    )  # fmt: skip
    row = created(c.post(f"{API}/records", json=body))
    assert (row["verdict"], row["staff_name"]) == ("fail", "孙七")
    assert (row["payload"]["span_drift_pct_fs"], row["payload"]["out_of_control"]) == ("5.500", False)
    assert [m["certificate_no"] for m in row["materials"]] == ["GBW(E)-001"]
    photo = c.post(
        f"{API}/records/{row['id']}/attachments", files={"file": ("现场.jpg", b"\xff\xd8jpg", "image/jpeg")}
    )
    assert photo.status_code == 201, photo.text
    download = c.get(f"{API}/records/{row['id']}/attachments/{photo.json()['id']}")
    assert (download.status_code, download.content) == (200, b"\xff\xd8jpg")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert c.get(f"{API}/records/{row['id']}").json()["attachments"][0]["filename"] == "现场.jpg"
    assert c.get(f"{API}/records/{row['id']}/attachments/999999").status_code == 404


@pytest.mark.parametrize(
    ("changes", "status", "detail"),
    [
        ({"mn": OTHER_MN}, 404, f"no device with MN {OTHER_MN}"),  # 乙's device: not seen by 运维甲
        ({"mn": "NOPE"}, 404, "no device with MN NOPE"),
        ({"mn": None}, 422, "name the device by mn or by device_id (one of them)"),
        (
            {"performed_at": "yesterday"},
            422,
            "performed_at='yesterday' is not an ISO 8601 time such as 2026-11-22T08:00:00+08:00",
        ),
        (
            {"kind": "calibration"},
            422,
            "the calibration record is not complete or not valid: factor: Field required; zero_reference: "
            "Field required; zero_reading: Field required; span_reference: Field required; span_reading: Field "
            "required; mode: Field required; items: Extra inputs are not permitted",
        ),
        (
            {"staff_id": None},
            422,
            "give the person who did the work (staff_id): user op_a has no staff record at operator {op}",
        ),
        ({"operator_id": 999}, 404, "no operator with id 999"),
    ],
)
def test_refusals(api: Api, changes: dict[str, Any], status: int, detail: str) -> None:
    before = records_count(api.engine)
    r = api.operator().post(f"{API}/records", json=inspection_body(api, **changes))
    assert (r.status_code, r.json()["detail"]) == (status, detail.format(op=api.world.op))
    assert records_count(api.engine) == before


def test_the_store_checks_come_through(api: Api) -> None:
    c = api.operator()
    late = c.post(f"{API}/records", json=inspection_body(api, performed_at=api.local(1)))
    assert late.status_code == 422 and "that is in the future" in late.json()["detail"]
    li = api.world.staff["li"]
    expired = c.post(f"{API}/records", json=inspection_body(api, staff_id=li))
    assert expired.status_code == 422 and "has no certificate valid on" in expired.json()["detail"]
    zhao = api.world.staff["zhao"]  # 运维乙's person
    assert c.post(f"{API}/records", json=inspection_body(api, staff_id=zhao)).status_code == 404


@pytest.mark.parametrize("role", ["enterprise", "regulator", "auditor"])
def test_who_may_not_record(api: Api, role: str) -> None:
    fields = {
        "enterprise": {"enterprise_id": api.world.enterprises["jia"]},
        "regulator": {"region_code": "330100"},
        "auditor": {
            "operator_id": api.world.op,
            "period": (api.now.date() - timedelta(days=5), api.now.date()),
        },
    }[role]
    r = api.as_(role, **fields).post(f"{API}/records", json=inspection_body(api))
    assert r.status_code == 403 and r.json()["detail"] == (
        f"role {role} may not record O&M field work (inspections, calibrations, comparisons, ...)"
    )


def test_who_sees_which_records(api: Api) -> None:
    mine = created(api.operator().post(f"{API}/records", json=inspection_body(api)))
    theirs = created(
        api.admin().post(
            f"{API}/records",
            json=inspection_body(
                api, mn=OTHER_MN, staff_id=api.world.staff["zhao"], latitude=None, longitude=None
            ),
        )
    )
    w = api.world
    period = (api.now.date() - timedelta(days=5), to_china(api.now).date())
    seen = {
        ("admin", ()): {mine["id"], theirs["id"]},
        ("enterprise", (("enterprise_id", w.enterprises["jia"]),)): {mine["id"]},
        ("enterprise", (("enterprise_id", w.enterprises["yi"]),)): {theirs["id"]},
        ("regulator", (("region_code", "330100"),)): {mine["id"]},
        ("regulator", (("region_code", "44"),)): {theirs["id"]},
        ("operator", (("operator_id", w.op),)): {mine["id"]},
        ("field_staff", (("operator_id", w.other_op),)): {theirs["id"]},
        ("auditor", (("operator_id", w.op), ("period", period))): {mine["id"]},
        ("auditor", (("operator_id", w.op), ("period", (date(2020, 1, 1), date(2020, 1, 31))))): set(),
    }
    for (role, fields), ids in seen.items():
        c = api.as_(role, **dict(fields))
        assert {r["id"] for r in c.get(f"{API}/records").json()["rows"]} == ids, (role, fields)
        for record in (mine, theirs):
            status = c.get(f"{API}/records/{record['id']}").status_code
            assert status == (200 if record["id"] in ids else 404), (role, fields, record["id"])
    hidden = api.as_("enterprise", enterprise_id=w.enterprises["yi"]).get(f"{API}/records/{mine['id']}")
    missing = api.as_("enterprise", enterprise_id=w.enterprises["yi"]).get(f"{API}/records/999999")
    assert hidden.json()["detail"] == f"no field record with id {mine['id']}"
    assert missing.json()["detail"] == "no field record with id 999999"


def test_list_filters(api: Api) -> None:
    c = api.admin()
    gas = created(c.post(f"{API}/records", json=inspection_body(api)))
    failed_items = {"items": [{"item": "液位", "ok": False}]}
    water = created(c.post(f"{API}/records", json=inspection_body(api, mn=WATER_MN, payload=failed_items)))

    def ids(**params: Any) -> list[int]:
        r = c.get(f"{API}/records", params=params)
        assert r.status_code == 200, r.text
        return [row["id"] for row in r.json()["rows"]]

    assert set(ids()) == {gas["id"], water["id"]}
    assert ids(mn=WATER_MN) == [water["id"]]
    assert ids(verdict="fail") == [water["id"]]
    assert ids(on_site="yes") == [gas["id"]]
    assert ids(outlet_id=api.world.outlets["gas"]) == [gas["id"]]
    assert ids(operator_id=api.world.other_op) == []
    assert ids(kind="repair") == []
    assert ids(**{"from": api.local(-0.5)}) == []
    assert len(ids(limit=1)) == 1
    bad = c.get(f"{API}/records", params={"verdict": "ok"})
    assert bad.status_code == 422 and bad.json()["detail"] == "verdict is pass, fail or none, not 'ok'"
    # an operator asking for another operator's records by operator_id gets none, not theirs
    assert [
        r["id"]
        for r in api.operator()
        .get(f"{API}/records", params={"operator_id": api.world.other_op})
        .json()["rows"]
    ] == []


def test_what_is_due(api: Api) -> None:
    c = api.operator()
    rows = c.get(f"{API}/records/due").json()["rows"]
    assert {(r["due"], r["mn"]) for r in rows} == {
        ("inspection", GAS_MN), ("inspection", WATER_MN), ("comparison", GAS_MN), ("comparison", WATER_MN)
    }  # fmt: skip
    created(c.post(f"{API}/records", json=inspection_body(api)))
    rows = c.get(f"{API}/records/due").json()["rows"]
    assert ("inspection", GAS_MN) not in {(r["due"], r["mn"]) for r in rows}
    everyone = api.admin().get(f"{API}/records/due").json()["rows"]
    assert ("inspection", OTHER_MN) in {(r["due"], r["mn"]) for r in everyone}
    ent = api.as_("enterprise", enterprise_id=api.world.enterprises["yi"]).get(f"{API}/records/due").json()
    assert {r["mn"] for r in ent["rows"]} == {OTHER_MN}
    assert (
        api.as_("regulator", region_code="330100")
        .get(f"{API}/records/due", params={"operator_id": api.world.other_op})
        .status_code
        == 404
    )


def test_materials(api: Api) -> None:
    c = api.operator()
    body = {"kind": "solution", "name": "COD标准溶液", "certificate_no": "GBW08001", "unit": "mg/L",
            "concentration": "100", "valid_until": (api.now.date() + timedelta(days=90)).isoformat()}  # fmt: skip
    made = created(c.post(f"{API}/materials", json=body))
    assert (made["operator_id"], made["concentration"], made["recorded_by"]) == (api.world.op, "100", "op_a")
    listed = [m["id"] for m in c.get(f"{API}/materials").json()]
    assert made["id"] in listed and api.world.materials["theirs"] not in listed
    valid = [
        m["id"] for m in c.get(f"{API}/materials", params={"valid_on": api.now.date().isoformat()}).json()
    ]
    assert api.world.materials["old"] not in valid and made["id"] in valid
    staff = api.operator("field_staff", "fs_a").post(f"{API}/materials", json=body)
    assert (
        staff.status_code == 403
        and "may not record operator registrations or reference-material" in staff.json()["detail"]
    )
    c = api.operator()
    assert c.post(f"{API}/materials", json={**body, "operator_id": api.world.other_op}).status_code == 404
    bad = c.post(f"{API}/materials", json={**body, "kind": "powder"})
    assert (
        bad.status_code == 422
        and bad.json()["detail"] == "a reference material is gas or solution, not 'powder'"
    )
    assert api.admin().post(f"{API}/materials", json=body).status_code == 422  # admin names the operator
    ent = api.as_("enterprise", enterprise_id=api.world.enterprises["jia"]).get(f"{API}/materials").json()
    assert {m["operator_id"] for m in ent} == {api.world.op}  # the operator working for it


def test_registrations_and_the_record_warning(api: Api) -> None:
    c = api.operator()
    body = {"region_code": "330100", "bureau": "杭州市生态环境局", "reference_no": "HZ-1",
            "registered_on": (api.now.date() - timedelta(days=60)).isoformat()}  # fmt: skip
    made = created(c.post(f"{API}/registrations", json=body))
    row = created(c.post(f"{API}/records", json=inspection_body(api)))
    assert row["registration"]["id"] == made["id"]
    assert [r["id"] for r in c.get(f"{API}/registrations").json()] == [made["id"]]
    assert [r["id"] for r in api.as_("regulator", region_code="33").get(f"{API}/registrations").json()] == [
        made["id"]
    ]
    assert api.as_("regulator", region_code="44").get(f"{API}/registrations").json() == []
    c = api.operator()
    bad = c.post(f"{API}/registrations", json={**body, "region_code": "330102"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("a registration names a city")
    reg = api.as_("regulator", region_code="33")
    assert reg.post(f"{API}/registrations/{made['id']}/withdraw", json={}).status_code == 403
    assert (
        api.as_("regulator", region_code="44")
        .post(f"{API}/registrations/{made['id']}/withdraw", json={})
        .status_code
        == 404
    )
    c = api.operator()
    gone = created(c.post(f"{API}/registrations/{made['id']}/withdraw", json={}))
    assert gone["withdrawn"] is True and gone["registered_on"] == to_china(api.now).date().isoformat()
    twice = c.post(f"{API}/registrations/{made['id']}/withdraw", json={})
    assert twice.status_code == 409
    listed = {r["id"]: r["withdrawn_by"] for r in c.get(f"{API}/registrations").json()}
    assert listed == {made["id"]: gone["id"], gone["id"]: None}


def test_bad_qa_limits_stop_the_start(settings: Settings, sqlite_engine: Engine) -> None:
    app = create_app(settings.model_copy(update={"om_qa_limits": "{bad"}), sqlite_engine)
    with pytest.raises(Exception, match="ENVWATCH_OM_QA_LIMITS is not valid JSON"), TestClient(app):
        pass
