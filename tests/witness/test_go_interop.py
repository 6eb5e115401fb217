"""Code nobody here wrote checks a live gateway and its witness.

A short Go program built against Debian's ``golang-golang-x-mod-dev`` opens the served
checkpoint with ``golang.org/x/mod/sumdb/note`` (the gateway's key and the witness's
``cosignature/v1`` key) and reads the tiles with ``sumdb/tlog``'s ``TileHashReader``,
recomputing the root and checking record and tree proofs from them. Built offline, in
GOPATH mode, from the packaged sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

import audit
from gateway.platform import keys as keymod
from gateway.platform import store
from gateway.platform.services import audit_origin
from gateway.platform.settings import Settings
from tests.faults.procs import (
    GatewayProcess,
    fetch_token,
    free_port,
    gateway_env,
    missing_tool,
    seed_data_dir,
)
from tests.gateway.residents import pick
from tests.witness.procs import witness_process

GOPATH = Path("/usr/share/gocode")
PROGRAM = Path(__file__).parent / "interop" / "main.go"


def build_interop(tmp_path: Path) -> Path:
    go = shutil.which("go")
    if go is None:
        missing_tool("go (Debian golang-go)")
    if not (GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb" / "tlog").is_dir():
        missing_tool("golang.org/x/mod (Debian golang-golang-x-mod-dev)")
    assert go is not None
    binary = tmp_path / "interop"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOFLAGS": "",
        "GOPROXY": "off",
        "GOCACHE": str(tmp_path / "gocache"),
    }
    subprocess.run([go, "build", "-o", str(binary), str(PROGRAM)], env=env, check=True, timeout=600)
    return binary


async def log_key(data_dir: Path, port: int) -> str:
    settings = Settings(data_dir=data_dir, issuer=f"http://127.0.0.1:{port}")
    engine = store.create_engine(settings.resolved_database_url())
    try:
        keyring = keymod.KeyRing(
            engine, keymod.load_master_key(settings.resolved_master_key_file())
        )
        key = await keyring.checkpoint_key()
    finally:
        await engine.dispose()
    return audit.CheckpointSigner(audit_origin(settings), key).verifier_key()


async def test_go_note_and_tlog_accept_the_cosigned_checkpoint_and_tiles(
    tmp_path: Path, demo_sources: Path
) -> None:
    binary = build_interop(tmp_path)
    port = free_port()
    data_dir = tmp_path / "data"
    demo = await seed_data_dir(demo_sources, data_dir, port=port)
    key = await log_key(data_dir, port)
    with witness_process(tmp_path / "witness", [key]) as witness:
        witnesses = json.dumps([{"url": witness.url, "key": witness.cosigner.verifier_key()}])
        env = gateway_env(
            data_dir, port, SATUGATE_WITNESSES=witnesses, SATUGATE_CHECKPOINT_INTERVAL="0.2"
        )
        gw = GatewayProcess(env, port, tmp_path / "gateway.log")
        gw.start()
        try:
            token = fetch_token(gw.base, demo, "demo-dinsos")
            (resident,) = pick(demo_sources, city="35.78")
            headers = {
                "Authorization": f"Bearer {token}",
                "X-Purpose": "social_assistance",
                "X-On-Behalf-Of": "officer.budi",
            }
            with httpx.Client(base_url=gw.base, timeout=10) as client:
                for _ in range(300):  # past one full tile of 256 leaves
                    r = client.get(f"/v1/residents/{resident['nik']}", headers=headers)
                    assert r.status_code == 200, r.text
                deadline = time.monotonic() + 30
                while True:
                    ready = client.get("/readyz").json()["witnessing"]
                    if ready["witnessed_size"] >= 300 and ready["lag_entries"] == 0:
                        break
                    assert time.monotonic() < deadline, ready
                    time.sleep(0.1)
            wkey = witness.cosigner.verifier_key()
            run = subprocess.run(
                [str(binary), gw.base, key, wkey], capture_output=True, text=True, timeout=120
            )
            assert run.returncode == 0, run.stderr
            assert run.stdout.startswith("OK size=") and "signatures=2" in run.stdout
            stranger = audit.Cosigner.generate(witness.cosigner.name).verifier_key()
            run = subprocess.run(
                [str(binary), gw.base, key, stranger], capture_output=True, text=True, timeout=120
            )
            assert run.returncode == 1, run.stdout
        finally:
            gw.stop()
