"""Production stops (停产, SX-18.4) on the real stores: the lifecycle table over every pair, submitting before
the start, approval → one reviewed 停产 mark per device, withdrawal, the restart with its marks shortened and
its calibration check, the quarter note. (The regulator of another region is refused at the API:
tests/web/test_om_faults_api.py.)"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import DBAPIError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.monitoring.marking import MarkEffect
from envwatch.monitoring.marks import MarkPolicy
from envwatch.monitoring.marks_schema import mark_reviews, marks
from envwatch.monitoring.marks_store import effective_marks
from envwatch.operations.production_stops import (
    SUBMIT_GRACE,
    StopQuery,
    decide,
    list_stops,
    restarted,
    stop_events_of,
    stop_view,
    submit_stop,
    withdraw,
)
from envwatch.operations.records_schema import field_records
from envwatch.operations.staff_schema import staff
from envwatch.operations.stop_checks import add_months, quarter_note
from envwatch.operations.stop_lifecycle import (
    ENTERPRISE_EVENTS,
    REGULATOR_EVENTS,
    STOP_EVENTS,
    STOP_STATES,
    STOP_TRANSITIONS,
    TERMINAL,
    InvalidTransition,
    next_stop_state,
)
from tests.operations.faults_world import FaultWorld, build, cst

NOW = cst(2025, 10, 20, 12)
H = timedelta(hours=1)
DAY = timedelta(days=1)
START = NOW + DAY  # Tue Oct 21 12:00
END = NOW + 4 * DAY  # Fri Oct 24 12:00

# ---- the table ----

EXPECTED_MOVES = {
    ("submitted", "approved"): "approved",
    ("submitted", "rejected"): "rejected",
    ("submitted", "withdrawn"): "withdrawn",
    ("approved", "withdrawn"): "withdrawn",
    ("approved", "restarted"): "restarted",
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(STOP_STATES, STOP_EVENTS)))
def test_every_pair(state: str, event: str) -> None:
    expected = EXPECTED_MOVES.get((state, event))
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            next_stop_state(state, event)  # type: ignore[arg-type]
        assert info.value.http_status == 409
        allowed = ", ".join(sorted(STOP_TRANSITIONS[state])) or "nothing"  # type: ignore[index]
        assert (
            str(info.value) == f"a production stop that is {state} cannot take '{event}' (allowed: {allowed})"
        )
    else:
        assert next_stop_state(state, event) == expected  # type: ignore[arg-type]


def test_the_table_its_terminal_states_and_who_sends_what() -> None:
    assert set(STOP_TRANSITIONS) == set(STOP_STATES)
    for moves in STOP_TRANSITIONS.values():
        assert set(moves) <= set(STOP_EVENTS) and set(moves.values()) <= set(STOP_STATES)
        assert "submitted" not in moves and "submitted" not in moves.values()
    assert {s for s, moves in STOP_TRANSITIONS.items() if not moves} == TERMINAL
    assert set(STOP_EVENTS) - {"submitted"} == ENTERPRISE_EVENTS | REGULATOR_EVENTS


# ---- the store ----


@pytest.fixture
def world(engine: Engine) -> FaultWorld:
    return build(engine, NOW)


def _submit(engine: Engine, w: FaultWorld, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "enterprise_id": w.jia, "outlet_id": w.outlets["gas_a"], "start_at": START, "end_at": END,
        "reason": "锅炉检修", "by": "ent1", "now": NOW,
    }  # fmt: skip
    fields.update(overrides)
    with engine.begin() as conn:
        return submit_stop(conn, **fields)


def _refused(engine: Engine, error: type[Exception], message: str, call: Any) -> None:
    with pytest.raises(error) as info, engine.begin() as conn:
        call(conn)
    assert str(info.value) == message


def _marks_of(engine: Engine, device_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = select(marks).where(marks.c.device_id == device_id).order_by(marks.c.id)
        return [dict(r) for r in conn.execute(query).mappings()]


def test_submit_before_the_start(engine: Engine, world: FaultWorld) -> None:
    stop = _submit(engine, world)
    assert (stop["state"], stop["start_at"], stop["end_at"], stop["mark_id"]) == (
        "submitted",
        START,
        END,
        None,
    )
    assert stop["outlet_kind"] == "gas" and stop["enterprise_name"] == "甲化工有限公司"
    with engine.connect() as conn:
        (event,) = stop_events_of(conn, stop["id"])
    assert (event["event"], event["comment"], event["recorded_by"]) == ("submitted", "锅炉检修", "ent1")
    # within the grace a start just past is still "before"
    _submit(engine, world, outlet_id=world.outlets["water_a"], start_at=NOW - SUBMIT_GRACE)

    def submitting(**overrides: Any) -> Any:
        fields: dict[str, Any] = {
            "enterprise_id": world.jia, "outlet_id": world.outlets["gas_a"], "start_at": NOW + 10 * DAY,
            "end_at": NOW + 11 * DAY, "reason": "检修", "by": "ent1", "now": NOW,
        }  # fmt: skip
        fields.update(overrides)
        return lambda conn: submit_stop(conn, **fields)

    _refused(
        engine,
        InvalidInput,
        "the stop starts 2025-10-20 11:29 (China time), already past: a production stop is reported and "
        "approved before it starts (SX-18.4); for a stop already under way, mark the period and explain it",
        submitting(start_at=NOW - SUBMIT_GRACE - timedelta(minutes=1)),
    )
    _refused(
        engine,
        InvalidInput,
        "the stop's end 2025-10-30 12:00 (China time) must be after its start 2025-10-30 12:00 (China time)",
        submitting(end_at=NOW + 10 * DAY),
    )
    _refused(
        engine,
        InvalidInput,
        f"outlet {world.outlets['gas_b']} (1号排口) belongs to enterprise {world.yi}, not to enterprise {world.jia}",
        submitting(outlet_id=world.outlets["gas_b"]),
    )
    _refused(engine, NotFound, "no outlet 9999", submitting(outlet_id=9999))
    _refused(engine, NotFound, "no enterprise 9999", submitting(enterprise_id=9999))
    _refused(engine, InvalidInput, "the reason (停产原因) is required", submitting(reason=" "))
    _refused(
        engine,
        Conflict,
        f"outlet {world.outlets['gas_a']} already has production stop {stop['id']} (submitted) from "
        "2025-10-21 12:00 (China time) to 2025-10-24 12:00 (China time), overlapping this one",
        submitting(start_at=END - H, end_at=END + H),
    )
    with engine.connect() as conn:
        assert list_stops(conn, StopQuery())[1] == 2


def test_approval_marks_every_device_of_the_outlet(engine: Engine, world: FaultWorld) -> None:
    stop = _submit(engine, world)
    with engine.begin() as conn:
        after = decide(conn, stop["id"], approve=True, comment="同意", by="reg1", now=NOW)
    assert (after["state"], after["decided_by"], after["decided_at"]) == ("approved", "reg1", NOW)
    made = {d: _marks_of(engine, world.devices[d]) for d in ("gas", "gas2", "water")}
    assert made["water"] == []  # another outlet
    for device in ("gas", "gas2"):
        (mark,) = made[device]
        assert (mark["factor"], mark["start_at"], mark["end_at"], mark["code"], mark["source"], mark["created_by"]) == (
            None, START, END, "no_discharge", "enterprise", "reg1",
        )  # fmt: skip
    assert after["mark_id"] == made["gas"][0]["id"]
    with engine.connect() as conn:
        events = stop_events_of(conn, stop["id"])
        reviews = conn.execute(select(mark_reviews).order_by(mark_reviews.c.id)).mappings().all()
        spans = effective_marks(conn, [world.devices["gas"]], START, END)
    assert events[-1]["data"] == {
        "mark_ids": [made["gas"][0]["id"], made["gas2"][0]["id"]],
        "devices": [
            {"device_id": world.devices["gas"], "mark_ids": [made["gas"][0]["id"]]},
            {"device_id": world.devices["gas2"], "mark_ids": [made["gas2"][0]["id"]]},
        ],
    }
    assert [(r["decision"], r["reviewed_by"], r["note"]) for r in reviews] == [
        ("approved", "reg1", "同意")
    ] * 2
    assert [s.effect for s in spans] == [MarkEffect.EXEMPT]  # the approved stop leaves the rate base
    # decided once
    _refused(
        engine,
        InvalidTransition,
        "a production stop that is approved cannot take 'rejected' (allowed: restarted, withdrawn)",
        lambda conn: decide(conn, stop["id"], approve=False, comment="不同意", by="reg1", now=NOW),
    )


def test_a_long_stop_far_ahead_is_marked_in_pieces(engine: Engine, world: FaultWorld) -> None:
    start, end = NOW + 20 * DAY, NOW + 90 * DAY  # beyond the marks' 7-day future limit, 70 days long
    stop = _submit(engine, world, outlet_id=world.outlets["water_a"], start_at=start, end_at=end)
    with engine.begin() as conn:
        decide(conn, stop["id"], approve=True, comment="", by="reg1", now=NOW)
        view = stop_view(conn, stop["id"], NOW, check_within_days=14)
    span = MarkPolicy().max_span
    made = _marks_of(engine, world.devices["water"])
    assert [(m["start_at"], m["end_at"]) for m in made] == [
        (start, start + span), (start + span, start + 2 * span), (start + 2 * span, end),
    ]  # fmt: skip
    assert [m["id"] for m in view["marks"]] == [m["id"] for m in made]
    assert view["quarter_note"] is None  # a water outlet
    with engine.connect() as conn:
        notes = conn.execute(select(mark_reviews.c.note)).scalars().all()
    assert notes == [f"production stop {stop['id']} approved"] * 3


def test_rejection_needs_a_reason_and_makes_no_mark(engine: Engine, world: FaultWorld) -> None:
    stop = _submit(engine, world)
    _refused(
        engine,
        InvalidInput,
        "the reason for rejecting it is required",
        lambda conn: decide(conn, stop["id"], approve=False, comment="", by="reg1", now=NOW),
    )
    with engine.begin() as conn:
        after = decide(conn, stop["id"], approve=False, comment="材料不全", by="reg1", now=NOW)
    assert after["state"] == "rejected" and after["mark_id"] is None
    assert _marks_of(engine, world.devices["gas"]) == []
    _refused(
        engine,
        NotFound,
        "no production stop 9999",
        lambda conn: decide(conn, 9999, approve=True, comment="", by="r", now=NOW),
    )


def test_withdraw_before_approval_or_before_the_start(engine: Engine, world: FaultWorld) -> None:
    waiting = _submit(engine, world)
    with engine.begin() as conn:
        assert withdraw(conn, waiting["id"], comment="计划取消", by="ent1", now=NOW)["state"] == "withdrawn"
    approved = _submit(engine, world)
    with engine.begin() as conn:
        decide(conn, approved["id"], approve=True, comment="", by="reg1", now=NOW)
        after = withdraw(conn, approved["id"], comment="", by="ent1", now=START - H)
        events = stop_events_of(conn, approved["id"])
    assert after["state"] == "withdrawn"
    gas = _marks_of(engine, world.devices["gas"])
    assert [(m["action"], m["supersedes_id"]) for m in gas] == [("mark", None), ("withdraw", gas[0]["id"])]
    assert events[-1]["data"]["withdrawn_marks"] == [
        gas[1]["id"],
        _marks_of(engine, world.devices["gas2"])[1]["id"],
    ]
    # once the approved stop has begun it is not withdrawn: it is restarted
    begun = _submit(engine, world)
    with engine.begin() as conn:
        decide(conn, begun["id"], approve=True, comment="", by="reg1", now=NOW)
    _refused(
        engine,
        Conflict,
        f"production stop {begun['id']} began 2025-10-21 12:00 (China time): an approved stop is withdrawn "
        "only before it starts; record the restart instead",
        lambda conn: withdraw(conn, begun["id"], comment="", by="ent1", now=START),
    )


def _staff(engine: Engine, w: FaultWorld) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(staff).values(
                    operator_id=w.operator, name="张工", position="field_engineer", phone="", username=None,
                    active=True, created_at=NOW, updated_at=NOW,
                ).returning(staff.c.id)
            ).scalar_one()
        )  # fmt: skip


def _calibration(
    engine: Engine, w: FaultWorld, device: str, at: datetime, staff_id: int, supersedes: int | None = None
) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(field_records).values(
                    kind="calibration", device_id=w.devices[device], operator_id=w.operator, staff_id=staff_id,
                    performed_at=at, on_site="unknown", payload={}, verdict="pass", note="",
                    supersedes_id=supersedes, keep_until=date(2030, 1, 1), recorded_by="fs1", recorded_at=at,
                ).returning(field_records.c.id)
            ).scalar_one()
        )  # fmt: skip


def test_restart_shortens_the_marks_and_starts_the_check(engine: Engine, world: FaultWorld) -> None:
    stop = _submit(engine, world)
    with engine.begin() as conn:
        decide(conn, stop["id"], approve=True, comment="", by="reg1", now=NOW)
    back = START + 2 * DAY  # a day before the approved end
    later = back + H
    _refused(
        engine,
        InvalidInput,
        "the restart 2025-10-21 12:00 (China time) must be after the stop's start 2025-10-21 12:00 (China "
        "time); a stop that did not happen is withdrawn before it starts",
        lambda conn: restarted(conn, stop["id"], at=START, by="ent1", now=later),
    )
    _refused(
        engine,
        InvalidInput,
        "the restart 2025-10-23 13:00 (China time) is in the future; record it once it has happened",
        lambda conn: restarted(conn, stop["id"], at=later, by="ent1", now=back),
    )
    with engine.begin() as conn:
        after = restarted(conn, stop["id"], at=back, comment="已开机", by="ent1", now=later)
        events = stop_events_of(conn, stop["id"])
    assert (after["state"], after["restarted_at"]) == ("restarted", back)
    gas = _marks_of(engine, world.devices["gas"])
    assert [(m["action"], m["start_at"], m["end_at"]) for m in gas] == [
        ("mark", START, END),
        ("mark", START, back),
    ]
    assert events[-1]["data"] == {
        "overran": False,
        "shortened_marks": [gas[1]["id"], _marks_of(engine, world.devices["gas2"])[1]["id"]],
        "withdrawn_marks": [],
    }
    with engine.connect() as conn:
        spans = effective_marks(conn, [world.devices["gas"]], START, END)
        note = conn.execute(
            select(mark_reviews.c.note, mark_reviews.c.reviewed_by).where(
                mark_reviews.c.mark_id == gas[1]["id"]
            )
        ).one()
    assert [(s.end, s.effect) for s in spans] == [(back, MarkEffect.EXEMPT)]
    assert tuple(note) == (f"part of production stop {stop['id']} approved by reg1", "system")

    # the restart check: a calibration on every device within 14 days of the restart
    staff_id = _staff(engine, world)
    with engine.connect() as conn:
        check = stop_view(conn, stop["id"], later, check_within_days=14)["restart_check"]
    assert (check["state"], check["due_at"]) == ("running", back + 14 * DAY)
    assert [d["calibrated_at"] for d in check["devices"]] == [None, None]
    first = _calibration(engine, world, "gas", back - H, staff_id)  # before the restart: does not count
    _calibration(engine, world, "gas", back + DAY, staff_id, supersedes=first)  # its correction does
    _calibration(engine, world, "water", back + DAY, staff_id)  # another outlet
    with engine.connect() as conn:
        check = stop_view(conn, stop["id"], back + 15 * DAY, check_within_days=14)["restart_check"]
    assert check["state"] == "overdue"
    assert [d["calibrated_at"] for d in check["devices"]] == [back + DAY, None]
    _calibration(engine, world, "gas2", back + 14 * DAY, staff_id)  # exactly at the due time: on time
    with engine.connect() as conn:
        view = stop_view(conn, stop["id"], back + 15 * DAY, check_within_days=14)
    assert view["restart_check"]["state"] == "met"
    assert [m["end_at"] for m in view["marks"]] == [back, back]  # the latest version of each mark
    assert view["quarter_note"] == "gas_keep_running"


def test_a_restart_after_the_end_and_marks_wholly_after_a_restart(engine: Engine, world: FaultWorld) -> None:
    stop = _submit(engine, world)
    with engine.begin() as conn:
        decide(conn, stop["id"], approve=True, comment="", by="reg1", now=NOW)
        late = restarted(conn, stop["id"], at=END + DAY, by="ent1", now=END + 2 * DAY)
        data = stop_events_of(conn, stop["id"])[-1]["data"]
    assert late["state"] == "restarted" and data == {"overran": True}
    assert len(_marks_of(engine, world.devices["gas"])) == 1  # left as approved
    # a 40-day stop restarted after 10 days: the second piece is withdrawn, the first shortened
    start = NOW + 2 * DAY
    long = _submit(engine, world, outlet_id=world.outlets["water_a"], start_at=start, end_at=start + 40 * DAY)
    with engine.begin() as conn:
        decide(conn, long["id"], approve=True, comment="", by="reg1", now=NOW)
        restarted(conn, long["id"], at=start + 10 * DAY, by="ent1", now=start + 11 * DAY)
    water = _marks_of(engine, world.devices["water"])
    assert [(m["action"], m["end_at"] - start) for m in water] == [
        ("mark", MarkPolicy().max_span), ("mark", 40 * DAY), ("mark", 10 * DAY), ("withdraw", 40 * DAY),
    ]  # fmt: skip


def test_the_quarter_note_and_months() -> None:
    assert add_months(cst(2025, 11, 30, 8), 3) == cst(2026, 2, 28, 8)
    assert add_months(cst(2025, 10, 21, 12), 3) == cst(2026, 1, 21, 12)
    gas = {"outlet_kind": "gas", "start_at": cst(2025, 10, 21, 12)}
    assert quarter_note({**gas, "end_at": cst(2026, 1, 21, 12)}) == "gas_keep_running"  # exactly a quarter
    assert quarter_note({**gas, "end_at": cst(2026, 1, 21, 12, 0, 1)}) == "gas_may_stop"
    assert quarter_note({**gas, "outlet_kind": "water", "end_at": cst(2026, 5, 1)}) is None


def test_lists(engine: Engine, world: FaultWorld) -> None:
    a = _submit(engine, world)
    b = _submit(engine, world, outlet_id=world.outlets["water_a"], start_at=START + DAY)
    c = _submit(engine, world, enterprise_id=world.yi, outlet_id=world.outlets["gas_b"])
    with engine.begin() as conn:
        decide(conn, a["id"], approve=True, comment="", by="reg1", now=NOW)
        ids = lambda q: [r["id"] for r in list_stops(conn, q)[0]]  # noqa: E731
        assert ids(StopQuery()) == [b["id"], c["id"], a["id"]]
        assert ids(StopQuery(enterprise_id=world.yi)) == [c["id"]]
        assert ids(StopQuery(outlet_ids={world.outlets["gas_a"]})) == [a["id"]]
        assert ids(StopQuery(outlet_id=world.outlets["water_a"])) == [b["id"]]
        assert ids(StopQuery(states=["approved"])) == [a["id"]]
        assert ids(StopQuery(limit=1, offset=1)) == [c["id"]]
        rows, total = list_stops(conn, StopQuery(limit=1))
        assert (
            total == 3
            and rows[0]["outlet_code"] == "DW001"
            and rows[0]["enterprise_name"] == "甲化工有限公司"
        )
        with pytest.raises(InvalidInput, match=r"^unknown production stop state done \(states: submitted, "):
            list_stops(conn, StopQuery(states=["done"]))


def test_the_journal_is_append_only(engine: Engine, world: FaultWorld) -> None:
    _submit(engine, world)
    for sql in ("UPDATE production_stop_events SET comment = 'x'", "DELETE FROM production_stop_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
