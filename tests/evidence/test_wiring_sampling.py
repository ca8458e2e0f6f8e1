"""Sampling facts in the evidence log: a sample code's identity at registration, every custody event.

On SQLite and PostgreSQL: each write gives exactly one entry per new row in the same transaction, a rolled
back or refused write none, and recheck finds the rows unchanged, or names what was changed or removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from envwatch.core.errors import Conflict
from envwatch.sampling.registration import SAMPLE_IDENTITY
from envwatch.sampling.schema import custody_events, samples
from envwatch.sampling.steps import record_reprint
from tests.evidence.test_wiring_support import (
    assert_one_entry_per_new_row,
    by_kind,
    entries,
    last_entry_id,
    recheck_all,
    remove,
    snapshot,
    tamper,
)
from tests.sampling.conftest import VIDEO, SamplingWorld, build_sampling_world


@pytest.fixture
def world(engine: Engine) -> Iterator[SamplingWorld]:
    yield build_sampling_world(engine)


def test_registration_logs_the_code_s_identity_and_the_first_event(world: SamplingWorld) -> None:
    with world.engine.begin() as conn:
        before = snapshot(conn)
        sample = world.register(conn)
        made = assert_one_entry_per_new_row(conn, before, world.now)
    assert by_kind(made) == {"sample_code": 1, "custody_event": 1}
    code = next(e for e in made if e.kind == "sample_code")
    assert code.ref == f"samples/{sample['id']}"
    # the identity only: the custody projection is explained by the logged events, not logged itself
    assert set(code.payload["row"]) == set(SAMPLE_IDENTITY)
    assert not {"state", "prints", "needs_review", "last_seq"} & set(code.payload["row"])
    assert code.payload["row"]["code"] == sample["code"]
    with world.engine.begin() as conn:
        before = snapshot(conn)
        world.register_delivered(conn)
        assert by_kind(assert_one_entry_per_new_row(conn, before, world.now)) == {
            "sample_code": 1,
            "custody_event": 1,
        }
        assert recheck_all(conn) == []


def test_every_custody_step_is_one_entry_and_the_projection_is_not_evidence(world: SamplingWorld) -> None:
    with world.engine.begin() as conn:
        code = world.register(conn)["code"]
    later = world.now + timedelta(minutes=5)
    for step, by, given in (
        ("print_label", "chen", {}),
        ("reprint", "chen", {}),
        ("dispatch", "chen", {"preservation": {"cold": True}}),
        ("hand_over", "receiver", {"check_result": "intact"}),
    ):
        with world.engine.begin() as conn:
            before = snapshot(conn)
            if step == "reprint":
                event = record_reprint(
                    conn,
                    code,
                    staff_id=world.staff[by],
                    video_sha256=VIDEO,
                    reason="标签污损",
                    actor=by,
                    now=later,
                )
            else:
                event = world.step(conn, code, step, by, now=later, **given)  # type: ignore[arg-type]
            (made,) = assert_one_entry_per_new_row(conn, before, later)
        assert (made.kind, made.ref) == ("custody_event", f"custody_events/{event['id']}")
        assert made.payload["row"]["event"] == step
        assert made.payload["row"]["video_sha256"] == (VIDEO if step == "reprint" else None)
    with world.engine.connect() as conn:
        # state, prints and last_seq moved four times since the code was logged: no difference
        assert conn.execute(select(samples.c.prints).where(samples.c.code == code)).scalar_one() == 2
        assert recheck_all(conn) == []


def test_rolled_back_and_refused_writes_leave_no_entry(world: SamplingWorld) -> None:
    with world.engine.connect() as conn:
        start = last_entry_id(conn)
    with pytest.raises(RuntimeError), world.engine.begin() as conn:
        world.register(conn)
        assert len(entries(conn, start)) == 2  # written in the transaction …
        raise RuntimeError("the request failed later")
    with world.engine.begin() as conn:
        assert entries(conn, start) == []  # … and gone with it
        code = world.register(conn)["code"]
        start = last_entry_id(conn)
    with pytest.raises(Conflict), world.engine.begin() as conn:  # not printed yet: no reprint
        record_reprint(
            conn,
            code,
            staff_id=world.staff["chen"],
            video_sha256=VIDEO,
            reason="x",
            actor="chen",
            now=world.now,
        )
    with world.engine.connect() as conn:
        assert entries(conn, start) == []


def test_recheck_names_a_changed_identity_column_and_event_and_a_removed_event(world: SamplingWorld) -> None:
    with world.engine.begin() as conn:
        sample = world.register(conn)
        world.step(conn, sample["code"], "print_label", "chen")
        first, second = conn.execute(select(custody_events.c.id).order_by(custody_events.c.id)).scalars()
    tamper(world.engine, samples, sample["id"], state="disposed", prints=7)  # the projection: not evidence
    with world.engine.connect() as conn:
        assert recheck_all(conn) == []
    tamper(world.engine, samples, sample["id"], point_name="别处")
    tamper(world.engine, custody_events, first, note="后补", offline=True)
    remove(world.engine, custody_events, second)
    with world.engine.connect() as conn:
        lines = recheck_all(conn)
    assert lines == [
        f'samples/{sample["id"]} point_name: logged "{sample["point_name"]}", now "别处"',
        f"custody_events/{first} offline: logged false, now true",
        f'custody_events/{first} note: logged "", now "后补"',
        f"custody_events/{second}: row missing",
    ]
