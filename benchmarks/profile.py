"""Where a lookup's time goes: the e2e setup with the gateway running under pyinstrument.

``python -m benchmarks profile [--production] [--seconds S] [--concurrency C]`` seeds the
demo data, starts the gateway (one worker) under the pyinstrument sampling profiler and
the bare endpoint beside it, sends closed load to the gateway for ``--seconds``, stops
it, and prints the functions with the most time of their own and the gateway's own
steps by cumulative time. ``--html FILE`` also saves pyinstrument's interactive report.
"""

from __future__ import annotations

import argparse
import json
import pstats
import signal
import tempfile
import time
from pathlib import Path

from benchmarks.e2e_servers import PYTHON, add_setup_arguments, servers

#: The steps of a lookup, reported by cumulative time (function names in the profile).
STEPS = (
    ("gateway/platform/middleware.py", "__call__"),
    ("gateway/identity/auth.py", "_authenticate"),
    ("gateway/residents/steps.py", "decide"),
    ("gateway/residents/steps.py", "enforce_rates"),
    ("gateway/residents/steps.py", "fetch"),
    ("gateway/residents/steps.py", "treat"),
    ("gateway/auditing/recorder.py", "record"),
    ("audit/log.py", "append"),
    ("audit/drivers/postgres.py", "_commit_predicted"),
    ("audit/drivers/base.py", "_commit"),
    ("audit/events.py", "prepare"),
    ("connectors/sql.py", "_rows"),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks profile")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--html", type=Path, help="also save pyinstrument's HTML report")
    parser.add_argument("--quick", action="store_true", help="a tiny run")
    add_setup_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.residents, args.seconds, args.concurrency = 300, 1.0, 4
    args.workers = 1

    with tempfile.TemporaryDirectory(prefix="satugate-profile-") as tmp:
        session = Path(tmp) / "gateway.pyisession"
        with servers(args, profile_to=session) as setup:
            setup.gateway.load(1.0, args.concurrency)  # warm-up
            setup.signal_gateway(signal.SIGUSR1)
            started = time.perf_counter()
            result = setup.gateway.load(args.seconds, args.concurrency)
            wall = time.perf_counter() - started
            setup.signal_gateway(signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while not session.is_file() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # the save finishes
        stats_file = Path(tmp) / "gateway.pstats"
        _render(session, "pstats", stats_file)
        if args.html:
            _render(session, "html", args.html)
        requests = max(1, int(result["requests"]))
        print(
            f"\nprofile of the gateway ({setup.mode}), {requests:,} lookups in {wall:.1f} s at "
            f"concurrency {args.concurrency}: {result['rps']} rps, p50 {result['p50_ms']} ms"
        )
        steps = _report(pstats.Stats(str(stats_file)), requests, args.top)
        print(
            json.dumps(
                {
                    "benchmark": "profile",
                    "mode": "production" if args.production else "embedded",
                    "lookups": requests,
                    "rps_under_profiler": result["rps"],
                    "cumulative_us_per_lookup": steps,
                }
            )
        )


def _render(session: Path, renderer: str, out: Path) -> None:
    import subprocess

    if not session.is_file():
        raise SystemExit("the profiler wrote no session (did the gateway exit cleanly?)")
    subprocess.run(
        [PYTHON, "-m", "pyinstrument", "--load", str(session), "-r", renderer, "-o", str(out)],
        check=True,
    )


def _report(stats: pstats.Stats, requests: int, top: int) -> dict[str, float]:
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in entries.values())
    print(f"sampled time {total:.2f} s, {total / requests * 1e3:.3f} ms per lookup\n")
    print(f"{'self µs/lookup':>15} {'share':>6}  function")
    own = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for (path, line, name), (_cc, _nc, tt, _ct, _callers) in own:
        print(f"{tt / requests * 1e6:>15.1f} {tt / total:>6.1%}  {name}  {_short(path)}:{line}")
    print(f"\n{'cum µs/lookup':>15}  step")
    steps: dict[str, float] = {}
    for suffix, func in STEPS:
        cum = sum(
            ct
            for (path, _line, name), (_cc, _nc, _tt, ct, _c) in entries.items()
            if name == func and path.endswith(suffix)
        )
        if cum:
            steps[f"{suffix}:{func}"] = round(cum / requests * 1e6, 1)
            print(f"{cum / requests * 1e6:>15.1f}  {suffix}:{func}")
    return steps


def _short(path: str) -> str:
    for marker in ("site-packages/", "/gateway/", "/audit/", "/connectors/", "/policies/"):
        if marker in path:
            head = "" if marker == "site-packages/" else marker.strip("/") + "/"
            return head + path.split(marker, 1)[1]
    return Path(path).name


if __name__ == "__main__":
    main()
