"""Real processes on loopback for fault tests: a throwaway PostgreSQL cluster, a private
Redis, gateway servers under uvicorn, and an upstream HTTP source that can be stopped.

Nothing here touches the machine's shared servers: every cluster, Redis and gateway is
started on a free port in a temporary directory and stopped by its own process id.
"""

from __future__ import annotations

import asyncio
import base64
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import servers

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def missing_tool(name: str) -> None:
    """Skip locally, fail under CI, when a server binary is not installed."""
    message = f"{name} is not installed"
    if servers.under_ci():
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(message)


# --- PostgreSQL ------------------------------------------------------------------------


def _pg_bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    if found:
        return found[-1]
    path = shutil.which(tool)
    if path is None:
        missing_tool(f"PostgreSQL ({tool})")
    assert path is not None
    return path


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class PgCluster:
    """A private PostgreSQL cluster in its own temporary directory, on a free port.

    The directory is made with ``tempfile`` (not under pytest's private tmp folder) so
    that the ``postgres`` user can reach it when the suite runs as root.
    """

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="satugate-pg-")))
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "pgdata"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=100"
        )
        subprocess.run(
            _as_postgres(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    opts,
                    "-l",
                    str(self.root / "pg.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
        wait_until(
            lambda: servers.reachable("127.0.0.1", self.port, 0.5),
            timeout=30,
            what="PostgreSQL to listen",
        )

    def stop(self, mode: str = "immediate") -> None:
        subprocess.run(
            _as_postgres(
                [_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"]
            ),
            check=False,
            capture_output=True,
            timeout=90,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


# --- Redis -----------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A private redis-server on a free port (never the shared one)."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing_tool("redis-server")
        assert binary is not None
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: servers.reachable("127.0.0.1", self.port, 0.5),
            timeout=20,
            what="redis-server to listen",
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# --- demo data and gateway processes -----------------------------------------------------


async def seed_data_dir(
    sources: Path, data_dir: Path, *, port: int, database_url: str | None = None
) -> dict[str, Any]:
    """A gateway data dir with shared synthetic sources and a freshly seeded store.

    Runs what ``satugate demo --no-serve`` runs (schema, keys, policy bundle, demo
    clients, ``demo-clients.json``), in this process to spare an interpreter start.
    """
    from gateway.demo.seed import seed_store, write_demo_clients
    from gateway.platform.settings import Settings

    shutil.copytree(sources, data_dir / "sources")
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=data_dir, database_url=database_url, issuer=base_url)
    content = await seed_store(settings, base_url=base_url)
    write_demo_clients(data_dir / "demo-clients.json", content)
    return content


def gateway_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATUGATE_")}
    env.update(
        SATUGATE_DATA_DIR=str(data_dir),
        SATUGATE_ISSUER=f"http://127.0.0.1:{port}",
        SATUGATE_RATE_SCALE="1000",
        SATUGATE_LOG_LEVEL="info",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class GatewayProcess:
    """``uvicorn gateway.app:create_app`` as a child process, stdout captured to a file."""

    env: dict[str, str]
    port: int
    log_path: Path
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "gateway.platform.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--no-access-log",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited: {self.logs()[-3000:]}")
            return http_ok(self.base + "/healthz")

        wait_until(ready, timeout=timeout, what="the gateway to answer /healthz")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def demo_gateway(sources: Path, tmp: Path) -> Iterator[tuple[GatewayProcess, dict[str, Any]]]:
    """A gateway process serving demo data seeded from ``sources`` under ``tmp``, with the
    demo's clients; stopped on exit."""
    port = free_port()
    data_dir = tmp / "data"
    demo = asyncio.run(seed_data_dir(sources, data_dir, port=port))
    gw = GatewayProcess(gateway_env(data_dir, port), port, tmp / "gateway.log")
    gw.start()
    try:
        yield gw, demo
    finally:
        gw.stop()


def client_creds(demo: dict[str, Any], client_id: str) -> tuple[str, str]:
    for c in demo["clients"]:
        if c["client_id"] == client_id:
            return str(c["client_id"]), str(c["client_secret"])
    raise KeyError(client_id)


def fetch_token(base: str, demo: dict[str, Any], client_id: str, scope: str | None = None) -> str:
    cid, secret = client_creds(demo, client_id)
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    data = "grant_type=client_credentials" + (f"&scope={scope}" if scope else "")
    req = urllib.request.Request(
        base + "/oauth/token",
        data=data.encode(),
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["access_token"])


def unhandled_errors(logs: str) -> list[str]:
    """The error types of the gateway's 500s, from its JSON log lines."""
    out = []
    for line in logs.splitlines():
        if '"unhandled_error"' in line:
            try:
                out.append(str(json.loads(line).get("error_type")))
            except ValueError:
                out.append(line[:200])
    return out
