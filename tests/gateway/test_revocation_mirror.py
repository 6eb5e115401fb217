"""The revocation mirror: filled by SCAN, kept current by pub/sub, and silent (``None``)
whenever it cannot vouch that it is current.

Against the real Redis. Network failures go through a local TCP relay that a test can cut
or freeze; everything else is the real server and the real client.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.identity.revocation import InProcessRevocationStore, RedisRevocationStore
from gateway.limits.ratelimit import connect_redis

pytestmark = pytest.mark.redis

MakeStore = Callable[..., RedisRevocationStore]


def in_minutes(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


async def eventually(condition: Callable[[], bool], *, within: float = 2.0) -> None:
    """Wait until ``condition()`` holds; fail when it has not within ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within} s", pytrace=True)
        await asyncio.sleep(0.01)


async def in_sync(store: RedisRevocationStore, *, within: float = 2.0) -> None:
    await eventually(lambda: store.mirror_in_sync, within=within)


class Relay:
    """A TCP relay to Redis. ``cut`` drops every connection and refuses new ones until
    ``restore``; ``freeze`` holds every byte (connections stay open), of one connection
    (numbered in the order they were made) or of all, new ones included, until ``thaw``."""

    def __init__(self, target_url: str) -> None:
        host_port = target_url.removeprefix("redis://").split("/")[0]
        host, port = host_port.rsplit(":", 1)
        self._target = (host, int(port))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flows: list[asyncio.Event] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refusing = False
        self._frozen = False
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"redis://127.0.0.1:{port}/0"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self._refusing:
                return
            flow = asyncio.Event()
            if not self._frozen:
                flow.set()
            self._flows.append(flow)
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
            self._writers.update((writer, upstream_writer))
            await asyncio.gather(
                self._pump(reader, upstream_writer, flow), self._pump(upstream_reader, writer, flow)
            )
        finally:
            writer.transport.abort()
            self._tasks.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flow: asyncio.Event
    ) -> None:
        try:
            while data := await reader.read(65536):
                await flow.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    def cut(self) -> None:
        self._refusing = True
        for writer in list(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        self._refusing = False

    def freeze(self, connection: int | None = None) -> None:
        if connection is not None:
            self._flows[connection].clear()
            return
        self._frozen = True
        for flow in self._flows:
            flow.clear()

    def thaw(self) -> None:
        self._frozen = False
        for flow in self._flows:
            flow.set()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        self.thaw()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def admin(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    """A plain client for the test's own commands; removes the test's keys afterwards."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def make_store(redis_url: str, redis_prefix: str) -> AsyncIterator[MakeStore]:
    """Stores on the test's prefix as the gateway builds them (``connect_redis``); each a
    replica of its own. All are closed afterwards."""
    made: list[RedisRevocationStore] = []

    def make(url: str = redis_url, **options: Any) -> RedisRevocationStore:
        store = RedisRevocationStore(connect_redis(url), prefix=redis_prefix, **options)
        made.append(store)
        return store

    try:
        yield make
    finally:
        for store in made:
            await store.aclose()


@pytest.fixture
async def relay(redis_url: str) -> AsyncIterator[Relay]:
    built = Relay(redis_url)
    await built.start()
    try:
        yield built
    finally:
        await built.aclose()


async def pubsub_clients(admin: Redis, name: str) -> list[dict[str, str]]:
    return [c for c in await admin.client_list(_type="pubsub") if c.get("name") == name]


# --- in process -------------------------------------------------------------------------


async def test_in_process_verdict_agrees_with_is_revoked() -> None:
    now = [1_000_000.0]
    store = InProcessRevocationStore(clock=lambda: now[0])
    await store.start()
    await store.revoke_token("jti-1", now[0] + 60)
    await store.revoke_client("client-until", until=now[0] + 30)
    await store.revoke_client("client-forever")
    checks = [
        (jti, client_id)
        for jti in ("jti-1", "jti-2")
        for client_id in (None, "client-until", "client-forever", "client-fine")
    ]
    seen = set()
    for _ in range(3):
        for jti, client_id in checks:
            verdict = store.known_verdict(jti, client_id=client_id)
            assert verdict is await store.is_revoked(jti, client_id=client_id)
            seen.add(verdict)
        now[0] += 31
    assert seen == {True, False}
    assert store.known_verdict("jti-2", client_id="client-forever") is True
    assert store.known_verdict("jti-1", client_id="client-until") is False


# --- Redis: the mirror ------------------------------------------------------------------


@pytest.mark.redis
async def test_a_store_not_started_cannot_vouch(make_store: MakeStore) -> None:
    store = make_store()
    await store.revoke_token("jti-1", in_minutes(5))
    assert store.known_verdict("jti-1") is None
    assert store.known_verdict("jti-2", client_id="client-1") is None
    assert not store.mirror_in_sync
    assert await store.is_revoked("jti-1") is True  # Redis still answers


@pytest.mark.redis
async def test_a_revocation_by_another_replica_reaches_the_mirror(
    make_store: MakeStore,
) -> None:
    mirrored, other = make_store(), make_store()
    await mirrored.start()
    await mirrored.start()  # once is enough; twice changes nothing
    await in_sync(mirrored)
    assert mirrored.known_verdict("jti-shared") is False
    assert mirrored.known_verdict("jti-shared", client_id="client-shared") is False

    await other.revoke_token("jti-shared", in_minutes(5))
    await eventually(lambda: mirrored.known_verdict("jti-shared") is True)
    assert mirrored.known_verdict("jti-other") is False

    await other.revoke_client("client-shared")
    await eventually(lambda: mirrored.known_verdict("jti-any", client_id="client-shared") is True)
    assert mirrored.known_verdict("jti-any") is False  # without its client, only the jti
    assert mirrored.known_verdict("jti-any", client_id="client-fine") is False
    assert mirrored.mirror_size == 2


@pytest.mark.redis
async def test_the_revoking_store_answers_at_once(make_store: MakeStore, relay: Relay) -> None:
    """Before its own message comes back: the subscription (the store's first connection)
    is held at the relay while the store revokes over another."""
    store = make_store(relay.url)
    await store.start()
    await in_sync(store)
    relay.freeze(0)
    await store.revoke_token("jti-own", in_minutes(5))
    assert store.known_verdict("jti-own") is True
    await store.revoke_client("client-own", until=in_minutes(5))
    assert store.known_verdict("jti-x", client_id="client-own") is True
    assert store.mirror_in_sync
    relay.thaw()


@pytest.mark.redis
async def test_a_revocation_is_one_key_and_one_message(
    make_store: MakeStore, admin: Redis, redis_prefix: str
) -> None:
    """Today's key, value and expiry, and the message announcing them."""
    async with admin.pubsub() as listener:
        await listener.subscribe(f"{redis_prefix}events")
        assert (await listener.get_message(timeout=1.0))["type"] == "subscribe"
        store = make_store()
        expires = math.ceil(time.time()) + 300
        await store.revoke_token("jti-1", expires)
        await store.revoke_client("client-1")
        await store.revoke_client("client-2", until=expires)

        key = f"{redis_prefix}jti:jti-1"
        assert await admin.get(key) == b"1"
        assert await admin.pexpiretime(key) == expires * 1000
        assert await admin.pexpiretime(f"{redis_prefix}client:client-1") == -1
        assert await admin.pexpiretime(f"{redis_prefix}client:client-2") == expires * 1000
        published = [(await listener.get_message(timeout=1.0))["data"] for _ in range(3)]
        assert published == [
            f"{key}|{expires * 1000}".encode(),
            f"{redis_prefix}client:client-1|-1".encode(),
            f"{redis_prefix}client:client-2|{expires * 1000}".encode(),
        ]


@pytest.mark.redis
async def test_revocations_made_before_start_are_loaded(make_store: MakeStore) -> None:
    now = [time.time()]
    earlier = make_store()
    await earlier.revoke_token("jti-before", now[0] + 300)
    await earlier.revoke_client("client-forever")
    await earlier.revoke_client("client-until", until=now[0] + 600)

    store = make_store(clock=lambda: now[0])
    assert store.known_verdict("jti-before") is None
    await store.start()
    await in_sync(store)
    assert store.mirror_size == 3
    assert store.known_verdict("jti-before") is True
    assert store.known_verdict("jti-x", client_id="client-forever") is True
    assert store.known_verdict("jti-x", client_id="client-until") is True
    # the expiries came with the keys
    now[0] += 302
    assert store.known_verdict("jti-before") is False
    assert store.known_verdict("jti-x", client_id="client-until") is True
    now[0] += 300
    assert store.known_verdict("jti-x", client_id="client-until") is False
    assert store.known_verdict("jti-x", client_id="client-forever") is True


@pytest.mark.redis
async def test_entries_stop_counting_at_their_expiry(make_store: MakeStore) -> None:
    now = [time.time()]
    store, other = make_store(clock=lambda: now[0]), make_store()
    await store.start()
    await in_sync(store)
    await other.revoke_token("jti-short", now[0] + 60)
    await other.revoke_client("client-until", until=now[0] + 30)
    await other.revoke_client("client-forever")
    await eventually(lambda: store.known_verdict("jti-x", client_id="client-forever") is True)
    assert store.known_verdict("jti-short") is True
    assert store.known_verdict("jti-x", client_id="client-until") is True

    now[0] += 32
    assert store.known_verdict("jti-x", client_id="client-until") is False
    assert store.known_verdict("jti-short") is True
    now[0] += 30
    assert store.known_verdict("jti-short") is False
    assert store.known_verdict("jti-short", client_id="client-forever") is True
    await store.revoke_token("jti-gone", now[0] - 1)  # already expired: not stored
    assert store.known_verdict("jti-gone") is False


# --- Redis: losing the subscription -----------------------------------------------------


@pytest.mark.redis
async def test_a_killed_subscription_is_noticed_and_reloaded(
    make_store: MakeStore, admin: Redis, redis_url: str
) -> None:
    """redis-py re-subscribes a killed connection by itself; what was published while it
    was down would be lost, so the mirror must start over rather than carry on."""
    name = f"mirror-{uuid.uuid4().hex[:12]}"
    store, other = make_store(f"{redis_url}?client_name={name}"), make_store()
    await store.start()
    await in_sync(store)
    [watcher] = await pubsub_clients(admin, name)
    resyncs = store.mirror_resyncs

    await admin.client_kill_filter(_id=watcher["id"])
    await other.revoke_token("jti-meanwhile", in_minutes(5))
    await eventually(lambda: store.mirror_resyncs > resyncs)
    await eventually(lambda: store.known_verdict("jti-meanwhile") is True)
    [again] = await pubsub_clients(admin, name)
    assert again["id"] != watcher["id"]


@pytest.mark.redis
async def test_a_lost_connection_makes_it_answer_none_until_reloaded(
    make_store: MakeStore, relay: Relay
) -> None:
    store, other = make_store(relay.url, health_interval=0.1), make_store()
    await store.start()
    await in_sync(store)
    assert store.known_verdict("jti-cut") is False

    relay.cut()
    await eventually(lambda: store.known_verdict("jti-cut") is None)
    await other.revoke_token("jti-cut", in_minutes(5))
    await asyncio.sleep(0.3)  # retries against a refusing relay: still no answer
    assert store.known_verdict("jti-cut") is None
    assert not store.mirror_in_sync

    relay.restore()
    await eventually(lambda: store.known_verdict("jti-cut") is True, within=5.0)


@pytest.mark.redis
async def test_a_silently_stalled_subscription_stops_vouching(
    make_store: MakeStore, relay: Relay
) -> None:
    """No error, no close: only the unanswered PING tells."""
    store, other = make_store(relay.url, health_interval=0.1), make_store()
    await store.start()
    await in_sync(store)
    resyncs = store.mirror_resyncs

    relay.freeze()
    await eventually(lambda: store.known_verdict("jti-frozen") is None, within=1.0)
    await eventually(lambda: store.mirror_resyncs > resyncs)  # the watcher gave up by itself
    await other.revoke_token("jti-frozen", in_minutes(5))
    assert store.known_verdict("jti-frozen") is None

    relay.thaw()
    await eventually(lambda: store.known_verdict("jti-frozen") is True, within=5.0)


@pytest.mark.redis
async def test_a_stuck_watcher_cannot_leave_a_stale_mirror_vouching(
    make_store: MakeStore,
) -> None:
    store = make_store(health_interval=0.05)
    await store.start()
    await in_sync(store)
    assert store.known_verdict("jti-1") is False

    time.sleep(0.2)  # the event loop, and the watcher with it, hears nothing
    assert store._in_sync  # the watcher never ran: only the staleness guard speaks
    assert store.known_verdict("jti-1") is None
    assert not store.mirror_in_sync

    await in_sync(store)
    assert store.known_verdict("jti-1") is False


@pytest.mark.redis
@pytest.mark.parametrize(
    "payload",
    [
        b"nonsense",
        b"{prefix}jti:jti-1|soon",
        b"{prefix}jti:jti-1|-5",
        b"{prefix}jti:jti-1",
        b"other:jti:jti-1|-1",
        b"{prefix}jti:jti-1|\xff\xfe",
    ],
)
async def test_a_malformed_message_makes_it_reload(
    make_store: MakeStore, admin: Redis, redis_prefix: str, payload: bytes
) -> None:
    store, other = make_store(), make_store()
    await store.start()
    await in_sync(store)
    resyncs = store.mirror_resyncs

    await admin.publish(
        f"{redis_prefix}events", payload.replace(b"{prefix}", redis_prefix.encode())
    )
    await eventually(lambda: store.mirror_resyncs == resyncs + 1)
    await in_sync(store)
    assert store.known_verdict("jti-1") is False  # nothing was guessed from it
    await other.revoke_token("jti-2", in_minutes(5))
    await eventually(lambda: store.known_verdict("jti-2") is True)


@pytest.mark.redis
async def test_aclose_ends_the_subscription(
    make_store: MakeStore, admin: Redis, redis_url: str
) -> None:
    name = f"mirror-{uuid.uuid4().hex[:12]}"
    store = make_store(f"{redis_url}?client_name={name}")
    await store.start()
    await in_sync(store)
    assert len(await pubsub_clients(admin, name)) == 1
    await store.aclose()
    assert store.known_verdict("jti-1") is None
    deadline = time.monotonic() + 2.0
    while await pubsub_clients(admin, name):
        assert time.monotonic() < deadline, "the subscription outlived aclose"
        await asyncio.sleep(0.01)


@pytest.mark.redis
@pytest.mark.timeout(10)
@pytest.mark.parametrize("turns", range(6))
async def test_aclose_stops_a_watcher_caught_sending_a_ping(
    make_store: MakeStore, turns: int
) -> None:
    """The watcher wakes overdue and PINGs as it is cancelled: on Python 3.11 that
    cancellation can be lost inside redis-py (in some of these interleavings), and closing must not
    hang on it."""
    store = make_store(health_interval=0.05)
    await store.start()
    await in_sync(store)
    watcher = store._watcher
    assert watcher is not None
    time.sleep(0.2)
    for _ in range(turns):
        await asyncio.sleep(0)
    await store.aclose()
    assert watcher.done()


@pytest.mark.redis
async def test_a_watcher_that_fails_unexpectedly_stops_vouching_for_good(
    make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    await store.start()
    await in_sync(store)

    async def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(store, "_follow", broken)
    await store._client.publish(f"{store._prefix}events", b"not a revocation")  # a reload
    await eventually(lambda: store._watcher is not None and store._watcher.done())
    assert store.known_verdict("jti-1") is None
    await store.revoke_token("jti-1", in_minutes(5))
    assert await store.is_revoked("jti-1") is True  # Redis still answers
    await store.aclose()  # and the dead watcher does not make closing fail
