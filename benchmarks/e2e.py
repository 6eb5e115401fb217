"""End to end: lookups per second through satugate beside a bare endpoint.

Both servers run under uvicorn with the same number of workers on the same machine and
read the same records from the same SQLite source through the same connector; the bare
one has no auth, policy, treatment or audit. Load comes from a separate process
(``benchmarks.loadgen``), rounds interleaved, at a fixed concurrency. Embedded path:
SQLite store, in-process limits; production path (``--production``): PostgreSQL store,
Redis limits.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from statistics import median
from typing import Any

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


def _token(base: str, client: dict[str, Any]) -> str:
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


def _load(
    port: int, seconds: float, concurrency: int, paths_file: Path, headers: dict[str, str]
) -> dict[str, float]:
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "benchmarks.loadgen",
            "127.0.0.1",
            str(port),
            str(seconds),
            str(concurrency),
            str(paths_file),
            json.dumps(headers),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks e2e")
    parser.add_argument(
        "--quick", action="store_true", help="a tiny run that proves the benchmark works"
    )
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
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
    args = parser.parse_args(argv)
    if args.quick:
        args.residents, args.seconds, args.rounds, args.concurrency = 300, 1.0, 1, 4

    with tempfile.TemporaryDirectory(prefix="satugate-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        env = {
            **os.environ,
            "SATUGATE_DATA_DIR": str(data_dir),
            "SATUGATE_RATE_SCALE": "100000",
            "SATUGATE_LOG_LEVEL": "warning",
        }
        mode = "embedded (SQLite store, in-process limits)"
        if args.production:
            pg_db = _fresh_pg_database(args.database_url)
            env["SATUGATE_DATABASE_URL"] = pg_db
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

        common = [
            "--host",
            "127.0.0.1",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        gw = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "gateway.app:create_app",
                "--factory",
                "--port",
                str(gw_port),
                *common,
            ],
            env=env,
        )
        bare_env = {**env, "SATUGATE_BENCH_SOURCES": str(data_dir / "sources" / "sources.yaml")}
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
        try:
            _wait(f"http://127.0.0.1:{gw_port}/healthz")
            _wait(f"http://127.0.0.1:{bare_port}/residents/{niks[0]}")
            client = next(c for c in demo["clients"] if c["client_id"] == "demo-dinsos")
            token = _token(f"http://127.0.0.1:{gw_port}", client)
            gw_headers = {
                "Authorization": f"Bearer {token}",
                "X-Purpose": "social_assistance",
                "X-On-Behalf-Of": "bench.officer",
            }
            # warm-up, then interleaved rounds
            _load(bare_port, 1.0, args.concurrency, paths_bare, {})
            _load(gw_port, 1.0, args.concurrency, paths_gw, gw_headers)
            rows: list[tuple[str, dict[str, float]]] = []
            for _ in range(args.rounds):
                rows.append(
                    ("bare", _load(bare_port, args.seconds, args.concurrency, paths_bare, {}))
                )
                rows.append(
                    (
                        "satugate",
                        _load(gw_port, args.seconds, args.concurrency, paths_gw, gw_headers),
                    )
                )
        finally:
            for proc in (gw, bare):
                proc.terminate()
            for proc in (gw, bare):
                proc.wait(timeout=30)

    def summary(name: str) -> dict[str, float]:
        runs = [r for n, r in rows if n == name]
        return {
            "rps": round(median(r["rps"] for r in runs), 1),
            "p50_ms": round(median(r["p50_ms"] for r in runs), 3),
            "p99_ms": round(median(r["p99_ms"] for r in runs), 3),
            "errors": int(sum(r["errors"] for r in runs)),
            "requests": int(sum(r["requests"] for r in runs)),
        }

    sg, base = summary("satugate"), summary("bare")
    ratio = round(sg["rps"] / base["rps"], 3) if base["rps"] else 0.0
    print(
        f"\ne2e lookups — {mode}; workers={args.workers}, concurrency={args.concurrency}, "
        f"{args.rounds} interleaved rounds of {args.seconds}s, {args.residents:,} residents"
    )
    print(f"{'server':<10} {'rps':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
    for name, s in (("bare", base), ("satugate", sg)):
        print(
            f"{name:<10} {s['rps']:>10.1f} {s['p50_ms']:>9.3f} {s['p99_ms']:>9.3f} {s['errors']:>7}"
        )
    print(
        f"throughput ratio satugate/bare = {ratio}; "
        f"added p50 = {sg['p50_ms'] - base['p50_ms']:.3f} ms"
    )
    print(
        json.dumps(
            {
                "benchmark": "e2e",
                "mode": "production" if args.production else "embedded",
                "satugate": sg,
                "baseline": {"name": "bare-fastapi-same-source", **base},
                "ratio": ratio,
            }
        )
    )


def _fresh_pg_database(admin_url: str) -> str:
    import uuid

    import psycopg

    name = f"satugate_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


if __name__ == "__main__":
    main()
