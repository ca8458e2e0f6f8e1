"""Sampling plans (采样计划, WZ-A2-6): what may be entered ahead, validated before anything is stored."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from envwatch.core.errors import EnvwatchError, InvalidInput, NotFound
from envwatch.registry.agencies_schema import agencies
from envwatch.sampling.plans import (
    MAX_ITEMS,
    MAX_QUANTITY,
    PlanDraft,
    PlanItemDraft,
    create_plan,
    get_plan,
    list_plans,
    plan_of_item,
)
from envwatch.sampling.schema import sampling_plan_items, sampling_plans
from tests.sampling.conftest import SAMPLING_SITE, SamplingWorld, count


def draft(world: SamplingWorld, **changes: Any) -> PlanDraft:
    base = PlanDraft(
        agency_id=world.agency,
        enterprise_id=world.enterprises["jia"],
        point_name="  1号排口  ",
        window_start=world.now + timedelta(days=1),
        window_end=world.now + timedelta(days=1, hours=8),
        team=[world.staff["chen"], world.staff["zhou"]],
        items=[PlanItemDraft(" 化学需氧量 ", "500 mL 玻璃瓶", " H2SO4 ", 2), PlanItemDraft("pH", "聚乙烯瓶")],
        outlet_id=world.outlets["gas"],
    )
    return dataclasses.replace(base, **changes)


def create(world: SamplingWorld, plan: PlanDraft) -> dict[str, Any]:
    with world.engine.begin() as conn:
        return create_plan(conn, plan, actor="planner", now=world.now)


def refused(world: SamplingWorld, kind: type[EnvwatchError], match: str, **changes: Any) -> str:
    """Creating the draft with ``changes`` is refused with ``kind``; no plan or item is stored."""
    with world.engine.connect() as conn:
        before = (count(conn, sampling_plans), count(conn, sampling_plan_items))
    with pytest.raises(kind, match=match) as exc:
        create(world, draft(world, **changes))
    with world.engine.connect() as conn:
        assert (count(conn, sampling_plans), count(conn, sampling_plan_items)) == before
    return exc.value.message


def test_plan_is_stored_with_its_items(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    plan = create(
        world,
        draft(world, note=" 例行监测 ", team=[world.staff["chen"], world.staff["zhou"], world.staff["chen"]]),
    )
    assert plan["point_name"] == "1号排口" and plan["note"] == "例行监测"
    assert (plan["latitude"], plan["longitude"]) == (
        SAMPLING_SITE.latitude,
        SAMPLING_SITE.longitude,
    )  # the outlet's
    assert plan["team"] == [world.staff["chen"], world.staff["zhou"]]  # once each, in order
    assert plan["created_by"] == "planner" and plan["created_at"] == world.now
    assert plan["window_start"] == world.now + timedelta(days=1)
    assert [
        (i["item"], i["container"], i["preservation"], i["quantity"], i["registered"]) for i in plan["items"]
    ] == [
        ("化学需氧量", "500 mL 玻璃瓶", "H2SO4", 2, 0),
        ("pH", "聚乙烯瓶", "", 1, 0),
    ]
    with world.engine.connect() as conn:
        assert get_plan(conn, plan["id"]) == plan


def test_a_point_of_its_own_overrides_the_outlet(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    plan = create(world, draft(world, latitude=Decimal("28.1"), longitude=Decimal("120.8")))
    assert (plan["latitude"], plan["longitude"]) == (Decimal("28.1"), Decimal("120.8"))
    no_outlet = create(
        world, draft(world, outlet_id=None, latitude=Decimal("28.2"), longitude=Decimal("120.9"))
    )
    assert no_outlet["outlet_id"] is None and no_outlet["latitude"] == Decimal("28.2")


def test_unknown_enterprise(sampling_world: SamplingWorld) -> None:
    refused(sampling_world, NotFound, "no enterprise with id 9999", enterprise_id=9999)


def test_outlet_of_another_enterprise(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    message = refused(world, NotFound, "no outlet with id", outlet_id=world.outlets["yi_gas"])
    assert f"at enterprise {world.enterprises['jia']}" in message
    refused(world, NotFound, "no outlet with id 9999", outlet_id=9999)


def test_outlet_without_position_needs_one_given(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    message = refused(
        world, InvalidInput, "latitude and longitude are required", outlet_id=world.outlets["bare"]
    )
    assert "the outlet has no position in the registry" in message
    plan = create(
        world,
        draft(world, outlet_id=world.outlets["bare"], latitude=Decimal("28"), longitude=Decimal("120.7")),
    )
    assert plan["latitude"] == Decimal("28")


def test_point_needs_a_position(sampling_world: SamplingWorld) -> None:
    message = refused(sampling_world, InvalidInput, "latitude and longitude are required", outlet_id=None)
    assert "outlet" not in message
    refused(sampling_world, InvalidInput, "required", outlet_id=None, latitude=Decimal("28"))
    refused(
        sampling_world,
        InvalidInput,
        "latitude 95",
        outlet_id=None,
        latitude=Decimal("95"),
        longitude=Decimal("1"),
    )


def test_team_of_another_agency(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    message = refused(
        world, NotFound, "no staff member with id", team=[world.staff["chen"], world.staff["stranger"]]
    )
    assert str(world.staff["stranger"]) in message
    refused(world, NotFound, "no staff member with id 9999", team=[9999])


def test_inactive_staff_cannot_be_on_the_team(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    refused(
        world, InvalidInput, f"staff member {world.staff['left']} no longer works", team=[world.staff["left"]]
    )


def test_empty_team(sampling_world: SamplingWorld) -> None:
    refused(sampling_world, InvalidInput, "at least one person", team=[])


def test_items(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    refused(world, InvalidInput, "at least one monitoring item", items=[])
    refused(
        world, InvalidInput, f"at most {MAX_ITEMS} items", items=[PlanItemDraft("pH", "瓶")] * (MAX_ITEMS + 1)
    )
    refused(
        world,
        InvalidInput,
        "item 2: quantity",
        items=[PlanItemDraft("pH", "瓶"), PlanItemDraft("pH", "瓶", quantity=0)],
    )
    refused(world, InvalidInput, "quantity", items=[PlanItemDraft("pH", "瓶", quantity=MAX_QUANTITY + 1)])
    refused(world, InvalidInput, "item 1: the monitoring item", items=[PlanItemDraft(" ", "瓶")])
    refused(world, InvalidInput, "item 1: the container", items=[PlanItemDraft("pH", "")])
    refused(world, InvalidInput, "at most 100", items=[PlanItemDraft("x" * 101, "瓶")])
    assert (
        len(create(world, draft(world, items=[PlanItemDraft("pH", "瓶")] * MAX_ITEMS))["items"]) == MAX_ITEMS
    )


def test_point_name_required(sampling_world: SamplingWorld) -> None:
    refused(sampling_world, InvalidInput, "sampling point", point_name="   ")


def test_window(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    start = world.now + timedelta(hours=2)
    refused(world, InvalidInput, "must end after it starts", window_start=start, window_end=start)
    refused(
        world,
        InvalidInput,
        "must end after it starts",
        window_start=start,
        window_end=start - timedelta(hours=1),
    )
    refused(
        world,
        InvalidInput,
        "at most 31 days",
        window_start=start,
        window_end=start + timedelta(days=31, seconds=1),
    )
    create(world, draft(world, window_start=start, window_end=start + timedelta(days=31)))
    refused(
        world,
        InvalidInput,
        "already ended",
        window_start=world.now - timedelta(hours=3),
        window_end=world.now,
    )
    refused(world, InvalidInput, "UTC offset", window_start=start.replace(tzinfo=None))
    refused(world, InvalidInput, "UTC offset", window_end=start.replace(tzinfo=None) + timedelta(hours=1))
    # a window already open is fine: plan for now
    plan = create(
        world,
        draft(
            world, window_start=world.now - timedelta(hours=1), window_end=world.now + timedelta(seconds=1)
        ),
    )
    assert plan["window_end"] == world.now + timedelta(seconds=1)


def test_agency(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    refused(world, NotFound, "no testing agency with id 777", agency_id=777)
    refused(world, InvalidInput, "停业检测 is inactive", agency_id=world.idle_agency, team=[])
    with world.engine.begin() as conn:
        conn.execute(update(agencies).where(agencies.c.id == world.agency).values(active=False))
    refused(world, InvalidInput, "温州检测 is inactive")


def test_items_count_their_registered_samples(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    with world.engine.begin() as conn:
        for item in ("cod", "cod", "nh3"):
            world.register(conn, world.entry(item=item))
        world.register_delivered(conn)  # not of the plan
    with world.engine.connect() as conn:
        plan = get_plan(conn, world.plan["id"])
    assert [(i["item"], i["registered"]) for i in plan["items"]] == [("化学需氧量", 2), ("氨氮", 1)]
    other = create(world, draft(world))
    assert [i["registered"] for i in other["items"]] == [0, 0]


def test_get_plan_and_plan_of_item(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.connect() as conn:
        plan, item = plan_of_item(conn, world.items["nh3"])
        assert plan["id"] == world.plan["id"] and item["item"] == "氨氮" and item["plan_id"] == plan["id"]
        with pytest.raises(NotFound, match="no sampling plan with id 4242"):
            get_plan(conn, 4242)
        with pytest.raises(NotFound, match="no sampling plan item with id 4242"):
            plan_of_item(conn, 4242)


def test_list_plans(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    later = create(world, draft(world))  # tomorrow
    at_yi = create(
        world,
        draft(
            world,
            enterprise_id=world.enterprises["yi"],
            outlet_id=world.outlets["yi_gas"],
            window_start=world.now + timedelta(days=2),
            window_end=world.now + timedelta(days=3),
        ),
    )
    theirs = create(world, draft(world, agency_id=world.other_agency, team=[world.staff["stranger"]]))

    def ids(rows: list[dict[str, Any]]) -> list[int]:
        return [r["id"] for r in rows]

    with world.engine.connect() as conn:
        # newest window first; the same window: the later plan first
        assert ids(list_plans(conn, agency_ids=None)) == [
            at_yi["id"],
            theirs["id"],
            later["id"],
            world.plan["id"],
        ]
        assert ids(list_plans(conn, agency_ids=[world.other_agency])) == [theirs["id"]]
        assert ids(list_plans(conn, agency_ids=[])) == []
        # an enterprise's view: plans at it, whoever made them
        assert ids(list_plans(conn, agency_ids=[], enterprise_ids=[world.enterprises["yi"]])) == [at_yi["id"]]
        assert ids(
            list_plans(conn, agency_ids=[world.other_agency], enterprise_ids=[world.enterprises["yi"]])
        ) == [
            at_yi["id"],
            theirs["id"],
        ]
        assert ids(list_plans(conn, agency_ids=None, open_at=world.now)) == [world.plan["id"]]
        assert ids(list_plans(conn, agency_ids=None, open_at=world.plan["window_end"])) == []
        assert ids(list_plans(conn, agency_ids=None, open_at=world.plan["window_start"])) == [
            world.plan["id"]
        ]
        assert ids(list_plans(conn, agency_ids=None, limit=2)) == [at_yi["id"], theirs["id"]]
