"""Revoked access tokens (by ``jti``) and revoked clients, in Redis or in process.

Access tokens are self-contained JWTs: once issued they verify until ``exp``. Revoking
one before then needs a deny list that every worker and replica consults on every
request. An entry only has to live as long as the token it blocks, so each revoked
``jti`` is stored with the token's own expiry and disappears by itself afterwards.
A revoked client blocks every token it holds, whatever its ``jti``.

Security decisions:

* **Fail closed.** A configured Redis that cannot be reached raises
  ``StoreUnavailable``; the gateway must refuse the request (503) rather than accept a
  token it cannot check. Answering "not revoked" on error would let a stolen, revoked
  token through exactly while Redis is down.
* The in-process store is only for the embedded, single-process run: with several
  workers each would hold its own list, so production configures Redis.
* Concurrent ``is_revoked`` checks of one worker share a single ``MGET``
  (``gateway.coalesce``): each caller still gets the answer for its own keys, and a Redis
  error fails every check of that round trip.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.coalesce import Coalescer
from gateway.ratelimit import DEFAULT_TIMEOUT_SECONDS, connect_redis

__all__ = [
    "DEFAULT_PREFIX",
    "InProcessRevocationStore",
    "RedisRevocationStore",
    "RevocationStore",
    "StoreUnavailable",
    "build_revocation_store",
]

DEFAULT_PREFIX = "satugate:rv:"

Expiry = datetime | float | int


class StoreUnavailable(Exception):
    """The configured Redis cannot be reached; the request must be refused (503)."""


def _epoch(moment: Expiry) -> float:
    """Seconds since the epoch; naive datetimes are refused (their zone is a guess)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("expiry must be timezone-aware")
        return moment.timestamp()
    return float(moment)


class RevocationStore(Protocol):
    """Where the gateway records and checks revoked tokens and clients."""

    async def revoke_token(self, jti: str, expires_at: Expiry) -> None:
        """Refuse the token ``jti`` until ``expires_at`` (its ``exp``), after which it
        is dead anyway."""
        ...

    async def is_revoked(self, jti: str, *, client_id: str | None = None) -> bool:
        """True when the token ``jti``, or (given) its client, has been revoked."""
        ...

    async def revoke_client(self, client_id: str, *, until: Expiry | None = None) -> None:
        """Refuse every token of ``client_id``, for good or until ``until``."""
        ...

    async def is_client_revoked(self, client_id: str) -> bool: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


class InProcessRevocationStore:
    """Revocations in dicts with lazy expiry: the embedded, single-process default."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[str, float] = {}
        self._clients: dict[str, float] = {}

    async def revoke_token(self, jti: str, expires_at: Expiry) -> None:
        expiry = _epoch(expires_at)
        now = self._clock()
        if expiry > now:
            self._tokens[jti] = expiry
        self._sweep(now)

    async def is_revoked(self, jti: str, *, client_id: str | None = None) -> bool:
        now = self._clock()
        if self._tokens.get(jti, -math.inf) > now:
            return True
        return client_id is not None and self._clients.get(client_id, -math.inf) > now

    async def revoke_client(self, client_id: str, *, until: Expiry | None = None) -> None:
        self._clients[client_id] = math.inf if until is None else _epoch(until)

    async def is_client_revoked(self, client_id: str) -> bool:
        return self._clients.get(client_id, -math.inf) > self._clock()

    def _sweep(self, now: float) -> None:
        self._tokens = {jti: exp for jti, exp in self._tokens.items() if exp > now}

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._tokens.clear()
        self._clients.clear()


class RedisRevocationStore:
    """Revocations as Redis keys that expire with the token they block."""

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix
        self._checks: Coalescer[tuple[str, ...], bool] = Coalescer(self._any_present)

    def _token_key(self, jti: str) -> str:
        return f"{self._prefix}jti:{jti}"

    def _client_key(self, client_id: str) -> str:
        return f"{self._prefix}client:{client_id}"

    async def revoke_token(self, jti: str, expires_at: Expiry) -> None:
        expiry = math.ceil(_epoch(expires_at))
        if expiry <= time.time():
            return  # already expired: no token can present it any more
        try:
            await self._client.set(self._token_key(jti), b"1", exat=expiry)
        except RedisError as exc:
            raise StoreUnavailable("revocation store unreachable") from exc

    def keys_for(self, jti: str, client_id: str | None = None) -> tuple[str, ...]:
        """The Redis keys of which any one, present, means the token is revoked.

        For a caller that checks them in a round trip of its own: the rate limiter takes
        them as guard keys, so a lookup checks its token and counts against its limits at
        once (``gateway.residents.enforce_rates``).
        """
        keys: tuple[str, ...] = (self._token_key(jti),)
        if client_id is not None:
            keys += (self._client_key(client_id),)
        return keys

    async def is_revoked(self, jti: str, *, client_id: str | None = None) -> bool:
        try:
            return await self._checks.submit(self.keys_for(jti, client_id))
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

    async def revoke_client(self, client_id: str, *, until: Expiry | None = None) -> None:
        try:
            if until is None:
                await self._client.set(self._client_key(client_id), b"1")
            else:
                await self._client.set(
                    self._client_key(client_id), b"1", exat=math.ceil(_epoch(until))
                )
        except RedisError as exc:
            raise StoreUnavailable("revocation store unreachable") from exc

    async def is_client_revoked(self, client_id: str) -> bool:
        try:
            return int(await self._client.exists(self._client_key(client_id))) > 0
        except RedisError as exc:
            raise StoreUnavailable("revocation store unreachable") from exc

    async def ping(self) -> bool:
        """True when Redis answers; never raises (for ``/readyz``)."""
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def aclose(self) -> None:
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
