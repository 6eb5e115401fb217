"""Rate limits: GCRA in process and in the real Redis, shared, fail-closed, self-healing."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from gateway.limits.ratelimit import (
    InProcessRateLimiter,
    Rate,
    RateLimiter,
    RateLimiterUnavailable,
    RedisRateLimiter,
    build_rate_limiter,
    parse_rate,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TemporaryRedis:
    """A throwaway ``redis-server`` on a free port that a test can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server binary not installed")
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("temporary redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def temporary_redis() -> Iterator[TemporaryRedis]:
    server = TemporaryRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung Redis."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        built = build_rate_limiter(None)
        assert isinstance(built, InProcessRateLimiter)
    else:
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        built = build_rate_limiter(url, prefix=prefix)
        assert isinstance(built, RedisRateLimiter)
    try:
        yield built
    finally:
        await built.aclose()


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("600/minute", 600, 60.0),
        ("10/second", 10, 1.0),
        ("5/minute", 5, 60.0),
        ("5 per minute", 5, 60.0),
        ("100/15 minutes", 100, 900.0),
        ("1000/Day", 1000, 86_400.0),
        ("3/hours", 3, 3600.0),
    ],
)
def test_parse_rate(text: str, limit: int, period: float) -> None:
    assert parse_rate(text) == Rate(limit=limit, period=period)


@pytest.mark.parametrize(
    "text", ["", "ten/minute", "0/minute", "5/fortnight", "5/0 minutes", "-1/second"]
)
def test_parse_rate_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


# --- the algorithm, on both back ends --------------------------------------------------


def test_redis_replies_are_parsed_in_c() -> None:
    """The locked dependencies bring hiredis; without it redis-py falls back to its
    pure-Python parser, which costs tens of microseconds more per round trip."""
    from redis._parsers import _AsyncHiredisParser
    from redis.asyncio.connection import DefaultParser

    assert DefaultParser is _AsyncHiredisParser


async def test_burst_is_enforced(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("client:a", "5/minute") for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert all(d.limit == 5 for d in decisions)
    refused = decisions[5]
    assert refused.remaining == 0
    # one request comes back every 12 s; the refused caller is told how long to wait
    assert 11.0 < refused.retry_after <= 12.0
    assert decisions[0].retry_after == 0.0


async def test_keys_and_rates_are_independent(limiter: RateLimiter) -> None:
    for _ in range(2):
        assert (await limiter.hit("client:a", "2/minute")).allowed
    assert not (await limiter.hit("client:a", "2/minute")).allowed
    assert (await limiter.hit("client:b", "2/minute")).allowed
    assert (await limiter.hit("officer:a", "2/minute")).allowed
    # the same key under a different rate is a different bucket
    assert (await limiter.hit("client:a", "10/minute")).allowed


async def test_window_slides(limiter: RateLimiter) -> None:
    # one request back every 0.5 s: margins wide enough for a busy machine
    rate = "4/2 seconds"
    assert all([(await limiter.hit("k", rate)).allowed for _ in range(4)])
    refused = await limiter.hit("k", rate)
    assert not refused.allowed
    assert 0.0 < refused.retry_after <= 0.5
    await asyncio.sleep(0.6)
    # 0.6 s later exactly one request has come back, not the whole burst
    assert (await limiter.hit("k", rate)).allowed
    assert not (await limiter.hit("k", rate)).allowed
    await asyncio.sleep(2.05)
    # after a full period the whole burst is back
    back = [await limiter.hit("k", rate) for _ in range(5)]
    assert [d.allowed for d in back] == [True] * 4 + [False]


async def test_hit_all_is_all_or_nothing(limiter: RateLimiter) -> None:
    checks = [("client:a", "5/minute"), ("officer:a:o1", "2/minute")]
    for expected_remaining in ([4, 1], [3, 0]):
        decisions = await limiter.hit_all(checks)
        assert [d.allowed for d in decisions] == [True, True]
        assert [d.remaining for d in decisions] == expected_remaining
    refused = await limiter.hit_all(checks)
    assert [d.allowed for d in refused] == [True, False]
    assert refused[1].retry_after > 0
    # the officer's refusal did not spend the client's budget: 5 - 2 used, this is the 3rd
    alone = await limiter.hit("client:a", "5/minute")
    assert alone.allowed and alone.remaining == 2
    # another officer of the same client goes through
    other = await limiter.hit_all([("client:a", "5/minute"), ("officer:a:o2", "2/minute")])
    assert [d.allowed for d in other] == [True, True]
    assert other[0].remaining == 1
    assert await limiter.hit_all([]) == []


async def test_a_request_of_cost_n_spends_n_on_every_key_or_nothing(
    limiter: RateLimiter,
) -> None:
    """A batch of N residents costs N reads (both back ends agree)."""
    checks = [("client:b", "10/minute"), ("officer:b:o1", "6/minute")]
    first = await limiter.hit_all(checks, cost=4)
    assert [d.allowed for d in first] == [True, True]
    assert [d.remaining for d in first] == [6, 2]
    over = await limiter.hit_all(checks, cost=3)  # the officer has 2 left
    assert [d.allowed for d in over] == [True, False] and over[1].retry_after > 0
    # nothing was spent by the refusal: the officer's last two go through one by one
    assert [d.allowed for d in await limiter.hit_all(checks, cost=2)] == [True, True]
    assert (await limiter.hit("client:b", "10/minute")).remaining == 3
    never = await limiter.hit_all([("client:c", "5/minute")], cost=6)
    assert not never[0].allowed and never[0].limit == 5
    with pytest.raises(ValueError):
        await limiter.hit_all(checks, cost=0)


async def test_ping(limiter: RateLimiter) -> None:
    assert await limiter.ping() is True


# --- in process ------------------------------------------------------------------------


async def test_in_process_sweep_forgets_idle_keys() -> None:
    now = [1000.0]
    limiter = InProcessRateLimiter(clock=lambda: now[0], sweep_every=3)
    await limiter.hit("a", "1/second")
    await limiter.hit("b", "1/second")
    now[0] += 5.0
    await limiter.hit("c", "1/second")  # third hit: sweep; a and b are idle
    assert (await limiter.hit("a", "1/second")).allowed
    assert len(limiter._tat) == 2  # c and a only


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


RATES = st.sampled_from(["1/second", "3/second", "5/minute", "10/second", "7/minute", "100/hour"])


@settings(max_examples=150, deadline=None)
@given(rate=RATES, gaps=st.lists(st.integers(min_value=0, max_value=5_000), max_size=80))
async def test_never_more_than_burst_plus_sustained_rate(rate: str, gaps: list[int]) -> None:
    """In any span, allowed requests <= limit + span / emission interval (the GCRA bound)."""
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    parsed = parse_rate(rate)
    allowed_at = []
    for gap in gaps:
        clock.now += gap / 1000
        if (await limiter.hit("k", rate)).allowed:
            allowed_at.append(clock.now)
    for i, start in enumerate(allowed_at):
        for j in range(i, len(allowed_at)):
            count = j - i + 1
            span = allowed_at[j] - start
            assert count <= parsed.limit + span / parsed.emission_interval + 1e-6


@settings(max_examples=100, deadline=None)
@given(rate=RATES, start=st.floats(min_value=0, max_value=1e6))
async def test_retry_after_and_remaining_are_truthful(rate: str, start: float) -> None:
    clock = FakeClock()
    clock.now += start
    limiter = InProcessRateLimiter(clock=clock)
    first = await limiter.hit("k", rate)
    assert first.allowed
    # exactly `remaining` more requests fit right now
    for _ in range(first.remaining):
        assert (await limiter.hit("k", rate)).allowed
    refused = await limiter.hit("k", rate)
    assert not refused.allowed
    # waiting less than retry_after is not enough; waiting retry_after is
    before = clock.now
    clock.now = before + refused.retry_after - 2e-6
    assert not (await limiter.hit("k", rate)).allowed
    clock.now = before + refused.retry_after
    assert (await limiter.hit("k", rate)).allowed


@settings(max_examples=50, deadline=None)
@given(rate=RATES, count=st.integers(min_value=1, max_value=200))
async def test_traffic_at_the_sustained_rate_is_never_refused(rate: str, count: int) -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    interval = parse_rate(rate).emission_interval
    for _ in range(count):
        assert (await limiter.hit("k", rate)).allowed
        clock.now += interval


# --- Redis: shared, fail closed, recovers ----------------------------------------------


@pytest.mark.redis
async def test_limit_is_shared_by_two_workers(redis_url: str, redis_prefix: str) -> None:
    """Two limiters with their own connection pools, as two worker processes have."""
    first = build_rate_limiter(redis_url, prefix=redis_prefix)
    second = build_rate_limiter(redis_url, prefix=redis_prefix)
    try:
        hits = [(first if i % 2 else second).hit("client:shared", "20/minute") for i in range(60)]
        decisions = await asyncio.gather(*hits)
        assert sum(d.allowed for d in decisions) == 20
        # every remaining count was handed out once: the script ran atomically
        remaining = sorted(d.remaining for d in decisions if d.allowed)
        assert remaining == list(range(20))
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.redis
async def test_hit_all_is_atomic_across_workers(redis_url: str, redis_prefix: str) -> None:
    first = build_rate_limiter(redis_url, prefix=redis_prefix)
    second = build_rate_limiter(redis_url, prefix=redis_prefix)
    checks = [("client:c", "20/minute"), ("officer:c:o", "10/minute")]
    try:
        results = await asyncio.gather(
            *((first if i % 2 else second).hit_all(checks) for i in range(40))
        )
        passed = [r for r in results if all(d.allowed for d in r)]
        assert len(passed) == 10
        # only the ten that passed were counted against the client
        assert (await first.hit("client:c", "20/minute")).remaining == 20 - 10 - 1
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.redis
async def test_keys_live_under_the_prefix_and_expire(redis_url: str, redis_prefix: str) -> None:
    limiter = build_rate_limiter(redis_url, prefix=redis_prefix)
    assert isinstance(limiter, RedisRateLimiter)
    try:
        await limiter.hit("client:x", "10/second")
        client = limiter._client
        keys = [k.decode() async for k in client.scan_iter(match=f"{redis_prefix}*")]
        assert len(keys) == 1
        assert keys[0].startswith(f"{redis_prefix}client:x")
        ttl_ms = await client.pttl(keys[0])
        assert 0 < ttl_ms <= 100  # state lives no longer than it carries information
    finally:
        await limiter.aclose()


async def test_unreachable_redis_fails_closed_quickly() -> None:
    limiter = build_rate_limiter(f"redis://127.0.0.1:{free_port()}/0")
    try:
        started = time.monotonic()
        with pytest.raises(RateLimiterUnavailable):
            await limiter.hit("client:a", "10/second")
        assert time.monotonic() - started < 2.0
        assert await limiter.ping() is False
    finally:
        await limiter.aclose()


async def test_hung_redis_times_out_and_fails_closed(silent_server: int) -> None:
    limiter = build_rate_limiter(f"redis://127.0.0.1:{silent_server}/0", timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(RateLimiterUnavailable):
            await limiter.hit("client:a", "10/second")
        assert time.monotonic() - started < 2.0
    finally:
        await limiter.aclose()


async def test_recovers_when_redis_comes_back(temporary_redis: TemporaryRedis) -> None:
    limiter = build_rate_limiter(temporary_redis.url, prefix="rl:")
    try:
        assert (await limiter.hit("client:a", "3/minute")).allowed
        temporary_redis.stop()
        with pytest.raises(RateLimiterUnavailable):
            await limiter.hit("client:a", "3/minute")
        assert await limiter.ping() is False
        temporary_redis.start()
        # the same limiter object works again, without being rebuilt
        decision = await limiter.hit("client:a", "3/minute")
        assert decision.allowed
        assert decision.remaining == 2  # a fresh server: state started over
        assert await limiter.ping() is True
    finally:
        await limiter.aclose()


# --- Redis: concurrent checks share one script run -------------------------------------


class CountingRedis(Redis):
    """A real client that records the name of every command it sends (one round trip each)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    @classmethod
    def connect(cls, url: str, **options: Any) -> CountingRedis:
        client = cls.from_url(url, **options)
        assert isinstance(client, cls)
        return client

    @classmethod
    def unreachable(cls) -> CountingRedis:
        """A client of a port nothing listens on, with short timeouts."""
        return cls.connect(
            f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5, socket_timeout=0.5
        )

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


@pytest.fixture
async def counted(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisRateLimiter]:
    limiter = RedisRateLimiter(CountingRedis.connect(redis_url), prefix=redis_prefix)
    try:
        await limiter.hit("warm-up", "1/second")  # loads the script: later runs are one EVALSHA
        yield limiter
    finally:
        await limiter.aclose()


def sent(limiter: RedisRateLimiter) -> list[str]:
    client = limiter._client
    assert isinstance(client, CountingRedis)
    return client.sent


@pytest.mark.redis
async def test_concurrent_hits_on_one_bucket_act_as_sequential_ones(
    counted: RedisRateLimiter, redis_prefix: str
) -> None:
    """16 requests in flight for one bucket of 5: one script run, exactly 5 allowed, and
    the decisions and state of 16 calls made one after the other at one instant."""
    rate = "5/hour"
    sent(counted).clear()
    decisions = await asyncio.gather(*(counted.hit("client:same", rate) for _ in range(16)))
    assert sent(counted) == ["EVALSHA"]
    sequential = InProcessRateLimiter(clock=FakeClock())
    expected = [await sequential.hit("client:same", rate) for _ in range(16)]
    assert decisions == expected
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 11
    # the bucket holds the TAT of five requests: a full hour of credit spent
    client = counted._client
    bucket = f"{redis_prefix}client:same@{parse_rate(rate)}"
    stored = await client.get(bucket)
    assert stored is not None
    tat = int(stored)
    seconds, micros = await client.time()
    spent_us = tat - (seconds * 1_000_000 + micros)
    assert 3_590_000_000 < spent_us <= 3_600_000_000
    ttl_ms = await client.pttl(bucket)
    assert 3_590_000 < ttl_ms <= 3_600_000


@pytest.mark.redis
async def test_groups_in_one_run_are_all_or_nothing_in_order(counted: RedisRateLimiter) -> None:
    """Concurrent requests of one client through two officers: a request refused for its
    officer spends none of the client's budget, and later requests see the earlier ones."""
    client_rate, officer_rate = "10/hour", "2/hour"
    groups = [
        [("client:a", client_rate), (f"officer:a:{officer}", officer_rate)]
        for officer in ("o1", "o1", "o1", "o2", "o1", "o2", "o2")
    ]
    sent(counted).clear()
    results = await asyncio.gather(*(counted.hit_all(group) for group in groups))
    assert sent(counted) == ["EVALSHA"]
    sequential = InProcessRateLimiter(clock=FakeClock())
    expected = [await sequential.hit_all(group) for group in groups]
    assert results == expected
    passed = [all(d.allowed for d in result) for result in results]
    assert passed == [True, True, False, True, False, True, False]
    # the refused groups were allowed by the client key and still spent nothing of it
    assert [result[0].allowed for result in results] == [True] * 7
    assert (await counted.hit("client:a", client_rate)).remaining == 10 - 4 - 1
    assert (await sequential.hit("client:a", client_rate)).remaining == 10 - 4 - 1


@pytest.mark.redis
async def test_runs_follow_one_another_and_keep_the_limit(counted: RedisRateLimiter) -> None:
    """Waves of requests, some arriving while a run is in flight: never more than the limit."""
    rate = "20/hour"
    sent(counted).clear()
    waves = [asyncio.gather(*(counted.hit("client:waves", rate) for _ in range(15)))]
    await asyncio.sleep(0)  # the first run is on its way; the next wave queues behind it
    waves.append(asyncio.gather(*(counted.hit("client:waves", rate) for _ in range(15))))
    decisions = [d for wave in await asyncio.gather(*waves) for d in wave]
    assert sum(d.allowed for d in decisions) == 20
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(20))
    assert 1 <= sent(counted).count("EVALSHA") <= 2


async def test_every_concurrent_caller_fails_closed_when_redis_is_unreachable() -> None:
    client = CountingRedis.unreachable()
    limiter = RedisRateLimiter(client)
    try:
        outcomes = await asyncio.gather(
            *(
                limiter.hit_all([("client:a", "10/second"), (f"officer:{i}", "5/second")])
                for i in range(8)
            ),
            return_exceptions=True,
        )
        assert all(isinstance(outcome, RateLimiterUnavailable) for outcome in outcomes)
        assert client.sent == ["EVALSHA"]  # one attempt for all of them
    finally:
        await limiter.aclose()


async def test_concurrent_callers_recover_together(temporary_redis: TemporaryRedis) -> None:
    limiter = build_rate_limiter(temporary_redis.url, prefix="rl:")
    try:
        assert (await limiter.hit("client:a", "3/minute")).allowed
        temporary_redis.stop()
        outcomes = await asyncio.gather(
            *(limiter.hit("client:a", "3/minute") for _ in range(6)), return_exceptions=True
        )
        assert all(isinstance(outcome, RateLimiterUnavailable) for outcome in outcomes)
        temporary_redis.start()
        decisions = await asyncio.gather(*(limiter.hit("client:a", "3/minute") for _ in range(6)))
        assert [d.allowed for d in decisions] == [True] * 3 + [False] * 3
    finally:
        await limiter.aclose()
