"""Leases in the Redis limiter: a busy bucket is counted in Redis a lease at a time, and
never admits a request Redis did not count (real Redis; the lease clock is a fake one)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.limits.ratelimit import RedisRateLimiter, connect_redis

pytestmark = pytest.mark.redis

LEASE = 0.1


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


class CountingRedis(Redis):
    """A client that counts the commands it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent += 1
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


Make = Callable[..., RedisRateLimiter]


@pytest.fixture
async def make(redis_url: str, redis_prefix: str) -> AsyncIterator[Make]:
    """Limiters on one prefix, as separate processes would have them, each with its own
    client and its own lease clock."""
    made: list[RedisRateLimiter] = []

    def build(clock: Clock, **options: Any) -> RedisRateLimiter:
        limiter = RedisRateLimiter(
            CountingRedis.from_url(redis_url),
            prefix=redis_prefix,
            lease_seconds=options.pop("lease_seconds", LEASE),
            clock=clock,
            **options,
        )
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.aclose()


def sent(limiter: RedisRateLimiter) -> int:
    client = limiter._client
    assert isinstance(client, CountingRedis)
    return client.sent


async def exact_remaining(redis_url: str, prefix: str, key: str, rate: str) -> int:
    """What the key has left in Redis, read by counting one more request exactly."""
    probe = RedisRateLimiter(connect_redis(redis_url), prefix=prefix)
    try:
        return (await probe.hit(key, rate)).remaining
    finally:
        await probe.aclose()


async def busy(limiter: RedisRateLimiter, clock: Clock, key: str, rate: str, n: int) -> None:
    """A window of ``n`` requests, then the clock moves on to the next window."""
    for _ in range(n):
        assert (await limiter.hit(key, rate)).allowed
    clock.now += LEASE


async def test_a_busy_bucket_is_counted_a_lease_at_a_time(make: Make) -> None:
    clock = Clock()
    limiter = make(clock)
    rate = "100000/day"
    await limiter.hit("warm-up", rate)  # loads the script
    before = sent(limiter)
    await busy(limiter, clock, "client:a", rate, 10)
    assert sent(limiter) - before == 10  # no traffic seen yet: request by request
    before = sent(limiter)
    decisions = [await limiter.hit("client:a", rate) for _ in range(25)]
    # The last window had 10: leases of 10, each asked for once and then spent here.
    assert sent(limiter) - before == 3
    assert all(d.allowed for d in decisions)
    remaining = [d.remaining for d in decisions]
    assert remaining == sorted(remaining, reverse=True)
    assert len(set(remaining)) == len(remaining)  # each request has one less left
    assert limiter.stats["leased"] == 22  # 25 requests, 3 of them asked for a lease


async def test_redis_counts_every_leased_request_when_it_grants_the_lease(
    make: Make, redis_url: str, redis_prefix: str
) -> None:
    clock = Clock()
    limiter = make(clock)
    rate = "100000/day"
    await busy(limiter, clock, "client:b", rate, 8)
    await limiter.hit("client:b", rate)  # asks for a lease of 8: all counted at once
    # 8 + 8 counted; the probe counts one more.
    assert await exact_remaining(redis_url, redis_prefix, "client:b", rate) == 100_000 - 17


async def test_two_processes_never_admit_more_than_the_limit_together(make: Make) -> None:
    clock_a, clock_b = Clock(), Clock()
    a, b = make(clock_a), make(clock_b)
    rate = "60/hour"
    # Both learn that the bucket is busy (4 each), then hammer it in turns.
    for limiter, clock in ((a, clock_a), (b, clock_b)):
        for _ in range(4):
            assert (await limiter.hit("client:shared", rate)).allowed
        clock.now += LEASE
    admitted = 8
    refused_in_a_row = 0
    turn = 0
    while refused_in_a_row < 4:
        limiter = (a, b)[turn % 2]
        turn += 1
        if (await limiter.hit("client:shared", rate)).allowed:
            admitted += 1
            refused_in_a_row = 0
        else:
            refused_in_a_row += 1
    # No lease expired (the clocks stood still): every counted request was admitted.
    assert admitted == 60
    assert a.stats["leased"] > 0 and b.stats["leased"] > 0


async def test_a_key_near_its_limit_is_counted_request_by_request(make: Make) -> None:
    clock = Clock()
    limiter = make(clock)
    rate = "40/hour"
    await busy(limiter, clock, "client:c", rate, 20)
    before = sent(limiter)
    allowed = 0
    for _ in range(25):
        allowed += (await limiter.hit("client:c", rate)).allowed
    assert allowed == 20
    # Leases of a quarter of what is left: 5 of 20, 3 of 15, 3 of 12, 2 of 9, each asked
    # for by one request and the rest admitted here (4 + 2 + 2 + 1). Fewer than 8 left
    # from then on: every request and refusal asks Redis.
    assert limiter.stats["leased"] == 9
    assert sent(limiter) - before == 25 - 9


async def test_an_expired_lease_is_dropped_not_reused(
    make: Make, redis_url: str, redis_prefix: str
) -> None:
    clock = Clock()
    limiter = make(clock)
    rate = "100000/day"
    await busy(limiter, clock, "client:d", rate, 16)
    await limiter.hit("client:d", rate)  # a lease of 16, 15 of them left here
    clock.now += LEASE + 0.01  # it expires unused; the last window had one request
    before = sent(limiter)
    assert (await limiter.hit("client:d", rate)).allowed
    assert sent(limiter) - before == 1  # asked Redis: the 15 are gone
    # 16 + 16 + 1 counted: the dropped ones are never handed back nor counted again.
    assert await exact_remaining(redis_url, redis_prefix, "client:d", rate) == 100_000 - 34


async def test_a_request_refused_for_one_bucket_spends_no_lease_of_another(make: Make) -> None:
    clock = Clock()
    limiter = make(clock)
    client_rate, officer_rate = "100000/day", "3/hour"
    for i in range(8):
        await limiter.hit_all([("client:e", client_rate), (f"officer:{i}", officer_rate)])
    clock.now += LEASE
    # The client bucket gets a lease of 8; the new officer's has 3 requests.
    checks = [("client:e", client_rate), ("officer:x", officer_rate)]
    outcomes = [await limiter.hit_all(checks) for _ in range(3)]
    assert all(client.allowed and officer.allowed for client, officer in outcomes)
    client_left = outcomes[-1][0].remaining
    refused = await limiter.hit_all(checks)
    assert not refused[1].allowed
    assert refused[0].allowed  # the client would have allowed it, and says so
    # Nothing of the client's lease was taken for the refused request.
    after = await limiter.hit_all([("client:e", client_rate), ("officer:y", officer_rate)])
    assert after[0].remaining == client_left - 1


async def test_without_leases_every_request_asks_redis(make: Make) -> None:
    clock = Clock()
    limiter = make(clock, lease_seconds=0.0)
    rate = "100000/day"
    await busy(limiter, clock, "client:g", rate, 10)
    before = sent(limiter)
    for _ in range(10):
        await limiter.hit("client:g", rate)
    assert sent(limiter) - before == 10
    assert limiter.stats["leased"] == 0


async def test_idle_buckets_are_forgotten(make: Make) -> None:
    clock = Clock()
    limiter = make(clock, sweep_every=4)
    rate = "100000/day"
    for i in range(3):
        await limiter.hit(f"client:idle{i}", rate)
    clock.now += 3 * LEASE
    await limiter.hit("client:fresh", rate)  # the fourth check sweeps
    assert len(limiter._leases) == 1
    assert "client:fresh" in next(iter(limiter._leases))


async def test_a_refused_request_takes_no_lease(
    make: Make, redis_url: str, redis_prefix: str
) -> None:
    clock = Clock()
    limiter = make(clock)
    client_rate, officer_rate = "100000/day", "2/hour"
    for i in range(8):
        await limiter.hit_all([("client:h", client_rate), (f"officer:h{i}", officer_rate)])
    clock.now += LEASE
    spender = make(Clock(), lease_seconds=0.0)
    for _ in range(2):
        assert (await spender.hit("officer:z", officer_rate)).allowed
    # The client bucket asks for a lease of 8 beside an officer with nothing left.
    client, officer = await limiter.hit_all(
        [("client:h", client_rate), ("officer:z", officer_rate)]
    )
    assert not officer.allowed and client.allowed
    # Nothing was counted for the client, and nothing is held here for it.
    assert await exact_remaining(redis_url, redis_prefix, "client:h", client_rate) == 100_000 - 9
    before = sent(limiter)
    await limiter.hit("client:h", client_rate)
    assert sent(limiter) - before == 1
