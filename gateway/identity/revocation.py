"""Revoked access tokens (by ``jti``) and revoked clients, in Redis or in process.

Access tokens are self-contained JWTs: once issued they verify until ``exp``. Revoking
one before then needs a deny list that every worker and replica consults on every
request. An entry only has to live as long as the token it blocks, so each revoked
``jti`` is stored with the token's own expiry and disappears by itself afterwards.
A revoked client blocks every token it holds, whatever its ``jti``.

With Redis, each process also keeps a **mirror** of the revocation keys, so a lookup can
check its token without a round trip (``known_verdict``). A background watcher keeps it
current:

1. It SUBSCRIBEs to the channel ``<prefix>events`` and waits for the confirmation.
2. Only then it loads every revocation key with SCAN and its expiry with PEXPIRETIME.
   Subscribing first is what makes the union complete: a revocation written during the
   scan is either seen by the scan or arrives as a message, and the messages that queued
   up during the scan are applied after it, in order. (PEXPIRETIME needs Redis 7: with
   an older server the load fails, the mirror never vouches and every lookup asks Redis.)
3. It PINGs on the subscription and vouches for the mirror once the reply is in: by
   then every revocation published before that PING has been applied.
4. It applies each message as it comes. A revocation writes its key and publishes it in
   one MULTI/EXEC transaction, so no key is written without its message.

Security decisions:

* **Fail closed.** A configured Redis that cannot be reached raises
  ``StoreUnavailable``; the gateway must refuse the request (503) rather than accept a
  token it cannot check. Answering "not revoked" on error would let a stolen, revoked
  token through exactly while Redis is down.
* **The mirror answers only when it can vouch that it is current.** Not started, still
  loading, subscription lost or re-established, watcher dead, nothing heard lately: its
  answer is ``None`` and the caller asks Redis, which fails closed as above. Whenever the
  subscription fails, the mirror stops vouching at once and the watcher starts over
  (subscribe, reload, which replaces the mirror) after a short backoff. redis-py
  re-establishes a dropped subscription by itself, but what was published meanwhile is
  lost: that too counts as a failure.
* **Liveness.** A subscription can stall without an error (a half-open connection, a
  hung proxy). When nothing has been heard for ``health_interval`` seconds the watcher
  PINGs on it, and an unanswered PING is a failure. Independently, ``known_verdict``
  itself refuses to vouch when nothing (message or PING reply) has been heard for three
  health intervals, so not even a stuck watcher can leave a stale mirror answering.
* **Propagation window.** A revocation reaches the other processes' mirrors within pub/sub
  delivery time. A lookup whose check passed before the message arrived is served, as is
  one whose check passed before the revocation was made. The process that revokes
  updates its own mirror before writing to Redis, so there the revocation holds at once;
  should the write fail, it still holds there until the next reload (refusing is the safe
  side of a revocation that was asked for).
* **A message is trusted as Redis is**: whoever may PUBLISH on the channel may write the
  keys too. A message sets its entry as the write it announces set the key; a malformed
  one makes the watcher reload rather than guess. Nothing removes an entry but its
  expiry or a reload: this store has no "unrevoke", and a key deleted by hand in Redis
  stays refused by the mirrors until they reload.
* Expiries are compared with this process's clock. A token's entry ends at its ``exp``,
  when the token is refused as expired by the same clock anyway; a client revoked
  ``until`` a time is readmitted off by the clocks' skew.
* The in-process store is only for the embedded, single-process run: with several
  workers each would hold its own list, so production configures Redis.
* Concurrent ``is_revoked`` checks of one worker share a single ``MGET``
  (``gateway.platform.coalesce``): each caller still gets the answer for its own keys, and a Redis
  error fails every check of that round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from gateway.identity.revocation_store import (
    Expiry,
    InProcessRevocationStore,
    RevocationStore,
    StoreUnavailable,
    client_names,
    epoch_of,
)
from gateway.limits.ratelimit import DEFAULT_TIMEOUT_SECONDS, connect_redis
from gateway.platform.coalesce import Coalescer
from gateway.platform.logs import get_logger

__all__ = [
    "DEFAULT_HEALTH_INTERVAL",
    "DEFAULT_PREFIX",
    "InProcessRevocationStore",
    "RedisRevocationStore",
    "RevocationStore",
    "StoreUnavailable",
    "build_revocation_store",
]

DEFAULT_PREFIX = "satugate:rv:"
DEFAULT_HEALTH_INTERVAL = 1.0

# The mirror stops vouching when it has heard nothing for this many health intervals.
_STALE_AFTER_INTERVALS = 3
_FIRST_BACKOFF_SECONDS = 0.1
_MAX_BACKOFF_SECONDS = 2.0
_SCAN_COUNT = 1000
_PING_MESSAGE = "satugate-revocation-mirror"


class _OutOfSync(Exception):
    """The subscription can no longer vouch for the mirror: the watcher starts over."""


# What makes the watcher start over. Anything else is a bug: the watcher logs it and
# stops, and with it the mirror's vouching, so lookups go to Redis.
_LOST = (RedisError, OSError, _OutOfSync)


class _Mirror:
    """Revocation keys and when each stops counting (epoch seconds, ``inf`` for never).

    Expired entries are dropped whenever the mirror has doubled since the last sweep, so
    a sweep costs no more than the entries that were added since.
    """

    _MIN_SWEEP_SIZE = 1024

    def __init__(self, entries: dict[str, float] | None = None) -> None:
        self._entries = entries if entries is not None else {}
        self._sweep_at = max(2 * len(self._entries), self._MIN_SWEEP_SIZE)

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: str, expiry: float, now: float) -> None:
        self._entries[key] = expiry
        if len(self._entries) >= self._sweep_at:
            self._entries = {k: exp for k, exp in self._entries.items() if exp > now}
            self._sweep_at = max(2 * len(self._entries), self._MIN_SWEEP_SIZE)

    def any_live(self, keys: Iterable[str], now: float) -> bool:
        return any(self._entries.get(key, -math.inf) > now for key in keys)


def _text(value: bytes | str, errors: str = "strict") -> str:
    return value.decode(errors=errors) if isinstance(value, bytes) else value


def _glob_escape(text: str) -> str:
    """``text`` matched literally in a SCAN ``MATCH`` pattern."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


def _event(key: str, expiry: int | None) -> str:
    """The message announcing that ``key`` was written: ``<key>|<expiry ms or -1>``."""
    return f"{key}|{-1 if expiry is None else expiry * 1000}"


def _parse_event(data: bytes | str, prefixes: tuple[str, ...]) -> tuple[str, float]:
    """The key and expiry (epoch seconds, ``inf`` for never) of a message; ``ValueError``
    unless it is exactly what ``_event`` writes for a key under one of ``prefixes``."""
    key, separator, expiry_ms = _text(data).rpartition("|")
    if not separator or not key.startswith(prefixes):
        raise ValueError("not a revocation message")
    if expiry_ms == "-1":
        return key, math.inf
    if not (expiry_ms.isascii() and expiry_ms.isdigit()):
        raise ValueError("not a revocation message")
    return key, int(expiry_ms) / 1000


class _Subscription:
    """One subscription to the mirror's channel, on a connection of its own.

    redis-py re-establishes a dropped subscription by itself; whatever was published in
    between never arrives. So a re-established connection makes this subscription
    unusable: ``on_lost`` is called at once and the next read raises ``_OutOfSync``.
    """

    def __init__(self, pubsub: PubSub, channel: str, on_lost: Callable[[], None]) -> None:
        self._pubsub = pubsub
        self._channel = channel
        self._on_lost = on_lost
        self._broken = False

    async def open(self, timeout: float) -> None:
        """Subscribe, and return once Redis has confirmed it."""
        await self._pubsub.subscribe(self._channel)
        if self._pubsub.connection is None:
            raise _OutOfSync("subscribed without a connection")
        # Kept as a weak reference by the connection: alive while this object is.
        self._pubsub.connection.register_connect_callback(self._reconnected)
        message = await self.next(timeout)
        if message is None or message["type"] != "subscribe":
            raise _OutOfSync("the subscription was not confirmed")

    def _reconnected(self, connection: object) -> None:
        self._broken = True
        self._on_lost()

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next message, PING reply or confirmation; ``None`` after ``timeout``."""
        message: dict[str, Any] | None = await self._pubsub.get_message(timeout=timeout)
        if self._broken:
            raise _OutOfSync("the subscription was re-established: messages may be lost")
        return message

    async def ping(self) -> None:
        await self._pubsub.ping(_PING_MESSAGE)

    async def close(self) -> None:
        if self._pubsub.connection is not None:
            self._pubsub.connection.deregister_connect_callback(self._reconnected)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it to end, cancelling again as long as it runs.

    Once is not always enough: on Python 3.11, ``asyncio.wait_for`` (which redis-py uses
    to send a command) drops a cancellation that arrives as the command completes.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    with contextlib.suppress(asyncio.CancelledError):
        await task


class RedisRevocationStore:
    """Revocations as Redis keys that expire with the token they block, mirrored in
    process once ``start`` has been called."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        health_interval: float = DEFAULT_HEALTH_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if health_interval <= 0:
            raise ValueError("health_interval must be positive")
        self._client = client
        self._prefix = prefix
        self._channel = f"{prefix}events"
        self._health_interval = health_interval
        self._clock = clock
        self._checks: Coalescer[tuple[str, ...], bool] = Coalescer(self._any_present)
        self._mirror = _Mirror()
        self._in_sync = False
        self._last_heard = -math.inf  # time.monotonic() of the last message or PING reply
        self._resyncs = 0
        self._syncs = 0  # times a subscription got the mirror in sync
        self._watcher: asyncio.Task[None] | None = None

    def _token_key(self, jti: str) -> str:
        return f"{self._prefix}jti:{jti}"

    def _client_key(self, client_id: str) -> str:
        return f"{self._prefix}client:{client_id}"

    # --- writing --------------------------------------------------------------------

    async def revoke_token(self, jti: str, expires_at: Expiry) -> None:
        expiry = math.ceil(epoch_of(expires_at))
        if expiry <= self._clock():
            return  # already expired: no token can present it any more
        await self._write(self._token_key(jti), expiry)

    async def revoke_client(self, client_id: str, *, until: Expiry | None = None) -> None:
        expiry = None if until is None else math.ceil(epoch_of(until))
        await self._write(self._client_key(client_id), expiry)

    async def _write(self, key: str, expiry: int | None) -> None:
        """SET ``key`` (``EXAT expiry``, or for good) and publish it, in one transaction.

        This process's mirror takes the entry first: here the revocation holds at once,
        and the message that follows the write can only confirm it (a later write of the
        same key by another process arrives later still, as in Redis).
        """
        self._mirror.put(key, math.inf if expiry is None else expiry, self._clock())
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(key, b"1", exat=expiry)
                pipe.publish(self._channel, _event(key, expiry))
                await pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable("revocation store unreachable") from exc

    # --- checking -------------------------------------------------------------------

    def keys_for(
        self, jti: str, client_id: str | None = None, generation: str | None = None
    ) -> tuple[str, ...]:
        """The Redis keys of which any one, present, means the token is revoked."""
        keys: tuple[str, ...] = (self._token_key(jti),)
        if client_id is not None:
            keys += tuple(self._client_key(n) for n in client_names(client_id, generation))
        return keys

    def known_verdict(
        self, jti: str, *, client_id: str | None = None, generation: str | None = None
    ) -> bool | None:
        """Whether the token (or its client) is revoked, from the mirror, with no round
        trip; ``None`` when the mirror cannot vouch that it is current (see the module
        docstring), and the caller must ask ``is_revoked``."""
        if not self.mirror_in_sync:
            return None
        return self._mirror.any_live(self.keys_for(jti, client_id, generation), self._clock())

    async def is_revoked(
        self, jti: str, *, client_id: str | None = None, generation: str | None = None
    ) -> bool:
        try:
            return await self._checks.submit(self.keys_for(jti, client_id, generation))
        except RedisError as exc:
            raise StoreUnavailable("revocation store unreachable") from exc

    async def _any_present(self, checks: list[tuple[str, ...]]) -> list[bool]:
        """For each check, whether any of its keys exists: one ``MGET`` for them all.

        ``MGET`` rather than ``EXISTS``, which counts over all its keys and cannot say
        whose they are. Revocations are plain string keys, for which ``MGET`` answers nil
        exactly when the key is absent.
        """
        keys = list(dict.fromkeys(key for check in checks for key in check))
        values = await self._client.mget(keys)
        present = {key for key, value in zip(keys, values, strict=True) if value is not None}
        return [not present.isdisjoint(check) for check in checks]

    async def is_client_revoked(self, client_id: str) -> bool:
        try:
            return int(await self._client.exists(self._client_key(client_id))) > 0
        except RedisError as exc:
            raise StoreUnavailable("revocation store unreachable") from exc

    # --- the mirror -----------------------------------------------------------------

    @property
    def mirror_in_sync(self) -> bool:
        """True while the mirror vouches that it holds every revocation published up to
        a moment ago: loaded, subscribed, and heard from within three health intervals."""
        heard_lately = (
            time.monotonic() - self._last_heard <= _STALE_AFTER_INTERVALS * self._health_interval
        )
        return self._in_sync and heard_lately

    @property
    def mirror_size(self) -> int:
        """Entries held, expired ones included until they are swept."""
        return len(self._mirror)

    @property
    def mirror_resyncs(self) -> int:
        """How many times the subscription failed and the watcher started over."""
        return self._resyncs

    async def start(self) -> None:
        """Start the watcher that fills the mirror and keeps it current (once: later
        calls do nothing). It runs in an empty ``contextvars`` context, as it serves no
        one request."""
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), context=contextvars.Context())

    def _lose_sync(self) -> None:
        self._in_sync = False

    async def _watch(self) -> None:
        """Follow the channel for good: on a failure the mirror stops vouching at once,
        and after a backoff (doubling, reset by a success) the watcher starts over."""
        delay = _FIRST_BACKOFF_SECONDS
        try:
            while True:
                syncs = self._syncs
                try:
                    await self._follow()
                except _LOST as exc:
                    if self._syncs > syncs:
                        delay = _FIRST_BACKOFF_SECONDS
                    self._lose_sync()
                    self._resyncs += 1
                    get_logger().warning(
                        "revocation_mirror_out_of_sync", error=type(exc).__name__, detail=str(exc)
                    )
                await asyncio.sleep(delay)
                delay = min(2 * delay, _MAX_BACKOFF_SECONDS)
        except Exception as exc:  # a bug: the mirror stops vouching for good, and says so
            get_logger().error("revocation_mirror_stopped", error=type(exc).__name__)
        finally:
            self._lose_sync()

    async def _follow(self) -> None:
        """One life of a subscription: subscribe, load, vouch, apply messages; it ends
        only by raising."""
        subscription = _Subscription(self._client.pubsub(), self._channel, self._lose_sync)
        try:
            await subscription.open(self._health_interval)
            self._mirror = _Mirror(await self._load())
            # The reply to this PING comes after every message published before it: the
            # mirror vouches once it is in (``_listen``).
            await subscription.ping()
            await self._listen(subscription, ping_sent=time.monotonic())
        finally:
            await subscription.close()

    async def _load(self) -> dict[str, float]:
        """Every revocation key under the prefix, with its expiry."""
        # A key that is not UTF-8 was not written by this store: mangled, it is found
        # gone below and skipped.
        keys: list[str] = []
        for kind in ("jti", "client"):
            pattern = f"{_glob_escape(self._prefix)}{kind}:*"
            keys += [
                _text(key, errors="replace")
                async for key in self._client.scan_iter(match=pattern, count=_SCAN_COUNT)
            ]
        entries: dict[str, float] = {}
        for start in range(0, len(keys), _SCAN_COUNT):
            chunk = keys[start : start + _SCAN_COUNT]
            async with self._client.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.pexpiretime(key)
                expiries = await pipe.execute()
            for key, expiry_ms in zip(chunk, expiries, strict=True):
                if expiry_ms == -2:
                    continue  # expired or deleted since the scan
                entries[key] = math.inf if expiry_ms == -1 else expiry_ms / 1000
        return entries

    async def _listen(self, subscription: _Subscription, *, ping_sent: float | None) -> None:
        """Apply messages as they come. When nothing has been heard for a health interval,
        PING; a PING unanswered within another one is a failure. Each reply to a PING
        (the first one after the load included) lets the mirror vouch."""
        interval = self._health_interval
        while True:
            now = time.monotonic()
            if ping_sent is None and now - self._last_heard >= interval:
                await subscription.ping()
                ping_sent = now
            due = (self._last_heard if ping_sent is None else ping_sent) + interval
            message = await subscription.next(timeout=max(due - now, 0.001))
            if message is None:
                if ping_sent is not None and time.monotonic() - ping_sent >= interval:
                    raise _OutOfSync("the PING on the subscription went unanswered")
                continue
            self._last_heard = time.monotonic()
            if message["type"] == "pong":
                ping_sent = None
                if not self._in_sync:
                    self._in_sync = True
                    self._syncs += 1
            elif message["type"] == "message":
                self._apply(message["data"])
            else:
                raise _OutOfSync(f"unexpected {message['type']!r} on the subscription")

    def _apply(self, data: bytes | str) -> None:
        try:
            key, expiry = _parse_event(data, (f"{self._prefix}jti:", f"{self._prefix}client:"))
        except ValueError as exc:
            raise _OutOfSync("malformed message on the revocation channel") from exc
        self._mirror.put(key, expiry, self._clock())

    # --- lifecycle ------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when Redis answers; never raises (for ``/readyz``)."""
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def aclose(self) -> None:
        """Stop the watcher (which closes its subscription), then the client."""
        watcher, self._watcher = self._watcher, None
        try:
            if watcher is not None:
                await _cancel(watcher)
        finally:
            await self._client.aclose()


def build_revocation_store(
    redis_url: str | None,
    *,
    prefix: str = DEFAULT_PREFIX,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> RevocationStore:
    """Redis when a URL is given (shared by all replicas), else in process."""
    if not redis_url:
        return InProcessRevocationStore()
    return RedisRevocationStore(connect_redis(redis_url, timeout=timeout), prefix=prefix)
