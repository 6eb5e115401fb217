"""Several writer processes on one PostgreSQL audit log, as gateway replicas share one
Merkle tree: each process with its own engine, ``AuditLog`` and appending tasks, beside
one such process alone (``python -m benchmarks audit``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import create_async_engine

import audit
from audit.drivers import WRITER_STATS
from benchmarks.audit_store import (
    BLIND_KEY,
    ORIGIN,
    append_for,
    scratch_store,
    verify_store,
)


async def bench_writers(
    workdir: Path,
    signer: audit.CheckpointSigner,
    private_key: bytes,
    *,
    writers: int,
    rounds: int,
    seconds: float,
    concurrency: int,
) -> dict[str, Any]:
    """Durable appends per second on one PostgreSQL log: ``writers`` processes appending
    over the same window beside one process alone, interleaved round by round."""
    alone: list[float] = []
    together: list[float] = []
    stats_alone = dict.fromkeys(WRITER_STATS, 0)
    stats_together = dict.fromkeys(WRITER_STATS, 0)
    async with scratch_store("postgres", workdir) as engine:
        url = engine.url.render_as_string(hide_password=False)
        for _ in range(rounds):
            for n, rates, stats in ((1, alone, stats_alone), (writers, together, stats_together)):
                rate, counts = await asyncio.to_thread(
                    run_writers, url, private_key, n, seconds, concurrency
                )
                rates.append(rate)
                for key in WRITER_STATS:
                    stats[key] += counts[key]
        size = await verify_store(f"postgres, {writers} writer processes", engine, signer)
    return {
        "one_process_eps": statistics.median(alone),
        "n_processes_eps": statistics.median(together),
        "leaves_written": size,
        "one_process_stats": stats_alone,
        "stats": stats_together,
    }


def run_writers(
    url: str, private_key: bytes, n: int, seconds: float, concurrency: int
) -> tuple[float, dict[str, int]]:
    """Start ``n`` writer processes, let them append over the same window once all are
    ready, and return their events per second summed and their counters summed."""
    ctx = multiprocessing.get_context("spawn")  # the caller has an event loop and engines
    results: multiprocessing.Queue[tuple[Any, ...]] = ctx.Queue()
    start = ctx.Event()
    processes = [
        ctx.Process(
            target=writer_process,
            args=(url, private_key, index, seconds, concurrency, start, results),
            name=f"audit-writer-{index}",
        )
        for index in range(n)
    ]
    try:
        for process in processes:
            process.start()
        _collect(results, processes, "ready", timeout=120.0)
        start.set()
        done = _collect(results, processes, "done", timeout=seconds + 120.0)
        for process in processes:
            process.join(timeout=30.0)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    counts = dict.fromkeys(WRITER_STATS, 0)
    for _, _, _, stats in done:
        for key in WRITER_STATS:
            counts[key] += stats[key]
    return sum(rate for _, _, rate, _ in done), counts


def _collect(
    results: multiprocessing.Queue[tuple[Any, ...]],
    processes: Sequence[multiprocessing.process.BaseProcess],
    what: str,
    *,
    timeout: float,
) -> list[tuple[Any, ...]]:
    """One ``what`` message from every process; exits if one fails or time runs out."""
    received: list[tuple[Any, ...]] = []
    deadline = time.monotonic() + timeout
    while len(received) < len(processes):
        try:
            message = results.get(timeout=0.5)
        except queue.Empty:
            failed = [p.name for p in processes if p.exitcode not in (None, 0)]
            if failed:
                raise SystemExit(f"audit writer process failed: {', '.join(failed)}") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"audit writer processes not {what} in {timeout:g} s") from None
            continue
        assert message[0] == what, message
        received.append(message)
    return received


def writer_process(
    url: str,
    private_key: bytes,
    index: int,
    seconds: float,
    concurrency: int,
    start: Any,
    results: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    """One writer process, as one gateway replica: its own engine and ``AuditLog``."""
    asyncio.run(_write(url, private_key, index, seconds, concurrency, start, results))


async def _write(
    url: str,
    private_key: bytes,
    index: int,
    seconds: float,
    concurrency: int,
    start: Any,
    results: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    signer = audit.CheckpointSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(private_key))
    engine = create_async_engine(url, pool_size=10)
    first = index * 10_000_000  # distinct event numbers, request ids and subjects per process
    try:
        log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY, commit_timeout=120.0)
        async with log:
            # warm up (connections, the server's plans) before the window, as bench_appends
            await append_for(log, seconds=min(0.3, seconds), concurrency=concurrency, first=first)
            before = log.stats
            results.put(("ready", index))
            if not await asyncio.to_thread(start.wait, 300.0):
                raise SystemExit(f"writer {index}: never told to start")
            rate = await append_for(log, seconds=seconds, concurrency=concurrency, first=first)
            after = log.stats
        results.put(("done", index, rate, {k: after[k] - before[k] for k in WRITER_STATS}))
    finally:
        await engine.dispose()


# --- verification ----------------------------------------------------------------------
