"""Driving load against real gateways and checking the audit evidence it left behind.

``Outcome`` records every answer of a load: status, problem code and, for 200s, the
audit receipt. ``verify_store`` exports the log straight from the gateway's PostgreSQL
database (what ``satugate audit verify`` checks offline), verifies it against the
published verifier key, and returns the leaves so receipts can be matched one by one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

import audit
from audit import merkle
from gateway.platform.settings import async_url
from gateway.platform.store import create_engine


@dataclass
class Outcome:
    statuses: Counter[str] = field(default_factory=Counter)
    receipts: list[tuple[str, int]] = field(default_factory=list)
    transport_errors: int = 0
    bad_problems: list[str] = field(default_factory=list)

    def add(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            body = response.json()
            self.receipts.append((body["audit"]["event_id"], int(body["audit"]["leaf_index"])))
            self.statuses["200"] += 1
            return
        code = "?"
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            code = str(response.json().get("code"))
        else:
            self.bad_problems.append(f"{status}: {response.text[:200]}")
        self.statuses[f"{status} {code}"] += 1

    def other_than(self, *allowed: str) -> dict[str, int]:
        return {k: v for k, v in self.statuses.items() if k not in allowed}


async def load(
    base: str | list[str],
    paths: list[str],
    headers: dict[str, str],
    *,
    seconds: float,
    concurrency: int,
    outcome: Outcome,
    stop: asyncio.Event | None = None,
    timeout: float = 15.0,
) -> Outcome:
    """GET ``paths`` round-robin from ``concurrency`` tasks for ``seconds`` (or until ``stop``)."""
    bases = [base] if isinstance(base, str) else base
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency * len(bases))

    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:

        async def worker(n: int) -> None:
            i = n
            while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
                url = bases[i % len(bases)] + paths[i % len(paths)]
                i += concurrency
                try:
                    response = await client.get(url, headers=headers)
                except httpx.HTTPError:
                    outcome.transport_errors += 1
                    await asyncio.sleep(0.02)
                    continue
                outcome.add(response)

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return outcome


@dataclass(frozen=True)
class VerifiedLog:
    report: audit.VerifyReport
    leaves: dict[int, dict[str, Any]]


async def verify_store(database_url: str, verifier_key: str) -> VerifiedLog:
    """Export the whole log from the store and verify it against the verifier key."""
    engine = create_engine(async_url(database_url))
    try:
        lines = [line async for line in audit.export_lines(engine)]
    finally:
        await engine.dispose()
    report = audit.verify_export(lines, verifier_key)
    leaves: dict[int, dict[str, Any]] = {}
    for line in lines:
        entry = json.loads(line)
        if entry["type"] == "leaf":
            leaves[int(entry["index"])] = json.loads(base64.b64decode(entry["leaf"]))
    return VerifiedLog(report, leaves)


def missing_receipts(log: VerifiedLog, receipts: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Receipts whose leaf is absent or holds another event."""
    return [(e, i) for e, i in receipts if log.leaves.get(i, {}).get("event_id") != e]


def assert_consistent_checkpoints(notes: list[str], verifier_key: str, proof_of: Any) -> int:
    """Every pair of distinct checkpoints seen is provably one append-only tree.

    ``proof_of(first, second)`` returns the consistency proof hashes. Returns the number
    of pairs checked.
    """
    seen: dict[int, bytes] = {}
    for note in notes:
        cp = audit.verify_checkpoint(note, verifier_key)
        if cp.size in seen:
            assert seen[cp.size] == cp.root_hash, f"fork: two roots signed for size {cp.size}"
        seen[cp.size] = cp.root_hash
    sizes = sorted(s for s in seen if s > 0)
    pairs = 0
    for a_i, a in enumerate(sizes):
        for b in sizes[a_i + 1 :]:
            merkle.verify_consistency(a, b, proof_of(a, b), seen[a], seen[b])
            pairs += 1
    return pairs
