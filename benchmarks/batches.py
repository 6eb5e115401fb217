"""Batches against fairness: another agency's read latency while one client sends batches.

One gateway (the e2e setup: demo data, uvicorn, load from separate processes). The other
agency (``demo-dinkes``, health insurance) reads residents one at a time under an open
load (``--rate`` per second), in rounds alternating between a quiet gateway (the
baseline: the same reads, nothing else running) and one where one client
(``demo-dinsos``) keeps ``--batch-connections`` connections busy sending batches of
``--batch-size`` NIKs. Limits are scaled out of the way (as in e2e), so what is measured
is what the batches cost the others: the policy's cap, the per-client batch concurrency
and the yielding inside a batch are what keep that small. The ratio is the quiet p99
over the p99 beside the batches (1.0: the batches cost the other agency nothing).

``python -m benchmarks batches [--quick] [--rate R] [--seconds S] [--rounds N]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.e2e_servers import PYTHON, Target, access_token, add_setup_arguments, servers


async def _send_batches(
    port: int, seconds: float, connections: int, token: str, niks: list[str]
) -> dict[str, Any]:
    import httpx

    headers = {
        "Authorization": f"Bearer {token}",
        "X-Purpose": "social_assistance",
        "X-On-Behalf-Of": "bench.batcher",
    }
    statuses: dict[str, int] = {}
    deadline = time.perf_counter() + seconds

    async def sender(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            r = await client.post("/v1/residents/batch", json={"niks": niks}, headers=headers)
            statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        await asyncio.gather(*(sender(client) for _ in range(connections)))
    return {"batches": sum(statuses.values()), "statuses": statuses}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": round(median(r["rps"] for r in runs), 1),
        "p50_ms": round(median(r["p50_ms"] for r in runs), 3),
        "p99_ms": round(median(r["p99_ms"] for r in runs), 3),
        "errors": int(sum(r["errors"] for r in runs)),
        "requests": int(sum(r["requests"] for r in runs)),
    }


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--send-batches"]:  # the batch client's own process
        port, seconds, connections, token, path = argv[1:6]
        asked = Path(path).read_text().split()
        totals = asyncio.run(
            _send_batches(int(port), float(seconds), int(connections), token, asked)
        )
        print(json.dumps(totals))
        return
    parser = argparse.ArgumentParser(prog="python -m benchmarks batches")
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves it works")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0, help="the other agency's reads/s")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-connections", type=int, default=8)
    add_setup_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.residents, args.seconds, args.rounds, args.rate = 300, 1.0, 1, 40.0
        args.batch_size, args.batch_connections = 100, 2

    with servers(args) as setup:
        gw = setup.gateway
        demo = json.loads((setup.data_dir / "demo-clients.json").read_text())
        base = f"http://127.0.0.1:{gw.port}"
        clients = {c["client_id"]: c for c in demo["clients"]}
        other = Target(
            "other agency",
            gw.port,
            gw.paths,
            {
                "Authorization": f"Bearer {access_token(base, clients['demo-dinkes'])}",
                "X-Purpose": "health_insurance",
                "X-On-Behalf-Of": "bench.reader",
            },
            gw.pid,
        )
        niks = [p.rsplit("/", 1)[1] for p in gw.paths.read_text().split()]
        niks = (niks * (args.batch_size // max(len(niks), 1) + 1))[: args.batch_size]
        niks_file = setup.data_dir / "batch-niks.txt"
        niks_file.write_text("\n".join(niks))
        batch_token = access_token(base, clients["demo-dinsos"])
        other.load(1.0, 16, args.rate)  # warm-up
        runs: dict[str, list[dict[str, Any]]] = {"quiet": [], "batches": []}
        sent: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            runs["quiet"].append(other.load(args.seconds, 16, args.rate))
            sender = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "benchmarks.batches",
                    "--send-batches",
                    str(gw.port),
                    f"{args.seconds + 0.5:.2f}",
                    str(args.batch_connections),
                    batch_token,
                    str(niks_file),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(0.25)  # the batches are under way before the reads start
            runs["batches"].append(other.load(args.seconds, 16, args.rate))
            printed, _ = sender.communicate(timeout=args.seconds + 120)
            sent.append(json.loads(printed.strip().splitlines()[-1]))
        mode = setup.mode

    quiet, loaded = _summary(runs["quiet"]), _summary(runs["batches"])
    statuses: dict[str, int] = {}
    for s in sent:
        for code, n in s["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    batches = sum(s["batches"] for s in sent)
    ratio = round(quiet["p99_ms"] / loaded["p99_ms"], 3) if loaded["p99_ms"] else 0.0
    print(
        f"\nanother agency's reads at {args.rate:g}/s beside one client's batches — {mode}; "
        f"{args.rounds} interleaved rounds of {args.seconds}s, {args.residents:,} residents"
    )
    print(f"{'reads':<22} {'rps':>8} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
    for name, s in (("quiet gateway", quiet), ("beside the batches", loaded)):
        print(
            f"{name:<22} {s['rps']:>8.1f} {s['p50_ms']:>9.3f} {s['p99_ms']:>9.3f} {s['errors']:>7}"
        )
    print(
        f"batches sent: {batches} of {args.batch_size} NIKs on {args.batch_connections} "
        f"connections, answered {statuses}"
    )
    print(f"p99 ratio quiet/beside batches = {ratio}")
    result = {
        "benchmark": "batches",
        "mode": "production" if args.production else "embedded",
        "satugate": {**loaded, "batches": batches, "batch_statuses": statuses},
        "baseline": {"name": "same reads, no batches", **quiet},
        "ratio": ratio,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
