"""A bounded load against a real gateway process: no errors, and the worker's memory
stays flat through the steady state (VmRSS from /proc, generous allowance for noise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.evidence import Outcome, load
from tests.faults.procs import GatewayProcess, fetch_token, free_port, gateway_env, seed_data_dir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

WARM_UP_SECONDS = 5
STEADY_SECONDS = 20
# Allocator and cache noise: the verifier's token cache, pools and arenas settle in the
# warm-up; a leak of one small object per request would exceed this within the run.
RSS_ALLOWANCE_KB = 40 * 1024


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_bounded_load_has_no_errors_and_flat_memory(
    fault_sources: Path, lookup_paths: list[str], tmp_path: Path
) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    demo = await seed_data_dir(fault_sources, data_dir, port=port)
    env = gateway_env(data_dir, port, SATUGATE_LOG_LEVEL="warning")
    gw = GatewayProcess(env, port, tmp_path / "gateway.log")
    gw.start()
    try:
        assert gw.proc is not None
        token = fetch_token(gw.base, demo, "demo-dinsos")
        headers = {
            "Authorization": f"Bearer {token}",
            "X-Purpose": "social_assistance",
            "X-On-Behalf-Of": "officer.load",
        }
        warm = await load(
            gw.base,
            lookup_paths,
            headers,
            seconds=WARM_UP_SECONDS,
            concurrency=16,
            outcome=Outcome(),
        )
        start_kb = rss_kb(gw.proc.pid)
        steady = await load(
            gw.base,
            lookup_paths,
            headers,
            seconds=STEADY_SECONDS,
            concurrency=16,
            outcome=Outcome(),
        )
        end_kb = rss_kb(gw.proc.pid)
    finally:
        gw.stop()
    print(
        f"load: {len(steady.receipts)} lookups in {STEADY_SECONDS} s, "
        f"RSS {start_kb} kB -> {end_kb} kB"
    )
    for outcome in (warm, steady):
        assert outcome.transport_errors == 0
        assert outcome.statuses == {"200": len(outcome.receipts)}, outcome.statuses
    assert len(steady.receipts) >= 200, "the load ran"
    assert len({i for _, i in steady.receipts}) == len(steady.receipts)
    assert end_kb - start_kb < RSS_ALLOWANCE_KB, (
        f"RSS grew from {start_kb} kB to {end_kb} kB over {len(steady.receipts)} lookups"
    )
