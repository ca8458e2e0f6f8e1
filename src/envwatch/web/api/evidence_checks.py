"""REST API: the video archive's rule checks (WZ-A1-5/13, WZ-A2-8), storage capacity, self-inspection (WZ-A1-14).

- ``GET /api/v1/evidence/checks?from=YYYY-MM-DD&to=YYYY-MM-DD&agency_id=`` runs every archive check over
  ``[from, to)`` (China days, default this month) and answers the findings grouped by rule, with counts
  (``pending``: not yet violations). The findings are filtered like video records (``Scope.sees_video``):
  admin all, an agency its own, a regulator its region's agencies and enterprises, an enterprise the jobs,
  videos and reprints at itself. Operators, field staff and auditors: 403. The latest storage check rides
  along (not for enterprises: the platform's capacity is not theirs).
- ``GET /api/v1/evidence/storage``: the newest storage checks (admin, regulator, agency);
  ``POST /api/v1/evidence/storage/check``: check now (``evidence_admin``: admin).
- ``GET /api/v1/evidence/self-inspections?agency_id=&month=YYYY-MM``: the draws one sees (admin, the agency,
  its region's regulators); ``POST`` ``{"month": "YYYY-MM", "agency_id"}`` draws (``video_self_inspection``:
  admin, an agency for itself); 201 when made now, 200 with ``already`` when the month was drawn before.
- ``GET /api/v1/evidence/self-inspections/{id}``: the draw, its items (video summaries, outcome history,
  latest outcome) and whether the seed still redoes the same draw;
  ``POST /api/v1/evidence/self-inspections/{id}/items/{item_id}/outcome`` ``{"outcome": "ok"|"problem",
  "note"}`` appends an outcome (201).

A draw or item outside the scope is "not found", as a missing one.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.evidence import self_inspection as si
from envwatch.evidence.archive_checks import grouped_out, run_checks
from envwatch.evidence.coverage import Finding
from envwatch.evidence.storage import check_storage, latest_checks, with_percent
from envwatch.sampling.stats import Period
from envwatch.web.api.common import engine_of, jsonable, settings_of
from envwatch.web.api.sampling_common import own_agency, visible_agency_ids
from envwatch.web.api.sampling_stats import chosen_period
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])

CHECK_READERS: Final = frozenset({"admin", "regulator", "agency", "enterprise"})
ARCHIVE_READERS: Final = frozenset({"admin", "regulator", "agency"})  # storage and self-inspection


def china_today() -> date:
    return to_china(utcnow()).date()


def require_checks_reader(scope: Scope) -> None:
    if scope.role not in CHECK_READERS:
        raise HTTPException(
            403, f"role {scope.role} may not read the archive checks (admin, regulator, agency, enterprise)"
        )


def require_archive_reader(scope: Scope, what: str) -> None:
    if scope.role not in ARCHIVE_READERS:
        raise HTTPException(403, f"role {scope.role} may not read the {what} (admin, regulator, agency)")


def visible(scope: Scope, finding: Finding) -> bool:
    return scope.sees_video({"agency_id": finding.agency_id, "enterprise_id": finding.enterprise_id})


def findings_for(
    request: Request, scope: Scope, p: Period, agency_id: int | None
) -> dict[str, list[Finding]]:
    """Every check over ``p`` as ``scope`` may see it (an agency's run is limited to itself in the query)."""
    require_checks_reader(scope)
    if scope.role == "agency":
        own = scope.principal.agency_id
        if own is None or (agency_id is not None and agency_id != own):
            return {}
        agency_id = own
    with engine_of(request).connect() as conn:
        found = run_checks(conn, settings_of(request), utcnow(), agency_id=agency_id, period=p)
    return {rule: [f for f in rows if visible(scope, f)] for rule, rows in found.items()}


def latest_storage(request: Request, limit: int = 1) -> list[dict[str, Any]]:
    with engine_of(request).connect() as conn:
        return [jsonable(r) for r in latest_checks(conn, limit)]


def checks_out(request: Request, scope: Scope, p: Period, found: dict[str, list[Finding]]) -> dict[str, Any]:
    rules = grouped_out(found)
    latest = latest_storage(request) if scope.role != "enterprise" else []
    return {
        "from": p.first.isoformat(),
        "to": p.end.isoformat(),
        "rules": rules,
        "total": sum(g["count"] for g in rules),
        "pending": sum(g["pending"] for g in rules),
        "storage": latest[0] if latest else None,
    }


@router.get("/checks", summary="Archive rule checks (WZ-A1-5, WZ-A1-13, WZ-A2-8) over a period, by rule")
def archive_checks(
    request: Request,
    scope: CurrentScope,
    from_: Annotated[str | None, Query(alias="from", description="first China day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="the China day after the last one (excluded)")] = None,
    agency_id: Annotated[int | None, Query(description="one testing agency only")] = None,
) -> dict[str, Any]:
    require_checks_reader(scope)
    p = chosen_period(from_, to, china_today())
    return checks_out(request, scope, p, findings_for(request, scope, p, agency_id))


@router.get("/storage", summary="Latest storage capacity checks (WZ-A1-13), newest first")
def storage(
    request: Request, scope: CurrentScope, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    require_archive_reader(scope, "storage checks")
    checks = latest_storage(request, limit)
    return {"latest": checks[0] if checks else None, "checks": checks}


@router.post("/storage/check", status_code=201, summary="Check the storage capacity now (admin)")
def storage_check(request: Request, scope: CurrentScope) -> dict[str, Any]:
    scope.require_write("evidence_admin")
    with engine_of(request).begin() as conn:
        row = check_storage(conn, settings_of(request), utcnow())
    return jsonable(with_percent(row))


# ---- self-inspection (WZ-A1-14) ----


def parse_month(text: str) -> date:
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise InvalidInput(f"month={text!r} is not a month YYYY-MM") from None


def require_draw(request: Request, scope: Scope, draw_id: int) -> dict[str, Any]:
    require_archive_reader(scope, "self-inspections")
    with engine_of(request).connect() as conn:
        found = si.get_draw(conn, draw_id)
    if not scope.sees_agency(found["agency_id"]):
        raise NotFound(f"no self-inspection draw with id {draw_id}")
    return found


def draw_out(row: dict[str, Any]) -> dict[str, Any]:
    out = jsonable(row)
    out["month"] = row["month"].strftime("%Y-%m")
    return out


def list_self_inspections(
    request: Request, scope: Scope, agency_id: int | None, month: date | None
) -> list[dict[str, Any]]:
    require_archive_reader(scope, "self-inspections")
    ids = visible_agency_ids(scope)
    if agency_id is not None:
        ids = [agency_id] if ids is None or agency_id in ids else []
    with engine_of(request).connect() as conn:
        return si.list_draws(conn, ids, month=month)


@router.get("/self-inspections", summary="Monthly self-inspection draws (WZ-A1-14)")
def self_inspections(
    request: Request,
    scope: CurrentScope,
    agency_id: int | None = None,
    month: Annotated[str | None, Query(description="YYYY-MM")] = None,
) -> dict[str, Any]:
    chosen = parse_month(month) if month else None
    rows = list_self_inspections(request, scope, agency_id, chosen)
    return {"draws": [draw_out(r) for r in rows]}


class DrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(description="the China month, YYYY-MM (past or current)")
    agency_id: int | None = Field(default=None, description="admin: the agency; an agency draws for itself")


def make_draw(request: Request, scope: Scope, body: DrawIn) -> dict[str, Any]:
    scope.require_write("video_self_inspection")
    month = parse_month(body.month)
    agency_id = own_agency(scope, body.agency_id)
    with engine_of(request).begin() as conn:
        return si.draw(conn, agency_id, month, settings_of(request), scope.principal.name, utcnow())


@router.post("/self-inspections", summary="Draw the month's records for self-inspection (201; 200 if drawn)")
def post_self_inspection(request: Request, scope: CurrentScope, body: DrawIn, response: Response) -> Any:
    made = make_draw(request, scope, body)
    response.status_code = 200 if made["already"] else 201
    return draw_out(made)


def draw_detail(request: Request, scope: Scope, draw_id: int) -> dict[str, Any]:
    found = require_draw(request, scope, draw_id)
    with engine_of(request).connect() as conn:
        items = si.draw_items(conn, draw_id)
        again = si.redo(conn, draw_id)
    out = draw_out(found)
    out["items"] = [
        jsonable(i)
        | {"outcomes": [jsonable(o) for o in i["outcomes"]], "latest": i["latest"] and jsonable(i["latest"])}
        for i in items
    ]
    out["redo"] = {"same": again.same, "ids": again.ids, "population": again.population}
    return out


@router.get("/self-inspections/{draw_id}", summary="One draw with its items and their outcomes")
def self_inspection(request: Request, scope: CurrentScope, draw_id: int) -> dict[str, Any]:
    return draw_detail(request, scope, draw_id)


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["ok", "problem"]
    note: str = Field(default="", description="what is wrong (required for problem)")


def add_outcome(
    request: Request, scope: Scope, draw_id: int, item_id: int, body: OutcomeIn
) -> dict[str, Any]:
    scope.require_write("video_self_inspection")
    found = require_draw(request, scope, draw_id)
    with engine_of(request).begin() as conn:
        item = si.item_row(conn, item_id)
        if item["draw_id"] != found["id"]:
            raise NotFound(f"no item {item_id} in self-inspection draw {draw_id}")
        if scope.role == "agency" and found["agency_id"] != scope.principal.agency_id:
            raise NotFound(f"no self-inspection draw with id {draw_id}")
        row = si.record_outcome(conn, item_id, body.outcome, body.note, scope.principal.name, utcnow())
    return jsonable(row)


@router.post(
    "/self-inspections/{draw_id}/items/{item_id}/outcome",
    status_code=201,
    summary="Record the review outcome of one drawn video (append-only)",
)
def post_outcome(
    request: Request, scope: CurrentScope, draw_id: int, item_id: int, body: OutcomeIn
) -> dict[str, Any]:
    return add_outcome(request, scope, draw_id, item_id, body)
