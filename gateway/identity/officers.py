"""Officers: the person in an agency system a call is made for, made accountable.

Every call names its officer (``X-On-Behalf-Of``). The id is normalised (lower case,
``-`` and ``_`` read as ``.``) and validated, so that ``RATE.A``, ``rate-a`` and
``rate.a`` are one officer with one limit, and ``rate.a.`` is refused. An agency can be
configured (``SATUGATE_OFFICERS_FILE``) so that its officers must be

* ``registered``: on the list the agency registered at the gateway, or
* ``assertion``: vouched for by the agency, call by call, with a short-lived JWT
  (``X-Officer-Assertion``, RFC 7519) signed by a key the agency registered: header
  ``typ`` ``officer+jwt`` and an asymmetric ``alg`` (ES256 or EdDSA, RFC 8725 §3.1, 3.11),
  claims ``iss`` the agency, ``sub`` the officer, ``aud`` the gateway's issuer, ``exp``
  at most five minutes after ``iat``, and a ``jti`` used once only (replays refused).

The file is YAML::

    agencies:
      dinsos: {mode: registered, officers: [ani, budi.s]}
      dinkes: {mode: assertion, keys: [{kty: EC, crv: P-256, x: ..., y: ..., kid: k1}]}

Agencies not named stay ``open``: any well-formed officer id, with its own limits and the
client's limits over all of them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.platform.errors import GatewayError, RateLimiterUnavailable

OFFICER_RE = re.compile(r"[a-z0-9]+(?:[.@:][a-z0-9]+)*")
OFFICER_MAX = 128
ASSERTION_TYP = "officer+jwt"
ASSERTION_ALGORITHMS = ["ES256", "EdDSA"]
ASSERTION_MAX_SECONDS = 300
ASSERTION_MAX_BYTES = 4096
MODES = ("open", "registered", "assertion")


def normalise_officer(raw: str | None) -> str | None:
    """The officer's canonical id, or ``None`` when it is not a well-formed one."""
    if raw is None or not 0 < len(raw) <= OFFICER_MAX or not raw.isascii():
        return None
    value = raw.lower().replace("-", ".").replace("_", ".")
    return value if OFFICER_RE.fullmatch(value) else None


class OfficerNotRegistered(GatewayError):
    status = 403
    code = "officer_not_registered"
    title = "The officer is not registered for this agency"


class OfficerAssertionInvalid(GatewayError):
    status = 403
    code = "officer_assertion_invalid"
    title = "The officer assertion is missing or not valid"


@dataclass(frozen=True)
class AgencyOfficers:
    mode: str
    officers: frozenset[str] = frozenset()
    keys: KeySet | None = None


class JtiGuard:
    """Remembers assertion ids until they expire: in Redis (shared by every replica)
    when configured, else in this process."""

    def __init__(self, redis: Redis | None = None, *, prefix: str = "satugate:oa:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._seen: dict[str, float] = {}

    async def first_use(self, key: str, ttl: int) -> bool:
        if self._redis is not None:
            try:
                return bool(await self._redis.set(self._prefix + key, b"1", nx=True, ex=ttl))
            except RedisError as exc:  # fail closed, as the rate limits do
                raise RateLimiterUnavailable("the assertion replay store is unreachable") from exc
        now = time.time()
        if len(self._seen) > 10_000:
            self._seen = {k: t for k, t in self._seen.items() if t > now}
        if self._seen.get(key, 0.0) > now:
            return False
        self._seen[key] = now + ttl
        return True

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


class OfficerRegistry:
    def __init__(
        self, agencies: Mapping[str, AgencyOfficers], *, audience: str, guard: JtiGuard
    ) -> None:
        self._agencies = dict(agencies)
        self._audience = audience
        self._guard = guard

    @classmethod
    def from_file(cls, path: Path | None, *, audience: str, guard: JtiGuard) -> OfficerRegistry:
        agencies: dict[str, AgencyOfficers] = {}
        if path is not None:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for agency, spec in (raw.get("agencies") or {}).items():
                agencies[str(agency)] = parse_agency(spec)
        return cls(agencies, audience=audience, guard=guard)

    def configured(self, agency: str) -> AgencyOfficers | None:
        return self._agencies.get(agency)

    async def check(self, agency: str, officer: str, assertion: str | None) -> None:
        """Raise unless ``officer`` (normalised) may act for ``agency`` on this call."""
        rule = self._agencies.get(agency)
        if rule is None or rule.mode == "open":
            return
        if rule.mode == "registered":
            if officer not in rule.officers:
                raise OfficerNotRegistered("the officer is not on the agency's registered list")
            return
        await self._check_assertion(agency, officer, assertion, rule)

    async def _check_assertion(
        self, agency: str, officer: str, assertion: str | None, rule: AgencyOfficers
    ) -> None:
        if not assertion or len(assertion) > ASSERTION_MAX_BYTES or assertion.count(".") != 2:
            raise OfficerAssertionInvalid("X-Officer-Assertion is required for this agency")
        assert rule.keys is not None
        try:
            decoded = jwt.decode(assertion, rule.keys, algorithms=ASSERTION_ALGORITHMS)
            if decoded.header.get("typ") != ASSERTION_TYP:
                raise OfficerAssertionInvalid("the assertion is not an officer+jwt")
            jwt.JWTClaimsRegistry(
                leeway=30,
                iss={"essential": True, "value": agency},
                aud={"essential": True, "value": self._audience},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                jti={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OfficerAssertionInvalid("the officer assertion is not valid") from exc
        claims = decoded.claims
        lifetime = int(claims["exp"]) - int(claims["iat"])
        if not 0 < lifetime <= ASSERTION_MAX_SECONDS:
            raise OfficerAssertionInvalid("an officer assertion lives at most five minutes")
        if normalise_officer(str(claims["sub"])) != officer:
            raise OfficerAssertionInvalid("the assertion is for another officer")
        jti = str(claims["jti"])
        if not 0 < len(jti) <= 128:
            raise OfficerAssertionInvalid("the assertion's jti is malformed")
        ttl = max(1, int(claims["exp"]) - int(time.time()) + 31)
        if not await self._guard.first_use(f"{agency}:{jti}", ttl):
            raise OfficerAssertionInvalid("the assertion has been used before")

    async def aclose(self) -> None:
        await self._guard.aclose()


def parse_agency(spec: Any) -> AgencyOfficers:
    if not isinstance(spec, Mapping) or spec.get("mode") not in MODES:
        raise ValueError(f"an agency's officers need a mode among {MODES}")
    mode = str(spec["mode"])
    if mode == "registered":
        officers = [normalise_officer(str(o)) for o in spec.get("officers") or ()]
        if not officers or None in officers:
            raise ValueError("a registered list needs well-formed officer ids")
        return AgencyOfficers(mode, frozenset(o for o in officers if o))
    if mode == "assertion":
        keys = spec.get("keys") or []
        if not keys or any("d" in k for k in keys):
            raise ValueError("an assertion agency registers public keys only")
        return AgencyOfficers(mode, keys=KeySet.import_key_set({"keys": list(keys)}))
    return AgencyOfficers(mode)
