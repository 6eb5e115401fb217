"""``private_key_jwt`` client authentication (RFC 7523 §2.2, OpenID Connect Core §9).

A client whose public keys are registered (an inline JWKS or a JWKS URL, changed only through a
proposal a second person approves: ``gateway.admin.proposals``) proves itself with a short-lived
JWT signed by its private key instead of a shared secret: ``iss`` and ``sub`` its client
id, ``aud`` the gateway's issuer or token endpoint, ``exp`` at most five minutes ahead,
and a ``jti`` used once (remembered in Redis across replicas, in this process when
embedded). joserfc checks the signature; asymmetric algorithms only.

The check is asynchronous (the replay store), so it runs before authlib's grant, which
then accepts the client through the ``private_key_jwt`` method registered here only if
this check vouched for that very client in this request.
"""

from __future__ import annotations

import contextvars
import json
import time
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidClientError
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.identity.client_jwks import RemoteJwks, checked_jwks_uri
from gateway.identity.officers import JtiGuard
from gateway.platform import store
from gateway.platform.errors import InvalidRequest, NotFound

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# FAPI 2.0's algorithms (Security Profile §5.4), as for DPoP proofs.
ALGORITHMS = ["ES256", "EdDSA", "PS256"]
MAX_LIFETIME = 300
MAX_KEYS = 5
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class _AssertionRegistry(jws.JWSRegistry):
    max_header_length = 1024


_REGISTRY = _AssertionRegistry(algorithms=ALGORITHMS)

# The client id whose assertion was verified for the request being handled.
_vouched: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "satugate_client_assertion", default=None
)


class AssertionRefused(Exception):
    """The assertion does not authenticate the client (the reason stays in the log)."""


def checked_key_source(jwks: Any, jwks_uri: Any, *, http_loopback: bool) -> str:
    """What is stored for a client's keys: its inline JWKS, or ``{"jwks_uri": URL}``
    (``gateway.identity.client_jwks``); exactly one of the two."""
    if (jwks is None) == (jwks_uri is None):
        raise InvalidRequest("a client registers either jwks or jwks_uri")
    if jwks is not None:
        return checked_jwks(jwks)
    uri = checked_jwks_uri(jwks_uri, http_loopback=http_loopback)
    return json.dumps({"jwks_uri": uri}, separators=(",", ":"))


def checked_jwks(value: Any) -> str:
    """A client's JWKS as stored: public asymmetric keys with a ``kid``, at most five."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise InvalidRequest("jwks is a JSON Web Key Set: an object with keys")
    keys = value["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidRequest(f"a client registers 1 to {MAX_KEYS} keys")
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in ("EC", "RSA", "OKP"):
            raise InvalidRequest("each key is an EC, RSA or OKP public key")
        if _PRIVATE_MEMBERS & set(key):
            raise InvalidRequest("a client registers public keys only, never a private part")
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise InvalidRequest("each key has a kid")
    try:
        KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidRequest("a key of the set is malformed") from exc
    return json.dumps({"keys": keys}, sort_keys=True, separators=(",", ":"))


async def set_keys(
    engine: AsyncEngine,
    client_id: str,
    jwks: str,
    *,
    secrets_disabled: bool,
    dpop_required: bool = False,
) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(store.clients)
            .where(store.clients.c.client_id == client_id, store.clients.c.status == "active")
            .values(jwks=jwks, secrets_disabled=secrets_disabled, dpop_required=dpop_required)
        )
    if result.rowcount != 1:
        raise NotFound("no active client with this id")


def assertion_subject(assertion: str) -> str | None:
    """The client id an assertion claims (``sub``), read before it is verified: only to
    find the client whose keys verify it."""
    try:
        claims = json.loads(
            jws.extract_compact(assertion.encode("ascii"), registry=_REGISTRY).payload
        )
    except (JoseError, ValueError, TypeError, UnicodeError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) and 0 < len(sub) <= 64 else None


class AssertionChecker:
    def __init__(
        self, guard: JtiGuard, *, audiences: tuple[str, ...], remote: RemoteJwks | None = None
    ) -> None:
        self.guard = guard
        self._audiences = audiences
        self.remote = remote

    async def _keys(self, assertion: str, stored: str) -> KeySet:
        source = json.loads(stored)
        uri = source.get("jwks_uri") if isinstance(source, dict) else None
        if uri is None:
            return KeySet.import_key_set(source)
        if self.remote is None:
            raise AssertionRefused("the client's keys are at a URL this gateway does not fetch")
        kid = jws.extract_compact(assertion.encode("ascii"), registry=_REGISTRY).headers()
        keys = await self.remote.keys(uri, kid.get("kid"))
        if keys is None:
            raise AssertionRefused("the client's key set cannot be fetched")
        return keys

    async def verify(self, assertion: str, *, client_id: str, jwks: str | None) -> None:
        """Raise ``AssertionRefused`` unless the assertion authenticates ``client_id``."""
        if not jwks:
            raise AssertionRefused("the client has no registered keys")
        if len(assertion) > 8192 or assertion.count(".") != 2:
            raise AssertionRefused("malformed")
        try:
            keys = await self._keys(assertion, jwks)
            decoded = jwt.decode(assertion, keys, algorithms=ALGORITHMS, registry=_REGISTRY)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise AssertionRefused("signature") from exc
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=5,
            iss={"essential": True, "value": client_id},
            sub={"essential": True, "value": client_id},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise AssertionRefused(f"claims: {exc.error}") from exc
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if not any(a in self._audiences for a in audiences):
            raise AssertionRefused("audience")
        now = time.time()
        exp, iat = claims["exp"], claims.get("iat", now)
        if not isinstance(exp, int | float) or exp - now > MAX_LIFETIME:
            raise AssertionRefused("lifetime")
        if not isinstance(iat, int | float) or iat - now > 5:
            raise AssertionRefused("issued in the future")
        jti = claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= 128:
            raise AssertionRefused("jti")
        ttl = int(max(exp - now, 0)) + 10
        if not await self.guard.first_use(f"{client_id}:{jti}", ttl):
            raise AssertionRefused("replayed")

    def vouch(self, client_id: str | None) -> contextvars.Token[str | None]:
        return _vouched.set(client_id)

    @staticmethod
    def reset(token: contextvars.Token[str | None]) -> None:
        _vouched.reset(token)


def authenticate_private_key_jwt(query_client: Any, request: Any) -> Any:
    """authlib's client authentication method ``private_key_jwt``: the client the
    asynchronous check vouched for in this request, or none."""
    form = request.form
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        return None
    client_id = _vouched.get()
    if client_id is None:
        raise InvalidClientError(description="the client assertion is not valid")
    client = query_client(client_id)
    if client is None or not client.check_endpoint_auth_method("private_key_jwt", "token"):
        raise InvalidClientError(description="the client assertion is not valid")
    return client
