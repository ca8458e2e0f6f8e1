"""The archive checks API (/api/v1/evidence/checks, storage, self-inspections) over the real app: what each
role sees of the findings, who may check storage, draw and record outcomes, and the 404s outside a scope.

Samples come from the sampling API (tests/web/sampling_world.py); video records are inserted as rows (the
upload is another module's)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from envwatch.core.clock import to_china, utcnow
from envwatch.evidence.schema import video_records
from tests.web.sampling_world import World, ok, refused
from tests.web.sampling_world import world as world  # the fixture

API = "/api/v1/evidence"
HOUR = timedelta(hours=1)


def video(
    w: World, agency: int, enterprise: int, end: datetime, archived: datetime, stage: str = "transport"
) -> int:
    with w.engine.begin() as conn:
        return int(
            conn.execute(
                insert(video_records)
                .values(
                    blob_sha256="c" * 64, size=10, media_type="video/mp4", file_name="v.mp4", stage=stage,
                    agency_id=agency, enterprise_id=enterprise, plan_id=None,
                    recorded_start=end - timedelta(minutes=5), recorded_end=end, landmark="", device_numbers=[],
                    annotation="", uploaded_by="t", archived_at=archived,
                )
                .returning(video_records.c.id)
            ).scalar_one()
        )  # fmt: skip


@pytest.fixture
def story(world: World) -> Iterator[dict[str, Any]]:
    """A job of agency A at 甲 without video (due), a late video of A at 甲 and one of B at 乙."""
    now = utcnow()
    plan = world.plan()
    code = world.sample(plan["items"][0]["id"])["code"]
    late_a = video(world, world.agency_a, world.ent_a, now - 100 * HOUR, now - 20 * HOUR)
    late_b = video(world, world.agency_b, world.ent_b, now - 100 * HOUR, now - 20 * HOUR)
    today = to_china(now).date()
    query = f"from={(today - timedelta(days=9)).isoformat()}&to={(today + timedelta(days=1)).isoformat()}"
    yield {"code": code, "late_a": late_a, "late_b": late_b, "query": query, "plan": plan}


def _found(w: World, who: str, query: str) -> set[tuple[str, str]]:
    body = ok(w.who(who).get(f"{API}/checks?{query}"))
    return {(f["kind"], f["subject"]) for g in body["rules"] for f in g["findings"]}


def test_each_role_sees_its_findings(world: World, story: dict[str, Any]) -> None:
    q = story["query"]
    job = ("due", f"plan {story['plan']['id']} on {to_china(utcnow()).date().isoformat()}")
    a, b = ("late", f"video {story['late_a']}"), ("late", f"video {story['late_b']}")
    assert _found(world, "admin", q) == {job, a, b}
    assert _found(world, "agency", q) == {job, a}
    assert _found(world, "other_agency", q) == {b}
    assert _found(world, "regulator", q) == {job, a}
    assert _found(world, "other_regulator", q) == {b}
    assert _found(world, "enterprise", q) == {job, a}
    assert _found(world, "other_enterprise", q) == {b}
    assert _found(world, "admin", q + f"&agency_id={world.agency_b}") == {b}
    assert _found(world, "agency", q + f"&agency_id={world.agency_b}") == set()
    refused(world.who("operator").get(f"{API}/checks?{q}"), 403, "may not read the archive checks")
    refused(world.who("auditor").get(f"{API}/checks"), 403)
    body = ok(world.who("admin").get(f"{API}/checks?{q}"))
    assert [(g["rule"], g["count"], g["pending"]) for g in body["rules"]] == [
        ("WZ-A1-13", 2, 1),
        ("WZ-A1-5", 0, 0),
        ("WZ-A2-8", 0, 0),
    ]
    late = next(f for f in body["rules"][0]["findings"] if f["kind"] == "late")
    assert (
        late["evidence"]["late_by_s"] == 8 * 3600 and "8.0 h later than the 72 h allowed" in late["message"]
    )
    refused(world.who("admin").get(f"{API}/checks?from=2026-01-02"), 422, "give both from and to")


def test_storage_is_checked_by_admin_and_read_by_the_archive(world: World) -> None:
    refused(world.who("agency").post(f"{API}/storage/check"), 403, "role agency may not make checkpoints")
    assert ok(world.who("regulator").get(f"{API}/storage")) == {"latest": None, "checks": []}
    made = ok(world.who("admin").post(f"{API}/storage/check"), 201)
    assert made["level"] in ("ok", "warn", "critical") and made["target"].startswith("local:")
    assert 0 < made["percent"] <= 100
    seen = ok(world.who("agency").get(f"{API}/storage"))
    assert seen["latest"]["id"] == made["id"] and len(seen["checks"]) == 1
    refused(world.who("enterprise").get(f"{API}/storage"), 403, "may not read the storage checks")
    assert ok(world.who("admin").get(f"{API}/checks"))["storage"]["id"] == made["id"]
    assert ok(world.who("enterprise").get(f"{API}/checks"))["storage"] is None


def test_self_inspection_draw_and_outcomes(world: World) -> None:
    now = utcnow()
    month = to_china(now).strftime("%Y-%m")
    ids = [
        video(world, world.agency_a, world.ent_a, now - timedelta(seconds=1), now - timedelta(seconds=1))
        for _ in range(4)
    ]
    refused(world.who("regulator").post(f"{API}/self-inspections", json={"month": month}), 403)
    made = ok(world.who("agency").post(f"{API}/self-inspections", json={"month": month}), 201)
    assert made["month"] == month and made["population"] == 4 and len(made["item_ids"]) == 3
    assert set(made["item_ids"]) <= set(ids) and made["already"] is False
    again = ok(
        world.who("admin").post(f"{API}/self-inspections", json={"month": month, "agency_id": world.agency_a})
    )
    assert again["id"] == made["id"] and again["already"] is True
    refused(
        world.who("admin").post(
            f"{API}/self-inspections", json={"month": month, "agency_id": world.agency_b}
        ),
        422,
        "nothing to draw",
    )
    refused(world.who("agency").post(f"{API}/self-inspections", json={"month": "2026-13"}), 422, "YYYY-MM")
    refused(
        world.who("agency").post(
            f"{API}/self-inspections", json={"month": month, "agency_id": world.agency_b}
        ),
        404,
    )

    draw = f"{API}/self-inspections/{made['id']}"
    detail = ok(world.who("regulator").get(draw))
    assert detail["redo"]["same"] is True and [i["video_id"] for i in detail["items"]] == made["item_ids"]
    refused(world.who("other_agency").get(draw), 404, f"no self-inspection draw with id {made['id']}")
    refused(world.who("other_regulator").get(draw), 404)
    refused(world.who("enterprise").get(draw), 403)
    item = detail["items"][0]["id"]
    refused(
        world.who("agency").post(f"{draw}/items/{item}/outcome", json={"outcome": "problem"}), 422, "note"
    )
    refused(world.who("regulator").post(f"{draw}/items/{item}/outcome", json={"outcome": "ok"}), 403)
    refused(world.who("other_agency").post(f"{draw}/items/{item}/outcome", json={"outcome": "ok"}), 404)
    refused(world.who("agency").post(f"{draw}/items/999999/outcome", json={"outcome": "ok"}), 404)
    ok(
        world.who("agency").post(
            f"{draw}/items/{item}/outcome", json={"outcome": "problem", "note": "无标志物"}
        ),
        201,
    )
    ok(world.who("admin").post(f"{draw}/items/{item}/outcome", json={"outcome": "ok", "note": "复核"}), 201)
    first = ok(world.who("regulator").get(draw))["items"][0]
    assert [o["outcome"] for o in first["outcomes"]] == ["problem", "ok"] and first["latest"][
        "reviewed_by"
    ] == "admin"

    listed = ok(world.who("regulator").get(f"{API}/self-inspections"))["draws"]
    assert [(d["id"], d["items"], d["reviewed"], d["problems"]) for d in listed] == [(made["id"], 3, 1, 0)]
    assert ok(world.who("other_regulator").get(f"{API}/self-inspections"))["draws"] == []
    assert (
        ok(world.who("admin").get(f"{API}/self-inspections?month={month}&agency_id={world.agency_b}"))[
            "draws"
        ]
        == []
    )
    refused(world.who("operator").get(f"{API}/self-inspections"), 403)
