"""Authorization as typed dependencies that fail closed.

A route declares the scope it needs; the dependency returns a ``Principal`` or raises a
401/403 before any handler code runs. A missing or malformed header, an unknown key, an
expired or revoked token, a revoked client: all end here.

A token's revocation is checked in the revocation store's mirror in this process when
the mirror vouches for itself (``gateway.identity.revocation``), else in Redis. One exception, for
speed: a resident call may then leave its check to its rate-limit round trip, and no
event is recorded and no data released before that check (``authenticate_call``).
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
    principal, _ = await _authenticate(request, defer_revocation=False)
    return principal


async def authenticate_call(request: Request, scope: str) -> tuple[Principal, bool]:
    """``require(scope)`` for a resident call, and whether its revocation check is pending.

    Where the revocation store is the rate limiter's Redis and its mirror here cannot
    answer, the check of the token's revocation keys is left to the call's rate-limit
    round trip, which takes them as guard keys (``gateway.residents.enforce_rates``): one
    round trip instead of two.
    Pending, it must be done before the call records anything, allowed or refused, and
    so before any data leaves (``Call.record`` does it if the limiter has not).
    """
    principal, pending = await _authenticate(
        request, defer_revocation=get_services(request).revocation_rides_with_limits
    )
    if not principal.has(scope):
        if pending:  # a revoked token is told it is revoked, whatever it asks
            await check_revocation(get_services(request), principal)
        raise InsufficientScope(scope=scope)
    return principal, pending


async def _authenticate(request: Request, *, defer_revocation: bool) -> tuple[Principal, bool]:
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
    pending = await _checked_or_pending(services, principal, defer=defer_revocation)
    if services.revoked_clients is not None:
        # The store's record outlives a Redis (or process) that forgot the revocation.
        try:
            revoked = await services.revoked_clients.refuses(principal)
        except (SQLAlchemyError, OSError) as exc:  # the store is down: so is the audit log
            raise AuditUnavailable() from exc
        if revoked:
            raise revoked_token(services)
    request.state.principal = principal
    return principal, pending


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


async def _checked_or_pending(services: Services, principal: Principal, *, defer: bool) -> bool:
    """Check the token's revocation, or (``defer``, and only when the mirror cannot
    answer) leave it pending: whether it is."""
    revoked = services.revocation.known_verdict(
        principal.jti, client_id=principal.client_id, generation=principal.generation
    )
    if revoked is None:
        if defer:
            return True
        revoked = await _asked(services, principal)
    if revoked:
        raise revoked_token(services)
    return False


async def check_revocation(services: Services, principal: Principal) -> None:
    """Raise 401 when the revocation store has the token or its client, 503 when the
    store cannot be asked (fail closed: no data without the check). The mirror answers
    when it can vouch for itself, Redis otherwise."""
    await _checked_or_pending(services, principal, defer=False)


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
