"""Sampling REST API over the real app and a real SQLite store: enterprises to plan for, plans (WZ-A2-6),
on-site entries, self-delivered samples, reading samples, custody steps, reviews and photos, per role.

The world (tests/web/sampling_world.py): agency A (温州, 330302) with sampler 张三 (``lab_a``, trained),
receiver 李四 (``lab_a_recv``) and untrained 赵六; agency B (广州, 440103) with 王五 (``lab_b``);
enterprise 甲 in 330302, 乙 in 440103. Labels: test_sampling_labels_api; offline sync:
test_sampling_sync_api; public verification: test_sampling_public_api.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.sampling.codes import parse
from envwatch.sampling.schema import custody_events
from envwatch.web.auth import Principal
from tests.web.sampling_world import API, HOUR, World, iso, ok, refused, world

__all__ = ["world"]  # the fixture

JPEG = b"\xff\xd8\xff\xe0" + b"sampling photo of a seal" * 20


def photo(w: World, who: str = "agency", content: bytes = JPEG) -> str:
    files = {"file": ("seal.jpg", content, "image/jpeg")}
    return ok(w.who(who).post(f"{API}/photos", files=files), 201)["sha256"]  # type: ignore[no-any-return]


def first_item(plan: dict[str, Any]) -> int:
    return int(plan["items"][0]["id"])


# ---- enterprises to plan for ----


def test_enterprises_to_plan_for_follow_the_role(world: World) -> None:
    everything = ok(world.who("admin").get(f"{API}/enterprises"))
    assert {e["id"] for e in everything} == {world.ent_a, world.ent_b}
    a = next(e for e in everything if e["id"] == world.ent_a)
    assert set(a) == {"id", "name", "credit_code", "region_code", "outlets"}
    assert a["outlets"] == [
        {
            "id": world.outlet_a,
            "code": "DW001",
            "name": "废水总排口",
            "latitude": "27.9938",
            "longitude": "120.6994",
        }
    ]
    # an agency plans anywhere (a client may be far away); q matches the name or the credit code
    assert [e["id"] for e in ok(world.who("agency").get(f"{API}/enterprises", params={"q": "永兴"}))] == [
        world.ent_a
    ]
    by_code = ok(world.who("agency").get(f"{API}/enterprises", params={"q": a["credit_code"][-6:].lower()}))
    assert [e["id"] for e in by_code] == [world.ent_a]
    # a regulator its region only
    assert [e["id"] for e in ok(world.who("regulator").get(f"{API}/enterprises"))] == [world.ent_a]
    assert [e["id"] for e in ok(world.who("other_regulator").get(f"{API}/enterprises"))] == [world.ent_b]
    for role in ("enterprise", "operator", "auditor"):
        refused(world.who(role).get(f"{API}/enterprises"), 403, f"role {world.principals()[role].role}")


# ---- plans ----


def test_an_agency_plans_for_itself_with_the_outlets_position(world: World) -> None:
    plan = world.plan()
    assert plan["agency_id"] == world.agency_a and plan["agency_name"] == "温州检测有限公司"
    assert plan["enterprise_name"] == "温州市永兴化工有限公司" and plan["created_by"] == "lab_a"
    assert (plan["latitude"], plan["longitude"]) == ("27.9938", "120.6994")  # the outlet's, exact
    assert plan["window_start"].endswith("+08:00")
    assert [m["name"] for m in plan["team_members"]] == ["张三", "赵六"]
    assert [(i["item"], i["quantity"], i["registered"]) for i in plan["items"]] == [
        ("化学需氧量", 2, 0),
        ("氨氮", 1, 0),
    ]
    assert ok(world.who("agency").get(f"{API}/plans/{plan['id']}")) == plan


def test_who_may_plan(world: World) -> None:
    before = world.counts()
    refused(world.who("admin").post(f"{API}/plans", json=world.plan_body()), 422, "agency_id is required")
    # an agency naming another agency: that one does not exist for it
    refused(
        world.who("agency").post(f"{API}/plans", json=world.plan_body(agency_id=world.agency_b)),
        404,
        f"no testing agency with id {world.agency_b}",
    )
    for role in ("regulator", "enterprise", "operator"):
        refused(
            world.who(role).post(f"{API}/plans", json=world.plan_body()), 403, "may not record sampling plans"
        )
    assert world.counts() == before
    made = world.plan("admin", agency_id=world.agency_b, team=[world.staff["sampler_b"]], enterprise_id=world.ent_b,
                      outlet_id=None, latitude="23.1291", longitude="113.2644")  # fmt: skip
    assert made["agency_id"] == world.agency_b and made["created_by"] == "admin"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"sampled_at": "2026-11-23T10:00:00+08:00"},
            "sampled_at must be entered on site, never in advance (WZ-A2-6)",
        ),
        ({"appearance": "微黄", "sampler": "张三"}, "sampler, appearance must be entered on site"),
        ({"preservative": "硫酸"}, "preservative must be entered on site, never in advance (WZ-A2-6)"),
        (
            {"items": [{"item": "COD", "container": "瓶", "preservative": "硫酸"}]},
            "preservative must be entered",
        ),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_a_plan_never_carries_on_site_facts(world: World, changes: dict[str, Any], words: str) -> None:
    before = world.counts()
    refused(world.who("agency").post(f"{API}/plans", json=world.plan_body(**changes)), 422, words)
    assert world.counts() == before


def test_the_store_refuses_a_bad_plan_with_its_reason(world: World) -> None:
    now = utcnow()
    c = world.who("agency")
    body = world.plan_body(window_start=iso(now + 2 * HOUR), window_end=iso(now + HOUR))
    refused(c.post(f"{API}/plans", json=body), 422, "the window must end after it starts")
    refused(
        c.post(f"{API}/plans", json=world.plan_body(team=[world.staff["sampler_b"]])),
        404,
        f"no staff member with id {world.staff['sampler_b']} at agency {world.agency_a}",
    )
    refused(
        c.post(f"{API}/plans", json=world.plan_body(window_start="tomorrow")), 422, "window_start='tomorrow'"
    )
    refused(
        c.post(f"{API}/plans", json=world.plan_body(outlet_id=None)),
        422,
        "latitude and longitude are required",
    )


def test_plans_are_seen_by_their_agency_its_regulators_and_the_enterprise(world: World) -> None:
    a = world.plan()
    b = world.plan("other_agency", team=[world.staff["sampler_b"]], enterprise_id=world.ent_b, outlet_id=None,
                   latitude="23.1291", longitude="113.2644")  # fmt: skip
    seen = {role: {p["id"] for p in ok(world.who(role).get(f"{API}/plans"))} for role in world.principals()
            if role not in ("operator", "auditor")}  # fmt: skip
    assert seen == {
        "admin": {a["id"], b["id"]},
        "agency": {a["id"]},
        "receiver": {a["id"]},
        "other_agency": {b["id"]},
        "regulator": {a["id"]},
        "other_regulator": {b["id"]},
        "enterprise": {a["id"]},
        "other_enterprise": {b["id"]},
    }
    missing = refused(world.who("other_agency").get(f"{API}/plans/999999"), 404)
    hidden = refused(world.who("other_agency").get(f"{API}/plans/{a['id']}"), 404)
    assert hidden == missing.replace("999999", str(a["id"]))
    assert ok(world.who("enterprise").get(f"{API}/plans/{a['id']}"))["id"] == a["id"]
    for role in ("operator", "auditor"):
        refused(world.who(role).get(f"{API}/plans"), 403, "no access to sampling")
        refused(world.who(role).get(f"{API}/plans/{a['id']}"), 403, "no access to sampling")


def test_open_plans(world: World) -> None:
    now = utcnow()
    current = world.plan()
    later = world.plan(window_start=iso(now + 24 * HOUR), window_end=iso(now + 30 * HOUR))
    c = world.who("agency")
    assert {p["id"] for p in ok(c.get(f"{API}/plans"))} == {current["id"], later["id"]}
    assert [p["id"] for p in ok(c.get(f"{API}/plans", params={"open": "true"}))] == [current["id"]]
    tomorrow = iso(now + 25 * HOUR)
    assert [p["id"] for p in ok(c.get(f"{API}/plans", params={"open_at": tomorrow}))] == [later["id"]]


# ---- on-site entries ----


def test_an_on_site_entry_registers_a_sample_with_its_code(world: World) -> None:
    plan = world.plan()
    sample = world.sample(first_item(plan))
    code = parse(sample["code"])
    assert (code.region_code, code.agency_code, code.seq) == ("330302", "WZJC", 1)
    assert sample["state"] == "registered" and sample["already"] is False and sample["prints"] == 0
    assert sample["sampler_staff_id"] == world.staff["sampler"] and sample["item"] == "化学需氧量"
    assert sample["appearance"] == "微黄 无异味" and sample["needs_review"] is False
    assert sample["sampled_at"].endswith("+08:00")
    assert ok(world.who("agency").get(f"{API}/plans/{plan['id']}"))["items"][0]["registered"] == 1
    # admin names the sampler; without one it is refused
    refused(
        world.who("admin").post(f"{API}/samples", json=world.entry(first_item(plan))),
        422,
        "staff_id is required",
    )
    made = world.sample(first_item(plan), "admin", staff_id=world.staff["sampler"])
    assert made["seq"] == 2 and made["sampler_staff_id"] == world.staff["sampler"]
    # an agency account is its own person
    refused(
        world.who("agency").post(
            f"{API}/samples", json=world.entry(first_item(plan), staff_id=world.staff["untrained"])
        ),
        403,
        "acts as its own staff member only",
    )


def test_on_site_entries_refused_store_nothing(world: World) -> None:
    now = utcnow()
    plan = world.plan()
    early = world.plan(window_start=iso(now + 2 * HOUR), window_end=iso(now + 8 * HOUR))
    before = world.counts()
    c = world.who("agency")
    # entered in advance: the window is not open yet
    refused(
        c.post(f"{API}/samples", json=world.entry(first_item(early))),
        409,
        "cannot be entered in advance (WZ-A2-6)",
    )
    # far from the point
    far = world.entry(first_item(plan), latitude="28.1000", longitude="120.6994")
    refused(c.post(f"{API}/samples", json=far), 409, "from the sampling point", "WZ-A2-6")
    refused(
        c.post(f"{API}/samples", json=world.entry(first_item(plan), latitude=None, longitude=None)),
        422,
        "GPS",
    )
    # a sampler without a valid label-system training
    untrained = world.entry(first_item(plan), staff_id=world.staff["untrained"])
    refused(world.who("admin").post(f"{API}/samples", json=untrained), 409, "赵六", "WZ-A2-5")
    # a sampling time typed ahead
    ahead = world.entry(first_item(plan), sampled_at=iso(now + HOUR))
    refused(c.post(f"{API}/samples", json=ahead), 422, "cannot be entered ahead")
    refused(
        c.post(f"{API}/samples", json=world.entry(first_item(plan), photo_sha256="ab" * 32)),
        422,
        "names no uploaded file",
    )
    refused(
        c.post(f"{API}/samples", json=world.entry(first_item(plan), weather="sunny")), 422, "Extra inputs"
    )
    # another agency's plan item is not there for it; neither may readers enter
    refused(world.who("other_agency").post(f"{API}/samples", json=world.entry(first_item(plan))), 404,
            f"no sampling plan item with id {first_item(plan)}")  # fmt: skip
    for role in ("regulator", "enterprise", "operator"):
        refused(
            world.who(role).post(f"{API}/samples", json=world.entry(first_item(plan))), 403, "may not record"
        )
    assert world.counts() == before


def test_an_unlinked_agency_account_cannot_enter(world: World) -> None:
    plan = world.plan()
    stray = world.as_(Principal("lab_nobody", "agency", agency_id=world.agency_a))
    refused(
        stray.post(f"{API}/samples", json=world.entry(first_item(plan))), 403, "not linked to a staff member"
    )


# ---- self-delivered samples ----


def test_the_receiver_registers_a_self_delivered_sample(world: World) -> None:
    c = world.who("receiver")
    body = {"client_name": "瓯海某电镀厂", "point_name": "车间排口", "item": "总铬", "check_result": "intact",
            "sampled_at": iso(utcnow() - 3 * HOUR), "seal_no": "F-0001"}  # fmt: skip
    sample = ok(c.post(f"{API}/samples/self-delivered", json=body), 201)
    assert sample["self_delivered"] is True and sample["state"] == "handed_over"
    assert sample["client_name"] == "瓯海某电镀厂" and sample["agency_id"] == world.agency_a
    custody = ok(c.get(f"{API}/samples/{sample['code']}"))["custody"]
    assert [(e["event"], e["staff_id"], e["seal_no"]) for e in custody] == [
        ("register_self_delivered", world.staff["receiver"], "F-0001")
    ]
    before = world.counts()
    refused(c.post(f"{API}/samples/self-delivered", json=body | {"check_result": "damaged"}), 409, "WZ-A2-9")
    refused(c.post(f"{API}/samples/self-delivered", json=body | {"check_result": "abnormal", "note": "封条歪"}), 422,
            "a note and a photo")  # fmt: skip
    refused(world.who("admin").post(f"{API}/samples/self-delivered", json=body), 422, "agency_id is required")
    refused(
        world.who("admin").post(f"{API}/samples/self-delivered", json=body | {"agency_id": world.agency_a}),
        422,
        "staff_id is required",
    )
    refused(world.who("regulator").post(f"{API}/samples/self-delivered", json=body), 403)
    assert world.counts() == before
    abnormal = body | {"check_result": "abnormal", "note": "封条歪", "photo_sha256": photo(world, "receiver")}
    assert ok(c.post(f"{API}/samples/self-delivered", json=abnormal), 201)["seq"] == 2


# ---- reading samples ----


def test_samples_are_listed_and_read_within_the_scope(world: World) -> None:
    plan = world.plan()
    a = world.sample(first_item(plan))
    b_plan = world.plan("other_agency", team=[world.staff["sampler_b"]], enterprise_id=world.ent_b, outlet_id=None,
                        latitude="23.1291", longitude="113.2644")  # fmt: skip
    b = world.sample(first_item(b_plan), "other_agency", latitude="23.1292", longitude="113.2645")
    seen = {role: [s["code"] for s in ok(world.who(role).get(f"{API}/samples"))] for role in world.principals()
            if role not in ("operator", "auditor")}  # fmt: skip
    assert seen == {
        "admin": [b["code"], a["code"]],
        "agency": [a["code"]],
        "receiver": [a["code"]],
        "other_agency": [b["code"]],
        "regulator": [a["code"]],
        "other_regulator": [b["code"]],
        "enterprise": [a["code"]],
        "other_enterprise": [b["code"]],
    }
    row = ok(world.who("regulator").get(f"{API}/samples"))[0]
    assert (row["agency_name"], row["enterprise_name"], row["sampler_name"]) == (
        "温州检测有限公司",
        "温州市永兴化工有限公司",
        "张三",
    )
    for role in ("operator", "auditor"):
        refused(world.who(role).get(f"{API}/samples"), 403, "no access to sampling")
        refused(world.who(role).get(f"{API}/samples/{a['code']}"), 403, "no access to sampling")
    # filters
    c = world.who("admin")
    assert [s["code"] for s in ok(c.get(f"{API}/samples", params={"plan_id": plan["id"]}))] == [a["code"]]
    assert ok(c.get(f"{API}/samples", params={"state": "labelled"})) == []
    assert len(ok(c.get(f"{API}/samples", params={"state": "registered", "needs_review": "false"}))) == 2
    assert ok(c.get(f"{API}/samples", params={"from": iso(utcnow() + HOUR)})) == []
    assert len(ok(c.get(f"{API}/samples", params={"to": iso(utcnow() + HOUR)}))) == 2
    refused(c.get(f"{API}/samples", params={"state": "lost"}), 422, "state 'lost' is unknown")


def test_one_sample_by_code_lowercase_or_url_and_404_outside(world: World) -> None:
    a = world.sample(first_item(world.plan()))
    code = a["code"]
    detail = ok(world.who("agency").get(f"{API}/samples/{code.lower()}"))
    assert detail["code"] == code and detail["next"] == ["print_label"] and detail["can_act"] is True
    assert detail["agency_name"] == "温州检测有限公司" and detail["sampler_name"] == "张三"
    assert detail["verify_url"] == f"{world.settings.public_base_url}/v/{code}"
    assert [(e["event"], e["to_state"], e["staff_name"]) for e in detail["custody"]] == [
        ("register", "registered", "张三")
    ]
    assert detail["custody"][0]["latitude"] == "27.9940" and detail["custody"][0]["distance_m"] > 0
    url = quote(detail["verify_url"], safe="")
    assert ok(world.who("agency").get(f"{API}/samples/{url}"))["code"] == code
    seen = ok(world.who("enterprise").get(f"{API}/samples/{code}"))
    assert seen["can_act"] is False and seen["can_review"] is False
    # outside the scope: exactly as a code never issued
    unknown = code[:-8] + "ZZZZZZ-0"
    missing = refused(world.who("other_agency").get(f"{API}/samples/{unknown}"), 404)
    for role in ("other_agency", "other_regulator", "other_enterprise"):
        assert refused(world.who(role).get(f"{API}/samples/{code}"), 404) == missing.replace(unknown, code)


# ---- custody steps ----


def test_the_chain_of_custody_step_by_step(world: World) -> None:
    code = world.sample(first_item(world.plan()))["code"]
    printed = world.who("agency").post(f"{API}/samples/{code}/label", json={})
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF"), printed.text
    sampler = world.who("agency")
    step = f"{API}/samples/{code}/steps"
    refused(sampler.post(f"{step}/dispatch", json={"preservation": {"frozen": True}}), 422, "not frozen")
    dispatched = ok(
        sampler.post(f"{step}/dispatch", json={"preservation": {"cold": True, "dark": True}}), 201
    )
    assert (dispatched["event"], dispatched["to_state"], dispatched["code"]) == (
        "dispatch",
        "in_transport",
        code,
    )
    assert dispatched["details"] == {"preservation": {"cold": True, "dark": True, "shockproof": False}}
    # the sampler cannot hand over to themself
    refused(
        sampler.post(f"{step}/hand_over", json={"check_result": "intact"}),
        409,
        "the sampler cannot take over",
    )
    receiver = world.who("receiver")
    refused(
        receiver.post(f"{step}/hand_over", json={"check_result": "abnormal", "note": "封条松动"}),
        422,
        "a note and a photo",
    )
    refused(receiver.post(f"{step}/receive", json={}), 409, "receive is not allowed in state in_transport")
    evidence = photo(world, "receiver")
    handed = ok(receiver.post(f"{step}/hand_over",
                              json={"check_result": "abnormal", "note": "封条松动", "photo_sha256": evidence}), 201)  # fmt: skip
    assert (handed["to_state"], handed["check_result"], handed["photo_sha256"]) == (
        "handed_over",
        "abnormal",
        evidence,
    )
    for name, body in (
        ("receive", {}),
        ("open", {"check_result": "intact"}),
        ("analyse", {}),
        ("dispose", {"note": "按规程处置"}),
    ):
        ok(receiver.post(f"{step}/{name}", json=body), 201)
    detail = ok(receiver.get(f"{API}/samples/{code}"))
    assert detail["state"] == "disposed" and detail["next"] == []
    assert [e["event"] for e in detail["custody"]] == [
        "register", "print_label", "dispatch", "hand_over", "receive", "open", "analyse", "dispose"
    ]  # fmt: skip


def test_steps_refused_by_role_scope_and_input(world: World) -> None:
    code = world.sample(first_item(world.plan()))["code"]
    step = f"{API}/samples/{code}/steps"
    before = world.counts()
    refused(
        world.who("agency").post(f"{step}/print_label", json={}),
        422,
        "POST /api/v1/sampling/samples/{code}/label",
    )
    refused(world.who("agency").post(f"{step}/teleport", json={}), 422, "unknown step 'teleport'")
    refused(
        world.who("agency").post(f"{step}/dispatch", json={}),
        409,
        "dispatch is not allowed in state registered",
    )
    refused(world.who("agency").post(f"{step}/dispatch", json={"photo_sha256": "nothex"}), 422, "SHA-256")
    refused(world.who("admin").post(f"{step}/dispatch", json={}), 422, "staff_id is required")
    refused(world.who("enterprise").post(f"{step}/dispatch", json={}), 403, "may not record")
    refused(world.who("regulator").post(f"{step}/dispatch", json={}), 403, "may not record")
    refused(world.who("other_agency").post(f"{step}/dispatch", json={}), 404, f"no sample with code {code}")
    refused(
        world.who("other_enterprise").post(f"{step}/dispatch", json={}), 404, f"no sample with code {code}"
    )
    refused(world.who("operator").post(f"{step}/dispatch", json={}), 403, "no access to sampling")
    assert world.counts() == before


# ---- reviews of flagged entries ----


def test_a_regulator_reviews_an_offline_entry(world: World) -> None:
    plan = world.plan()
    flagged = world.sample(first_item(plan), device_at=iso(utcnow() - timedelta(minutes=30)), offline=True)
    assert flagged["needs_review"] is True
    code = flagged["code"]
    assert [
        s["code"] for s in ok(world.who("regulator").get(f"{API}/samples", params={"needs_review": "true"}))
    ] == [code]
    assert ok(world.who("regulator").get(f"{API}/samples/{code}"))["can_review"] is True
    refused(
        world.who("agency").post(f"{API}/samples/{code}/review", json={"outcome": "accepted"}), 403, "review"
    )
    refused(
        world.who("other_regulator").post(f"{API}/samples/{code}/review", json={"outcome": "accepted"}), 404
    )
    refused(
        world.who("regulator").post(f"{API}/samples/{code}/review", json={"outcome": "questioned"}),
        422,
        "review note",
    )
    refused(world.who("regulator").post(f"{API}/samples/{code}/review", json={"outcome": "fine"}), 422)
    review = ok(
        world.who("regulator").post(
            f"{API}/samples/{code}/review", json={"outcome": "accepted", "note": "断网"}
        ),
        201,
    )
    assert (review["event"], review["details"], review["actor"]) == (
        "review",
        {"outcome": "accepted"},
        "reg_wz",
    )
    assert ok(world.who("agency").get(f"{API}/samples/{code}"))["needs_review"] is False
    refused(
        world.who("regulator").post(f"{API}/samples/{code}/review", json={"outcome": "accepted"}),
        409,
        "no entry waiting",
    )


# ---- photos ----


def test_photos_go_to_the_blob_store(world: World) -> None:
    sha = photo(world)
    assert sha == hashlib.sha256(JPEG).hexdigest()
    assert BlobStore.from_settings(world.settings).get(sha) == JPEG
    c = world.who("agency")
    refused(c.post(f"{API}/photos", files={"file": ("a.txt", b"hello", "text/plain")}), 422, "image/jpeg")
    refused(
        c.post(f"{API}/photos", data={"note": "x"}, files={"other": ("a.jpg", JPEG, "image/jpeg")}),
        422,
        "field 'file'",
    )
    refused(c.post(f"{API}/photos", json={"file": "x"}), 422, "multipart/form-data")
    for role in ("regulator", "enterprise", "operator"):
        refused(world.who(role).post(f"{API}/photos", files={"file": ("a.jpg", JPEG, "image/jpeg")}), 403)
    with world.engine.connect() as conn:
        assert conn.execute(select(custody_events.c.id)).first() is None  # uploading records nothing
