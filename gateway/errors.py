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


def _error(name: str, status: int, code: str, title: str) -> type[GatewayError]:
    return type(name, (GatewayError,), {"status": status, "code": code, "title": title})


BadRequest = _error("BadRequest", 400, "bad_request", "Bad request")
InvalidRequest = _error("InvalidRequest", 422, "invalid_request", "Invalid request")
InvalidNik = _error("InvalidNik", 422, "invalid_nik", "Invalid NIK")
InvalidPurpose = _error("InvalidPurpose", 422, "invalid_purpose", "Invalid purpose")
InvalidOfficer = _error("InvalidOfficer", 422, "invalid_officer", "Invalid officer")
NikInHeader = _error(
    "NikInHeader", 422, "nik_in_header", "A free-text header carries a NIK-shaped value"
)
InvalidFields = _error("InvalidFields", 422, "invalid_fields", "Unknown fields requested")
QueryNotSpecific = _error(
    "QueryNotSpecific", 422, "query_not_specific", "Search query is not specific enough"
)
UntrustedHost = _error("UntrustedHost", 400, "untrusted_host", "Untrusted host")
Unauthenticated = _error("Unauthenticated", 401, "unauthenticated", "Authentication required")
InvalidToken = _error("InvalidToken", 401, "invalid_token", "Invalid access token")
PolicyDenied = _error("PolicyDenied", 403, "policy_denied", "Denied by policy")
NotFound = _error("NotFound", 404, "not_found", "Not found")
ResidentNotFound = _error("ResidentNotFound", 404, "resident_not_found", "Resident not found")
Conflict = _error("Conflict", 409, "conflict", "Conflict")
PayloadTooLarge = _error("PayloadTooLarge", 413, "payload_too_large", "Request body too large")
UnsupportedMediaType = _error(
    "UnsupportedMediaType", 415, "unsupported_media_type", "Unsupported media type"
)
RateLimited = _error("RateLimited", 429, "rate_limited", "Too many requests")
AuditUnavailable = _error(
    "AuditUnavailable", 503, "audit_unavailable", "Audit trail unavailable; nothing released"
)
RateLimiterUnavailable = _error(
    "RateLimiterUnavailable", 503, "rate_limiter_unavailable", "Rate limiter unavailable"
)
SourceUnavailable = _error(
    "SourceUnavailable", 504, "source_unavailable", "A source of the requested data is unavailable"
)


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
