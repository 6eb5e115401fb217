"""The search budget and the officer assertions' replay guard, embedded and on Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.identity.officers import JtiGuard
from gateway.limits.ratelimit import connect_redis
from gateway.limits.search_budget import Budget, SearchBudget


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def budget(request: pytest.FixtureRequest) -> AsyncIterator[SearchBudget]:
    redis = (
        connect_redis(request.getfixturevalue("redis_url")) if request.param == "redis" else None
    )
    built = SearchBudget(b"k" * 32, window_seconds=3600, redis=redis)
    try:
        yield built
    finally:
        await built.aclose()


async def test_distinct_residents_are_counted_once_and_all_or_nothing(
    budget: SearchBudget, redis_prefix: str
) -> None:
    client = Budget("client", f"{redis_prefix}client", 5)
    officer = Budget("officer", f"{redis_prefix}officer", 3)
    assert await budget.spend([client, officer], ["a", "b"]) is None
    assert await budget.spend([client, officer], ["a", "b"]) is None  # seen: free
    assert await budget.spend([client, officer], ["c", "d"]) == "officer"  # 4 > 3
    assert await budget.spend([client, officer], ["c"]) is None  # nothing was spent above
    other = Budget("officer", f"{redis_prefix}officer2", 3)
    assert await budget.spend([client, other], ["d", "e", "f"]) == "client"  # 6 > 5
    assert await budget.spend([client, other], ["d", "e"]) is None
    assert await budget.spend([client, other], []) is None


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def guard(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[JtiGuard]:
    if request.param == "redis":
        built = JtiGuard(connect_redis(request.getfixturevalue("redis_url")), prefix=redis_prefix)
    else:
        built = JtiGuard()
    try:
        yield built
    finally:
        await built.aclose()


async def test_an_assertion_id_is_used_once(guard: JtiGuard) -> None:
    assert await guard.first_use("dinsos:j1", 60)
    assert not await guard.first_use("dinsos:j1", 60)
    assert await guard.first_use("dinsos:j2", 60)
