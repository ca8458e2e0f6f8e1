"""Sampling plans (采样计划, WZ-A2-6): REST API.

A plan says in advance what a testing agency will sample: enterprise, point (with its position, the
on-site check measures from it), items with containers and preservation requirements, the window the
on-site entries must fall in, and the team. The facts that must be captured on site — sampling time,
sampler, appearance, preservative — are refused in a plan (422 citing WZ-A2-6): they come with the on-site
entry (``POST /api/v1/sampling/samples``).

Who: plans are written (``sampling``) by admin and by an agency for itself; read by admin, the agency, the
regulators of its region and the enterprise sampled (404 outside, exactly as for a missing plan);
operators, field staff and auditors get 403. The enterprises to plan for (registry master data, public
anyway) are listed for admin, agencies and regulators (their region).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import Connection, func, or_, select

from envwatch.core.clock import utcnow
from envwatch.registry.agencies_schema import agencies, agency_staff
from envwatch.registry.schema import enterprises, outlets
from envwatch.sampling.plans import PlanDraft, PlanItemDraft, create_plan, list_plans
from envwatch.sampling.schema import samples, sampling_plan_items
from envwatch.web.api.common import engine_of, jsonable, parse_time
from envwatch.web.api.sampling_checks import moment_required, names_of, require_reader
from envwatch.web.api.sampling_common import (
    own_agency,
    require_plan,
    visible_agency_ids,
    visible_enterprise_ids,
)
from envwatch.web.scope import CurrentScope

router = APIRouter(prefix="/api/v1/sampling", tags=["sampling"])

# what WZ-A2-6 says must be entered on site, never in advance: a plan carrying any of these is refused
ON_SITE_ONLY: Final = ("sampled_at", "sampler", "sampler_staff_id", "appearance", "preservative")
ENTERPRISE_LIMIT: Final = 200


def _refuse_on_site_fields(data: Any) -> Any:
    if isinstance(data, dict):
        given = [key for key in ON_SITE_ONLY if key in data]
        if given:
            raise PydanticCustomError(
                "on_site_only",
                "{fields} must be entered on site, never in advance (WZ-A2-6): a plan holds enterprise, "
                "point, items, containers, preservation requirements, window and team",
                {"fields": ", ".join(given)},
            )
    return data


class PlanItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(description="监测项目, e.g. 化学需氧量")
    container: str = Field(description="容器, e.g. 500 mL 玻璃瓶")
    preservation: str = Field(default="", description="保存要求 of the method (not the preservative added)")
    quantity: int = Field(default=1, description="containers planned (1-100)")

    _on_site = model_validator(mode="before")(_refuse_on_site_fields)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency_id: int | None = Field(default=None, description="admin: the agency; an agency plans for itself")
    enterprise_id: int
    outlet_id: int | None = Field(default=None, description="the outlet sampled; its position by default")
    point_name: str = Field(description="采样点位, e.g. 1号废水总排放口")
    latitude: Decimal | None = Field(default=None, description="of the point (WGS-84); default the outlet's")
    longitude: Decimal | None = None
    window_start: str = Field(description="on-site entries accepted from (ISO 8601; no offset = China time)")
    window_end: str = Field(description="… until (exclusive); at most 31 days after the start")
    team: list[int] = Field(description="agency staff ids of the sampling team")
    items: list[PlanItemIn]
    note: str = ""

    _on_site = model_validator(mode="before")(_refuse_on_site_fields)


# ---- answers ----


def _items_of(conn: Connection, plan_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The items of many plans at once, each with how many samples were registered against it."""
    if not plan_ids:
        return {}
    counts: dict[int, int] = dict(
        conn.execute(
            select(samples.c.plan_item_id, func.count())
            .where(samples.c.plan_id.in_(plan_ids))
            .group_by(samples.c.plan_item_id)
        ).all()
    )
    found: dict[int, list[dict[str, Any]]] = {pid: [] for pid in plan_ids}
    rows = conn.execute(
        select(sampling_plan_items)
        .where(sampling_plan_items.c.plan_id.in_(plan_ids))
        .order_by(sampling_plan_items.c.id)
    ).mappings()
    for row in rows:
        found[row["plan_id"]].append(dict(row) | {"registered": counts.get(row["id"], 0)})
    return found


def plans_out(conn: Connection, plans: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plans with their items and the names of agency, enterprise and team (one query each)."""
    items = _items_of(conn, [p["id"] for p in plans])
    agency_names = names_of(conn, agencies, {p["agency_id"] for p in plans})
    enterprise_names = names_of(conn, enterprises, {p["enterprise_id"] for p in plans})
    people = {
        row.id: {"id": row.id, "name": row.name, "position": row.position}
        for row in conn.execute(
            select(agency_staff.c.id, agency_staff.c.name, agency_staff.c.position).where(
                agency_staff.c.id.in_(sorted({s for p in plans for s in p["team"]}))
            )
        )
    }
    out = []
    for plan in plans:
        row = jsonable({k: v for k, v in plan.items() if k != "items"})
        row["agency_name"] = agency_names.get(plan["agency_id"])
        row["enterprise_name"] = enterprise_names.get(plan["enterprise_id"])
        row["team_members"] = [people[s] for s in plan["team"] if s in people]
        row["items"] = items.get(plan["id"], [])
        out.append(row)
    return out


# ---- enterprises to plan for ----


@router.get("/enterprises", summary="Enterprises and their outlets to plan sampling for (registry data)")
def planning_enterprises(
    request: Request,
    scope: CurrentScope,
    q: Annotated[str | None, Query(description="part of the name or credit code")] = None,
    limit: Annotated[int, Query(ge=1, le=ENTERPRISE_LIMIT)] = 50,
) -> list[dict[str, Any]]:
    if scope.role not in ("admin", "agency", "regulator"):
        raise HTTPException(403, f"role {scope.role} does not plan sampling: no enterprise list")
    query = select(
        enterprises.c.id, enterprises.c.name, enterprises.c.credit_code, enterprises.c.region_code
    ).order_by(enterprises.c.name, enterprises.c.id)
    if q and q.strip():
        needle = q.strip()
        query = query.where(
            or_(
                enterprises.c.name.contains(needle, autoescape=True),
                enterprises.c.credit_code.contains(needle.upper(), autoescape=True),
            )
        )
    if scope.role == "regulator":  # its region (the agency plans anywhere: a client may be far away)
        query = query.where(enterprises.c.id.in_(sorted(scope.enterprise_ids or ())))
    with engine_of(request).connect() as conn:
        found = [dict(r) for r in conn.execute(query.limit(limit)).mappings()]
        by_enterprise: dict[int, list[dict[str, Any]]] = {e["id"]: [] for e in found}
        if by_enterprise:
            rows = conn.execute(
                select(
                    outlets.c.id,
                    outlets.c.enterprise_id,
                    outlets.c.code,
                    outlets.c.name,
                    outlets.c.latitude,
                    outlets.c.longitude,
                )
                .where(outlets.c.enterprise_id.in_(list(by_enterprise)))
                .order_by(outlets.c.code)
            ).mappings()
            for row in rows:
                by_enterprise[row["enterprise_id"]].append(
                    jsonable({k: v for k, v in row.items() if k != "enterprise_id"})
                )
    return [e | {"outlets": by_enterprise[e["id"]]} for e in found]


# ---- plans ----


@router.get("/plans", summary="Sampling plans, newest window first, as the caller may see them")
def plans(
    request: Request,
    scope: CurrentScope,
    open_at: Annotated[
        str | None, Query(description="only plans whose window is open then (ISO 8601)")
    ] = None,
    open_now: Annotated[bool, Query(alias="open", description="only plans whose window is open now")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    require_reader(scope)
    when = utcnow() if open_now else parse_time("open_at", open_at)
    with engine_of(request).connect() as conn:
        rows = list_plans(
            conn,
            agency_ids=visible_agency_ids(scope),
            enterprise_ids=visible_enterprise_ids(scope),
            open_at=when,
            limit=limit,
        )
        return plans_out(conn, [r for r in rows if scope.sees_sample(r)])


@router.post("/plans", status_code=201, summary="Plan sampling (no on-site facts: WZ-A2-6)")
def new_plan(request: Request, body: PlanIn, scope: CurrentScope) -> dict[str, Any]:
    scope.require_write("sampling")
    agency_id = own_agency(scope, body.agency_id)
    draft = PlanDraft(
        agency_id=agency_id,
        enterprise_id=body.enterprise_id,
        outlet_id=body.outlet_id,
        point_name=body.point_name,
        latitude=body.latitude,
        longitude=body.longitude,
        window_start=moment_required("window_start", body.window_start),
        window_end=moment_required("window_end", body.window_end),
        team=body.team,
        items=[PlanItemDraft(i.item, i.container, i.preservation, i.quantity) for i in body.items],
        note=body.note,
    )
    with engine_of(request).begin() as conn:
        plan = create_plan(conn, draft, actor=scope.principal.name, now=utcnow())
        request.state.audit_detail = {"plan": plan["id"]}
        return plans_out(conn, [plan])[0]


@router.get("/plans/{plan_id}", summary="One sampling plan with its items and team")
def one_plan(request: Request, plan_id: int, scope: CurrentScope) -> dict[str, Any]:
    require_reader(scope)
    with engine_of(request).connect() as conn:
        return plans_out(conn, [require_plan(conn, scope, plan_id)])[0]
