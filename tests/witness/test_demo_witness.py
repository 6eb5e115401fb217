"""``satugate demo`` runs a local witness: its checkpoint is cosigned from the start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from audit.cosignature import Cosigner, verify_cosigned
from tests.faults.procs import ROOT, free_port, http_ok, wait_until


def test_demo_serves_a_cosigned_checkpoint(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATUGATE_")}
    data_dir = tmp_path / "demo"
    log = (tmp_path / "demo.out").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "demo",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--residents",
            "50",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    witness_url = f"http://127.0.0.1:{port + 100}"
    try:
        wait_until(
            lambda: proc.poll() is not None or http_ok(base + "/healthz"),
            timeout=120,
            what="the demo to serve",
        )
        assert proc.poll() is None, (tmp_path / "demo.out").read_text()[-2000:]
        log_key = httpx.get(base + "/audit/verifier-key").text
        witness = Cosigner.from_secret((data_dir / "witness.key").read_text())
        assert oct((data_dir / "witness.key").stat().st_mode & 0o777) == "0o600"

        def cosigned() -> bool:
            note = httpx.get(base + "/audit/checkpoint").text
            try:
                verify_cosigned(note, log_key, [witness.verifier_key()], 1)
            except Exception:
                return False
            return True

        wait_until(cosigned, timeout=30, what="a cosigned checkpoint")
        detail = httpx.get(base + "/readyz").json()["witnessing"]
        assert detail["witnesses"][0]["status"] == "ok" and detail["lag_entries"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    deadline = time.monotonic() + 10
    while http_ok(witness_url + "/healthz"):
        assert time.monotonic() < deadline, "the demo left its witness running"
        time.sleep(0.1)
