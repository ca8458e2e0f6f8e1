"""On-site entries sent twice and a phone's offline queue (``POST /api/v1/sampling/samples/sync``): nothing
doubled, nothing lost, answers in input order; two syncs racing with one entry id on SQLite and
PostgreSQL (the loser hits ``uq_samples_entry_id`` and answers "already")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.sampling import registration
from envwatch.sampling.schema import samples
from envwatch.web.auth import Principal
from tests.web.sampling_world import API, HOUR, World, build_world, iso, ok, refused, world

__all__ = ["world"]  # the fixture

SYNC = f"{API}/samples/sync"


def items(w: World) -> tuple[int, int]:
    plan = w.plan()
    return plan["items"][0]["id"], plan["items"][1]["id"]


def queued(w: World, item_id: int, entry_id: str, minutes_ago: int = 20, **changes: Any) -> dict[str, Any]:
    moment = utcnow() - timedelta(minutes=minutes_ago)
    return w.entry(item_id, entry_id=entry_id, offline=True, device_at=iso(moment)) | changes


def stored(engine: Engine) -> list[str | None]:
    with engine.connect() as conn:
        return list(conn.execute(select(samples.c.entry_id).order_by(samples.c.id)).scalars())


def test_an_entry_sent_twice_registers_once(world: World) -> None:
    cod, nh3 = items(world)
    c = world.who("agency")
    first = c.post(f"{API}/samples", json=world.entry(cod, entry_id="phone-1-0001"))
    assert first.status_code == 201 and first.json()["already"] is False
    again = c.post(f"{API}/samples", json=world.entry(cod, entry_id="phone-1-0001", appearance="changed"))
    assert again.status_code == 200, again.text
    assert again.json()["already"] is True and again.json()["code"] == first.json()["code"]
    assert again.json()["appearance"] == "微黄 无异味"  # the first registration stands
    refused(
        c.post(f"{API}/samples", json=world.entry(nh3, entry_id="phone-1-0001")),
        409,
        "used for another plan item",
    )
    assert stored(world.engine) == ["phone-1-0001"]


def test_a_queue_keeps_its_order_and_loses_nothing(world: World) -> None:
    cod, nh3 = items(world)
    future = world.plan(window_start=iso(utcnow() + 2 * HOUR), window_end=iso(utcnow() + 9 * HOUR))
    queue: list[Any] = [
        queued(world, cod, "q-1"),
        queued(world, cod, "q-2", latitude="28.2000"),  # far from the point: refused
        queued(world, nh3, "q-3", minutes_ago=5),
        queued(world, cod, "q-1"),  # the phone sent it twice
        queued(world, future["items"][0]["id"], "q-4", offline=False, device_at=iso(utcnow())),  # in advance
        {"plan_item_id": cod, "appearance": "x", "device_at": iso(utcnow())},  # no entry id
        "not an entry",
        queued(world, cod, "q-5", minutes_ago=80 * 60),  # synced 80 h later: too late
        queued(world, cod, "q-6", photo_sha256="cd" * 32),  # names a photo never uploaded
    ]
    answer = ok(world.who("agency").post(SYNC, json={"entries": queue}))
    results = answer["results"]
    assert [(r["entry_id"], r["status"], r.get("http_status")) for r in results] == [
        ("q-1", "registered", None),
        ("q-2", "refused", 409),
        ("q-3", "registered", None),
        ("q-1", "already", None),
        ("q-4", "refused", 409),
        (None, "refused", 422),
        (None, "refused", 422),
        ("q-5", "refused", 409),
        ("q-6", "refused", 422),
    ]
    assert (answer["registered"], answer["already"], answer["refused"]) == (2, 1, 6)
    assert results[0]["code"] == results[3]["code"] and results[0]["needs_review"] is True  # offline: flagged
    assert "WZ-A2-6" in results[1]["detail"] and "in advance (WZ-A2-6)" in results[4]["detail"]
    assert "entry_id" in results[5]["detail"] and "too late" in results[7]["detail"]
    assert stored(world.engine) == ["q-1", "q-3"]
    # the phone sends its whole queue again after losing the answer: nothing doubles
    again = ok(world.who("agency").post(SYNC, json={"entries": queue}))
    assert [r["status"] for r in again["results"]] == [
        "already", "refused", "already", "already", "refused", "refused", "refused", "refused", "refused"
    ]  # fmt: skip
    assert [r.get("code") for r in again["results"][:4:2]] == [results[0]["code"], results[2]["code"]]
    assert stored(world.engine) == ["q-1", "q-3"]


def test_sync_refusals_for_the_whole_request(world: World) -> None:
    cod, _ = items(world)
    too_many = {"entries": [queued(world, cod, f"m-{n}") for n in range(501)]}
    refused(world.who("agency").post(SYNC, json=too_many), 422)
    for role in ("regulator", "enterprise", "operator"):
        refused(world.who(role).post(SYNC, json={"entries": [queued(world, cod, "r-1")]}), 403)
    stray = world.as_(Principal("lab_nobody", "agency", agency_id=world.agency_a))
    refused(
        stray.post(SYNC, json={"entries": [queued(world, cod, "r-1")]}), 403, "not linked to a staff member"
    )
    # another agency's items are not there for it: refused one by one
    other = ok(world.who("other_agency").post(SYNC, json={"entries": [queued(world, cod, "r-2")]}))
    assert other["results"][0]["http_status"] == 404
    assert stored(world.engine) == []
    assert ok(world.who("agency").post(SYNC, json={"entries": []})) == {
        "results": [], "registered": 0, "already": 0, "refused": 0
    }  # fmt: skip


@pytest.fixture
def any_world(settings: Settings, engine: Engine) -> Iterator[World]:
    yield from build_world(settings, engine)


def test_two_syncs_racing_with_one_entry_register_it_once(
    any_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both requests pass the look-up for the entry id before either inserts (a barrier holds them at the
    code issue): the second insert hits uq_samples_entry_id, is rolled back and answered "already"."""
    w = any_world
    cod, _ = items(w)
    barrier = threading.Barrier(2, timeout=20)
    calls: list[int] = []
    issue = registration.issue_code

    def held(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            barrier.wait()
        return issue(*args, **kwargs)

    monkeypatch.setattr(registration, "issue_code", held)
    body = {"entries": [queued(w, cod, "race-1")]}
    caller = w.who("agency")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: caller.post(SYNC, json=body), range(2)))
    statuses = sorted(ok(a)["results"][0]["status"] for a in answers)
    assert statuses == ["already", "registered"]
    assert len({ok(a)["results"][0]["code"] for a in answers}) == 1
    assert len(calls) == 2  # the loser's retry found the winner's sample before issuing anything
    with w.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(samples)).scalar_one() == 1
