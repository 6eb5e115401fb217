"""The gateway store (PostgreSQL) stops in the middle of a load of lookups.

Promise: every 200 has its audit event; every other answer is 503 ``audit_unavailable``;
when the database is back the gateway resumes by itself and the log verifies.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.faults.evidence import Outcome, load, missing_receipts, verify_store
from tests.faults.procs import (
    PYTHON,
    ROOT,
    GatewayProcess,
    client_creds,
    fetch_token,
    free_port,
    gateway_env,
    pg_cluster,
    seed_data_dir,
    unhandled_errors,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

HEADERS = {"X-Purpose": "social_assistance", "X-On-Behalf-Of": "officer.fault"}


async def _until_200(base: str, path: str, headers: dict[str, str], seconds: float) -> float:
    """Seconds until a lookup answers 200 again (raises if it never does)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(timeout=10) as client:
        while loop.time() - started < seconds:
            try:
                r = await client.get(base + path, headers=headers)
                if r.status_code == 200:
                    return loop.time() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the gateway did not resume within {seconds} s")


async def test_store_outage_fails_closed_and_recovers(
    fault_sources: Path, lookup_paths: list[str], tmp_path: Path
) -> None:
    with pg_cluster() as cluster:
        database_url = cluster.create_database("satugate")
        port = free_port()
        data_dir = tmp_path / "data"
        env = gateway_env(data_dir, port, SATUGATE_DATABASE_URL=database_url)
        demo = await seed_data_dir(fault_sources, data_dir, port=port, database_url=database_url)
        gw = GatewayProcess(env, port, tmp_path / "gateway.log")
        gw.start()
        try:
            token = fetch_token(gw.base, demo, "demo-dinsos")
            headers = {**HEADERS, "Authorization": f"Bearer {token}"}
            auditor = {"Authorization": f"Bearer {fetch_token(gw.base, demo, 'demo-auditor')}"}
            outcome = Outcome()
            running = asyncio.create_task(
                load(gw.base, lookup_paths, headers, seconds=14, concurrency=8, outcome=outcome)
            )
            await asyncio.sleep(3)
            before_outage = outcome.statuses["200"]
            async with httpx.AsyncClient(timeout=10) as client:
                saved = tmp_path / "before-outage.checkpoint"
                saved.write_text((await client.get(gw.base + "/audit/checkpoint")).text)
            await asyncio.to_thread(cluster.stop)
            await asyncio.sleep(4)
            during = dict(outcome.statuses)
            await asyncio.to_thread(cluster.start)
            await running
            resumed_after = await _until_200(gw.base, lookup_paths[0], headers, 30)

            print(
                f"store outage: {dict(outcome.statuses)}, resumed {resumed_after:.1f} s "
                "after the load"
            )
            assert before_outage > 0, "the load ran before the outage"
            assert outcome.statuses["503 audit_unavailable"] > 0, f"the outage was felt: {during}"
            assert outcome.other_than("200", "503 audit_unavailable") == {}, (
                outcome.statuses,
                unhandled_errors(gw.logs()),
            )
            assert outcome.bad_problems == [] and outcome.transport_errors == 0
            assert resumed_after < 30

            async with httpx.AsyncClient(base_url=gw.base, timeout=10) as client:
                # Lookups after the restart are served and audited like before.
                after = Outcome()
                for path in lookup_paths[:10]:
                    after.add(await client.get(path, headers=headers))
                assert after.statuses == {"200": 10}
                assert (await client.get("/audit/checkpoint")).status_code == 200
                key = (await client.get("/audit/verifier-key")).text.strip()
                leaf = await client.get(f"/audit/leaves/{outcome.receipts[-1][1]}", headers=auditor)
                assert leaf.status_code == 200 and outcome.receipts[-1][0] in leaf.text
            # The command an auditor runs, against the live gateway, holding the log to the
            # checkpoint saved before the outage.
            cid, secret = client_creds(demo, "demo-auditor")
            verified = await asyncio.to_thread(
                subprocess.run,
                [
                    PYTHON,
                    "-m",
                    "gateway.cli",
                    "audit",
                    "verify",
                    "--url",
                    gw.base,
                    "--key",
                    key,
                    "--since",
                    str(saved),
                    "--concurrency",
                    "4",
                ],
                env={**env, "SATUGATE_CLIENT_ID": cid, "SATUGATE_CLIENT_SECRET": secret},
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert verified.returncode == 0, verified.stdout + verified.stderr
            log = await verify_store(database_url, key)
            assert log.report.ok, log.report.problems
            receipts = outcome.receipts + after.receipts
            assert missing_receipts(log, receipts) == []
            assert len({i for _, i in receipts}) == len(receipts), "no two receipts share a leaf"
        finally:
            gw.stop()
