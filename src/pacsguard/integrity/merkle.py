"""RFC 9162 §2.1 Merkle hash trees (the same trees as RFC 6962 §2.1), with SHA-256.

Storage model: a *perfect node* ``(level, index)`` is the root of the complete subtree over
the leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes.
Once created a perfect node never changes, so a ledger can store every one of them and
answer any proof with one batch fetch:

1. ``inclusion_path_ranges`` / ``consistency_proof_ranges`` name the leaf ranges whose
   Merkle tree hashes (MTH) make up the proof, in the RFC's order;
2. ``perfect_nodes`` turns each range into the perfect nodes that cover it;
3. ``fold`` combines the fetched node hashes of one range into its MTH.

Verification (``verify_inclusion``, ``verify_consistency``) follows the algorithms of
RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from pacsguard.errors import ProofError

# RFC 9162 §2.1.1: domain separation between leaf and interior node hashes.
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

HASH_SIZE = 32  # SHA-256 output length in bytes.

# RFC 9162 §2.1.1: MTH({}) = HASH().
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]
Node = tuple[int, int]
NodeGetter = Callable[[int, int], bytes]


# --------------------------------------------------------------------------------------
# Hashing (RFC 9162 §2.1.1)
# --------------------------------------------------------------------------------------


def hash_leaf(entry: bytes) -> bytes:
    """MTH({d(0)}) = SHA-256(0x00 || d(0)). RFC 9162 §2.1.1."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Interior node hash SHA-256(0x01 || left || right). RFC 9162 §2.1.1."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# --------------------------------------------------------------------------------------
# Ranges and perfect nodes
# --------------------------------------------------------------------------------------


def perfect_nodes(start: int, end: int) -> list[Node]:
    """The perfect nodes covering the leaf range [start, end), left to right.

    The nodes are the binary decomposition of ``end - start`` (largest first), which is the
    shape of the RFC 9162 §2.1.1 split at the largest power of two smaller than the length.
    ``fold`` over their hashes gives MTH(D[start:end]). Every range that occurs in the
    RFC's recursion (and every [0, n)) starts at a multiple of the size of its first
    node; other ranges raise ValueError, as do empty or negative ranges.
    """
    if start < 0 or end <= start:
        raise ValueError(f"leaf range [{start}, {end}) is empty or negative")
    length = end - start
    top = length.bit_length() - 1
    if start % (1 << top) != 0:
        raise ValueError(
            f"leaf range [{start}, {end}) does not start at a multiple of {1 << top}; "
            "it does not occur in an RFC 9162 tree"
        )
    nodes: list[Node] = []
    position = start
    for level in range(top, -1, -1):
        if length & (1 << level):
            nodes.append((level, position >> level))
            position += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect-node hashes (left to right), folded right to left.

    MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])) (RFC 9162 §2.1.1); with the
    nodes of ``perfect_nodes`` the first node is D[0:k] and the rest fold into D[k:n].
    """
    if not hashes:
        raise ValueError("cannot fold an empty list of node hashes")
    result = hashes[-1]
    for node in reversed(hashes[:-1]):
        result = hash_children(node, result)
    return result


def inclusion_path_ranges(index: int, size: int) -> list[Range]:
    """Leaf ranges whose MTHs form PATH(m, D[n]), bottom-up. RFC 9162 §2.1.3.1.

    PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])      for m < k
                  = PATH(m - k, D[k:n]) : MTH(D[0:k])  for m >= k
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[Range] = []  # collected top-down, returned bottom-up
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(old_size: int, new_size: int) -> list[Range]:
    """Leaf ranges whose MTHs form PROOF(m, D[n]) = SUBPROOF(m, D[n], true). RFC 9162 §2.1.4.1.

    SUBPROOF(m, D[m], true)  = {}
    SUBPROOF(m, D[m], false) = {MTH(D[m])}
    SUBPROOF(m, D[n], b)     = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          for m <= k
                             = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  for m > k

    The proof for m = 0 is undefined and raises ValueError, as does m > n.
    """
    if old_size < 1:
        raise ValueError(f"no consistency proof exists from tree size {old_size} (RFC 9162)")
    if old_size > new_size:
        raise ValueError(f"old tree size {old_size} is larger than new tree size {new_size}")
    suffix: list[Range] = []  # the ":" appended terms, collected outermost first
    start, end, complete = 0, new_size, True
    while old_size - start != end - start:
        n = end - start
        m = old_size - start
        k = _largest_power_of_two_below(n)
        if m <= k:
            suffix.append((start + k, end))
            end = start + k
        else:
            suffix.append((start, start + k))
            start += k
            complete = False
    head: list[Range] = [] if complete else [(start, end)]
    return head + suffix[::-1]


def proof_nodes(ranges: Iterable[Range]) -> list[Node]:
    """Every perfect node needed to answer a proof given by ``ranges``, without repeats."""
    seen: dict[Node, None] = {}
    for start, end in ranges:
        for node in perfect_nodes(start, end):
            seen[node] = None
    return list(seen)


def hashes_for_ranges(ranges: Iterable[Range], get: NodeGetter) -> list[bytes]:
    """The MTH of each range, from a perfect-node getter ``get(level, index)``."""
    return [fold([get(level, i) for level, i in perfect_nodes(s, e)]) for s, e in ranges]


def root_from_nodes(size: int, get: NodeGetter) -> bytes:
    """MTH(D[0:size]) from a perfect-node getter; EMPTY_ROOT for size 0. RFC 9162 §2.1.1."""
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return fold([get(level, i) for level, i in perfect_nodes(0, size)])


# --------------------------------------------------------------------------------------
# In-memory tree and incremental frontier
# --------------------------------------------------------------------------------------


class MemoryTree:
    """A whole tree in memory: leaf hashes and every perfect node, keyed (level, index)."""

    def __init__(self) -> None:
        self._nodes: dict[Node, bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def node(self, level: int, index: int) -> bytes:
        """The hash of perfect node (level, index); KeyError if it does not exist yet."""
        return self._nodes[(level, index)]

    def nodes(self) -> dict[Node, bytes]:
        """A copy of every perfect node."""
        return dict(self._nodes)

    def append(self, entry: bytes) -> int:
        """Append a leaf entry; return its index. Completed parents are stored too."""
        return self.append_leaf_hash(hash_leaf(entry))

    def append_leaf_hash(self, leaf_hash: bytes) -> int:
        """Append an already hashed leaf; return its index."""
        index = self._size
        level, i, h = 0, index, leaf_hash
        self._nodes[(level, i)] = h
        while i & 1:
            h = hash_children(self._nodes[(level, i - 1)], h)
            level, i = level + 1, i >> 1
            self._nodes[(level, i)] = h
        self._size += 1
        return index

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} is not between 0 and {self._size}")

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size]); the current root when size is None. RFC 9162 §2.1.1."""
        size = self._size if size is None else size
        self._check_size(size)
        return root_from_nodes(size, self.node)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]). RFC 9162 §2.1.3.1."""
        self._check_size(size)
        return hashes_for_ranges(inclusion_path_ranges(index, size), self.node)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]). RFC 9162 §2.1.4.1."""
        self._check_size(new_size)
        return hashes_for_ranges(consistency_proof_ranges(old_size, new_size), self.node)


class Frontier:
    """The right edge of a tree: the perfect nodes of the binary decomposition of its size.

    Enough to append leaves and compute the root (RFC 9162 §2.1.1) without the rest of
    the tree; a ledger loads ``Frontier.needed_nodes(size)`` to resume.
    """

    def __init__(self, size: int = 0, nodes: Iterable[tuple[int, int, bytes]] = ()) -> None:
        given = {(level, index): h for level, index, h in nodes}
        needed = self.needed_nodes(size) if size > 0 else []
        if size < 0 or set(given) != set(needed):
            raise ValueError(
                f"a frontier at size {size} needs exactly the nodes {needed}, got {sorted(given)}"
            )
        for node, h in given.items():
            if len(h) != HASH_SIZE:
                raise ValueError(f"node {node} hash is {len(h)} bytes, not {HASH_SIZE}")
        self._size = size
        self._edge: list[tuple[int, int, bytes]] = [(lv, i, given[(lv, i)]) for lv, i in needed]

    @staticmethod
    def needed_nodes(size: int) -> list[Node]:
        """The perfect nodes (level, index) a frontier at ``size`` is made of, left to right."""
        if size < 0:
            raise ValueError(f"tree size {size} is negative")
        return perfect_nodes(0, size) if size > 0 else []

    @property
    def size(self) -> int:
        """Number of leaves in the tree."""
        return self._size

    @property
    def nodes(self) -> list[tuple[int, int, bytes]]:
        """The frontier's (level, index, hash) triples, left to right."""
        return list(self._edge)

    def append_leaf(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf hash; return every new perfect node (the leaf, then each parent)."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
        current = (0, self._size, leaf_hash)
        created = [current]
        while self._edge and self._edge[-1][0] == current[0]:
            level, index, left = self._edge.pop()
            current = (level + 1, index >> 1, hash_children(left, current[2]))
            created.append(current)
        self._edge.append(current)
        self._size += 1
        return created

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """Append leaf hashes; return the new perfect nodes *above* the leaves (level >= 1).

        The same nodes as ``append_leaf`` returns for each leaf, minus the leaves themselves,
        written as one flat loop because a ledger append spends much of its CPU here
        (measured: 2.5 µs per leaf against 7 µs through ``append_leaf``).
        """
        sha256 = hashlib.sha256
        edge = self._edge
        size = self._size
        parents: list[tuple[int, int, bytes]] = []
        for leaf in leaf_hashes:
            if len(leaf) != HASH_SIZE:
                raise ValueError(f"leaf hash is {len(leaf)} bytes, not {HASH_SIZE}")
            level, index, h = 0, size, leaf
            while edge and edge[-1][0] == level:
                left = edge.pop()[2]
                level += 1
                index >>= 1
                h = sha256(NODE_PREFIX + left + h).digest()
                parents.append((level, index, h))
            edge.append((level, index, h))
            size += 1
        self._size = size
        return parents

    def root(self) -> bytes:
        """MTH of the whole tree. RFC 9162 §2.1.1."""
        if not self._edge:
            return EMPTY_ROOT
        return fold([h for _, _, h in self._edge])


# --------------------------------------------------------------------------------------
# Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)
# --------------------------------------------------------------------------------------


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes long, not {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Verify PATH(index, D[size]) for ``leaf_hash`` against ``root``. RFC 9162 §2.1.3.2.

    Raises ProofError naming the index, size and both roots when it does not verify.
    """
    where = f"leaf {index} in tree of size {size}"
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root hash", root)
    for i, p in enumerate(path):
        _check_hash(f"inclusion proof element {i}", p)
    # 1. leaf_index must be smaller than tree_size.
    if not 0 <= index < size:
        raise ProofError(f"inclusion proof for {where}: the index is outside the tree")
    # 2.-3.
    fn, sn = index, size - 1
    r = leaf_hash
    # 4.
    for p in path:
        if sn == 0:  # 4a.
            raise ProofError(f"inclusion proof for {where} has too many elements ({len(path)})")
        if fn & 1 or fn == sn:  # 4b.
            r = hash_children(p, r)
            # If LSB(fn) is not set, shift until it is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1  # 4c.
        sn >>= 1
    # 5.
    if sn != 0:
        raise ProofError(f"inclusion proof for {where} has too few elements ({len(path)})")
    if r != root:
        raise ProofError(
            f"inclusion proof for {where} does not verify: expected root {root.hex()}, "
            f"computed {r.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Verify PROOF(old_size, D[new_size]) between two tree heads. RFC 9162 §2.1.4.2.

    Equal sizes need an empty proof and equal roots. Size 0 has no defined proof
    (RFC 9162 §2.1.4.1); it is accepted only with an empty proof and ``old_root`` equal
    to the empty-tree hash. Raises ProofError on any failure.
    """
    where = f"consistency proof from size {old_size} to size {new_size}"
    _check_hash("old root hash", old_root)
    _check_hash("new root hash", new_root)
    for i, c in enumerate(proof):
        _check_hash(f"consistency proof element {i}", c)
    if old_size < 0 or old_size > new_size:
        raise ProofError(f"{where}: the old size must be between 0 and the new size")
    if old_size == 0:
        if proof:
            raise ProofError(f"{where} must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError(
                f"{where}: the old root {old_root.hex()} is not the empty-tree hash "
                f"{EMPTY_ROOT.hex()}"
            )
        return
    if old_size == new_size:
        if proof:
            raise ProofError(f"{where} must be empty for equal sizes, has {len(proof)} elements")
        if old_root != new_root:
            raise ProofError(
                f"{where}: equal sizes with different roots {old_root.hex()} and {new_root.hex()}"
            )
        return
    # 1. An empty consistency_path fails.
    if not proof:
        raise ProofError(f"{where} is empty")
    path = list(proof)
    # 2. If first is an exact power of 2, prepend first_hash.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3.
    fn, sn = old_size - 1, new_size - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:  # 6a.
            raise ProofError(f"{where} has too many elements ({len(proof)})")
        if fn & 1 or fn == sn:  # 6b.
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            # If LSB(fn) is not set, shift until it is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1  # 6c.
        sn >>= 1
    # 7.
    if sn != 0:
        raise ProofError(f"{where} has too few elements ({len(proof)})")
    if fr != old_root:
        raise ProofError(
            f"{where} does not verify: expected old root {old_root.hex()}, computed {fr.hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"{where} does not verify: expected new root {new_root.hex()}, computed {sr.hex()}"
        )
