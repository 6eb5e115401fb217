"""Resident data endpoints: thin, each one call into ``gateway.residents``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request

import connectors
from gateway import residents
from gateway.auth import get_services, require
from gateway.recorder import Call
from gateway.responses import JSON
from gateway.schemas import BatchRequest, ResidentResponse, ResolveRequest, SearchRequest
from gateway.tokens import Principal

router = APIRouter(prefix="/v1", tags=["residents"])

PurposeHeader = Annotated[str | None, Header(alias="X-Purpose", description="Purpose code")]
OfficerHeader = Annotated[
    str | None, Header(alias="X-On-Behalf-Of", description="The officer in the agency system")
]
LegalHeader = Annotated[
    str | None, Header(alias="X-Legal-Basis", description="Agreement or regulation, where required")
]


def make_call(
    request: Request,
    principal: Principal,
    action: str,
    purpose: str | None,
    officer: str | None,
    legal: str | None,
) -> Call:
    return Call(
        services=get_services(request),
        principal=principal,
        action=action,
        purpose=purpose,
        officer=officer,
        legal_basis=legal,
        request_id=request.scope["state"]["request_id"],
    )


@router.get("/catalog", summary="Datasets, fields and purposes this client may use")
async def catalog(
    request: Request, principal: Annotated[Principal, Depends(require("residents:read"))]
) -> dict[str, Any]:
    active = await get_services(request).policies.current()
    from datetime import UTC, datetime

    out: dict[str, Any] = active.policy.catalog(principal.agency, datetime.now(UTC)).to_dict()
    out["policy_version"] = active.policy.version
    return out


# The body is rendered by orjson straight from the service's dict (the response model
# documents it in the OpenAPI schema without re-validating every answer).
@router.get(
    "/residents/{nik}",
    response_model=ResidentResponse,
    response_model_exclude_none=True,
)
async def read_resident(
    request: Request,
    nik: str,
    principal: Annotated[Principal, Depends(require("residents:read"))],
    purpose: PurposeHeader = None,
    officer: OfficerHeader = None,
    legal: LegalHeader = None,
    fields: Annotated[
        str | None, Query(max_length=2000, description="Comma-separated field names")
    ] = None,
) -> Any:
    call = make_call(request, principal, "resident.read", purpose, officer, legal)
    return JSON(await residents.read_resident(call, nik, fields))


@router.post("/residents/search", summary="Find residents by name and address")
async def search(
    request: Request,
    body: SearchRequest,
    principal: Annotated[Principal, Depends(require("residents:search"))],
    purpose: PurposeHeader = None,
    officer: OfficerHeader = None,
    legal: LegalHeader = None,
) -> dict[str, Any]:
    call = make_call(request, principal, "resident.search", purpose, officer, legal)
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


@router.post("/residents/batch", summary="Up to 1,000 residents by NIK in one call")
async def batch(
    request: Request,
    body: BatchRequest,
    principal: Annotated[Principal, Depends(require("residents:read"))],
    purpose: PurposeHeader = None,
    officer: OfficerHeader = None,
    legal: LegalHeader = None,
) -> dict[str, Any]:
    call = make_call(request, principal, "resident.batch", purpose, officer, legal)
    fields = tuple(dict.fromkeys(body.fields)) if body.fields else None
    return await residents.batch_residents(call, body.niks, fields)


@router.post("/pseudonyms/resolve", summary="Re-identify one of this agency's pseudonyms")
async def resolve(
    request: Request,
    body: ResolveRequest,
    principal: Annotated[Principal, Depends(require("pseudonyms:resolve"))],
    purpose: PurposeHeader = None,
    officer: OfficerHeader = None,
    legal: LegalHeader = None,
) -> dict[str, Any]:
    call = make_call(request, principal, "pseudonym.resolve", purpose, officer, legal)
    return await residents.resolve_pseudonym(call, body.pseudonym)
