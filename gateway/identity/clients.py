"""OAuth2 clients of the agencies: create (the secret is shown once), rotate, revoke.

These functions change the store and nothing else; who may ask for a change, who must
approve it and its audit event are ``gateway.admin.proposals``'s business.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.identity.oauth import SCOPES, hash_secret, new_client_id, new_secret, secret_generation
from gateway.identity.tokens import Principal
from gateway.platform import store
from gateway.platform.errors import GatewayError, InvalidRequest, NotFound

# Scopes that must stand alone on a client: an administrator or an auditor never holds
# a data scope, and no client both administers and audits.
ROLE_SCOPES = ("admin", "audit")


class ScopeSeparation(GatewayError):
    status = 422
    code = "scope_separation"
    title = "admin and audit each stand alone on a client"


@dataclass(frozen=True)
class NewCredentials:
    client_id: str
    client_secret: str


def check_scopes(scopes: Sequence[str]) -> str:
    """The scopes as stored (space-separated), or a refusal.

    Security decision: ``admin`` and ``audit`` each stand alone. A client that held a data
    scope beside ``admin`` would let an administrator read residents; one that held
    ``audit`` beside ``admin`` would let one person grant and use audit access.
    """
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidRequest(f"scopes must be among {', '.join(SCOPES)}")
    held = set(scopes)
    if held & set(ROLE_SCOPES) and len(held) > 1:
        raise ScopeSeparation(
            "a client with admin or audit holds that scope alone: no data scope beside it, "
            "and never both"
        )
    return " ".join(dict.fromkeys(scopes))


def role_scope(scopes: Sequence[str]) -> str | None:
    """``admin`` or ``audit`` when the client holds one of them (then it holds only it)."""
    return next((s for s in ROLE_SCOPES if s in scopes), None)


async def create_client(
    engine: AsyncEngine,
    *,
    name: str,
    agency: str,
    scopes: Sequence[str],
    client_id: str | None = None,
    person: str | None = None,
) -> NewCredentials:
    """Create an active client. ``person``: the registered person an ``admin`` or
    ``audit`` client acts for (required for those, refused for the others)."""
    stored_scopes = check_scopes(scopes)
    if (role_scope(scopes) is None) != (person is None):
        raise InvalidRequest("an admin or audit client names its person; no other client does")
    secret = new_secret()
    cid = client_id or new_client_id(agency)
    async with engine.begin() as conn:
        await conn.execute(
            insert(store.clients).values(
                client_id=cid,
                name=name,
                agency=agency,
                scopes=stored_scopes,
                secret_hash=hash_secret(secret),
                status="active",
                created_at=store.utcnow(),
                person=person,
            )
        )
    return NewCredentials(cid, secret)


async def get_client(engine: AsyncEngine, client_id: str) -> dict[str, Any] | None:
    """One client as ``list_clients`` shows it, with its secret generation."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(store.clients).where(store.clients.c.client_id == client_id))
        ).first()
    if row is None:
        return None
    return {**_listed(row), "generation": secret_generation(row.secret_hash)}


async def add_scopes(engine: AsyncEngine, client_id: str, scopes: Sequence[str]) -> list[str]:
    """Give an active client more scopes; the separation of roles is checked on the whole."""
    client = await get_client(engine, client_id)
    if client is None or client["status"] != "active":
        raise NotFound("no active client with this id")
    combined = list(dict.fromkeys([*client["scopes"], *scopes]))
    stored = check_scopes(combined)
    async with engine.begin() as conn:
        await conn.execute(
            update(store.clients)
            .where(store.clients.c.client_id == client_id, store.clients.c.status == "active")
            .values(scopes=stored)
        )
    return combined


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


async def bind_person(engine: AsyncEngine, client_id: str, person: str | None) -> None:
    """Bind a client to its person (the demo's seeding, which is its own operator)."""
    async with engine.begin() as conn:
        await conn.execute(
            update(store.clients)
            .where(store.clients.c.client_id == client_id)
            .values(person=person)
        )


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
        self.refresh_seconds = refresh
        self._ids: frozenset[str] = frozenset()
        self._generations: dict[str, str] = {}
        self._loaded_at: float | None = None  # time.monotonic() when the last load began
        self._loaded_wall = 0.0
        self._loading = asyncio.Lock()

    async def refuses(self, principal: Principal) -> bool:
        """Whether the token's client is revoked, or its secret was rotated since the
        token was issued (the token names a generation that is no longer the client's)."""
        if await self.contains(principal.client_id):
            return True
        if not self._rotated_since(principal):
            return False
        # A token issued after the set was read may carry a generation newer than the
        # set knows: read again (once, shared) before refusing it. An old token cannot
        # make us read again: it was issued before the set it is refused by.
        if principal.issued_at + 1 >= self._loaded_wall:
            await self._reload(begun_after=time.monotonic())
        return self._rotated_since(principal)

    def _rotated_since(self, principal: Principal) -> bool:
        current = self._generations.get(principal.client_id)
        return bool(principal.generation and current and current != principal.generation)

    async def reload(self) -> None:
        """Read the set again (the app's lifespan calls this every half ``refresh``
        seconds: ``Services.start_refreshers``)."""
        await self._reload(begun_after=time.monotonic())

    async def _reload(self, *, begun_after: float) -> None:
        """Read the set unless a read that began at ``begun_after`` or later has completed
        meanwhile: one read at a time, and concurrent callers share it."""
        async with self._loading:
            if self._loaded_at is None or self._loaded_at < begun_after:
                await self._load()

    async def contains(self, client_id: str) -> bool:
        """Whether the client is revoked, by a set at most ``refresh`` seconds old. The
        lifespan's reloads keep it fresher than that; when they fall behind (the store is
        down, or no lifespan runs) the caller reads it, and an unreachable store raises."""
        loaded_at = self._loaded_at
        if loaded_at is None or time.monotonic() - loaded_at > self.refresh_seconds:
            await self._reload(begun_after=time.monotonic() - self.refresh_seconds)
        return client_id in self._ids

    async def _load(self) -> None:
        started, wall = time.monotonic(), time.time()
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        store.clients.c.client_id,
                        store.clients.c.status,
                        store.clients.c.secret_hash,
                    )
                )
            ).all()
        self._ids = frozenset(str(r.client_id) for r in rows if r.status == "revoked")
        self._generations = {str(r.client_id): secret_generation(r.secret_hash) for r in rows}
        self._loaded_at, self._loaded_wall = started, wall


async def list_clients(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(store.clients).order_by(store.clients.c.agency))).all()
    return [_listed(r) for r in rows]


def _listed(r: Any) -> dict[str, Any]:
    return {
        "client_id": r.client_id,
        "name": r.name,
        "agency": r.agency,
        "scopes": r.scopes.split(),
        "person": r.person,
        "status": r.status,
        "created_at": r.created_at.isoformat() if r.created_at else None,
        "rotated_at": r.rotated_at.isoformat() if r.rotated_at else None,
        "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
    }
