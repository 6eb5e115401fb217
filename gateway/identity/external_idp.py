"""Access tokens issued by an external identity provider (the city's Keycloak, say).

``SATUGATE_EXTERNAL_ISSUERS`` names each trusted issuer: its ``issuer``, where its keys
are (``jwks_uri``, or found by OpenID Connect discovery at
``{issuer}/.well-known/openid-configuration``), the ``audience`` its tokens must carry
for the gateway, and the ``client_claim`` that names a client registered here. Such a
token is verified with joserfc against the issuer's keys (asymmetric algorithms only);
the registered client gives its agency, and its registered scopes bound what the token's
``scope`` may grant. Keys are cached, and fetched again when a token names an unknown
``kid`` (at most once per ``REFRESH_SECONDS``, so forged kids cannot make the gateway
hammer the issuer).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.identity.client_jwks import read_capped
from gateway.identity.oauth import secret_generation
from gateway.identity.tokens import Principal
from gateway.platform import store
from gateway.platform.errors import InvalidToken
from gateway.platform.settings import ExternalIssuer

ALGORITHMS = ["ES256", "ES384", "RS256", "PS256", "EdDSA"]
REFRESH_SECONDS = 30.0


class _Registry(jws.JWSRegistry):
    max_header_length = 1024


_REGISTRY = _Registry(algorithms=ALGORITHMS)


def issuer_of(token: str) -> str | None:
    """The ``iss`` a token claims, read before verification (to pick its keys only)."""
    try:
        payload = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY).payload
        claims = json.loads(payload)
    except (JoseError, ValueError, TypeError, UnicodeError):
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None


@dataclass
class _Keys:
    keys: KeySet | None = None
    kids: frozenset[str] = frozenset()
    fetched_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ExternalVerifier:
    def __init__(
        self, issuers: list[ExternalIssuer], engine: AsyncEngine, *, timeout: float = 3.0
    ) -> None:
        self._issuers = {i.issuer.rstrip("/"): i for i in issuers}
        self._keys = {name: _Keys() for name in self._issuers}
        self._engine = engine
        self._timeout = timeout
        self.refresh_seconds = REFRESH_SECONDS

    def trusts(self, issuer: str | None) -> bool:
        return issuer is not None and issuer.rstrip("/") in self._issuers

    async def verify(self, token: str) -> Principal:
        iss = issuer_of(token)
        if iss is None or not self.trusts(iss):
            raise InvalidToken("the access token was not issued by a trusted issuer")
        config = self._issuers[iss.rstrip("/")]
        try:
            header = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY).headers()
        except (JoseError, ValueError, TypeError, UnicodeError) as exc:
            raise InvalidToken("the access token is malformed") from exc
        keys = await self._keyset(config, header.get("kid"))
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS, registry=_REGISTRY)
            jwt.JWTClaimsRegistry(
                leeway=30,
                iss={"essential": True, "value": iss},
                aud={"essential": True, "value": config.audience},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken("the external access token is not valid") from exc
        claims = decoded.claims
        client_id = claims.get(config.client_claim)
        if not isinstance(client_id, str) or not 0 < len(client_id) <= 64:
            raise InvalidToken("the external access token names no client")
        return await self._principal(client_id, claims, token)

    async def _principal(self, client_id: str, claims: dict[str, Any], token: str) -> Principal:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(store.clients).where(store.clients.c.client_id == client_id)
                )
            ).first()
        if row is None or row.status != "active":
            raise InvalidToken("the external access token's client is not registered here")
        registered = set(row.scopes.split())
        if registered & {"admin", "audit"}:
            raise InvalidToken("an admin or audit client takes its tokens from this gateway")
        scope = claims.get("scope", "")
        asked = set(scope.split()) if isinstance(scope, str) else set()
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            digest = hashlib.sha256(token.encode("ascii")).digest()[:16]
            jti = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return Principal(
            client_id=client_id,
            agency=row.agency,
            scopes=frozenset(asked & registered),
            jti=f"ext:{jti}",
            expires_at=int(claims["exp"]),
            generation=secret_generation(row.secret_hash),
            issued_at=int(claims.get("iat", 0) or 0),
        )

    async def _keyset(self, config: ExternalIssuer, kid: object) -> KeySet:
        state = self._keys[config.issuer.rstrip("/")]
        stale = state.keys is None or (isinstance(kid, str) and kid not in state.kids)
        if stale and time.monotonic() - state.fetched_at >= self.refresh_seconds:
            async with state.lock:
                if state.keys is None or (isinstance(kid, str) and kid not in state.kids):
                    await self._fetch(config, state)
        if state.keys is None:
            raise InvalidToken("the issuer's keys cannot be fetched now")
        return state.keys

    async def _fetch(self, config: ExternalIssuer, state: _Keys) -> None:
        state.fetched_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                uri = config.jwks_uri
                if uri is None:
                    discovery = f"{config.issuer.rstrip('/')}/.well-known/openid-configuration"
                    meta = json.loads(await read_capped(client, discovery))
                    uri = meta.get("jwks_uri") if isinstance(meta, dict) else None
                    if not isinstance(uri, str):
                        return
                data = json.loads(await read_capped(client, uri))
            public = [k for k in data.get("keys", []) if isinstance(k, dict) and "d" not in k]
            state.keys = KeySet.import_key_set({"keys": public})
            state.kids = frozenset(k["kid"] for k in public if isinstance(k.get("kid"), str))
        except (httpx.HTTPError, ValueError, TypeError, KeyError, JoseError, AttributeError):
            return  # the cached keys, if any, stay in use
