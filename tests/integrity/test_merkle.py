"""Tests for pacsguard.integrity.merkle (RFC 9162 §2.1 / RFC 6962 §2.1 Merkle trees)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacsguard.errors import ProofError
from pacsguard.integrity.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryTree,
    consistency_proof_ranges,
    fold,
    hash_children,
    hash_leaf,
    hashes_for_ranges,
    inclusion_path_ranges,
    perfect_nodes,
    proof_nodes,
    root_from_nodes,
    verify_consistency,
    verify_inclusion,
)

# --------------------------------------------------------------------------------------
# Known-answer vectors.
# Source: github.com/transparency-dev/merkle, proof/verify_test.go (the RFC 6962 test data
# inherited from google/certificate-transparency and google/trillian). Proof vectors there
# number leaves from 1 ("leaf" field); the tuples below use 0-based indices.
# --------------------------------------------------------------------------------------

KAT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

KAT_ROOTS = {  # tree size -> root
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

KAT_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

KAT_INCLUSION = [  # (0-based index, tree size, path)
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

KAT_CONSISTENCY = [  # (old size, new size, proof)
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

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _hexes(values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _kat_tree() -> MemoryTree:
    tree = MemoryTree()
    for leaf in KAT_LEAVES:
        tree.append(leaf)
    return tree


def _flip(value: bytes, position: int = 0, bit: int = 0x08) -> bytes:
    changed = bytearray(value)
    changed[position % len(changed)] ^= bit
    return bytes(changed)


# --------------------------------------------------------------------------------------
# Naive reference implementations, written straight from the RFC 9162 text on lists.
# --------------------------------------------------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1, recursively, over leaf hashes."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = _k(n)
    return hash_children(naive_mth(leaf_hashes[:k]), naive_mth(leaf_hashes[k:]))


def naive_path(m: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1."""
    n = len(leaf_hashes)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*naive_path(m, leaf_hashes[:k]), naive_mth(leaf_hashes[k:])]
    return [*naive_path(m - k, leaf_hashes[k:]), naive_mth(leaf_hashes[:k])]


def naive_subproof(m: int, leaf_hashes: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1."""
    n = len(leaf_hashes)
    if m == n:
        return [] if b else [naive_mth(leaf_hashes)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, leaf_hashes[:k], b), naive_mth(leaf_hashes[k:])]
    return [*naive_subproof(m - k, leaf_hashes[k:], False), naive_mth(leaf_hashes[:k])]


# A shared tree of 300 distinct leaves: every prefix of it is a tree of that size.
MAX_SIZE = 300
BIG_ENTRIES = [b"entry-%d" % i for i in range(MAX_SIZE)]
BIG_LEAVES = [hash_leaf(e) for e in BIG_ENTRIES]
BIG_TREE = MemoryTree()
for _entry in BIG_ENTRIES:
    BIG_TREE.append(_entry)

sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def old_and_new_size(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(sizes)
    return draw(st.integers(min_value=1, max_value=new)), new


# --------------------------------------------------------------------------------------
# Hashing and roots
# --------------------------------------------------------------------------------------


def test_empty_root_is_sha256_of_empty_string() -> None:
    assert EMPTY_ROOT.hex() == KAT_EMPTY_ROOT
    assert MemoryTree().root().hex() == KAT_EMPTY_ROOT
    assert Frontier().root().hex() == KAT_EMPTY_ROOT
    assert root_from_nodes(0, lambda level, index: b"") == EMPTY_ROOT


def test_leaf_hash_prefixes_zero_byte() -> None:
    assert hash_leaf(b"").hex() == KAT_ROOTS[1]
    assert hash_leaf(b"abc") == hashlib.sha256(b"\x00abc").digest()


def test_children_hash_prefixes_one_byte() -> None:
    left, right = hash_leaf(b"l"), hash_leaf(b"r")
    assert hash_children(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_roots_match_rfc6962_vectors_for_sizes_1_to_8() -> None:
    tree = _kat_tree()
    frontier = Frontier()
    for size in range(1, 9):
        frontier.append_leaf(hash_leaf(KAT_LEAVES[size - 1]))
        assert tree.root(size).hex() == KAT_ROOTS[size]
        assert frontier.root().hex() == KAT_ROOTS[size]
        assert naive_mth([hash_leaf(x) for x in KAT_LEAVES[:size]]).hex() == KAT_ROOTS[size]


@settings(max_examples=100)
@given(leaves=st.lists(st.binary(max_size=8), min_size=0, max_size=70))
def test_memory_tree_root_equals_naive_recursive_mth(leaves: list[bytes]) -> None:
    tree = MemoryTree()
    for leaf in leaves:
        tree.append(leaf)
    hashes = [hash_leaf(x) for x in leaves]
    for size in range(len(leaves) + 1):
        assert tree.root(size) == naive_mth(hashes[:size])


# --------------------------------------------------------------------------------------
# perfect_nodes / fold
# --------------------------------------------------------------------------------------


def test_perfect_nodes_decompose_a_prefix_into_its_binary_digits() -> None:
    assert perfect_nodes(0, 1) == [(0, 0)]
    assert perfect_nodes(0, 8) == [(3, 0)]
    assert perfect_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert perfect_nodes(8, 13) == [(2, 2), (0, 12)]
    assert perfect_nodes(4, 6) == [(1, 2)]


@pytest.mark.parametrize(("start", "end"), [(0, 0), (3, 3), (5, 2), (-1, 3), (1, 3), (2, 6)])
def test_perfect_nodes_rejects_ranges_that_do_not_occur_in_rfc_trees(start: int, end: int) -> None:
    with pytest.raises(ValueError):
        perfect_nodes(start, end)


def test_fold_rejects_empty_list() -> None:
    with pytest.raises(ValueError):
        fold([])


def _fold_range(start: int, end: int) -> bytes:
    return fold([BIG_TREE.node(level, i) for level, i in perfect_nodes(start, end)])


@settings(max_examples=200)
@given(size_index=size_and_index(), old_new=old_and_new_size())
def test_perfect_nodes_fold_equals_naive_mth_for_every_proof_range(
    size_index: tuple[int, int], old_new: tuple[int, int]
) -> None:
    size, index = size_index
    old, new = old_new
    ranges = [
        (0, size),
        (0, new),
        *inclusion_path_ranges(index, size),
        *consistency_proof_ranges(old, new),
    ]
    for start, end in ranges:
        assert _fold_range(start, end) == naive_mth(BIG_LEAVES[start:end])


def test_proof_nodes_lists_each_needed_node_once() -> None:
    ranges = inclusion_path_ranges(5, 13) + consistency_proof_ranges(5, 13)
    nodes = proof_nodes(ranges)
    assert len(nodes) == len(set(nodes))
    assert set(nodes) == {n for s, e in ranges for n in perfect_nodes(s, e)}


# --------------------------------------------------------------------------------------
# Inclusion proofs
# --------------------------------------------------------------------------------------


def test_inclusion_path_ranges_follow_rfc_order_bottom_up() -> None:
    # PATH(5, D[8]): sibling leaf 4, then [6, 8), then [0, 4).
    assert inclusion_path_ranges(5, 8) == [(4, 5), (6, 8), (0, 4)]
    assert inclusion_path_ranges(0, 1) == []
    with pytest.raises(ValueError):
        inclusion_path_ranges(3, 3)
    with pytest.raises(ValueError):
        inclusion_path_ranges(-1, 3)


@pytest.mark.parametrize(("index", "size", "path"), KAT_INCLUSION)
def test_inclusion_proof_generation_matches_known_vectors(
    index: int, size: int, path: list[str]
) -> None:
    assert _kat_tree().inclusion_proof(index, size) == _hexes(path)


@pytest.mark.parametrize(("index", "size", "path"), KAT_INCLUSION)
def test_known_inclusion_proofs_verify(index: int, size: int, path: list[str]) -> None:
    root = bytes.fromhex(KAT_ROOTS[size])
    verify_inclusion(hash_leaf(KAT_LEAVES[index]), index, size, _hexes(path), root)


def _inclusion_probes(
    index: int, size: int, path: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """Corruptions modelled on corruptInclusionProof in transparency-dev/merkle."""
    probes = [
        ("index - 1", index - 1, size, path, root, leaf),
        ("index + 1", index + 1, size, path, root, leaf),
        ("index ^ 2", index ^ 2, size, path, root, leaf),
        ("size * 2", index, size * 2, path, root, leaf),
        ("size // 2", index, size // 2, path, root, leaf),
        ("wrong leaf", index, size, path, root, hash_leaf(b"WrongLeaf")),
        ("empty root", index, size, path, EMPTY_ROOT, leaf),
        ("random root", index, size, path, SOME_HASH, leaf),
        ("trailing root", index, size, [*path, root], root, leaf),
        ("preceding root", index, size, [root, *path], root, leaf),
    ]
    for i in range(len(path)):
        changed = list(path)
        changed[i] = _flip(changed[i])
        probes.append((f"modified path[{i}]", index, size, changed, root, leaf))
    if path:
        probes.append(("removed element", index, size, path[:-1], root, leaf))
    if len(path) > 1:
        probes.append(
            ("inserted element", index, size, [path[0], SOME_HASH, *path[1:]], root, leaf)
        )
    return probes


@pytest.mark.parametrize(("index", "size", "path"), KAT_INCLUSION[1:])
def test_inclusion_proof_fails_for_every_corruption_of_known_vectors(
    index: int, size: int, path: list[str]
) -> None:
    root = bytes.fromhex(KAT_ROOTS[size])
    probes = _inclusion_probes(index, size, _hexes(path), root, hash_leaf(KAT_LEAVES[index]))
    for desc, p_index, p_size, p_path, p_root, p_leaf in probes:
        with pytest.raises(ProofError):
            verify_inclusion(p_leaf, p_index, p_size, p_path, p_root)
            pytest.fail(f"verified despite {desc}")


@settings(max_examples=300)
@given(size_index=size_and_index())
def test_generated_inclusion_proofs_verify_and_equal_rfc_path(
    size_index: tuple[int, int],
) -> None:
    size, index = size_index
    path = BIG_TREE.inclusion_proof(index, size)
    assert path == naive_path(index, BIG_LEAVES[:size])
    verify_inclusion(BIG_LEAVES[index], index, size, path, BIG_TREE.root(size))


@settings(max_examples=200)
@given(size_index=size_and_index(), position=st.integers(0, 31))
def test_inclusion_proof_fails_when_leaf_changed(
    size_index: tuple[int, int], position: int
) -> None:
    size, index = size_index
    path = BIG_TREE.inclusion_proof(index, size)
    with pytest.raises(ProofError):
        verify_inclusion(_flip(BIG_LEAVES[index], position), index, size, path, BIG_TREE.root(size))


@settings(max_examples=200)
@given(size_index=size_and_index(), element=st.integers(0), position=st.integers(0, 31))
def test_inclusion_proof_fails_when_path_byte_flipped(
    size_index: tuple[int, int], element: int, position: int
) -> None:
    size, index = size_index
    path = BIG_TREE.inclusion_proof(index, size)
    if not path:
        return
    element %= len(path)
    path[element] = _flip(path[element], position)
    with pytest.raises(ProofError):
        verify_inclusion(BIG_LEAVES[index], index, size, path, BIG_TREE.root(size))


@settings(max_examples=200)
@given(size_index=size_and_index(), position=st.integers(0, 31))
def test_inclusion_proof_fails_when_root_changed(
    size_index: tuple[int, int], position: int
) -> None:
    size, index = size_index
    path = BIG_TREE.inclusion_proof(index, size)
    root = _flip(BIG_TREE.root(size), position)
    with pytest.raises(ProofError):
        verify_inclusion(BIG_LEAVES[index], index, size, path, root)


@settings(max_examples=200)
@given(size_index=size_and_index(), other=st.integers(0, 2 * MAX_SIZE))
def test_inclusion_proof_fails_when_index_changed(size_index: tuple[int, int], other: int) -> None:
    size, index = size_index
    if other == index:
        other += 1
    path = BIG_TREE.inclusion_proof(index, size)
    with pytest.raises(ProofError):
        verify_inclusion(BIG_LEAVES[index], other, size, path, BIG_TREE.root(size))


def test_inclusion_failure_message_names_index_size_and_roots() -> None:
    tree = _kat_tree()
    path = tree.inclusion_proof(5, 8)
    wrong_root = SOME_HASH
    with pytest.raises(ProofError) as info:
        verify_inclusion(hash_leaf(KAT_LEAVES[5]), 5, 8, path, wrong_root)
    message = str(info.value)
    assert "leaf 5" in message
    assert "size 8" in message
    assert wrong_root.hex() in message
    assert KAT_ROOTS[8] in message


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 4)])
def test_inclusion_proof_fails_when_index_outside_tree(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(SOME_HASH, index, size, [], SOME_HASH)


def test_inclusion_proof_fails_when_hash_has_wrong_length() -> None:
    leaf = hash_leaf(b"data")
    verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(ProofError):
        verify_inclusion(b"", 0, 1, [], leaf)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 0, 1, [], b"")
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 0, 2, [b"short"], leaf)


# --------------------------------------------------------------------------------------
# Consistency proofs
# --------------------------------------------------------------------------------------


def test_consistency_proof_ranges_follow_rfc_order() -> None:
    # PROOF(6, D[8]) = [MTH(D[4:6]), MTH(D[6:8]), MTH(D[0:4])].
    assert consistency_proof_ranges(6, 8) == [(4, 6), (6, 8), (0, 4)]
    # PROOF(4, D[8]) does not repeat the old root: [MTH(D[4:8])].
    assert consistency_proof_ranges(4, 8) == [(4, 8)]
    assert consistency_proof_ranges(7, 7) == []


@pytest.mark.parametrize(("old", "new"), [(0, 0), (0, 5), (-1, 3), (6, 5)])
def test_consistency_proof_ranges_reject_undefined_sizes(old: int, new: int) -> None:
    with pytest.raises(ValueError):
        consistency_proof_ranges(old, new)


@pytest.mark.parametrize(("old", "new", "proof"), KAT_CONSISTENCY)
def test_consistency_proof_generation_matches_known_vectors(
    old: int, new: int, proof: list[str]
) -> None:
    assert _kat_tree().consistency_proof(old, new) == _hexes(proof)


@pytest.mark.parametrize(("old", "new", "proof"), KAT_CONSISTENCY)
def test_known_consistency_proofs_verify(old: int, new: int, proof: list[str]) -> None:
    old_root, new_root = bytes.fromhex(KAT_ROOTS[old]), bytes.fromhex(KAT_ROOTS[new])
    verify_consistency(old, new, old_root, new_root, _hexes(proof))


@pytest.mark.parametrize(("old", "new", "proof"), KAT_CONSISTENCY[1:])
def test_consistency_proof_fails_for_every_corruption_of_known_vectors(
    old: int, new: int, proof: list[str]
) -> None:
    """Corruptions modelled on corruptConsistencyProof in transparency-dev/merkle."""
    r1, r2 = bytes.fromhex(KAT_ROOTS[old]), bytes.fromhex(KAT_ROOTS[new])
    p = _hexes(proof)
    probes: list[tuple[str, int, int, bytes, bytes, list[bytes]]] = [
        ("old - 1", old - 1, new, r1, r2, p),
        ("old + 1", old + 1, new, r1, r2, p),
        ("old ^ 2", old ^ 2, new, r1, r2, p),
        ("new * 2", old, new * 2, r1, r2, p),
        ("new // 2", old, new // 2, r1, r2, p),
        ("wrong old root", old, new, SOME_HASH, r2, p),
        ("wrong new root", old, new, r1, SOME_HASH, p),
        ("swapped roots", old, new, r2, r1, p),
        ("empty proof", old, new, r1, r2, []),
        ("trailing old root", old, new, r1, r2, [*p, r1]),
        ("trailing new root", old, new, r1, r2, [*p, r2]),
        ("preceding old root", old, new, r1, r2, [r1, *p]),
        ("preceding new root", old, new, r1, r2, [r2, *p]),
        ("preceding proof[0]", old, new, r1, r2, [p[0], *p]),
        ("truncated", old, new, r1, r2, p[:-1]),
    ]
    for i in range(len(p)):
        changed = list(p)
        changed[i] = _flip(changed[i], bit=0x10)
        probes.append((f"modified proof[{i}]", old, new, r1, r2, changed))
    for desc, p_old, p_new, p_r1, p_r2, p_proof in probes:
        with pytest.raises(ProofError):
            verify_consistency(p_old, p_new, p_r1, p_r2, p_proof)
            pytest.fail(f"verified despite {desc}")


def test_consistency_proofs_verify_for_all_sizes_up_to_64() -> None:
    for new in range(1, 65):
        new_root = BIG_TREE.root(new)
        for old in range(1, new + 1):
            proof = BIG_TREE.consistency_proof(old, new)
            assert proof == naive_subproof(old, BIG_LEAVES[:new], True)
            verify_consistency(old, new, BIG_TREE.root(old), new_root, proof)


@settings(max_examples=300)
@given(old_new=old_and_new_size())
def test_generated_consistency_proofs_verify_and_equal_rfc_proof(
    old_new: tuple[int, int],
) -> None:
    old, new = old_new
    proof = BIG_TREE.consistency_proof(old, new)
    assert proof == naive_subproof(old, BIG_LEAVES[:new], True)
    verify_consistency(old, new, BIG_TREE.root(old), BIG_TREE.root(new), proof)


@settings(max_examples=300)
@given(
    old_new=old_and_new_size(),
    what=st.sampled_from(["element", "old root", "new root", "truncate", "extend"]),
    element=st.integers(0),
    position=st.integers(0, 31),
)
def test_consistency_proof_fails_when_tampered(
    old_new: tuple[int, int], what: str, element: int, position: int
) -> None:
    old, new = old_new
    if old == new:
        new = min(new + 1, MAX_SIZE)
        if old == new:
            old -= 1
    proof = BIG_TREE.consistency_proof(old, new)
    old_root, new_root = BIG_TREE.root(old), BIG_TREE.root(new)
    if what == "element":
        element %= len(proof)
        proof[element] = _flip(proof[element], position)
    elif what == "old root":
        old_root = _flip(old_root, position)
    elif what == "new root":
        new_root = _flip(new_root, position)
    elif what == "truncate":
        proof = proof[:-1]
    else:
        proof.append(SOME_HASH)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, proof)


def test_consistency_with_equal_sizes_needs_empty_proof_and_equal_roots() -> None:
    root = BIG_TREE.root(5)
    verify_consistency(5, 5, root, root, [])
    with pytest.raises(ProofError):
        verify_consistency(5, 5, root, root, [root])
    with pytest.raises(ProofError):
        verify_consistency(5, 5, root, BIG_TREE.root(6), [])


def test_consistency_from_empty_tree_needs_empty_proof_and_empty_root() -> None:
    verify_consistency(0, 7, EMPTY_ROOT, BIG_TREE.root(7), [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError):
        verify_consistency(0, 7, SOME_HASH, BIG_TREE.root(7), [])
    with pytest.raises(ProofError):
        verify_consistency(0, 7, EMPTY_ROOT, BIG_TREE.root(7), [EMPTY_ROOT])


def test_consistency_fails_when_old_size_exceeds_new_size() -> None:
    with pytest.raises(ProofError):
        verify_consistency(6, 5, BIG_TREE.root(6), BIG_TREE.root(5), [SOME_HASH])
    with pytest.raises(ProofError):
        verify_consistency(-1, 5, BIG_TREE.root(1), BIG_TREE.root(5), [SOME_HASH])


def test_consistency_failure_message_names_sizes_and_roots() -> None:
    proof = BIG_TREE.consistency_proof(3, 7)
    with pytest.raises(ProofError) as info:
        verify_consistency(3, 7, BIG_TREE.root(3), SOME_HASH, proof)
    message = str(info.value)
    assert "size 3" in message
    assert "size 7" in message
    assert SOME_HASH.hex() in message
    assert BIG_TREE.root(7).hex() in message


# --------------------------------------------------------------------------------------
# Storage-independent helpers, MemoryTree and Frontier
# --------------------------------------------------------------------------------------


def test_proofs_from_a_node_getter_match_memory_tree() -> None:
    get = BIG_TREE.node
    assert root_from_nodes(37, get) == BIG_TREE.root(37)
    assert hashes_for_ranges(inclusion_path_ranges(11, 37), get) == BIG_TREE.inclusion_proof(11, 37)


def test_memory_tree_rejects_sizes_beyond_its_leaves() -> None:
    tree = _kat_tree()
    with pytest.raises(ValueError):
        tree.root(9)
    with pytest.raises(ValueError):
        tree.inclusion_proof(0, 9)
    with pytest.raises(ValueError):
        tree.consistency_proof(1, 9)


def test_memory_tree_append_returns_leaf_index() -> None:
    tree = MemoryTree()
    assert [tree.append(b"x") for _ in range(4)] == [0, 1, 2, 3]
    assert tree.size == 4


@settings(max_examples=100)
@given(size=st.integers(0, 150), resume_at=st.integers(0, 150))
def test_frontier_appends_give_same_roots_and_nodes_as_memory_tree(
    size: int, resume_at: int
) -> None:
    resume_at = min(resume_at, size)
    frontier = Frontier()
    created: dict[tuple[int, int], bytes] = {}
    for i in range(size):
        if i == resume_at:
            needed = Frontier.needed_nodes(i)
            frontier = Frontier(i, [(lv, ix, BIG_TREE.node(lv, ix)) for lv, ix in needed])
            assert frontier.root() == BIG_TREE.root(i)
        new_nodes = frontier.append_leaf(BIG_LEAVES[i])
        assert new_nodes[0] == (0, i, BIG_LEAVES[i])
        for level, index, h in new_nodes:
            assert (level, index) not in created
            created[(level, index)] = h
        assert frontier.size == i + 1
        assert frontier.root() == BIG_TREE.root(i + 1)
    expected = MemoryTree()
    for entry in BIG_ENTRIES[:size]:
        expected.append(entry)
    if resume_at == 0 or resume_at == size:
        assert created == expected.nodes()
    else:
        # Nodes made before resuming came from the loaded frontier, not from appends.
        assert {k: v for k, v in expected.nodes().items() if k in created} == created
    assert [(lv, ix) for lv, ix, _ in frontier.nodes] == Frontier.needed_nodes(size)


def test_frontier_rejects_wrong_resume_nodes() -> None:
    with pytest.raises(ValueError):
        Frontier(5, [])
    with pytest.raises(ValueError):
        Frontier(5, [(2, 0, BIG_TREE.node(2, 0))])
    with pytest.raises(ValueError):
        Frontier(5, [(2, 0, BIG_TREE.node(2, 0)), (0, 4, b"short")])
    with pytest.raises(ValueError):
        Frontier(-1, [])
    with pytest.raises(ValueError):
        Frontier().append_leaf(b"short")


def test_frontier_needed_nodes_are_binary_decomposition() -> None:
    assert Frontier.needed_nodes(0) == []
    assert Frontier.needed_nodes(6) == [(2, 0), (1, 2)]
    assert Frontier.needed_nodes(7) == [(2, 0), (1, 2), (0, 6)]


@settings(max_examples=100)
@given(start=st.integers(0, 120), cuts=st.lists(st.integers(0, 30), max_size=6))
def test_frontier_extend_makes_the_parents_append_leaf_makes_in_batches(
    start: int, cuts: list[int]
) -> None:
    """``extend`` (the ledger's fast path) yields exactly ``append_leaf``'s parent nodes, in
    order, however the leaves are split into batches and wherever the frontier resumed."""
    needed = Frontier.needed_nodes(start)
    fast = Frontier(start, [(lv, ix, BIG_TREE.node(lv, ix)) for lv, ix in needed])
    slow = Frontier(start, [(lv, ix, BIG_TREE.node(lv, ix)) for lv, ix in needed])
    i = start
    for n in cuts:
        leaves = BIG_LEAVES[i : i + n]
        expected = [node for leaf in leaves for node in slow.append_leaf(leaf)[1:]]
        assert fast.extend(leaves) == expected
        i += len(leaves)
        assert fast.size == slow.size == i
        assert fast.root() == BIG_TREE.root(i)
    with pytest.raises(ValueError):
        fast.extend([b"short"])
