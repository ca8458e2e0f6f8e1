"""Reading samples: one with its custody and next steps, lists with filters, and the public verification
answer (防伪查验), which must name no enterprise, person, place or note."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from envwatch.core.errors import NotFound
from envwatch.sampling.codes import SampleCode, parse
from envwatch.sampling.reads import custody_of, list_samples, sample_detail, sample_row, verification
from envwatch.sampling.schema import samples
from envwatch.sampling.steps import record_reprint, record_review
from tests.sampling.conftest import PHOTO, VIDEO, SamplingWorld, mistyped

PUBLIC_KEYS = {"code", "authentic", "agency", "issued_on", "state", "prints", "custody"}
REFUSED_KEYS = {"code", "authentic", "reason"}


def detail(world: SamplingWorld, code: str) -> dict[str, Any]:
    with world.engine.connect() as conn:
        return sample_detail(conn, code)


def verify(world: SamplingWorld, typed: str) -> dict[str, Any]:
    with world.engine.connect() as conn:
        return verification(conn, typed)


# --- one sample -----------------------------------------------------------------------------------


def test_sample_detail_names_custody_and_next_steps(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    first = detail(world, code)
    assert (first["agency_name"], first["agency_code"]) == ("温州检测", "WZJC")
    assert (first["enterprise_name"], first["sampler_name"]) == ("甲化工", "陈采样")
    assert first["next"] == ["print_label"]
    assert [(e["seq"], e["event"], e["staff_name"]) for e in first["custody"]] == [(1, "register", "陈采样")]
    with world.engine.begin() as conn:
        world.step(conn, code, "print_label", "chen")
    labelled = detail(world, code)
    assert labelled["next"] == ["reprint", "dispatch", "hand_over", "reject"]
    with world.engine.begin() as conn:
        world.step(conn, code, "hand_over", check_result="intact")
    handed = detail(world, code)
    assert handed["state"] == "handed_over"
    assert handed["next"] == ["receive", "reject"]  # print_label is gone once the label was printed
    assert [(e["event"], e["staff_name"]) for e in handed["custody"]] == [
        ("register", "陈采样"),
        ("print_label", "陈采样"),
        ("hand_over", "吴接样"),
    ]


def test_self_delivered_offers_its_first_print_once(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        code = world.register_delivered(conn, world.delivery(enterprise_id=None, client_name="某镇政府"))[
            "code"
        ]
    fresh = detail(world, code)
    assert fresh["next"] == ["print_label", "receive", "reject"]
    assert fresh["enterprise_name"] is None and fresh["sampler_name"] is None
    with world.engine.begin() as conn:
        world.step(conn, code, "print_label")
    assert detail(world, code)["next"] == ["receive", "reject"]


def test_final_states_offer_nothing(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
        world.step(conn, code, "print_label", "chen")
        world.step(conn, code, "reject", check_result="missing", note="丢失")
    assert detail(world, code)["next"] == []


def test_sample_row_finds_what_was_scanned(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    with world.engine.connect() as conn:
        assert sample_row(conn, f" https://envwatch.example.cn/v/{code.lower()} ")["code"] == code
        with pytest.raises(NotFound, match="no sample with code 330302-WZJC-261123-0001-0000AA-X"):
            sample_row(conn, "330302-wzjc-261123-0001-0000aa-x")
        with pytest.raises(NotFound):
            sample_detail(conn, "nonsense")


def test_custody_of_names_no_one_for_a_review(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        sample = world.register(conn, world.entry(offline=True, device_at=world.now - timedelta(minutes=2)))
        record_review(conn, sample["code"], outcome="accepted", note="", actor="regulator", now=world.now)
    with world.engine.connect() as conn:
        chain = custody_of(conn, sample["id"])
    assert [(e["event"], e["staff_name"], e["actor"]) for e in chain] == [
        ("register", "陈采样", "chen"),
        ("review", None, "regulator"),
    ]


# --- lists ----------------------------------------------------------------------------------------


def test_list_samples_filters(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    t = [world.now + timedelta(minutes=m) for m in range(4)]
    with world.engine.begin() as conn:
        a = world.register(conn, now=t[0])["code"]
        b = world.register(conn, world.entry(item="nh3", offline=True, device_at=t[0]), now=t[1])["code"]
        c = world.register_delivered(conn, now=t[2])["code"]  # at 乙, no plan
        d = world.register(conn, now=t[3])["code"]
        world.step(conn, d, "print_label", "chen", now=t[3])

    def codes(**filters: Any) -> list[str]:
        with world.engine.connect() as conn:
            return [r["code"] for r in list_samples(conn, **({"agency_ids": None} | filters))]

    assert codes() == [d, c, b, a]  # newest first
    assert codes(agency_ids=[world.agency]) == [d, c, b, a]
    assert codes(agency_ids=[world.other_agency]) == []
    assert codes(agency_ids=[]) == []
    assert codes(agency_ids=[], enterprise_ids=[world.enterprises["yi"]]) == [c]  # an enterprise's own
    assert codes(agency_ids=[], enterprise_ids=[world.enterprises["jia"]]) == [d, b, a]
    assert codes(agency_ids=[world.other_agency], enterprise_ids=[world.enterprises["yi"]]) == [c]
    assert codes(state="registered") == [b, a]
    assert codes(state="labelled") == [d]
    assert codes(state="handed_over") == [c]
    assert codes(plan_id=world.plan["id"]) == [d, b, a]
    assert codes(needs_review=True) == [b]
    assert codes(needs_review=False) == [d, c, a]
    assert codes(since=t[1]) == [d, c, b]
    assert codes(until=t[1]) == [a]
    assert codes(since=t[1], until=t[3]) == [c, b]
    assert codes(state="registered", needs_review=False, plan_id=world.plan["id"]) == [a]
    assert codes(limit=2) == [d, c]


def test_list_samples_same_time_newest_id_first(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        made = [world.register(conn)["code"] for _ in range(3)]
    with world.engine.connect() as conn:
        assert [r["code"] for r in list_samples(conn, agency_ids=None)] == made[::-1]


# --- public verification --------------------------------------------------------------------------


def _busy_sample(world: SamplingWorld) -> dict[str, Any]:
    """A sample with everything private on it: enterprise, sampler, point, seal number, notes, photo."""
    with world.engine.begin() as conn:
        sample = world.register(
            conn,
            world.entry(
                offline=True,
                device_at=world.now - timedelta(minutes=3),
                seal_no="SEAL-778899",
                note="私密备注甲",
            ),
        )
        code = sample["code"]
        world.step(conn, code, "print_label", "chen", seal_no="SEAL-778899")
        record_reprint(
            conn,
            code,
            staff_id=world.staff["chen"],
            video_sha256=VIDEO,
            reason="私密补打原因",
            actor="chen",
            now=world.now,
        )
        world.step(conn, code, "dispatch", "chen", preservation={"cold": True})
        world.step(conn, code, "hand_over", check_result="abnormal", note="私密异常说明", photo_sha256=PHOTO)
        record_review(conn, code, outcome="questioned", note="私密审核意见", actor="regulator", now=world.now)
    return sample


def test_verification_of_an_authentic_code(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    sample = _busy_sample(world)
    answer = verify(world, f"http://localhost:8000/v/{sample['code'].lower()}")
    assert set(answer) == PUBLIC_KEYS
    assert answer["authentic"] is True and answer["code"] == sample["code"]
    assert answer["agency"] == "温州检测" and answer["issued_on"] == world.now.date()
    assert (answer["state"], answer["prints"]) == ("handed_over", 2)
    assert [(s["event"], s["state"]) for s in answer["custody"]] == [
        ("register", "registered"),
        ("print_label", "labelled"),
        ("reprint", "labelled"),
        ("dispatch", "in_transport"),
        ("hand_over", "handed_over"),
    ]  # the regulator's review is not custody
    assert all(set(s) == {"event", "state", "at"} for s in answer["custody"])
    assert answer["custody"][0]["at"] == world.now


def test_verification_tells_nothing_private(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    sample = _busy_sample(world)
    with world.engine.connect() as conn:
        full = sample_detail(conn, sample["code"])
    text = json.dumps(verify(world, sample["code"]), default=str, ensure_ascii=False)
    private = [
        full["enterprise_name"],
        full["sampler_name"],
        "吴接样",
        full["point_name"],
        "SEAL-778899",
        "私密",
        str(world.site.latitude),
        str(world.site.longitude),
        PHOTO,
        VIDEO,
        "regulator",
        "chen",
        "无色透明",
        "H2SO4",
        "questioned",
        "abnormal",
    ]
    for value in private:
        assert value not in text, value
    for key in (
        "enterprise",
        "sampler",
        "staff",
        "point",
        "note",
        "latitude",
        "longitude",
        "seal",
        "photo",
        "actor",
    ):
        assert key not in text


def test_verification_of_an_unknown_code(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        real = parse(world.register(conn)["code"])
    # the same agency, day and sequence, another random part: a forger's guess
    forged = str(dataclasses.replace(real, random="ZZZZZZ" if real.random != "ZZZZZZ" else "YYYYYY"))
    for code in (forged, str(SampleCode("330302", "WZJC", world.now.date(), 2, "ABCDEF"))):
        answer = verify(world, code)
        assert answer == {
            "code": code,
            "authentic": False,
            "reason": "no sample with this code was ever issued",
        }


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("not a code", "is not a sample code"),
        ("", "is not a sample code"),
        ("330302-WZJC-261123-0001-ABCDEF", "is not a sample code"),
        ("３３０３０２-WZJC-261123-0001-ABCDEF-1", "is not a sample code"),
    ],
)
def test_verification_of_malformed_codes(sampling_world: SamplingWorld, typed: str, reason: str) -> None:
    answer = verify(sampling_world, f" {typed.lower()} ")
    assert set(answer) == REFUSED_KEYS and answer["authentic"] is False
    assert reason in answer["reason"] and answer["code"] == typed.upper()


def test_verification_of_a_mis_checked_code(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    wrong = mistyped(code)
    answer = verify(world, wrong)
    assert set(answer) == REFUSED_KEYS and answer["authentic"] is False
    assert "check character does not match" in answer["reason"]
    # a misread character in the middle is caught too, before any lookup
    misread = code[:14] + ("8" if code[14] != "8" else "9") + code[15:]
    assert "check character" in verify(world, misread)["reason"]
    with world.engine.connect() as conn:
        assert conn.execute(select(samples.c.code)).scalars().all() == [code]
