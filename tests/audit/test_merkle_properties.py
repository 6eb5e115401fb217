"""Property tests: every proof the tree produces verifies, and every tampering is caught."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.errors import ProofError


def build(size: int) -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    for i in range(size):
        tree.append(i.to_bytes(4, "big"))
    return tree


def recursive_path(index: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) written exactly as RFC 9162 section 2.1.3.1 states it."""
    n = len(hashes)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if index < k:
        return [*recursive_path(index, hashes[:k]), merkle.mth(hashes[k:])]
    return [*recursive_path(index - k, hashes[k:]), merkle.mth(hashes[:k])]


def recursive_subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 section 2.1.4.1."""
    n = len(hashes)
    if m == n:
        return [] if whole else [merkle.mth(hashes)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*recursive_subproof(m, hashes[:k], whole), merkle.mth(hashes[k:])]
    return [*recursive_subproof(m - k, hashes[k:], False), merkle.mth(hashes[:k])]


def sides(index: int, size: int) -> list[bool]:
    """For each proof step, whether the sibling lies left of the leaf."""
    return [end <= index for _, end in merkle.inclusion_ranges(index, size)]


def flip(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=100, deadline=None)
@given(size=sizes, data=st.data())
def test_inclusion_proofs_verify_and_match_the_rfc(size: int, data: st.DataObject) -> None:
    tree = build(size)
    index = data.draw(st.integers(0, size - 1))
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    proof = tree.inclusion_proof(index, size)
    assert proof == recursive_path(index, leaves)
    assert tree.root() == merkle.mth(leaves)
    merkle.verify_inclusion(leaves[index], index, size, proof, tree.root())


@settings(max_examples=100, deadline=None)
@given(size=st.integers(2, 300), data=st.data())
def test_consistency_proofs_verify_and_match_the_rfc(size: int, data: st.DataObject) -> None:
    tree = build(size)
    first = data.draw(st.integers(1, size))
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    proof = tree.consistency_proof(first, size)
    assert proof == (recursive_subproof(first, leaves, True) if first < size else [])
    merkle.verify_consistency(first, size, proof, tree.root(first), tree.root())


@settings(max_examples=120, deadline=None)
@given(size=st.integers(2, 200), data=st.data())
def test_tampered_inclusion_proofs_fail(size: int, data: st.DataObject) -> None:
    tree = build(size)
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    leaf = merkle.leaf_hash(index.to_bytes(4, "big"))
    root = tree.root()
    how = data.draw(st.sampled_from(["bit", "leaf", "root", "index", "size", "drop", "extra"]))
    bit = data.draw(st.integers(0, 255))
    args = [leaf, index, size, proof, root]
    if how == "bit" and proof:
        pos = data.draw(st.integers(0, len(proof) - 1))
        args[3] = [*proof[:pos], flip(proof[pos], bit), *proof[pos + 1 :]]
    elif how == "leaf":
        args[0] = flip(leaf, bit)
    elif how == "root":
        args[4] = flip(root, bit)
    elif how == "index":
        args[1] = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
    elif how == "size":
        other = data.draw(st.integers(1, 2 * size).filter(lambda n: n != size))
        if index < other and sides(index, other) == sides(index, size):
            # A proof binds the root, not the size: a tree size with the same path shape
            # verifies too. The signed checkpoint is what binds size and root together.
            return
        args[2] = other
    elif how == "drop" and proof:
        args[3] = proof[:-1]
    elif how == "extra":
        args[3] = [*proof, hashlib.sha256(b"extra").digest()]
    else:
        return
    try:
        merkle.verify_inclusion(*args)  # type: ignore[arg-type]
    except ProofError:
        return
    raise AssertionError(f"tampering ({how}) was not detected")


@settings(max_examples=120, deadline=None)
@given(size=st.integers(3, 200), data=st.data())
def test_tampered_consistency_proofs_fail(size: int, data: st.DataObject) -> None:
    tree = build(size)
    first = data.draw(st.integers(1, size - 1))
    proof = tree.consistency_proof(first, size)
    root1, root2 = tree.root(first), tree.root()
    how = data.draw(st.sampled_from(["bit", "root1", "root2", "drop", "extra", "swap"]))
    bit = data.draw(st.integers(0, 255))
    args: list[object] = [first, size, proof, root1, root2]
    if how == "bit":
        pos = data.draw(st.integers(0, len(proof) - 1))
        args[2] = [*proof[:pos], flip(proof[pos], bit), *proof[pos + 1 :]]
    elif how == "root1":
        args[3] = flip(root1, bit)
    elif how == "root2":
        args[4] = flip(root2, bit)
    elif how == "drop":
        args[2] = proof[:-1]
    elif how == "extra":
        args[2] = [*proof, hashlib.sha256(b"extra").digest()]
    elif how == "swap":
        args[3], args[4] = root2, root1
    try:
        merkle.verify_consistency(*args)  # type: ignore[arg-type]
    except ProofError:
        return
    raise AssertionError(f"tampering ({how}) was not detected")


@settings(max_examples=100, deadline=None)
@given(size=st.integers(0, 500), extra=st.integers(1, 70))
def test_batch_append_equals_one_by_one(size: int, extra: int) -> None:
    """new_nodes over a batch creates the nodes and frontier that single appends create."""
    tree = build(size + extra)
    frontier = [tree.nodes[n] for n in merkle.root_nodes(size)]
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size, size + extra)]
    created, new = merkle.new_nodes(size, frontier, hashes)
    for level, idx, h in created:
        assert tree.nodes[level, idx] == h
    assert len(created) == sum(1 for (lv, ix) in tree.nodes if ((ix + 1) << lv) > size)
    assert new == [tree.nodes[n] for n in merkle.root_nodes(size + extra)]
    compact = merkle.CompactRange()
    for i in range(size + extra):
        compact.append_hash(merkle.leaf_hash(i.to_bytes(4, "big")))
    assert compact.root() == merkle.root_from_frontier(new) == tree.root()
