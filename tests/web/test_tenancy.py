"""Tenancy: every API route, called by every role of one tenant on the other tenant's objects, answers
403/404 or a list without them (issue 4); and each role sees and does what it may on its own.

Two tenants: enterprise A in 330102 (杭州 上城区) with operator OA (contract on the whole enterprise),
enterprise B in 440103 (广州 荔湾区) with operator OB (contract on one outlet). The routes are taken from
``app.routes``: a route missing from ``ROUTES`` fails the test, so a new one cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from envwatch.alarms.notify_schema import notifications
from envwatch.alarms.orders_schema import audit_days, order_events, orders
from envwatch.alarms.schema import alarm_events, alarms
from envwatch.alarms.store import Raised, add_alarm_attachment, raise_alarm
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence.schema import (
    evidence_checkpoints,
    self_inspection_draws,
    self_inspection_items,
    self_inspection_outcomes,
    storage_checks,
    video_annotations,
    video_record_links,
    video_records,
)
from envwatch.ingest.schema import commands
from envwatch.ingest.store import InboundFrame, PacketData
from envwatch.ingest.writer import Writer
from envwatch.monitoring.marks_schema import marks
from envwatch.monitoring.marks_store import add_mark_attachment
from envwatch.operations.faults_schema import (
    fault_events,
    faults,
    manual_results,
    production_stop_events,
    production_stops,
)
from envwatch.operations.ledger_schema import (
    drills,
    emergency_plans,
    equipment,
    equipment_events,
    self_inspection_reports,
    spare_part_moves,
    spare_parts,
)
from envwatch.operations.records_schema import (
    field_record_materials,
    field_records,
    operator_registrations,
    reference_materials,
)
from envwatch.operations.staff_schema import staff, staff_certificates, training_results, trainings
from envwatch.operations.tickets_schema import ticket_events, tickets
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings
from envwatch.registry.models import credit_code_check_char
from envwatch.registry.schema import (
    attachments,
    contracts,
    device_factors,
    emission_limits,
    enterprises,
    filing_steps,
    filings,
    operators,
    outlets,
)
from envwatch.registry.store import import_devices, load_devices
from envwatch.reports.quarters import last_finished
from envwatch.sampling.schema import custody_events, samples, sampling_plan_items, sampling_plans
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.helpers import device_row
from tests.web.compliance_tenancy import (
    COMPLIANCE_LIST_KEYS,
    COMPLIANCE_LIST_REFUSED_FOR,
    COMPLIANCE_MORE_KEYS,
    COMPLIANCE_ROUTES,
    WRITERS_APART,
    compliance_listed,
    compliance_of,
    compliance_params,
    compliance_query,
    compliance_request,
)
from tests.web.compliance_tenancy import PREFIXES as COMPLIANCE_PREFIXES
from tests.web.compliance_tenancy import TABLES as COMPLIANCE_TABLES
from tests.web.compliance_tenancy import other_side_problems as compliance_other_side_problems
from tests.web.compliance_tenancy import own_side_problems as compliance_own_side_problems
from tests.web.evidence_tenancy import (
    EVIDENCE_LIST_KEYS,
    EVIDENCE_LIST_REFUSED_FOR,
    EVIDENCE_PARAMS,
    EVIDENCE_ROUTES,
    evidence_listed,
    evidence_of,
    evidence_query,
    evidence_request,
    filter_leaks,
    own_side_problems,
)

MN_A = "010000A8900016F0001A0001"
MN_B = "010000A8900016F0001B0001"
TODAY = to_china(utcnow()).date()
LAST_QUARTER = {"year": last_finished(utcnow()).year, "quarter": last_finished(utcnow()).quarter}


def credit_code(n: int) -> str:
    """A valid 统一社会信用代码 (GB 32100 check character), distinct per ``n``."""
    first17 = f"9133010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def local(day: date, hour: int = 0) -> str:
    """China time without offset, as users type it."""
    return f"{day.isoformat()}T{hour:02d}:00:00"


@dataclass
class Tenant:
    """The ids of one tenant's objects (filled by the admin set-up)."""

    mn: str
    region: str
    enterprise_id: int = 0
    outlet_id: int = 0
    device_id: int = 0
    operator_id: int = 0
    contract_id: int = 0
    filing_id: int = 0
    filing_attachment_id: int = 0
    mark_id: int = 0
    mark_attachment_id: int = 0
    command_id: int = 0
    alarm_id: int = 0
    alarm_attachment_id: int = 0
    order_id: int = 0
    order_attachment_id: int = 0
    inbox_scope: str = ""  # how the enterprise's in-app notifications are addressed
    staff_id: int = 0  # a member of the operator's staff (O&M staff files)
    certificate_id: int = 0  # that person's certificate
    training_id: int = 0  # a held training of the operator
    equipment_id: int = 0  # the operator's equipment file (一机一档), verification due in 10 days
    part_id: int = 0  # a spare part of the operator
    plan_id: int = 0  # an emergency plan of the operator
    drill_id: int = 0  # a drill under that plan, with an attachment
    drill_attachment_id: int = 0
    fault_id: int = 0  # a fault of the device (故障), on manual monitoring since yesterday 09:00
    result_id: int = 0  # a manual monitoring result of that fault
    stop_id: int = 0  # a production stop report of the outlet (停产), submitted
    report_id: int = 0  # the enterprise's quarterly self-inspection report (季度自查报告), last quarter
    ticket_id: int = 0  # a service request of the enterprise (服务工单), to its operator
    record_id: int = 0  # a field record (运维记录) of the device by the operator, with a photo
    record_attachment_id: int = 0
    material_id: int = 0  # a reference-material certificate of the operator
    registration_id: int = 0  # the operator's registration (报备) in its tenant's city
    agency_id: int = 0  # a testing agency seated in the tenant's region (sampling, issue 7)
    agency_staff_id: int = 0  # its sampler, linked to the tenant's agency account, trained
    agency_training_id: int = 0
    sampling_plan_id: int = 0  # the agency's plan at the tenant's enterprise, window open now
    sampling_item_id: int = 0  # the plan's item
    sample_code: str = ""  # a sample registered on site under that plan
    # evidence (issue 8, tests/web/evidence_tenancy.py): the agency's video of that sample at the enterprise
    video_id: int = 0
    video_upload_id: str = ""  # the tus upload it was finished from
    open_upload_id: str = ""  # another upload of the agency's account, still open (nothing sent)
    video_entry_id: int = 0  # the video record's evidence entry
    video_ref: str = ""  # its ref in the evidence log, video_records/<id>
    draw_id: int = 0  # the agency's self-inspection draw of the video's month (WZ-A1-14)
    draw_item_id: int = 0  # its item (the video)
    # compliance (issue 9, tests/web/compliance_tenancy.py): findings about the tenant's device, operator and
    # agency; a supervision plan and a spot-test draw of its district and their first items; periodic
    # reports of its enterprise, district and operator (``*_scope``: how a report list names them)
    finding_id: int = 0
    operator_finding_id: int = 0
    agency_finding_id: int = 0
    supervision_plan_id: int = 0
    supervision_item_id: int = 0
    spot_draw_id: int = 0
    spot_item_id: int = 0
    enterprise_report_id: int = 0
    region_report_id: int = 0
    operator_report_id: int = 0
    report_scope: str = ""
    region_report_scope: str = ""
    operator_report_scope: str = ""


@dataclass
class World:
    client: TestClient
    engine: Engine
    tenants: dict[str, Tenant]

    def as_(self, principal: Principal) -> TestClient:
        """The client, now authenticated as ``principal`` (no login needed)."""
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client


ADMIN = Principal(name="admin", role="admin")


def principals(side: str, world: World) -> dict[str, Principal]:
    """Every role of tenant ``side`` (A or B)."""
    t = world.tenants[side]
    period = (TODAY - timedelta(days=10), TODAY)
    return {
        "regulator": Principal(f"reg{side}", "regulator", region_code=t.region[:4]),
        "county_regulator": Principal(f"cty{side}", "regulator", region_code=t.region),
        "enterprise": Principal(f"ent{side}", "enterprise", enterprise_id=t.enterprise_id),
        "operator": Principal(f"op{side}", "operator", operator_id=t.operator_id),
        "field_staff": Principal(f"fs{side}", "field_staff", operator_id=t.operator_id),
        "auditor": Principal(f"aud{side}", "auditor", operator_id=t.operator_id, period=period),
        "agency": Principal(f"lab{side}", "agency", agency_id=t.agency_id),
    }


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    import_devices(sqlite_engine, [device_row(MN_A), device_row(MN_B)], utcnow())
    ids = {mn: rec.id for mn, rec in load_devices(sqlite_engine).items()}
    writer = Writer(sqlite_engine)
    writer.start()
    for mn in (MN_A, MN_B):
        data = PacketData({"DataTime": "20261122120000"}, {"a21026": {"Rtd": "1.0", "Flag": "N"}}, False)
        writer.submit(
            InboundFrame(
                utcnow(), "127.0.0.1:1", b"##" + mn.encode(), "ok", ids[mn], mn, "2011", "q", None, data
            )
        )
    writer.submit(InboundFrame(utcnow(), "127.0.0.1:1", b"junk", "garbage", reason="not a frame"))
    writer.stop()
    app = create_app(settings, sqlite_engine)
    tenants = {"A": Tenant(MN_A, "330102"), "B": Tenant(MN_B, "440103")}
    with TestClient(app) as client:
        w = World(client, sqlite_engine, tenants)
        c = w.as_(ADMIN)
        api = "/api/v1/registry"
        for n, (side, t) in enumerate(tenants.items()):
            t.device_id = ids[t.mn]
            ent = ok(
                c.post(
                    f"{api}/enterprises",
                    json={
                        "name": f"企业{side}",
                        "credit_code": credit_code(n),
                        "region_code": t.region,
                    },
                ),
                201,
            )
            t.enterprise_id = ent["id"]
            t.outlet_id = ok(
                c.post(
                    f"{api}/enterprises/{t.enterprise_id}/outlets",
                    json={"code": "DA001", "name": "1号排口", "kind": "gas"},
                ),
                201,
            )["id"]
            ok(c.put(f"{api}/devices/{t.mn}/outlet", json={"outlet_id": t.outlet_id}))
            t.operator_id = ok(
                c.post(f"{api}/operators", json={"name": f"运维{side}", "credit_code": credit_code(10 + n)}),
                201,
            )["id"]
            contract = {
                "enterprise_id": t.enterprise_id,
                "contract_no": f"C-{side}",
                "valid_from": "2020-01-01",
            }
            if side == "B":  # B's operator looks after one outlet only, not the whole enterprise
                contract["outlet_id"] = t.outlet_id
            t.contract_id = ok(c.post(f"{api}/operators/{t.operator_id}/contracts", json=contract), 201)["id"]
            t.filing_id = ok(
                c.post(
                    "/api/v1/filings",
                    json={
                        "kind": "filing",
                        "enterprise_id": t.enterprise_id,
                        "outlet_id": t.outlet_id,
                        "title": f"备案{side}",
                        "event_at": local(TODAY - timedelta(days=2)),
                    },
                ),
                201,
            )["id"]
            t.filing_attachment_id = ok(
                c.post(
                    f"/api/v1/filings/{t.filing_id}/attachments",
                    params={"filename": "a.txt"},
                    content=b"scan",
                    headers={"Content-Type": "text/plain"},
                ),
                201,
            )["id"]
            t.mark_id = ok(
                c.post(
                    "/api/v1/marks",
                    json={
                        "mn": t.mn,
                        "factor": "a21026",
                        "start": local(TODAY - timedelta(days=1), 1),
                        "end": local(TODAY - timedelta(days=1), 3),
                        "code": "maintenance",
                        "reason": "维护",
                    },
                ),
                201,
            )["id"]
            with sqlite_engine.begin() as conn:
                t.mark_attachment_id = add_mark_attachment(
                    conn,
                    BlobStore.from_settings(settings),
                    t.mark_id,
                    filename="proof.txt",
                    content=b"proof",
                    content_type="text/plain",
                    added_by="admin",
                    now=utcnow(),
                )["id"]
            t.command_id = ok(c.post(f"/api/v1/devices/{t.mn}/commands", json={"cn": "1011"}), 202)["id"]
            with sqlite_engine.begin() as conn:
                raised = Raised(t.device_id, "offline", "", utcnow(), "SX-20.9", "no packet")
                t.alarm_id = raise_alarm(conn, raised, utcnow(), ack_due_s=3600).alarm_id
                t.alarm_attachment_id = add_alarm_attachment(
                    conn,
                    BlobStore.from_settings(settings),
                    t.alarm_id,
                    filename="repair.txt",
                    content=b"repair",
                    content_type="text/plain",
                    actor="admin",
                    now=utcnow(),
                )["id"]
            t.inbox_scope = f"enterprise:{t.enterprise_id}"
            order = {
                "enterprise_id": t.enterprise_id,
                "title": f"督办{side}",
                "body": "整改",
                "deadline": local(TODAY + timedelta(days=3)),
                "alarm_ids": [t.alarm_id],
                "region_code": t.region,
            }
            t.order_id = ok(c.post("/api/v1/orders", json=order), 201)["id"]
            t.order_attachment_id = ok(
                c.post(
                    f"/api/v1/orders/{t.order_id}/attachments",
                    files={"file": ("r.txt", b"report", "text/plain")},
                ),
                201,
            )["id"]
            om = "/api/v1/om"
            t.staff_id = ok(
                c.post(
                    f"{om}/staff",
                    json={
                        "operator_id": t.operator_id,
                        "name": f"员工{side}",
                        "position": "sampler",
                        "phone": "123",
                    },
                ),
                201,
            )["id"]
            certificate = {"kind": "上岗证", "number": f"Z-{side}", "issuer": "协会"}
            certificate |= {
                "issued_on": TODAY.isoformat(),
                "valid_until": (TODAY + timedelta(days=365)).isoformat(),
            }
            t.certificate_id = ok(c.post(f"{om}/staff/{t.staff_id}/certificates", json=certificate), 201)[
                "id"
            ]
            training = {
                "operator_id": t.operator_id,
                "kind": "quarterly",
                "title": f"培训{side}",
                "pass_score": 60,
            }
            plan = ok(c.post(f"{om}/trainings", json=training | {"planned_on": TODAY.isoformat()}), 201)
            t.training_id = ok(
                c.post(f"{om}/trainings/{plan['id']}/held", json={"held_on": TODAY.isoformat()}), 201
            )["id"]
            _ledger_of(c, t, side)
            _faults_of(c, t)
            _self_inspection_of(c, t)
            ticket = {"outlet_id": t.outlet_id, "subject": f"报修{side}", "description": "数据异常"}
            t.ticket_id = ok(c.post("/api/v1/om/tickets", json=ticket), 201)["id"]
            _records_of(c, t, sqlite_engine)
            _sampling_of(c, t, n, side, sqlite_engine)
            evidence_of(w.as_(principals(side, w)["agency"]), t)
            c = w.as_(ADMIN)
        ok(c.post("/api/v1/evidence/checkpoints"), 201)  # the entries integrated and signed: proofs answer
        yield w
    app.dependency_overrides.clear()


@pytest.fixture
def full_world(world: World) -> World:
    """``world`` (the same object) with each tenant's compliance objects (issue 9: findings, plans, draws,
    reports, credit, a published ranking), for the tests that walk or read them: the others are spared
    their making."""
    compliance_of(world.as_(ADMIN), world.engine, world.tenants.values())
    return world


def _sampling_of(c: TestClient, t: Tenant, n: int, side: str, engine: Engine) -> None:
    """The tenant's testing agency (issue 7): a trained sampler linked to the agency account, a plan at the
    tenant's enterprise open now, and a sample registered on site."""
    agency = {
        "name": f"检测{side}",
        "credit_code": credit_code(30 + n),
        "code": f"JC{side}",
        "region_code": t.region,
    }
    t.agency_id = ok(c.post("/api/v1/agencies", json=agency), 201)["id"]
    person = {"name": f"采样员{side}", "position": "sampler"}
    t.agency_staff_id = ok(c.post(f"/api/v1/agencies/{t.agency_id}/staff", json=person), 201)["id"]
    with engine.begin() as conn:  # the account link without an account row (the API checks the account)
        conn.execute(
            update(agency_staff).where(agency_staff.c.id == t.agency_staff_id).values(username=f"lab{side}")
        )
    training: dict[str, Any] = {
        "title": "识别标识系统操作培训",
        "held_on": (TODAY - timedelta(days=10)).isoformat(),
    }
    training |= {"passed": True, "valid_until": (TODAY + timedelta(days=365)).isoformat(), "score": "90"}
    t.agency_training_id = ok(
        c.post(f"/api/v1/agencies/{t.agency_id}/staff/{t.agency_staff_id}/trainings", json=training), 201
    )["id"]
    plan = {"agency_id": t.agency_id, "enterprise_id": t.enterprise_id, "point_name": "废水总排口"}
    plan |= {"latitude": "30.25", "longitude": "120.17", "team": [t.agency_staff_id]}
    plan |= {"window_start": to_china(utcnow() - timedelta(hours=1)).isoformat()}
    plan |= {"window_end": to_china(utcnow() + timedelta(days=1)).isoformat()}
    plan |= {"items": [{"item": "化学需氧量", "container": "玻璃瓶", "quantity": 2}]}
    made = ok(c.post("/api/v1/sampling/plans", json=plan), 201)
    t.sampling_plan_id, t.sampling_item_id = made["id"], made["items"][0]["id"]
    t.sample_code = ok(
        c.post("/api/v1/sampling/samples", json=entry_for(t) | {"staff_id": t.agency_staff_id}), 201
    )["code"]


def entry_for(t: Tenant) -> dict[str, Any]:
    """An on-site entry under ``t``'s plan, made at its point now."""
    entry = {
        "plan_item_id": t.sampling_item_id,
        "appearance": "无色",
        "latitude": "30.25",
        "longitude": "120.17",
    }
    return entry | {"device_at": to_china(utcnow()).isoformat()}


def _ledger_of(c: TestClient, t: Tenant, side: str) -> None:
    """The tenant operator's ledger (issue 6): an equipment file, a spare part, a plan, a drill with a file."""
    om = "/api/v1/om"
    item = {"operator_id": t.operator_id, "kind": "analyser", "name": f"分析仪{side}", "model": "M"}
    item |= {"serial": f"S-{side}", "purchased_on": (TODAY - timedelta(days=30)).isoformat()}
    t.equipment_id = ok(c.post(f"{om}/equipment", json=item), 201)["id"]
    verified = {"event": "verified", "on": TODAY.isoformat()}
    verified["next_due"] = (TODAY + timedelta(days=10)).isoformat()
    ok(c.post(f"{om}/equipment/{t.equipment_id}/events", json=verified))
    part = {"operator_id": t.operator_id, "name": f"泵{side}", "model": "P", "unit": "个", "min_stock": 1}
    t.part_id = ok(c.post(f"{om}/spare-parts", json=part), 201)["id"]
    plan = {"operator_id": t.operator_id, "event_type": "power_outage", "title": f"停电预案{side}"}
    plan |= {"version": "V1", "effective_on": "2020-01-01", "body": "启用UPS"}
    t.plan_id = ok(c.post(f"{om}/emergency-plans", json=plan), 201)["id"]
    drill = {"plan_id": t.plan_id, "held_on": TODAY.isoformat(), "participants": 3, "summary": "演练"}
    t.drill_id = ok(c.post(f"{om}/drills", json=drill), 201)["id"]
    sheet = {"file": ("签到表.txt", b"sign-in", "text/plain")}
    t.drill_attachment_id = ok(c.post(f"{om}/drills/{t.drill_id}/attachments", files=sheet), 201)["id"]


def _faults_of(c: TestClient, t: Tenant) -> None:
    """The tenant's fault (since yesterday, the whole device) and production stop report (from tomorrow)."""
    fault = {"mn": t.mn, "started_at": local(TODAY - timedelta(days=1), 8), "description": f"故障{t.mn[-4:]}"}
    t.fault_id = ok(c.post("/api/v1/om/faults", json=fault), 201)["id"]
    backup = {"event": "backup_started", "kind": "manual", "at": local(TODAY - timedelta(days=1), 9)}
    ok(c.post(f"/api/v1/om/faults/{t.fault_id}/events", json=backup))
    result = {"factor": "a21026", "sampled_at": local(TODAY - timedelta(days=1), 10), "value": "12.3"}
    result |= {"unit": "mg/m3", "agency": "检测所", "report_no": f"JC-{t.mn[-4:]}"}
    t.result_id = ok(c.post(f"/api/v1/om/faults/{t.fault_id}/manual-results", json=[result]), 201)["rows"][0][
        "id"
    ]
    stop = {"outlet_id": t.outlet_id, "start_at": local(TODAY + timedelta(days=2)), "reason": "检修"}
    stop |= {"end_at": local(TODAY + timedelta(days=3))}
    t.stop_id = ok(c.post("/api/v1/om/stops", json=stop), 201)["id"]


def _self_inspection_of(c: TestClient, t: Tenant) -> None:
    """The enterprise's self-inspection report of the last finished quarter, submitted (SX-18.7)."""
    body = {"enterprise_id": t.enterprise_id, **LAST_QUARTER}
    t.report_id = ok(c.post("/api/v1/om/self-inspection", json=body), 201)["id"]


def _records_of(c: TestClient, t: Tenant, engine: Engine) -> None:
    """The operator's certified person, material and registration, and a field record with a photo."""
    from tests.operations.records_world import add_staff

    with engine.begin() as conn:
        person = add_staff(
            conn, t.operator_id, "记录员", valid=(TODAY - timedelta(days=30), TODAY + timedelta(days=30))
        )
    om = "/api/v1/om"
    material = {
        "operator_id": t.operator_id,
        "kind": "gas",
        "name": "SO2",
        "certificate_no": f"G-{t.mn[-4:]}",
    }
    t.material_id = ok(c.post(f"{om}/materials", json=material | {"valid_until": "2099-12-31"}), 201)["id"]
    city = {"region_code": t.region[:4] + "00", "bureau": "局", "reference_no": f"R-{t.mn[-4:]}"}
    registration = {"operator_id": t.operator_id, "registered_on": "2020-01-01", **city}
    t.registration_id = ok(c.post(f"{om}/registrations", json=registration), 201)["id"]
    record: dict[str, Any] = {
        "mn": t.mn,
        "kind": "inspection",
        "performed_at": to_china(utcnow()).isoformat(),
    }
    record |= {"staff_id": person, "payload": {"items": [{"item": "巡检", "ok": True}]}}
    t.record_id = ok(c.post(f"{om}/records", json=record), 201)["id"]
    photo = {"file": ("现场.jpg", b"jpg", "image/jpeg")}
    t.record_attachment_id = ok(c.post(f"{om}/records/{t.record_id}/attachments", files=photo), 201)["id"]


# ---- the route table --------------------------------------------------------------------------------

# How each route is checked against the other tenant:
#   hidden    - an object route: 404 (not found, as a missing object; existence is not revealed)
#   forbidden - a create route naming no existing object: 403
#   list      - 200 with the other tenant's items absent (``LIST_KEYS`` says how to find them)
#   open      - no tenant data (reference data, gateway counters): only needs a principal
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/gateway"): "open",
    ("GET", "/api/v1/marks/codes"): "open",
    ("GET", "/api/v1/upstreams"): "open",  # platform configuration and counters (admin, regulator; else 403)
    ("GET", "/api/v1/devices"): "list",
    ("GET", "/api/v1/devices/{mn}/data"): "hidden",
    ("GET", "/api/v1/devices/{mn}/conflicts"): "hidden",
    ("GET", "/api/v1/devices/{mn}/hours"): "hidden",
    ("GET", "/api/v1/devices/{mn}/days"): "hidden",
    ("GET", "/api/v1/packets"): "list",
    ("POST", "/api/v1/devices/{mn}/commands"): "hidden",
    ("GET", "/api/v1/commands/{command_id}"): "hidden",
    ("GET", "/api/v1/registry/enterprises"): "list",
    ("POST", "/api/v1/registry/enterprises"): "forbidden",
    ("GET", "/api/v1/registry/enterprises/{enterprise_id}"): "hidden",
    ("PATCH", "/api/v1/registry/enterprises/{enterprise_id}"): "hidden",
    ("GET", "/api/v1/registry/enterprises/{enterprise_id}/outlets"): "hidden",
    ("POST", "/api/v1/registry/enterprises/{enterprise_id}/outlets"): "hidden",
    ("GET", "/api/v1/registry/outlets/{outlet_id}"): "hidden",
    ("PATCH", "/api/v1/registry/outlets/{outlet_id}"): "hidden",
    ("GET", "/api/v1/registry/outlets/{outlet_id}/limits"): "hidden",
    ("POST", "/api/v1/registry/outlets/{outlet_id}/limits"): "hidden",
    ("GET", "/api/v1/registry/devices/{mn}"): "hidden",
    ("PUT", "/api/v1/registry/devices/{mn}"): "hidden",
    ("GET", "/api/v1/registry/devices/{mn}/keys"): "hidden",
    ("POST", "/api/v1/registry/devices/{mn}/keys"): "hidden",
    ("PUT", "/api/v1/registry/devices/{mn}/outlet"): "hidden",
    ("GET", "/api/v1/registry/devices/{mn}/factors"): "hidden",
    ("PUT", "/api/v1/registry/devices/{mn}/factors"): "hidden",
    ("GET", "/api/v1/registry/operators"): "list",
    ("POST", "/api/v1/registry/operators"): "forbidden",
    ("GET", "/api/v1/registry/operators/{operator_id}"): "hidden",
    ("PATCH", "/api/v1/registry/operators/{operator_id}"): "hidden",
    ("GET", "/api/v1/registry/operators/{operator_id}/contracts"): "hidden",
    ("POST", "/api/v1/registry/operators/{operator_id}/contracts"): "hidden",
    ("GET", "/api/v1/registry/contracts/{contract_id}"): "hidden",
    ("PATCH", "/api/v1/registry/contracts/{contract_id}"): "hidden",
    ("GET", "/api/v1/registry/operators/{operator_id}/scope"): "hidden",
    ("POST", "/api/v1/filings"): "hidden",
    ("GET", "/api/v1/filings"): "list",
    ("GET", "/api/v1/filings/{filing_id}"): "hidden",
    ("GET", "/api/v1/filings/{filing_id}/status"): "hidden",
    ("POST", "/api/v1/filings/{filing_id}/steps"): "hidden",
    ("POST", "/api/v1/filings/{filing_id}/attachments"): "hidden",
    ("GET", "/api/v1/filings/{filing_id}/attachments"): "hidden",
    ("GET", "/api/v1/filings/{filing_id}/attachments/{attachment_id}"): "hidden",
    ("POST", "/api/v1/marks"): "hidden",
    ("GET", "/api/v1/marks"): "list",
    ("GET", "/api/v1/marks/{mark_id}"): "hidden",
    ("POST", "/api/v1/marks/{mark_id}/supersede"): "hidden",
    ("POST", "/api/v1/marks/{mark_id}/withdraw"): "hidden",
    ("POST", "/api/v1/marks/{mark_id}/reviews"): "hidden",
    ("GET", "/api/v1/marks/{mark_id}/attachments/{attachment_id}"): "hidden",
    ("POST", "/api/v1/marks/{mark_id}/attachments"): "hidden",
    ("GET", "/api/v1/rates"): "list",
    ("GET", "/api/v1/alarms"): "list",
    ("GET", "/api/v1/alarms/{alarm_id}"): "hidden",
    ("POST", "/api/v1/alarms/{alarm_id}/actions"): "hidden",
    ("GET", "/api/v1/alarms/{alarm_id}/attachments/{attachment_id}"): "hidden",
    ("POST", "/api/v1/alarms/{alarm_id}/attachments"): "hidden",
    ("POST", "/api/v1/orders"): "hidden",
    ("GET", "/api/v1/orders"): "list",
    ("GET", "/api/v1/orders/{order_id}"): "hidden",
    ("POST", "/api/v1/orders/{order_id}/actions"): "hidden",
    ("GET", "/api/v1/orders/{order_id}/attachments/{attachment_id}"): "hidden",
    ("POST", "/api/v1/orders/{order_id}/attachments"): "hidden",
    ("GET", "/api/v1/audit/days"): "hidden",
    ("GET", "/api/v1/audit/days/{day}"): "hidden",
    ("POST", "/api/v1/audit/days"): "hidden",
    ("GET", "/api/v1/notifications/inbox"): "list",
    ("GET", "/api/v1/notifications/targets"): "forbidden",
    ("POST", "/api/v1/notifications/targets"): "forbidden",
    ("POST", "/api/v1/notifications/targets/{target_id}/deactivate"): "forbidden",
    # O&M staff and trainings: the lists name the operator (``OM_STAFF_LISTS``), so they are "hidden" too
    ("GET", "/api/v1/om/staff"): "hidden",
    ("POST", "/api/v1/om/staff"): "hidden",
    ("GET", "/api/v1/om/staff/certificates/expiring"): "hidden",
    ("GET", "/api/v1/om/staff/{staff_id}"): "hidden",
    ("PATCH", "/api/v1/om/staff/{staff_id}"): "hidden",
    ("POST", "/api/v1/om/staff/{staff_id}/certificates"): "hidden",
    ("POST", "/api/v1/om/staff/{staff_id}/certificates/{certificate_id}/corrections"): "hidden",
    ("GET", "/api/v1/om/trainings"): "hidden",
    ("POST", "/api/v1/om/trainings"): "hidden",
    ("GET", "/api/v1/om/trainings/quarterly"): "hidden",
    ("GET", "/api/v1/om/trainings/sampling-label"): "hidden",
    ("GET", "/api/v1/om/trainings/{training_id}"): "hidden",
    ("POST", "/api/v1/om/trainings/{training_id}/held"): "hidden",
    ("POST", "/api/v1/om/trainings/{training_id}/results"): "hidden",
    # O&M ledger (一机一档, spare parts, emergency plans and drills)
    ("GET", "/api/v1/om/equipment"): "list",
    ("POST", "/api/v1/om/equipment"): "hidden",
    ("GET", "/api/v1/om/equipment/verification-due"): "list",
    ("GET", "/api/v1/om/equipment/{equipment_id}"): "hidden",
    ("POST", "/api/v1/om/equipment/{equipment_id}/events"): "hidden",
    ("GET", "/api/v1/om/spare-parts"): "list",
    ("POST", "/api/v1/om/spare-parts"): "hidden",
    ("GET", "/api/v1/om/spare-parts/{part_id}"): "hidden",
    ("POST", "/api/v1/om/spare-parts/{part_id}/moves"): "hidden",
    ("GET", "/api/v1/om/emergency-plans"): "list",
    ("POST", "/api/v1/om/emergency-plans"): "hidden",
    ("GET", "/api/v1/om/drills"): "list",
    ("POST", "/api/v1/om/drills"): "hidden",
    ("GET", "/api/v1/om/drills/status"): "hidden",
    ("GET", "/api/v1/om/drills/{drill_id}"): "hidden",
    ("GET", "/api/v1/om/drills/{drill_id}/attachments/{attachment_id}"): "hidden",
    ("POST", "/api/v1/om/drills/{drill_id}/attachments"): "hidden",
    # O&M faults (故障) and production stops (停产)
    ("GET", "/api/v1/om/faults"): "list",
    ("POST", "/api/v1/om/faults"): "hidden",
    ("GET", "/api/v1/om/faults/{fault_id}"): "hidden",
    ("POST", "/api/v1/om/faults/{fault_id}/events"): "hidden",
    ("POST", "/api/v1/om/faults/{fault_id}/manual-results"): "hidden",
    ("POST", "/api/v1/om/faults/{fault_id}/manual-results/{result_id}/corrections"): "hidden",
    ("GET", "/api/v1/om/stops"): "list",
    ("POST", "/api/v1/om/stops"): "hidden",
    ("GET", "/api/v1/om/stops/{stop_id}"): "hidden",
    ("POST", "/api/v1/om/stops/{stop_id}/decision"): "hidden",
    ("POST", "/api/v1/om/stops/{stop_id}/withdraw"): "hidden",
    ("POST", "/api/v1/om/stops/{stop_id}/restart"): "hidden",
    ("GET", "/api/v1/om/self-inspection"): "list",
    ("POST", "/api/v1/om/self-inspection"): "hidden",
    ("GET", "/api/v1/om/self-inspection/preview.pdf"): "hidden",
    ("GET", "/api/v1/om/self-inspection/preview.xlsx"): "hidden",
    ("GET", "/api/v1/om/self-inspection/{report_id}"): "hidden",
    ("GET", "/api/v1/om/self-inspection/{report_id}/pdf"): "hidden",
    ("GET", "/api/v1/om/self-inspection/{report_id}/xlsx"): "hidden",
    # O&M service tickets (服务工单)
    ("GET", "/api/v1/om/tickets"): "list",
    ("POST", "/api/v1/om/tickets"): "hidden",
    ("GET", "/api/v1/om/tickets/satisfaction"): "hidden",
    ("GET", "/api/v1/om/tickets/{ticket_id}"): "hidden",
    ("POST", "/api/v1/om/tickets/{ticket_id}/events"): "hidden",
    # O&M field records (运维记录), reference materials (标准物质), registrations (报备)
    ("GET", "/api/v1/om/records"): "list",
    ("POST", "/api/v1/om/records"): "hidden",
    ("GET", "/api/v1/om/records/due"): "list",
    ("GET", "/api/v1/om/records/{record_id}"): "hidden",
    ("POST", "/api/v1/om/records/{record_id}/corrections"): "hidden",
    ("POST", "/api/v1/om/records/{record_id}/attachments"): "hidden",
    ("GET", "/api/v1/om/records/{record_id}/attachments/{attachment_id}"): "hidden",
    ("GET", "/api/v1/om/materials"): "list",
    ("POST", "/api/v1/om/materials"): "hidden",
    ("GET", "/api/v1/om/registrations"): "list",
    ("POST", "/api/v1/om/registrations"): "hidden",
    ("POST", "/api/v1/om/registrations/{registration_id}/withdraw"): "hidden",
    # sampling (issue 7): agencies, plans, samples, labels; roles without samples are refused (403)
    ("GET", "/api/v1/agencies"): "list",
    ("POST", "/api/v1/agencies"): "forbidden",
    ("GET", "/api/v1/agencies/{agency_id}"): "hidden",
    ("PATCH", "/api/v1/agencies/{agency_id}"): "hidden",
    ("GET", "/api/v1/agencies/{agency_id}/coverage"): "hidden",
    ("GET", "/api/v1/agencies/{agency_id}/staff"): "hidden",
    ("POST", "/api/v1/agencies/{agency_id}/staff"): "hidden",
    ("PATCH", "/api/v1/agencies/{agency_id}/staff/{staff_id}"): "hidden",
    ("GET", "/api/v1/agencies/{agency_id}/staff/{staff_id}/trainings"): "hidden",
    ("POST", "/api/v1/agencies/{agency_id}/staff/{staff_id}/trainings"): "hidden",
    ("POST", "/api/v1/agencies/{agency_id}/staff/{staff_id}/trainings/{training_id}/withdraw"): "hidden",
    ("POST", "/api/v1/agencies/{agency_id}/staff/{staff_id}/trainings/{training_id}/corrections"): "hidden",
    ("GET", "/api/v1/sampling/enterprises"): "open",  # registry master data, public anyway (信息公开)
    ("GET", "/api/v1/sampling/plans"): "list_or_refused",
    ("POST", "/api/v1/sampling/plans"): "refused",
    ("GET", "/api/v1/sampling/plans/{plan_id}"): "refused",
    ("POST", "/api/v1/sampling/samples"): "refused",
    ("POST", "/api/v1/sampling/samples/sync"): "sync",
    ("POST", "/api/v1/sampling/samples/self-delivered"): "refused",
    ("GET", "/api/v1/sampling/samples"): "list_or_refused",
    ("GET", "/api/v1/sampling/samples/{code}"): "refused",
    ("POST", "/api/v1/sampling/samples/{code}/steps/{step}"): "refused",
    ("POST", "/api/v1/sampling/samples/{code}/review"): "refused",
    ("POST", "/api/v1/sampling/samples/{code}/label"): "refused",
    ("POST", "/api/v1/sampling/samples/{code}/reprint"): "refused",
    ("POST", "/api/v1/sampling/labels"): "batch",
    ("POST", "/api/v1/sampling/photos"): "open",  # a file into the blob store, no tenant's row
    ("GET", "/api/v1/sampling/stats"): "list_or_refused",
    ("GET", "/api/v1/verify/{code}"): "open",  # public by design: nothing private in the answer
    # the evidence archive (issue 8): log, uploads, video records, checks, self-inspection
    **EVIDENCE_ROUTES,
    # the compliance engine (issue 9): findings, runs, assessment and credit, supervision, reports, pack
    **COMPLIANCE_ROUTES,
}

# path parameters, filled with the other tenant's objects
PARAMS: dict[str, Callable[[Tenant, str], Any]] = {
    "mn": lambda t, _path: t.mn,
    "enterprise_id": lambda t, _path: t.enterprise_id,
    "outlet_id": lambda t, _path: t.outlet_id,
    "operator_id": lambda t, _path: t.operator_id,
    "contract_id": lambda t, _path: t.contract_id,
    "filing_id": lambda t, _path: t.filing_id,
    "mark_id": lambda t, _path: t.mark_id,
    "command_id": lambda t, _path: t.command_id,
    "alarm_id": lambda t, _path: t.alarm_id,
    "order_id": lambda t, _path: t.order_id,
    "staff_id": lambda t, path: t.agency_staff_id if "/agencies/" in path else t.staff_id,
    "certificate_id": lambda t, _path: t.certificate_id,
    "training_id": lambda t, path: t.agency_training_id if "/agencies/" in path else t.training_id,
    "equipment_id": lambda t, _path: t.equipment_id,
    "part_id": lambda t, _path: t.part_id,
    "drill_id": lambda t, _path: t.drill_id,
    "fault_id": lambda t, _path: t.fault_id,
    "result_id": lambda t, _path: t.result_id,
    "stop_id": lambda t, _path: t.stop_id,
    "report_id": lambda t, _path: t.report_id,
    "ticket_id": lambda t, _path: t.ticket_id,
    "record_id": lambda t, _path: t.record_id,
    "registration_id": lambda t, _path: t.registration_id,
    "agency_id": lambda t, _path: t.agency_id,
    "plan_id": lambda t, path: t.sampling_plan_id if "/sampling/" in path else t.plan_id,
    "code": lambda t, _path: t.sample_code,
    "step": lambda _t, _path: "dispatch",
    "day": lambda _t, _path: (TODAY - timedelta(days=1)).isoformat(),
    "target_id": lambda _t, _path: 1,
    "attachment_id": lambda t, path: (
        t.mark_attachment_id
        if "/marks/" in path
        else t.alarm_attachment_id
        if "/alarms/" in path
        else t.order_attachment_id
        if "/orders/" in path
        else t.drill_attachment_id
        if "/drills/" in path
        else t.record_attachment_id
        if "/om/records/" in path
        else t.filing_attachment_id
    ),
    **EVIDENCE_PARAMS,
}

# how a list row names its tenant: (response key, tenant attribute)
LIST_KEYS: dict[str, tuple[str, str]] = {
    "/api/v1/devices": ("mn", "mn"),
    "/api/v1/packets": ("mn", "mn"),
    "/api/v1/marks": ("mn", "mn"),
    "/api/v1/filings": ("enterprise_id", "enterprise_id"),
    "/api/v1/registry/enterprises": ("id", "enterprise_id"),
    "/api/v1/registry/operators": ("id", "operator_id"),
    "/api/v1/rates": ("mn", "mn"),
    "/api/v1/alarms": ("mn", "mn"),
    "/api/v1/orders": ("enterprise_id", "enterprise_id"),
    "/api/v1/notifications/inbox": ("recipient", "inbox_scope"),
    "/api/v1/om/equipment": ("operator_id", "operator_id"),
    "/api/v1/om/equipment/verification-due": ("operator_id", "operator_id"),
    "/api/v1/om/spare-parts": ("operator_id", "operator_id"),
    "/api/v1/om/emergency-plans": ("operator_id", "operator_id"),
    "/api/v1/om/drills": ("operator_id", "operator_id"),
    "/api/v1/om/faults": ("mn", "mn"),
    "/api/v1/om/stops": ("enterprise_id", "enterprise_id"),
    "/api/v1/om/self-inspection": ("enterprise_id", "enterprise_id"),
    "/api/v1/om/tickets": ("enterprise_id", "enterprise_id"),
    "/api/v1/om/records": ("mn", "mn"),
    "/api/v1/om/records/due": ("mn", "mn"),
    "/api/v1/om/materials": ("operator_id", "operator_id"),
    "/api/v1/om/registrations": ("operator_id", "operator_id"),
    "/api/v1/agencies": ("id", "agency_id"),
    "/api/v1/sampling/plans": ("agency_id", "agency_id"),
    "/api/v1/sampling/samples": ("code", "sample_code"),
    "/api/v1/sampling/stats": ("agency_id", "agency_id"),
    **EVIDENCE_LIST_KEYS,
    **COMPLIANCE_LIST_KEYS,
}
# further (response key, tenant attribute) pairs by which a list's row may name a tenant
MORE_LIST_KEYS: dict[str, tuple[tuple[str, str], ...]] = {**COMPLIANCE_MORE_KEYS}
# roles a sampling list refuses outright (403) rather than answering empty: they see no samples
SAMPLE_LIST_REFUSED = {"operator", "field_staff", "auditor"}
SAMPLE_LIST_REFUSED_FOR = {
    "/api/v1/sampling/stats": SAMPLE_LIST_REFUSED | {"enterprise"},
    **EVIDENCE_LIST_REFUSED_FOR,
    **COMPLIANCE_LIST_REFUSED_FOR,
}

WINDOW = {"from": local(TODAY - timedelta(days=2)), "to": local(TODAY + timedelta(days=1))}
DAYS = {"from": (TODAY - timedelta(days=2)).isoformat(), "to": TODAY.isoformat()}


def query_for(path: str) -> dict[str, str]:
    """Query parameters a route needs, inside the auditor's period (so a refusal is the tenancy's)."""
    if path.endswith("/days") or path == "/api/v1/rates":
        return {**DAYS, "factor": "a21026"} if path.endswith("/days") else DAYS
    if path.endswith("/hours"):
        return {**WINDOW, "factor": "a21026"}
    if path in ("/api/v1/packets", "/api/v1/marks") or path.endswith("/data"):
        return WINDOW
    return {}


def body_for(method: str, path: str, other: Tenant) -> dict[str, Any]:
    """A valid body naming the other tenant's objects: a refusal must not be a validation error."""
    if method == "GET":
        return {}
    mark = {"start": local(TODAY, 1), "end": local(TODAY, 2), "code": "maintenance", "reason": "x"}
    bodies: dict[str, Any] = {
        "/api/v1/devices/{mn}/commands": {"cn": "1011"},
        "/api/v1/registry/enterprises": {
            "name": "新企业",
            "credit_code": credit_code(20),
            "region_code": "330102",
        },
        "/api/v1/registry/enterprises/{enterprise_id}": {"name": "改名"},
        "/api/v1/registry/enterprises/{enterprise_id}/outlets": {
            "code": "DA009",
            "name": "新排口",
            "kind": "gas",
        },
        "/api/v1/registry/outlets/{outlet_id}": {"name": "改名"},
        "/api/v1/registry/outlets/{outlet_id}/limits": {
            "factor": "a21026",
            "hour_limit": "35",
            "valid_from": "2026-01-01",
            "legal_source": "GB 13223-2011",
        },
        "/api/v1/registry/devices/{mn}": {"pw": "1", "name": "x", "kind": "gas", "protocol": "2017"},
        "/api/v1/registry/devices/{mn}/keys": {},
        "/api/v1/registry/devices/{mn}/outlet": {"outlet_id": other.outlet_id},
        "/api/v1/registry/devices/{mn}/factors": [{"factor": "a21026", "unit": "mg/m3"}],
        "/api/v1/registry/operators": {"name": "新运维", "credit_code": credit_code(21)},
        "/api/v1/registry/operators/{operator_id}": {"name": "改名"},
        "/api/v1/registry/operators/{operator_id}/contracts": {
            "enterprise_id": other.enterprise_id,
            "contract_no": "C-NEW",
            "valid_from": "2026-01-01",
        },
        "/api/v1/registry/contracts/{contract_id}": {"valid_to": TODAY.isoformat()},
        "/api/v1/filings": {
            "kind": "filing",
            "enterprise_id": other.enterprise_id,
            "outlet_id": other.outlet_id,
            "title": "t",
            "event_at": local(TODAY),
        },
        "/api/v1/filings/{filing_id}/steps": {"step": "filed", "done_at": local(TODAY)},
        "/api/v1/marks": {**mark, "mn": other.mn, "factor": "a21026"},
        "/api/v1/marks/{mark_id}/supersede": {**mark, "factor": "a21026"},
        "/api/v1/marks/{mark_id}/withdraw": {"reason": "x"},
        "/api/v1/marks/{mark_id}/reviews": {"decision": "approved"},
        "/api/v1/alarms/{alarm_id}/actions": {"event": "comment", "comment": "x"},
        "/api/v1/orders": {
            "enterprise_id": other.enterprise_id,
            "title": "t",
            "body": "b",
            "deadline": local(TODAY + timedelta(days=2)),
            "alarm_ids": [other.alarm_id],
            "region_code": other.region,
        },
        "/api/v1/orders/{order_id}/actions": {"event": "comment", "text": "x"},
        "/api/v1/audit/days": {
            "day": (TODAY - timedelta(days=1)).isoformat(),
            "operator_id": other.operator_id,
            "note": "x",
        },
        "/api/v1/notifications/targets": {"channel": "email", "address": "a@b.cn", "region_code": "33"},
        "/api/v1/om/staff": {
            "operator_id": other.operator_id,
            "name": "新员工",
            "position": "sampler",
            "phone": "123",
        },
        "/api/v1/om/staff/{staff_id}": {"name": "改名"},
        "/api/v1/om/staff/{staff_id}/certificates": {
            "kind": "上岗证",
            "number": "N-1",
            "issuer": "协会",
            "issued_on": TODAY.isoformat(),
            "valid_until": (TODAY + timedelta(days=365)).isoformat(),
        },
        "/api/v1/om/staff/{staff_id}/certificates/{certificate_id}/corrections": {
            "valid_until": (TODAY + timedelta(days=30)).isoformat(),
            "reason": "有效期录错",
        },
        "/api/v1/om/trainings": {
            "operator_id": other.operator_id,
            "kind": "quarterly",
            "title": "t",
            "planned_on": TODAY.isoformat(),
            "pass_score": 60,
        },
        "/api/v1/om/trainings/{training_id}/held": {"held_on": TODAY.isoformat()},
        "/api/v1/om/trainings/{training_id}/results": {
            "staff_id": other.staff_id,
            "score": "90",
            "tested_on": TODAY.isoformat(),
        },
        "/api/v1/om/equipment": {
            "operator_id": other.operator_id,
            "kind": "tool",
            "name": "x",
            "model": "m",
            "serial": "s-new",
            "purchased_on": TODAY.isoformat(),
        },
        "/api/v1/om/equipment/{equipment_id}/events": {"event": "maintained", "on": TODAY.isoformat()},
        "/api/v1/om/spare-parts": {"operator_id": other.operator_id, "name": "x", "model": "m", "unit": "个"},
        "/api/v1/om/spare-parts/{part_id}/moves": {"quantity": 1, "reason": "x"},
        "/api/v1/om/emergency-plans": {
            "operator_id": other.operator_id,
            "event_type": "other",
            "title": "t",
            "version": "V9",
            "effective_on": TODAY.isoformat(),
            "body": "b",
        },
        "/api/v1/om/drills": {
            "plan_id": other.plan_id,
            "held_on": TODAY.isoformat(),
            "participants": 1,
            "summary": "x",
        },
        "/api/v1/om/faults": {"mn": other.mn, "started_at": local(TODAY), "description": "x"},
        "/api/v1/om/faults/{fault_id}/events": {"event": "commented", "comment": "x"},
        "/api/v1/om/faults/{fault_id}/manual-results": [
            {"factor": "a21026", "sampled_at": local(TODAY), "value": "1", "unit": "mg/m3"}
            | {"agency": "x", "report_no": "x"}
        ],
        "/api/v1/om/faults/{fault_id}/manual-results/{result_id}/corrections": {
            "value": "21.3",
            "reason": "x",
        },
        "/api/v1/om/stops": {"outlet_id": other.outlet_id, "reason": "x"}
        | {"start_at": local(TODAY + timedelta(days=5)), "end_at": local(TODAY + timedelta(days=6))},
        "/api/v1/om/stops/{stop_id}/decision": {"approve": True},
        "/api/v1/om/stops/{stop_id}/withdraw": {"comment": "x"},
        "/api/v1/om/stops/{stop_id}/restart": {},
        "/api/v1/om/self-inspection": {"enterprise_id": other.enterprise_id, **LAST_QUARTER},
        "/api/v1/om/tickets": {"outlet_id": other.outlet_id, "subject": "s", "description": "d"},
        "/api/v1/om/tickets/{ticket_id}/events": {"event": "comment", "comment": "x"},
        "/api/v1/om/records": OM_RECORD | {"mn": other.mn},
        "/api/v1/om/records/{record_id}/corrections": OM_RECORD | {"mn": other.mn, "note": "x"},
        "/api/v1/om/materials": {"operator_id": other.operator_id, "kind": "gas", "name": "x"}
        | {"certificate_no": "x", "valid_until": "2099-12-31"},
        "/api/v1/om/registrations": {"operator_id": other.operator_id, "region_code": other.region[:4] + "00"}
        | {"bureau": "x", "reference_no": "x", "registered_on": TODAY.isoformat()},
        "/api/v1/agencies": {"name": "新检测", "credit_code": credit_code(40), "code": "NEWJC"}
        | {"region_code": "330102"},
        "/api/v1/agencies/{agency_id}": {"name": "改名"},
        "/api/v1/agencies/{agency_id}/staff": {"name": "新人", "position": "sampler"},
        "/api/v1/agencies/{agency_id}/staff/{staff_id}": {"name": "改名"},
        "/api/v1/agencies/{agency_id}/staff/{staff_id}/trainings": {"title": "培训", "passed": True}
        | {
            "held_on": TODAY.isoformat(),
            "valid_until": (TODAY + timedelta(days=30)).isoformat(),
            "score": "80",
        },
        "/api/v1/agencies/{agency_id}/staff/{staff_id}/trainings/{training_id}/withdraw": {"reason": "x"},
        "/api/v1/agencies/{agency_id}/staff/{staff_id}/trainings/{training_id}/corrections": {"reason": "x"}
        | {"score": "70"},
        "/api/v1/sampling/plans": {"agency_id": other.agency_id, "enterprise_id": other.enterprise_id}
        | {"point_name": "x", "latitude": "30.25", "longitude": "120.17", "team": [other.agency_staff_id]}
        | {"window_start": local(TODAY), "window_end": local(TODAY + timedelta(days=2))}
        | {"items": [{"item": "x", "container": "x", "quantity": 1}]},
        "/api/v1/sampling/samples": entry_for(other),
        "/api/v1/sampling/samples/sync": {"entries": [entry_for(other) | {"entry_id": "tenancy-1"}]},
        "/api/v1/sampling/samples/self-delivered": {"agency_id": other.agency_id, "client_name": "x"}
        | {"point_name": "x", "item": "x", "check_result": "intact"},
        "/api/v1/sampling/samples/{code}/steps/{step}": {"preservation": {"cold": True}},
        "/api/v1/sampling/samples/{code}/review": {"outcome": "accepted"},
        "/api/v1/sampling/samples/{code}/label": {"size": "50x30"},
        "/api/v1/sampling/labels": {"codes": [other.sample_code]},
    }
    return bodies.get(path, {})  # type: ignore[no-any-return]


OM_RECORD = {
    "kind": "inspection",
    "performed_at": local(TODAY),
    "payload": {"items": [{"item": "x", "ok": True}]},
}


def call(client: TestClient, method: str, path: str, other: Tenant) -> Any:
    route = path
    for name, fill in (PARAMS | compliance_params(path)).items():
        route = route.replace("{" + name + "}", str(fill(other, path)))
    assert "{" not in route, f"{path}: a path parameter has no entry in PARAMS"
    if path.startswith(COMPLIANCE_PREFIXES):  # bodies naming ``other``'s region, enterprise, objects
        return client.request(method, route, **compliance_request(method, path, other))
    if path.startswith("/api/v1/evidence/"):  # tus headers and bytes, queries and bodies naming ``other``
        return client.request(
            method, route, params=evidence_query(path, other), **evidence_request(method, path, other)
        )
    if path.endswith("/attachments") and method == "POST":
        files = {"file": ("x.txt", b"x", "text/plain")}
        multipart = (
            "/api/v1/marks",
            "/api/v1/alarms",
            "/api/v1/orders",
            "/api/v1/om/drills",
            "/api/v1/om/records",
        )
        if path.startswith(multipart):
            return client.post(route, files=files)
        return client.post(route, params={"filename": "x.txt"}, content=b"x")
    body = body_for(method, path, other)
    kwargs: dict[str, Any] = {"params": query_for(path)}
    if path.startswith("/api/v1/audit") and method == "GET":
        kwargs["params"] = {**kwargs["params"], "operator_id": other.operator_id}
    if path in OM_STAFF_LISTS | {"/api/v1/om/drills/status"} and method == "GET":
        kwargs["params"] = {**kwargs["params"], "operator_id": other.operator_id}
    if path.startswith("/api/v1/om/self-inspection/preview"):
        kwargs["params"] = {**kwargs["params"], "enterprise_id": other.enterprise_id, **LAST_QUARTER}
    if path == "/api/v1/om/tickets/satisfaction":
        kwargs["params"] = {"operator_id": other.operator_id}
    if method != "GET":
        kwargs["json"] = body
    return client.request(method, route, **kwargs)


# O&M staff lists and coverage tables: asked for the other tenant's operator (one's own is the default)
OM_STAFF_LISTS = {
    "/api/v1/om/staff",
    "/api/v1/om/staff/certificates/expiring",
    "/api/v1/om/trainings",
    "/api/v1/om/trainings/quarterly",
    "/api/v1/om/trainings/sampling-label",
}

# Accounts (login, users, tokens) hold no tenant data and are tested with web.accounts (admin or self).
ACCOUNT_PREFIXES = ("/api/v1/auth", "/api/v1/users")
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}  # tus: HEAD, OPTIONS


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) under /api/v1, from the OpenAPI document: it is public and flat, whereas
    ``app.routes`` nests included routers in recent FastAPI versions."""
    paths = client.get("/openapi.json").json()["paths"]
    return sorted(
        (method.upper(), path)
        for path, ops in paths.items()
        if path.startswith("/api/v1") and not path.startswith(ACCOUNT_PREFIXES)
        for method in ops
        if method in HTTP_METHODS
    )


TABLES = (
    enterprises,
    outlets,
    operators,
    contracts,
    emission_limits,
    device_factors,
    filings,
    filing_steps,
    attachments,
    marks,
    commands,
    alarms,
    alarm_events,
    orders,
    order_events,
    audit_days,
    notifications,
    staff,
    staff_certificates,
    trainings,
    training_results,
    equipment,
    equipment_events,
    spare_parts,
    spare_part_moves,
    emergency_plans,
    drills,
    faults,
    fault_events,
    manual_results,
    production_stops,
    self_inspection_reports,
    production_stop_events,
    tickets,
    ticket_events,
    field_records,
    field_record_materials,
    reference_materials,
    operator_registrations,
    agencies,
    agency_staff,
    agency_trainings,
    sampling_plans,
    sampling_plan_items,
    samples,
    custody_events,
    evidence_entries,
    evidence_checkpoints,
    video_records,
    video_record_links,
    video_annotations,
    self_inspection_draws,
    self_inspection_items,
    self_inspection_outcomes,
    storage_checks,
    *COMPLIANCE_TABLES,
)


def listed(body: Any) -> list[dict[str, Any]]:
    """The rows of a list answer: a plain list, or an object with ``rows`` (rates, alarms, videos),
    ``agencies`` (sampling statistics), an evidence list's (``evidence_listed``) or a compliance list's
    (``compliance_listed``)."""
    evidence = evidence_listed(body)
    if evidence is not None:
        return evidence
    compliance = compliance_listed(body)
    if compliance is not None:
        return compliance
    if isinstance(body, dict):
        return body["rows"] if "rows" in body else body["agencies"]  # type: ignore[no-any-return]
    return body  # type: ignore[no-any-return]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}


def test_every_route_is_in_the_table(world: World) -> None:
    missing = [r for r in api_routes(world.client) if r not in ROUTES]
    assert not missing, f"routes not covered by the tenancy test (add them to ROUTES): {missing}"
    stale = set(ROUTES) - set(api_routes(world.client))
    assert not stale, f"ROUTES names routes the app no longer has: {stale}"


@pytest.mark.usefixtures("full_world")  # the compliance objects, in the same world
@pytest.mark.parametrize("side", ["A", "B"])
def test_no_role_reaches_the_other_tenant(world: World, side: str) -> None:
    other = world.tenants["B" if side == "A" else "A"]
    before = counts(world.engine)
    failures: dict[tuple[str, str, str], str] = {}
    for role, principal in principals(side, world).items():
        client = world.as_(principal)
        for method, path in api_routes(client):
            kind = ROUTES[(method, path)]
            if kind == "writer_apart" and role in WRITERS_APART[path]:
                continue  # a write these roles may make on either side: tested on their own side
            r = call(client, method, path, other)
            at = (role, method, path)
            if kind == "open":
                continue
            if kind == "refused":  # sampling: 403 for a role without samples or writes, 404 out of scope
                expected = {403, 404}
            elif kind == "batch":  # all or nothing: another tenant's code is "not found" as a missing one
                if r.status_code == 409 and r.json()["detail"].startswith("nothing printed; not found: "):
                    continue
                expected = {403}
            elif kind == "sync":  # each entry answered on its own: all refused, or the role refused
                if r.status_code == 200 and all(e["status"] == "refused" for e in r.json()["results"]):
                    continue
                expected = {403}
            elif kind == "list_or_refused" and role in SAMPLE_LIST_REFUSED_FOR.get(path, SAMPLE_LIST_REFUSED):
                expected = {403}
            elif kind == "hidden":
                expected = {404}
            elif kind in ("forbidden", "writer_apart"):  # writer_apart: the roles that may not make it
                expected = {403}
            else:
                if r.status_code != 200:
                    failures[at] = f"{role} {method} {path}: {r.status_code} {r.text[:200]}"
                    continue
                keys = [LIST_KEYS[path], *MORE_LIST_KEYS.get(path, ())]
                rows = listed(r.json())
                leaked = [row for row in rows if any(row.get(k) == getattr(other, a) for k, a in keys)]
                if leaked:
                    failures[at] = f"{role} {method} {path}: sees the other tenant's {str(leaked)[:300]}"
                continue
            if r.status_code not in expected:
                failures[at] = f"{role} {method} {path}: {r.status_code} (want {expected}) {r.text[:200]}"
    assert not failures, "\n".join(failures.values())
    assert counts(world.engine) == before, "a refused write changed the store"


def test_evidence_each_role_on_its_own_side(world: World) -> None:
    """The walk's refusals are the tenancy's: on its own side each role reads what it may (issue 8)."""
    roles = principals("A", world)
    problems = own_side_problems(lambda role: world.as_(roles[role]), list(roles), world.tenants["A"])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("side", ["A", "B"])
def test_evidence_filters_naming_the_other_tenant(world: World, side: str) -> None:
    other = world.tenants["B" if side == "A" else "A"]
    leaks = [
        f"{role}: {leak}"
        for role, principal in principals(side, world).items()
        for leak in filter_leaks(world.as_(principal), other)
    ]
    assert not leaks, "\n".join(leaks)


def test_evidence_mixed_ids_and_hidden_like_missing(world: World) -> None:
    """An item of another tenant's draw under one's own draw (and the reverse) is not found; another
    tenant's video and draw answer exactly like missing ones."""
    a, b = world.tenants["A"], world.tenants["B"]
    agency = world.as_(principals("A", world)["agency"])
    e = "/api/v1/evidence/self-inspections"
    for draw, item in ((a.draw_id, b.draw_item_id), (b.draw_id, a.draw_item_id)):
        r = agency.post(f"{e}/{draw}/items/{item}/outcome", json={"outcome": "ok"})
        assert r.status_code == 404, (draw, item, r.text)
    for role in ("agency", "regulator"):
        client = world.as_(principals("A", world)[role])
        for url, other_id in (
            ("/api/v1/evidence/videos/{}", b.video_id),
            (f"{e}/{{}}", b.draw_id),
        ):
            hidden, missing = client.get(url.format(other_id)), client.get(url.format(999999))
            assert (hidden.status_code, missing.status_code) == (404, 404), (role, url)
            assert hidden.json()["detail"].replace(str(other_id), "N") == missing.json()["detail"].replace(
                "999999", "N"
            ), (role, url)
    with world.engine.connect() as conn:
        outcomes = conn.execute(select(func.count()).select_from(self_inspection_outcomes)).scalar_one()
    assert outcomes == 0


@pytest.mark.usefixtures("full_world")  # the compliance objects, in the same world
def test_compliance_each_role_on_its_own_side(world: World) -> None:
    """On its own side each role reads (and writes, where it may) the compliance objects its router's
    docstring gives it (issue 9): the walk's refusals are the tenancy's, and the regulators' compliance runs
    (left out of the walk: they write) answer."""
    roles = principals("A", world)
    problems = compliance_own_side_problems(
        lambda role: world.as_(roles[role]), list(roles), world.tenants["A"]
    )
    assert not problems, "\n".join(problems)


@pytest.mark.usefixtures("full_world")  # the compliance objects, in the same world
@pytest.mark.parametrize("side", ["A", "B"])
def test_compliance_every_object_of_the_other_tenant(world: World, side: str) -> None:
    """Each of the other tenant's findings (device, operator, agency) and reports (enterprise, district,
    operator), not only the one the walk names, and the list filters naming the other tenant."""
    other = world.tenants["B" if side == "A" else "A"]
    before = counts(world.engine)
    problems = [
        problem
        for role, principal in principals(side, world).items()
        for problem in compliance_other_side_problems(world.as_(principal), role, other)
    ]
    assert not problems, "\n".join(problems)
    assert counts(world.engine) == before, "a refused write changed the store"


def test_not_visible_answers_exactly_like_missing(world: World) -> None:
    client = world.as_(principals("A", world)["enterprise"])
    hidden = client.get(f"/api/v1/devices/{MN_B}/data", params=WINDOW)
    missing = client.get("/api/v1/devices/NOPE/data", params=WINDOW)
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["detail"] == f"no device with MN {MN_B}"
    b = world.tenants["B"]
    hidden = client.get(f"/api/v1/registry/enterprises/{b.enterprise_id}")
    missing = client.get("/api/v1/registry/enterprises/999999")
    assert hidden.json()["detail"].replace(str(b.enterprise_id), "N") == missing.json()["detail"].replace(
        "999999", "N"
    )


@pytest.mark.usefixtures("full_world")  # the compliance objects, in the same world
def test_admin_sees_both_tenants(world: World) -> None:
    """The lists the tenancy test filters do hold both tenants for admin (so that test can fail)."""
    client = world.as_(ADMIN)
    for path, main in LIST_KEYS.items():
        for t in world.tenants.values():
            r = client.get(path, params=query_for(path) | evidence_query(path, t) | compliance_query(path))
            rows = listed(ok(r))
            for key, attr in (main, *MORE_LIST_KEYS.get(path, ())):
                assert any(row.get(key) == getattr(t, attr) for row in rows), (path, key, t)
    packets = ok(client.get("/api/v1/packets"))
    assert any(p["verdict"] == "garbage" for p in packets)


@pytest.mark.parametrize(
    "role", ["regulator", "county_regulator", "enterprise", "operator", "field_staff", "auditor"]
)
def test_each_role_reads_its_own(world: World, role: str) -> None:
    a = world.tenants["A"]
    client = world.as_(principals("A", world)[role])
    assert [d["mn"] for d in ok(client.get("/api/v1/devices"))] == [MN_A]
    assert ok(client.get(f"/api/v1/devices/{MN_A}/data", params=WINDOW))["mn"] == MN_A
    assert ok(client.get(f"/api/v1/devices/{MN_A}/hours", params=query_for("/hours")))["mn"] == MN_A
    assert [p["mn"] for p in ok(client.get("/api/v1/packets", params=WINDOW))] == [MN_A]
    assert [m["id"] for m in ok(client.get("/api/v1/marks", params=WINDOW))] == [a.mark_id]
    assert ok(client.get(f"/api/v1/marks/{a.mark_id}"))["mn"] == MN_A
    assert [f["id"] for f in ok(client.get("/api/v1/filings"))] == [a.filing_id]
    download = client.get(f"/api/v1/filings/{a.filing_id}/attachments/{a.filing_attachment_id}")
    assert (download.status_code, download.content) == (200, b"scan")
    assert ok(client.get(f"/api/v1/commands/{a.command_id}"))["mn"] == MN_A
    assert [e["id"] for e in ok(client.get("/api/v1/registry/enterprises"))] == [a.enterprise_id]
    assert [o["id"] for o in ok(client.get(f"/api/v1/registry/enterprises/{a.enterprise_id}/outlets"))] == [
        a.outlet_id
    ]
    assert [o["id"] for o in ok(client.get("/api/v1/registry/operators"))] == [a.operator_id]
    assert [c["id"] for c in ok(client.get(f"/api/v1/registry/operators/{a.operator_id}/contracts"))] == [
        a.contract_id
    ]
    assert [r["mn"] for r in ok(client.get("/api/v1/rates", params=DAYS))["rows"]] == [MN_A]
    assert [r["id"] for r in ok(client.get("/api/v1/alarms"))["rows"]] == [a.alarm_id]
    assert ok(client.get(f"/api/v1/alarms/{a.alarm_id}"))["mn"] == MN_A


def test_operator_with_one_outlet_sees_that_outlet_only(world: World) -> None:
    b = world.tenants["B"]
    client = world.as_(ADMIN)
    second = ok(
        client.post(
            f"/api/v1/registry/enterprises/{b.enterprise_id}/outlets",
            json={"code": "DA002", "name": "2号排口", "kind": "gas"},
        ),
        201,
    )["id"]
    whole = ok(
        client.post(
            "/api/v1/filings",
            json={
                "kind": "filing",
                "enterprise_id": b.enterprise_id,
                "title": "整体",
                "event_at": local(TODAY),
            },
        ),
        201,
    )["id"]
    client = world.as_(principals("B", world)["operator"])
    assert [o["id"] for o in ok(client.get(f"/api/v1/registry/enterprises/{b.enterprise_id}/outlets"))] == [
        b.outlet_id
    ]
    assert client.get(f"/api/v1/registry/outlets/{second}").status_code == 404
    # an enterprise-wide filing belongs to the whole enterprise, which this operator does not look after
    assert client.get(f"/api/v1/filings/{whole}").status_code == 404
    assert [f["id"] for f in ok(client.get("/api/v1/filings"))] == [b.filing_id]
    # the enterprise itself sees both
    client = world.as_(principals("B", world)["enterprise"])
    assert {f["id"] for f in ok(client.get("/api/v1/filings"))} == {b.filing_id, whole}


def test_writes_by_role(world: World) -> None:
    a = world.tenants["A"]
    roles = principals("A", world)
    mark = {"mn": MN_A, "factor": "a21026", "start": local(TODAY, 1), "end": local(TODAY, 2)}
    mark |= {"code": "maintenance", "reason": "维护"}
    want_mark = {"enterprise": 201, "operator": 201, "field_staff": 201, "regulator": 403, "auditor": 403}
    for role, status in want_mark.items():
        r = world.as_(roles[role]).post("/api/v1/marks", json=mark)
        assert r.status_code == status, (role, r.text)
        if status == 403:
            assert f"role {roles[role].role} may not" in r.json()["detail"]
    review = {"decision": "approved"}
    want_review = {"enterprise": 403, "operator": 403, "auditor": 403, "regulator": 201}
    for role, status in want_review.items():
        r = world.as_(roles[role]).post(f"/api/v1/marks/{a.mark_id}/reviews", json=review)
        assert r.status_code == status, (role, r.text)
    want_command = {"enterprise": 403, "regulator": 403, "auditor": 403, "operator": 202, "field_staff": 202}
    for role, status in want_command.items():
        r = world.as_(roles[role]).post(f"/api/v1/devices/{MN_A}/commands", json={"cn": "1011"})
        assert r.status_code == status, (role, r.text)
    step = {"step": "filed", "done_at": local(TODAY)}
    want_step = {"operator": 403, "regulator": 403, "auditor": 403, "enterprise": 201}
    for role, status in want_step.items():
        r = world.as_(roles[role]).post(f"/api/v1/filings/{a.filing_id}/steps", json=step)
        assert r.status_code == status, (role, r.text)
    for role in ("regulator", "enterprise", "operator", "auditor"):
        r = world.as_(roles[role]).patch(
            f"/api/v1/registry/enterprises/{a.enterprise_id}", json={"name": "x"}
        )
        assert r.status_code == 403 and "may not change registry" in r.json()["detail"], (role, r.text)
    # alarms are worked by the parties that answer for the data; regulators supervise through orders
    comment = {"event": "comment", "comment": "看过"}
    want_alarm = {"regulator": 403, "auditor": 403, "enterprise": 200, "operator": 200, "field_staff": 200}
    for role, status in want_alarm.items():
        r = world.as_(roles[role]).post(f"/api/v1/alarms/{a.alarm_id}/actions", json=comment)
        assert r.status_code == status, (role, r.text)
        if status == 403:
            assert f"role {roles[role].role} may not work on alarms" in r.json()["detail"]


def test_auditor_reads_inside_its_period_only(world: World) -> None:
    auditor = principals("A", world)["auditor"]
    client = world.as_(auditor)
    late = {"from": local(TODAY + timedelta(days=1)), "to": local(TODAY + timedelta(days=2))}
    r = client.get(f"/api/v1/devices/{MN_A}/data", params=late)
    assert r.status_code == 403 and "auditor may read data of" in r.json()["detail"]
    early = {"from": local(TODAY - timedelta(days=11)), "to": local(TODAY)}
    assert client.get(f"/api/v1/devices/{MN_A}/data", params=early).status_code == 403
    assert client.get(f"/api/v1/devices/{MN_A}/data").status_code == 200  # the default day lies inside
    days = {"from": (TODAY - timedelta(days=40)).isoformat(), "to": TODAY.isoformat()}
    assert client.get("/api/v1/rates", params=days).status_code == 403
    # a mark entirely outside the period is not there for the auditor
    old = ok(
        world.as_(ADMIN).post(
            "/api/v1/marks",
            json={
                "mn": MN_A,
                "start": local(TODAY - timedelta(days=30)),
                "end": local(TODAY - timedelta(days=29)),
                "code": "maintenance",
                "reason": "旧",
            },
        ),
        201,
    )
    assert world.as_(auditor).get(f"/api/v1/marks/{old['id']}").status_code == 404
    assert world.as_(principals("A", world)["operator"]).get(f"/api/v1/marks/{old['id']}").status_code == 200
