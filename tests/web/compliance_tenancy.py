"""The compliance engine's part of the API tenancy test (issue 9), kept here so tests/web/test_tenancy.py
stays readable: each tenant's compliance objects (findings about its device, its operator and its testing
agency; a supervision plan and a spot-test draw of its district; periodic reports of its enterprise, district
and operator; a credit event blacklisting its operator; a published ranking), the route table rows of the
findings, assessment, supervision, periodic report and certification pack routers, how their path parameters,
queries and bodies name the *other* tenant's objects, how their lists name a tenant, and each role's own side.

Who sees what (the routers' docstrings): findings by :meth:`Scope.sees_finding`; assessments, credit files and
the blacklist admin, regulators of the operators' regions, the operator's own accounts (own row only),
enterprises and agencies 403; supervision plans and spot tests admin and regulators of the region only;
periodic reports admin, regulators (their region, their enterprises), an enterprise its own, an operator its
own, the rest 403; the certification pack admin, regulators, the operator and its auditor (in its period).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table

from envwatch.compliance import credit
from envwatch.compliance import spot_tests as st
from envwatch.compliance import supervision as sv
from envwatch.compliance.findings import apply_found
from envwatch.compliance.rules import Found, Link, Rule, RuleContext, build_rule_set
from envwatch.compliance.schema import (
    compliance_runs,
    credit_events,
    finding_events,
    findings,
    operator_assessments,
    spot_test_draws,
    spot_test_items,
    spot_test_results,
    supervision_plan_items,
    supervision_plans,
    supervision_results,
)
from envwatch.compliance.supervision_checklist import KEYS
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import CHINA_TZ, to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.reports import periodic_store
from envwatch.reports.periodic_period import parse_period, report_scope
from envwatch.reports.periodic_schema import certification_packs, report_files
from envwatch.reports.quarters import last_finished

C: Final = "/api/v1/compliance"
REPORTS: Final = "/api/v1/reports/periodic"
PREFIXES: Final = ("/api/v1/findings", f"{C}/", REPORTS, "/api/v1/operators/")
TODAY: Final = to_china(utcnow()).date()
MONTH: Final = TODAY.strftime("%Y-%m")
_LAST = last_finished(utcnow())
LAST_QUARTER: Final = f"{_LAST.year}Q{_LAST.quarter}"
# the tenancy test's own rule: what each tenant's findings are about (the packs' rules are not needed here)
RULE_ID: Final = "TT-0-TENANCY"
# a rule of the packs that the compliance runs of the test judge (cheap: inspection records, SX-20.3)
RUN_RULE: Final = "SX-20.3-7D"

TABLES: Final[tuple[Table, ...]] = (
    findings,
    finding_events,
    compliance_runs,
    operator_assessments,
    credit_events,
    supervision_plans,
    supervision_plan_items,
    supervision_results,
    spot_test_draws,
    spot_test_items,
    spot_test_results,
    report_files,
    certification_packs,
)


class Subjects(Protocol):
    """What a tenant's findings are about: its device (MN and id), outlet, enterprise (and district),
    operator and testing agency."""

    mn: str
    region: str
    enterprise_id: int
    outlet_id: int
    device_id: int
    operator_id: int
    agency_id: int


class ComplianceTenant(Subjects, Protocol):
    """The ``Tenant`` fields this module reads and fills (tests/web/test_tenancy.py)."""

    finding_id: int
    operator_finding_id: int
    agency_finding_id: int
    supervision_plan_id: int
    supervision_item_id: int
    spot_draw_id: int
    spot_item_id: int
    enterprise_report_id: int
    region_report_id: int
    operator_report_id: int
    report_scope: str
    region_report_scope: str
    operator_report_scope: str


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def tenancy_rule() -> Rule:
    def evaluate(_ctx: RuleContext) -> list[Found]:  # never evaluated: the findings are applied directly
        return []

    rule = Rule(
        id=RULE_ID,
        requirement="TT-0",
        title="tenancy test situation",
        title_zh="租户隔离测试问题",
        subject="device",
        inputs="what the tenancy test applies",
        evaluate=evaluate,
    )
    return build_rule_set([("tenancy", (rule,))]).get(RULE_ID)


def found_about(t: Subjects) -> list[Found]:
    """Three situations of tenant ``t`` since yesterday (inside the auditor's period): its device (naming the
    outlet, enterprise and operator), its operator as a whole, and its testing agency."""
    start = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=CHINA_TZ) - timedelta(days=1)
    end = start + timedelta(days=1)
    side = t.mn[-5]
    return [
        Found(
            key=f"device:{t.device_id}", subject_kind="device", subject_id=t.device_id,
            message=f"tenancy device situation {side} (测试问题)", enterprise_id=t.enterprise_id,
            outlet_id=t.outlet_id, device_id=t.device_id, operator_id=t.operator_id,
            evidence=(Link("fault", "1", "fault 1"),), period_start=start, period_end=end,
        ),
        Found(
            key=f"operator:{t.operator_id}", subject_kind="operator", subject_id=t.operator_id,
            message=f"tenancy operator situation {side} (运维单位问题)", operator_id=t.operator_id,
            period_start=start, period_end=end,
        ),
        Found(
            key=f"agency:{t.agency_id}", subject_kind="agency", subject_id=t.agency_id,
            message=f"tenancy agency situation {side} (检测机构问题)", agency_id=t.agency_id,
            period_start=start, period_end=end,
        ),
    ]  # fmt: skip


def compliance_of(admin: TestClient, engine: Engine, tenants: Iterable[ComplianceTenant]) -> None:
    """Every tenant's compliance objects (module docstring), the findings applied in one go (a rule's
    findings are brought in line as a whole: applying one tenant's would resolve the other's), the rest made
    by ``admin`` (a client acting as admin) through the API."""
    sides = list(tenants)
    now = utcnow()
    with engine.begin() as conn:
        items = [f for t in sides for f in found_about(t)]
        apply_found(conn, tenancy_rule(), items, at=now, now=now, by="admin")
    rows = ok(admin.get("/api/v1/findings", params={"rule": RULE_ID, "limit": 1000}))["rows"]
    by_key = {r["key"]: r["id"] for r in rows}
    for t in sides:
        t.finding_id = by_key[f"device:{t.device_id}"]
        t.operator_finding_id = by_key[f"operator:{t.operator_id}"]
        t.agency_finding_id = by_key[f"agency:{t.agency_id}"]
        plan = ok(admin.post(f"{C}/supervision/plans", json={"region": t.region, "month": MONTH}), 201)
        t.supervision_plan_id, t.supervision_item_id = plan["id"], plan["items"][0]["id"]
        draw = ok(admin.post(f"{C}/spot-tests", json={"region": t.region, "year": TODAY.year}), 201)
        t.spot_draw_id, t.spot_item_id = draw["id"], draw["items"][0]["id"]
        scopes = {
            "enterprise": str(t.enterprise_id),
            "region": t.region,
            "operator": str(t.operator_id),
        }
        made = {}
        for kind, ref in scopes.items():
            body = {"period": "day", "of": TODAY.isoformat(), "scope_kind": kind, "scope_ref": ref}
            made[kind] = ok(admin.post(REPORTS, json=body), 201)
        t.enterprise_report_id = made["enterprise"]["id"]
        t.region_report_id = made["region"]["id"]
        t.operator_report_id = made["operator"]["id"]
        t.report_scope = f"enterprise:{t.enterprise_id}"
        t.region_report_scope = f"region:{t.region}"
        t.operator_report_scope = f"operator:{t.operator_id}"
        blacklisted = {"kind": "blacklisted", "reason": "租户隔离测试"}
        ok(admin.post(f"/api/v1/operators/{t.operator_id}/credit", json=blacklisted), 201)
    ok(admin.post(f"{C}/assessments/publish", json={"quarter": LAST_QUARTER, "region": ""}), 201)


# ---- the route table rows (kinds as in test_tenancy.ROUTES) ----

# ``writer_apart``: a write naming no tenant's object that some roles of either tenant may make (a
# compliance run judges the whole platform): the walk expects 403 from the others and leaves the allowed
# ones to :func:`own_side_problems` (so the walk's "a refused write changed nothing" stays meaningful)
COMPLIANCE_ROUTES: Final[dict[tuple[str, str], str]] = {
    # findings (合规问题) and the rules and their runs
    ("GET", "/api/v1/findings"): "list",
    ("GET", "/api/v1/findings/{finding_id}"): "hidden",
    ("POST", "/api/v1/findings/{finding_id}/waive"): "hidden",
    ("POST", "/api/v1/findings/{finding_id}/unwaive"): "hidden",
    ("GET", f"{C}/rules"): "open",  # the rules and their parameters: no tenant's data
    # the runs: when and by whom, counts; the per-rule outcomes (for admin and regulators) are counts and
    # error texts of the whole platform's run
    ("GET", f"{C}/runs"): "open",
    ("POST", f"{C}/runs"): "writer_apart",
    # operator assessment (SX-26), credit file and blacklist (SX-27, SX-32)
    ("GET", f"{C}/assessments"): "list_or_refused",
    ("POST", f"{C}/assessments/publish"): "forbidden",  # the other tenant's region: 403 for every role
    ("GET", "/api/v1/operators/{operator_id}/credit"): "refused",
    ("POST", "/api/v1/operators/{operator_id}/credit"): "refused",
    ("GET", f"{C}/blacklist"): "list_or_refused",
    # supervision plans (SX-22.3) and spot tests (SX-23): admin and regulators of the region
    ("GET", f"{C}/supervision/plans"): "list_or_refused",
    ("POST", f"{C}/supervision/plans"): "forbidden",
    ("GET", f"{C}/supervision/plans/{{plan_id}}"): "refused",
    ("POST", f"{C}/supervision/plans/{{plan_id}}/items/{{item_id}}/results"): "refused",
    ("GET", f"{C}/spot-tests"): "list_or_refused",
    ("POST", f"{C}/spot-tests"): "forbidden",
    ("GET", f"{C}/spot-tests/{{draw_id}}"): "refused",
    ("POST", f"{C}/spot-tests/{{draw_id}}/items/{{item_id}}/results"): "refused",
    # periodic reports (定期报告)
    ("GET", REPORTS): "list_or_refused",
    ("POST", REPORTS): "refused",
    ("GET", f"{REPORTS}/{{report_id}}"): "refused",
    ("GET", f"{REPORTS}/{{report_id}}/xlsx"): "refused",
    ("GET", f"{REPORTS}/{{report_id}}/pdf"): "refused",
    # the certification evidence pack (CS-5/6): another operator is not found, whatever the role
    ("GET", "/api/v1/operators/{operator_id}/certification-pack/kpis"): "hidden",
    ("GET", "/api/v1/operators/{operator_id}/certification-pack"): "hidden",
    ("GET", "/api/v1/operators/{operator_id}/certification-packs"): "hidden",
}

# roles of a tenant that may make a ``writer_apart`` write (tested on their own side)
WRITERS_APART: Final[dict[str, frozenset[str]]] = {f"{C}/runs": frozenset({"regulator", "county_regulator"})}


def compliance_params(path: str) -> dict[str, Callable[[Any, str], Any]]:
    """Path parameters of a compliance route, naming the other tenant's objects (these names mean other
    objects elsewhere: a sampling plan, an evidence draw, a self-inspection report)."""
    if path.startswith(f"{C}/supervision/"):
        return {
            "plan_id": lambda t, _p: t.supervision_plan_id,
            "item_id": lambda t, _p: t.supervision_item_id,
        }
    if path.startswith(f"{C}/spot-tests/"):
        return {"draw_id": lambda t, _p: t.spot_draw_id, "item_id": lambda t, _p: t.spot_item_id}
    if path.startswith(f"{REPORTS}/"):
        return {"report_id": lambda t, _p: t.enterprise_report_id}
    if path.startswith("/api/v1/findings/"):
        return {"finding_id": lambda t, _p: t.finding_id}
    return {}


def checklist() -> dict[str, Any]:
    return {key: {"state": "ok"} for key in KEYS}


def compliance_request(method: str, path: str, other: ComplianceTenant) -> dict[str, Any]:
    """Query and body of a compliance route naming the other tenant's objects (valid, so that a refusal
    is the tenancy's and not a validation error)."""
    if method == "GET":
        return {}
    bodies: dict[str, Any] = {
        "/api/v1/findings/{finding_id}/waive": {"reason": "x"},
        "/api/v1/findings/{finding_id}/unwaive": {"reason": "x"},
        f"{C}/runs": {"rules": [RUN_RULE]},
        f"{C}/assessments/publish": {"quarter": LAST_QUARTER, "region": other.region},
        "/api/v1/operators/{operator_id}/credit": {"kind": "warning", "reason": "x"},
        f"{C}/supervision/plans": {"region": other.region, "month": MONTH},
        f"{C}/supervision/plans/{{plan_id}}/items/{{item_id}}/results": plan_result(),
        f"{C}/spot-tests": {"region": other.region, "year": TODAY.year},
        f"{C}/spot-tests/{{draw_id}}/items/{{item_id}}/results": spot_result(),
        REPORTS: report_body("enterprise", str(other.enterprise_id)),
    }
    return {"json": bodies[path]}


def plan_result() -> dict[str, Any]:
    return {"visited_on": TODAY.isoformat(), "inspectors": "x", "checklist": checklist()}


def spot_result() -> dict[str, Any]:
    values = [{"factor": "a21026", "manual": "1.0", "automatic": "1.0", "unit": "mg/m3"}]
    return {"tested_on": TODAY.isoformat(), "agency": "x", "report_no": "x", "values": values}


def report_body(kind: str, ref: str) -> dict[str, Any]:
    return {"period": "day", "of": TODAY.isoformat(), "scope_kind": kind, "scope_ref": ref}


# how a list row names its tenant: (row key, tenant attribute); more in ``COMPLIANCE_MORE_KEYS``
COMPLIANCE_LIST_KEYS: Final[dict[str, tuple[str, str]]] = {
    "/api/v1/findings": ("enterprise_id", "enterprise_id"),
    f"{C}/assessments": ("operator_id", "operator_id"),
    f"{C}/blacklist": ("operator_id", "operator_id"),
    f"{C}/supervision/plans": ("region_code", "region"),
    f"{C}/spot-tests": ("region_code", "region"),
    REPORTS: ("scope", "report_scope"),
}
# further ways a row of these lists names a tenant, each checked in the walk
COMPLIANCE_MORE_KEYS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "/api/v1/findings": (("operator_id", "operator_id"), ("agency_id", "agency_id")),
    REPORTS: (("scope", "region_report_scope"), ("scope", "operator_report_scope")),
}
NOT_READERS: Final = frozenset({"enterprise", "operator", "field_staff", "auditor", "agency"})
# roles a compliance list refuses outright (403) rather than answering without the other's rows
COMPLIANCE_LIST_REFUSED_FOR: Final[dict[str, frozenset[str]]] = {
    # the auditor: the default quarter (the last complete one) lies outside its ten days
    f"{C}/assessments": frozenset({"enterprise", "agency", "auditor"}),
    f"{C}/blacklist": frozenset({"enterprise", "agency"}),
    f"{C}/supervision/plans": NOT_READERS,
    f"{C}/spot-tests": NOT_READERS,
    REPORTS: frozenset({"field_staff", "auditor", "agency"}),
}


def compliance_listed(body: Any) -> list[dict[str, Any]] | None:
    """The rows of a compliance list answer (None: not one): a ranking's live and published rows, plans,
    blacklisted operators, reports (with ``scope`` = ``kind:ref``)."""
    if not isinstance(body, dict):
        return None
    if "formula" in body:  # a ranking
        published = body["published"]["rows"] if body.get("published") else []
        return [*body["rows"], *published]
    if "plans" in body:
        return body["plans"]  # type: ignore[no-any-return]
    if "operators" in body and "listed" in body:
        return body["operators"]  # type: ignore[no-any-return]
    if "reports" in body:
        return [r | {"scope": f"{r['scope_kind']}:{r['scope_ref']}"} for r in body["reports"]]
    return None


def compliance_query(path: str) -> dict[str, Any]:
    """Query parameters of a compliance list, for the admin check: every finding of the test's rule."""
    return {"rule": RULE_ID, "limit": 1000} if path == "/api/v1/findings" else {}


# ---- each role on its own side; every object of the other side ----

REGULATORS: Final = ("regulator", "county_regulator")


def own_side_problems(as_role: Callable[[str], TestClient], roles: list[str], mine: Any) -> list[str]:
    """What goes wrong when each role reads (and, where it may, writes) its own side's compliance objects
    (empty when all is right), so that the walk's refusals are the tenancy's and not a role's."""
    problems: list[str] = []

    def want(role: str, method: str, url: str, status: int, **kwargs: Any) -> Any:
        r = as_role(role).request(method, url, **kwargs)
        if r.status_code != status:
            problems.append(f"{role} {method} {url}: {r.status_code}, want {status}: {r.text[:200]}")
        return r

    seen_findings = {
        "finding_id": {"regulator", "county_regulator", "enterprise", "operator", "field_staff", "auditor"},
        "operator_finding_id": {"regulator", "county_regulator", "operator", "field_staff", "auditor"},
        "agency_finding_id": {"regulator", "county_regulator", "agency"},
    }
    reports = {
        "enterprise_report_id": {"regulator", "county_regulator", "enterprise"},
        "region_report_id": {"regulator", "county_regulator"},
        "operator_report_id": {"operator"},
    }
    for role in roles:
        listed = want(role, "GET", "/api/v1/findings", 200)
        got = {r["id"] for r in listed.json().get("rows", [])} if listed.status_code == 200 else set()
        for attr, readers in seen_findings.items():
            finding = getattr(mine, attr)
            want(role, "GET", f"/api/v1/findings/{finding}", 200 if role in readers else 404)
            if (finding in got) != (role in readers):
                problems.append(
                    f"{role}: finding {attr}={finding} listed {finding in got}, want {role in readers}"
                )
        waive = 200 if role in REGULATORS else 403
        finding = mine.agency_finding_id if role == "agency" else mine.finding_id  # one it sees
        want(role, "POST", f"/api/v1/findings/{finding}/waive", waive, json={"reason": "已整改"})
        if waive == 200:
            want(role, "POST", f"/api/v1/findings/{finding}/unwaive", 200, json={"reason": "撤回"})
        run = 201 if role in REGULATORS else 403
        ran = want(role, "POST", f"{C}/runs", run, json={"rules": [RUN_RULE]})
        if ran.status_code == 201 and set(ran.json()["rules"]) != {RUN_RULE}:
            problems.append(f"{role}: the run judged {ran.json()['rules']}, want {RUN_RULE} alone")
        # assessments, credit file, blacklist
        ranking_readers = {"regulator", "county_regulator", "operator", "field_staff"}
        ranking = want(role, "GET", f"{C}/assessments", 200 if role in ranking_readers else 403)
        if ranking.status_code == 200:
            ids = {r["operator_id"] for r in compliance_listed(ranking.json()) or []}
            if mine.operator_id not in ids:
                problems.append(f"{role}: its operator {mine.operator_id} is not in the ranking: {ids}")
        credit_readers = ranking_readers | {"auditor"}
        credit = f"/api/v1/operators/{mine.operator_id}/credit"
        want(role, "GET", credit, 200 if role in credit_readers else 403)
        note = {"kind": "note", "reason": "约谈记录"}
        want(role, "POST", credit, 201 if role in REGULATORS else 403, json=note)
        black = want(role, "GET", f"{C}/blacklist", 200 if role in credit_readers else 403)
        if black.status_code == 200 and [o["operator_id"] for o in black.json()["operators"]] != [
            mine.operator_id
        ]:
            problems.append(f"{role}: the blacklist is not its operator's alone: {black.text[:200]}")
        # supervision plans and spot tests
        reader = 200 if role in REGULATORS else 403
        want(role, "GET", f"{C}/supervision/plans/{mine.supervision_plan_id}", reader)
        want(role, "GET", f"{C}/spot-tests/{mine.spot_draw_id}", reader)
        writer = 201 if role in REGULATORS else 403
        plan_item = f"{C}/supervision/plans/{mine.supervision_plan_id}/items/{mine.supervision_item_id}"
        want(role, "POST", f"{plan_item}/results", writer, json=plan_result())
        spot_item = f"{C}/spot-tests/{mine.spot_draw_id}/items/{mine.spot_item_id}"
        want(role, "POST", f"{spot_item}/results", writer, json=spot_result())
        for url, items in (
            (f"{C}/supervision/plans", "plans"),
            (f"{C}/spot-tests", "draws"),
        ):
            r = want(role, "GET", url, reader)
            wanted = mine.supervision_plan_id if items == "plans" else mine.spot_draw_id
            if r.status_code == 200 and wanted not in [p["id"] for p in r.json()[items]]:
                problems.append(f"{role}: its own {items} {wanted} is not in GET {url}")
        # periodic reports
        for attr, readers in reports.items():
            report = getattr(mine, attr)
            status = 200 if role in readers else 403 if role in ("field_staff", "auditor", "agency") else 404
            want(role, "GET", f"{REPORTS}/{report}", status)
            for kind in ("xlsx", "pdf"):
                r = want(role, "GET", f"{REPORTS}/{report}/{kind}", status)
                if status == 200 and r.status_code == 200 and not r.content:
                    problems.append(f"{role}: the {kind} of report {report} is empty")
        # the certification pack (kpis only: the zip records a make, tested in its own module)
        pack = {"regulator": 200, "county_regulator": 200, "operator": 200, "auditor": 200}
        status = pack.get(role, 404 if role == "agency" else 403)
        want(role, "GET", f"/api/v1/operators/{mine.operator_id}/certification-pack/kpis", status)
        want(role, "GET", f"/api/v1/operators/{mine.operator_id}/certification-packs", status)
    return problems


def other_side_problems(client: TestClient, role: str, other: Any) -> list[str]:
    """Every compliance object of the other tenant, each kind the route may be asked about (not only the
    one the walk fills in): not found, or refused by role; a filter naming the other tenant answers none of
    its rows (or 403)."""
    problems: list[str] = []
    refused = {403, 404}

    def check(method: str, url: str, allowed: set[int], **kwargs: Any) -> None:
        r = client.request(method, url, **kwargs)
        if r.status_code not in allowed:
            problems.append(
                f"{role} {method} {url} {kwargs}: {r.status_code} (want {allowed}) {r.text[:200]}"
            )

    for finding in (other.finding_id, other.operator_finding_id, other.agency_finding_id):
        check("GET", f"/api/v1/findings/{finding}", {404})
        for action in ("waive", "unwaive"):
            check("POST", f"/api/v1/findings/{finding}/{action}", {404}, json={"reason": "x"})
    for report in (other.enterprise_report_id, other.region_report_id, other.operator_report_id):
        for suffix in ("", "/xlsx", "/pdf"):
            check("GET", f"{REPORTS}/{report}{suffix}", refused)
    for kind, ref in (
        ("enterprise", str(other.enterprise_id)),
        ("region", other.region),
        ("operator", str(other.operator_id)),
    ):
        check("POST", REPORTS, refused, json=report_body(kind, ref))
    filters = [
        ("/api/v1/findings", {"enterprise_id": other.enterprise_id}),
        ("/api/v1/findings", {"operator_id": other.operator_id}),
        ("/api/v1/findings", {"agency_id": other.agency_id}),
        ("/api/v1/findings", {"device_id": other.device_id}),
        ("/api/v1/findings", {"region": other.region}),
        ("/api/v1/findings", {"q": "tenancy"}),
        (f"{C}/assessments", {"region": other.region, "quarter": LAST_QUARTER}),
        (f"{C}/supervision/plans", {"region": other.region}),
        (f"{C}/spot-tests", {"region": other.region}),
        (REPORTS, {"scope_kind": "enterprise", "scope_ref": str(other.enterprise_id)}),
        (REPORTS, {"scope_kind": "region", "scope_ref": other.region}),
        (REPORTS, {"scope_kind": "operator", "scope_ref": str(other.operator_id)}),
    ]
    for path, params in filters:
        r = client.get(path, params=params)
        if r.status_code in refused:
            continue
        if r.status_code != 200:
            problems.append(f"{role} GET {path} {params}: {r.status_code} {r.text[:200]}")
            continue
        body = r.json()
        rows = compliance_listed(body)
        rows = body["draws"] if rows is None and "draws" in body else rows
        rows = body["rows"] if rows is None else rows
        keys = [COMPLIANCE_LIST_KEYS[path], *COMPLIANCE_MORE_KEYS.get(path, ())]
        leaked = [row for row in rows if any(row.get(k) == getattr(other, a) for k, a in keys)]
        if leaked:
            problems.append(f"{role} GET {path} {params}: the other tenant's {str(leaked)[:200]}")
    return problems


# ---- the pages' world: the same objects through the store functions ----


def compliance_of_a(
    engine: Engine, settings: Settings, a: Subjects, city: str, now: datetime
) -> dict[str, str]:
    """甲's compliance objects for the page tenancy test (``a`` names its device, outlet, enterprise,
    operator, agency and district): the three findings of :func:`found_about`, the month's
    supervision plan and the year's spot-test draw of ``city`` (甲's the only monitored enterprise there),
    reports of 甲's enterprise, district and operator for today, and 甲's operator blacklisted. Their ids as
    text (path parameters), by the ``ComplianceTenant`` names; ``operator_id`` too."""
    with engine.begin() as conn:
        apply_found(conn, tenancy_rule(), found_about(a), at=now, now=now, by="admin1")
        rows = conn.execute(findings.select().where(findings.c.rule == RULE_ID)).mappings().all()
        by_key = {r["key"]: r["id"] for r in rows}
        plan = sv.make_plan(conn, city, to_china(now).strftime("%Y-%m"), "admin1", now)
        draw = st.draw(conn, city, to_china(now).year, settings, "admin1", now)
        credit.record_event(conn, a.operator_id, "blacklisted", "甲的运维列入黑名单", by="admin1", now=now)
    day = parse_period("day", to_china(now).date().isoformat())
    blobs = BlobStore.from_settings(settings)
    reports = {
        kind: periodic_store.generate(
            engine, settings, blobs, day, report_scope(kind, ref), trigger="demand", by="admin1", now=now
        )["id"]
        for kind, ref in (("enterprise", a.enterprise_id), ("region", a.region), ("operator", a.operator_id))
    }
    ids = {
        "operator_id": a.operator_id,
        "finding_id": by_key[f"device:{a.device_id}"],
        "operator_finding_id": by_key[f"operator:{a.operator_id}"],
        "agency_finding_id": by_key[f"agency:{a.agency_id}"],
        "supervision_plan_id": plan["id"],
        "supervision_item_id": plan["items"][0]["id"],
        "spot_draw_id": draw["id"],
        "spot_item_id": draw["items"][0]["id"],
        "enterprise_report_id": reports["enterprise"],
        "region_report_id": reports["region"],
        "operator_report_id": reports["operator"],
    }
    return {name: str(value) for name, value in ids.items()}


def compliance_markers(ids: dict[str, str]) -> dict[str, list[str]]:
    """Text only a page showing 甲's compliance objects carries (a link to each), by the list page that
    shows them to one who may see them."""
    return {
        "/compliance/findings": [
            f'href="/compliance/findings/{ids[name]}"'
            for name in ("finding_id", "operator_finding_id", "agency_finding_id")
        ],
        "/compliance/supervision": [
            f'href="/compliance/supervision/plans/{ids["supervision_plan_id"]}"',
            f'href="/compliance/supervision/spot-tests/{ids["spot_draw_id"]}"',
        ],
        "/reports/periodic": [
            f'href="/reports/periodic/{ids[name]}"'
            for name in ("enterprise_report_id", "region_report_id", "operator_report_id")
        ],
        "/compliance/operators": [f'href="/compliance/operators/{ids["operator_id"]}"'],
    }
