"""Identity endpoints: the token endpoint, JWKS and RFC 8414 metadata."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from sqlalchemy import select

from gateway.identity.auth import get_services
from gateway.identity.client_auth import ALGORITHMS as ASSERTION_ALGORITHMS
from gateway.identity.client_auth import ASSERTION_TYPE, AssertionRefused, assertion_subject
from gateway.identity.dpop import ALGORITHMS as DPOP_ALGORITHMS
from gateway.identity.dpop import InvalidDpopProof, UseDpopNonce
from gateway.identity.oauth import SCOPES, ClientRecord, client_id_from
from gateway.limits.ratelimit import RateDecision
from gateway.limits.ratelimit import RateLimiterUnavailable as LimiterDown
from gateway.platform import store
from gateway.platform.errors import (
    GatewayError,
    RateLimited,
    RateLimiterUnavailable,
    UnsupportedMediaType,
)
from gateway.platform.logs import get_logger
from gateway.platform.responses import JSON
from gateway.platform.services import Services, client_assertions_of, dpop_of

router = APIRouter(tags=["identity"])
log = get_logger()


async def load_client(request: Request, client_id: str) -> ClientRecord | None:
    services = get_services(request)
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(select(store.clients).where(store.clients.c.client_id == client_id))
        ).first()
    if row is None:
        return None
    scopes = tuple(row.scopes.split())
    # A client stored before the roles were kept apart (admin or audit beside another
    # scope) gets no token at all: fail closed until its scopes are fixed.
    separated = not (set(scopes) & {"admin", "audit"}) or len(set(scopes)) == 1
    return ClientRecord(
        client_id=row.client_id,
        name=row.name,
        agency=row.agency,
        scopes=scopes,
        secret_hash=row.secret_hash,
        active=row.status == "active" and separated,
        jwks=row.jwks,
        secrets_disabled=bool(row.secrets_disabled) or services.settings.client_secrets_disabled,
        dpop_required=bool(row.dpop_required),
    )


@router.post(
    "/oauth/token",
    summary="OAuth 2.0 client credentials grant (RFC 6749 §4.4)",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string"},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "client_assertion_type": {
                                "type": "string",
                                "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
                            },
                            "client_assertion": {
                                "type": "string",
                                "description": "private_key_jwt (RFC 7523): a JWT signed by a"
                                " key registered for the client; iss and sub the client id,"
                                " aud the issuer or the token endpoint, exp within 5 minutes,"
                                " a jti used once",
                            },
                        },
                    }
                }
            },
            "required": True,
        },
        "parameters": [
            {
                "name": "DPoP",
                "in": "header",
                "required": False,
                "description": "A DPoP proof (RFC 9449): the token is then bound to its key",
                "schema": {"type": "string"},
            }
        ],
    },
)
async def token(request: Request) -> JSON:
    services = get_services(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("the token endpoint takes application/x-www-form-urlencoded")
    body = await request.body()
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        form = {}
    headers = {k.lower(): v for k, v in request.headers.items()}
    assertion = _assertion(form)
    client_id = client_id_from(headers, form)
    if assertion is not None and client_id is None:
        client_id = assertion_subject(assertion)
    client = await load_client(request, client_id) if client_id and len(client_id) <= 64 else None
    settings, limiter = services.settings, services.limiter
    source = request.client.host if request.client else "-"
    # Security decision: failures are counted apart from successes. Wrong secrets spend
    # their own budgets, per claimed client id and per source address, never the
    # client's budget of tokens: client ids are not secret, and anyone could otherwise
    # shut a client out by guessing. An address that has spent its failure budget is
    # refused before its secret is checked, so guessing from it stops; a failure past
    # the claimed id's budget is answered 429. The right secret from another address
    # always gets its token (within the client's own rate).
    try:
        from_source = await limiter.peek(
            f"token-fail-src:{source}", settings.token_source_failure_rate
        )
        if not from_source.allowed:
            services.metrics.count_token_failure("throttled_source")
            raise _too_many(from_source)
        refused = await _dpop_key(request, services, client)
        if isinstance(refused, JSON):
            return refused
        vouched = await _vouched_client(services, client, assertion)
        checker = client_assertions_of(services)
        context = checker.vouch(vouched)
        try:
            result = services.token_server.issue(
                client,
                services.settings.issuer + "/oauth/token",
                request.headers,
                form,
                jkt=refused,
            )
        finally:
            checker.reset(context)
        if result.status == 200:
            decision = await limiter.hit(f"token:{client_id}", settings.token_rate)
            if not decision.allowed:
                raise _too_many(decision)
        else:
            services.metrics.count_unauthenticated("token_refused")
            services.metrics.count_token_failure("refused")
            by_id = await limiter.hit(f"token-fail:{client_id or '-'}", settings.token_failure_rate)
            by_source = await limiter.hit(
                f"token-fail-src:{source}", settings.token_source_failure_rate
            )
            if not (by_id.allowed and by_source.allowed):
                services.metrics.count_token_failure("throttled")
                raise _too_many(by_id if not by_id.allowed else by_source)
    except LimiterDown as exc:
        raise RateLimiterUnavailable() from exc
    out_headers = {k: v for k, v in result.headers if k.lower() != "content-type"}
    if isinstance(refused, str) and dpop_of(services).nonce_required:
        out_headers["DPoP-Nonce"] = dpop_of(services).nonce()  # the next proof's (RFC 9449 §8)
    return JSON(result.body, status_code=result.status, headers=out_headers)


def _assertion(form: dict[str, list[str]]) -> str | None:
    values = form.get("client_assertion")
    kinds = form.get("client_assertion_type")
    if values and kinds and kinds[0] == ASSERTION_TYPE:
        return values[0]
    return None


async def _vouched_client(
    services: Services, client: ClientRecord | None, assertion: str | None
) -> str | None:
    """The client id a valid ``private_key_jwt`` assertion authenticates, else None
    (authlib then answers invalid_client)."""
    if assertion is None or client is None or not client.active:
        return None
    try:
        await client_assertions_of(services).verify(
            assertion, client_id=client.client_id, jwks=client.jwks
        )
    except AssertionRefused as exc:
        log.info("client_assertion_refused", client=client.client_id, reason=str(exc))
        return None
    return client.client_id


async def _dpop_key(
    request: Request, services: Services, client: ClientRecord | None
) -> str | JSON | None:
    """The thumbprint of the key in the request's DPoP proof (RFC 9449 §5), None without
    a proof where none is required, or the OAuth error answer to give."""
    proof = request.headers.get("dpop")
    verifier = dpop_of(services)
    required = verifier.required or (client is not None and client.dpop_required)
    if proof is None and not required:
        return None
    try:
        return await verifier.check(
            proof, method="POST", url=services.settings.issuer + "/oauth/token"
        )
    except UseDpopNonce as exc:
        error, detail, headers = "use_dpop_nonce", exc.detail, {"DPoP-Nonce": verifier.nonce()}
    except InvalidDpopProof as exc:
        error, detail, headers = "invalid_dpop_proof", exc.detail, {}
    services.metrics.count_token_failure("refused")
    return JSON(
        {"error": error, "error_description": detail},
        status_code=400,
        headers={**headers, "Cache-Control": "no-store"},
    )


def _too_many(decision: RateDecision) -> GatewayError:
    return RateLimited(
        "too many token requests",
        headers={"Retry-After": str(max(1, math.ceil(decision.retry_after)))},
    )


@router.get("/.well-known/jwks.json", summary="Public keys that sign access tokens")
async def jwks(request: Request) -> dict[str, Any]:
    return get_services(request).jwks


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata")
async def metadata(request: Request) -> dict[str, Any]:
    settings = get_services(request).settings
    issuer = settings.issuer
    methods = ["private_key_jwt"]
    if not settings.client_secrets_disabled:
        methods = ["client_secret_basic", "client_secret_post", *methods]
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "scopes_supported": list(SCOPES),
        "response_types_supported": [],
        "service_documentation": f"{issuer}/docs",
    }
