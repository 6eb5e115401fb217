"""Key management: every data key is generated here and stored only wrapped.

The master key (32 bytes, from ``SATUGATE_MASTER_KEY_FILE``) wraps all data keys with
AES key wrap with padding (RFC 5649). Unwrapped keys live only in this process's memory,
cached, and are never logged or returned: ``SecretKey`` refuses to print.

Purposes:
- ``pseudonym`` per agency domain, 64-byte AES-SIV keys, versioned for rotation;
- ``audit-blind`` the HMAC key of the audit log's subject blind index;
- ``checkpoint`` the Ed25519 key that signs audit checkpoints;
- ``jwt`` the ES256 key that signs access tokens.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)
from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.platform import store

PSEUDONYM = "pseudonym"
AUDIT_BLIND = "audit-blind"
CHECKPOINT = "checkpoint"
JWT = "jwt"
# RS256 access-token keys (RFC 9068 §2.1), made once a deployment chooses RS256.
JWT_RSA = "jwt-rs256"
GLOBAL = "_"


class KeyError_(Exception):
    """A key problem the operator must fix (wrong master key, retired version)."""


class SecretKey:
    """Key bytes that never print."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "SecretKey(***)"

    __str__ = __repr__


def load_master_key(path: Path) -> SecretKey:
    """Read the master key: 32 raw bytes or their base64 text."""
    raw = path.read_bytes()
    if len(raw) != 32:
        try:
            raw = base64.b64decode(raw.strip(), validate=True)
        except ValueError as exc:
            raise KeyError_("master key file is not 32 bytes nor base64 of 32 bytes") from exc
    if len(raw) != 32:
        raise KeyError_("master key must be 32 bytes")
    return SecretKey(raw)


def create_master_key_file(path: Path) -> None:
    """Create a new master key file readable only by its owner (demo and first install)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(secrets.token_bytes(32)) + b"\n")


def _new_material(purpose: str) -> bytes:
    if purpose == PSEUDONYM:
        return secrets.token_bytes(64)
    if purpose == AUDIT_BLIND:
        return secrets.token_bytes(32)
    if purpose == CHECKPOINT:
        return ed25519.Ed25519PrivateKey.generate().private_bytes_raw()
    if purpose == JWT:
        return ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    if purpose == JWT_RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    raise ValueError(f"unknown key purpose {purpose!r}")


@dataclass
class _Versions:
    keys: dict[int, SecretKey]
    current: int


class KeyRing:
    """Wrapped keys in the gateway store, unwrapped once per process and cached.

    Cached versions are reloaded every ``ttl`` seconds (``reload_cached``, which the app's
    lifespan calls: ``Services.start_refreshers``) so that a rotation or retirement made
    by another process (the CLI, another replica) takes effect without a restart. The hot
    path reads the cache and never waits on the store once a key is loaded.
    """

    def __init__(self, engine: AsyncEngine, master: SecretKey, *, ttl: float = 10.0) -> None:
        self._engine = engine
        self._master = master
        self.ttl = ttl
        self._cache: dict[tuple[str, str], _Versions] = {}
        self._generation: dict[tuple[str, str], int] = {}

    def _wrap(self, material: bytes) -> bytes:
        return aes_key_wrap_with_padding(self._master.reveal(), material)

    def _unwrap(self, wrapped: bytes) -> SecretKey:
        try:
            return SecretKey(aes_key_unwrap_with_padding(self._master.reveal(), wrapped))
        except InvalidUnwrap as exc:
            raise KeyError_("a stored key does not unwrap: wrong master key?") from exc

    async def _load(self, purpose: str, domain: str) -> _Versions | None:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(store.keys.c.version, store.keys.c.wrapped).where(
                        and_(
                            store.keys.c.purpose == purpose,
                            store.keys.c.domain == domain,
                            store.keys.c.status == "active",
                        )
                    )
                )
            ).all()
        if not rows:
            return None
        versions = {int(r.version): self._unwrap(r.wrapped) for r in rows}
        return _Versions(keys=versions, current=max(versions))

    async def versions(self, purpose: str, domain: str = GLOBAL) -> _Versions:
        """Active versions of a key, creating version 1 when none exists; from the cache
        once loaded (``reload_cached`` keeps it current)."""
        cached = self._cache.get((purpose, domain))
        if cached is not None:
            return cached
        return await self._reload(purpose, domain)

    async def reload_cached(self) -> None:
        """Reload every cached key (the lifespan's refresh, every ``ttl`` seconds)."""
        for purpose, domain in list(self._cache):
            await self._reload(purpose, domain)

    async def _reload(self, purpose: str, domain: str) -> _Versions:
        key = (purpose, domain)
        generation = self._generation.get(key, 0)
        loaded = await self._load(purpose, domain)
        if loaded is None:
            await self._insert(purpose, domain, 1)
            loaded = await self._load(purpose, domain)
            assert loaded is not None
        # A load that began before this process rotated or retired a version must not
        # put the old versions back into the cache (a retired key would resolve again).
        if self._generation.get(key, 0) == generation:
            self._cache[key] = loaded
        return loaded

    def _changed(self, purpose: str, domain: str) -> None:
        key = (purpose, domain)
        self._generation[key] = self._generation.get(key, 0) + 1
        self._cache.pop(key, None)

    async def existing(self, purpose: str, domain: str = GLOBAL) -> _Versions | None:
        """Active versions of a key if there are any, without making one."""
        return await self._load(purpose, domain)

    async def refresh(self, purpose: str, domain: str = GLOBAL) -> _Versions:
        """Reload now (after a version the cache does not know was seen)."""
        return await self._reload(purpose, domain)

    async def current(self, purpose: str, domain: str = GLOBAL) -> SecretKey:
        v = await self.versions(purpose, domain)
        return v.keys[v.current]

    async def _insert(self, purpose: str, domain: str, version: int) -> bool:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(store.keys).values(
                        purpose=purpose,
                        domain=domain,
                        version=version,
                        wrapped=self._wrap(_new_material(purpose)),
                        status="active",
                        created_at=store.utcnow(),
                    )
                )
        except IntegrityError:
            return False  # another process created it first; theirs wins
        return True

    async def rotate(self, purpose: str, domain: str = GLOBAL) -> int:
        """Create the next version; new work uses it, old versions stay until retired."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(store.keys.c.version).where(
                        and_(store.keys.c.purpose == purpose, store.keys.c.domain == domain)
                    )
                )
            ).all()
        version = max((int(r.version) for r in rows), default=0) + 1
        if not await self._insert(purpose, domain, version):
            raise KeyError_("concurrent rotation; try again")
        self._changed(purpose, domain)
        return version

    async def retire(self, purpose: str, domain: str, version: int) -> None:
        """Retire one version: tokens made with it no longer resolve."""
        v = await self.versions(purpose, domain)
        if version == v.current:
            raise KeyError_("the current version cannot be retired; rotate first")
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(store.keys)
                .where(
                    and_(
                        store.keys.c.purpose == purpose,
                        store.keys.c.domain == domain,
                        store.keys.c.version == version,
                        store.keys.c.status == "active",
                    )
                )
                .values(status="retired", retired_at=store.utcnow())
            )
        if result.rowcount != 1:
            raise KeyError_(f"no active version {version} to retire")
        self._changed(purpose, domain)

    async def checkpoint_key(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.from_private_bytes(
            (await self.current(CHECKPOINT)).reveal()
        )

    async def jwt_key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_der_private_key((await self.current(JWT)).reveal(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key
