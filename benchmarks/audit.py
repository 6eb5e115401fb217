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
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy.ext.asyncio import AsyncEngine

import audit
from benchmarks.audit_proofs import bench_proofs, bench_verify
from benchmarks.audit_store import (
    BLIND_KEY,
    ORIGIN,
    append_for,
    pg_available,
    scratch_store,
    verify_store,
)
from benchmarks.audit_writers import bench_writers


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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    signer = audit.CheckpointSigner(ORIGIN, key)
    kinds = ["sqlite"] + (["postgres"] if pg_available() else [])
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
