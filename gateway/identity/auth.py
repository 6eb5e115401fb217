"""Authorization as typed dependencies that fail closed.

A route declares the scope it needs; the dependency returns a ``Principal`` or raises a
401/403 before any handler code runs. A missing or malformed header, an unknown key, an
expired or revoked token, a revoked client: all end here.

A token's revocation is settled here too: in the revocation store's mirror in this
process when the mirror vouches for itself (``gateway.identity.revocation``), which costs
no round trip; otherwise in one round trip to Redis, and an unreachable Redis is a 503
(fail closed). When a handler runs, the token, its client and their revocation are
checked; nothing later asks again but the audit recorder's look at the mirror, for a
revocation that lands while the call is under way (``gateway.auditing.recorder``).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from gateway.identity.dpop import InvalidDpopProof
from gateway.identity.external_idp import issuer_of
from gateway.identity.revocation import StoreUnavailable
from gateway.identity.tokens import Principal
from gateway.platform.errors import (
    AuditUnavailable,
    GatewayError,
    InsufficientScope,
    InvalidToken,
    RateLimiterUnavailable,
    Unauthenticated,
    bearer_challenge,
)
from gateway.platform.services import Services, dpop_of

BEARER_CHALLENGE = {"WWW-Authenticate": bearer_challenge()}
# RFC 6750 §3.1: a token that was sent and is not good says so.
INVALID_TOKEN_CHALLENGE = {"WWW-Authenticate": bearer_challenge("invalid_token")}


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def authenticate(request: Request) -> Principal:
    return await _authenticate(request)


async def authenticate_call(request: Request, scope: str) -> Principal:
    """``require(scope)`` for a resident call. A revoked token hears 401 before it hears
    that it lacks the scope; without the scope, ``InsufficientScope`` is raised after
    ``request.state.principal`` is set, so that the refusal can be recorded."""
    principal = await _authenticate(request)
    if not principal.has(scope):
        raise InsufficientScope(scope=scope)
    return principal


async def _authenticate(request: Request) -> Principal:
    services = get_services(request)
    header = request.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        token, bound = header[7:].strip(), False
    elif header and header[:5].lower() == "dpop ":
        token, bound = header[5:].strip(), True
    else:
        services.metrics.count_unauthenticated("missing_token")
        raise Unauthenticated("a bearer access token is required", headers=BEARER_CHALLENGE)
    try:
        principal = services.verifier.verify(token)
    except InvalidToken as exc:
        principal = await _external(services, token, exc)
    if bound or principal.jkt:  # a plain bearer token pays nothing more
        await _check_dpop(request, services, token, principal, bound=bound)
    elif services.dpop is not None and services.dpop.required:
        # A deployment that requires DPoP takes no bearer token, not even one issued
        # before the switch or by an external issuer.
        raise InvalidToken("this gateway accepts only DPoP-bound tokens",
                           headers={"WWW-Authenticate": bearer_challenge(
                               "invalid_token", scheme="DPoP")})  # fmt: skip
    await check_revocation(services, principal)
    if services.revoked_clients is not None:
        # The store's record outlives a Redis (or process) that forgot the revocation.
        try:
            revoked = await services.revoked_clients.refuses(principal)
        except (SQLAlchemyError, OSError) as exc:  # the store is down: so is the audit log
            raise AuditUnavailable() from exc
        if revoked:
            raise revoked_token(services)
    request.state.principal = principal
    return principal


async def _external(services: Services, token: str, refused: GatewayError) -> Principal:
    """A token of a trusted external issuer (``gateway.identity.external_idp``), else the
    refusal."""
    external = services.external
    try:
        if external is None or not external.trusts(issuer_of(token)):
            raise refused
        return await external.verify(token)
    except InvalidToken as exc:
        services.metrics.count_unauthenticated("invalid_token")
        exc.headers = INVALID_TOKEN_CHALLENGE
        raise


async def _check_dpop(
    request: Request, services: Services, token: str, principal: Principal, *, bound: bool
) -> None:
    """RFC 9449 §7: a DPoP-bound token comes with the DPoP scheme and a proof of its key
    for this very call; the DPoP scheme with an unbound token is refused too."""
    if not (bound and principal.jkt):
        services.metrics.count_unauthenticated("invalid_token")
        detail = (
            "a DPoP-bound token must be sent with the DPoP scheme and a proof"
            if principal.jkt
            else "the access token is not bound to a DPoP key"
        )
        raise InvalidToken(detail, headers={"WWW-Authenticate": bearer_challenge(
            "invalid_token", scheme="DPoP")})  # fmt: skip
    url = services.settings.issuer + request.url.path
    verifier = dpop_of(services)
    try:
        jkt = await verifier.check(
            request.headers.get("dpop"), method=request.method, url=url, access_token=token
        )
    except GatewayError:
        services.metrics.count_unauthenticated("invalid_dpop_proof")
        raise
    if not hmac.compare_digest(jkt, principal.jkt):
        services.metrics.count_unauthenticated("invalid_dpop_proof")
        raise InvalidDpopProof("the DPoP proof is not signed by the token's key")
    if verifier.nonce_required:
        # RFC 9449 §8.2: the answer carries the nonce for the next proof (the middleware
        # adds it as DPoP-Nonce), so a client never needs a refusal to learn a new one.
        request.scope["state"]["dpop_nonce"] = verifier.nonce()


async def check_revocation(services: Services, principal: Principal) -> None:
    """Raise 401 when the revocation store has the token or its client, 503 when the
    store cannot be asked (fail closed: no data without the check). The mirror answers
    when it can vouch for itself, with no round trip; Redis otherwise."""
    revoked = services.revocation.known_verdict(
        principal.jti, client_id=principal.client_id, generation=principal.generation
    )
    if revoked is None:
        revoked = await _asked(services, principal)
    if revoked:
        raise revoked_token(services)


async def _asked(services: Services, principal: Principal) -> bool:
    """The revocation store's own answer for the token (Redis, when configured)."""
    try:
        return await services.revocation.is_revoked(
            principal.jti, client_id=principal.client_id, generation=principal.generation
        )
    except StoreUnavailable as exc:
        raise RateLimiterUnavailable("the token revocation store is unreachable") from exc


def revoked_token(services: Services) -> InvalidToken:
    """The 401 for a revoked token or client, counted."""
    services.metrics.count_unauthenticated("revoked")
    return InvalidToken(
        "the access token or its client has been revoked", headers=INVALID_TOKEN_CHALLENGE
    )


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.has(scope):
            raise InsufficientScope(scope=scope)
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency
