"""Resident data endpoints: thin, each one call into ``gateway.residents``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from starlette.convertors import StringConvertor, register_url_convertor

import connectors
from gateway.auditing.recorder import Call
from gateway.identity.auth import authenticate, authenticate_call, get_services
from gateway.identity.tokens import Principal
from gateway.platform.errors import InsufficientScope
from gateway.platform.responses import JSON
from gateway.residents import service as residents
from gateway.residents.schemas import (
    BatchRequest,
    ResidentResponse,
    ResolveRequest,
    SearchRequest,
    problems,
)

router = APIRouter(prefix="/v1", tags=["residents"])

# The call headers are read from the request directly rather than declared one by one as
# FastAPI parameters: on the hottest route that per-request parameter machinery cost more
# than the source lookup itself. They are documented in the OpenAPI schema all the same.
CALL_HEADERS = {
    "parameters": [
        {
            "name": "X-Purpose",
            "in": "header",
            "required": False,
            "description": "Purpose code",
            "schema": {"type": "string"},
        },
        {
            "name": "X-On-Behalf-Of",
            "in": "header",
            "required": False,
            "description": "The officer in the agency system (normalised: lower case, - and _"
            " read as .)",
            "schema": {"type": "string", "maxLength": 128},
        },
        {
            "name": "X-Officer-Assertion",
            "in": "header",
            "required": False,
            "description": "For agencies configured so: a short-lived JWT (typ officer+jwt,"
            " ES256 or EdDSA) signed by the agency's registered key, with iss the agency,"
            " sub the officer, aud the gateway's issuer, exp at most 5 minutes after iat,"
            " and a jti used once",
            "schema": {"type": "string"},
        },
        {
            "name": "X-Legal-Basis",
            "in": "header",
            "required": False,
            "description": "Agreement or regulation, where required (a NIK-shaped value is"
            " refused: 422 nik_in_header)",
            "schema": {"type": "string"},
        },
    ]
}
FIELDS_MAX = 2000
READ_PARAMETERS = {
    "parameters": [
        {
            "name": "nik",
            "in": "path",
            "required": True,
            "description": "The resident's 16-digit NIK",
            "schema": {"type": "string"},
        },
        *CALL_HEADERS["parameters"],
        {
            "name": "fields",
            "in": "query",
            "required": False,
            "description": "Comma-separated field names",
            "schema": {"type": "string", "maxLength": FIELDS_MAX},
        },
    ]
}


def calling(action: str, scope: str) -> Callable[[Request], Awaitable[Call]]:
    """A dependency: the authenticated call of ``action``, with its purpose, officer and
    legal basis from the request headers (validated later, and audited, by the call)."""

    async def dependency(request: Request) -> Call:
        state = request.scope["state"]
        try:
            principal = await authenticate_call(request, scope)
        except InsufficientScope as exc:
            # Authenticated, without the scope: refused, and on the record.
            raise await _call(request, state["principal"]).refuse(exc) from None
        call = state["call"] = _call(request, principal)
        return call

    def _call(request: Request, principal: Principal) -> Call:
        headers = request.headers
        return Call(
            services=get_services(request),
            principal=principal,
            action=action,
            purpose=headers.get("x-purpose"),
            officer=headers.get("x-on-behalf-of"),
            legal_basis=headers.get("x-legal-basis"),
            request_id=request.scope["state"]["request_id"],
            assertion=headers.get("x-officer-assertion"),
        )

    return dependency


def _fields_query(request: Request) -> str | None:
    raw = request.query_params.get("fields")
    if raw is not None and len(raw) > FIELDS_MAX:
        raise RequestValidationError(
            [
                {
                    "type": "string_too_long",
                    "loc": ("query", "fields"),
                    "msg": f"String should have at most {FIELDS_MAX} characters",
                    "input": None,
                    "ctx": {"max_length": FIELDS_MAX},
                }
            ]
        )
    return raw


async def _catalog_reader(request: Request) -> Principal:
    """``require("residents:read")``, with the refusal of a client without it recorded."""
    principal = await authenticate(request)
    if not principal.has("residents:read"):
        headers = request.headers
        call = Call(
            services=get_services(request),
            principal=principal,
            action="catalog.read",
            purpose=headers.get("x-purpose"),
            officer=headers.get("x-on-behalf-of"),
            legal_basis=None,
            request_id=request.scope["state"]["request_id"],
        )
        raise await call.refuse(InsufficientScope(scope="residents:read"))
    return principal


@router.get("/catalog", summary="Datasets, fields and purposes this client may use")
async def catalog(
    request: Request, principal: Annotated[Principal, Depends(_catalog_reader)]
) -> dict[str, Any]:
    active = await get_services(request).policies.current()
    from datetime import UTC, datetime

    out: dict[str, Any] = active.policy.catalog(principal.agency, datetime.now(UTC)).to_dict()
    out["policy_version"] = active.policy.version
    return out


# Refusals common to every resident call; each audited one carries its receipt (audit).
_REFUSALS = {
    "s403": "Denied: purpose_not_permitted, field or legal basis, insufficient_scope,"
    " specific_data_denied, officer_not_registered, officer_assertion_invalid",
    "s422": "Malformed input: invalid_nik, invalid_purpose, invalid_officer, invalid_fields,"
    " invalid_request, nik_in_header (a NIK-shaped X-On-Behalf-Of, X-Legal-Basis or"
    " X-Request-Id; refused before anything is stored)",
    "s429": "rate_limited (limit: client, officer or batch_concurrency; limits count"
    " residents, a batch of N charges N)",
}

# The body is rendered by orjson straight from the service's dict (the response model
# documents it in the OpenAPI schema without re-validating every answer).
_reading = calling("resident.read", "residents:read")


class _NikSegment(StringConvertor):
    """The lookup's path segment: anything but the names of its sibling resources, so
    that ``GET /v1/residents/search`` is the 405 of a POST-only resource (with its
    ``Allow``), not a lookup of the NIK "search". A malformed NIK still reaches the
    handler and is refused there (422 ``invalid_nik``, audited)."""

    regex = "(?!(?:search|batch)$)[^/]+"


register_url_convertor("nik", _NikSegment())
READ_PATH = "/v1/residents/{nik:nik}"


@router.get(
    READ_PATH.removeprefix(router.prefix),
    response_model=ResidentResponse,
    response_model_exclude_none=True,
    openapi_extra=READ_PARAMETERS,
    responses=problems(
        s404="resident_not_found: no such resident, or one outside the agency's jurisdiction"
        " (the two are indistinguishable on purpose)",
        **_REFUSALS,
    ),
)
async def read_resident(request: Request) -> Any:
    # The hottest route takes the bare request (its parameters are documented above):
    # FastAPI then resolves nothing per request.
    call = await _reading(request)
    nik = request.path_params["nik"]
    return JSON(await residents.read_resident(call, nik, _fields_query(request)))


CALLERS = {
    "/v1/residents/search": calling("resident.search", "residents:search"),
    "/v1/residents/batch": calling("resident.batch", "residents:read"),
    "/v1/pseudonyms/resolve": calling("pseudonym.resolve", "pseudonyms:resolve"),
    "/v1/statistics": calling("statistics.query", "statistics:read"),
}
"""The calls whose bodies are validated by the framework: a body that fails validation
is recorded against the call (``gateway.platform.app``'s handler of validation errors)."""


@router.post(
    "/residents/search",
    summary="Find residents by name and address",
    description="Residents outside the agency's jurisdiction are not candidates. Distinct"
    " residents returned are budgeted per client and per officer in the area searched.",
    openapi_extra=CALL_HEADERS,
    responses=problems(
        **{
            **_REFUSALS,
            "s429": _REFUSALS["s429"] + "; search_budget_exhausted (budget: client or officer)",
        }
    ),
)
async def search(
    body: SearchRequest,
    call: Annotated[Call, Depends(CALLERS["/v1/residents/search"])],
) -> dict[str, Any]:
    query = connectors.SearchQuery(
        name=body.name,
        kelurahan_code=body.address.kelurahan_code,
        kecamatan_code=body.address.kecamatan_code,
        rt=body.address.rt.zfill(3) if body.address.rt else None,
        rw=body.address.rw.zfill(3) if body.address.rw else None,
        street=body.address.street,
        birth_date=body.birth_date,
    )
    return await residents.search_residents(call, query, body.limit)


@router.post(
    "/residents/batch",
    summary="Up to 1,000 residents by NIK in one call",
    description="One result per NIK: ok, invalid, not_found (unknown or outside the"
    " jurisdiction, alike) or denied (cap_exceeded beyond the policy's cap, which the answer"
    " gives as cap; specific_data_denied). Every distinct valid NIK is charged to the"
    " client's and officer's limits and recorded as a subject of the event.",
    openapi_extra=CALL_HEADERS,
    responses=problems(**_REFUSALS),
)
async def batch(
    body: BatchRequest,
    call: Annotated[Call, Depends(CALLERS["/v1/residents/batch"])],
) -> dict[str, Any]:
    fields = tuple(dict.fromkeys(body.fields)) if body.fields else None
    return await residents.batch_residents(call, body.niks, fields)


@router.post(
    "/pseudonyms/resolve",
    summary="Re-identify one of this agency's pseudonyms",
    description="Only a subject (NIK) pseudonym of this agency resolves; tokens are bound to"
    " their field. The resolve limit holds on top of the grant's rates.",
    openapi_extra=CALL_HEADERS,
    responses=problems(
        s410="pseudonym_key_retired, or pseudonym_format_retired (a ps1 token: read the"
        " resident again for a current one)",
        **{**_REFUSALS, "s422": _REFUSALS["s422"] + "; invalid_pseudonym"},
    ),
)
async def resolve(
    body: ResolveRequest,
    call: Annotated[Call, Depends(CALLERS["/v1/pseudonyms/resolve"])],
) -> dict[str, Any]:
    return await residents.resolve_pseudonym(call, body.pseudonym)
