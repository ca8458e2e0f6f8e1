"""Properties of evidence.merkle against the reference root_of(): every proof for random trees verifies,
and any change (a flipped byte, another index, another size) makes it fail.

A proof does not carry the tree size by itself: the proof for leaf 0 of a 3-leaf tree is also a valid
proof for leaf 0 of a 4-leaf tree *with the same root* (the path has the same shape). The size is bound by
the signed checkpoint, which pairs it with its true root; so a wrong size is checked against the true root of
the claimed size, and against the same root whenever the audit path would have a different length."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from envwatch.evidence import merkle
from envwatch.evidence.merkle import ProofError


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


def flip(value: bytes, byte: int) -> bytes:
    position = byte % len(value)
    return value[:position] + bytes([value[position] ^ 0x01]) + value[position + 1 :]


def fails(check: Callable[..., None], *args: Any) -> bool:
    try:
        check(*args)
    except ProofError:
        return True
    return False


@st.composite
def tree_and_leaf(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=1, max_value=300))
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(min_value=1, max_value=300))
    return draw(st.integers(min_value=1, max_value=new)), new


@given(st.integers(min_value=0, max_value=300))
def test_root_from_nodes_equals_reference(size: int) -> None:
    hashes = leaves(size)
    assert merkle.root_hash(size, merkle.node_source(hashes)) == merkle.root_of(hashes)


@settings(max_examples=150)
@given(tree_and_leaf(), st.integers(min_value=0))
def test_inclusion_proofs_verify_and_any_change_fails(case: tuple[int, int], byte: int) -> None:
    size, index = case
    hashes = leaves(size)
    root = merkle.root_of(hashes)
    proof = merkle.inclusion_proof(index, size, merkle.node_source(hashes))
    merkle.verify_inclusion(hashes[index], index, size, proof, root)

    assert fails(merkle.verify_inclusion, flip(hashes[index], byte), index, size, proof, root)
    assert fails(merkle.verify_inclusion, hashes[index], index, size, proof, flip(root, byte))
    for other in {index - 1, index + 1, index ^ 1, index ^ 2} - {index}:
        assert fails(merkle.verify_inclusion, hashes[index], other, size, proof, root), other
    bigger = leaves(size * 2)
    for other_size in {size + 1, size - 1, size * 2, size // 2} - {size}:
        if other_size <= index:  # the leaf is not in a tree that small: always refused
            assert fails(merkle.verify_inclusion, hashes[index], index, other_size, proof, root)
            continue
        true_root = merkle.root_of(bigger[:other_size])
        assert fails(merkle.verify_inclusion, hashes[index], index, other_size, proof, true_root)
        if len(merkle.inclusion_proof(index, other_size, merkle.node_source(bigger))) != len(proof):
            assert fails(merkle.verify_inclusion, hashes[index], index, other_size, proof, root)
    if proof:
        which = byte % len(proof)
        changed = [flip(p, byte) if i == which else p for i, p in enumerate(proof)]
        assert fails(merkle.verify_inclusion, hashes[index], index, size, changed, root)
        assert fails(merkle.verify_inclusion, hashes[index], index, size, proof[:-1], root)
    assert fails(merkle.verify_inclusion, hashes[index], index, size, [*proof, root], root)


@settings(max_examples=150)
@given(two_sizes(), st.integers(min_value=0))
def test_consistency_proofs_verify_and_any_change_fails(sizes: tuple[int, int], byte: int) -> None:
    old, new = sizes
    hashes = leaves(new)
    old_root, new_root = merkle.root_of(hashes[:old]), merkle.root_of(hashes)
    proof = merkle.consistency_proof(old, new, merkle.node_source(hashes))
    merkle.verify_consistency(old, new, old_root, new_root, proof)

    assert fails(merkle.verify_consistency, old, new, flip(old_root, byte), new_root, proof)
    assert fails(merkle.verify_consistency, old, new, old_root, flip(new_root, byte), proof)
    if old == new:
        return
    for other in {old - 1, old + 1} - {0, old}:
        if other <= new:
            other_root = merkle.root_of(hashes[:other])
            assert fails(merkle.verify_consistency, other, new, other_root, new_root, proof), other
    longer = leaves(new + 1)
    assert fails(merkle.verify_consistency, old, new + 1, old_root, merkle.root_of(longer), proof)
    which = byte % len(proof)
    changed = [flip(p, byte) if i == which else p for i, p in enumerate(proof)]
    assert fails(merkle.verify_consistency, old, new, old_root, new_root, changed)
    assert fails(merkle.verify_consistency, old, new, old_root, new_root, proof[:-1])


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=1, max_value=200))
def test_subtree_hash_of_any_range_is_the_reference_root(start: int, length: int) -> None:
    hashes = leaves(start + length)
    assert merkle.subtree_hash(start, start + length, merkle.node_source(hashes)) == merkle.root_of(
        hashes[start:]
    )
