"""Full verification of an exported log beside raw hashing, and inclusion-proof latency
on a bulk-loaded tree of a million leaves or more (``python -m benchmarks audit``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

import audit
from audit import merkle
from audit.schema import events, node_key
from audit.verify import LogVerifier
from benchmarks.audit_store import (
    BLIND_KEY,
    event,
    scratch_store,
)


def bench_verify(n: int, signer: audit.CheckpointSigner) -> dict[str, float]:
    leaves = [
        json.dumps(event(i), sort_keys=True, separators=(",", ":")).encode() for i in range(n)
    ]
    root = merkle.root_from_leaves(leaves)
    note = signer.sign(n, root)
    key = signer.verifier_key()

    def ours() -> None:
        verifier = LogVerifier(key)
        verifier.add_checkpoint(note)
        for i, leaf in enumerate(leaves):
            verifier.add_leaf(i, leaf)
        if not verifier.finish().ok:
            raise SystemExit("verification failed")

    def raw() -> None:
        sha256 = hashlib.sha256
        for leaf in leaves:
            sha256(leaf).digest()

    ours_t, raw_t = [], []
    for _ in range(3):  # interleaved
        ours_t.append(_timed(ours))
        raw_t.append(_timed(raw))
    return {
        "verify_leaves_per_s": n / statistics.median(ours_t),
        "hashlib_leaves_per_s": n / statistics.median(raw_t),
        "leaves": float(n),
    }


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- proof latency ---------------------------------------------------------------------


def tree_levels(n: int) -> list[list[bytes]]:
    """Every complete subtree hash of a synthetic tree of ``n`` leaves, level by level."""
    levels = [[merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(n)]]
    node = merkle.node_hash
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node(below[j], below[j + 1]) for j in range(0, len(below) - 1, 2)])
    return levels


async def bulk_load(engine: AsyncEngine, levels: list[list[bytes]]) -> None:
    """Load the node table directly (the append path is measured above), plus the last
    leaf's event row so that the log reports the tree size."""
    n = len(levels[0])
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            for level, hashes in enumerate(levels):
                await driver.copy_records_to_table(
                    "audit_tree_nodes",
                    records=((node_key(level, i), h) for i, h in enumerate(hashes)),
                    columns=["node", "hash"],
                )
            await conn.commit()
    else:
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            sqlite_conn: Any = raw.driver_connection
            for level, hashes in enumerate(levels):
                await sqlite_conn.executemany(
                    "INSERT INTO audit_tree_nodes (node, hash) VALUES (?, ?)",
                    [(node_key(level, i), h) for i, h in enumerate(hashes)],
                )
    async with engine.begin() as conn:
        await conn.execute(
            insert(events),
            {
                "leaf_index": n - 1,
                "event_id": str(uuid.uuid4()),
                "time": "2026-01-01T00:00:00.000Z",
                "action": "resident.read",
                "leaf": json.dumps(event(n - 1)).encode(),
            },
        )


async def bench_proofs(
    kind: str, workdir: Path, signer: audit.CheckpointSigner, n: int, samples: int
) -> dict[str, float]:
    levels = await asyncio.to_thread(tree_levels, n)
    root = merkle.fold([levels[lv][ix] for lv, ix in merkle.root_nodes(n)])
    async with scratch_store(kind, workdir) as engine:
        load_start = time.perf_counter()
        await bulk_load(engine, levels)
        load_s = time.perf_counter() - load_start
        del levels
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE audit_tree_nodes")
        log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
        if await log.root() != root:
            raise SystemExit("bulk-loaded tree has the wrong root")
        rng = random.Random(5)
        timings = []
        for _ in range(samples):
            i = rng.randrange(n)
            start = time.perf_counter()
            proof = await log.inclusion_proof(i, n)
            timings.append(time.perf_counter() - start)
            proof.verify(root)
        ctimings = []
        for _ in range(samples // 2):
            m = rng.randrange(1, n)
            start = time.perf_counter()
            await log.consistency_proof(m, n)
            ctimings.append(time.perf_counter() - start)
        server = await server_side_ms(engine, n, rng, min(samples, 300))
    timings.sort()
    ctimings.sort()
    return {
        **server,
        "inclusion_p50_ms": 1000 * timings[len(timings) // 2],
        "inclusion_p99_ms": 1000 * timings[int(len(timings) * 0.99)],
        "consistency_p50_ms": 1000 * ctimings[len(ctimings) // 2],
        "leaves": float(n),
        "bulk_load_s": load_s,
    }


async def server_side_ms(
    engine: AsyncEngine, n: int, rng: random.Random, samples: int
) -> dict[str, float]:
    """PostgreSQL's own execution time of an inclusion proof's one node lookup."""
    if engine.dialect.name != "postgresql":
        return {}
    times = []
    async with engine.connect() as conn:
        for _ in range(samples):
            i = rng.randrange(n)
            ranges = merkle.inclusion_ranges(i, n)
            keys = [node_key(lv, ix) for lv, ix in [(0, i), *merkle.nodes_for(ranges)]]
            rows = await conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT node, hash FROM audit_tree_nodes"
                f" WHERE node IN ({','.join(map(str, keys))})"
            )
            plan = rows.scalar_one()
            plan = json.loads(plan) if isinstance(plan, str) else plan
            times.append(plan[0]["Execution Time"] + plan[0]["Planning Time"])
    times.sort()
    return {
        "server_p50_ms": times[len(times) // 2],
        "server_p99_ms": times[int(len(times) * 0.99)],
    }


# --- main ------------------------------------------------------------------------------
