"""Sampling plans (采样计划): what an agency means to sample, where, when and with whom (WZ-A2-6).

A plan may be entered days ahead: enterprise, point, monitoring items, containers, preservation
requirements, the window and the team. What must be captured on site (sampling time, sampler, appearance,
preservative) has no place here; it comes with the on-site entry (:mod:`envwatch.sampling.samples`).

Plans are append-only: a wrong plan is replaced by a new one; an unused plan simply lapses with its window.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, select

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.geo import check_position
from envwatch.core.inputs import text
from envwatch.registry.agencies import get_agency
from envwatch.registry.agencies_schema import agency_staff
from envwatch.registry.schema import enterprises, outlets
from envwatch.sampling.schema import samples, sampling_plan_items, sampling_plans

MAX_WINDOW = timedelta(days=31)
MAX_ITEMS = 100
MAX_QUANTITY = 100


@dataclass(frozen=True, slots=True)
class PlanItemDraft:
    item: str
    container: str
    preservation: str = ""
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class PlanDraft:
    agency_id: int
    enterprise_id: int
    point_name: str
    window_start: datetime
    window_end: datetime
    team: Sequence[int]
    items: Sequence[PlanItemDraft]
    outlet_id: int | None = None
    latitude: Decimal | None = None  # None: the outlet's position
    longitude: Decimal | None = None
    note: str = ""


def _point(conn: Connection, draft: PlanDraft) -> tuple[Decimal, Decimal]:
    if not conn.execute(select(enterprises.c.id).where(enterprises.c.id == draft.enterprise_id)).first():
        raise NotFound(f"no enterprise with id {draft.enterprise_id}")
    lat, lon = draft.latitude, draft.longitude
    if draft.outlet_id is not None:
        outlet = conn.execute(
            select(outlets.c.enterprise_id, outlets.c.latitude, outlets.c.longitude).where(
                outlets.c.id == draft.outlet_id
            )
        ).first()
        if outlet is None or outlet.enterprise_id != draft.enterprise_id:
            raise NotFound(f"no outlet with id {draft.outlet_id} at enterprise {draft.enterprise_id}")
        if lat is None and lon is None:
            lat, lon = outlet.latitude, outlet.longitude
    if lat is None or lon is None:
        raise InvalidInput(
            "the sampling point's latitude and longitude are required (the on-site check measures from them)"
            + ("; the outlet has no position in the registry" if draft.outlet_id is not None else "")
        )
    check_position(lat, lon)
    return lat, lon


def _team(conn: Connection, agency_id: int, team: Sequence[int]) -> list[int]:
    if not team:
        raise InvalidInput("the sampling team needs at least one person (agency staff ids)")
    wanted = list(dict.fromkeys(team))
    rows = conn.execute(
        select(agency_staff.c.id, agency_staff.c.agency_id, agency_staff.c.active).where(
            agency_staff.c.id.in_(wanted)
        )
    ).all()
    found = {r.id: r for r in rows}
    for staff_id in wanted:
        row = found.get(staff_id)
        if row is None or row.agency_id != agency_id:
            raise NotFound(f"no staff member with id {staff_id} at agency {agency_id}")
        if not row.active:
            raise InvalidInput(f"staff member {staff_id} no longer works for the agency (inactive)")
    return wanted


def _items(items: Sequence[PlanItemDraft]) -> list[dict[str, Any]]:
    if not items:
        raise InvalidInput("a plan needs at least one monitoring item")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"a plan holds at most {MAX_ITEMS} items")
    rows = []
    for n, it in enumerate(items, 1):
        if not 1 <= it.quantity <= MAX_QUANTITY:
            raise InvalidInput(f"item {n}: quantity must be 1 to {MAX_QUANTITY} containers")
        rows.append(
            {
                "item": text(it.item, f"item {n}: the monitoring item (监测项目)", limit=100, required=True),
                "container": text(it.container, f"item {n}: the container (容器)", limit=100, required=True),
                "preservation": text(it.preservation, f"item {n}: preservation", limit=200, required=False),
                "quantity": it.quantity,
            }
        )
    return rows


def create_plan(conn: Connection, draft: PlanDraft, *, actor: str, now: datetime) -> dict[str, Any]:
    """Store a plan with its items; InvalidInput / NotFound name the first thing wrong, nothing is stored."""
    agency = get_agency(conn, draft.agency_id)
    if not agency["active"]:
        raise InvalidInput(f"agency {agency['name']} is inactive: it cannot plan sampling")
    if draft.window_start.tzinfo is None or draft.window_end.tzinfo is None:
        raise InvalidInput("the window's times must carry a UTC offset (e.g. 2026-11-23T08:00:00+08:00)")
    if draft.window_end <= draft.window_start:
        raise InvalidInput("the window must end after it starts")
    if draft.window_end - draft.window_start > MAX_WINDOW:
        raise InvalidInput(f"the window may be at most {MAX_WINDOW.days} days long")
    if draft.window_end <= now:
        raise InvalidInput("the window has already ended: plan ahead or for now")
    point_name = text(draft.point_name, "the sampling point (点位)", limit=200, required=True)
    lat, lon = _point(conn, draft)
    team = _team(conn, draft.agency_id, draft.team)
    items = _items(draft.items)
    plan_id = conn.execute(
        insert(sampling_plans)
        .values(
            agency_id=draft.agency_id,
            enterprise_id=draft.enterprise_id,
            outlet_id=draft.outlet_id,
            point_name=point_name,
            latitude=lat,
            longitude=lon,
            window_start=draft.window_start,
            window_end=draft.window_end,
            team=team,
            note=text(draft.note, "the note", limit=2000, required=False),
            created_by=actor,
            created_at=now,
        )
        .returning(sampling_plans.c.id)
    ).scalar_one()
    conn.execute(insert(sampling_plan_items), [{"plan_id": plan_id, **row} for row in items])
    return get_plan(conn, plan_id)


def get_plan(conn: Connection, plan_id: int) -> dict[str, Any]:
    """The plan with its items, each with how many samples were registered against it."""
    row = conn.execute(select(sampling_plans).where(sampling_plans.c.id == plan_id)).mappings().first()
    if row is None:
        raise NotFound(f"no sampling plan with id {plan_id}")
    plan = dict(row)
    registered: dict[int, int] = dict(
        conn.execute(
            select(samples.c.plan_item_id, func.count())
            .where(samples.c.plan_id == plan_id)
            .group_by(samples.c.plan_item_id)
        ).all()
    )
    items = conn.execute(
        select(sampling_plan_items)
        .where(sampling_plan_items.c.plan_id == plan_id)
        .order_by(sampling_plan_items.c.id)
    ).mappings()
    plan["items"] = [dict(it) | {"registered": registered.get(it["id"], 0)} for it in items]
    return plan


def plan_of_item(conn: Connection, item_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plan, item) of a plan item."""
    item = (
        conn.execute(select(sampling_plan_items).where(sampling_plan_items.c.id == item_id))
        .mappings()
        .first()
    )
    if item is None:
        raise NotFound(f"no sampling plan item with id {item_id}")
    plan = conn.execute(select(sampling_plans).where(sampling_plans.c.id == item["plan_id"])).mappings().one()
    return dict(plan), dict(item)


def list_plans(
    conn: Connection,
    *,
    agency_ids: Collection[int] | None,
    enterprise_ids: Collection[int] | None = None,
    open_at: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Plans of the given agencies (None = all) or taken at the given enterprises, newest window first;
    ``open_at``: only those whose window is open then."""
    query = select(sampling_plans).order_by(sampling_plans.c.window_start.desc(), sampling_plans.c.id.desc())
    if agency_ids is not None:
        visible: ColumnElement[bool] = sampling_plans.c.agency_id.in_(list(agency_ids))
        if enterprise_ids:
            visible = visible | sampling_plans.c.enterprise_id.in_(list(enterprise_ids))
        query = query.where(visible)
    if open_at is not None:
        query = query.where(sampling_plans.c.window_start <= open_at, sampling_plans.c.window_end > open_at)
    return [dict(r) for r in conn.execute(query.limit(limit)).mappings()]
