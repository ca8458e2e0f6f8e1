"""Quarterly self-inspection reports over the real app and a real SQLite store (SX-18.7): statuses, previews,
submissions by role, the stored files. Tenancy across two tenants is in test_tenancy.

The app reads the real clock: the quarters used are 2025Q1 (long over and overdue) and the running one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char
from envwatch.reports.quarters import last_finished, quarter_containing
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.helpers import GAS_MN, WATER_MN, register_demo_devices

URL = "/api/v1/om/self-inspection"
OLD = {"year": 2025, "quarter": 1}


def _code(n: int) -> str:
    first17 = f"9114010700000{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass
class World:
    client: TestClient
    settings: Settings
    jia: int
    yi: int
    op: int  # contract on 甲 since 2020
    new_op: int  # contract on 甲 from 2026-01-01 only

    def as_(self, principal: Principal) -> TestClient:
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client


ADMIN = Principal("admin", "admin")


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    register_demo_devices(sqlite_engine)
    now = utcnow()
    with sqlite_engine.begin() as conn:
        jia = svc.create_enterprise(
            conn, EnterpriseIn(name="甲化工", credit_code=_code(1), region_code="140107"), now
        )
        yi = svc.create_enterprise(
            conn, EnterpriseIn(name="乙热电", credit_code=_code(2), region_code="140108"), now
        )
        for ent, kind, mn in ((jia["id"], "gas", GAS_MN), (yi["id"], "water", WATER_MN)):
            outlet = svc.create_outlet(conn, ent, OutletIn(code="D001", name="排口", kind=kind), now)
            svc.set_device_outlet(conn, mn, outlet["id"], now)
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=_code(10)), now)["id"]
        new_op = ops.create_operator(conn, OperatorIn(name="运维新", credit_code=_code(11)), now)["id"]
        ops.create_contract(
            conn, op, ContractIn(enterprise_id=jia["id"], contract_no="A", valid_from=date(2020, 1, 1)), now
        )
        ops.create_contract(
            conn,
            new_op,
            ContractIn(enterprise_id=jia["id"], contract_no="B", valid_from=date(2026, 1, 1)),
            now,
        )
    with TestClient(create_app(settings, sqlite_engine)) as client:
        yield World(client, settings, jia["id"], yi["id"], op, new_op)
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def detail(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["detail"])


def test_statuses_submit_and_download(world: World) -> None:
    c = world.as_(ADMIN)
    default = ok(c.get(URL))
    finished = last_finished(utcnow())
    assert (default["year"], default["quarter"]) == (finished.year, finished.quarter)
    old = ok(c.get(URL, params=OLD))
    assert old["due_on"] == "2025-04-15"
    assert [(r["enterprise"], r["state"], r["submissions"]) for r in old["rows"]] == [
        ("甲化工", "overdue", []),
        ("乙热电", "overdue", []),
    ]
    made = ok(c.post(URL, json={"enterprise_id": world.jia, **OLD, "note": "已自查"}), 201)
    assert (made["enterprise_id"], made["year"], made["quarter"], made["submitted_by"]) == (
        world.jia,
        2025,
        1,
        "admin",
    )
    mine = ok(c.get(URL, params={**OLD, "enterprise_id": world.jia}))["rows"]
    assert [(r["state"], r["latest_id"], [s["id"] for s in r["submissions"]]) for r in mine] == [
        ("submitted_late", made["id"], [made["id"]])
    ]
    assert ok(c.get(f"{URL}/{made['id']}"))["pdf_sha256"] == made["pdf_sha256"]
    pdf = c.get(f"{URL}/{made['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == made["pdf_sha256"] == pdf.headers["x-content-sha256"]
    assert (
        "attachment;" in pdf.headers["content-disposition"] and "2025Q1" in pdf.headers["content-disposition"]
    )
    xlsx = c.get(f"{URL}/{made['id']}/xlsx")
    assert hashlib.sha256(xlsx.content).hexdigest() == made["xlsx_sha256"] and xlsx.content.startswith(b"PK")
    assert detail(c.get(f"{URL}/999"), 404) == "no self-inspection report with id 999"
    assert detail(c.get(f"{URL}/999/pdf"), 404) == "no self-inspection report with id 999"
    # a file gone from the blob store: 404 with the store's message, not a 500
    BlobStore.from_settings(world.settings).path_of(made["xlsx_sha256"]).unlink()
    assert (
        detail(c.get(f"{URL}/{made['id']}/xlsx"), 404) == f"no stored file with SHA-256 {made['xlsx_sha256']}"
    )


def test_previews_are_generated_not_stored(world: World) -> None:
    c = world.as_(ADMIN)
    running = quarter_containing(utcnow())
    params = {"enterprise_id": world.jia, "year": running.year, "quarter": running.quarter}
    pdf = c.get(f"{URL}/preview.pdf", params=params)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert f"{running.label}.pdf" in pdf.headers["content-disposition"]
    xlsx = c.get(f"{URL}/preview.xlsx", params=params)
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    assert hashlib.sha256(xlsx.content).hexdigest() == xlsx.headers["x-content-sha256"]
    assert ok(c.get(URL, params={"enterprise_id": world.jia, **OLD}))["rows"][0]["submissions"] == []
    ahead = running.next()
    future = {"enterprise_id": world.jia, "year": ahead.year, "quarter": ahead.quarter}
    assert detail(c.get(f"{URL}/preview.pdf", params=future), 422) == (
        f"quarter {ahead.label} has not begun: there is nothing to report yet"
    )
    assert detail(c.get(f"{URL}/preview.pdf", params={**params, "enterprise_id": 999}), 404) == (
        "no enterprise with id 999"
    )
    assert detail(c.get(f"{URL}/preview.xlsx", params={**params, "quarter": 5}), 422) == (
        "quarter must be 1, 2, 3 or 4, not 5"
    )


def test_refusals(world: World) -> None:
    c = world.as_(ADMIN)
    running = quarter_containing(utcnow())
    body = {"enterprise_id": world.jia, "year": running.year, "quarter": running.quarter}
    assert detail(c.post(URL, json=body), 422).startswith(f"quarter {running.label} is not over yet")
    assert detail(c.get(URL, params={"year": 2025}), 422) == (
        "give both year and quarter, or neither (the last finished quarter)"
    )
    assert detail(c.post(URL, json={**body, "enterprise_id": 999}), 404) == "no enterprise with id 999"
    assert detail(c.get(URL, params={"enterprise_id": 999}), 404) == "no enterprise with id 999"
    assert detail(c.post(URL, json={**body, **OLD, "note": "x" * 4001}), 422) == (
        "the note is 4001 characters long; at most 4000 are kept"
    )


def test_who_may_submit(world: World) -> None:
    today = utcnow().date()
    old = {"enterprise_id": world.jia, **OLD}
    people = {
        "enterprise": Principal("ent", "enterprise", enterprise_id=world.jia),
        "operator": Principal("op", "operator", operator_id=world.op),
        "new_operator": Principal("op2", "operator", operator_id=world.new_op),
        "field_staff": Principal("fs", "field_staff", operator_id=world.op),
        "regulator": Principal("reg", "regulator", region_code="1401"),
        "auditor": Principal(
            "aud", "auditor", operator_id=world.op, period=(today - timedelta(days=10), today)
        ),
    }
    assert ok(world.as_(people["enterprise"]).post(URL, json=old), 201)["submitted_by"] == "ent"
    assert ok(world.as_(people["operator"]).post(URL, json=old), 201)["submitted_by"] == "op"
    assert detail(world.as_(people["new_operator"]).post(URL, json=old), 403) == (
        f"operator {world.new_op} had no contract with enterprise {world.jia} during 2025Q1: only an operator "
        "under contract submits its report"
    )
    for role in ("field_staff", "regulator", "auditor"):
        who = people[role]
        assert detail(world.as_(who).post(URL, json=old), 403) == (
            f"role {who.role} may not submit quarterly self-inspection reports"
        ), role
    # the enterprise does not see 乙: not found, exactly as a missing one
    assert detail(
        world.as_(people["enterprise"]).post(URL, json={**old, "enterprise_id": world.yi}), 404
    ) == (f"no enterprise with id {world.yi}")
    # regulators read their region's statuses; the auditor reads content only inside its period
    rows = ok(world.as_(people["regulator"]).get(URL, params=OLD))["rows"]
    assert [(r["enterprise"], r["state"], len(r["submissions"])) for r in rows] == [
        ("甲化工", "submitted_late", 2),
        ("乙热电", "overdue", 0),
    ]
    first = rows[0]["submissions"][-1]["id"]
    assert world.as_(people["regulator"]).get(f"{URL}/{first}/pdf").status_code == 200
    auditor = world.as_(people["auditor"])
    assert [r["enterprise"] for r in ok(auditor.get(URL, params=OLD))["rows"]] == ["甲化工"]
    refused = detail(auditor.get(f"{URL}/{first}/pdf"), 403)
    assert refused.startswith("role auditor may read data of ")
    assert detail(auditor.get(f"{URL}/preview.pdf", params=old), 403) == refused
