"""The custody steps after registration (WZ-A2-7/8/9/10) on a real database: the whole path, every illegal
step refused with nothing changed, the evidence each step needs, reprints, reviews, and two people acting
on one sample at once (compare-and-set on ``last_seq``). Also: the journal tables refuse UPDATE and DELETE."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError

from envwatch.core.errors import Conflict, EnvwatchError, InvalidInput, NotFound
from envwatch.sampling.custody import STATES, TRANSITIONS, State
from envwatch.sampling.entry import Position
from envwatch.sampling.journal import EventFacts, append
from envwatch.sampling.schema import custody_events, samples
from envwatch.sampling.steps import STEPS, Step, StepInput, record_reprint, record_review, record_step
from tests.sampling.conftest import PHOTO, VIDEO, SamplingWorld, mistyped

# valid evidence of each step, so that a refusal in the tests below is the state's doing
EVIDENCE: dict[Step, dict[str, Any]] = {
    "print_label": {},
    "dispatch": {"preservation": {"cold": True, "dark": True}},
    "hand_over": {"check_result": "intact"},
    "reject": {"check_result": "damaged", "note": "封条破损", "photo_sha256": PHOTO},
    "receive": {},
    "open": {"check_result": "intact"},
    "analyse": {},
    "dispose": {"note": "按规定处置"},
}
# how a fresh on-site sample gets to each state: (step, who)
ROUTE: dict[State, list[tuple[Step, str]]] = {
    "registered": [],
    "labelled": [("print_label", "chen")],
    "in_transport": [("print_label", "chen"), ("dispatch", "chen")],
    "handed_over": [("print_label", "chen"), ("dispatch", "chen"), ("hand_over", "receiver")],
    "received": [
        ("print_label", "chen"),
        ("dispatch", "chen"),
        ("hand_over", "receiver"),
        ("receive", "receiver"),
    ],
}
ROUTE["opened"] = [*ROUTE["received"], ("open", "analyst")]
ROUTE["analysed"] = [*ROUTE["opened"], ("analyse", "analyst")]
ROUTE["disposed"] = [*ROUTE["analysed"], ("dispose", "analyst")]
ROUTE["rejected"] = [("print_label", "chen"), ("reject", "receiver")]


def sample_in(world: SamplingWorld, state: State) -> str:
    """A new on-site sample taken to ``state``; its code."""
    with world.engine.begin() as conn:
        code = str(world.register(conn)["code"])
        for step, who in ROUTE[state]:
            world.step(conn, code, step, who, **EVIDENCE[step])
    assert row(world, code)["state"] == state
    return code


def row(world: SamplingWorld, code: str) -> dict[str, Any]:
    with world.engine.connect() as conn:
        return dict(conn.execute(select(samples).where(samples.c.code == code)).mappings().one())


def events(world: SamplingWorld, code: str) -> list[dict[str, Any]]:
    with world.engine.connect() as conn:
        sample_id = conn.execute(select(samples.c.id).where(samples.c.code == code)).scalar_one()
        query = (
            select(custody_events)
            .where(custody_events.c.sample_id == sample_id)
            .order_by(custody_events.c.seq)
        )
        return [dict(r) for r in conn.execute(query).mappings()]


def unchanged_after(world: SamplingWorld, code: str, kind: type[EnvwatchError], match: str, act: Any) -> str:
    """``act(conn)`` is refused with ``kind``; the sample and its chain of custody are as they were."""
    before = (row(world, code), events(world, code))
    with pytest.raises(kind, match=match) as refused, world.engine.begin() as conn:
        act(conn)
    assert (row(world, code), events(world, code)) == before
    return refused.value.message


def step_refused(
    world: SamplingWorld,
    code: str,
    step: Step,
    kind: type[EnvwatchError],
    match: str,
    by: str = "receiver",
    **given: Any,
) -> str:
    return unchanged_after(world, code, kind, match, lambda conn: world.step(conn, code, step, by, **given))


# --- the whole path -------------------------------------------------------------------------------


def test_the_whole_path(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    walk: list[tuple[str, str, dict[str, Any], State, int]] = [
        ("print_label", "chen", {"seal_no": " F-01 "}, "labelled", 1),
        ("reprint", "chen", {}, "labelled", 2),
        ("dispatch", "chen", {"preservation": {"cold": True, "shockproof": True}}, "in_transport", 2),
        ("reprint", "zhou", {}, "in_transport", 3),
        (
            "hand_over",
            "receiver",
            {"check_result": "abnormal", "note": "封条一角翘起", "photo_sha256": PHOTO},
            "handed_over",
            3,
        ),
        ("receive", "receiver", {}, "received", 3),
        ("open", "analyst", {"check_result": "intact"}, "opened", 3),
        ("analyse", "analyst", {}, "analysed", 3),
        ("dispose", "analyst", {"note": " 中和后排放 "}, "disposed", 3),
    ]
    for n, (step, who, given, state, prints) in enumerate(walk, start=2):
        at = world.now + timedelta(minutes=n)
        with world.engine.begin() as conn:
            if step == "reprint":
                event = record_reprint(
                    conn,
                    code,
                    staff_id=world.staff[who],
                    video_sha256=VIDEO,
                    reason="标签受潮",
                    actor=who,
                    now=at,
                )
            else:
                event = world.step(conn, code.lower(), step, who, now=at, **given)  # type: ignore[arg-type]
        assert (event["seq"], event["event"], event["to_state"]) == (n, step, state)
        sample = row(world, code)
        assert (sample["state"], sample["last_seq"], sample["prints"]) == (state, n, prints)
        stored = events(world, code)[-1]
        assert stored == {k: v for k, v in event.items()} | {"at": at}
        assert stored["staff_id"] == world.staff[who] and stored["actor"] == who
    chain = events(world, code)
    assert [e["seq"] for e in chain] == list(range(1, len(walk) + 2))
    assert [(e["from_state"], e["to_state"]) for e in chain][:3] == [
        (None, "registered"),
        ("registered", "labelled"),
        ("labelled", "labelled"),
    ]
    by_event = {e["event"]: e for e in chain}
    assert by_event["print_label"]["seal_no"] == "F-01"
    assert by_event["dispatch"]["details"] == {
        "preservation": {"cold": True, "dark": False, "shockproof": True}
    }
    assert (
        by_event["hand_over"]["check_result"] == "abnormal" and by_event["hand_over"]["photo_sha256"] == PHOTO
    )
    assert by_event["open"]["check_result"] == "intact"
    assert by_event["dispose"]["note"] == "中和后排放"
    reprints = [e for e in chain if e["event"] == "reprint"]
    assert [(e["details"], e["video_sha256"], e["note"]) for e in reprints] == [
        ({"print": 2}, VIDEO, "标签受潮"),
        ({"print": 3}, VIDEO, "标签受潮"),
    ]


def test_short_ways_hand_over_without_transport_and_rejects(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    labelled = sample_in(world, "labelled")
    with world.engine.begin() as conn:
        assert world.step(conn, labelled, "hand_over", check_result="intact")["to_state"] == "handed_over"
    states: tuple[State, ...] = ("labelled", "in_transport", "handed_over", "received")
    for state in states:
        code = sample_in(world, state)
        with world.engine.begin() as conn:
            event = world.step(conn, code, "reject", "analyst", check_result="missing", note="无标签")
        assert (event["from_state"], event["to_state"]) == (state, "rejected")
        assert row(world, code)["state"] == "rejected"


# --- illegal steps --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(ROUTE))
def test_every_illegal_step_is_refused_and_changes_nothing(
    sampling_world: SamplingWorld, state: State
) -> None:
    world = sampling_world
    code = sample_in(world, state)
    printed = row(world, code)["prints"] > 0
    for step in STEPS:
        if step in TRANSITIONS[state] and not (step == "print_label" and printed):
            continue
        match = (
            "printed already"
            if step == "print_label" and printed
            else f"{step} is not allowed in state {state}"
        )
        step_refused(world, code, step, Conflict, match, **EVIDENCE[step])
    if "reprint" not in TRANSITIONS[state]:

        def act(conn: Connection) -> Any:
            return record_reprint(
                conn,
                code,
                staff_id=world.staff["receiver"],
                video_sha256=VIDEO,
                reason="r",
                actor="x",
                now=world.now,
            )

        unchanged_after(world, code, Conflict, "reprint is not allowed" if printed else "never printed", act)


def test_legal_steps_per_state_are_the_tables(sampling_world: SamplingWorld) -> None:
    """Each legal step of each state goes through (the other half of the test above)."""
    world = sampling_world
    for state in STATES:
        for event_name, after in TRANSITIONS[state].items():
            step = next((s for s in STEPS if s == event_name), None)
            if step is None or (step == "print_label" and state != "registered"):
                continue  # reprint has a test of its own; the second print_label is refused
            code = sample_in(world, state)
            with world.engine.begin() as conn:
                event = world.step(conn, code, step, **EVIDENCE[step])
            assert event["to_state"] == after


# --- printing -------------------------------------------------------------------------------------


def test_print_label_only_once(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "labelled")
    message = step_refused(world, code, "print_label", Conflict, "printed already", by="chen")
    assert "WZ-A2-8" in message and "video" in message


def test_reprint_needs_a_video_and_a_reason(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    registered = sample_in(world, "registered")

    def reprint(code: str, video: str | None = VIDEO, reason: str = "标签污损") -> Any:
        return lambda conn: record_reprint(
            conn,
            code,
            staff_id=world.staff["chen"],
            video_sha256=video,
            reason=reason,
            actor="chen",
            now=world.now,
        )

    unchanged_after(world, registered, Conflict, "never printed: print it", reprint(registered))
    code = sample_in(world, "labelled")
    unchanged_after(world, code, InvalidInput, "video of the whole reprint", reprint(code, video=None))
    unchanged_after(world, code, InvalidInput, "video of the whole reprint", reprint(code, video=""))
    unchanged_after(
        world, code, InvalidInput, "reason for the reprint is required", reprint(code, reason=" ")
    )
    with world.engine.begin() as conn:
        event = reprint(code)(conn)
    assert event["details"] == {"print": 2} and event["video_sha256"] == VIDEO
    assert row(world, code)["prints"] == 2 and row(world, code)["state"] == "labelled"


def test_self_delivered_sample_prints_its_first_label_at_the_hand_over(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        code = world.register_delivered(conn)["code"]
        event = world.step(conn, code, "print_label")
    assert (event["from_state"], event["to_state"]) == ("handed_over", "handed_over")
    assert row(world, code)["prints"] == 1
    step_refused(world, code, "print_label", Conflict, "printed already")
    with world.engine.begin() as conn:
        assert world.step(conn, code, "receive")["to_state"] == "received"


# --- who acts -------------------------------------------------------------------------------------


def test_the_sampler_cannot_hand_over_or_reject_their_own_sample(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "in_transport")
    step_refused(
        world,
        code,
        "hand_over",
        Conflict,
        "sampler cannot take over their own sample",
        by="chen",
        check_result="intact",
    )
    step_refused(world, code, "reject", Conflict, "sampler cannot", by="chen", **EVIDENCE["reject"])
    with world.engine.begin() as conn:  # another sampler of the team may
        assert (
            world.step(conn, code, "hand_over", "zhou", check_result="intact")["staff_id"]
            == world.staff["zhou"]
        )


def test_the_person_acting(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "registered")
    unchanged_after(
        world,
        code,
        InvalidInput,
        "name the person acting",
        lambda conn: record_step(
            conn, code, "print_label", StepInput(staff_id=None), actor="a", now=world.now
        ),
    )
    step_refused(world, code, "print_label", NotFound, "at the sample's agency", by="stranger")
    unchanged_after(
        world,
        code,
        NotFound,
        "no staff member with id 9999",
        lambda conn: record_step(
            conn, code, "print_label", StepInput(staff_id=9999), actor="a", now=world.now
        ),
    )
    step_refused(world, code, "print_label", InvalidInput, "no longer works for the agency", by="left")


def test_unknown_sample_and_step(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "registered")
    with pytest.raises(NotFound, match="no sample with code 330302-WZJC"), world.engine.begin() as conn:
        world.step(conn, mistyped(code), "print_label")
    step_refused(world, code, "label", InvalidInput, "unknown step 'label'")  # type: ignore[arg-type]


# --- evidence -------------------------------------------------------------------------------------


def test_hand_over_check(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "in_transport")
    step_refused(world, code, "hand_over", InvalidInput, "check_result must be intact or abnormal")
    step_refused(
        world,
        code,
        "hand_over",
        InvalidInput,
        "is a reject",
        check_result="damaged",
        note="n",
        photo_sha256=PHOTO,
    )
    step_refused(
        world,
        code,
        "hand_over",
        InvalidInput,
        "needs a note and a photo",
        check_result="abnormal",
        note="翘起",
    )
    step_refused(
        world,
        code,
        "hand_over",
        InvalidInput,
        "needs a note and a photo",
        check_result="abnormal",
        photo_sha256=PHOTO,
        note=" ",
    )


def test_reject_needs_what_was_found_a_note_and_a_photo(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "in_transport")
    step_refused(
        world,
        code,
        "reject",
        InvalidInput,
        "damaged, missing or abnormal",
        check_result="intact",
        note="n",
        photo_sha256=PHOTO,
    )
    step_refused(
        world, code, "reject", InvalidInput, "damaged, missing or abnormal", note="n", photo_sha256=PHOTO
    )
    step_refused(
        world, code, "reject", InvalidInput, "a note saying why", check_result="damaged", photo_sha256=PHOTO
    )
    step_refused(world, code, "reject", InvalidInput, "a photo", check_result="damaged", note="破损")
    step_refused(world, code, "reject", InvalidInput, "a photo", check_result="abnormal", note="异常")
    with world.engine.begin() as conn:  # a missing label cannot be photographed
        event = world.step(conn, code, "reject", check_result="missing", note="标签丢失")
    assert (event["check_result"], event["photo_sha256"], event["note"]) == ("missing", None, "标签丢失")


def test_dispatch_preservation(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "labelled")
    message = step_refused(
        world,
        code,
        "dispatch",
        InvalidInput,
        "not frozen, hot",
        by="chen",
        preservation={"cold": True, "hot": True, "frozen": False},
    )
    assert "cold, dark, shockproof" in message
    step_refused(world, code, "print_label", Conflict, "printed already", preservation={"cold": True})
    step_refused(
        world, code, "dispatch", InvalidInput, "records no seal check", by="chen", check_result="intact"
    )
    step_refused(
        world, code, "dispatch", InvalidInput, "check_result must be one of", by="chen", check_result="ok"
    )
    with world.engine.begin() as conn:
        event = world.step(conn, code, "dispatch", "chen")
    assert event["details"] == {"preservation": {"cold": False, "dark": False, "shockproof": False}}
    code2 = sample_in(world, "received")
    step_refused(world, code2, "receive", InvalidInput, "records no preservation", preservation={})


def test_open_is_the_labs_recheck(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "received")
    step_refused(world, code, "open", InvalidInput, "check_result must be intact or abnormal", by="analyst")
    step_refused(
        world,
        code,
        "open",
        InvalidInput,
        "needs a note and a photo",
        by="analyst",
        check_result="abnormal",
        note="封口松动",
    )
    step_refused(
        world,
        code,
        "open",
        InvalidInput,
        "is a reject",
        by="analyst",
        check_result="damaged",
        note="n",
        photo_sha256=PHOTO,
    )
    with world.engine.begin() as conn:
        event = world.step(
            conn, code, "open", "analyst", check_result="abnormal", note="封口松动", photo_sha256=PHOTO
        )
    assert (event["check_result"], event["photo_sha256"]) == ("abnormal", PHOTO)


def test_dispose_needs_a_note(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "analysed")
    step_refused(world, code, "dispose", InvalidInput, "the note is required", by="analyst", note="  ")


# --- review of flagged entries --------------------------------------------------------------------


def test_review_only_when_flagged(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    code = sample_in(world, "labelled")

    def review(outcome: str = "accepted", note: str = "") -> Any:
        return lambda conn: record_review(
            conn, code, outcome=outcome, note=note, actor="regulator", now=world.now
        )

    unchanged_after(world, code, Conflict, "no entry waiting for review", review())
    with world.engine.begin() as conn:
        flagged = world.register(conn, world.entry(offline=True, device_at=world.now - timedelta(minutes=5)))
        world.step(conn, flagged["code"], "print_label", "chen")
    code = flagged["code"]
    unchanged_after(world, code, InvalidInput, "outcome must be one of accepted, questioned", review("fine"))
    unchanged_after(world, code, InvalidInput, "review note is required", review("questioned", " "))
    with world.engine.begin() as conn:
        event = review("questioned", "离线时间过长")(conn)
    assert (event["event"], event["from_state"], event["to_state"]) == ("review", "labelled", "labelled")
    assert event["details"] == {"outcome": "questioned"} and event["staff_id"] is None
    after = row(world, code)
    assert after["needs_review"] is False and after["state"] == "labelled" and after["last_seq"] == 3
    unchanged_after(world, code, Conflict, "no entry waiting for review", review())


def test_review_in_a_final_state(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    with world.engine.begin() as conn:
        code = world.register(conn, world.entry(device_at=world.now + timedelta(minutes=30)))[
            "code"
        ]  # clock skew
        world.step(conn, code, "print_label", "chen")
        world.step(conn, code, "reject", check_result="missing", note="丢失")
        event = record_review(conn, code, outcome="accepted", note="", actor="regulator", now=world.now)
    assert event["to_state"] == "rejected" and row(world, code)["needs_review"] is False


# --- two people at once ---------------------------------------------------------------------------


def test_a_stale_sample_is_refused_by_compare_and_set(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    code = sample_in(world, "in_transport")
    stale = row(world, code)
    with world.engine.begin() as conn:
        world.step(conn, code, "hand_over", check_result="intact")
    with pytest.raises(Conflict, match="changed while this was recorded"), world.engine.begin() as conn:
        append(conn, stale, "hand_over", EventFacts(actor="analyst", check_result="intact"), world.now)
    chain = events(world, code)
    assert [e["seq"] for e in chain] == [1, 2, 3, 4] and [e["event"] for e in chain].count("hand_over") == 1


def _lock_waiters(engine: Engine) -> int:
    with engine.connect() as conn:
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(conn.execute(text(query)).scalar_one())


@pytest.mark.postgres
def test_two_connections_on_one_sample_exactly_one_wins(sampling_world_pg: SamplingWorld) -> None:
    """The second reads the sample before the first commits; its update waits for the first's row lock and
    then finds ``last_seq`` moved: Conflict, not a second hand-over."""
    world = sampling_world_pg
    code = sample_in(world, "in_transport")
    outcome: dict[str, Any] = {}

    def second() -> None:
        try:
            with world.engine.begin() as conn:
                outcome["event"] = world.step(conn, code, "hand_over", "analyst", check_result="intact")
        except Conflict as exc:
            outcome["conflict"] = exc

    with world.engine.connect() as first:
        tx = first.begin()
        won = world.step(first, code, "hand_over", "receiver", check_result="intact")
        other = threading.Thread(target=second)
        other.start()
        deadline = time.monotonic() + 20
        while _lock_waiters(world.engine) == 0:  # the second is blocked on the sample's row
            assert time.monotonic() < deadline, "the second connection never waited for the first"
            assert other.is_alive(), f"the second finished without waiting: {outcome}"
            time.sleep(0.02)
        tx.commit()
        other.join(20)
    assert "event" not in outcome
    assert "changed while this was recorded" in outcome["conflict"].message
    chain = events(world, code)
    assert [e["seq"] for e in chain] == [1, 2, 3, 4]
    assert (
        chain[-1]["event"] == "hand_over"
        and chain[-1]["staff_id"] == world.staff["receiver"] == won["staff_id"]
    )


def _race(world: SamplingWorld, code: str, people: list[str]) -> tuple[list[dict[str, Any]], list[Conflict]]:
    start = threading.Barrier(len(people))

    def attempt(who: str) -> dict[str, Any] | Conflict:
        start.wait()
        try:
            with world.engine.begin() as conn:
                return world.step(conn, code, "hand_over", who, check_result="intact")
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(len(people)) as pool:
        results = list(pool.map(attempt, people))
    return [r for r in results if isinstance(r, dict)], [r for r in results if isinstance(r, Conflict)]


@pytest.mark.parametrize("rounds", [5])
def test_many_at_once_exactly_one_wins(sampling_world_any: SamplingWorld, rounds: int) -> None:
    world = sampling_world_any
    people = [
        "receiver",
        "analyst",
        "zhou",
        "expired",
        "failed",
        "untrained",
    ]  # anyone of the agency but chen
    for _ in range(rounds):
        code = sample_in(world, "in_transport")
        won, lost = _race(world, code, people)
        assert len(won) == 1 and len(lost) == len(people) - 1
        chain = events(world, code)
        assert [e["seq"] for e in chain] == [1, 2, 3, 4]
        assert chain[-1]["staff_id"] == won[0]["staff_id"] and row(world, code)["last_seq"] == 4


# --- append-only (DESIGN convention 5) ------------------------------------------------------------

APPEND_ONLY = ("custody_events", "sampling_plans", "sampling_plan_items", "agency_trainings")


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("statement", ["UPDATE {table} SET id = id", "DELETE FROM {table}"])
def test_journal_tables_refuse_update_and_delete(
    sampling_world_any: SamplingWorld, table: str, statement: str
) -> None:
    world = sampling_world_any
    sample_in(world, "labelled")
    with world.engine.connect() as conn:
        before = conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).all()
    assert before  # the trigger fires per row: there must be rows
    with pytest.raises(DBAPIError, match=f"{table} is append-only"), world.engine.begin() as conn:
        conn.execute(text(statement.format(table=table)))
    with world.engine.connect() as conn:
        assert conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).all() == before


def test_a_step_records_where_it_happened(sampling_world: SamplingWorld) -> None:
    """Who, when and where: a step given the phone's position keeps it; a position off the Earth stores nothing."""
    world = sampling_world
    code = sample_in(world, "in_transport")
    step_refused(
        world, code, "hand_over", InvalidInput, "latitude 91", check_result="intact",
        position=Position(Decimal("91"), Decimal("120")),
    )  # fmt: skip
    with world.engine.begin() as conn:
        event = world.step(
            conn,
            code,
            "hand_over",
            check_result="intact",
            position=Position(Decimal("27.99"), Decimal("120.7")),
        )
    assert (event["latitude"], event["longitude"]) == (Decimal("27.99"), Decimal("120.7"))
