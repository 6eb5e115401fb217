"""Several gateway processes on one PostgreSQL store, and one of them killed mid-load.

Promises: all processes extend one tree (every pair of checkpoints any of them signed is
provably consistent, no size has two roots); a worker killed with SIGKILL loses no
acknowledged event (every receipt's leaf exists and holds its event), leaves no gap, and
the log verifies.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.faults.evidence import (
    Outcome,
    assert_consistent_checkpoints,
    load,
    missing_receipts,
    verify_store,
)
from tests.faults.procs import (
    GatewayProcess,
    fetch_token,
    free_port,
    gateway_env,
    seed_data_dir,
    unhandled_errors,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240)]

HEADERS = {"X-Purpose": "social_assistance", "X-On-Behalf-Of": "officer.replica"}


async def _collect_checkpoints(bases: list[str], notes: list[str], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        while not stop.is_set():
            for base in bases:
                try:
                    r = await client.get(base + "/audit/checkpoint")
                except httpx.HTTPError:
                    continue  # a killed replica
                if r.status_code == 200:
                    notes.append(r.text)
            await asyncio.sleep(0.5)


def _proof_fetcher(base: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    client = httpx.Client(base_url=base, timeout=10, headers=headers)

    def proof(first: int, second: int) -> list[bytes]:
        r = client.get("/audit/proof/consistency", params={"first": first, "second": second})
        assert r.status_code == 200, r.text
        return [base64.b64decode(h) for h in r.json()["proof"]]

    return proof, client


def _worker_pids(supervisor: int) -> list[int]:
    """The uvicorn worker processes of a supervisor (its spawned children)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == supervisor and b"spawn_main" in cmdline:
            pids.append(int(entry))
    return sorted(pids)


async def test_two_replicas_extend_one_tree_without_fork(
    fault_sources: Path, lookup_paths: list[str], tmp_path: Path, postgres_url: str
) -> None:
    port_a, port_b = free_port(), free_port()
    data_dir = tmp_path / "data"
    # One issuer and one data dir (master key) for both replicas, as behind one Service.
    env_a = gateway_env(data_dir, port_a, SATUGATE_DATABASE_URL=postgres_url)
    demo = await seed_data_dir(fault_sources, data_dir, port=port_a, database_url=postgres_url)
    replicas = [
        GatewayProcess(env_a, port_a, tmp_path / "a.log"),
        GatewayProcess(env_a, port_b, tmp_path / "b.log"),
    ]
    for gw in replicas:
        gw.start()
    try:
        base_a, base_b = replicas[0].base, replicas[1].base
        token = fetch_token(base_a, demo, "demo-dinsos")
        headers = {**HEADERS, "Authorization": f"Bearer {token}"}
        auditor = {"Authorization": f"Bearer {fetch_token(base_b, demo, 'demo-auditor')}"}
        notes: list[str] = []
        stop = asyncio.Event()
        collector = asyncio.create_task(_collect_checkpoints([base_a, base_b], notes, stop))
        outcome = Outcome()
        await load(
            [base_a, base_b], lookup_paths, headers, seconds=8, concurrency=12, outcome=outcome
        )
        stop.set()
        await collector
        async with httpx.AsyncClient(timeout=10) as client:
            notes.append((await client.get(base_a + "/audit/checkpoint")).text)
            notes.append((await client.get(base_b + "/audit/checkpoint")).text)
            key = (await client.get(base_a + "/audit/verifier-key")).text.strip()
            assert key == (await client.get(base_b + "/audit/verifier-key")).text.strip()

        assert outcome.statuses == {"200": len(outcome.receipts)}, (
            outcome.statuses,
            unhandled_errors(replicas[0].logs() + replicas[1].logs()),
        )
        assert outcome.transport_errors == 0
        proof, sync_client = _proof_fetcher(base_b, auditor)
        try:
            pairs = await asyncio.to_thread(assert_consistent_checkpoints, notes, key, proof)
        finally:
            sync_client.close()
        print(
            f"replicas: {len(outcome.receipts)} receipts, {len(notes)} checkpoints seen, "
            f"{pairs} pairs proven consistent"
        )
        assert pairs >= 6, f"too few distinct checkpoints seen to compare ({pairs} pairs)"
        log = await verify_store(postgres_url, key)
        assert log.report.ok, log.report.problems
        assert missing_receipts(log, outcome.receipts) == []
        assert len({i for _, i in outcome.receipts}) == len(outcome.receipts)
    finally:
        for gw in replicas:
            gw.stop()


async def test_worker_killed_mid_load_loses_no_acknowledged_event(
    fault_sources: Path, lookup_paths: list[str], tmp_path: Path, postgres_url: str
) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = gateway_env(data_dir, port, SATUGATE_DATABASE_URL=postgres_url)
    demo = await seed_data_dir(fault_sources, data_dir, port=port, database_url=postgres_url)
    gw = GatewayProcess(env, port, tmp_path / "gateway.log", workers=2)
    gw.start()
    try:
        assert gw.proc is not None
        supervisor = gw.proc.pid
        wait_until(lambda: len(_worker_pids(supervisor)) == 2, timeout=30, what="two workers")
        victim = _worker_pids(supervisor)[0]
        token = fetch_token(gw.base, demo, "demo-dinsos")
        headers = {**HEADERS, "Authorization": f"Bearer {token}"}
        outcome = Outcome()
        running = asyncio.create_task(
            load(gw.base, lookup_paths, headers, seconds=10, concurrency=16, outcome=outcome)
        )
        await asyncio.sleep(4)
        acknowledged_before_kill = len(outcome.receipts)
        os.kill(victim, signal.SIGKILL)
        await running

        print(
            f"sigkill: {len(outcome.receipts)} acknowledged, {outcome.transport_errors} "
            f"requests lost with the worker"
        )
        assert acknowledged_before_kill > 0
        assert victim not in _worker_pids(supervisor)
        # Requests in flight on the killed worker may fail; no answer may be anything
        # but an audited 200.
        assert outcome.statuses == {"200": len(outcome.receipts)}, (
            outcome.statuses,
            unhandled_errors(gw.logs()),
        )
        async with httpx.AsyncClient(base_url=gw.base, timeout=10) as client:
            assert (await client.get("/audit/checkpoint")).status_code == 200
            key = (await client.get("/audit/verifier-key")).text.strip()
        log = await verify_store(postgres_url, key)
        assert log.report.ok, log.report.problems
        assert missing_receipts(log, outcome.receipts) == []
        assert sorted(log.leaves) == list(range(log.report.tree_size)), "no gap in the leaves"
        assert len(log.leaves) >= len(outcome.receipts)
    finally:
        gw.stop()
