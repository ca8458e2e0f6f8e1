"""evidence.merkle against independent RFC 6962/9162 test vectors.

Every hex value below is copied from transparency-dev/merkle (Go, Apache-2.0):
- the 8 leaf inputs, every perfect-subtree node hash and the roots of sizes 0..8: ``testonly/constants.go``
  (``LeafInputs``, ``NodeHashes``, ``RootHashes``);
- the inclusion and consistency proofs: ``proof/verify_test.go`` (``inclusionProofs``, whose leaf numbers
  are 1-based there, and ``consistencyProofs``), which the Certificate Transparency implementations share.
"""

from __future__ import annotations

import pytest

from envwatch.evidence import merkle
from envwatch.evidence.merkle import ProofError


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# testonly/constants.go LeafInputs()
LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]

# testonly/constants.go NodeHashes(): [level][index]
NODE_HASHES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

# testonly/constants.go RootHashes(): index = tree size
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# proof/verify_test.go inclusionProofs, as (0-based leaf index, tree size, proof)
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# proof/verify_test.go consistencyProofs, as (size1, size2, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

LEAVES = [merkle.leaf_hash(data) for data in LEAF_INPUTS]
SOURCE = merkle.node_source(LEAVES)
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")  # verify_test.go


def test_empty_root_is_sha256_of_nothing() -> None:
    assert ROOTS[0] == merkle.EMPTY_ROOT
    assert merkle.root_of([]) == ROOTS[0]
    assert merkle.root_hash(0, SOURCE) == ROOTS[0]


def test_leaf_and_node_hashes_match_every_published_node() -> None:
    nodes = merkle.perfect_nodes(LEAVES)
    for level, row in enumerate(NODE_HASHES):
        for index, value in enumerate(row):
            assert nodes[(level, index)].hex() == value, (level, index)
    assert len(nodes) == sum(len(row) for row in NODE_HASHES)


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_sizes_1_to_8(size: int) -> None:
    assert merkle.root_of(LEAVES[:size]) == ROOTS[size]
    assert merkle.root_hash(size, SOURCE) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_known_inclusion_proofs_are_generated_and_verify(index: int, size: int, proof: list[str]) -> None:
    assert [p.hex() for p in merkle.inclusion_proof(index, size, SOURCE)] == proof
    merkle.verify_inclusion(LEAVES[index], index, size, [h(p) for p in proof], ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_known_consistency_proofs_are_generated_and_verify(old: int, new: int, proof: list[str]) -> None:
    assert [p.hex() for p in merkle.consistency_proof(old, new, SOURCE)] == proof
    merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], [h(p) for p in proof])


def _inclusion_probes(
    index: int, size: int, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, list[bytes], bytes]]:
    """verify_test.go corruptInclusionProof: each must fail."""
    leaf, root = LEAVES[index], ROOTS[size]
    probes = [
        ("index - 1", index - 1, size, leaf, proof, root),
        ("index + 1", index + 1, size, leaf, proof, root),
        ("index ^ 2", index ^ 2, size, leaf, proof, root),
        ("size * 2", index, size * 2, leaf, proof, root),
        ("size / 2", index, size // 2, leaf, proof, root),
        ("wrong leaf", index, size, merkle.leaf_hash(b"WrongLeaf"), proof, root),
        ("empty root", index, size, leaf, proof, merkle.EMPTY_ROOT),
        ("random root", index, size, leaf, proof, SOME_HASH),
        ("trailing garbage", index, size, leaf, [*proof, b""], root),
        ("trailing root", index, size, leaf, [*proof, root], root),
        ("preceding garbage", index, size, leaf, [b"", *proof], root),
        ("preceding root", index, size, leaf, [root, *proof], root),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((f"modified proof[{i}] bit 3", index, size, leaf, wrong, root))
    if proof:
        probes.append(("removed component", index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        probes.append(("inserted component", index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION[1:])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[str]) -> None:
    for what, i, n, leaf, path, root in _inclusion_probes(index, size, [h(p) for p in proof]):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaf, i, n, path, root)
            pytest.fail(f"verified against: {what}")


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY[1:])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[str]) -> None:
    """verify_test.go corruptConsistencyProof: each must fail."""
    path = [h(p) for p in proof]
    r1, r2 = ROOTS[old], ROOTS[new]
    wrong_root = merkle.leaf_hash(b"WrongRoot")
    probes = [
        ("size1 - 1", old - 1, new, r1, r2, path),
        ("size1 + 1", old + 1, new, r1, r2, path),
        ("size1 ^ 2", old ^ 2, new, r1, r2, path),
        ("size2 * 2", old, new * 2, r1, r2, path),
        ("size2 / 2", old, new // 2, r1, r2, path),
        ("wrong root1", old, new, wrong_root, r2, path),
        ("wrong root2", old, new, r1, wrong_root, path),
        ("swapped roots", old, new, r2, r1, path),
        ("empty proof", old, new, r1, r2, []),
        ("trailing garbage", old, new, r1, r2, [*path, b""]),
        ("trailing root1", old, new, r1, r2, [*path, r1]),
        ("trailing root2", old, new, r1, r2, [*path, r2]),
        ("preceding garbage", old, new, r1, r2, [b"", *path]),
        ("preceding root1", old, new, r1, r2, [r1, *path]),
        ("preceding root2", old, new, r1, r2, [r2, *path]),
        ("preceding proof[0]", old, new, r1, r2, [path[0], *path]),
        ("truncated proof", old, new, r1, r2, path[:-1]),
    ]
    for i in range(len(path)):
        wrong = list(path)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((f"modified proof[{i}] bit 4", old, new, r1, r2, wrong))
    for what, s1, s2, a, b, p in probes:
        with pytest.raises(ProofError):
            merkle.verify_consistency(s1, s2, a, b, p)
            pytest.fail(f"verified against: {what}")


def test_trivial_consistency_cases_from_verify_test() -> None:
    """verify_test.go TestVerifyConsistency's fixed cases (with real 32-byte roots)."""
    r1, r2 = ROOTS[1], ROOTS[2]
    merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    merkle.verify_consistency(0, 1, merkle.EMPTY_ROOT, r1, [])
    merkle.verify_consistency(1, 1, r2, r2, [])
    for s1, s2, a, b, p in [
        (1, 1, r1, r2, []),  # same size, different roots
        (1, 0, r1, r2, []),  # time travel
        (2, 1, r1, r2, []),
        (1, 2, r1, r2, []),  # empty proof
        (0, 1, merkle.EMPTY_ROOT, r1, [merkle.EMPTY_ROOT]),  # roots fine, proof not empty
        (1, 1, r1, r1, [merkle.EMPTY_ROOT]),
    ]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(s1, s2, a, b, p)


def test_single_leaf_and_out_of_range_inclusion() -> None:
    """verify_test.go TestVerifyInclusionSingleEntry and TestVerifyInclusion's bad probes."""
    leaf = merkle.leaf_hash(b"data")
    merkle.verify_inclusion(leaf, 0, 1, [], leaf)  # root of a one-leaf tree is the leaf hash
    for index, size, a, b in [(0, 1, leaf, b""), (0, 1, b"", leaf), (0, 0, SOME_HASH, merkle.EMPTY_ROOT)]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(a, index, size, [], b)
    for index, size in [(1, 0), (2, 1), (0, 0)]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(SOME_HASH, index, size, [], merkle.EMPTY_ROOT)


def test_generation_refuses_impossible_requests() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(8, 8, SOURCE)
    with pytest.raises(ValueError):
        merkle.consistency_proof(5, 4, SOURCE)
    assert merkle.consistency_proof(0, 8, SOURCE) == []
    assert merkle.consistency_proof(8, 8, SOURCE) == []
