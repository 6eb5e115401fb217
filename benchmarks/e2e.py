"""End to end: lookups per second through satugate beside a bare endpoint.

Both servers run under uvicorn with the same number of workers on the same machine and
read the same records from the same SQLite sources through the same connector (the bare
one reads the fields satugate releases to the benchmark's client, learnt from satugate
itself at start); the bare one has no auth, policy, treatment or audit. Load comes from
a separate process (``benchmarks.loadgen``), rounds interleaved. Embedded path: SQLite
store, in-process limits; production path (``--production``): PostgreSQL store, Redis
limits.

Two phases, each in interleaved rounds:

* **peak**: closed load at ``--concurrency`` connections; requests per second and the
  throughput ratio satugate ÷ bare;
* **half load**: open load at half of satugate's peak rate, the same rate for both
  servers; latency counts from each request's due time. The added p50 is satugate's p50
  minus the bare endpoint's.

Each round also reports the CPU time the server's own processes spent per request (user
and system, read from ``/proc``; the database and Redis are not counted): a figure that
tells where a difference comes from, and that moves less than latency when the machine
itself runs faster or slower from one minute to the next. On a virtual machine the run
ends with the share of CPU time the hypervisor gave to others meanwhile (steal, from
``/proc/stat``): figures from a run with much of it are not comparable with others.

With one worker, each phase also reports satugate's audit group commits over its rounds,
read from the gateway's ``/metrics``: commits per second, events per commit, and the time
from a batch's start to its durable commit. Every lookup waits for its batch's commit, so
this is the part of the added latency that durability costs; on SQLite the event loop
also waits for it (the commit journal's write and fsync run on the loop's thread).

With ``--witnesses N`` the gateway submits its checkpoints to N witnesses
(``satugate witness serve`` processes that trust its log's verifier key, started after
seeding; quorum N), the second and later ones behind a proxy that adds 50 ms each way
(:mod:`benchmarks.witnesses`). Each phase then also reports how far the witnessed
checkpoint trails the log's appends over satugate's rounds, from its ``/metrics``
sampled every 50 ms: the maximum and the median, and whether it stayed within 1 s.
"""

from __future__ import annotations

import argparse
import json
import time
from statistics import median
from typing import Any

from benchmarks.e2e_servers import (
    Target,
    add_setup_arguments,
    cpu_counters,
    metric_samples,
    servers,
    steal_percent,
)
from benchmarks.witnesses import (
    ADDED_DELAY,
    GOAL_LAG_SECONDS,
    LagSampler,
    witness_lag,
)

GOAL_RATIO = 0.5
"""The throughput goal: satugate keeps at least this share of the bare endpoint's peak."""
GOAL_ADDED_P50_MS = 1.0
"""The latency goal: satugate's p50 at half of its peak, minus the bare endpoint's."""


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "rps": round(median(r["rps"] for r in runs), 1),
        "p50_ms": round(median(r["p50_ms"] for r in runs), 3),
        "p99_ms": round(median(r["p99_ms"] for r in runs), 3),
        "errors": int(sum(r["errors"] for r in runs)),
        "requests": int(sum(r["requests"] for r in runs)),
    }
    if all("cpu_us" in r for r in runs):
        summary["cpu_us"] = round(median(r["cpu_us"] for r in runs), 1)
    if runs and all("audit" in r for r in runs):
        keys = runs[0]["audit"]
        summary["audit"] = {k: median(r["audit"][k] for r in runs) for k in keys}
    return summary


def _commits_line(sg: dict[str, Any]) -> None:
    if "audit" in sg:
        a = sg["audit"]
        print(
            f"satugate's audit group commits: {a['commits_per_s']:.0f}/s of "
            f"{a['events_per_commit']:.2f} events, {a['commit_ms']:.3f} ms each from start "
            f"to durable (summed, {a['commit_share_pct']:.1f}% of the round)"
        )


def _lag_line(lag: dict[str, Any] | None, witnessed: int) -> None:
    if not witnessed:
        return
    if lag is None:
        print("witness lag: no figures (the gateway's /metrics did not tell)")
        return
    print(
        f"witness lag over satugate's rounds (witnessed checkpoint behind appends): "
        f"max {lag['max_s']:.3f} s, p50 {lag['p50_s']:.3f} s "
        f"({lag['samples']} samples; the gateway's own gauge peaked at {lag['gauge_max_s']:.3f} s)"
    )


def _table(title: str, bare: dict[str, Any], sg: dict[str, Any]) -> None:
    print(title)
    print(
        f"{'server':<10} {'rps':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7} {'CPU us/req':>11}"
    )
    for name, s in (("bare", bare), ("satugate", sg)):
        cpu = f"{s['cpu_us']:>11.1f}" if "cpu_us" in s else f"{'-':>11}"
        print(
            f"{name:<10} {s['rps']:>10.1f} {s['p50_ms']:>9.3f} {s['p99_ms']:>9.3f} "
            f"{s['errors']:>7} {cpu}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks e2e")
    parser.add_argument(
        "--quick", action="store_true", help="a tiny run that proves the benchmark works"
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--load-fraction",
        type=float,
        default=0.5,
        help="the latency phase's rate, as a fraction of satugate's peak (0 skips it)",
    )
    parser.add_argument(
        "--witnesses",
        type=int,
        default=0,
        help="submit the gateway's checkpoints to this many witnesses (quorum: all), the "
        "second and later ones behind 50 ms each way, and report the witness lag",
    )
    add_setup_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.residents, args.seconds, args.rounds, args.concurrency = 300, 1.0, 1, 4
    if args.witnesses < 0:
        parser.error("--witnesses must not be negative")
    if args.witnesses and args.workers != 1:
        parser.error("the witness lag is read from one worker's /metrics: --workers must be 1")

    counters = cpu_counters()
    # the start and end of satugate's rounds in each phase, for the witness lag
    windows: dict[str, list[tuple[float, float]]] = {"peak": [], "open_load": []}

    def run(target: Target, phase: str, *load: Any) -> dict[str, Any]:
        result = target.load(*load)
        if target is gw:
            end = time.monotonic()
            windows[phase].append((end - result["seconds"], end))
        return result

    with servers(args, witnesses=args.witnesses) as setup:
        gw, bare = setup.gateway, setup.bare
        sampler = LagSampler(lambda: metric_samples(gw.port)) if setup.witnesses else None
        if sampler is not None:
            sampler.start()
        try:
            # warm-up, then interleaved rounds
            bare.load(1.0, args.concurrency)
            gw.load(1.0, args.concurrency)
            if sampler is not None:
                sampler.settle()
            peak: dict[str, list[dict[str, Any]]] = {"bare": [], "satugate": []}
            for _ in range(args.rounds):
                for target in (bare, gw):
                    peak[target.name].append(run(target, "peak", args.seconds, args.concurrency))
            sg_peak, bare_peak = _summary(peak["satugate"]), _summary(peak["bare"])
            rate = round(sg_peak["rps"] * args.load_fraction, 1)
            steady: dict[str, list[dict[str, Any]]] = {"bare": [], "satugate": []}
            if rate > 0:
                for _ in range(args.rounds):
                    for target in (bare, gw):
                        steady[target.name].append(
                            run(target, "open_load", args.seconds, max(args.concurrency, 16), rate)
                        )
            if sampler is not None:
                sampler.settle()
        finally:
            if sampler is not None:
                sampler.stop()
        mode = setup.mode
        witnessed = len(setup.witnesses)
    lags = {
        phase: witness_lag(sampler.points, spans) if sampler is not None else None
        for phase, spans in windows.items()
    }

    ratio = round(sg_peak["rps"] / bare_peak["rps"], 3) if bare_peak["rps"] else 0.0
    print(
        f"\ne2e lookups — {mode}; workers={args.workers}, "
        f"{args.rounds} interleaved rounds of {args.seconds}s per phase, "
        f"{args.residents:,} residents"
    )
    if witnessed:
        print(
            f"witnesses: {witnessed} on this machine (quorum {witnessed})"
            + (
                f", {witnessed - 1} of them behind {ADDED_DELAY * 1000:.0f} ms more each way"
                if witnessed > 1
                else ""
            )
        )
    _table(f"peak: closed load, {args.concurrency} connections", bare_peak, sg_peak)
    _commits_line(sg_peak)
    _lag_line(lags["peak"], witnessed)
    print(f"throughput ratio satugate/bare = {ratio}")
    result: dict[str, Any] = {
        "benchmark": "e2e",
        "mode": "production" if args.production else "embedded",
        "satugate": sg_peak,
        "baseline": {"name": "bare-fastapi-same-source", **bare_peak},
        "ratio": ratio,
    }
    if witnessed:
        result["witnesses"] = {
            "count": witnessed,
            "quorum": witnessed,
            "added_delay_ms": round(ADDED_DELAY * 1000),
        }
        result["witness_lag"] = lags["peak"]
    if steady["satugate"]:
        sg_half, bare_half = _summary(steady["satugate"]), _summary(steady["bare"])
        added = round(sg_half["p50_ms"] - bare_half["p50_ms"], 3)
        _table(
            f"\nopen load at {rate} rps ({args.load_fraction:g} of satugate's peak), both servers",
            bare_half,
            sg_half,
        )
        _commits_line(sg_half)
        _lag_line(lags["open_load"], witnessed)
        print(f"added p50 latency = {added:.3f} ms")
        result["open_load"] = {
            "rate": rate,
            "satugate": sg_half,
            "baseline": bare_half,
            "added_p50_ms": added,
        }
        if witnessed:
            result["open_load"]["witness_lag"] = lags["open_load"]
    result["goals"] = goals(result)
    verdicts = (f"{goal} {'met' if met else 'missed'}" for goal, met in result["goals"].items())
    print("goals: " + ", ".join(verdicts))
    steal = steal_percent(counters, cpu_counters())
    if steal is not None:
        result["steal_pct"] = steal
        print(f"CPU time stolen by the hypervisor during the run: {steal:.1f}%")
    print(json.dumps(result))


def goals(result: dict[str, Any]) -> dict[str, bool]:
    """Which of the goals a run met: the throughput ratio, (when the latency phase ran)
    the added p50 latency at half of satugate's peak, and (with witnesses) the witness
    lag in every phase; a phase without lag figures misses it."""
    met = {f"ratio >= {GOAL_RATIO}": result["ratio"] >= GOAL_RATIO}
    if "open_load" in result:
        met[f"added p50 <= {GOAL_ADDED_P50_MS} ms"] = (
            result["open_load"]["added_p50_ms"] <= GOAL_ADDED_P50_MS
        )
    if "witnesses" in result:
        phases = [result.get("witness_lag")]
        if "open_load" in result:
            phases.append(result["open_load"].get("witness_lag"))
        met[f"witness lag <= {GOAL_LAG_SECONDS:g} s"] = all(
            lag is not None and lag["max_s"] <= GOAL_LAG_SECONDS for lag in phases
        )
    return met


if __name__ == "__main__":
    main()
