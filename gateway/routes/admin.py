"""Administration: clients, policy bundles with two-person approval, simulation, keys.

Every change is an audit event; the acting administrator is the calling client.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field

import policies
from gateway import clients
from gateway import keys as keymod
from gateway.auth import get_services, require
from gateway.errors import GatewayError, InvalidRequest
from gateway.recorder import OFFICER_RE, Call
from gateway.tokens import Principal

router = APIRouter(prefix="/admin", tags=["admin"])
Admin = Annotated[Principal, Depends(require("admin"))]
# Bundle ids are database integers: a bigger number is a 422, not a driver overflow (500).
BundleId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    agency: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    scopes: list[str] = Field(min_length=1, max_length=5)


class PolicyProposal(_Body):
    files: dict[str, str] = Field(min_length=1, max_length=50)
    comment: str = Field(default="", max_length=2000)


class Simulation(_Body):
    agency: str = Field(max_length=64)
    purpose: str = Field(max_length=64)
    action: str = Field(default="read", pattern="^(read|search|batch|resolve)$")
    fields: list[str] | None = Field(default=None, max_length=100)
    legal_basis: str | None = Field(default=None, max_length=200)
    bundle_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class KeyRotation(_Body):
    domain: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")


def _call(request: Request, principal: Principal, action: str, officer: str | None) -> Call:
    return Call(
        services=get_services(request),
        principal=principal,
        action=action,
        purpose="administration",
        officer=officer if officer and OFFICER_RE.fullmatch(officer) else principal.client_id,
        legal_basis=None,
        request_id=request.scope["state"]["request_id"],
    )


Officer = Annotated[str | None, Header(alias="X-On-Behalf-Of")]


@router.get("/agencies")
async def agencies(request: Request, principal: Admin) -> dict[str, Any]:
    active = await get_services(request).policies.current()
    return {
        "agencies": [
            {
                "id": a.id,
                "name": a.name,
                "roles": list(a.roles),
                "jurisdiction": list(a.jurisdiction),
                "pseudonym_domain": a.pseudonym_domain,
            }
            for a in active.policy.agencies.values()
        ],
        "policy_version": active.policy.version,
    }


@router.get("/clients")
async def list_clients(request: Request, principal: Admin) -> dict[str, Any]:
    return {"clients": await clients.list_clients(get_services(request).engine)}


@router.post("/clients", status_code=201)
async def create_client(
    request: Request, principal: Admin, body: ClientCreate, officer: Officer = None
) -> dict[str, Any]:
    services = get_services(request)
    active = await services.policies.current()
    if body.agency not in active.policy.agencies:
        raise InvalidRequest("the agency is not in the active policy bundle")
    creds = await clients.create_client(
        services.engine, name=body.name, agency=body.agency, scopes=body.scopes
    )
    receipt = await _call(request, principal, "client.create", officer).record(
        decision="allow",
        status=201,
        detail={"client_id": creds.client_id, "agency": body.agency, "scopes": body.scopes},
    )
    return {
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "note": "the secret is shown once; store it now",
        "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index},
    }


@router.post("/clients/{client_id}/rotate")
async def rotate_client(
    request: Request, principal: Admin, client_id: str, officer: Officer = None
) -> dict[str, Any]:
    services = get_services(request)
    creds = await clients.rotate_secret(services.engine, client_id)
    receipt = await _call(request, principal, "client.rotate", officer).record(
        decision="allow", status=200, detail={"client_id": client_id}
    )
    return {
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index},
    }


@router.post("/clients/{client_id}/revoke")
async def revoke_client(
    request: Request, principal: Admin, client_id: str, officer: Officer = None
) -> dict[str, Any]:
    services = get_services(request)
    await clients.revoke_client(services.engine, client_id)
    await services.revocation.revoke_client(client_id)
    receipt = await _call(request, principal, "client.revoke", officer).record(
        decision="allow", status=200, detail={"client_id": client_id}
    )
    return {
        "client_id": client_id,
        "status": "revoked",
        "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index},
    }


@router.get("/policies")
async def policy_history(request: Request, principal: Admin) -> dict[str, Any]:
    services = get_services(request)
    active = await services.policies.current()
    return {
        "active": active.bundle_id,
        "policy_version": active.policy.version,
        "bundles": await services.policies.history(),
    }


@router.get("/policies/{bundle_id}")
async def policy_get(request: Request, principal: Admin, bundle_id: BundleId) -> dict[str, Any]:
    return await get_services(request).policies.get(bundle_id)


@router.get("/policies/{bundle_id}/diff")
async def policy_diff(request: Request, principal: Admin, bundle_id: BundleId) -> dict[str, Any]:
    return await get_services(request).policies.diff(bundle_id)


@router.post("/policies", status_code=201)
async def policy_propose(
    request: Request, principal: Admin, body: PolicyProposal, officer: Officer = None
) -> dict[str, Any]:
    services = get_services(request)
    proposed = await services.policies.propose(
        body.files, author=principal.client_id, comment=body.comment
    )
    receipt = await _call(request, principal, "policy.propose", officer).record(
        decision="allow",
        status=201,
        policy_version=proposed["policy_version"],
        detail={"bundle_id": proposed["id"]},
    )
    return {**proposed, "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index}}


@router.post("/policies/{bundle_id}/approve")
async def policy_approve(
    request: Request, principal: Admin, bundle_id: BundleId, officer: Officer = None
) -> dict[str, Any]:
    services = get_services(request)
    call = _call(request, principal, "policy.approve", officer)
    try:
        approved = await services.policies.approve(bundle_id, approver=principal.client_id)
    except GatewayError as exc:  # two-person rule, not proposed, unknown: all on the record
        raise await call.refuse(exc, detail={"bundle_id": bundle_id}) from None
    active = await services.policies.current()
    receipt = await call.record(
        decision="allow",
        status=200,
        policy_version=active.policy.version,
        detail={"bundle_id": bundle_id},
    )
    return {
        **{k: v for k, v in approved.items() if k != "files"},
        "policy_version": active.policy.version,
        "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index},
    }


@router.post("/policies/simulate")
async def simulate(request: Request, principal: Admin, body: Simulation) -> dict[str, Any]:
    services = get_services(request)
    if body.bundle_id is not None:
        stored = await services.policies.get(body.bundle_id)
        policy = policies.compile_bundle(policies.load_bundle_texts(stored["files"]))
    else:
        policy = (await services.policies.current()).policy
    decision = policy.decide(
        policies.AccessRequest(
            agency=body.agency,
            purpose=body.purpose,
            action=body.action,  # type: ignore[arg-type]
            fields=tuple(body.fields) if body.fields else None,
            legal_basis=body.legal_basis,
            at=datetime.now(UTC),
        )
    )
    return {
        "decision": decision.to_dict(),
        "explanation": decision.explanation,
        "policy_version": policy.version,
    }


@router.post("/keys/rotate")
async def rotate_key(
    request: Request, principal: Admin, body: KeyRotation, officer: Officer = None
) -> dict[str, Any]:
    services = get_services(request)
    version = await services.keyring.rotate(keymod.PSEUDONYM, body.domain)
    receipt = await _call(request, principal, "key.rotate", officer).record(
        decision="allow", status=200, detail={"domain": body.domain, "version": version}
    )
    return {
        "domain": body.domain,
        "version": version,
        "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index},
    }
