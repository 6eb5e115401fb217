"""Gateway memory while the audit log grows: does a worker's RSS stay flat?

One gateway worker is started on seeded demo data (``benchmarks.e2e_servers.servers``: embedded
SQLite store by default, PostgreSQL store and Redis limits with ``--production``) and kept
under continuous closed HTTP load of real resident lookups (``benchmarks.loadgen``, run
in back-to-back rounds from a background thread), so every lookup appends its own event
to the audit log.

After a warm-up, the benchmark process joins as a second replica would: it builds an
``audit.AuditLog`` on the same store with the gateway's own wiring
(``gateway.platform.services.open_audit_log``: the same checkpoint key, origin and blind-index
key, so its checkpoints extend the gateway's) and ``--appenders`` concurrent tasks append
synthetic lookup events (``benchmarks.audit_store.event``) until the tree has grown by
``--events`` leaves. The replica's appends and the gateway's interleave in one tree.

The worker's resident set size (``VmRSS`` in ``/proc/PID/status``) is sampled after the
warm-up (growth 0) and each time the tree has grown by another tenth of ``--events``,
together with the tree size and the lookups the gateway has answered so far (its own
``/metrics`` count of ``200`` answers on ``/v1/residents/{nik}``). The table and a final
JSON line report the samples and the growth from the first sample to the last.

``python -m benchmarks rss [--quick] [--events N] [--production]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from dataclasses import dataclass
from typing import Any

from benchmarks.audit_store import event, nik
from benchmarks.e2e_servers import Setup, Target, add_setup_arguments, metric_samples, servers
from gateway.platform import store
from gateway.platform.keys import KeyRing, load_master_key
from gateway.platform.services import open_audit_log
from gateway.platform.settings import Settings

LOOKUP_ROUTE = "/v1/residents/{nik}"
TENTHS = 10


@dataclass(frozen=True)
class Sample:
    growth: int
    tree_size: int
    rss_mib: float
    lookups: int


def worker_rss_mib(pid: int) -> float:
    """The process's resident set size in MiB, from ``/proc/PID/status``."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def lookups_served(port: int) -> int:
    """Successful resident lookups the gateway has answered, from its ``/metrics``."""
    return int(
        sum(
            s.value
            for s in metric_samples(port, timeout=10)
            if s.name == "satugate_http_requests_total"
            and s.labels.get("route") == LOOKUP_ROUTE
            and s.labels.get("status") == "200"
        )
    )


class LoadRounds:
    """Closed HTTP load on a target in back-to-back rounds, from a background thread."""

    def __init__(self, target: Target, seconds: float, concurrency: int) -> None:
        self._target = target
        self._seconds = seconds
        self._concurrency = concurrency
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadgen-rounds", daemon=True)
        self._error: BaseException | None = None
        self.rounds: list[dict[str, float]] = []

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.rounds.append(self._target.load(self._seconds, self._concurrency))
        except BaseException as exc:  # re-raised in the main thread by stop()
            self._error = exc

    def start(self) -> None:
        self._thread.start()

    def check(self) -> None:
        """Raise the load thread's failure, if it has failed."""
        if self._error is not None:
            raise RuntimeError("the load generator failed") from self._error

    def stop(self) -> None:
        """Let the current round finish, then stop; raise the thread's failure if any."""
        self._stop.set()
        self._thread.join()
        self.check()


def replica_settings(setup: Setup) -> Settings:
    """The gateway's settings as a second replica on the same store would have them.

    The commit timeout is raised from the gateway's 5 s so that a busy benchmark machine
    cannot end the run with a spurious ``AuditUnavailable`` in the replica.
    """
    return Settings(
        data_dir=setup.data_dir,
        database_url=setup.env.get("SATUGATE_DATABASE_URL"),
        issuer=setup.env["SATUGATE_ISSUER"],
        audit_timeout_seconds=60.0,
    )


async def grow_and_sample(
    setup: Setup, load: LoadRounds, *, events: int, appenders: int, warmup: float
) -> tuple[list[Sample], int]:
    """Warm up, then grow the log by ``events`` leaves from a replica, sampling the worker's
    RSS at growth 0 and at every tenth. Returns the samples and the replica's appends."""
    settings = replica_settings(setup)
    engine = store.create_engine(settings.resolved_database_url())
    keyring = KeyRing(engine, load_master_key(settings.resolved_master_key_file()))
    pid = setup.process.pid
    port = setup.gateway.port
    samples: list[Sample] = []
    try:
        log = await open_audit_log(settings, engine, keyring)
        try:
            await asyncio.sleep(warmup)
            load.check()

            async def sample() -> None:
                size = await log.size()
                rss = worker_rss_mib(pid)
                served = await asyncio.to_thread(lookups_served, port)
                growth = size - samples[0].tree_size if samples else 0
                samples.append(Sample(growth, size, rss, served))
                _say(
                    f"growth {growth:>10,}  tree {size:>10,}  "
                    f"RSS {rss:8.1f} MiB  lookups {served:,}"
                )

            await sample()
            base = samples[0].tree_size
            targets = [base + events * k // TENTHS for k in range(1, TENTHS + 1)]
            high = base  # the tree size as the replica's receipts show it
            appended = 0

            async def appender(first: int) -> None:
                nonlocal high, appended
                i = first
                while high < targets[-1]:
                    receipt = await log.append(event(i), subject_niks=[nik(i)])
                    high = max(high, receipt.leaf_index + 1)
                    appended += 1
                    i += appenders

            async def sampler() -> None:
                for target in targets:
                    while high < target:
                        await asyncio.sleep(0.01)
                    load.check()
                    await sample()

            await asyncio.gather(sampler(), *(appender(w) for w in range(appenders)))
        finally:
            await log.stop()
    finally:
        await engine.dispose()
    return samples, appended


def _say(message: str) -> None:
    print(f"[rss benchmark] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks rss")
    parser.add_argument(
        "--quick", action="store_true", help="a tiny run that proves the benchmark works"
    )
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="how many leaves the log grows by"
    )
    parser.add_argument("--appenders", type=int, default=64, help="concurrent replica appenders")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP load connections")
    parser.add_argument("--round-seconds", type=float, default=5.0, help="length of a load round")
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds of load before sampling"
    )
    add_setup_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.residents, args.events, args.concurrency = 300, 20_000, 4
        args.round_seconds, args.warmup = 1.0, 2.0
    if args.workers != 1:
        parser.error("the RSS of one gateway worker is measured: --workers must be 1")
    if args.events < TENTHS:
        parser.error(f"--events must be at least {TENTHS}")

    with servers(args) as setup:
        load = LoadRounds(setup.gateway, args.round_seconds, args.concurrency)
        load.start()
        try:
            samples, appended = asyncio.run(
                grow_and_sample(
                    setup,
                    load,
                    events=args.events,
                    appenders=args.appenders,
                    warmup=args.warmup,
                )
            )
        finally:
            load.stop()
        mode = setup.mode

    first, last = samples[0], samples[-1]
    growth_mib = last.rss_mib - first.rss_mib
    growth_pct = 100 * growth_mib / first.rss_mib
    errors = int(sum(r["errors"] for r in load.rounds))
    print(
        f"\ngateway worker RSS while the audit log grows by {args.events:,} events — {mode}; "
        f"{args.appenders} replica appenders, {args.concurrency} HTTP connections, "
        f"{args.residents:,} residents"
    )
    print(f"{'log growth':>12} {'tree size':>12} {'worker RSS MiB':>15} {'lookups served':>15}")
    for s in samples:
        print(f"{s.growth:>12,} {s.tree_size:>12,} {s.rss_mib:>15.1f} {s.lookups:>15,}")
    print(
        f"RSS growth from the first sample to the last: {growth_mib:+.1f} MiB "
        f"({growth_pct:+.1f}%); replica appended {appended:,} events, "
        f"the gateway answered {last.lookups - first.lookups:,} lookups meanwhile "
        f"({errors} non-200 answers in all)"
    )
    result: dict[str, Any] = {
        "benchmark": "rss",
        "mode": "production" if args.production else "embedded",
        "events": args.events,
        "replica_appended": appended,
        "samples": [
            {
                "growth": s.growth,
                "tree_size": s.tree_size,
                "rss_mib": round(s.rss_mib, 1),
                "lookups": s.lookups,
            }
            for s in samples
        ],
        "rss_first_mib": round(first.rss_mib, 1),
        "rss_last_mib": round(last.rss_mib, 1),
        "growth_mib": round(growth_mib, 1),
        "growth_pct": round(growth_pct, 2),
        "lookup_errors": errors,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
