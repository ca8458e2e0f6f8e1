"""The Merkle log's part of ``envwatch evidence verify`` (核验默克尔树): leaves, tree nodes, checkpoints.

Streams the log in aligned chunks of :data:`CHUNK` leaves, never holding the whole tree:

- leaf ``i``: the entry body's leaf hash, the ``evidence_leaves`` row and the level-0 node must agree. When
  two of the three agree, the third is the one that was changed and is named alone (so a changed body is
  *one* problem, not a cascade through every node and checkpoint above it); the agreed value is the truth
  the tree above is recomputed from. A missing leaf index is a gap and is named.
- every perfect subtree (``evidence_nodes`` level ``k`` index ``j``) is recomputed from the truths below it
  and compared with its row: inside a chunk level by level, above it like the carries of a binary counter.
  A row that differs or is missing is named and its recomputed value kept (``corrections``) for the roots.
- every checkpoint's signed note verifies with the platform key, its columns equal the note, its root equals
  the root recomputed at its size, and each is consistent with the one before (RFC 9162 consistency proof
  as ``evidence.log`` serves it, checked by ``merkle.verify_consistency``).

Problems go to a callback ``(what, where, detail)``; ``evidence.verify`` collects them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from envwatch.core.errors import EnvwatchError
from envwatch.core.evidence_schema import evidence_entries
from envwatch.evidence import log as evidence_log
from envwatch.evidence import merkle
from envwatch.evidence.checkpoint import NoteError, open_note
from envwatch.evidence.schema import evidence_checkpoints, evidence_leaves, evidence_nodes

Report = Callable[[str, str, str], None]
Progress = Callable[[str, int, int], None]

CHUNK_LEVELS = 12
CHUNK = 1 << CHUNK_LEVELS
"""Leaves read and recomputed at a time (4096): bounded memory however long the log is."""
MAX_CORRECTIONS = 1_000_000
"""Recomputed values kept for changed or missing nodes; beyond that the store is beyond repair anyway."""


def _h(value: str | None) -> bytes | None:
    """A stored hex hash as bytes; None for absent or garbled text (a garbled row simply mismatches)."""
    if value is None:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return b""
    return raw


def _hex(value: bytes | None) -> str:
    return "—" if value is None else value.hex() or "(not hex)"


def node_where(level: int, index: int) -> str:
    return f"evidence_nodes level {level} index {index}"


class TreeCheck:
    """One pass over leaves and nodes, then the checkpoints; see the module docstring."""

    def __init__(self, report: Report, progress: Progress | None = None) -> None:
        self.report = report
        self.progress = progress
        self.size = 0
        self.nodes_checked = 0
        self.corrections: dict[tuple[int, int], bytes | None] = {}
        self._pending: dict[int, bytes | None] = {}
        self._upper: list[tuple[int, int, bytes | None]] = []
        self._cache: dict[tuple[int, int], bytes | None] = {}
        self._conn: Connection | None = None  # the connection node() reads rows with, while checkpoints run

    # --- leaves and nodes ----------------------------------------------------------------------------
    def check_tree(self, engine: Engine) -> int:
        """Check every leaf and node below the current tree size; returns that size."""
        with engine.connect() as conn:
            # the leaves say how big the tree is; node rows past them are named by _extra_nodes
            self.size = evidence_log.tree_size(conn)
            for start in range(0, self.size, CHUNK):
                self._chunk(conn, start, min(start + CHUNK, self.size))
                conn.rollback()  # end the read transaction: a long verify must not pin an old snapshot
                if self.progress:
                    self.progress("tree", min(start + CHUNK, self.size), self.size)
            self._extra_nodes(conn)
        return self.size

    def _stored(self, conn: Connection, level: int, first: int, end: int) -> dict[int, str]:
        rows = conn.execute(
            select(evidence_nodes.c.node_index, evidence_nodes.c.hash).where(
                evidence_nodes.c.level == level,
                evidence_nodes.c.node_index >= first,
                evidence_nodes.c.node_index < end,
            )
        )
        return {int(index): str(value) for index, value in rows}

    def _chunk(self, conn: Connection, start: int, end: int) -> None:
        leaves = {
            int(row.leaf_index): row
            for row in conn.execute(
                select(evidence_leaves, evidence_entries.c.body)
                .join(evidence_entries, evidence_entries.c.id == evidence_leaves.c.entry_id)
                .where(evidence_leaves.c.leaf_index >= start, evidence_leaves.c.leaf_index < end)
            )
        }
        level0 = self._stored(conn, 0, start, end)
        truths = [self._leaf_truth(i, leaves.get(i), level0.get(i)) for i in range(start, end)]
        level, first = 0, start
        while len(truths) >= 2:
            level, first = level + 1, first >> 1
            stored = self._stored(conn, level, first, first + len(truths) // 2)
            truths = [
                self._compare(
                    level, first + j, _join(truths[2 * j], truths[2 * j + 1]), stored.get(first + j)
                )
                for j in range(len(truths) // 2)
            ]
        if end - start == CHUNK:  # a whole chunk: its root joins the subtrees above chunks
            self._carry(CHUNK_LEVELS, start >> CHUNK_LEVELS, truths[0])
            for up_level, index, value in self._upper:
                stored = self._stored(conn, up_level, index, index + 1)
                self._compare(up_level, index, value, stored.get(index))
            self._upper.clear()

    def _carry(self, level: int, index: int, value: bytes | None) -> None:
        while index & 1:
            value = _join(self._pending.pop(level), value)
            level, index = level + 1, index >> 1
            self._upper.append((level, index, value))
        self._pending[level] = value

    def _leaf_truth(self, index: int, leaf: Any, node0: str | None) -> bytes | None:
        """The leaf hash of position ``index`` as two of the three witnesses agree (module docstring)."""
        if leaf is None:
            self.report(
                "leaf_missing",
                f"evidence_leaves/{index}",
                "no leaf with this index: the leaf indices have a gap (a row was deleted)",
            )
            return self._compare(0, index, None, node0)
        body, row = merkle.leaf_hash(str(leaf.body).encode()), _h(str(leaf.leaf_hash))
        node = _h(node0)
        entry = f"evidence_entries/{leaf.entry_id} (leaf {index})"
        if body == row:
            return self._compare(0, index, body, node0)
        self.nodes_checked += 1  # the level-0 node was one of the witnesses
        if node == row:
            self.report(
                "entry_changed",
                entry,
                f"the body hashes to leaf {_hex(body)}, but its leaf and the tree hold {_hex(row)}: the body "
                "(or the kind, ref or time in it) was changed after it was logged",
            )
            return row
        if node == body:
            self.report(
                "leaf_changed",
                f"evidence_leaves/{index} (entry {leaf.entry_id})",
                f"leaf_hash is {_hex(row)}, but the entry body and the tree give {_hex(body)}",
            )
            return body
        self.report(
            "leaf_changed",
            entry,
            f"the body hashes to {_hex(body)}, the leaf row holds {_hex(row)}, the tree node holds "
            f"{_hex(node)}: more than one of them was changed",
        )
        self._correct(0, index, row)
        return row

    def _compare(self, level: int, index: int, truth: bytes | None, stored: str | None) -> bytes | None:
        """Compare one stored node with its recomputed value; returns the value to build on."""
        self.nodes_checked += 1
        value = _h(stored)
        if truth is None:  # nothing below to recompute from (a gap): the stored row is all there is
            if value is None:
                self.report("node_missing", node_where(level, index), "no row, and its leaves are gone")
            return value
        if value is None:
            self.report("node_missing", node_where(level, index), f"no row; recomputed {truth.hex()}")
            self._correct(level, index, truth)
        elif value != truth:
            self.report(
                "node_changed",
                node_where(level, index),
                f"holds {_hex(value)}, but the hash of its two children is {truth.hex()}"
                if level
                else f"holds {_hex(value)}, but leaf {index} is {truth.hex()}",
            )
            self._correct(level, index, truth)
        return truth

    def _correct(self, level: int, index: int, value: bytes | None) -> None:
        if len(self.corrections) < MAX_CORRECTIONS:
            self.corrections[(level, index)] = value

    def _extra_nodes(self, conn: Connection) -> None:
        """Node rows for subtrees the tree has not completed (written by hand, or left by deleted leaves)."""
        levels = [int(lv) for lv in conn.execute(select(evidence_nodes.c.level).distinct()).scalars()]
        beyond: list[tuple[int, int]] = []
        for level in levels:
            rows = conn.execute(
                select(evidence_nodes.c.node_index)
                .where(evidence_nodes.c.level == level, evidence_nodes.c.node_index >= self.size >> level)
                .order_by(evidence_nodes.c.node_index)
                .limit(1000)
            )
            beyond += [(level, int(index)) for (index,) in rows]
        # read the size after the nodes: a node integrated meanwhile has its leaves committed with it
        now_size = evidence_log.tree_size(conn)
        for level, index in beyond:
            if (index + 1) << level > now_size:
                self.report(
                    "node_extra",
                    node_where(level, index),
                    f"covers leaves up to {((index + 1) << level) - 1}, but the log has {now_size} leaves",
                )

    # --- checkpoints ---------------------------------------------------------------------------------
    def node(self, level: int, index: int) -> bytes:
        """The true hash of a perfect subtree: the recomputed value where the row was wrong, else the row."""
        key = (level, index)
        if key in self.corrections:
            value = self.corrections[key]
        elif key in self._cache:
            value = self._cache[key]
        else:
            value = None
            if self._conn is not None:
                row = self._conn.execute(
                    select(evidence_nodes.c.hash).where(
                        evidence_nodes.c.level == level, evidence_nodes.c.node_index == index
                    )
                ).scalar()
                value = _h(row)
            if len(self._cache) < 100_000:
                self._cache[key] = value
        if value is None:
            raise LookupError(f"{node_where(level, index)} is missing and cannot be recomputed")
        return value

    def check_checkpoints(self, engine: Engine, vkey: str) -> int:
        """Every checkpoint, oldest first: signature, columns, root, consistency with the previous one."""
        checked, last_id, previous = 0, 0, None
        with engine.connect() as conn:
            self._conn = conn
            total = int(conn.execute(select(func.count()).select_from(evidence_checkpoints)).scalar_one())
            while True:
                rows = conn.execute(
                    select(evidence_checkpoints)
                    .where(evidence_checkpoints.c.id > last_id)
                    .order_by(evidence_checkpoints.c.id)
                    .limit(500)
                ).all()
                if not rows:
                    break
                for row in rows:
                    previous = self._checkpoint(conn, row, vkey, previous)
                    checked += 1
                last_id = int(rows[-1].id)
                if self.progress:
                    self.progress("checkpoints", checked, total)
            self._conn = None
        return checked

    def _checkpoint(
        self, conn: Connection, row: Any, vkey: str, previous: tuple[int, int, bytes] | None
    ) -> tuple[int, int, bytes] | None:
        where = f"evidence_checkpoints/{row.id} (size {row.tree_size})"
        try:
            signed = open_note(str(row.note), vkey)
        except NoteError as exc:
            self.report(
                "checkpoint_signature", where, f"the signed note does not verify with the platform key: {exc}"
            )
            return previous
        size, root = signed.size, signed.root
        if int(row.tree_size) != size or str(row.root_hash) != root.hex():
            self.report(
                "checkpoint_changed",
                where,
                f"the columns say size {row.tree_size} root {row.root_hash}; the signed note says size {size} "
                f"root {root.hex()}",
            )
        if size > self.size:
            self.report(
                "checkpoint_beyond_log",
                where,
                f"signed for {size} leaves, but the log has {self.size}: leaves were removed",
            )
        else:
            try:
                recomputed = merkle.root_hash(size, self.node)
            except LookupError as exc:
                self.report("checkpoint_root", where, f"the root at size {size} cannot be recomputed: {exc}")
            else:
                if recomputed != root:
                    self.report(
                        "checkpoint_root",
                        where,
                        f"signed root {root.hex()}, but the leaves give {recomputed.hex()}: the log was changed",
                    )
        if previous is not None:
            self._consistency(conn, previous, (int(row.id), size, root))
        return int(row.id), size, root

    def _consistency(
        self, conn: Connection, old: tuple[int, int, bytes], new: tuple[int, int, bytes]
    ) -> None:
        """The proof the log serves must verify. If it fails only because of node rows already named (the
        proof from the recomputed nodes verifies), that is not a second problem; otherwise the two signed
        trees really are inconsistent (a split view) and it is named."""
        where = f"evidence_checkpoints/{old[0]} → {new[0]} (sizes {old[1]} → {new[1]})"
        if new[1] < old[1]:
            self.report("checkpoint_consistency", where, "the later checkpoint has fewer leaves")
            return
        if new[1] > self.size:
            return  # already named as checkpoint_beyond_log
        try:
            merkle.verify_consistency(
                old[1], new[1], old[2], new[2], evidence_log.consistency(conn, old[1], new[1])
            )
            return
        except (merkle.ProofError, EnvwatchError, ValueError) as exc:
            served = str(exc)
        try:
            merkle.verify_consistency(
                old[1], new[1], old[2], new[2], merkle.consistency_proof(old[1], new[1], self.node)
            )
        except (merkle.ProofError, LookupError, ValueError):
            self.report("checkpoint_consistency", where, f"the consistency proof fails: {served}")


def _join(left: bytes | None, right: bytes | None) -> bytes | None:
    return None if left is None or right is None else merkle.node_hash(left, right)
