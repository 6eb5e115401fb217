"""A real ``satugate witness serve`` process on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from audit.cosignature import Cosigner
from gateway.cli.witness import write_key
from tests.faults.procs import free_port, http_ok, wait_until


@dataclass
class WitnessProcess:
    url: str
    cosigner: Cosigner
    db: Path
    proc: subprocess.Popen[bytes]


@contextmanager
def witness_process(
    root: Path, log_keys: Sequence[str], name: str = "witness.test/w1"
) -> Iterator[WitnessProcess]:
    """Start a witness of the logs ``log_keys``; stop it by its own process id."""
    root.mkdir(parents=True, exist_ok=True)
    key = root / f"{name.replace('/', '_')}.key"
    cosigner = write_key(key, name) if not key.exists() else Cosigner.from_secret(key.read_text())
    port = free_port()
    db = root / "witness.db"
    args = [
        sys.executable,
        "-m",
        "gateway.cli",
        "witness",
        "serve",
        "--key",
        str(key),
        "--db",
        str(db),
        "--port",
        str(port),
    ]
    for log_key in log_keys:
        args += ["--log", log_key]
    log = (root / "witness.out").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: proc.poll() is not None or http_ok(url + "/healthz"),
            timeout=30,
            what="the witness to listen",
        )
        assert proc.poll() is None, (root / "witness.out").read_text()
        yield WitnessProcess(url, cosigner, db, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        log.close()
