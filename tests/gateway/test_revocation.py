"""Revoked tokens and clients: in process and in the real Redis, fail-closed, self-healing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gateway.identity.revocation import (
    InProcessRevocationStore,
    RedisRevocationStore,
    RevocationStore,
    StoreUnavailable,
    build_revocation_store,
)
from tests.gateway.test_ratelimit import CountingRedis, TemporaryRedis, free_port, temporary_redis

__all__ = ["temporary_redis"]  # the fixture, imported for use here


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RevocationStore]:
    if request.param == "memory":
        built = build_revocation_store(None)
        assert isinstance(built, InProcessRevocationStore)
    else:
        built = build_revocation_store(
            request.getfixturevalue("redis_url"), prefix=request.getfixturevalue("redis_prefix")
        )
        assert isinstance(built, RedisRevocationStore)
    try:
        yield built
    finally:
        await built.aclose()


def in_minutes(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


async def test_revoked_token_is_refused_and_others_are_not(store: RevocationStore) -> None:
    assert not await store.is_revoked("jti-1")
    await store.revoke_token("jti-1", in_minutes(15))
    assert await store.is_revoked("jti-1")
    assert not await store.is_revoked("jti-2")


async def test_expiry_as_epoch_seconds(store: RevocationStore) -> None:
    await store.revoke_token("jti-epoch", int(time.time()) + 600)
    assert await store.is_revoked("jti-epoch")


async def test_already_expired_token_is_not_stored(store: RevocationStore) -> None:
    await store.revoke_token("jti-old", in_minutes(-1))
    assert not await store.is_revoked("jti-old")


async def test_naive_expiry_is_refused(store: RevocationStore) -> None:
    with pytest.raises(ValueError, match="timezone"):
        await store.revoke_token("jti-naive", datetime(2030, 1, 1))


async def test_revoked_client_blocks_all_its_tokens(store: RevocationStore) -> None:
    assert not await store.is_revoked("jti-a", client_id="client-1")
    await store.revoke_client("client-1")
    assert await store.is_client_revoked("client-1")
    assert await store.is_revoked("jti-a", client_id="client-1")
    assert await store.is_revoked("jti-b", client_id="client-1")
    assert not await store.is_revoked("jti-a", client_id="client-2")
    assert not await store.is_client_revoked("client-2")
    # without the client id only the jti is checked
    assert not await store.is_revoked("jti-a")


async def test_client_revocation_until(store: RevocationStore) -> None:
    await store.revoke_client("client-until", until=in_minutes(10))
    assert await store.is_client_revoked("client-until")


async def test_in_process_entries_expire_with_the_token() -> None:
    now = [1_000_000.0]
    store = InProcessRevocationStore(clock=lambda: now[0])
    await store.revoke_token("jti-1", now[0] + 60)
    await store.revoke_client("client-1", until=now[0] + 30)
    assert await store.is_revoked("jti-1")
    assert await store.is_client_revoked("client-1")
    now[0] += 31
    assert not await store.is_client_revoked("client-1")
    assert await store.is_revoked("jti-1")
    now[0] += 30
    assert not await store.is_revoked("jti-1")
    await store.revoke_token("jti-2", now[0] + 60)  # sweeps the dead jti-1
    assert set(store._tokens) == {"jti-2"}


@pytest.mark.redis
async def test_redis_entry_lives_as_long_as_the_token(redis_url: str, redis_prefix: str) -> None:
    store = build_revocation_store(redis_url, prefix=redis_prefix)
    assert isinstance(store, RedisRevocationStore)
    try:
        await store.revoke_token("jti-ttl", in_minutes(5))
        ttl = await store._client.ttl(f"{redis_prefix}jti:jti-ttl")
        assert 290 <= ttl <= 301
        await store.revoke_client("client-forever")
        assert await store._client.ttl(f"{redis_prefix}client:client-forever") == -1
    finally:
        await store.aclose()


@pytest.mark.redis
async def test_revocation_is_seen_by_another_worker(redis_url: str, redis_prefix: str) -> None:
    first = build_revocation_store(redis_url, prefix=redis_prefix)
    second = build_revocation_store(redis_url, prefix=redis_prefix)
    try:
        await first.revoke_token("jti-shared", in_minutes(5))
        await first.revoke_client("client-shared")
        assert await second.is_revoked("jti-shared")
        assert await second.is_client_revoked("client-shared")
    finally:
        await first.aclose()
        await second.aclose()


async def test_unreachable_redis_fails_closed() -> None:
    store = build_revocation_store(f"redis://127.0.0.1:{free_port()}/0")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.is_revoked("jti-1", client_id="client-1")
        with pytest.raises(StoreUnavailable):
            await store.revoke_token("jti-1", in_minutes(5))
        with pytest.raises(StoreUnavailable):
            await store.revoke_client("client-1")
        with pytest.raises(StoreUnavailable):
            await store.is_client_revoked("client-1")
        assert time.monotonic() - started < 2.0
        assert await store.ping() is False
    finally:
        await store.aclose()


async def test_recovers_when_redis_comes_back(temporary_redis: TemporaryRedis) -> None:
    store = build_revocation_store(temporary_redis.url)
    try:
        await store.revoke_token("jti-1", in_minutes(5))
        temporary_redis.stop()
        with pytest.raises(StoreUnavailable):
            await store.is_revoked("jti-1")
        temporary_redis.start()
        # a fresh server without persistence has forgotten; the point is that it answers
        assert await store.is_revoked("jti-1") is False
        await store.revoke_token("jti-1", in_minutes(5))
        assert await store.is_revoked("jti-1") is True
    finally:
        await store.aclose()


# --- Redis: concurrent checks share one round trip -------------------------------------


async def revoke_some(store: RevocationStore) -> None:
    await store.revoke_token("jti-revoked", in_minutes(5))
    await store.revoke_client("client-revoked")


CHECKS: list[tuple[str, str | None]] = [
    ("jti-revoked", None),
    ("jti-fine", None),
    ("jti-fine", "client-revoked"),
    ("jti-other", "client-fine"),
    ("jti-revoked", "client-fine"),
    ("jti-third", "client-revoked"),
    ("jti-fine", None),
    ("jti-fine", "client-fine"),
]


@pytest.mark.redis
async def test_concurrent_checks_share_one_round_trip(redis_url: str, redis_prefix: str) -> None:
    client = CountingRedis.connect(redis_url)
    store = RedisRevocationStore(client, prefix=redis_prefix)
    reference = InProcessRevocationStore()
    try:
        await revoke_some(store)
        await revoke_some(reference)
        client.sent.clear()
        answers = await asyncio.gather(
            *(store.is_revoked(jti, client_id=client_id) for jti, client_id in CHECKS)
        )
        assert client.sent == ["MGET"]
        expected = [await reference.is_revoked(jti, client_id=cid) for jti, cid in CHECKS]
        assert answers == expected
        assert answers == [True, False, True, False, True, True, False, False]
    finally:
        await store.aclose()


async def test_every_concurrent_check_fails_closed_when_redis_is_unreachable() -> None:
    client = CountingRedis.unreachable()
    store = RedisRevocationStore(client)
    try:
        outcomes = await asyncio.gather(
            *(store.is_revoked(jti, client_id=client_id) for jti, client_id in CHECKS),
            return_exceptions=True,
        )
        assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes)
        assert client.sent == ["MGET"]  # one attempt for all of them
    finally:
        await store.aclose()
