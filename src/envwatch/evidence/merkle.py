"""Merkle tree hashing and proofs of RFC 9162 §2.1 (默克尔树): pure functions, no I/O.

- leaf hash ``SHA-256(0x00 ‖ entry)``, interior node ``SHA-256(0x01 ‖ left ‖ right)``, the empty tree's
  root ``SHA-256("")``;
- the tree over ``n`` leaves splits at ``k``, the largest power of two smaller than ``n``.

Roots and proofs are assembled from a :data:`NodeSource`: the hash of the *perfect* subtree at
``(level, index)``, covering leaves ``index·2^level … (index+1)·2^level − 1`` (level 0: the leaf hashes).
``evidence.log`` reads those from ``evidence_nodes``; :func:`root_of` builds one from a list of leaf hashes.
Every range the RFC's recursion asks for is the concatenation of O(log n) perfect subtrees, so a proof
touches O(log² n) nodes at most and never the leaves themselves.

Verification follows the RFC's algorithms (§2.1.3.2 inclusion, §2.1.4.2 consistency) step by step, so a
third party can compare this code with the text; a failure raises :class:`ProofError` saying which check
failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

NodeSource = Callable[[int, int], bytes]
"""``(level, index) -> hash`` of the perfect subtree over leaves ``index·2^level … (index+1)·2^level − 1``."""


class ProofError(ValueError):
    """A proof does not prove what it claims (or is malformed); the message says which check failed."""


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 ‖ entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node: ``SHA-256(0x01 ‖ left ‖ right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(start: int, end: int, node: NodeSource) -> bytes:
    """``MTH(D[start:end])``: the hash of the tree over leaves ``start … end − 1``.

    A range that is an aligned perfect subtree is one node; any other splits as the RFC does (at the largest
    power of two smaller than its length) and recurses."""
    if not 0 <= start < end:
        raise ValueError(f"subtree [{start}, {end}) is empty or negative: MTH needs at least one leaf")
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return node(level, start >> level)
    k = _split(n)
    return node_hash(subtree_hash(start, start + k, node), subtree_hash(start + k, end, node))


def root_hash(size: int, node: NodeSource) -> bytes:
    """The root of the tree of the first ``size`` leaves (``EMPTY_ROOT`` for size 0)."""
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, node)


def inclusion_proof(index: int, size: int, node: NodeSource) -> list[bytes]:
    """RFC 9162 §2.1.3.1 ``PATH(index, D[size])``: the audit path of leaf ``index``, leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves (0 ≤ index < size)")
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:  # the leaf is on the left: the sibling is the right part
            path.append(subtree_hash(start + k, end, node))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, node))
            start, m = start + k, m - k
    path.reverse()  # the recursion appends from the root down; the proof lists from the leaf up
    return path


def consistency_proof(old_size: int, new_size: int, node: NodeSource) -> list[bytes]:
    """RFC 9162 §2.1.4.1 ``PROOF(old_size, D[new_size])``; empty when ``old_size`` is 0 or equal."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}: need 0 ≤ old ≤ new")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, new_size, old_size, True
    # SUBPROOF(m, D[start:end], complete), unrolled: each step appends one hash and narrows the range
    while m != end - start:
        n = end - start
        k = _split(n)
        if m <= k:
            proof.append(subtree_hash(start + k, end, node))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, node))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(subtree_hash(start, end, node))
    proof.reverse()
    return proof


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for position, value in enumerate(hashes):
        if len(value) != HASH_SIZE:
            raise ProofError(f"{what} hash {position} has {len(value)} bytes, not {HASH_SIZE}")


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2: raise :class:`ProofError` unless ``proof`` shows that the leaf *hash* ``leaf`` is
    leaf ``index`` of the tree of ``size`` leaves whose root is ``root``."""
    _check_hashes("inclusion proof", proof)
    _check_hashes("leaf/root", [leaf, root])
    if not 0 <= index < size:  # step 1
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    fn, sn = index, size - 1  # step 2
    r = leaf  # step 3
    for p in proof:  # step 4
        if sn == 0:  # 4a
            raise ProofError("the inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    if sn != 0:  # step 5
        raise ProofError("the inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError("the inclusion proof leads to a different root: the leaf or the tree differs")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`ProofError` unless ``proof`` shows that the tree of ``old_size``
    leaves (root ``old_root``) is a prefix of the tree of ``new_size`` leaves (root ``new_root``).

    Sizes the RFC leaves out: equal sizes need an empty proof and equal roots; old size 0 needs an empty
    proof and ``old_root`` = ``EMPTY_ROOT`` (every tree extends the empty one)."""
    _check_hashes("consistency proof", proof)
    _check_hashes("old/new root", [old_root, new_root])
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} must be between 0 and the new size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("trees of equal size need an empty consistency proof")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree must be SHA-256 of nothing")
        return
    if not proof:  # step 1
        raise ProofError("an empty consistency proof between different sizes proves nothing")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: the old tree is a perfect subtree of the new
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:  # 6a
            raise ProofError("the consistency proof is longer than the path to the new root")
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    if sn != 0:  # step 7
        raise ProofError("the consistency proof is shorter than the path to the new root")
    if fr != old_root:
        raise ProofError("the consistency proof does not lead to the old root: the old tree differs")
    if sr != new_root:
        raise ProofError("the consistency proof does not lead to the new root: the new tree differs")


def perfect_nodes(leaves: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every perfect subtree of the tree over ``leaves`` (leaf hashes): ``{(level, index): hash}``."""
    nodes: dict[tuple[int, int], bytes] = {(0, i): h for i, h in enumerate(leaves)}
    level, width = 0, len(leaves)
    while width > 1:
        for j in range(width // 2):
            nodes[(level + 1, j)] = node_hash(nodes[(level, 2 * j)], nodes[(level, 2 * j + 1)])
        level, width = level + 1, width // 2
    return nodes


def node_source(leaves: Sequence[bytes]) -> NodeSource:
    """A :data:`NodeSource` over a list of leaf hashes held in memory (bundles, tests)."""
    nodes = perfect_nodes(leaves)

    def source(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise ValueError(f"no perfect subtree ({level}, {index}) among {len(leaves)} leaves") from None

    return source


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The root over leaf hashes straight from the RFC's recursive definition (the reference for tests)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))
