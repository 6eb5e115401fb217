"""One error base for the whole gateway, rendered as RFC 9457 problem+json.

Every refusal the gateway makes is a ``GatewayError`` with a stable machine-readable
``code`` and its HTTP status. The handler renders it; nothing else builds error bodies.
Details never carry personal data, secrets or stack traces: they are written here, by us,
not copied from exceptions.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from starlette.responses import Response

PROBLEM_BASE = "https://satugate.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class GatewayError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail)

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(GatewayError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class InvalidRequest(GatewayError):
    status = 422
    code = "invalid_request"
    title = "Invalid request"


class InvalidNik(GatewayError):
    status = 422
    code = "invalid_nik"
    title = "Invalid NIK"


class InvalidPurpose(GatewayError):
    status = 422
    code = "invalid_purpose"
    title = "Invalid purpose"


class InvalidOfficer(GatewayError):
    status = 422
    code = "invalid_officer"
    title = "Invalid officer"


class NikInHeader(GatewayError):
    status = 422
    code = "nik_in_header"
    title = "A free-text header carries a NIK-shaped value"


class InvalidFields(GatewayError):
    status = 422
    code = "invalid_fields"
    title = "Unknown fields requested"


class QueryNotSpecific(GatewayError):
    status = 422
    code = "query_not_specific"
    title = "Search query is not specific enough"


class UntrustedHost(GatewayError):
    status = 400
    code = "untrusted_host"
    title = "Untrusted host"


class Unauthenticated(GatewayError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class InvalidToken(GatewayError):
    status = 401
    code = "invalid_token"
    title = "Invalid access token"


class PolicyDenied(GatewayError):
    status = 403
    code = "policy_denied"
    title = "Denied by policy"


class NotFound(GatewayError):
    status = 404
    code = "not_found"
    title = "Not found"


class ResidentNotFound(GatewayError):
    status = 404
    code = "resident_not_found"
    title = "Resident not found"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class Conflict(GatewayError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "payload_too_large"
    title = "Request body too large"


class UnsupportedMediaType(GatewayError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class RateLimited(GatewayError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class AuditUnavailable(GatewayError):
    status = 503
    code = "audit_unavailable"
    title = "Audit trail unavailable; nothing released"


class RateLimiterUnavailable(GatewayError):
    status = 503
    code = "rate_limiter_unavailable"
    title = "Rate limiter unavailable"


class SourceUnavailable(GatewayError):
    status = 504
    code = "source_unavailable"
    title = "A source of the requested data is unavailable"


def bearer_challenge(
    error: str | None = None, *, scope: str | None = None, scheme: str = "Bearer"
) -> str:
    """An RFC 6750 §3 (or RFC 9449 §7.1) ``WWW-Authenticate`` challenge: the realm, and
    the error code and scope where there is one (none when no credentials were sent)."""
    parts = ['realm="satugate"']
    if error is not None:
        parts.append(f'error="{error}"')
    if scope is not None:
        parts.append(f'scope="{scope}"')
    if scheme == "DPoP":
        parts.append('algs="ES256 EdDSA PS256"')
    return f"{scheme} " + ", ".join(parts)


class InsufficientScope(GatewayError):
    """403: the token lacks the scope the call needs; the challenge names it (RFC 6750 §3.1)."""

    status = 403
    code = "insufficient_scope"
    title = "Insufficient scope"

    def __init__(
        self,
        detail: str | None = None,
        *,
        scope: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        challenge = {"WWW-Authenticate": bearer_challenge("insufficient_scope", scope=scope)}
        super().__init__(
            detail or (f"this call needs the scope {scope}" if scope else None),
            headers={**challenge, **(headers or {})},
            extra=extra,
        )


class PolicyRefusal(GatewayError):
    """A policy decision to deny, carrying the policy's own reason code."""

    status = 403
    title = "Denied by policy"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code_value = code

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body = super().to_problem(instance)
        body["code"] = self.code_value
        body["type"] = PROBLEM_BASE + self.code_value
        return body


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def render(error: GatewayError, instance: str | None = None) -> Response:
    return problem_response(error.status, error.to_problem(instance), error.headers)
