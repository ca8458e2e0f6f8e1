"""The certification pack API over the real app and a real SQLite store: the figures equal the rates and
tickets APIs', the zip and the record of makes, who reads what, the auditor inside and outside its period,
and the auditor walking every write route without writing anything."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from envwatch.core.db import metadata
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.operations.records_world import GAS_MN, WATER_MN, RecordsWorld
from tests.reports.test_certification_pack_world import FIRST, LAST, build_quarter

Q3 = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
ADMIN = Principal("admin", "admin")
# Write routes the auditor may use on purpose (web.scope WRITERS), with the reason.
AUDITOR_WRITES = {
    ("POST", "/api/v1/audit/days"): "CS-4.3.2.2: the operator's dedicated auditor signs off each day of data",
}
# The auditor's own account and session, not the platform's data: log in and out, change one's password,
# make or revoke one's API tokens.
OWN_ACCOUNT = ("/api/v1/auth/", "/api/v1/users/me")


@dataclass
class World:
    client: TestClient
    engine: Engine
    w: RecordsWorld
    ids: dict[str, Any]

    def as_(self, principal: Principal) -> TestClient:
        self.client.app.dependency_overrides[authenticate] = lambda: principal  # type: ignore[attr-defined]
        return self.client

    def auditor(self, period: tuple[date, date] = (FIRST, LAST)) -> Principal:
        return Principal("aud", "auditor", operator_id=self.w.op, period=period)


@pytest.fixture
def world(settings: Settings, sqlite_engine: Engine) -> Iterator[World]:
    w, ids = build_quarter(sqlite_engine, settings)
    app = create_app(settings, sqlite_engine)
    with TestClient(app) as client:
        yield World(client, sqlite_engine, w, ids)
    app.dependency_overrides.clear()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response


def kpis_of(client: TestClient, op: int, **params: str) -> dict[str, dict[str, Any]]:
    body = ok(client.get(f"/api/v1/operators/{op}/certification-pack/kpis", params=params or Q3)).json()
    return {k["key"]: k for k in body["kpis"]}


def test_figures_equal_the_tickets_api(world: World) -> None:
    client = world.as_(ADMIN)
    got = kpis_of(client, world.w.op)
    api = ok(client.get("/api/v1/om/tickets/satisfaction", params={"operator_id": world.w.op, **Q3})).json()
    assert got["satisfaction"]["value"] == api["percent"] == "50.0"
    assert (got["satisfaction"]["numerator"], got["satisfaction"]["denominator"]) == (
        api["satisfied"],
        api["surveys"],
    )
    assert got["satisfaction"]["met"] is api["meets_target"] is False
    for key, clock in (("respond_1h", "respond"), ("on_site_4h_8h", "on_site")):
        figures = api["on_time"][clock]
        assert got[key]["value"] == figures["percent"], key
        assert (got[key]["numerator"], got[key]["denominator"]) == (
            figures["met"],
            figures["met"] + figures["late"],
        )


def _percent(part: int, whole: int) -> str | None:
    if not whole:
        return None
    return str((Decimal(100) * part / whole).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_rate_equals_the_rates_api(world: World) -> None:
    """The operator's devices (甲's two on the period's last day) summed from the rates API's device rows."""
    client = world.as_(ADMIN)
    got = kpis_of(client, world.w.op)["effective_rate"]
    rows = ok(client.get("/api/v1/rates", params={**Q3, "group": "device"})).json()["rows"]
    mine = [r for r in rows if r["mn"] in (GAS_MN, WATER_MN)]  # 甲's devices, 运维甲's on the last day
    assert len(mine) == 2
    valid, expected = sum(r["valid"] for r in mine), sum(r["expected"] for r in mine)
    assert (got["numerator"], got["denominator"]) == (valid, expected)
    assert got["value"] == _percent(valid, expected)
    assert got["target"] == "≥ 95 %"


def test_rate_equals_the_rates_api_grouped_by_operator(world: World) -> None:
    client = world.as_(ADMIN)
    answer = client.get("/api/v1/rates", params={**Q3, "group": "operator"})
    row = next(r for r in ok(answer).json()["rows"] if r["operator_id"] == world.w.op)
    got = kpis_of(client, world.w.op)["effective_rate"]
    assert (got["numerator"], got["denominator"]) == (row["valid"], row["expected"])


def test_zip_download_and_history(world: World) -> None:
    client = world.as_(ADMIN)
    op = world.w.op
    first = ok(client.get(f"/api/v1/operators/{op}/certification-pack", params=Q3))
    assert first.headers["content-type"] == "application/zip"
    assert f'filename="cert-pack-{op}-2026-07-01-2026-09-30.zip"' in first.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        packed = {k["key"]: k for k in json.loads(archive.read("kpis.json"))["kpis"]}
    assert manifest["operator"]["id"] == op
    api = kpis_of(client, op)
    assert {k: v["value"] for k, v in packed.items()} == {k: v["value"] for k, v in api.items()}
    second = ok(client.get(f"/api/v1/operators/{op}/certification-pack", params=Q3))
    assert second.content == first.content
    assert second.headers["x-pack-same-as"] == first.headers["x-pack-id"]
    history = ok(client.get(f"/api/v1/operators/{op}/certification-packs")).json()["rows"]
    assert [h["id"] for h in history] == [int(second.headers["x-pack-id"]), int(first.headers["x-pack-id"])]
    assert history[0]["same_as_before"] == history[1]["id"] and history[0]["made_by"] == "admin"
    assert history[0]["sha256"] == first.headers["x-pack-sha256"]


def test_default_period_is_the_last_complete_quarter_or_the_auditors(world: World) -> None:
    body = ok(world.as_(ADMIN).get(f"/api/v1/operators/{world.w.op}/certification-pack/kpis")).json()
    assert re.fullmatch(r"\d{4}-(01|04|07|10)-01", body["from"])
    period = (date(2026, 7, 1), date(2026, 7, 31))
    body = ok(
        world.as_(world.auditor(period)).get(f"/api/v1/operators/{world.w.op}/certification-pack/kpis")
    ).json()
    assert (body["from"], body["to"]) == ("2026-07-01", "2026-07-31")


@pytest.mark.parametrize(
    ("who", "operator", "status"),
    [
        (Principal("reg_zj", "regulator", region_code="33"), "op", 200),
        (Principal("reg_zj", "regulator", region_code="33"), "other_op", 404),
        (Principal("reg_gd", "regulator", region_code="44"), "other_op", 200),
        (Principal("op", "operator", operator_id=-1), "op", 200),
        (Principal("op", "operator", operator_id=-1), "other_op", 404),
        (Principal("fs", "field_staff", operator_id=-1), "op", 403),
        (Principal("ent", "enterprise", enterprise_id=-1), "op", 403),
        (Principal("ent", "enterprise", enterprise_id=-1), "other_op", 404),
        (Principal("agency", "agency", agency_id=1), "op", 404),
    ],
)
def test_who_reads(world: World, who: Principal, operator: str, status: int) -> None:
    w = world.w
    fields = who.__dict__.copy()
    if fields.get("operator_id") == -1:
        fields["operator_id"] = w.op
    if fields.get("enterprise_id") == -1:
        fields["enterprise_id"] = w.enterprises["jia"]
    client = world.as_(Principal(**fields))
    target = getattr(w, operator)
    for path in ("/certification-pack/kpis", "/certification-packs", "/certification-pack"):
        answer = client.get(f"/api/v1/operators/{target}{path}", params=Q3)
        assert answer.status_code == status, (who.role, path, answer.text)


def test_auditor_inside_and_outside_its_period(world: World) -> None:
    op = world.w.op
    client = world.as_(world.auditor())
    ok(client.get(f"/api/v1/operators/{op}/certification-pack/kpis", params=Q3))
    zipped = ok(client.get(f"/api/v1/operators/{op}/certification-pack", params=Q3))
    assert zipped.content[:2] == b"PK"
    for params in ({"from": "2026-06-30", "to": "2026-09-30"}, {"from": "2026-07-01", "to": "2026-10-01"}):
        for path in ("/certification-pack/kpis", "/certification-pack"):
            answer = client.get(f"/api/v1/operators/{op}{path}", params=params)
            assert answer.status_code == 403 and "2026-07-01..2026-09-30" in answer.json()["detail"]
    assert (
        client.get(f"/api/v1/operators/{world.w.other_op}/certification-pack/kpis", params=Q3).status_code
        == 404
    )
    # the history shows only the packs inside the auditor's period
    ok(
        world.as_(ADMIN).get(
            f"/api/v1/operators/{op}/certification-pack", params={"from": "2026-01-01", "to": "2026-09-30"}
        )
    )
    history = ok(world.as_(world.auditor()).get(f"/api/v1/operators/{op}/certification-packs")).json()["rows"]
    assert [(h["first_day"], h["last_day"]) for h in history] == [("2026-07-01", "2026-09-30")]


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in metadata.sorted_tables
        }


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_auditor_writes_nothing_anywhere(world: World) -> None:
    """Every write route of the API answers the auditor 403/404/405/422 and the store is unchanged; the
    routes of AUDITOR_WRITES are the auditor's on purpose and are left out of the walk (not silently: they
    must exist, and each one's reason is written above)."""
    client = world.as_(world.auditor())
    paths = client.get("/openapi.json").json()["paths"]  # app.routes nests the included routers
    routes = [
        (method.upper(), path)
        for path, ops in sorted(paths.items())
        if path.startswith("/api/")
        for method in ops
        if method.upper() in ("POST", "PUT", "PATCH", "DELETE")
    ]
    assert set(AUDITOR_WRITES) <= set(routes), "an exception names a route the app no longer has"
    assert len(routes) > 50
    before = _counts(world.engine)
    wrong = []
    for method, path in routes:
        if (method, path) in AUDITOR_WRITES or path.startswith(OWN_ACCOUNT):
            continue
        # the tus header, so that the upload routes judge the caller rather than the protocol version
        answer = client.request(method, _fill(path), json={}, headers={"Tus-Resumable": "1.0.0"})
        if answer.status_code not in (403, 404, 405, 422):
            wrong.append(f"{method} {path}: {answer.status_code} {answer.text[:160]}")
    assert not wrong, "\n".join(wrong)
    assert _counts(world.engine) == before, "a write route changed the store for the auditor"
