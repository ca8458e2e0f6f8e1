"""The evidence log over the database (存证日志): the sequencer, checkpoints and proofs.

- :func:`integrate` is the sequencer (定序器): submitted ``evidence_entries`` without a leaf get leaves
  ``size, size+1, …`` in entry-id order, and every perfect subtree those leaves complete is written to
  ``evidence_nodes`` (like the carries of a binary counter: appending leaf ``i`` completes one subtree per
  trailing 1-bit of ``i``). One sequencer at a time: on PostgreSQL a transaction-scoped advisory lock, on
  SQLite the database's single write lock taken up front (``BEGIN IMMEDIATE``), so a second sequencer waits
  and then continues from the first one's leaves; the primary key on ``leaf_index`` and the unique
  ``entry_id`` would refuse a gap-free violation even if the lock were bypassed.
- Entries can commit out of id order on PostgreSQL (a long transaction holds a low id while later ones
  commit). Pending entries are found as "no leaf yet", not "id above the last leaf", so such a straggler is
  integrated by a later round. A full search for them scans every entry, so rounds may pass
  ``sweep=False`` to look only within :data:`STRAGGLER_WINDOW` ids of the newest leaf; the checkpoint
  round always sweeps everything before it signs (see ``evidence.loops``).
- :func:`make_checkpoint` signs the current root (C2SP checkpoint, ``evidence.checkpoint``) after checking
  it is consistent with the previous checkpoint, so damaged nodes are never signed over.
- Roots and proofs are assembled from ``evidence_nodes`` with ``evidence.merkle``: the nodes a proof needs
  are worked out first and read in one query (O(log² n) rows at most), never the leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, exists, func, insert, or_, select, text

from envwatch.core.errors import InvalidInput, Unavailable
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import merkle
from envwatch.evidence.checkpoint import Checkpoint, key_id, sign
from envwatch.evidence.keys import signing_key
from envwatch.evidence.schema import evidence_checkpoints, evidence_leaves, evidence_nodes

T = TypeVar("T")

SEQUENCER_LOCK = 0x65766C6F67  # "evlog": the PostgreSQL advisory lock key of the sequencer
STRAGGLER_WINDOW = 100_000
"""How far below the newest integrated entry id a ``sweep=False`` round looks for late commits."""

_PLACEHOLDER = bytes(32)


def _lock(conn: Connection) -> None:
    """Become the one sequencer until this transaction ends (waits for another one to finish)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK})
    elif dialect == "sqlite":
        # pysqlite opens its transaction only at the first write, after our reads: two sequencers would
        # read the same tree size. Taking the write lock first (waiting up to busy_timeout) serialises
        # them; if the caller already wrote in this transaction, it holds the write lock already.
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            dbapi.execute("BEGIN IMMEDIATE")
    else:  # pragma: no cover - only the two supported databases
        raise Unavailable(f"the evidence sequencer does not know how to lock on {dialect}")


def tree_size(conn: Connection) -> int:
    """How many leaves the log has (leaf indices are gap-free, so the largest one plus one)."""
    top = conn.execute(select(func.max(evidence_leaves.c.leaf_index))).scalar()
    return 0 if top is None else int(top) + 1


def _fetch_nodes(conn: Connection, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    by_level: dict[int, list[int]] = {}
    for level, index in wanted:
        by_level.setdefault(level, []).append(index)
    if not by_level:
        return {}
    n = evidence_nodes.c
    condition = or_(
        *(and_(n.level == level, n.node_index.in_(indices)) for level, indices in by_level.items())
    )
    rows = conn.execute(select(n.level, n.node_index, n.hash).where(condition))
    return {(int(level), int(index)): bytes.fromhex(value) for level, index, value in rows}


def _missing(level: int, index: int) -> Exception:
    return Unavailable(
        f"evidence_nodes has no node (level {level}, index {index}) although the tree should contain it: "
        "the log is damaged; run `envwatch evidence verify`"
    )


def nodes(conn: Connection) -> merkle.NodeSource:
    """A :data:`merkle.NodeSource` reading ``evidence_nodes`` one node at a time (cached per source)."""
    cache: dict[tuple[int, int], bytes] = {}

    def source(level: int, index: int) -> bytes:
        key = (level, index)
        if key not in cache:
            found = _fetch_nodes(conn, [key])
            if key not in found:
                raise _missing(level, index)
            cache[key] = found[key]
        return cache[key]

    return source


def _assemble(conn: Connection, build: Callable[[merkle.NodeSource], T]) -> T:
    """Run ``build`` twice: once to learn which nodes it reads, then with those nodes read in one query."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return _PLACEHOLDER

    build(record)
    found = _fetch_nodes(conn, wanted)

    def source(level: int, index: int) -> bytes:
        try:
            return found[(level, index)]
        except KeyError:
            raise _missing(level, index) from None

    return build(source)


def _check_size(conn: Connection, size: int) -> None:
    current = tree_size(conn)
    if not 0 <= size <= current:
        raise InvalidInput(f"tree size {size} is not between 0 and the log's current size {current}")


def root_at(conn: Connection, size: int) -> bytes:
    """The root hash of the tree of the first ``size`` leaves."""
    _check_size(conn, size)
    return _assemble(conn, lambda source: merkle.root_hash(size, source))


def inclusion(conn: Connection, leaf_index: int, size: int) -> list[bytes]:
    """The inclusion proof (audit path) of leaf ``leaf_index`` in the tree of ``size`` leaves."""
    _check_size(conn, size)
    if not 0 <= leaf_index < size:
        raise InvalidInput(f"leaf {leaf_index} is not in a tree of {size} leaves: need 0 ≤ leaf < size")
    return _assemble(conn, lambda source: merkle.inclusion_proof(leaf_index, size, source))


def consistency(conn: Connection, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof that the tree of ``old_size`` leaves is a prefix of that of ``new_size``."""
    _check_size(conn, new_size)
    if not 0 <= old_size <= new_size:
        raise InvalidInput(f"no consistency proof from size {old_size} to {new_size}: need 0 ≤ old ≤ new")
    return _assemble(conn, lambda source: merkle.consistency_proof(old_size, new_size, source))


def _frontier(conn: Connection, size: int) -> list[tuple[int, bytes]]:
    """The perfect subtrees of ``size``'s binary decomposition, largest first (the sequencer's stack)."""
    keys: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, start >> level))
            start += 1 << level
    found = _fetch_nodes(conn, keys)
    missing = [key for key in keys if key not in found]
    if missing:
        raise _missing(*missing[0])
    return [(level, found[(level, index)]) for level, index in keys]


def _pending(conn: Connection, limit: int, sweep: bool) -> list[tuple[int, str]]:
    e = evidence_entries.c
    query = (
        select(e.id, e.body)
        .where(~exists().where(evidence_leaves.c.entry_id == e.id))
        .order_by(e.id)
        .limit(limit)
    )
    if not sweep:
        newest = conn.execute(select(func.max(evidence_leaves.c.entry_id))).scalar()
        if newest is not None:
            query = query.where(e.id > int(newest) - STRAGGLER_WINDOW)
    return [(int(entry_id), body) for entry_id, body in conn.execute(query)]


def integrate(conn: Connection, now: datetime, limit: int = 1000, *, sweep: bool = True) -> int:
    """Give up to ``limit`` pending entries their leaves (in entry-id order) and write the completed
    nodes; returns how many were integrated. Call it in its own transaction: it holds the sequencer lock
    until that transaction ends."""
    if limit < 1:
        raise InvalidInput(f"integrate limit {limit} must be at least 1")
    _lock(conn)
    pending = _pending(conn, limit, sweep)
    if not pending:
        return 0
    size = tree_size(conn)
    stack = _frontier(conn, size)
    leaf_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    for offset, (entry_id, body) in enumerate(pending):
        index = size + offset
        value = merkle.leaf_hash(body.encode())
        leaf_rows.append(
            {"leaf_index": index, "entry_id": entry_id, "leaf_hash": value.hex(), "integrated_at": now}
        )
        node_rows.append({"level": 0, "node_index": index, "hash": value.hex()})
        level, position = 0, index
        while position & 1:  # a carry: the left sibling of the same level is on top of the stack
            left_level, left = stack.pop()
            assert left_level == level, "sequencer stack out of step with the tree size"
            value = merkle.node_hash(left, value)
            level, position = level + 1, position >> 1
            node_rows.append({"level": level, "node_index": position, "hash": value.hex()})
        stack.append((level, value))
    conn.execute(insert(evidence_leaves), leaf_rows)
    conn.execute(insert(evidence_nodes), node_rows)
    return len(pending)


def _checkpoint_dict(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "tree_size": int(row.tree_size),
        "root_hash": row.root_hash,
        "note": row.note,
        "key_name": row.key_name,
        "created_at": row.created_at,
    }


def latest_checkpoint(conn: Connection) -> dict[str, Any] | None:
    """The newest checkpoint ``{id, tree_size, root_hash (hex), note, key_name, created_at}``, or None."""
    row = conn.execute(
        select(evidence_checkpoints).order_by(evidence_checkpoints.c.id.desc()).limit(1)
    ).one_or_none()
    return None if row is None else _checkpoint_dict(row)


def checkpoint_at(conn: Connection, size: int) -> dict[str, Any] | None:
    """The (first) checkpoint of the tree of ``size`` leaves, or None when none was signed at that size."""
    c = evidence_checkpoints.c
    row = conn.execute(
        select(evidence_checkpoints).where(c.tree_size == size).order_by(c.id).limit(1)
    ).one_or_none()
    return None if row is None else _checkpoint_dict(row)


def checkpoints(conn: Connection, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Checkpoints, newest first, one page."""
    rows = conn.execute(
        select(evidence_checkpoints).order_by(evidence_checkpoints.c.id.desc()).limit(limit).offset(offset)
    )
    return [_checkpoint_dict(row) for row in rows]


def checkpoint_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(evidence_checkpoints)).scalar_one())


def make_checkpoint(conn: Connection, settings: Settings, now: datetime) -> dict[str, Any] | None:
    """Sign the current tree and store the checkpoint; None when the tree is empty or did not grow since
    the last checkpoint. Refuses (:class:`Unavailable`) to sign a tree inconsistent with the last one."""
    _lock(conn)  # two servers must not both sign the same size
    size = tree_size(conn)
    last = latest_checkpoint(conn)
    if size == 0 or (last is not None and last["tree_size"] == size):
        return None
    root = root_at(conn, size)
    if last is not None:
        old_size, old_root = last["tree_size"], bytes.fromhex(last["root_hash"])
        if old_size > size:
            raise Unavailable(
                f"the log has {size} leaves but checkpoint {last['id']} signed {old_size}: leaves were "
                "removed; run `envwatch evidence verify`"
            )
        try:
            merkle.verify_consistency(old_size, size, old_root, root, consistency(conn, old_size, size))
        except merkle.ProofError as exc:
            raise Unavailable(
                f"the tree of {size} leaves is not consistent with checkpoint {last['id']} ({exc}); nothing "
                "was signed: run `envwatch evidence verify`"
            ) from None
    name, private_key = signing_key(settings)
    note = sign(Checkpoint(settings.evidence_origin, size, root), private_key, name)
    key_name = f"{name}+{key_id(name, private_key.public_key()).hex()}"
    values = {
        "tree_size": size,
        "root_hash": root.hex(),
        "note": note,
        "key_name": key_name,
        "created_at": now,
    }
    result = conn.execute(insert(evidence_checkpoints).values(**values))
    (checkpoint_id,) = result.inserted_primary_key or (None,)
    if checkpoint_id is None:  # pragma: no cover - every backend we support returns the new key
        raise RuntimeError("the database did not return the new checkpoint's id")
    return {"id": int(checkpoint_id), **values}


def leaf_of_entry(conn: Connection, entry_id: int) -> dict[str, Any] | None:
    """``{leaf_index, entry_id, leaf_hash, integrated_at}`` of an entry, or None before it is integrated."""
    row = (
        conn.execute(select(evidence_leaves).where(evidence_leaves.c.entry_id == entry_id))
        .mappings()
        .one_or_none()
    )
    return None if row is None else dict(row)


def leaf_at(conn: Connection, leaf_index: int) -> dict[str, Any] | None:
    """The leaf row at ``leaf_index`` (same keys as :func:`leaf_of_entry`), or None past the tree."""
    row = (
        conn.execute(select(evidence_leaves).where(evidence_leaves.c.leaf_index == leaf_index))
        .mappings()
        .one_or_none()
    )
    return None if row is None else dict(row)


def _entry_query() -> Any:
    e, leaf = evidence_entries.c, evidence_leaves.c
    return select(
        e.id,
        e.kind,
        e.ref,
        e.body,
        e.submitted_at,
        leaf.leaf_index,
        leaf.leaf_hash,
        leaf.integrated_at,
    ).select_from(evidence_entries.outerjoin(evidence_leaves, leaf.entry_id == e.id))


def entry(conn: Connection, entry_id: int) -> dict[str, Any] | None:
    """One entry with its leaf (``leaf_index``, ``leaf_hash``, ``integrated_at`` None while pending)."""
    row = conn.execute(_entry_query().where(evidence_entries.c.id == entry_id)).mappings().one_or_none()
    return None if row is None else dict(row)


def entries_for_ref(conn: Connection, ref: str) -> list[dict[str, Any]]:
    """Every entry about ``ref`` (e.g. ``custody_events/17``), oldest first, each with its leaf if any."""
    query = _entry_query().where(evidence_entries.c.ref == ref).order_by(evidence_entries.c.id)
    return [dict(row) for row in conn.execute(query).mappings()]
