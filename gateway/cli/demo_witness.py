"""The demo's own witness: one local ``satugate witness`` beside the demo gateway.

Its key and its store live in the data folder with the gateway's other files, so the
demo serves a checkpoint cosigned by a witness from the first minute. A real
deployment runs its witnesses elsewhere, under other people's control.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

import audit
from gateway.cli.witness import load_key, write_key
from gateway.platform import keys as keymod
from gateway.platform import store
from gateway.platform.services import audit_origin
from gateway.platform.settings import Settings

WITNESS_NAME = "witness.demo.local/w1"


async def log_verifier_key(settings: Settings) -> str:
    """The verifier key the gateway's checkpoints are signed with (the demo's store)."""
    engine = store.create_engine(settings.resolved_database_url())
    try:
        keyring = keymod.KeyRing(
            engine, keymod.load_master_key(settings.resolved_master_key_file())
        )
        origin = await audit.log_origin(engine) or audit_origin(settings)
        return audit.CheckpointSigner(origin, await keyring.checkpoint_key()).verifier_key()
    finally:
        await engine.dispose()


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_demo_witness(
    settings: Settings, host: str, port: int
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the witness process; return it and the ``SATUGATE_WITNESSES`` value."""
    data_dir: Path = settings.data_dir
    key_file = data_dir / "witness.key"
    cosigner = load_key(key_file) if key_file.exists() else write_key(key_file, WITNESS_NAME)
    log_key = asyncio.run(log_verifier_key(settings))
    log = (data_dir / "witness.log").open("ab")
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and command, no shell)
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "witness",
            "serve",
            "--key",
            str(key_file),
            "--log",
            log_key,
            "--db",
            str(data_dir / "witness.db"),
            "--host",
            host,
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 30
    while not _up(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the demo witness did not start (see {data_dir / 'witness.log'})")
        time.sleep(0.1)
    return proc, json.dumps([{"url": url, "key": cosigner.verifier_key()}])
