"""Every page route, enumerated from the app: no outsider (another enterprise's user, a regulator of another
province, an operator and its field staff without a contract with 甲) gets 甲's data through it.

The routes come from the application itself (the page routers are left out of OpenAPI, so they are read
from ``app.routes``, nested routers included): a new page with a path parameter this module does not know
fails :func:`test_every_page_route_is_known`, so tenancy cannot be forgotten for it.

- GET with an object of 甲 in the path (a device, an outlet, a filing …) as each outsider: 403 or
  404, never the page;
- GET without a path parameter as each outsider: 甲's name and MN do not appear (or the page is refused),
  nor 甲's sample code, video record or self-inspection draw (``a_markers``, issue 8), nor a link to 甲's
  findings, supervision plan, spot-test draw, periodic reports or operator file (issue 9);
- POST to 甲's object as each outsider with a valid CSRF token: refused (403/404/413/422), never a redirect
  after a write or a 2xx;
- every route but the public ones and the login page without a session: a redirect to the login page
  (or 401 for htmx), never the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from envwatch.alarms.notify_targets import add_target
from envwatch.alarms.orders import issue_order
from envwatch.alarms.store import Raised, raise_alarm
from envwatch.compliance.schema import operator_assessments, spot_test_draws, supervision_plans
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.demo import credit_code
from envwatch.monitoring.marks import MarkDraft, MarkPolicy
from envwatch.monitoring.marks_store import create_mark
from envwatch.operations.emergency import add_drill, add_plan
from envwatch.operations.equipment import add_equipment, record_event
from envwatch.operations.faults import ManualResultIn, add_manual_results, open_fault
from envwatch.operations.faults import record_event as record_fault_event
from envwatch.operations.production_stops import submit_stop
from envwatch.operations.records import RecordDraft, add_record
from envwatch.operations.registrations import register
from envwatch.operations.staff import add_certificate, add_staff
from envwatch.operations.tickets import request_ticket
from envwatch.operations.trainings import plan_training
from envwatch.registry import filings as filing_service
from envwatch.registry import service_operators as ops
from envwatch.registry.agencies import create_agency
from envwatch.registry.agency_staff import add_staff as add_agency_staff
from envwatch.registry.agency_trainings import TrainingFacts, record_training
from envwatch.registry.models import ContractIn, OperatorIn
from envwatch.registry.schema import device_factors, devices, enterprises, outlets
from envwatch.reports.periodic_schema import report_files
from envwatch.reports.quarters import last_finished
from envwatch.reports.self_inspection_store import submit as submit_self_inspection
from envwatch.sampling.entry import EntryRules, Position
from envwatch.sampling.plans import PlanDraft, PlanItemDraft, create_plan
from envwatch.sampling.registration import OnSiteEntry, register_on_site
from envwatch.web.accounts import store
from envwatch.web.app import create_app
from tests.operations.records_world import add_staff as add_certified_staff
from tests.web.compliance_tenancy import compliance_markers, compliance_of_a
from tests.web.evidence_tenancy import video_and_draw
from tests.web.pages.conftest import MN_A, PASSWORD, World, fresh_store, populate, row_count
from tests.web.pages.test_pages import login

A_NAME = "甲化工有限公司"
# Pages anyone may read (SX-7 disclosure, the login page, the language switch, liveness); still checked
# for 乙's user like the others where they carry 甲's data by design (public: 甲 publishes by default).
PUBLIC = {
    *("/login", "/lang/{locale}", "/public", "/public/{credit_code}", "/healthz", "/logout", "/v/{code}"),
    *("/readyz", "/metrics"),  # readiness and Prometheus metrics: no data (web.health)
}
# 甲's published data, to anyone: their purpose; a label's verification page, to anyone holding the label
# (it names no enterprise, person, place or note: tests/web/pages/test_verify_page.py)
PUBLIC_DATA = {"/public", "/public/{credit_code}", "/v/{code}"}


def page_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every non-API route (FastAPI nests included routers: walk them)."""
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str = "") -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                # an include's prefix is the including router's own prefix plus the one given to
                # include_router (a router included in a router with a prefix: the tus routes of videos)
                context = getattr(route, "include_context", None)
                walk(inner.routes, prefix + (context.prefix if context else getattr(route, "prefix", "")))
                continue
            path = prefix + getattr(route, "path", "")
            if not isinstance(route, APIRoute) or path.startswith("/api/"):
                continue
            found.extend((m, path) for m in sorted(route.methods or ()) if m in ("GET", "POST"))

    walk(app.routes)
    return sorted(set(found))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world of its own (the shared one's, populated alike): the objects made here (a mark, a filing)
    must not change what the other page tests count."""
    with fresh_store(tmp_path_factory.mktemp("tenancy") / "var") as (settings, engine):
        ent_a, ent_b = populate(engine)
        yield World("http://testserver", settings, engine, ent_a, ent_b)


@pytest.fixture(scope="module")
def objects(world: World) -> dict[str, str]:
    """Path parameter values naming 甲's objects, and 乙's user."""
    engine: Engine = world.engine
    now = utcnow()
    with engine.begin() as conn:
        outlet_id = conn.execute(
            select(outlets.c.id).where(outlets.c.enterprise_id == world.enterprise_a)
        ).scalar_one()
        a_code = conn.execute(
            select(enterprises.c.credit_code).where(enterprises.c.id == world.enterprise_a)
        ).scalar_one()
        # 乙's enterprise user, a regulator of 乙's province, an operator contracted by 乙 only
        operator = ops.create_operator(
            conn, OperatorIn(name="乙的运维", credit_code=credit_code("440103", 77)), now
        )
        ops.create_contract(
            conn,
            operator["id"],
            ContractIn(
                enterprise_id=world.enterprise_b,
                contract_no="YW-B-1",
                valid_from=(now - timedelta(days=30)).date(),
            ),
            now,
        )
        b_agency = create_agency(
            conn, {"name": "乙的检测", "credit_code": credit_code("440103", 79), "code": "YIJC", "region_code": "440103"},
            now,
        )  # fmt: skip
        for username, fields in outsiders_of(world, operator["id"], b_agency["id"]).items():
            store.create_user(conn, username, PASSWORD, fields, now, min_password_length=10)
    filing = filing_service.create_filing(
        engine,
        kind="filing",
        enterprise_id=world.enterprise_a,
        outlet_id=outlet_id,
        device_id=None,
        title="甲的备案",
        event_at=now - timedelta(days=1),
        notes="",
        created_by="admin1",
        now=now,
    )
    attachment = filing_service.attach_to_filing(
        engine,
        BlobStore.from_settings(world.settings),
        filing["id"],
        filename="甲.txt",
        content=b"jia",
        content_type="text/plain",
        added_by="admin1",
        now=now,
    )
    with engine.begin() as conn:
        device_id = conn.execute(select(devices.c.id).where(devices.c.mn == MN_A)).scalar_one()
        mark = create_mark(
            conn,
            device_id,
            MarkDraft(
                None,
                now - timedelta(hours=3),
                now - timedelta(hours=2),
                "maintenance",
                "甲的标记",
                "enterprise",
            ),
            created_by="ent_a",
            now=now,
            policy=MarkPolicy(),
        )
        alarm = raise_alarm(
            conn,
            Raised(device_id, "offline", "", now - timedelta(hours=1), "SX-20.9", "甲的报警"),
            now,
            ack_due_s=3600,
        )
        # 甲's supervision order, an operator of 甲 (its audit days: /audit/{day}?operator=), 甲's address
        order = issue_order(
            conn, region_code="330102", enterprise_id=world.enterprise_a, title="甲的督办", body="整改",
            deadline=now + timedelta(days=7), alarm_ids=[alarm.alarm_id], issued_by="admin1", now=now,
        )  # fmt: skip
        a_operator = ops.create_operator(
            conn, OperatorIn(name="甲的运维", credit_code=credit_code("330102", 78)), now
        )
        ops.create_contract(
            conn,
            a_operator["id"],
            ContractIn(
                enterprise_id=world.enterprise_a,
                contract_no="YW-A-1",
                valid_from=(now - timedelta(days=30)).date(),
            ),
            now,
        )
        # 甲's operator's staff member and held training (the O&M staff pages)
        a_staff = add_staff(
            conn, operator_id=a_operator["id"], name="甲的运维员", position="sampler", phone="123", now=now
        )
        a_certificate = add_certificate(
            conn, a_staff["id"], kind="上岗证", number="甲-1", issuer="协会", issued_on=now.date(),
            valid_until=now.date() + timedelta(days=365), recorded_by="admin1", now=now,
        )  # fmt: skip
        a_plan = plan_training(
            conn, operator_id=a_operator["id"], kind="quarterly", title="甲的培训", planned_on=now.date(),
            pass_score="60", recorded_by="admin1", now=now,
        )  # fmt: skip
        # 甲's operator's equipment file (installed at 甲's device) and an emergency drill (the ledger pages)
        a_equipment = add_equipment(
            conn, operator_id=a_operator["id"], kind="analyser", name="甲的分析仪", model="M", serial="S",
            purchased_on=now.date(), recorded_by="admin1", now=now,
        )  # fmt: skip
        record_event(
            conn, a_equipment["id"], event="installed", on=now.date(), device_id=device_id,
            recorded_by="admin1", now=now,
        )  # fmt: skip
        a_drill_plan = add_plan(
            conn, operator_id=a_operator["id"], event_type="power_outage", title="甲的预案", version="V1",
            effective_on=now.date(), body="x", recorded_by="admin1", now=now,
        )  # fmt: skip
        a_drill = add_drill(
            conn, a_drill_plan["id"], held_on=now.date(), participants=2, summary="甲的演练",
            recorded_by="admin1", now=now,
        )  # fmt: skip
        target = add_target(
            conn, channel="email", address="jia@example.com", enterprise_id=world.enterprise_a,
            created_by="admin1", now=now,
        )  # fmt: skip
        # 甲's device fault and production stop report (故障, 停产)
        a_fault = open_fault(
            conn, device_id=device_id, started_at=now - timedelta(hours=5), description="甲的故障",
            opened_by="admin1", now=now,
        )  # fmt: skip
        # a manual monitoring result of that fault (its correction form)
        record_fault_event(
            conn, a_fault["id"], event="backup_started", at=now - timedelta(hours=4), data={"kind": "manual"},
            by="admin1", now=now,
        )  # fmt: skip
        factor = (
            conn.execute(
                select(device_factors.c.factor).where(device_factors.c.device_id == device_id).limit(1)
            ).scalar()
            or "a21026"
        )
        (a_result,) = add_manual_results(
            conn, a_fault["id"], [ManualResultIn(factor, now - timedelta(hours=3), "1.0", "mg/m3", "甲检测", "甲")],
            by="admin1", now=now,
        )  # fmt: skip
        a_stop = submit_stop(
            conn, enterprise_id=world.enterprise_a, outlet_id=outlet_id, start_at=now + timedelta(days=1),
            end_at=now + timedelta(days=2), reason="甲的停产", by="admin1", now=now,
        )  # fmt: skip
        # 甲's quarterly self-inspection report of the last finished quarter (SX-18.7)
        last = last_finished(now)
        report = submit_self_inspection(
            conn, BlobStore.from_settings(world.settings), world.settings, enterprise_id=world.enterprise_a,
            year=last.year, quarter=last.quarter, note="", by="admin1", now=now,
        )  # fmt: skip
        # 甲's service request to its operator (服务工单)
        a_ticket = request_ticket(
            conn, enterprise_id=world.enterprise_a, outlet_id=outlet_id, device_id=None, subject="甲的报修",
            description="x", channel="phone", requested_at=now, by="admin1", now=now,
        )  # fmt: skip
        # 甲's field record (运维记录) by a certified person of 甲's operator, and the operator's registration
        a_recorder = add_certified_staff(
            conn,
            a_operator["id"],
            "甲的记录员",
            valid=(now.date() - timedelta(days=1), now.date() + timedelta(days=1)),
        )
        a_record = add_record(
            conn,
            RecordDraft(
                device_id=device_id, kind="inspection", operator_id=a_operator["id"], staff_id=a_recorder,
                performed_at=now, payload={"items": [{"item": "甲的巡检", "ok": True}]},
            ),
            "admin1", now, world.settings,
        )  # fmt: skip
        a_registration = register(
            conn, operator_id=a_operator["id"], region_code="330100", bureau="杭州市生态环境局", reference_no="甲",
            registered_on=now.date(), valid_until=None, recorded_by="admin1", now=now,
        )  # fmt: skip
        a_sample = _sample_of_a(conn, world, now)
    # 甲's agency's video of that sample at 甲, and the agency's self-inspection draw of it (issue 8)
    a_evidence = video_and_draw(engine, world.settings, a_sample, world.enterprise_a, now)
    # 甲's compliance objects (issue 9): findings about its device, its operator and its agency, the plan
    # and the spot-test draw of 杭州, reports of 甲, its district and its operator, the operator blacklisted
    a = SimpleNamespace(
        mn=MN_A, region="330102", enterprise_id=world.enterprise_a, outlet_id=outlet_id, device_id=device_id,
        operator_id=a_operator["id"], agency_id=a_sample["agency_id"],
    )  # fmt: skip
    a_compliance = compliance_of_a(engine, world.settings, a, "3301", now)
    return {
        "mn": MN_A,
        "outlet_id": str(outlet_id),
        "filing_id": str(filing["id"]),
        "attachment_id": str(attachment["id"]),
        "mark_id": str(mark["id"]),
        "alarm_id": str(alarm.alarm_id),
        "order_id": str(order["id"]),
        "day": f"{(now - timedelta(days=2)).date().isoformat()}?operator={a_operator['id']}",
        "target_id": str(target["id"]),
        "report_id": str(report["id"]),
        "enterprise_id": str(world.enterprise_a),
        "credit_code": a_code,
        "locale": "en",
        "staff_id": str(a_staff["id"]),
        "certificate_id": str(a_certificate["id"]),
        "training_id": str(a_plan["id"]),
        "equipment_id": str(a_equipment["id"]),
        "drill_id": str(a_drill["id"]),
        "fault_id": str(a_fault["id"]),
        "result_id": str(a_result["id"]),
        "stop_id": str(a_stop["id"]),
        "ticket_id": str(a_ticket["id"]),
        "record_id": str(a_record["id"]),
        "registration_id": str(a_registration["id"]),
        "agency_id": str(a_sample["agency_id"]),
        "plan_id": str(a_sample["plan_id"]),
        "code": a_sample["code"],
        "step": "dispatch",
        "sha256": "0" * 64,
        **a_evidence,  # video_id, draw_id, item_id, and month (the draw's, not a path parameter)
        **a_compliance,  # operator_id, finding_id, and the ids ``PATH_OBJECTS`` names
    }


def _sample_of_a(conn: Any, world: World, now: Any) -> dict[str, Any]:
    """甲's testing agency (seated in 甲's district), its trained sampler, a plan at 甲 open now and a sample
    registered on site (the sampling pages, issue 7)."""
    agency = create_agency(
        conn, {"name": "甲的检测", "credit_code": credit_code("330102", 80), "code": "JIAJC", "region_code": "330102"},
        now,
    )  # fmt: skip
    sampler = add_agency_staff(conn, agency["id"], name="甲的采样员", position="sampler", now=now)
    valid = TrainingFacts(
        "识别标识系统操作培训", now.date() - timedelta(days=1), True, now.date() + timedelta(days=30)
    )
    record_training(conn, sampler["id"], valid, recorded_by="admin1", now=now)
    plan = create_plan(
        conn,
        PlanDraft(
            agency_id=agency["id"], enterprise_id=world.enterprise_a, point_name="甲的点位",
            window_start=now - timedelta(hours=1), window_end=now + timedelta(days=1), team=[sampler["id"]],
            items=[PlanItemDraft("化学需氧量", "玻璃瓶")], latitude=Decimal("30.25"), longitude=Decimal("120.17"),
        ),
        actor="admin1", now=now,
    )  # fmt: skip
    entry = OnSiteEntry(
        plan["items"][0]["id"], sampler["id"], "无色", "", now, Position(Decimal("30.25"), Decimal("120.17"))
    )
    rules = EntryRules(300, timedelta(hours=72), timedelta(minutes=5), timedelta(hours=1))
    return register_on_site(conn, entry, actor="admin1", now=now, rules=rules, random_chars=6)


def outsiders_of(world: World, operator_id: int, agency_id: int) -> dict[str, dict[str, Any]]:
    """The users who must not reach 甲: 乙's enterprise user, a regulator of 广东 (乙's province), an
    operator (and its field staff) whose only contract is with 乙, and a testing agency of 乙's district."""
    return {
        "ent_b_tenancy": {"role": "enterprise", "enterprise_id": world.enterprise_b},
        "reg_gd_tenancy": {"role": "regulator", "region_code": "44"},
        "op_b_tenancy": {"role": "operator", "operator_id": operator_id},
        "field_b_tenancy": {"role": "field_staff", "operator_id": operator_id},
        "lab_b_tenancy": {"role": "agency", "agency_id": agency_id},
    }


# pages that list enterprises by name and nothing of their data: an agency plans sampling at any enterprise
# (registry master data, published anyway: /public)
# (the video search's and upload form's enterprise pickers: an agency films wherever it is commissioned);
# 甲's records on those pages are caught by ``a_markers`` instead
NAMES_ONLY = {"/sampling/plans/new", "/evidence/videos", "/evidence/videos/upload"}
OUTSIDERS = ("ent_b_tenancy", "reg_gd_tenancy", "op_b_tenancy", "field_b_tenancy", "lab_b_tenancy")

# path parameters this test knows how to fill with 甲's objects; a route with another one fails
KNOWN_PARAMS = {
    "mn",
    "outlet_id",
    "filing_id",
    "attachment_id",
    "mark_id",
    "alarm_id",
    "order_id",
    "day",
    "target_id",
    "report_id",
    "enterprise_id",
    "credit_code",
    "locale",
    "staff_id",
    "certificate_id",
    "training_id",
    "equipment_id",
    "drill_id",
    "fault_id",
    "result_id",
    "stop_id",
    "ticket_id",
    "record_id",
    "registration_id",
    "agency_id",
    "plan_id",
    "code",
    "step",
    "sha256",
    "video_id",
    "draw_id",
    "item_id",
    "finding_id",
    "operator_id",
}
# parameter names that mean another object under these paths than elsewhere (a sampling plan, an evidence
# draw and its item, a self-inspection report): the key of ``objects`` to fill them with
PATH_OBJECTS = {
    "/compliance/supervision/plans/": {"plan_id": "supervision_plan_id", "item_id": "supervision_item_id"},
    "/compliance/supervision/spot-tests/": {"draw_id": "spot_draw_id", "item_id": "spot_item_id"},
    "/reports/periodic/": {"report_id": "enterprise_report_id"},
}
ADMIN_PARAM = re.compile(r"^/admin/")  # admin pages: 乙 is refused before any object is looked up


def a_markers(objects: dict[str, str]) -> list[str]:
    """Text only a page showing 甲's evidence or sample carries: the sample's code, a row or link of 甲's
    video record (``data-video``), the link to its agency's self-inspection draw (issue 8)."""
    return [
        objects["code"],
        f'data-video="{objects["video_id"]}"',
        f'href="/evidence/self-inspections/{objects["draw_id"]}"',
    ]


def a_compliance_markers(objects: dict[str, str]) -> list[str]:
    """Links to 甲's findings, plan, draw, reports and operator file (issue 9)."""
    return [marker for markers in compliance_markers(objects).values() for marker in markers]


def _filled(path: str, objects: dict[str, str]) -> str:
    names = next((m for prefix, m in PATH_OBJECTS.items() if path.startswith(prefix)), {})
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: objects.get(names.get(m.group(1), m.group(1)), "1"), path)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, world.engine)) as c:
        yield c


def _csrf(client: TestClient) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/home").text)
    assert found is not None
    return found.group(1)


def test_every_page_route_is_known(client: TestClient) -> None:
    unknown = [
        (method, path, name)
        for method, path in page_routes(client.app)
        for name in re.findall(r"\{(\w+)", path)
        if name not in KNOWN_PARAMS and not ADMIN_PARAM.match(path)
    ]
    assert not unknown, (
        f"page routes with path parameters this test cannot fill (add to KNOWN_PARAMS): {unknown}"
    )
    assert len(page_routes(client.app)) > 40  # the walk found the nested routers


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_outsiders_never_read_a(client: TestClient, objects: dict[str, str], outsider: str) -> None:
    login(client, outsider)
    leaks: list[tuple[str, int | str]] = []
    for method, path in page_routes(client.app):
        if method != "GET" or path in PUBLIC_DATA or path in ("/logout", "/lang/{locale}"):
            continue
        url = _filled(path, objects)
        r = client.get(url, follow_redirects=False)
        if "{" in path and not path.startswith("/public"):
            if r.status_code not in (403, 404, 422):
                leaks.append((url, r.status_code))
        elif r.status_code == 200 and (MN_A in r.text or (A_NAME in r.text and path not in NAMES_ONLY)):
            leaks.append((url, "shows 甲"))
        elif r.status_code == 200 and any(marker in r.text for marker in a_markers(objects)):
            leaks.append((url, "shows 甲's evidence or sample"))
        elif r.status_code == 200 and (shown := [m for m in a_compliance_markers(objects) if m in r.text]):
            leaks.append((url, f"shows 甲's compliance objects {shown}"))
    assert not leaks, f"{outsider} reached 甲's data: {leaks}"


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_outsiders_never_write_a(client: TestClient, objects: dict[str, str], outsider: str) -> None:
    login(client, outsider)
    token = _csrf(client)
    wrote = []
    for method, path in page_routes(client.app):
        if method != "POST" or path in ("/login", "/logout") or "{" not in path:
            continue
        url = _filled(path, objects)
        r = client.post(url, data={"csrf_token": token}, follow_redirects=False)
        if r.status_code not in (403, 404, 413, 422):
            wrote.append((url, r.status_code))
    assert not wrote, f"{outsider} was not refused a write on 甲's object: {wrote}"


def test_pages_need_a_session(client: TestClient, objects: dict[str, str]) -> None:
    opened = []
    for method, path in page_routes(client.app):
        if path in PUBLIC:
            continue
        url = _filled(path, objects)
        r = client.request(method, url, follow_redirects=False)
        ok = (r.status_code == 303 and r.headers["location"].startswith("/login")) or r.status_code in (
            401,
            403,
        )
        if not ok:
            opened.append((method, url, r.status_code))
    assert not opened, f"reachable without a session: {opened}"


# the evidence pages (issue 8) and what shows 甲's evidence there to one who may see it
EVIDENCE_LISTS = ("/evidence/videos", "/evidence/checks", "/evidence/self-inspections")


def test_the_markers_show_where_a_is_seen(client: TestClient, objects: dict[str, str]) -> None:
    """The markers the outsiders are checked for do show on the evidence lists, to admin (so that check
    can fail), and the "verify an item" box finds 甲's video."""
    login(client, "admin1")
    code, video, draw = a_markers(objects)
    texts = {path: client.get(path).text for path in EVIDENCE_LISTS}
    assert video in texts["/evidence/videos"] and code in texts["/evidence/videos"]
    assert video in texts["/evidence/checks"]  # 甲's sampling job: a finding citing its video
    assert draw in texts["/evidence/self-inspections"]
    assert client.get("/evidence", params={"item": f"video:{objects['video_id']}"}).status_code == 200


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_outsiders_never_inspect_or_draw_a(
    client: TestClient, objects: dict[str, str], outsider: str
) -> None:
    """The status page's "verify an item" box and the bundle download, given 甲's video or sample, answer
    as for a missing one (a regulator of another province) or refuse (other roles); a draw for 甲's agency
    is refused."""
    login(client, outsider)
    token = _csrf(client)
    items = [
        objects["video_id"],
        objects["code"],
        f"video:{objects['video_id']}",
        f"sample:{objects['code']}",
    ]
    reached = []
    for item in items:
        for path in ("/evidence", "/evidence/bundle"):
            r = client.get(path, params={"item": item}, follow_redirects=False)
            if r.status_code not in (403, 404):
                reached.append((path, item, r.status_code))
    draw = {"csrf_token": token, "month": objects["month"], "agency_id": objects["agency_id"]}
    r = client.post("/evidence/self-inspections", data=draw, follow_redirects=False)
    if r.status_code not in (403, 404):
        reached.append(("/evidence/self-inspections", "draw", r.status_code))
    assert not reached, f"{outsider} reached 甲's evidence: {reached}"


# the compliance pages (issue 9)


def test_the_compliance_markers_show_to_admin(client: TestClient, objects: dict[str, str]) -> None:
    """The links to 甲's compliance objects the outsiders are checked for do show on the compliance lists, to
    admin (so that check can fail), and 甲's own pages open."""
    login(client, "admin1")
    for path, markers in compliance_markers(objects).items():
        text = client.get(path).text
        assert [m for m in markers if m not in text] == [], path
    for path in (
        "/compliance/findings/{finding_id}",
        "/compliance/operators/{operator_id}",
        "/compliance/supervision/plans/{plan_id}",
        "/compliance/supervision/spot-tests/{draw_id}",
        "/reports/periodic/{report_id}",
    ):
        assert client.get(_filled(path, objects)).status_code == 200, path
    assert client.get("/compliance/pack", params={"operator_id": objects["operator_id"]}).status_code == 200


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_outsiders_never_make_or_ask_for_a(
    client: TestClient, world: World, objects: dict[str, str], outsider: str
) -> None:
    """The compliance forms without an object in the path, given 甲's city, district, enterprise or
    operator, are refused and write nothing; the lists and the pack page asked for 甲's objects refuse or
    show none of them."""
    login(client, outsider)
    token = _csrf(client)
    today = to_china(utcnow()).date()
    last = last_finished(utcnow())
    forms = [
        ("/compliance/supervision/plans", {"region": "3301", "month": today.strftime("%Y-%m")}),
        ("/compliance/supervision/spot-tests", {"region": "3301", "year": str(today.year)}),
        ("/compliance/operators/publish", {"quarter": f"{last.year}Q{last.quarter}", "region": "3301"}),
    ] + [
        (
            "/reports/periodic",
            {"period": "day", "of": today.isoformat(), "scope_kind": kind, "scope_ref": ref},
        )
        for kind, ref in (
            ("enterprise", objects["enterprise_id"]),
            ("region", "330102"),
            ("operator", objects["operator_id"]),
        )
    ]
    tables = (supervision_plans, spot_test_draws, operator_assessments, report_files)
    before = {t.name: row_count(world.engine, t) for t in tables}
    reached: list[tuple[str, Any, int | str]] = []
    for path, data in forms:
        r = client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
        if r.status_code not in (403, 404, 422):
            reached.append((path, data, r.status_code))
    asks = [
        ("/compliance/pack", {"operator_id": objects["operator_id"]}),
        ("/compliance/findings", {"enterprise_id": objects["enterprise_id"]}),
        ("/compliance/findings", {"operator_id": objects["operator_id"]}),
        ("/compliance/findings", {"agency_id": objects["agency_id"]}),
        ("/compliance/findings", {"region": "3301", "state": "all"}),
        ("/compliance/operators", {"region": "3301"}),
        ("/compliance/supervision", {"region": "3301"}),
        ("/reports/periodic", {"scope_kind": "enterprise", "scope_ref": objects["enterprise_id"]}),
    ]
    for path, params in asks:
        r = client.get(path, params=params, follow_redirects=False)
        if r.status_code == 200 and (
            MN_A in r.text or A_NAME in r.text or any(m in r.text for m in a_compliance_markers(objects))
        ):
            reached.append((path, params, "shows 甲"))
        elif r.status_code not in (200, 403, 404, 422):
            reached.append((path, params, r.status_code))
    assert not reached, f"{outsider} reached 甲's compliance objects: {reached}"
    assert {t.name: row_count(world.engine, t) for t in tables} == before
