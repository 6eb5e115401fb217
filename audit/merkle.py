"""RFC 9162 Merkle tree hashing, proof construction and proof verification.

Pure functions only. The tree shape, the hashes and the proofs are exactly those of
RFC 9162 section 2.1 (identical to RFC 6962), so that any Certificate Transparency tool
can check what satugate produces:

* leaf hash ``SHA-256(0x00 || leaf bytes)`` and node hash ``SHA-256(0x01 || left || right)``;
  the distinct prefixes stop a leaf from being passed off as an interior node (second
  preimage attacks on the tree);
* the tree over ``n`` leaves splits at ``k``, the largest power of two smaller than ``n``.

Storage keeps *complete* subtree hashes, addressed by ``(level, index)``: the node at
``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``. Every subtree
that the RFC 9162 recursions ever hash is a run of such complete nodes folded right to left
(see :func:`range_nodes`), which is what keeps proofs at O(log n) stored reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

from audit.errors import ProofError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

NodeId = tuple[int, int]
"""A complete subtree: ``(level, index)``."""

Range = tuple[int, int]
"""A half-open leaf range ``[start, end)`` whose hash the RFC recursion asks for."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256 of the empty string (RFC 9162 section 2.1.1)."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a list of leaf *hashes*, by the RFC's definition."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """MTH over raw leaf bytes (hashes each leaf first)."""
    return mth([leaf_hash(leaf) for leaf in leaves])


# --- which subtrees a proof needs -------------------------------------------------------


def range_nodes(start: int, end: int) -> list[NodeId]:
    """The complete nodes whose right-to-left fold is MTH(D[start:end]).

    Valid for the ranges that the RFC 9162 recursions produce: ``start`` is a multiple of
    the smallest power of two that is ``>= end - start``. The nodes are listed left to
    right, largest first.
    """
    size = end - start
    if size <= 0:
        raise ValueError("empty range")
    nodes: list[NodeId] = []
    pos = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if pos % (1 << level):
                raise ValueError(f"range [{start}, {end}) is not a tree range")
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the node hashes of :func:`range_nodes` into one subtree hash."""
    if not hashes:
        raise ValueError("nothing to fold")
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees of PATH(index, D[0:size]) (RFC 9162 section 2.1.3.1), leaf first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    out: list[Range] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m = lo + k, m - k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The subtrees of PROOF(first, D[0:second]) (RFC 9162 section 2.1.4.1), in order."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first == second:
        return []
    out: list[Range] = []
    lo, hi, m, whole = 0, second, first, True
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                out.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    out.reverse()
    return out


def nodes_for(ranges: Sequence[Range]) -> list[NodeId]:
    """Every distinct complete node needed to hash ``ranges``."""
    seen: dict[NodeId, None] = {}
    for start, end in ranges:
        for node in range_nodes(start, end):
            seen[node] = None
    return list(seen)


def hashes_for(ranges: Sequence[Range], lookup: Callable[[NodeId], bytes]) -> list[bytes]:
    """Hash each range from complete nodes fetched with ``lookup``."""
    return [fold([lookup(n) for n in range_nodes(s, e)]) for s, e in ranges]


def root_nodes(size: int) -> list[NodeId]:
    """The complete nodes (the "frontier") whose fold is the root of a tree of ``size``."""
    return range_nodes(0, size) if size else []


def new_nodes(
    size: int, frontier: Sequence[bytes], leaf_hashes: Sequence[bytes]
) -> tuple[list[tuple[int, int, bytes]], list[bytes]]:
    """Append leaves to a tree of ``size`` whose frontier hashes are ``frontier``.

    Returns every complete node created (level 0 included) as ``(level, index, hash)``, and
    the new frontier. The frontier lists the hashes of :func:`root_nodes` for that size.
    """
    # stack holds (level, hash) of the frontier, largest (left-most) first
    stack: list[tuple[int, bytes]] = [
        (level, h) for (level, _), h in zip(root_nodes(size), frontier, strict=True)
    ]
    created: list[tuple[int, int, bytes]] = []
    n = size
    for lh in leaf_hashes:
        created.append((0, n, lh))
        level, h = 0, lh
        idx = n
        while stack and stack[-1][0] == level:
            _, left = stack.pop()
            h = node_hash(left, h)
            level += 1
            idx >>= 1
            created.append((level, idx, h))
        stack.append((level, h))
        n += 1
    return created, [h for _, h in stack]


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """The tree root given its frontier hashes (empty tree: :data:`EMPTY_ROOT`)."""
    return fold(frontier) if frontier else EMPTY_ROOT


# --- proofs from an in-memory tree (reference and small trees) ---------------------------


class MemoryTree:
    """A Merkle tree held in memory; the reference against which storage is tested."""

    def __init__(self) -> None:
        self._nodes: dict[NodeId, bytes] = {}
        self._frontier: list[bytes] = []
        self.size = 0

    def append_hash(self, h: bytes) -> int:
        """Append one leaf by its leaf hash; returns its index."""
        created, self._frontier = new_nodes(self.size, self._frontier, [h])
        for level, idx, nh in created:
            self._nodes[level, idx] = nh
        self.size += 1
        return self.size - 1

    def append(self, leaf: bytes) -> int:
        """Append one leaf by its bytes; returns its index."""
        return self.append_hash(leaf_hash(leaf))

    @property
    def nodes(self) -> Mapping[NodeId, bytes]:
        return self._nodes

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size == 0:
            return EMPTY_ROOT
        return fold([self._nodes[n] for n in range_nodes(0, size)])

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check(size)
        return hashes_for(inclusion_ranges(index, size), self._nodes.__getitem__)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        self._check(second)
        return hashes_for(consistency_ranges(first, second), self._nodes.__getitem__)

    def _check(self, size: int) -> None:
        if size > self.size:
            raise ProofError(f"tree size {size} exceeds the tree ({self.size})")


# --- verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) --------------------------------


def _check_hashes(proof: Sequence[bytes]) -> None:
    for p in proof:
        if len(p) != HASH_SIZE:
            raise ProofError("proof element is not a SHA-256 hash")


def root_from_inclusion(leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 section 2.1.3.2 steps 1-4)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hashes([leaf_hash_, *proof])
    fn, sn = index, size - 1
    r = leaf_hash_
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(
    leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf with hash ``leaf_hash_`` sits at ``index`` in the tree ``root``.

    Raises :class:`ProofError` on any failure; returns ``None`` when the proof holds.
    """
    if len(root) != HASH_SIZE or root_from_inclusion(leaf_hash_, index, size, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree ``root2`` of ``size2`` extends the tree ``root1`` of ``size1``.

    Security decision: a proof from the empty tree (``size1 == 0``) is refused. Every tree
    "extends" the empty one, so such a proof proves nothing, and accepting it would let a
    caller skip a check it believes it made.
    """
    if size1 < 0 or size2 < size1:
        raise ProofError(f"size1 ({size1}) must not exceed size2 ({size2})")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("sizes are equal but the proof is not empty")
        if root1 != root2:
            raise ProofError("sizes are equal but the roots differ")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    _check_hashes(proof)
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != root2:
        raise ProofError("consistency proof does not lead to the second root")


class CompactRange:
    """Streaming root computation: O(log n) memory, leaves fed in order.

    Used by the verifier to recompute the root of an export of any length.
    """

    def __init__(self) -> None:
        self._stack: list[bytes] = []  # the frontier: complete subtrees, largest first
        self.size = 0

    def append_hash(self, h: bytes) -> None:
        stack = self._stack
        size = self.size
        # Each trailing one bit of the old size is a left sibling waiting on the stack.
        while size & 1:
            h = hashlib.sha256(NODE_PREFIX + stack.pop() + h).digest()
            size >>= 1
        stack.append(h)
        self.size += 1

    def root(self) -> bytes:
        return root_from_frontier(self._stack)
