"""Signed checkpoints of the log (SQLite and PostgreSQL): made only when the tree grew, verifiable with the
published vkey, consistent with each other, and never signed over a tree that contradicts the last one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert

from envwatch.core.errors import Unavailable
from envwatch.core.evidence import submit
from envwatch.core.settings import Settings
from envwatch.evidence import checkpoint, log, merkle
from envwatch.evidence.keys import public_vkey
from envwatch.evidence.schema import evidence_checkpoints

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def grow(engine: Engine, count: int) -> None:
    with engine.begin() as conn:
        for n in range(count):
            submit(conn, "test", "things/1", {"n": n}, NOW)
        log.integrate(conn, NOW)


def test_checkpoints_only_when_grown_and_they_verify(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        assert log.make_checkpoint(conn, settings, NOW) is None  # empty tree: nothing to sign
    grow(engine, 5)
    with engine.begin() as conn:
        first = log.make_checkpoint(conn, settings, NOW)
    assert first is not None and first["tree_size"] == 5
    with engine.begin() as conn:
        assert log.make_checkpoint(conn, settings, NOW + timedelta(minutes=5)) is None  # did not grow
    grow(engine, 6)
    with engine.begin() as conn:
        second = log.make_checkpoint(conn, settings, NOW + timedelta(minutes=10))
    assert second is not None and second["tree_size"] == 11

    vkey = public_vkey(settings)
    opened = [checkpoint.open_note(point["note"], vkey) for point in (first, second)]
    assert [(p.origin, p.size) for p in opened] == [
        (settings.evidence_origin, 5),
        (settings.evidence_origin, 11),
    ]
    assert [p.root.hex() for p in opened] == [first["root_hash"], second["root_hash"]]
    name, key_id, _ = checkpoint.parse_vkey(vkey)
    assert second["key_name"] == f"{name}+{key_id.hex()}"

    with engine.connect() as conn:
        assert log.latest_checkpoint(conn) == second
        assert log.checkpoint_at(conn, 5) == first
        assert log.checkpoint_at(conn, 6) is None
        assert log.checkpoints(conn, limit=1) == [second]
        assert log.checkpoints(conn, limit=1, offset=1) == [first]
        assert log.checkpoint_count(conn) == 2
        proof = log.consistency(conn, 5, 11)
    merkle.verify_consistency(5, 11, opened[0].root, opened[1].root, proof)


def test_a_tree_inconsistent_with_the_last_checkpoint_is_not_signed(
    engine: Engine, settings: Settings
) -> None:
    """A checkpoint row that does not match the nodes (a forged or damaged history) stops the signing."""
    grow(engine, 4)
    with engine.begin() as conn:
        conn.execute(
            insert(evidence_checkpoints).values(
                tree_size=4, root_hash="00" * 32, note="forged", key_name="x+00000000", created_at=NOW
            )
        )
    grow(engine, 3)
    with pytest.raises(Unavailable, match="not consistent"), engine.begin() as conn:
        log.make_checkpoint(conn, settings, NOW)
    with engine.connect() as conn:
        assert log.checkpoint_count(conn) == 1
