"""The privacy budget holds across processes: two gateway processes spending one
agency's budget on one Redis together get exactly the budget, never more."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from fractions import Fraction

from gateway.limits.ratelimit import connect_redis
from gateway.statistics.privacy_budget import PrivacyBudget

_SPENDER = """
import asyncio, sys
from datetime import UTC, datetime
from fractions import Fraction
from gateway.statistics.privacy_budget import PrivacyBudget
from gateway.limits.ratelimit import connect_redis

async def main() -> None:
    budget = PrivacyBudget(connect_redis(sys.argv[1]))
    ok = 0
    for _ in range(40):
        spend = await budget.spend(sys.argv[2], Fraction(1, 2), Fraction(10), datetime.now(UTC))
        ok += spend.ok
    await budget.aclose()
    print(ok)

asyncio.run(main())
"""


def test_two_processes_share_one_budget(redis_url: str, redis_prefix: str) -> None:
    agency = redis_prefix + "bappeda"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SPENDER, redis_url, agency], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    granted = [int(p.communicate(timeout=60)[0].strip()) for p in procs]
    assert sum(granted) == 20  # ten units at one half each, whoever asked
    assert all(p.returncode == 0 for p in procs)


async def test_an_exhausted_budget_spends_nothing_more(redis_url: str, redis_prefix: str) -> None:
    budget = PrivacyBudget(connect_redis(redis_url))
    agency, now = redis_prefix + "dinsos", datetime.now(UTC)
    try:
        first = await budget.spend(agency, Fraction(3), Fraction(4), now)
        second = await budget.spend(agency, Fraction(3), Fraction(4), now)
        assert first.ok and not second.ok
        assert second.remaining == Fraction(1)
        assert await budget.spent(agency, now) == Fraction(3)
    finally:
        await budget.aclose()


async def test_the_embedded_budget_counts_in_process() -> None:
    budget = PrivacyBudget()
    now = datetime.now(UTC)
    results = await asyncio.gather(
        *(budget.spend("bappeda", Fraction(1, 2), Fraction(2), now) for _ in range(6))
    )
    assert sum(r.ok for r in results) == 4
