"""The end-to-end setup: a seeded gateway and the bare endpoint beside it, under uvicorn,
each a ``Target`` that takes rounds of load from ``benchmarks.loadgen``, and what a
round reads from the servers around it (their CPU time, the gateway's audit commits).

Used by ``benchmarks.e2e`` and by the benchmarks that need the same setup (``profile``,
``rss``, ``batches``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from benchmarks.witnesses import (
    RunningWitness,
    log_verifier_key,
    running_witnesses,
    witnesses_setting,
)

PYTHON = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not become ready")


def access_token(base: str, client: dict[str, Any]) -> str:
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    req = urllib.request.Request(
        base + "/oauth/token",
        data=b"grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["access_token"])


def _released_fields(port: int, nik: str, headers: dict[str, str]) -> list[str]:
    """The fields of one record as satugate releases it (treated, withheld ones absent)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/residents/{nik}", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return sorted(json.loads(r.read())["record"])


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_counters() -> tuple[int, int] | None:
    """The machine's CPU time so far in clock ticks, all of it and the part stolen by the
    hypervisor, from ``/proc/stat``; None where it does not tell."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    ticks = [int(v) for v in fields[1:9]]
    return sum(ticks), ticks[7]


def steal_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the machine's CPU time stolen between two ``cpu_counters`` readings."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return round(100 * (after[1] - before[1]) / (after[0] - before[0]), 1)


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) that a process and its children have used so far,
    in seconds, from ``/proc``; None where ``/proc`` does not tell (another system, or the
    process is gone). Children count because uvicorn runs ``--workers`` > 1 as children."""
    total = 0.0
    found = False
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (OSError, IndexError, UnicodeDecodeError):
            continue  # a process that ended while the table was read
        # after the command: state, ppid, ..., utime (14th field of the line), stime
        own = entry.parent.name == str(pid)
        if own or fields[1] == str(pid):
            found = found or own
            total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS if found else None


_AUDIT_SAMPLES = {
    "satugate_audit_batch_size_count": 0,
    "satugate_audit_batch_size_sum": 1,
    "satugate_audit_commit_seconds_sum": 2,
}


def metric_samples(port: int, timeout: float = 5.0) -> Iterator[Sample]:
    """Every sample of the gateway's ``/metrics`` on ``port`` (``OSError`` when it does
    not answer)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        yield from family.samples


def audit_counters(port: int) -> tuple[float, float, float] | None:
    """The gateway's audit group commits so far, from its ``/metrics``: how many, the
    events they held, and the seconds they took; None when it does not tell."""
    found = [0.0, 0.0, 0.0]
    seen = 0
    try:
        for sample in metric_samples(port):
            if sample.name in _AUDIT_SAMPLES:
                found[_AUDIT_SAMPLES[sample.name]] = sample.value
                seen += 1
    except OSError:
        return None
    return (found[0], found[1], found[2]) if seen == len(_AUDIT_SAMPLES) else None


def commit_figures(
    before: tuple[float, float, float], after: tuple[float, float, float], seconds: float
) -> dict[str, float] | None:
    """A round's audit group commits from the counters around it: commits per second,
    events per commit, the mean time from a batch's start to its durable commit, and
    the sum of those times as a share of the round (on SQLite the event loop waits for
    each commit; on PostgreSQL the database works meanwhile, and two batches may be in
    flight at once, so the sum may pass 100%). None when the round committed nothing."""
    commits, events, busy = (b - a for a, b in zip(before, after, strict=True))
    if commits <= 0 or seconds <= 0:
        return None
    return {
        "commits_per_s": round(commits / seconds, 1),
        "events_per_commit": round(events / commits, 2),
        "commit_ms": round(busy / commits * 1000, 3),
        "commit_share_pct": round(busy / seconds * 100, 1),
    }


@dataclass
class Target:
    """A running server and the requests to send it."""

    name: str
    port: int
    paths: Path
    headers: dict[str, str]
    pid: int | None = None
    audited: bool = False
    """The gateway's own audit counters are read around each round (one worker only: a
    scrape of ``/metrics`` answers for the worker that takes it)."""

    def load(self, seconds: float, concurrency: int, rate: float | None = None) -> dict[str, Any]:
        """One round of load; the load generator's figures, ``cpu_us``: the server's CPU
        time per request over the round (absent when it cannot be read), and for an
        audited target ``audit``: its group commits over the round (see
        :func:`commit_figures`)."""
        argv = [
            PYTHON,
            "-m",
            "benchmarks.loadgen",
            "127.0.0.1",
            str(self.port),
            str(seconds),
            str(concurrency),
            str(self.paths),
            json.dumps(self.headers),
        ]
        if rate is not None:
            argv.append(f"{rate:.3f}")
        commits_before = audit_counters(self.port) if self.audited else None
        before = cpu_seconds(self.pid) if self.pid is not None else None
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        after = cpu_seconds(self.pid) if self.pid is not None else None
        commits_after = audit_counters(self.port) if self.audited else None
        result: dict[str, Any] = dict(json.loads(out.stdout.strip().splitlines()[-1]))
        if before is not None and after is not None and result["requests"]:
            result["cpu_us"] = round((after - before) / result["requests"] * 1e6, 1)
        if commits_before is not None and commits_after is not None:
            figures = commit_figures(commits_before, commits_after, result["seconds"])
            if figures is not None:
                result["audit"] = figures
        return result


@dataclass
class Setup:
    gateway: Target
    bare: Target
    mode: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    env: dict[str, str]
    witnesses: list[RunningWitness] = field(default_factory=list)

    def signal_gateway(self, signum: int) -> None:
        self.process.send_signal(signum)


def add_setup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--production", action="store_true", help="PostgreSQL store and Redis limits"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "SATUGATE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SATUGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )


@contextlib.contextmanager
def servers(
    args: argparse.Namespace, *, profile_to: Path | None = None, witnesses: int = 0
) -> Iterator[Setup]:
    """Seed demo data in a scratch directory, start the gateway and the bare endpoint.

    With ``profile_to`` the gateway runs (one worker) under ``benchmarks.profiled_server``.
    With ``witnesses`` > 0, that many witnesses of the seeded log start before the gateway,
    which submits its checkpoints to them all (quorum: all of them); they stop after it.
    """
    with (
        tempfile.TemporaryDirectory(prefix="satugate-bench-") as tmp,
        contextlib.ExitStack() as witnessing,
    ):
        data_dir = Path(tmp) / "data"
        env = {
            **os.environ,
            "SATUGATE_DATA_DIR": str(data_dir),
            "SATUGATE_RATE_SCALE": "100000",
            "SATUGATE_LOG_LEVEL": "warning",
        }
        mode = "embedded (SQLite store, in-process limits)"
        scratch_db: str | None = None
        if args.production:
            scratch_db = _fresh_pg_database(args.database_url)
            env["SATUGATE_DATABASE_URL"] = scratch_db
            env["SATUGATE_REDIS_URL"] = args.redis_url
            mode = "production (PostgreSQL store, Redis limits)"
        gw_port, bare_port = _free_port(), _free_port()
        env["SATUGATE_ISSUER"] = f"http://127.0.0.1:{gw_port}"
        subprocess.run(
            [
                PYTHON,
                "-m",
                "gateway.cli",
                "demo",
                "--no-serve",
                "--data-dir",
                str(data_dir),
                "--residents",
                str(args.residents),
                "--port",
                str(gw_port),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        demo = json.loads((data_dir / "demo-clients.json").read_text())
        with sqlite3.connect(data_dir / "sources" / "civil.db") as conn:
            niks = [
                r[0]
                for r in conn.execute(
                    "SELECT nik FROM residents WHERE city_code = '35.78' "
                    "AND birth_date <= date('now', '-18 years') "
                    "ORDER BY nik LIMIT 2000"
                )
            ]
        paths_gw = Path(tmp) / "gw.txt"
        paths_bare = Path(tmp) / "bare.txt"
        paths_gw.write_text("\n".join(f"/v1/residents/{n}" for n in niks))
        paths_bare.write_text("\n".join(f"/residents/{n}" for n in niks))
        running: list[RunningWitness] = []
        if witnesses:
            log_key = log_verifier_key(data_dir, env)
            running = witnessing.enter_context(
                running_witnesses(witnesses, Path(tmp) / "witnesses", log_key)
            )
            env["SATUGATE_WITNESSES"] = witnesses_setting(running)
            env["SATUGATE_WITNESS_QUORUM"] = str(witnesses)

        common = [
            "--host",
            "127.0.0.1",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        gateway_argv = [
            PYTHON,
            "-m",
            "uvicorn",
            "gateway.platform.app:create_app",
            "--factory",
            "--port",
            str(gw_port),
            *common,
        ]
        if profile_to is not None:
            gateway_argv = [
                PYTHON,
                "-m",
                "benchmarks.profiled_server",
                str(profile_to),
                str(gw_port),
            ]
        gw = subprocess.Popen(gateway_argv, env=env)
        bare: subprocess.Popen[bytes] | None = None
        try:
            _wait(f"http://127.0.0.1:{gw_port}/healthz")
            client = next(c for c in demo["clients"] if c["client_id"] == "demo-dinsos")
            token = access_token(f"http://127.0.0.1:{gw_port}", client)
            gw_headers = {
                "Authorization": f"Bearer {token}",
                "X-Purpose": "social_assistance",
                "X-On-Behalf-Of": "bench.officer",
            }
            # The same record: the bare endpoint reads the very fields satugate releases
            # to this client for this purpose, from the same sources.
            fields = _released_fields(gw_port, niks[0], gw_headers)
            bare_env = {
                **env,
                "SATUGATE_BENCH_SOURCES": str(data_dir / "sources" / "sources.yaml"),
                "SATUGATE_BENCH_FIELDS": ",".join(fields),
            }
            bare = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "uvicorn",
                    "benchmarks.bare_app:create_app",
                    "--factory",
                    "--port",
                    str(bare_port),
                    *common,
                ],
                env=bare_env,
            )
            _wait(f"http://127.0.0.1:{bare_port}/residents/{niks[0]}")
            yield Setup(
                Target(
                    "satugate", gw_port, paths_gw, gw_headers, gw.pid, audited=args.workers == 1
                ),
                Target("bare", bare_port, paths_bare, {}, bare.pid),
                mode,
                gw,
                data_dir,
                env,
                running,
            )
        finally:
            procs = [p for p in (gw, bare) if p is not None]
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                proc.wait(timeout=60)
            if scratch_db is not None:
                _drop_pg_database(args.database_url, scratch_db)


def _fresh_pg_database(admin_url: str) -> str:
    import uuid

    import psycopg

    name = f"satugate_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(admin_url: str, url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        conn.execute(drop)
