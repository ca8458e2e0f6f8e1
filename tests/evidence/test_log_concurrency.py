"""The sequencer under concurrency: two sequencers and a submitter at once (SQLite and PostgreSQL), and
entries that commit out of id order (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from envwatch.core.evidence import submit
from envwatch.core.evidence_schema import evidence_entries
from envwatch.evidence import log, merkle
from envwatch.evidence.schema import evidence_leaves, evidence_nodes

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def leaves_in_order(engine: Engine) -> list[tuple[int, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                evidence_leaves.c.leaf_index, evidence_leaves.c.entry_id, evidence_leaves.c.leaf_hash
            ).order_by(evidence_leaves.c.leaf_index)
        )
        return [(int(i), int(e), h) for i, e, h in rows]


def check_log(engine: Engine) -> None:
    """Gap-free leaves, one per entry, hashes of the bodies, nodes = the perfect subtrees of those leaves."""
    with engine.connect() as conn:
        bodies = {int(i): b for i, b in conn.execute(select(evidence_entries.c.id, evidence_entries.c.body))}
        stored = {
            (level, index): bytes.fromhex(value)
            for level, index, value in conn.execute(
                select(evidence_nodes.c.level, evidence_nodes.c.node_index, evidence_nodes.c.hash)
            )
        }
        size = log.tree_size(conn)
        root = log.root_at(conn, size)
    leaves = leaves_in_order(engine)
    assert [index for index, _, _ in leaves] == list(range(len(bodies)))
    assert sorted(entry for _, entry, _ in leaves) == sorted(bodies)
    hashes = [merkle.leaf_hash(bodies[entry].encode()) for _, entry, _ in leaves]
    assert [bytes.fromhex(h) for _, _, h in leaves] == hashes
    assert stored == merkle.perfect_nodes(hashes)
    assert root == merkle.root_of(hashes)


def test_two_sequencers_and_a_submitter_at_once(engine: Engine) -> None:
    with engine.begin() as conn:
        for n in range(150):
            submit(conn, "test", "things/1", {"n": n}, NOW)
    start = threading.Barrier(3)
    errors: list[BaseException] = []
    submitting = threading.Event()
    submitting.set()

    def sequencer() -> None:
        try:
            start.wait()
            rounds_without_work = 0
            while submitting.is_set() or rounds_without_work < 2:
                with engine.begin() as conn:
                    done = log.integrate(conn, NOW, limit=7)
                rounds_without_work = 0 if done else rounds_without_work + 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def submitter() -> None:
        try:
            start.wait()
            for n in range(60):
                with engine.begin() as conn:
                    submit(conn, "test", "things/2", {"n": n}, NOW)
        except BaseException as exc:
            errors.append(exc)
        finally:
            submitting.clear()

    threads = [
        threading.Thread(target=sequencer),
        threading.Thread(target=sequencer),
        threading.Thread(target=submitter),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    with engine.begin() as conn:  # anything submitted after both sequencers' last rounds
        log.integrate(conn, NOW)
    check_log(engine)
    assert len(leaves_in_order(engine)) == 210


def test_an_entry_committed_late_is_not_skipped(pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL hands out ids at insert: a transaction holding a low id can commit after a higher one was
    integrated. The straggler gets the next leaf; a window-limited round may miss it, a sweep never."""
    engine = pg_engine
    slow = engine.connect()
    slow_tx = slow.begin()
    late_id = submit(slow, "test", "things/late", {"late": True}, NOW)  # not committed yet
    with engine.begin() as conn:
        early = [submit(conn, "test", "things/early", {"n": n}, NOW) for n in range(3)]
    assert all(late_id < entry for entry in early)
    with engine.begin() as conn:
        assert log.integrate(conn, NOW) == 3  # the late one is invisible
    slow_tx.commit()
    slow.close()

    monkeypatch.setattr(log, "STRAGGLER_WINDOW", 1)  # look only above the newest integrated id - 1
    with engine.begin() as conn:
        assert log.integrate(conn, NOW, sweep=False) == 0
    monkeypatch.setattr(log, "STRAGGLER_WINDOW", 100)
    with engine.begin() as conn:
        assert log.integrate(conn, NOW, sweep=False) == 1
    assert [entry for _, entry, _ in leaves_in_order(engine)] == [*early, late_id]
    check_log(engine)


def test_a_sweep_finds_a_straggler_far_below(pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = pg_engine
    slow = engine.connect()
    slow_tx = slow.begin()
    late_id = submit(slow, "test", "things/late", {"late": True}, NOW)
    with engine.begin() as conn:
        for n in range(3):
            submit(conn, "test", "things/early", {"n": n}, NOW)
        log.integrate(conn, NOW)
    slow_tx.commit()
    slow.close()
    monkeypatch.setattr(log, "STRAGGLER_WINDOW", 1)
    with engine.begin() as conn:
        assert log.integrate(conn, NOW, sweep=False) == 0
    with engine.begin() as conn:
        assert log.integrate(conn, NOW) == 1  # sweep=True is the default
    assert leaves_in_order(engine)[-1][1] == late_id
    check_log(engine)
