"""Authorization as typed dependencies that fail closed.

A route declares the scope it needs; the dependency returns a ``Principal`` or raises a
401/403 before any handler code runs. A missing or malformed header, an unknown key, an
expired or revoked token, a revoked client: all end here.

A token's revocation is checked in the revocation store's mirror in this process when
the mirror vouches for itself (``gateway.revocation``), else in Redis. One exception, for
speed: a resident call may then leave its check to its rate-limit round trip, and no
event is recorded and no data released before that check (``authenticate_call``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import (
    AuditUnavailable,
    InsufficientScope,
    InvalidToken,
    RateLimiterUnavailable,
    Unauthenticated,
    bearer_challenge,
)
from gateway.revocation import StoreUnavailable
from gateway.services import Services
from gateway.tokens import Principal

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
    if not header or header[:7].lower() != "bearer ":
        services.metrics.count_unauthenticated("missing_token")
        raise Unauthenticated("a bearer access token is required", headers=BEARER_CHALLENGE)
    try:
        principal = services.verifier.verify(header[7:].strip())
    except InvalidToken as exc:
        services.metrics.count_unauthenticated("invalid_token")
        exc.headers = INVALID_TOKEN_CHALLENGE
        raise
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
