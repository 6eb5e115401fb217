"""The OpenAPI document, completed so that it describes the API a client meets.

FastAPI writes the paths, bodies and successful answers from the routes. This module adds
what it cannot see: how each operation authenticates (an OAuth 2.0 client-credentials
token with the scope it needs, a resident's report token, or nothing), every refusal the
gateway can answer as RFC 9457 ``application/problem+json`` with the ``code`` values it
may carry, the NIK's shape, formats and ranges of parameters, the real media types, and
examples (the demo's resident among them). A generated client then knows how to take a
token and what an error looks like.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from gateway.auditing.recorder import LEGAL_BASIS_RE
from gateway.identity.oauth import SCOPES

PROBLEM = "application/problem+json"

# DOMAIN.md's NIK, as a pattern: a province, non-zero regency and district codes, a real
# day of birth (plus 40 for women) in its month, a two-digit year and a non-zero serial.
# 29 February is a real day only in a year that is a leap year in one of the two
# centuries a two-digit year may name.
_PROVINCES = (
    "11|12|13|14|15|16|17|18|19|21|31|32|33|34|35|36|51|52|53|61|62|63|64|65"
    "|71|72|73|74|75|76|81|82|91|92|93|94|95|96"
)
_TWO = "(?:0[1-9]|[1-9][0-9])"
_DAY_MONTH_YEAR = (
    "(?:(?:0[1-9]|1[0-9]|2[0-8]|4[1-9]|5[0-9]|6[0-8])(?:0[1-9]|1[0-2])[0-9]{2}"
    "|(?:29|30|69|70)(?:0[13-9]|1[0-2])[0-9]{2}"
    "|(?:31|71)(?:0[13578]|1[02])[0-9]{2}"
    "|(?:29|69)02(?:[02468][048]|[13579][26]))"
)
_SERIAL = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
NIK_PATTERN = f"^(?:{_PROVINCES}){_TWO}{_TWO}{_DAY_MONTH_YEAR}{_SERIAL}$"
# A resident of the demo's synthetic data set (``satugate demo``), for the examples.
DEMO_NIK = "3501051612840001"

_CODES: dict[int, tuple[str, ...]] = {
    400: ("bad_request", "untrusted_host"),
    401: ("unauthenticated", "invalid_token", "invalid_dpop_proof", "use_dpop_nonce"),
    403: ("insufficient_scope", "policy_denied", "purpose_not_permitted", "specific_data_denied"),
    404: ("not_found", "resident_not_found"),
    409: ("conflict",),
    410: ("pseudonym_key_retired", "pseudonym_format_retired"),
    413: ("payload_too_large",),
    415: ("unsupported_media_type",),
    422: ("invalid_request", "invalid_nik", "invalid_purpose", "invalid_officer"),
    429: ("rate_limited", "search_budget_exhausted"),
    503: ("audit_unavailable", "rate_limiter_unavailable"),
    504: ("source_unavailable",),
}
_DESCRIPTIONS = {
    400: "Bad request (a Host the gateway does not serve: untrusted_host)",
    401: "No access token, or one that is malformed, expired, revoked or not ours"
    " (WWW-Authenticate names the error, RFC 6750 §3)",
    403: "Authenticated, not allowed: the scope is missing (WWW-Authenticate names it), or"
    " the policy denies the call (its reason is the code)",
    404: "Not found",
    405: "Method not allowed (Allow lists the methods of the path)",
    409: "Conflict with the current state",
    410: "Gone",
    413: "The request body exceeds the gateway's limit",
    415: "The request body's media type is not the one documented",
    422: "The request does not match this document, or a value is malformed",
    429: "A rate limit or budget is spent (Retry-After says when to come back)",
    503: "The audit trail or the rate limiter cannot be reached: nothing was released",
    504: "A source of the requested data did not answer in time",
}

# How each path authenticates: the scopes of its OAuth 2.0 token ([] for any valid
# token), "report" for a resident's report token, None for no authentication at all.
_PUBLIC = None
_REPORT = "report"


def _security_of(method: str, path: str) -> list[str] | str | None:
    if path.startswith("/.well-known/") or path in ("/healthz", "/readyz", "/oauth/token"):
        return _PUBLIC
    if path in ("/audit/checkpoint", "/audit/verifier-key", "/audit/tile/{level}/{rest}"):
        return _PUBLIC
    if path == "/v1/me/accesses":
        return _REPORT
    if path == "/v1/residents/search":
        return ["residents:search"]
    if path == "/v1/pseudonyms/resolve":
        return ["pseudonyms:resolve"]
    if path == "/v1/statistics":
        return ["statistics:read"]
    if path.startswith("/v1/"):
        return ["residents:read"]
    if path.startswith(("/audit/leaves/", "/audit/proof/", "/audit/receipts/")):
        return []  # any client's token: an agency reads its own leaves and proofs
    if path.startswith("/audit/"):
        return ["audit"]
    if path.startswith("/admin/"):
        return ["admin"]
    return _PUBLIC


def problem_schema() -> dict[str, Any]:
    return {
        "title": "Problem",
        "type": "object",
        "description": "An RFC 9457 problem. ``code`` is stable and machine-readable; an"
        " audited refusal carries its receipt (``audit``).",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "instance": {"type": "string"},
            "audit": {
                "type": "object",
                "required": ["event_id", "leaf_index"],
                "properties": {
                    "event_id": {"type": "string"},
                    "leaf_index": {"type": "integer", "minimum": 0},
                },
            },
            "errors": {
                "type": "array",
                "description": "422 invalid_request: where the request fails this document",
                "items": {
                    "type": "object",
                    "properties": {
                        "loc": {"type": "array", "items": {"type": "string"}},
                        "msg": {"type": "string"},
                    },
                },
            },
            "limit": {"type": "string"},
            "budget": {"type": "string"},
            "retry_after": {"type": "number"},
        },
    }


def _problem(status: int, description: str | None = None) -> dict[str, Any]:
    codes = _CODES.get(status, ())
    text = description or _DESCRIPTIONS.get(status, "Refused")
    if codes and "code" not in text:
        text += ". code: " + ", ".join(codes)
    response: dict[str, Any] = {
        "description": text,
        "content": {
            PROBLEM: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {
                    "type": f"https://satugate.example/problems/{codes[0] if codes else 'x'}",
                    "title": _DESCRIPTIONS.get(status, "Refused").split(" (")[0],
                    "status": status,
                    "detail": "what went wrong, in words",
                    "code": codes[0] if codes else "refused",
                },
            }
        },
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
    return response


def _oauth_error() -> dict[str, Any]:
    return {
        "description": "An OAuth 2.0 error (RFC 6749 §5.2): invalid_client, invalid_grant,"
        " unsupported_grant_type, invalid_scope, invalid_request, unauthorized_client",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}},
    }


_OAUTH_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}


def _statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    security = _security_of(method, path)
    statuses = {400, 422}
    if security is not None:
        statuses |= {401, 503}
    if security not in (None, _REPORT):
        statuses.add(403)
    if "{" in path or path.startswith("/v1/residents") or path == "/v1/catalog":
        statuses.add(404)
    if method == "post":
        statuses |= {413, 415}
    if path.startswith(("/v1/residents", "/v1/pseudonyms", "/v1/statistics")):
        statuses |= {429, 504}
    if path.startswith("/admin/") and method == "post":
        statuses.add(409)
    if path.startswith("/v1/me/") or path.startswith("/audit/subjects/"):
        statuses.add(429)
    if path == "/readyz":
        statuses.add(503)
    return statuses


def complete(
    document: dict[str, Any], answers: Mapping[tuple[str, str], type[BaseModel]] | None = None
) -> dict[str, Any]:
    """The document with security, refusals, constraints, media types and examples.

    ``answers`` gives the 200 schema of operations that render a plain dict, so that a
    generated client reads typed answers.
    """
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _name_operations(doc.get("paths", {}))
    schemas["TokenResponse"] = _TOKEN_RESPONSE
    schemas["OAuthError"] = _OAUTH_ERROR
    for (method, path), model in (answers or {}).items():
        _document_answer(doc["paths"][path][method], model, schemas)
    schemas["Problem"] = problem_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {
        "oauth2": {
            "type": "oauth2",
            "description": "OAuth 2.0 client credentials (RFC 6749 §4.4): HTTP Basic with"
            " the client id and secret, or the form's client_id and client_secret. The"
            " access token is an RFC 9068 JWT, sent as 'Authorization: Bearer <token>'. With a"
            " DPoP proof (RFC 9449) in the token request, the token is bound to the proof's"
            " key (cnf.jkt, token_type DPoP): every call then sends 'Authorization: DPoP"
            " <token>' and a 'DPoP' header with a fresh proof for its method and URL.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/oauth/token",
                    "scopes": {
                        "residents:read": "Look residents up by NIK, one or a batch",
                        "residents:search": "Find residents by name and address",
                        "pseudonyms:resolve": "Re-identify the agency's own pseudonyms",
                        "statistics:read": "Counts by region and category, under disclosure"
                        " control and a privacy budget",
                        "admin": "Manage clients, policies and keys (two-person rule)",
                        "audit": "Read and verify the access log",
                    },
                }
            },
        },
        "clientSecretBasic": {
            "type": "http",
            "scheme": "basic",
            "description": "The token endpoint's client authentication (client_secret_basic)",
        },
        "reportToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "A resident's own report token, issued by an auditor",
        },
    }
    assert set(components["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
               ["scopes"]) == set(SCOPES)  # fmt: skip
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            _complete_operation(method, path, operation)
    token = doc.get("paths", {}).get("/oauth/token", {}).get("post")
    if token is not None:
        form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]
        schemas["TokenRequest"] = form["schema"]
        form["schema"] = {"$ref": "#/components/schemas/TokenRequest"}
    return doc


def _name_operations(paths: dict[str, Any]) -> None:
    """Operation ids are the route's name (``read_resident``, ``token``), as generators
    turn them into function names; a name two routes share takes its first path segment
    (``admin_proposal_approve``, ``audit_proposal_approve``)."""
    named: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path, operations in paths.items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            suffix = re.sub(r"\W", "_", path) + "_" + method
            name = operation["operationId"].removesuffix(suffix)
            named.setdefault(name, []).append((path, operation))
    for name, uses in named.items():
        for path, operation in uses:
            first = path.strip("/").split("/")[0].replace(".", "").replace("-", "_")
            operation["operationId"] = name if len(uses) == 1 else f"{first}_{name}"
            # FastAPI's title of an unnamed answer ("Response Read Resident V1 ...") would
            # become a model name; without it the generator names it after the operation.
            for answer in operation.get("responses", {}).values():
                for media in answer.get("content", {}).values():
                    title = media.get("schema", {}).get("title", "")
                    if title.startswith("Response "):
                        del media["schema"]["title"]


def _document_answer(
    operation: dict[str, Any], model: type[BaseModel], schemas: dict[str, Any]
) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas[model.__name__] = schema
    answer = operation.setdefault("responses", {}).setdefault("200", {})
    answer["content"] = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    }


def _complete_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    security = _security_of(method, path)
    if security is None:
        operation["security"] = [{"clientSecretBasic": []}, {}] if path == "/oauth/token" else [{}]
    elif security == _REPORT:
        operation["security"] = [{"reportToken": []}]
    else:
        operation["security"] = [{"oauth2": list(security)}]
        operation.setdefault("parameters", []).append(
            {
                "name": "DPoP",
                "in": "header",
                "required": False,
                "description": "With a DPoP-bound token (Authorization: DPoP <token>): a fresh"
                " proof (RFC 9449) for this method and URL, with ath over the token",
                "schema": {"type": "string"},
            }
        )
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in list(responses.items()):
        if status.isdigit() and int(status) >= 400:
            described = response.get("description")
            responses[status] = _problem(int(status), described)
    for code in sorted(_statuses(method, path, operation)):
        responses.setdefault(str(code), _problem(code))
    if path == "/oauth/token":
        responses["400"] = _oauth_error()
        responses["401"] = _oauth_error()
        responses["429"] = _problem(429)
        responses["503"] = _problem(503)
        responses["200"] = _token_answer()
    for parameter in operation.get("parameters", []):
        _constrain(path, parameter)
    if path in ("/audit/checkpoint", "/audit/verifier-key"):
        responses["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    if path.startswith("/audit/tile/"):
        responses["200"]["content"] = {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }
    if path == "/v1/residents/batch":
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        body["example"] = {"niks": [DEMO_NIK], "fields": ["full_name", "birth_date"]}
    if path == "/v1/residents/search":
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        body["example"] = {
            "name": "IKHSAN PRARIYANTO",
            "address": {"kelurahan_code": "35.78.26.1001", "rt": "003", "rw": "002"},
            "limit": 5,
        }


def _token_answer() -> dict[str, Any]:
    return {
        "description": "An access token (RFC 6749 §5.1); Cache-Control: no-store",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenResponse"}}},
    }


_TOKEN_RESPONSE = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "description": "Bearer, or DPoP for a bound token"},
        "expires_in": {"type": "integer"},
        "scope": {"type": "string"},
    },
}


_NIK_PARAMETERS = {"nik"}
_DATE_TIME = {"from", "to"}


def _constrain(path: str, parameter: dict[str, Any]) -> None:
    name, where = parameter.get("name"), parameter.get("in")
    schema = parameter.setdefault("schema", {})
    if where == "path" and name in _NIK_PARAMETERS:
        parameter["schema"] = {"type": "string", "pattern": NIK_PATTERN}
        parameter["example"] = DEMO_NIK
    elif where == "query" and name in _DATE_TIME:
        any_of = schema.pop("anyOf", None)
        if any_of is not None:
            schema.update({"type": "string", "format": "date-time", "maxLength": 40})
        else:
            schema.update({"format": "date-time"})
        parameter["example"] = "2026-01-01T00:00:00Z"
    elif where == "header" and name == "X-Purpose":
        parameter["example"] = "social_assistance"
    elif where == "header" and name == "X-Legal-Basis":
        schema["pattern"] = "^" + LEGAL_BASIS_RE.pattern + "$"
    elif where == "header" and name == "X-On-Behalf-Of":
        parameter["example"] = "officer.01"
        if path.startswith(("/v1/residents", "/v1/pseudonyms")):  # else it is only a note
            schema.setdefault("pattern", r"^[A-Za-z0-9]+(?:[._\-@:][A-Za-z0-9]+)*$")


def nik_is_documented(value: str) -> bool:
    """Whether ``value`` matches the document's NIK pattern (for the tests)."""
    return re.fullmatch(NIK_PATTERN, value) is not None
