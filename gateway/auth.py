"""Authorization as typed dependencies that fail closed.

A route declares the scope it needs; the dependency returns a ``Principal`` or raises a
401/403 before any handler code runs. A missing or malformed header, an unknown key, an
expired or revoked token, a revoked client: all end here.
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
)
from gateway.revocation import StoreUnavailable
from gateway.services import Services
from gateway.tokens import Principal

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="satugate"'}


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def authenticate(request: Request) -> Principal:
    services = get_services(request)
    header = request.headers.get("authorization")
    if not header or header[:7].lower() != "bearer ":
        services.metrics.count_unauthenticated("missing_token")
        raise Unauthenticated("a bearer access token is required", headers=BEARER_CHALLENGE)
    try:
        principal = services.verifier.verify(header[7:].strip())
    except InvalidToken as exc:
        services.metrics.count_unauthenticated("invalid_token")
        exc.headers = BEARER_CHALLENGE
        raise
    try:
        revoked = await services.revocation.is_revoked(principal.jti, client_id=principal.client_id)
    except StoreUnavailable as exc:  # Redis unreachable: fail closed, no data without the check
        raise RateLimiterUnavailable("the token revocation store is unreachable") from exc
    if not revoked and services.revoked_clients is not None:
        # The store's record outlives a Redis (or process) that forgot the revocation.
        try:
            revoked = await services.revoked_clients.contains(principal.client_id)
        except (SQLAlchemyError, OSError) as exc:  # the store is down: so is the audit log
            raise AuditUnavailable() from exc
    if revoked:
        services.metrics.count_unauthenticated("revoked")
        raise InvalidToken(
            "the access token or its client has been revoked", headers=BEARER_CHALLENGE
        )
    request.state.principal = principal
    return principal


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.has(scope):
            raise InsufficientScope(f"this call needs the scope {scope}")
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency
