"""Known answers: the RFC 6962 reference tree and the transparency-dev/merkle vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from audit import merkle
from audit.errors import ProofError

# RFC 6962 / RFC 9162 reference leaves and the roots of their prefixes, as published with
# the Certificate Transparency reference implementation (and transparency-dev/merkle).
REFERENCE_LEAVES = [
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
REFERENCE_ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
# Reference inclusion paths (leaf index, tree size, path), from the same test data.
REFERENCE_INCLUSION = [
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
REFERENCE_CONSISTENCY = [
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
]


def reference_tree() -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    for leaf in REFERENCE_LEAVES:
        tree.append(leaf)
    return tree


@pytest.mark.parametrize("size", sorted(REFERENCE_ROOTS))
def test_reference_roots(size: int) -> None:
    want = bytes.fromhex(REFERENCE_ROOTS[size])
    assert merkle.root_from_leaves(REFERENCE_LEAVES[:size]) == want
    assert reference_tree().root(size) == want


@pytest.mark.parametrize(("index", "size", "path"), REFERENCE_INCLUSION)
def test_reference_inclusion(index: int, size: int, path: list[str]) -> None:
    proof = reference_tree().inclusion_proof(index, size)
    assert [p.hex() for p in proof] == path
    leaf = merkle.leaf_hash(REFERENCE_LEAVES[index])
    merkle.verify_inclusion(leaf, index, size, proof, bytes.fromhex(REFERENCE_ROOTS[size]))


@pytest.mark.parametrize(("first", "second", "path"), REFERENCE_CONSISTENCY)
def test_reference_consistency(first: int, second: int, path: list[str]) -> None:
    proof = reference_tree().consistency_proof(first, second)
    assert [p.hex() for p in proof] == path
    merkle.verify_consistency(
        first,
        second,
        proof,
        bytes.fromhex(REFERENCE_ROOTS[first]),
        bytes.fromhex(REFERENCE_ROOTS[second]),
    )


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _vectors(shared_dir: Path, kind: str) -> list[tuple[str, dict[str, object]]]:
    root = shared_dir / "vectors" / "merkle" / kind
    found = [
        (str(path.relative_to(root)), json.loads(path.read_text()))
        for path in sorted(root.rglob("*.json"))
    ]
    assert found, f"no {kind} vectors under {root}"
    return found


def test_transparency_dev_inclusion_vectors(shared_dir: Path) -> None:
    vectors = _vectors(shared_dir, "inclusion")
    wrong = []
    for name, v in vectors:
        try:
            merkle.verify_inclusion(
                _b64(v["leafHash"]),  # type: ignore[arg-type]
                int(v["leafIdx"]),  # type: ignore[call-overload]
                int(v["treeSize"]),  # type: ignore[call-overload]
                [_b64(p) for p in v["proof"] or []],  # type: ignore[attr-defined]
                _b64(v["root"]),  # type: ignore[arg-type]
            )
            failed = False
        except ProofError:
            failed = True
        if failed != v["wantErr"]:
            wrong.append(name)
    assert wrong == []
    assert sum(1 for _, v in vectors if not v["wantErr"]) >= 5  # happy paths were exercised


def test_transparency_dev_consistency_vectors(shared_dir: Path) -> None:
    """All vectors, including size1 = 0: this verifier refuses proofs from the empty tree."""
    vectors = _vectors(shared_dir, "consistency")
    wrong = []
    for name, v in vectors:
        try:
            merkle.verify_consistency(
                int(v["size1"]),  # type: ignore[call-overload]
                int(v["size2"]),  # type: ignore[call-overload]
                [_b64(p) for p in v["proof"] or []],  # type: ignore[attr-defined]
                _b64(v["root1"]),  # type: ignore[arg-type]
                _b64(v["root2"]),  # type: ignore[arg-type]
            )
            failed = False
        except ProofError:
            failed = True
        if failed != v["wantErr"]:
            wrong.append(name)
    assert wrong == []
    assert sum(1 for _, v in vectors if not v["wantErr"]) >= 5


def test_happy_path_vectors_match_our_proofs(shared_dir: Path) -> None:
    """Our prover emits, for the reference tree, exactly the proofs of the happy paths."""
    tree = reference_tree()
    compared = 0
    for _, v in _vectors(shared_dir, "inclusion"):
        if v["wantErr"] or int(v["treeSize"]) > 8:  # type: ignore[call-overload]
            continue
        proof = tree.inclusion_proof(int(v["leafIdx"]), int(v["treeSize"]))  # type: ignore[call-overload]
        if _b64(v["root"]) == tree.root(int(v["treeSize"])):  # type: ignore[call-overload, arg-type]
            assert proof == [_b64(p) for p in v["proof"] or []]  # type: ignore[attr-defined]
            compared += 1
    for _, v in _vectors(shared_dir, "consistency"):
        size1, size2 = int(v["size1"]), int(v["size2"])  # type: ignore[call-overload]
        if v["wantErr"] or size2 > 8 or _b64(v["root2"]) != tree.root(size2):  # type: ignore[arg-type]
            continue
        want = [_b64(p) for p in v["proof"] or []]  # type: ignore[attr-defined]
        assert tree.consistency_proof(size1, size2) == want
        compared += 1
    assert compared >= 10
