"""With Redis: the identity dependency settles a resident call's token revocation, in the
process's mirror, or, when the mirror cannot vouch for itself, in one Redis round trip of
its own; the rate limiter knows nothing of revocation.

Promises. With the mirror in sync, a lookup asks Redis nothing about its token, and a busy
client is counted a lease at a time; a token revoked by another replica is refused here
(401) once the message arrives, recording nothing. Without it, the token's keys are read
in one MGET before the call goes on, and the limiter's script checks no revocation key; a
revoked token is refused (401) there, before the limits, spending no rate budget and
recording nothing. Either way, a call refused before the limits (bad headers, bad NIK,
missing scope) still hears 401 first when its token is revoked. A private redis-server
(``tests.faults.procs``) keeps the revocations written here off the shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis import Redis

from gateway.identity.revocation import RedisRevocationStore
from gateway.limits.ratelimit import RedisRateLimiter, connect_redis
from gateway.platform.settings import Settings
from tests.faults.procs import RedisServer
from tests.gateway.conftest import Gateway, gateway_settings, running_gateway, sample_in
from tests.gateway.test_residents_api import assert_problem

__all__ = ["gateway_settings"]  # the fixture, imported for use here

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


def _in_sync_mirror(gw: Gateway) -> bool:
    """Whether the gateway's revocation mirror (the Redis store's) vouches for itself."""
    store = gw.services.revocation
    assert isinstance(store, RedisRevocationStore)
    return store.mirror_in_sync


def _redis_limiter(gw: Gateway) -> RedisRateLimiter:
    limiter = gw.services.limiter
    assert isinstance(limiter, RedisRateLimiter)
    return limiter


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def _in_sync(
    settings: Settings, redis: RedisServer, **update: object
) -> AsyncIterator[Gateway]:
    """The gateway on the private Redis, its revocation mirror in sync."""
    update = {"redis_url": redis.url, "rate_lease_seconds": LEASE, **update}
    async with running_gateway(settings.model_copy(update=update)) as gw:
        await _until(lambda: _in_sync_mirror(gw))
        yield gw


@pytest.fixture
async def in_sync(gateway_settings: Settings, private_redis: RedisServer) -> AsyncIterator[Gateway]:
    async with _in_sync(gateway_settings, private_redis) as gw:
        yield gw


@pytest.fixture
async def with_redis(in_sync: Gateway, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    """The gateway whose mirror cannot vouch for itself (lost, or still loading): every
    token is checked in Redis."""
    monkeypatch.setattr(in_sync.services.revocation, "known_verdict", lambda *_, **__: None)
    return in_sync


LEASE = 0.05


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.01)


def _calls(redis_url: str) -> dict[str, int]:
    """How many times each command has run on the server (``INFO commandstats``), less
    the commands of this counting itself."""
    with Redis.from_url(redis_url) as r:
        stats = r.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    return {name: n for name, n in calls.items() if name not in ("hello", "info")}


def _more(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


async def _revoke_token(gw: Gateway, headers: dict[str, str]) -> None:
    principal = gw.services.verifier.verify(headers["Authorization"].removeprefix("Bearer "))
    await gw.services.revocation.revoke_token(
        principal.jti, datetime.now(UTC) + timedelta(minutes=10)
    )


async def _served_once(gw: Gateway) -> tuple[str, dict[str, str]]:
    """A resident's NIK and a fresh token's headers, after one lookup that answered 200
    (the script loaded, the buckets made)."""
    nik = sample_in(gw.demo, "35.78")[0]["nik"]
    h = await gw.headers("demo-dinsos")
    assert (await gw.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200
    return nik, h


async def test_a_lookup_checks_revocation_in_one_round_trip_and_limits_in_another(
    with_redis: Gateway, private_redis: RedisServer
) -> None:
    gw = with_redis
    nik, h = await _served_once(gw)
    before = _calls(private_redis.url)
    r = await gw.client.get(f"/v1/residents/{nik}", headers=h)
    assert r.status_code == 200, r.text
    more = _more(before, _calls(private_redis.url))
    # The token's key, its client's key and the key of the client's secret generation
    # (revoked when the secret is rotated), read in one MGET by the identity dependency.
    assert more.pop("mget") == 1
    # One script run (its GET and SET calls run inside it), which checks no revocation key.
    assert more.pop("evalsha") == 1
    assert "exists" not in more
    assert {k for k in more if k not in ("get", "set", "time")} == set(), more


async def test_a_revoked_token_is_refused_before_the_limits_and_spends_nothing(
    gateway_settings: Settings, private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slow rates: a bucket's key then lives for seconds, not a tenth of one, so that a
    # loaded machine still finds both buckets when it looks.
    async with _in_sync(gateway_settings, private_redis, rate_scale=0.05) as gw:
        monkeypatch.setattr(gw.services.revocation, "known_verdict", lambda *_, **__: None)
        nik, h = await _served_once(gw)
        with Redis.from_url(private_redis.url) as r:
            buckets = sorted(r.keys("satugate:rl:*:resident.read@*"))
            tats = r.mget(buckets)
        assert len(buckets) == 2  # the client's and the officer's
        events = await gw.services.audit.size()

        await _revoke_token(gw, h)
        before = _calls(private_redis.url)
        refused = await gw.client.get(f"/v1/residents/{nik}", headers=h)
        assert_problem(refused, 401, "invalid_token")
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        more = _more(before, _calls(private_redis.url))
        assert more.get("mget") == 1 and "evalsha" not in more
        with Redis.from_url(private_redis.url) as r:
            assert r.mget(buckets) == tats, "a revoked token spends no rate budget"
        assert await gw.services.audit.size() == events, "nothing is recorded for it"

        # Another token of the same client is not affected.
        other = await gw.headers("demo-dinsos")
        assert (await gw.client.get(f"/v1/residents/{nik}", headers=other)).status_code == 200


@pytest.mark.parametrize(
    ("path", "drop", "token_scope"),
    [
        ("/v1/residents/{nik}", "X-Purpose", None),  # refused before the limits: 400
        ("/v1/residents/12345", None, None),  # a malformed NIK: 422
        ("/v1/residents/{nik}", None, "residents:search"),  # without residents:read: 403
    ],
)
async def test_a_revoked_token_hears_401_before_any_other_refusal(
    with_redis: Gateway, path: str, drop: str | None, token_scope: str | None
) -> None:
    gw = with_redis
    nik = sample_in(gw.demo, "35.78")[0]["nik"]
    h = await gw.headers("demo-dinsos")
    if token_scope is not None:
        h["Authorization"] = f"Bearer {await _narrow_token(gw, token_scope)}"
    if drop is not None:
        del h[drop]
    url = path.format(nik=nik)
    unrevoked = await gw.client.get(url, headers=h)
    assert unrevoked.status_code in (400, 403, 422), unrevoked.text
    events = await gw.services.audit.size()

    await _revoke_token(gw, h)
    assert_problem(await gw.client.get(url, headers=h), 401, "invalid_token")
    assert await gw.services.audit.size() == events


async def _narrow_token(gw: Gateway, scope: str) -> str:
    """A token of demo-dinsos with only ``scope``."""
    cid, secret = gw.creds("demo-dinsos")
    r = await gw.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=httpx.BasicAuth(cid, secret),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def test_with_the_mirror_in_sync_a_lookup_asks_redis_nothing_of_its_token(
    in_sync: Gateway, private_redis: RedisServer
) -> None:
    gw = in_sync
    nik, h = await _served_once(gw)
    before = _calls(private_redis.url)
    assert (await gw.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200
    more = _more(before, _calls(private_redis.url))
    assert "exists" not in more and "mget" not in more, more
    assert set(more) <= {"evalsha", "get", "set", "time", "ping"}, more


async def test_a_busy_client_is_counted_a_lease_at_a_time(
    gateway_settings: Settings, private_redis: RedisServer
) -> None:
    async with _in_sync(gateway_settings, private_redis, rate_scale=10) as gw:
        await _busy(gw, private_redis)


async def _busy(gw: Gateway, private_redis: RedisServer) -> None:
    nik, h = await _served_once(gw)
    before = _calls(private_redis.url)
    lookups = 0
    started = time.monotonic()
    # Four windows, within the officer's burst of 600.
    while lookups < 500 and (time.monotonic() - started < 4 * LEASE or lookups < 30):
        assert (await gw.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200
        lookups += 1
    runs = _more(before, _calls(private_redis.url)).get("evalsha", 0)
    # Request by request only in the first window; leases sized to the traffic after it.
    assert 0 < runs <= lookups // 2, (runs, lookups)
    assert _redis_limiter(gw).stats["leased"] >= lookups - runs


async def test_a_token_revoked_by_another_replica_is_refused_here(
    in_sync: Gateway, private_redis: RedisServer
) -> None:
    gw = in_sync
    nik, h = await _served_once(gw)
    for _ in range(20):  # a busy client: the lookups below run on a lease
        assert (await gw.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200
    await asyncio.sleep(LEASE)
    assert (await gw.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200
    leased = _redis_limiter(gw).stats["leased"]

    principal = gw.services.verifier.verify(h["Authorization"].removeprefix("Bearer "))
    replica = RedisRevocationStore(connect_redis(private_redis.url))
    try:
        await replica.revoke_token(principal.jti, datetime.now(UTC) + timedelta(minutes=10))
    finally:
        await replica.aclose()
    await _until(lambda: gw.services.revocation.known_verdict(principal.jti) is True)
    events = await gw.services.audit.size()
    before = _calls(private_redis.url)
    refused = await gw.client.get(f"/v1/residents/{nik}", headers=h)
    assert_problem(refused, 401, "invalid_token")
    asked = set(_more(before, _calls(private_redis.url))) - {"ping"}  # the mirror's health
    assert asked == set(), "refused without asking Redis"
    assert await gw.services.audit.size() == events
    assert _redis_limiter(gw).stats["leased"] == leased, "no lease spent on it"
    other = await gw.headers("demo-dinsos")
    assert (await gw.client.get(f"/v1/residents/{nik}", headers=other)).status_code == 200


async def test_a_token_revoked_during_a_lookup_gets_no_data(
    in_sync: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mirror is asked again before the event is recorded: a revocation that arrives
    while the source is read stops the answer."""
    gw = in_sync
    nik, h = await _served_once(gw)
    principal = gw.services.verifier.verify(h["Authorization"].removeprefix("Bearer "))
    federation = gw.services.federation
    fetch = federation.fetch

    async def revoked_meanwhile(*args: object, **kwargs: object) -> object:
        await gw.services.revocation.revoke_token(
            principal.jti, datetime.now(UTC) + timedelta(minutes=10)
        )
        return await fetch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(federation, "fetch", revoked_meanwhile)
    events = await gw.services.audit.size()
    assert_problem(await gw.client.get(f"/v1/residents/{nik}", headers=h), 401, "invalid_token")
    assert await gw.services.audit.size() == events
