"""OAuth2 clients of the agencies: create (the secret is shown once), rotate, revoke."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import store
from gateway.errors import InvalidRequest, NotFound
from gateway.oauth import SCOPES, hash_secret, new_client_id, new_secret


@dataclass(frozen=True)
class NewCredentials:
    client_id: str
    client_secret: str


def _check_scopes(scopes: Sequence[str]) -> str:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidRequest(f"scopes must be among {', '.join(SCOPES)}")
    return " ".join(dict.fromkeys(scopes))


async def create_client(
    engine: AsyncEngine,
    *,
    name: str,
    agency: str,
    scopes: Sequence[str],
    client_id: str | None = None,
) -> NewCredentials:
    secret = new_secret()
    cid = client_id or new_client_id(agency)
    async with engine.begin() as conn:
        await conn.execute(
            insert(store.clients).values(
                client_id=cid,
                name=name,
                agency=agency,
                scopes=_check_scopes(scopes),
                secret_hash=hash_secret(secret),
                status="active",
                created_at=store.utcnow(),
            )
        )
    return NewCredentials(cid, secret)


async def rotate_secret(engine: AsyncEngine, client_id: str) -> NewCredentials:
    """A new secret; the old one stops working at once."""
    secret = new_secret()
    async with engine.begin() as conn:
        result = await conn.execute(
            update(store.clients)
            .where(store.clients.c.client_id == client_id, store.clients.c.status == "active")
            .values(secret_hash=hash_secret(secret), rotated_at=store.utcnow())
        )
    if result.rowcount != 1:
        raise NotFound("no active client with this id")
    return NewCredentials(client_id, secret)


async def revoke_client(engine: AsyncEngine, client_id: str) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(store.clients)
            .where(store.clients.c.client_id == client_id)
            .values(status="revoked", revoked_at=store.utcnow())
        )
    if result.rowcount != 1:
        raise NotFound("no client with this id")


class RevokedClients:
    """The ids of revoked clients as the store records them, re-read every ``refresh`` s.

    Security decision: the revocation store (Redis, or process memory when embedded)
    answers at once but can forget: Redis restarted without persistence, a process
    restarted. The store's client table never forgets, so every token check also asks
    this set. A revocation therefore holds through such a loss, at most ``refresh``
    seconds late in other processes; an unreachable store raises (fail closed).
    """

    def __init__(self, engine: AsyncEngine, *, refresh: float = 2.0) -> None:
        self._engine = engine
        self._refresh = refresh
        self._ids: frozenset[str] = frozenset()
        self._loaded_at: float | None = None
        self._reloading: asyncio.Task[None] | None = None

    async def contains(self, client_id: str) -> bool:
        now = time.monotonic()
        if self._loaded_at is None:
            await self._load()
        elif now - self._loaded_at > self._refresh:
            # One reload at a time, awaited by its requests alone: concurrent requests
            # use the set just read instead of each querying the store again.
            if self._reloading is None or self._reloading.done():
                self._reloading = asyncio.get_running_loop().create_task(self._load())
            await asyncio.shield(self._reloading)
        return client_id in self._ids

    async def _load(self) -> None:
        started = time.monotonic()
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(store.clients.c.client_id).where(store.clients.c.status == "revoked")
            )
            self._ids = frozenset(str(r[0]) for r in rows)
        self._loaded_at = started


async def list_clients(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(store.clients).order_by(store.clients.c.agency))).all()
    return [
        {
            "client_id": r.client_id,
            "name": r.name,
            "agency": r.agency,
            "scopes": r.scopes.split(),
            "status": r.status,
            "created_at": r.created_at.isoformat() if r.created_at else None,
            "rotated_at": r.rotated_at.isoformat() if r.rotated_at else None,
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        }
        for r in rows
    ]
