"""Registering samples: the on-site entry (WZ-A2-6) and self-delivered samples (WZ-A2-4), on a real database.

A refused registration stores nothing (no sample, no event, no sequence number); codes stay unique and
sequences gap-free with many people registering at once (PostgreSQL: separate connections and real
transactions; SQLite: a WAL file with one writer at a time).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import inspect, select, update

from envwatch.core.errors import Conflict, EnvwatchError, InvalidInput, NotFound
from envwatch.registry.agencies_schema import agencies, agency_staff
from envwatch.sampling.codes import parse
from envwatch.sampling.entry import Position
from envwatch.sampling.plans import PlanDraft, PlanItemDraft, create_plan
from envwatch.sampling.schema import custody_events, sample_code_days, samples
from tests.sampling.conftest import PHOTO, SamplingWorld, add_agency_staff, add_training

ON_SITE_FACTS = {"sampled_at", "sampler_staff_id", "appearance", "preservative"}


def events_of(world: SamplingWorld, sample_id: int) -> list[dict[str, Any]]:
    with world.engine.connect() as conn:
        query = (
            select(custody_events)
            .where(custody_events.c.sample_id == sample_id)
            .order_by(custody_events.c.seq)
        )
        return [dict(r) for r in conn.execute(query).mappings()]


def refused_storing_nothing(
    world: SamplingWorld, kind: type[EnvwatchError], match: str, **changes: Any
) -> str:
    """Register an entry with ``changes``: refused with ``kind``, and nothing was stored."""
    with world.engine.connect() as conn:
        before = world.counts(conn)
    with pytest.raises(kind, match=match) as refused, world.engine.begin() as conn:
        world.register(conn, world.entry(**changes))
    with world.engine.connect() as conn:
        assert world.counts(conn) == before
    return refused.value.message


# --- the on-site entry ----------------------------------------------------------------------------


def test_on_site_entry_stores_the_sample_its_code_and_first_event(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    position = Position(world.site.latitude + Decimal("0.001"), world.site.longitude)  # about 111 m north
    device_at = world.now - timedelta(seconds=30)
    with world.engine.begin() as conn:
        sample = world.register(conn, world.entry(device_at=device_at, position=position, seal_no=" F-0001 "))
    code = parse(sample["code"])
    assert (code.region_code, code.agency_code, code.day, code.seq) == ("330302", "WZJC", world.now.date(), 1)
    with world.engine.connect() as conn:
        row = dict(conn.execute(select(samples).where(samples.c.id == sample["id"])).mappings().one())
        issued = conn.execute(select(sample_code_days.c.issued)).scalar_one()
    assert issued == 1
    assert row | {"id": 0, "created_at": None} == {
        "id": 0,
        "code": sample["code"],
        "agency_id": world.agency,
        "issue_day": world.now.date(),
        "seq": 1,
        "plan_id": world.plan["id"],
        "plan_item_id": world.items["cod"],
        "self_delivered": False,
        "enterprise_id": world.enterprises["jia"],
        "client_name": "",
        "point_name": "1号排口 采样口",
        "item": "化学需氧量",
        "container": "500 mL 玻璃瓶",
        "sampled_at": world.now,  # online: the server's time
        "sampler_staff_id": world.staff["chen"],
        "appearance": "无色透明",
        "preservative": "H2SO4, pH<2",
        "state": "registered",
        "prints": 0,
        "needs_review": False,
        "last_seq": 1,
        "created_at": None,
        "entry_id": None,
    }
    [event] = events_of(world, sample["id"])
    assert event["seq"] == 1 and event["event"] == "register"
    assert (event["from_state"], event["to_state"]) == (None, "registered")
    assert (event["actor"], event["staff_id"]) == ("chen", world.staff["chen"])
    assert event["at"] == world.now and event["device_at"] == device_at
    assert (event["latitude"], event["longitude"]) == (position.latitude, position.longitude)
    assert 105 <= event["distance_m"] <= 115
    assert event["offline"] is False and event["flags"] == [] and event["seal_no"] == "F-0001"


def test_sequences_count_per_agency_and_china_day(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        first = world.register(conn)
        second = world.register(conn, world.entry(item="nh3", sampler="zhou"))
        late = world.register(conn, now=world.now.replace(hour=8, minute=59))  # 16:59 China time
    assert [parse(s["code"]).seq for s in (first, second, late)] == [1, 2, 3]
    assert len({first["code"], second["code"], late["code"]}) == 3


def test_issue_day_is_the_china_day(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    # 16:30 UTC on the 23rd is 00:30 China time on the 24th
    with world.engine.begin() as conn:
        before = world.register_delivered(conn, now=world.now.replace(hour=15, minute=59))
        after = world.register_delivered(conn, now=world.now.replace(hour=16, minute=30))
    assert before["issue_day"] == parse(before["code"]).day == world.now.date()
    assert after["issue_day"] == parse(after["code"]).day == world.now.date() + timedelta(days=1)
    assert parse(before["code"]).seq == parse(after["code"]).seq == 1  # a new day counts from 1


def test_offline_entry_is_flagged_for_review(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    made = world.now - timedelta(minutes=20)
    with world.engine.begin() as conn:
        sample = world.register(
            conn, world.entry(offline=True, device_at=made), now=world.now + timedelta(hours=30)
        )
    assert sample["needs_review"] is True and sample["sampled_at"] == made
    [event] = events_of(world, sample["id"])
    assert event["offline"] is True and event["flags"] == ["offline"]
    # the code carries the day it was issued (the sync), the sample its sampling time
    assert sample["issue_day"] == (world.now + timedelta(hours=30 + 8)).date()


def test_clock_skew_is_flagged_for_review(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        sample = world.register(conn, world.entry(device_at=world.now - timedelta(minutes=10)))
    assert sample["needs_review"] is True
    assert events_of(world, sample["id"])[0]["flags"] == ["clock_skew"]


def test_an_entry_sent_again_registers_once(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    entry = world.entry(entry_id=" phone-7f3a-0001 ")
    with world.engine.begin() as conn:
        first = world.register(conn, entry)
    with world.engine.connect() as conn:
        before = world.counts(conn)
    with world.engine.begin() as conn:
        again = world.register(
            conn, dataclasses.replace(entry, entry_id="phone-7f3a-0001"), now=world.now + timedelta(minutes=5)
        )
    assert again["already"] is True and again["code"] == first["code"] and again["id"] == first["id"]
    assert "already" not in first
    with world.engine.connect() as conn:
        assert world.counts(conn) == before
    with pytest.raises(Conflict, match="used for another plan item"), world.engine.begin() as conn:
        world.register(conn, world.entry(item="nh3", entry_id="phone-7f3a-0001"))
    with world.engine.begin() as conn:
        other = world.register(conn, world.entry(entry_id="phone-7f3a-0002"))
    assert parse(other["code"]).seq == 2


# --- pre-entry refused (WZ-A2-6) ------------------------------------------------------------------


def test_entry_before_the_window_stores_nothing_and_uses_no_number(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    early = world.plan["window_start"] - timedelta(minutes=1)
    with world.engine.connect() as conn:
        before = world.counts(conn)
    assert before == {"samples": 0, "events": 0, "issued": 0}
    with pytest.raises(Conflict, match="cannot be entered in advance"), world.engine.begin() as conn:
        world.register(conn, world.entry(device_at=early), now=early)
    with world.engine.connect() as conn:
        assert world.counts(conn) == before
        assert conn.execute(select(sample_code_days)).first() is None
    with world.engine.begin() as conn:
        sample = world.register(conn)
    assert parse(sample["code"]).seq == 1  # no number was lost to the refused entry


def test_a_transaction_failing_after_the_code_was_issued_gives_the_number_back(
    sampling_world_any: SamplingWorld,
) -> None:
    world = sampling_world_any
    with pytest.raises(RuntimeError), world.engine.begin() as conn:
        world.register(conn)
        raise RuntimeError("the label printer caught fire")
    with world.engine.begin() as conn:
        assert parse(world.register(conn)["code"]).seq == 1


def test_a_plan_cannot_carry_on_site_facts() -> None:
    names = {f.name for f in dataclasses.fields(PlanDraft)}
    assert names == {
        "agency_id",
        "enterprise_id",
        "point_name",
        "window_start",
        "window_end",
        "team",
        "items",
        "outlet_id",
        "latitude",
        "longitude",
        "note",
    }
    item_names = {f.name for f in dataclasses.fields(PlanItemDraft)}
    assert item_names == {"item", "container", "preservation", "quantity"}
    assert not (names | item_names) & (ON_SITE_FACTS | {"sampler", "sampled", "sampling_time"})


def test_plan_tables_have_no_on_site_columns(sampling_world: SamplingWorld) -> None:
    inspector = inspect(sampling_world.engine)
    for table in ("sampling_plans", "sampling_plan_items"):
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert not columns & ON_SITE_FACTS, table
    assert {c["name"] for c in inspector.get_columns("samples")} >= ON_SITE_FACTS


def test_entry_after_the_window_is_refused(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    closed = world.plan["window_end"]
    with pytest.raises(Conflict, match="window closed"), world.engine.begin() as conn:
        world.register(conn, world.entry(device_at=closed), now=closed)


def test_entry_away_from_the_point_is_refused(sampling_world: SamplingWorld) -> None:
    refused_storing_nothing(
        sampling_world,
        Conflict,
        "from the sampling point",
        position=Position(Decimal("28.0"), Decimal("120.7")),
    )


def test_entry_without_position_is_refused(sampling_world: SamplingWorld) -> None:
    refused_storing_nothing(sampling_world, InvalidInput, "GPS position", position=None)


def test_appearance_is_required(sampling_world: SamplingWorld) -> None:
    refused_storing_nothing(sampling_world, InvalidInput, "appearance", appearance="  ")


# --- who may enter (WZ-A2-5) ----------------------------------------------------------------------


def test_sampler_not_on_the_team_is_refused(sampling_world: SamplingWorld) -> None:
    message = refused_storing_nothing(sampling_world, Conflict, "not on the team", sampler="offteam")
    assert "组外" in message


@pytest.mark.parametrize("who", ["untrained", "expired", "failed", "withdrawn"])
def test_sampler_without_valid_training_is_refused(sampling_world: SamplingWorld, who: str) -> None:
    message = refused_storing_nothing(sampling_world, Conflict, "WZ-A2-5", sampler=who)
    assert "no passed label-system training valid on 2026-11-23" in message


def test_a_corrected_training_counts(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        assert (
            world.register(conn, world.entry(sampler="corrected"))["sampler_staff_id"]
            == world.staff["corrected"]
        )


def test_training_counts_on_the_sampling_day(sampling_world: SamplingWorld) -> None:
    """An offline entry synced after the training lapsed still counts on the day it was made."""
    world = sampling_world
    with world.engine.begin() as conn:
        lapsing = add_agency_staff(conn, world.agency, "到期")
        add_training(conn, lapsing, world.now.date() - timedelta(days=300), world.now.date())
        plan = create_plan(
            conn,
            PlanDraft(
                agency_id=world.agency,
                enterprise_id=world.enterprises["jia"],
                outlet_id=world.outlets["gas"],
                point_name="p",
                window_start=world.now - timedelta(hours=1),
                window_end=world.now + timedelta(days=3),
                team=[lapsing],
                items=[PlanItemDraft("氨氮", "瓶")],
            ),
            actor="planner",
            now=world.now,
        )
    entry = world.entry(plan_item_id=plan["items"][0]["id"], sampler_staff_id=lapsing)
    tomorrow = world.now + timedelta(days=1)
    with world.engine.begin() as conn:
        sample = world.register(conn, dataclasses.replace(entry, offline=True), now=tomorrow)
    assert sample["sampled_at"] == world.now and sample["issue_day"] == tomorrow.date()
    # the same person entering online the next day is refused
    with pytest.raises(Conflict, match="valid on 2026-11-24"), world.engine.begin() as conn:
        world.register(conn, dataclasses.replace(entry, device_at=tomorrow), now=tomorrow)


def test_inactive_sampler_is_refused(sampling_world: SamplingWorld) -> None:
    refused_storing_nothing(sampling_world, InvalidInput, "no longer works for the agency", sampler="left")


def test_staff_of_another_agency_is_not_found(sampling_world: SamplingWorld) -> None:
    refused_storing_nothing(sampling_world, NotFound, "no sampler with staff id", sampler="stranger")


def test_unknown_plan_item_is_not_found(sampling_world: SamplingWorld) -> None:
    refused_storing_nothing(
        sampling_world, NotFound, "no sampling plan item with id 999999", plan_item_id=999999
    )


def test_inactive_agency_cannot_register(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        conn.execute(update(agencies).where(agencies.c.id == world.agency).values(active=False))
    refused_storing_nothing(world, InvalidInput, "温州检测 is inactive")
    with pytest.raises(InvalidInput, match="is inactive"), world.engine.begin() as conn:
        world.register_delivered(conn)


# --- self-delivered samples (自送样品, WZ-A2-4/9) -------------------------------------------------


def delivered_refused(world: SamplingWorld, kind: type[EnvwatchError], match: str, **changes: Any) -> None:
    with world.engine.connect() as conn:
        before = world.counts(conn)
    with pytest.raises(kind, match=match), world.engine.begin() as conn:
        world.register_delivered(conn, world.delivery(**changes))
    with world.engine.connect() as conn:
        assert world.counts(conn) == before


def test_self_delivered_intact_is_registered_at_the_hand_over(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    declared = world.now - timedelta(hours=3)
    with world.engine.begin() as conn:
        sample = world.register_delivered(conn, world.delivery(sampled_at=declared, seal_no="Z-9"))
    assert sample["self_delivered"] is True and sample["state"] == "handed_over" and sample["prints"] == 0
    assert sample["plan_id"] is None and sample["sampler_staff_id"] is None
    assert sample["sampled_at"] == declared and sample["enterprise_id"] == world.enterprises["yi"]
    assert parse(sample["code"]).seq == 1
    [event] = events_of(world, sample["id"])
    assert event["event"] == "register_self_delivered" and event["to_state"] == "handed_over"
    assert event["check_result"] == "intact" and event["staff_id"] == world.staff["receiver"]
    assert event["seal_no"] == "Z-9"


def test_self_delivered_abnormal_needs_note_and_photo(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    delivered_refused(world, InvalidInput, "needs a note and a photo", check_result="abnormal")
    delivered_refused(
        world, InvalidInput, "needs a note and a photo", check_result="abnormal", note="封条起皱"
    )
    delivered_refused(
        world, InvalidInput, "needs a note and a photo", check_result="abnormal", photo_sha256=PHOTO
    )
    delivered_refused(
        world,
        InvalidInput,
        "needs a note and a photo",
        check_result="abnormal",
        note="  ",
        photo_sha256=PHOTO,
    )
    with world.engine.begin() as conn:
        sample = world.register_delivered(
            conn, world.delivery(check_result="abnormal", note="封条起皱", photo_sha256=PHOTO)
        )
    [event] = events_of(world, sample["id"])
    assert (event["check_result"], event["note"], event["photo_sha256"]) == ("abnormal", "封条起皱", PHOTO)


@pytest.mark.parametrize("check", ["damaged", "missing"])
def test_self_delivered_damaged_or_missing_is_refused(sampling_world: SamplingWorld, check: str) -> None:
    delivered_refused(
        sampling_world,
        Conflict,
        f"seal or label {check}: the sample cannot be accepted",
        check_result=check,
        note="破损",
        photo_sha256=PHOTO,
    )


def test_self_delivered_refusals(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    delivered_refused(world, NotFound, "no receiver with staff id", receiver_staff_id=world.staff["stranger"])
    delivered_refused(world, NotFound, "no enterprise with id 4040", enterprise_id=4040)
    delivered_refused(world, InvalidInput, "the client", enterprise_id=None, client_name="")
    delivered_refused(world, InvalidInput, "monitoring item", item=" ")
    delivered_refused(
        world, InvalidInput, "not lie in the future", sampled_at=world.now + timedelta(minutes=1)
    )
    delivered_refused(world, InvalidInput, "UTC offset", sampled_at=world.now.replace(tzinfo=None))
    delivered_refused(world, InvalidInput, "is inactive", agency_id=world.idle_agency)
    delivered_refused(world, NotFound, "no testing agency", agency_id=777)
    with world.engine.begin() as conn:
        conn.execute(
            update(agency_staff).where(agency_staff.c.id == world.staff["receiver"]).values(active=False)
        )
    delivered_refused(world, InvalidInput, "no longer works")


def test_self_delivered_without_enterprise_names_the_client(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        sample = world.register_delivered(conn, world.delivery(enterprise_id=None, client_name=" 某镇政府 "))
    assert sample["enterprise_id"] is None and sample["client_name"] == "某镇政府"


# --- codes unique under concurrency ---------------------------------------------------------------

THREADS = 8
PER_THREAD = 50


def register_concurrently(world: SamplingWorld) -> list[dict[str, Any]]:
    """THREADS x PER_THREAD registrations at once, each in a transaction of its own on its own connection;
    even threads enter on site (two samplers, two items), odd ones register self-delivered samples."""
    start = threading.Barrier(THREADS)

    def work(n: int) -> list[dict[str, Any]]:
        start.wait()
        out = []
        for i in range(PER_THREAD):
            with world.engine.begin() as conn:
                if n % 2:
                    out.append(world.register_delivered(conn, world.delivery(point_name=f"t{n}-{i}")))
                else:
                    entry = world.entry(item=("cod", "nh3")[i % 2], sampler=("chen", "zhou")[n % 4 // 2])
                    out.append(world.register(conn, entry))
        return out

    with ThreadPoolExecutor(THREADS) as pool:
        results = [row for rows in pool.map(work, range(THREADS)) for row in rows]
    return results


def assert_unique_and_gapless(world: SamplingWorld, returned: list[dict[str, Any]]) -> None:
    total = THREADS * PER_THREAD
    assert len(returned) == total
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(samples.c.id, samples.c.code, samples.c.agency_id, samples.c.issue_day, samples.c.seq)
        ).all()
        events = conn.execute(select(custody_events.c.sample_id, custody_events.c.seq)).all()
        issued = conn.execute(select(sample_code_days.c.issued)).scalars().all()
    assert len(rows) == total
    assert len({r.code for r in rows}) == total
    assert len({(r.agency_id, r.issue_day, r.seq) for r in rows}) == total
    assert sorted(r.seq for r in rows) == list(range(1, total + 1))
    assert {r.code for r in rows} == {r["code"] for r in returned}
    for r in rows:  # the sequence in the code is the stored one
        assert parse(r.code).seq == r.seq
    assert issued == [total]
    assert Counter(e.sample_id for e in events) == Counter({r.id: 1 for r in rows})
    assert {e.seq for e in events} == {1}


@pytest.mark.postgres
def test_codes_unique_under_concurrency_postgresql(sampling_world_pg: SamplingWorld) -> None:
    assert_unique_and_gapless(sampling_world_pg, register_concurrently(sampling_world_pg))


def test_codes_unique_under_concurrency_sqlite(sampling_world: SamplingWorld) -> None:
    assert_unique_and_gapless(sampling_world, register_concurrently(sampling_world))
