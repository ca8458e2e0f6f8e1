"""REST API: the city's monthly supervision plans (SX-22.3/22.4) and the yearly manual spot test (SX-23).

- ``GET /api/v1/compliance/supervision/plans?region=&month=YYYY-MM``: the plans one sees, newest month
  first, each with its coverage counts; ``POST`` ``{"region", "month"}`` makes the plan: 201 when made now
  (a first plan, or a supplement listing only the enterprises that came since), 200 with ``already`` when
  the plan of that region and month already lists every enterprise.
- ``GET /api/v1/compliance/supervision/plans/{id}``: the plan, its items (enterprise, outlets, every result,
  the latest) and coverage with the outstanding enterprises; ``POST …/plans/{id}/items/{item_id}/results``
  ``{"visited_on", "inspectors", "checklist": {key: {"state", "note"}}, "note", "supersedes_id"}`` appends a
  checklist result (201).
- ``GET /api/v1/compliance/spot-tests?region=&year=``, ``POST`` ``{"region", "year"}`` (201, or 200 with
  ``already``), ``GET /api/v1/compliance/spot-tests/{id}`` (items, results, coverage, and whether the seed
  still redoes the list), ``POST …/spot-tests/{id}/items/{item_id}/results`` ``{"tested_on", "agency",
  "report_no", "values": [{"factor", "manual", "automatic"?, "unit"?}], "note", "supersedes_id"}`` (201).

Who: admin everything; a regulator the plans and draws of regions within its own (and it makes them only
there); everybody else 403, enterprises included (the spot-test list is unannounced). Writes are the
``supervision`` kind (admin, regulator). A plan, draw or item outside the scope is "not found", as a missing
one.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from envwatch.compliance import spot_tests as st
from envwatch.compliance import supervision as sv
from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.registry.service import region_prefix
from envwatch.web.api.common import engine_of, settings_of, time_out, value_out
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"])

READERS: Final = frozenset({"admin", "regulator"})


def china_today() -> date:
    return to_china(utcnow()).date()


def out(value: Any) -> Any:
    """A domain value as JSON: times in China time, exact numbers as text, days ISO, nested all the way."""
    if isinstance(value, dict):
        return {str(k): out(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [out(v) for v in value]
    if isinstance(value, datetime):
        return time_out(value)
    if isinstance(value, Decimal):
        return value_out(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# ---- scope ----


def require_reader(scope: Scope) -> None:
    if scope.role not in READERS:
        raise HTTPException(
            403, f"role {scope.role} may not see supervision plans or spot tests (admin, regulator)"
        )


def reader_region(scope: Scope) -> str | None:
    """The region prefix whose plans the scope sees: None for every region (admin); 403 for other roles."""
    require_reader(scope)
    if scope.role == "admin":
        return None
    code = scope.principal.region_code or ""
    try:
        return region_prefix(code)
    except InvalidInput:
        return "-"  # a regulator without a (valid) region sees nothing: fail closed


def sees_region(scope: Scope, region: str) -> bool:
    return scope.role == "admin" or (
        scope.role == "regulator" and sv.region_within(region, scope.principal.region_code)
    )


def require_own_region(scope: Scope, region: str) -> str:
    """The normalised region a writer may plan or draw for: its own or within it (admin: any)."""
    scope.require_write("supervision")
    chosen = sv.plan_region(region)
    if not sees_region(scope, chosen):
        raise HTTPException(
            403,
            f"role {scope.role} of region {scope.principal.region_code or '(none)'} may not plan or draw "
            f"for region {chosen}: it lies outside that region",
        )
    return chosen


def _chosen_region(region: str | None) -> str | None:
    return region_prefix(region) if region else None  # a filter may name a province too


def _narrow(scope: Scope, region: str | None) -> str | None:
    """The filter of a listing: the asked region within the scope's, or the scope's own."""
    own = reader_region(scope)
    asked = _chosen_region(region)
    if asked is None:
        return own
    if own is None or asked.startswith(own):
        return asked
    if own.startswith(asked):
        return own  # asked for a wider region than one's own: one's own part of it
    return "-"


# ---- plans ----


def list_plans(request: Request, scope: Scope, region: str | None, month: str | None) -> list[dict[str, Any]]:
    where = _narrow(scope, region)
    with engine_of(request).connect() as conn:
        return sv.list_plans(conn, where, month=month or None)


@router.get("/supervision/plans", summary="Monthly supervision plans (SX-22.3) with their coverage")
def get_plans(
    request: Request,
    scope: CurrentScope,
    region: Annotated[str | None, Query(description="a city (4 digits) or county (6)")] = None,
    month: Annotated[str | None, Query(description="YYYY-MM")] = None,
) -> dict[str, Any]:
    return {"plans": out(list_plans(request, scope, region, month))}


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: str = Field(description="a city (4 digits, e.g. 3301) or a county (6)")
    month: str = Field(description="the China month, YYYY-MM (current or later)")


def make_plan(request: Request, scope: Scope, body: PlanIn) -> dict[str, Any]:
    region = require_own_region(scope, body.region)
    with engine_of(request).begin() as conn:
        return sv.make_plan(conn, region, body.month, scope.principal.name, utcnow())


@router.post("/supervision/plans", summary="Make the month's plan (201; 200 with already when made before)")
def post_plan(request: Request, scope: CurrentScope, body: PlanIn, response: Response) -> Any:
    made = make_plan(request, scope, body)
    response.status_code = 200 if made["already"] else 201
    return out(made)


def plan_detail(request: Request, scope: Scope, plan_id: int) -> dict[str, Any]:
    require_reader(scope)
    with engine_of(request).connect() as conn:
        found = sv.get_plan(conn, plan_id)
    if not sees_region(scope, found["region_code"]):
        raise NotFound(f"no supervision plan with id {plan_id}")
    return found


@router.get("/supervision/plans/{plan_id}", summary="One plan: items, their results, coverage")
def get_plan(request: Request, scope: CurrentScope, plan_id: int) -> dict[str, Any]:
    return out(plan_detail(request, scope, plan_id))  # type: ignore[no-any-return]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str = Field(description="ok | problem | na")
    note: str = Field(default="", max_length=4000, description="what the problem is (required for problem)")


class PlanResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visited_on: date = Field(description="the China day of the visit, in the plan's month, not in the future")
    inspectors: str = Field(max_length=4000)
    checklist: dict[str, AnswerIn] = Field(description="each of the 9 SX-22.4 items by key")
    note: str = Field(default="", max_length=4000)
    supersedes_id: int | None = Field(default=None, description="the result this one corrects")


def add_plan_result(
    request: Request, scope: Scope, plan_id: int, item_id: int, body: PlanResultIn
) -> dict[str, Any]:
    scope.require_write("supervision")
    plan_detail(request, scope, plan_id)
    with engine_of(request).begin() as conn:
        if sv.item_row(conn, item_id)["plan_id"] != plan_id:
            raise NotFound(f"no item {item_id} in supervision plan {plan_id}")
        answers = {k: sv.Answer(a.state, a.note) for k, a in body.checklist.items()}
        return sv.record_result(
            conn, item_id, visited_on=body.visited_on, inspectors=body.inspectors, checklist=answers,
            note=body.note, supersedes_id=body.supersedes_id, by=scope.principal.name, now=utcnow(),
        )  # fmt: skip


@router.post(
    "/supervision/plans/{plan_id}/items/{item_id}/results",
    status_code=201,
    summary="Record the on-site checklist result of one enterprise (append-only)",
)
def post_plan_result(
    request: Request, scope: CurrentScope, plan_id: int, item_id: int, body: PlanResultIn
) -> dict[str, Any]:
    return out(add_plan_result(request, scope, plan_id, item_id, body))  # type: ignore[no-any-return]


# ---- spot tests ----


def list_draws(request: Request, scope: Scope, region: str | None, year: int | None) -> list[dict[str, Any]]:
    where = _narrow(scope, region)
    with engine_of(request).connect() as conn:
        return st.list_draws(conn, where, year=year)


@router.get("/spot-tests", summary="Yearly manual spot-test draws (SX-23) with their coverage")
def get_draws(
    request: Request,
    scope: CurrentScope,
    region: Annotated[str | None, Query(description="a city (4 digits) or county (6)")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
) -> dict[str, Any]:
    return {"draws": out(list_draws(request, scope, region, year))}


class DrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: str = Field(description="a city (4 digits, e.g. 3301) or a county (6)")
    year: int = Field(ge=2000, le=2200, description="the current year or the next")


def make_draw(request: Request, scope: Scope, body: DrawIn) -> dict[str, Any]:
    region = require_own_region(scope, body.region)
    with engine_of(request).begin() as conn:
        return st.draw(conn, region, body.year, settings_of(request), scope.principal.name, utcnow())


@router.post(
    "/spot-tests", summary="Draw the year's spot-test list (201; 200 with already when drawn before)"
)
def post_draw(request: Request, scope: CurrentScope, body: DrawIn, response: Response) -> Any:
    made = make_draw(request, scope, body)
    response.status_code = 200 if made["already"] else 201
    return out(made)


def draw_detail(request: Request, scope: Scope, draw_id: int) -> dict[str, Any]:
    require_reader(scope)
    with engine_of(request).connect() as conn:
        found = st.get_draw(conn, draw_id)
        if not sees_region(scope, found["region_code"]):
            raise NotFound(f"no spot-test draw with id {draw_id}")
        again = st.redo(conn, draw_id)
    return found | {
        "redo": {"same": again.same, "ids": again.ids, "population": again.population},
        "limit_pct": settings_of(request).spot_test_max_error_pct,
    }


@router.get("/spot-tests/{draw_id}", summary="One draw: drawn points, results, coverage, redo check")
def get_draw(request: Request, scope: CurrentScope, draw_id: int) -> dict[str, Any]:
    return out(draw_detail(request, scope, draw_id))  # type: ignore[no-any-return]


class ValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factor: str = Field(max_length=32, description="HJ 212 factor code, e.g. a21026")
    manual: str = Field(max_length=40, description="the manual (lab) value, exact decimal text")
    automatic: str | None = Field(
        default=None, max_length=40, description="the automatic value; absent: the platform's daily value"
    )
    unit: str = Field(default="", max_length=32)


class SpotResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tested_on: date
    agency: str = Field(max_length=4000, description="who did the manual test")
    report_no: str = Field(max_length=100)
    values: list[ValueIn] = Field(max_length=50)
    note: str = Field(default="", max_length=4000)
    supersedes_id: int | None = None


def spot_values(values: list[ValueIn]) -> list[st.Value]:
    return [
        st.Value(
            v.factor,
            st.decimal_of(v.manual, f"the manual value of {v.factor}"),
            None
            if v.automatic in (None, "")
            else st.decimal_of(v.automatic, f"the automatic value of {v.factor}"),
            v.unit,
        )
        for v in values
    ]


def add_spot_result(
    request: Request, scope: Scope, draw_id: int, item_id: int, body: SpotResultIn
) -> dict[str, Any]:
    scope.require_write("supervision")
    draw_detail(request, scope, draw_id)
    with engine_of(request).begin() as conn:
        if st.item_row(conn, item_id)["draw_id"] != draw_id:
            raise NotFound(f"no item {item_id} in spot-test draw {draw_id}")
        return st.record_result(
            conn, settings_of(request), item_id, tested_on=body.tested_on, agency=body.agency,
            report_no=body.report_no, values=spot_values(body.values), note=body.note,
            supersedes_id=body.supersedes_id, by=scope.principal.name, now=utcnow(),
        )  # fmt: skip


@router.post(
    "/spot-tests/{draw_id}/items/{item_id}/results",
    status_code=201,
    summary="Record the manual test of one drawn point (append-only)",
)
def post_spot_result(
    request: Request, scope: CurrentScope, draw_id: int, item_id: int, body: SpotResultIn
) -> dict[str, Any]:
    return out(add_spot_result(request, scope, draw_id, item_id, body))  # type: ignore[no-any-return]
