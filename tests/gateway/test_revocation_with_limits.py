"""With Redis, a resident call checks its token's revocation in its rate-limit round trip.

Promise: one Redis round trip per lookup does both; a revoked token is refused (401) in
that round trip, spending no rate budget and recording nothing; a call refused before the
limits (bad headers, bad NIK, missing scope) still hears 401 first when its token is
revoked. A private redis-server (``tests.faults.procs``) keeps the revocations written
here off the shared server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis import Redis

from gateway.settings import Settings
from tests.faults.procs import RedisServer
from tests.gateway.conftest import Gateway, gateway_settings, running_gateway, sample_in
from tests.gateway.test_residents_api import assert_problem

__all__ = ["gateway_settings"]  # the fixture, imported for use here

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


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


@pytest.fixture
async def with_redis(
    gateway_settings: Settings, private_redis: RedisServer
) -> AsyncIterator[Gateway]:
    settings = gateway_settings.model_copy(update={"redis_url": private_redis.url})
    async with running_gateway(settings) as gw:
        yield gw


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


async def test_a_lookup_checks_revocation_and_limits_in_one_round_trip(
    with_redis: Gateway, private_redis: RedisServer
) -> None:
    gw = with_redis
    nik, h = await _served_once(gw)
    before = _calls(private_redis.url)
    r = await gw.client.get(f"/v1/residents/{nik}", headers=h)
    assert r.status_code == 200, r.text
    more = _more(before, _calls(private_redis.url))
    # One script run (its GET, SET and EXISTS calls run inside it); no separate MGET.
    assert more.pop("evalsha") == 1
    assert "mget" not in more
    assert more.get("exists") == 2  # the token's key and its client's key, in the script
    assert {k for k in more if k not in ("get", "set", "exists", "time")} == set(), more


async def test_a_revoked_token_is_refused_in_that_round_trip_and_spends_nothing(
    with_redis: Gateway, private_redis: RedisServer
) -> None:
    gw = with_redis
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
    assert more.get("evalsha") == 1 and "mget" not in more
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
