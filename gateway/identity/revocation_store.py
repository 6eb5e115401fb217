"""What every revocation store answers (``RevocationStore``), and the store kept in
process (embedded mode). ``gateway.identity.revocation`` adds the Redis store with its
mirror, and is the public face of both."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

Expiry = datetime | float | int


class StoreUnavailable(Exception):
    """The configured Redis cannot be reached; the request must be refused (503)."""


def epoch_of(moment: Expiry) -> float:
    """Seconds since the epoch; naive datetimes are refused (their zone is a guess)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("expiry must be timezone-aware")
        return moment.timestamp()
    return float(moment)


class RevocationStore(Protocol):
    """Where the gateway records and checks revoked tokens and clients."""

    async def start(self) -> None:
        """Start whatever keeps the store current in the background."""
        ...

    async def revoke_token(self, jti: str, expires_at: Expiry) -> None:
        """Refuse the token ``jti`` until ``expires_at`` (its ``exp``), after which it
        is dead anyway."""
        ...

    def known_verdict(
        self, jti: str, *, client_id: str | None = None, generation: str | None = None
    ) -> bool | None:
        """``is_revoked`` answered here and now, or ``None`` when this process cannot
        vouch for its answer (the caller must then ask ``is_revoked``)."""
        ...

    async def is_revoked(
        self, jti: str, *, client_id: str | None = None, generation: str | None = None
    ) -> bool:
        """True when the token ``jti``, or (given) its client, or the client's secret
        ``generation`` the token was issued under, has been revoked."""
        ...

    async def revoke_client(self, client_id: str, *, until: Expiry | None = None) -> None:
        """Refuse every token of ``client_id``, for good or until ``until``."""
        ...

    async def is_client_revoked(self, client_id: str) -> bool: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


def client_names(client_id: str, generation: str | None) -> tuple[str, ...]:
    """The names under which a client's tokens are revoked: the client itself, and the
    client under one secret generation (``gateway.identity.clients.secret_generation``).

    Rotating a secret revokes the old generation until the old tokens have expired, so
    tokens issued under the old secret die at once while the new secret's tokens live.
    Client ids have no ``~``, so a generation name cannot be taken for a client.
    """
    if generation:
        return (client_id, f"{client_id}~{generation}")
    return (client_id,)


class InProcessRevocationStore:
    """Revocations in dicts with lazy expiry: the embedded, single-process default."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[str, float] = {}
        self._clients: dict[str, float] = {}

    async def start(self) -> None:
        """Nothing to follow: this store is the whole truth of its one process."""

    async def revoke_token(self, jti: str, expires_at: Expiry) -> None:
        expiry = epoch_of(expires_at)
        now = self._clock()
        if expiry > now:
            self._tokens[jti] = expiry
        self._sweep(now)

    def known_verdict(
        self, jti: str, *, client_id: str | None = None, generation: str | None = None
    ) -> bool:
        """Always an answer: there is nothing else to ask."""
        now = self._clock()
        if self._tokens.get(jti, -math.inf) > now:
            return True
        if client_id is None:
            return False
        return any(
            self._clients.get(name, -math.inf) > now for name in client_names(client_id, generation)
        )

    async def is_revoked(
        self, jti: str, *, client_id: str | None = None, generation: str | None = None
    ) -> bool:
        return self.known_verdict(jti, client_id=client_id, generation=generation)

    async def revoke_client(self, client_id: str, *, until: Expiry | None = None) -> None:
        self._clients[client_id] = math.inf if until is None else epoch_of(until)

    async def is_client_revoked(self, client_id: str) -> bool:
        return self._clients.get(client_id, -math.inf) > self._clock()

    def _sweep(self, now: float) -> None:
        self._tokens = {jti: exp for jti, exp in self._tokens.items() if exp > now}

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._tokens.clear()
        self._clients.clear()
