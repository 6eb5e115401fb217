"""Access-token verification, fail closed, cached per token until it expires.

Only ES256 and RS256 are accepted, each only with a key of its kind (no ``none``, no
HMAC: a public key can never be used as a shared secret), the ``kid`` must name one of
our keys, the ``typ`` must be ``at+jwt``, and
``iss``, ``aud``, ``exp``, ``nbf``, ``iat``, ``jti`` are all required. A verified token's
claims are cached until its expiry, so a busy client pays for the signature once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OctKey, OKPKey, RSAKey

from gateway.platform.errors import InvalidToken

ALGORITHMS = ["ES256", "RS256"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an OAuth2 client of one agency, with its granted scopes."""

    client_id: str
    agency: str
    scopes: frozenset[str]
    jti: str
    expires_at: int
    # The client's secret generation when the token was issued: a rotation revokes it.
    generation: str = ""
    issued_at: int = 0
    # RFC 9449: the thumbprint of the key the token is bound to ("" for a bearer token).
    jkt: str = ""

    def has(self, scope: str) -> bool:
        return scope in self.scopes


class TokenVerifier:
    def __init__(
        self,
        keys: Sequence[ECKey | RSAKey],
        *,
        issuer: str,
        audience: str,
        cache_size: int = 10_000,
    ) -> None:
        verification_keys: list[OctKey | RSAKey | ECKey | OKPKey] = list(keys)
        self._keys = KeySet(verification_keys)
        self._kids = {k.kid for k in keys}
        self._issuer = issuer
        self._audience = audience
        self._registry = jwt.JWTClaimsRegistry(
            leeway=30,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            nbf={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
            agency={"essential": True},
        )
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, token: str) -> Principal:
        now = int(time.time())
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > now:
                self._cache.move_to_end(token)
                return cached
            del self._cache[token]
        principal = self._verify(token)
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    def _verify(self, token: str) -> Principal:
        if len(token) > 4096 or token.count(".") != 2:
            raise InvalidToken("the access token is malformed")
        try:
            decoded = jwt.decode(token, self._keys, algorithms=ALGORITHMS)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken("the access token signature or format is invalid") from exc
        header = decoded.header
        if header.get("kid") not in self._kids or header.get("typ") != "at+jwt":
            raise InvalidToken("the access token was not issued by this gateway")
        try:
            self._registry.validate(decoded.claims)
        except JoseError as exc:
            raise InvalidToken(f"the access token is not valid: {exc.error}") from exc
        claims = decoded.claims
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidToken("the access token's scope is malformed")
        cnf = claims.get("cnf", {})
        jkt = cnf.get("jkt", "") if isinstance(cnf, dict) else None
        if not isinstance(jkt, str):
            raise InvalidToken("the access token's confirmation is malformed")
        return Principal(
            client_id=str(claims["client_id"]),
            agency=str(claims["agency"]),
            scopes=frozenset(scope.split()),
            jti=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            generation=str(claims.get("gen", "")),
            issued_at=int(claims["iat"]),
            jkt=jkt,
        )
