"""The audit log: durable appends, full verification, proof latency.

* **Durable appends per second**, ``--concurrency`` tasks appending resident-lookup events
  for a fixed time, on SQLite (each batch synced in the log's commit journal, rows
  written out in bulk) and on PostgreSQL (``synchronous_commit=on``). satugate's group
  commit beside the baseline, *one transaction per event* (the same writer with batches
  of one), in the same database, interleaved round by round. The medians are reported.
* **Several writer processes on one PostgreSQL log**, as when gateway replicas share one
  audit log (one Merkle tree): ``--writers`` OS processes (default 2), each with its own
  engine and ``AuditLog`` and ``--concurrency`` appending tasks, appending over the same
  window, beside one such process alone, interleaved round by round; the medians of the
  total durable appends per second, and the writers' counters of how each batch was
  written. Each process's appends make the others' view of the tree stale, so their
  batches are placed by the database rather than sent on a predicted tree: the ratio to
  one writer is what sharing the log costs. The whole log is verified afterwards.
* **Full verification** of N exported leaves (leaf hashes, tree, root compared with the
  signed checkpoint) beside raw ``hashlib.sha256`` over the same leaves: what the tree
  costs on top of hashing.
* **Inclusion-proof latency** at 1M leaves (``--big``: 10M too): the node table is bulk
  loaded with every complete subtree hash of a tree that size, then proofs for random
  leaves are asked through ``AuditLog.inclusion_proof`` (in process: SQL round trips
  included, HTTP not), and every proof is verified against the root.

``python -m benchmarks audit [--quick] [--seconds S] [--rounds R] [--concurrency C]
[--writers N] [--big]``

PostgreSQL comes from ``SATUGATE_BENCH_PG_URL`` (an admin URL, default
``postgresql://postgres@127.0.0.1:5432/postgres``); a scratch database is created and
dropped. Without a reachable server the PostgreSQL rows are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import queue
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import audit
from audit import merkle
from audit.drivers import WRITER_STATS
from audit.schema import events, node_key
from audit.verify import LogVerifier

ORIGIN = "bench.satugate.example/audit"
BLIND_KEY = b"benchmark blind index key 32 b.."
PG_ADMIN = os.environ.get("SATUGATE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def event(i: int) -> dict[str, object]:
    """A typical resident lookup event (synthetic)."""
    return {
        "action": "resident.read",
        "agency": "dinsos",
        "client_id": "dinsos-sikesra",
        "officer": f"officer.{i % 40:02d}",
        "purpose": "social_assistance",
        "legal_basis": "perwali-35-2024",
        "decision": "allow",
        "reason": None,
        "rule_ids": ["dinsos.social_assistance.read"],
        "policy_version": "v3",
        "fields": {"full_name": "clear", "nik": "pseudonymised", "birth_date": "generalised"},
        "result_count": 1,
        "request_id": f"req-{i}",
        "status": 200,
        "specific_data": False,
        "hidden_until": None,
    }


def nik(i: int) -> str:
    return f"3578{(i * 7919) % 10**12:012d}"


# --- stores ----------------------------------------------------------------------------


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:
        return False


@asynccontextmanager
async def scratch_store(kind: str, workdir: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh, empty store with the audit schema: a SQLite file or a PostgreSQL database."""
    if kind == "sqlite":
        path = workdir / f"audit-{uuid.uuid4().hex[:8]}.db"
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        await audit.install_schema(engine)
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    import psycopg

    name = f"satugate_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    engine = create_async_engine(
        f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=10
    )
    try:
        await audit.install_schema(engine)
        yield engine
    finally:
        await engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- appends ---------------------------------------------------------------------------


async def appends_per_second(
    engine: AsyncEngine,
    signer: audit.CheckpointSigner,
    *,
    grouped: bool,
    seconds: float,
    concurrency: int,
) -> float:
    """Durable appends per second with ``concurrency`` tasks appending for ``seconds``."""
    # Generous timeout: one transaction per event queues callers far longer than 5 s.
    options: dict[str, Any] = {"commit_timeout": 120.0}
    if not grouped:
        options.update(max_batch=1, max_wait_ms=0.0)
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY, **options)
    async with log:
        return await append_for(log, seconds=seconds, concurrency=concurrency)


async def append_for(
    log: audit.AuditLog, *, seconds: float, concurrency: int, first: int = 0
) -> float:
    """Events per second made durable by ``concurrency`` tasks appending to a running
    ``log`` for ``seconds``, with event numbers from ``first`` on."""
    done = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        i = first + w
        while loop.time() < deadline:
            await log.append(event(i), subject_niks=[nik(i)])
            done += 1
            i += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done / (time.perf_counter() - start)


async def bench_appends(
    kind: str,
    workdir: Path,
    signer: audit.CheckpointSigner,
    *,
    rounds: int,
    seconds: float,
    concurrency: int,
) -> dict[str, float]:
    grouped: list[float] = []
    single: list[float] = []
    async with scratch_store(kind, workdir) as engine:
        await appends_per_second(engine, signer, grouped=True, seconds=0.3, concurrency=8)
        for _ in range(rounds):  # interleaved: group commit, then one per event
            grouped.append(
                await appends_per_second(
                    engine, signer, grouped=True, seconds=seconds, concurrency=concurrency
                )
            )
            single.append(
                await appends_per_second(
                    engine, signer, grouped=False, seconds=seconds, concurrency=concurrency
                )
            )
        size = await verify_store(kind, engine, signer)
    return {
        "group_commit_eps": statistics.median(grouped),
        "per_event_eps": statistics.median(single),
        "leaves_written": float(size),
    }


async def verify_store(kind: str, engine: AsyncEngine, signer: audit.CheckpointSigner) -> int:
    """The store, verified end to end after a run: nothing lost, one tree. Returns the
    tree's size; exits with an error when the export does not verify."""
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
    size = await log.size()
    lines = [line async for line in _export_after_checkpoint(log, engine)]
    report = audit.verify_export(lines, signer.verifier_key())
    if not report.ok or report.tree_size != size:
        raise SystemExit(f"{kind}: the benchmark's log does not verify: {report.problems}")
    return size


async def _export_after_checkpoint(log: audit.AuditLog, engine: AsyncEngine) -> AsyncIterator[str]:
    await log.checkpoint()
    async for line in audit.export_lines(engine):
        yield line


# --- several writer processes ----------------------------------------------------------


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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    signer = audit.CheckpointSigner(ORIGIN, key)
    kinds = ["sqlite"] + (["postgres"] if _pg_available() else [])
    results: dict[str, Any] = {"appends": {}, "proofs": {}}
    with tempfile.TemporaryDirectory(prefix="satugate-bench-") as tmp:
        workdir = Path(tmp)
        for kind in kinds:
            _say(f"durable appends on {kind}")
            results["appends"][kind] = await bench_appends(
                kind,
                workdir,
                signer,
                rounds=args.rounds,
                seconds=args.seconds,
                concurrency=args.concurrency,
            )
        if "postgres" in kinds:
            _say(f"durable appends on postgres, 1 and {args.writers} writer processes")
            results["writers"] = await bench_writers(
                workdir,
                signer,
                key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
                writers=args.writers,
                rounds=args.rounds,
                seconds=args.seconds,
                concurrency=args.concurrency,
            )
        _say(f"full verification of {args.verify_leaves:,} leaves")
        results["verify"] = await asyncio.to_thread(bench_verify, args.verify_leaves, signer)
        for kind in kinds:
            sizes = [args.proof_leaves] + ([10_000_000] if args.big and kind == "postgres" else [])
            for n in sizes:
                _say(f"proofs at {n:,} leaves on {kind} (bulk load first)")
                results["proofs"][f"{kind}@{n}"] = await bench_proofs(
                    kind, workdir, signer, n, args.samples
                )
    return results


def _say(message: str) -> None:
    print(f"[audit benchmark] {message}", file=sys.stderr, flush=True)


def _table(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\naudit log benchmark ({args.concurrency} concurrent appenders, "
        f"{args.rounds} x {args.seconds:g} s per system, interleaved)\n"
    )
    print(f"{'store':<10} {'group commit ev/s':>18} {'1 tx/event ev/s':>16} {'ratio':>7}")
    for kind, r in results["appends"].items():
        ratio = r["group_commit_eps"] / r["per_event_eps"]
        print(
            f"{kind:<10} {r['group_commit_eps']:>18,.0f} {r['per_event_eps']:>16,.0f} {ratio:>7.1f}"
        )
    if "writers" in results:
        _writers_table(results["writers"], args)
    v = results["verify"]
    print(
        f"\nfull verification of {int(v['leaves']):,} leaves: "
        f"{v['verify_leaves_per_s']:,.0f} leaves/s (tree + root + signature) vs "
        f"{v['hashlib_leaves_per_s']:,.0f} leaves/s raw hashlib.sha256"
    )
    print(
        f"\n{'proofs at':<20} {'inclusion p50 ms':>17} {'p99 ms':>8} {'consistency p50':>16}"
        f" {'server p50 ms':>14} {'server p99':>11}"
    )
    for where, r in results["proofs"].items():
        server = (
            f"{r['server_p50_ms']:>14.3f} {r['server_p99_ms']:>11.3f}"
            if "server_p50_ms" in r
            else f"{'-':>14} {'-':>11}"
        )
        print(
            f"{where:<20} {r['inclusion_p50_ms']:>17.3f} {r['inclusion_p99_ms']:>8.3f} "
            f"{r['consistency_p50_ms']:>16.3f} {server}"
        )
    print(
        "(inclusion/consistency: AuditLog call in process, SQL round trip included;"
        " server: PostgreSQL planning + execution of the proof's node lookup)"
    )


def _writers_table(w: dict[str, Any], args: argparse.Namespace) -> None:
    n = args.writers
    print(
        f"\none PostgreSQL log, {args.concurrency} concurrent appenders per writer process "
        f"(group commit, {args.rounds} x {args.seconds:g} s, interleaved)\n"
    )
    print(f"{'writers':<32} {'events/s total':>15} {'ratio':>7}")
    print(f"{'postgresql, 1 writer process':<32} {w['one_process_eps']:>15,.0f} {'':>7}")
    ratio = w["n_processes_eps"] / w["one_process_eps"]
    label = f"postgresql, {n} writer process{'es' if n != 1 else ''}"
    print(f"{label:<32} {w['n_processes_eps']:>15,.0f} {ratio:>7.2f}")
    s = w["stats"]
    print(
        f"(ratio: {n} processes / 1 process. Batches of the {n} processes: "
        f"{s['one_round_trip']:,} in one round trip on their view of the tree, "
        f"{s['placed_by_database']:,} placed by the database, of which "
        f"{s['mispredicted']:,} sent on a stale view first; {s['failed_batches']:,} failed)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks audit")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--writers", type=int, default=2, help="writer processes on one PostgreSQL log"
    )
    parser.add_argument("--verify-leaves", type=int, default=1_000_000)
    parser.add_argument("--proof-leaves", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--big", action="store_true", help="also 10M leaves for proofs")
    args = parser.parse_args(argv or [])
    if args.writers < 1:
        parser.error("--writers must be at least 1")
    if args.quick:
        args.seconds, args.rounds, args.concurrency = 0.5, 1, 16
        args.verify_leaves, args.proof_leaves, args.samples, args.big = 2000, 5000, 50, False
    results = asyncio.run(run(args))
    _table(results, args)
    main_store = "postgres" if "postgres" in results["appends"] else "sqlite"
    a = results["appends"][main_store]
    satugate = {
        "store": main_store,
        "durable_events_per_s": round(a["group_commit_eps"]),
        "appends": {
            k: {kk: round(vv) for kk, vv in r.items()} for k, r in results["appends"].items()
        },
        "verify_leaves_per_s": round(results["verify"]["verify_leaves_per_s"]),
        "proofs_ms": {
            k: {kk: round(vv, 4) for kk, vv in r.items()} for k, r in results["proofs"].items()
        },
        "concurrency": args.concurrency,
    }
    baseline = {
        "name": "one transaction per event (same writer, batches of one)",
        "durable_events_per_s": round(a["per_event_eps"]),
        "hashlib_leaves_per_s": round(results["verify"]["hashlib_leaves_per_s"]),
    }
    ratio = a["group_commit_eps"] / a["per_event_eps"]
    line: dict[str, Any] = {
        "benchmark": "audit",
        "satugate": satugate,
        "baseline": baseline,
        "ratio": round(ratio, 2),
    }
    if "writers" in results:
        w = results["writers"]
        line["writers"] = {
            "store": "postgres",
            "processes": args.writers,
            "concurrency_per_process": args.concurrency,
            "one_process_eps": round(w["one_process_eps"]),
            "n_processes_eps": round(w["n_processes_eps"]),
            "ratio": round(w["n_processes_eps"] / w["one_process_eps"], 2),
            "leaves_written": w["leaves_written"],
            "stats": w["stats"],
            "one_process_stats": w["one_process_stats"],
        }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
