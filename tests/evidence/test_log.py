"""evidence.log on SQLite and PostgreSQL: the sequencer, roots and proofs from evidence_nodes against the
reference root_of() over the same leaves, and the lookups."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from envwatch.core.errors import InvalidInput
from envwatch.core.evidence import submit
from envwatch.core.evidence_schema import evidence_entries
from envwatch.evidence import log, merkle
from envwatch.evidence.schema import evidence_leaves, evidence_nodes

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def add_entries(engine: Engine, count: int, ref: str = "things/1") -> list[int]:
    with engine.begin() as conn:
        return [submit(conn, "test", ref, {"n": n}, NOW + timedelta(seconds=n)) for n in range(count)]


def reference_leaves(engine: Engine) -> list[bytes]:
    """Leaf hashes straight from the entry bodies, in entry-id order (the order a lone sequencer uses)."""
    with engine.connect() as conn:
        bodies = conn.execute(select(evidence_entries.c.body).order_by(evidence_entries.c.id)).scalars()
        return [merkle.leaf_hash(body.encode()) for body in bodies]


def integrate_all(engine: Engine, limit: int = 1000) -> int:
    total = 0
    while True:
        with engine.begin() as conn:
            done = log.integrate(conn, NOW, limit)
        total += done
        if done == 0:
            return total


def stored_nodes(engine: Engine) -> dict[tuple[int, int], bytes]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(evidence_nodes.c.level, evidence_nodes.c.node_index, evidence_nodes.c.hash)
        )
        return {(level, index): bytes.fromhex(value) for level, index, value in rows}


def test_empty_log(engine: Engine) -> None:
    with engine.begin() as conn:
        assert log.tree_size(conn) == 0
        assert log.root_at(conn, 0) == merkle.EMPTY_ROOT
        assert log.integrate(conn, NOW) == 0
        assert log.latest_checkpoint(conn) is None
        with pytest.raises(InvalidInput):
            log.root_at(conn, 1)


def test_every_size_0_to_70_matches_the_reference(engine: Engine) -> None:
    """Grown in uneven batches; then every root, inclusion and consistency proof of every smaller tree is
    assembled from evidence_nodes and equals the one computed from the leaves in memory."""
    batches = [1, 2, 1, 4, 3, 8, 5, 13, 7, 26]  # 70 entries
    for batch in batches:
        add_entries(engine, batch)
        with engine.begin() as conn:
            assert log.integrate(conn, NOW, limit=batch) == batch
    leaves = reference_leaves(engine)
    assert len(leaves) == 70
    assert stored_nodes(engine) == merkle.perfect_nodes(leaves)  # exactly the perfect subtrees, no more
    memory = merkle.node_source(leaves)
    with engine.connect() as conn:
        assert log.tree_size(conn) == 70
        for size in range(71):
            root = log.root_at(conn, size)
            assert root == merkle.root_of(leaves[:size]), size
            for index in range(size):
                proof = log.inclusion(conn, index, size)
                assert proof == merkle.inclusion_proof(index, size, memory)
                merkle.verify_inclusion(leaves[index], index, size, proof, root)
            for old in range(0, size + 1, 3 if size > 20 else 1):
                proof = log.consistency(conn, old, size)
                merkle.verify_consistency(old, size, merkle.root_of(leaves[:old]), root, proof)


def test_a_larger_log_and_proofs_read_few_nodes_and_no_leaves(engine: Engine) -> None:
    size = 5000
    add_entries(engine, size)
    assert integrate_all(engine, limit=1000) == size
    leaves = reference_leaves(engine)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    rng = random.Random(7)
    with engine.connect() as conn:
        root = log.root_at(conn, size)
        assert root == merkle.root_of(leaves)
        event.listen(engine, "before_cursor_execute", record)
        try:
            for _ in range(20):
                index = rng.randrange(size)
                statements.clear()
                proof = log.inclusion(conn, index, size)
                merkle.verify_inclusion(leaves[index], index, size, proof, root)
                # one query for the tree size, one for all the nodes the proof needs
                assert len(statements) == 2, statements
                assert not any("evidence_entries" in s for s in statements)
                assert not any("FROM evidence_leaves" in s and "max(" not in s for s in statements)
                old = rng.randrange(1, size)
                statements.clear()
                proof = log.consistency(conn, old, size)
                merkle.verify_consistency(old, size, merkle.root_of(leaves[:old]), root, proof)
                assert len(statements) == 2, statements
        finally:
            event.remove(engine, "before_cursor_execute", record)


def test_integrate_takes_pending_entries_in_id_order_and_respects_the_limit(engine: Engine) -> None:
    ids = add_entries(engine, 5)
    with engine.begin() as conn:
        assert log.integrate(conn, NOW, limit=2) == 2
        assert log.tree_size(conn) == 2
    with engine.begin() as conn:
        assert log.integrate(conn, NOW + timedelta(seconds=5)) == 3
        rows = conn.execute(select(evidence_leaves).order_by(evidence_leaves.c.leaf_index)).all()
    assert [row.entry_id for row in rows] == ids
    assert [row.leaf_index for row in rows] == [0, 1, 2, 3, 4]
    assert rows[0].integrated_at == NOW and rows[4].integrated_at == NOW + timedelta(seconds=5)
    with pytest.raises(InvalidInput), engine.begin() as conn:
        log.integrate(conn, NOW, limit=0)


def test_lookups_of_entries_and_leaves(engine: Engine) -> None:
    first = add_entries(engine, 2, ref="custody_events/17")
    other = add_entries(engine, 1, ref="marks/3")
    with engine.begin() as conn:
        assert log.leaf_of_entry(conn, first[0]) is None
        pending = log.entries_for_ref(conn, "custody_events/17")
        assert [e["id"] for e in pending] == first and pending[0]["leaf_index"] is None
        log.integrate(conn, NOW)
    with engine.connect() as conn:
        leaf = log.leaf_of_entry(conn, other[0])
        assert leaf is not None and leaf["leaf_index"] == 2 and leaf["entry_id"] == other[0]
        assert log.leaf_at(conn, 2) == leaf
        assert log.leaf_at(conn, 3) is None
        entries = log.entries_for_ref(conn, "custody_events/17")
        assert [(e["id"], e["leaf_index"]) for e in entries] == [(first[0], 0), (first[1], 1)]
        assert entries[0]["kind"] == "test" and entries[0]["integrated_at"] == NOW
        assert bytes.fromhex(entries[1]["leaf_hash"]) == merkle.leaf_hash(entries[1]["body"].encode())
        found = log.entry(conn, other[0])
        assert found is not None and found["ref"] == "marks/3" and found["leaf_index"] == 2
        assert log.entry(conn, 999) is None
        assert log.entries_for_ref(conn, "nothing/1") == []


def test_proof_requests_outside_the_tree_are_refused(engine: Engine) -> None:
    add_entries(engine, 3)
    integrate_all(engine)
    with engine.connect() as conn:
        for call in (
            lambda: log.inclusion(conn, 3, 3),
            lambda: log.inclusion(conn, 0, 4),
            lambda: log.consistency(conn, 2, 4),
            lambda: log.consistency(conn, 3, 2),
            lambda: log.root_at(conn, -1),
        ):
            with pytest.raises(InvalidInput):
                call()
