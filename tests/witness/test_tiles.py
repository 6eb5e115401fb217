"""C2SP tlog-tiles: the hash tiles match the tree, full tiles are immutable, entries are
for auditors only, and partial tiles follow the spec's path and width rules."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from audit import merkle
from audit.checkpoint import parse_note
from audit.errors import ProofError
from audit.tiles import TileRef, available, encode_index, parse_path
from tests.gateway.conftest import Gateway


def event(i: int) -> dict[str, object]:
    return {
        "action": "resident.read",
        "agency": "dinsos",
        "client_id": "demo-dinsos",
        "officer": f"officer.{i}",
        "purpose": "social_assistance",
        "legal_basis": None,
        "decision": "allow",
        "reason": None,
        "rule_ids": [],
        "policy_version": None,
        "fields": {},
        "result_count": 1,
        "request_id": f"t{i}",
        "status": 200,
        "specific_data": False,
    }


@pytest.mark.parametrize(
    ("n", "path"),
    [(0, "000"), (67, "067"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_index_layout_is_the_specs(n: int, path: str) -> None:
    assert encode_index(n) == path
    assert parse_path("0", path) == TileRef(0, n, 256)


@pytest.mark.parametrize(
    ("kind", "rest"),
    [
        ("0", "1"),
        ("0", "x000/001"),
        ("0", "001.p/0"),
        ("0", "001.p/256"),
        ("0", "001.p/07"),
        ("64", "000"),
        ("01", "000"),
        ("data", "000"),
        ("0", "../000"),
    ],
)
def test_malformed_paths_are_refused(kind: str, rest: str) -> None:
    with pytest.raises(ProofError):
        parse_path(kind, rest)


def test_partial_rule() -> None:
    assert available(TileRef(0, 0, 256), 256) and not available(TileRef(0, 1, 1), 256)
    assert available(TileRef(0, 1, 44), 300) and not available(TileRef(0, 1, 45), 300)
    assert available(TileRef(1, 0, 1), 300) and not available(TileRef(1, 0, 2), 300)


def test_spec_example_of_70000_and_256_leaves() -> None:
    """C2SP tlog-tiles: 273 full level-0 tiles and one of width 112, one full level-1
    tile and one of width 17, one level-2 tile of width 1; 256 leaves make a full
    level-0 tile and a level-1 tile of width 1."""
    s = 70_000
    assert available(TileRef(0, 272, 256), s) and not available(TileRef(0, 273, 256), s)
    assert available(TileRef(0, 273, 112), s) and not available(TileRef(0, 273, 113), s)
    assert available(TileRef(1, 0, 256), s) and not available(TileRef(1, 1, 256), s)
    assert available(TileRef(1, 1, 17), s) and not available(TileRef(1, 1, 18), s)
    assert available(TileRef(2, 0, 1), s) and not available(TileRef(2, 0, 2), s)
    assert available(TileRef(0, 0, 256), 256) and available(TileRef(1, 0, 1), 256)
    assert not available(TileRef(0, 1, 1), 256)
    assert TileRef(1, 1, 17).path() == "tile/1/001.p/17"
    assert TileRef(None, 1234067, 256).path() == "tile/entries/x001/x234/067"


async def test_tiles_serve_the_tree(gateway: Gateway) -> None:
    log = gateway.services.audit
    await asyncio.gather(*(log.append(event(i)) for i in range(300)))
    size = await log.size()
    client = gateway.client
    auditor = {"Authorization": f"Bearer {await gateway.token('demo-auditor')}"}
    assert (await client.get("/audit/tile/entries/000")).status_code == 401
    agency = {"Authorization": f"Bearer {await gateway.token('demo-dinsos')}"}
    assert (await client.get("/audit/tile/entries/000", headers=agency)).status_code == 403

    leaves: list[bytes] = []
    for n in range(size // 256 + 1):
        width = min(256, size - n * 256)
        path = encode_index(n) + ("" if width == 256 else f".p/{width}")
        bundle = (await client.get(f"/audit/tile/entries/{path}", headers=auditor)).content
        while bundle:
            length = int.from_bytes(bundle[:2], "big")
            leaves.append(bundle[2 : 2 + length])
            bundle = bundle[2 + length :]
    assert len(leaves) == size
    grown = await log.size()
    assert grown >= size + 2, "each entry bundle read is on the record"
    tree = merkle.MemoryTree()
    for leaf in leaves:
        tree.append(leaf)

    full = await client.get("/audit/tile/0/000")
    assert full.status_code == 200
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert full.content == b"".join(tree.nodes[(0, i)] for i in range(256))
    width = size - 256
    partial = await client.get(f"/audit/tile/0/001.p/{width}")
    assert partial.content == b"".join(tree.nodes[(0, 256 + i)] for i in range(width))
    assert (await client.get("/audit/tile/0/001")).status_code == 404, "not full yet"
    assert (await client.get(f"/audit/tile/0/001.p/{grown - 256 + 1}")).status_code == 404
    level1 = await client.get("/audit/tile/1/000.p/1")
    assert level1.content == tree.nodes[(8, 0)]
    assert (await client.get("/audit/tile/0/x000/000")).status_code == 404

    note = (await client.get("/audit/checkpoint")).text
    checkpoint = parse_note(note)[0]
    for index in range(size, checkpoint.size):  # the reads recorded since
        tree.append(await log.leaf(index))
    assert checkpoint.root_hash == tree.root(checkpoint.size)
    assert hashlib.sha256(b"").digest() != checkpoint.root_hash
