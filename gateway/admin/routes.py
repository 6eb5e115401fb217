"""Administration: clients, policy bundles with two-person approval, simulation, keys.

The acting person is the one the calling ``admin`` client is bound to (a registered
console user); a client bound to no person administers nothing. Changes that widen or
alter access are proposals another person approves (``gateway.admin.proposals``); every step
and every refusal is an audit event naming the person.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

import audit
import policies
from gateway.admin import proposals
from gateway.admin.proposals import Person, PersonRequired, Recorder
from gateway.auditing.recorder import Call
from gateway.identity import clients
from gateway.identity.auth import get_services, require
from gateway.identity.tokens import Principal
from gateway.platform import keys as keymod
from gateway.platform.errors import GatewayError, InvalidRequest

router = APIRouter(prefix="/admin", tags=["admin"])
Admin = Annotated[Principal, Depends(require("admin"))]
# Bundle ids are database integers: a bigger number is a 422, not a driver overflow (500).
BundleId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ProposalId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ClientId = Annotated[str, Path(max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    agency: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    scopes: list[str] = Field(min_length=1, max_length=5)
    # The person an admin or audit client acts for (a registered console user).
    person: str | None = Field(default=None, max_length=64)


class ScopeAddition(_Body):
    scopes: list[str] = Field(min_length=1, max_length=5)


class ClientKeys(_Body):
    jwks: dict[str, Any] | None = Field(
        default=None,
        description="The client's public keys (RFC 7517 JWK Set; EC, RSA or OKP, each with"
        " a kid, no private part, 1 to 5 keys) for private_key_jwt (RFC 7523)",
    )
    jwks_uri: str | None = Field(
        default=None,
        max_length=512,
        description="Instead of jwks: an https URL where the client publishes its JWK Set;"
        " fetched with a timeout and a size cap, cached, fetched again for an unknown kid"
        " (at most every SATUGATE_CLIENT_JWKS_REFRESH_SECONDS)",
    )
    secrets_disabled: bool = Field(
        default=False, description="Refuse the client's shared secret from then on"
    )
    dpop_required: bool = Field(
        default=False, description="Issue the client only DPoP-bound tokens (RFC 9449)"
    )


class PolicyProposal(_Body):
    files: dict[str, str] = Field(min_length=1, max_length=50)
    comment: str = Field(default="", max_length=2000)


class Simulation(_Body):
    agency: str = Field(max_length=64)
    purpose: str = Field(max_length=64)
    action: str = Field(default="read", pattern="^(read|search|batch|resolve|aggregate)$")
    fields: list[str] | None = Field(default=None, max_length=100)
    legal_basis: str | None = Field(default=None, max_length=200)
    bundle_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    # For action aggregate: the statistics query to decide.
    dataset: str = Field(default="civil_registry", max_length=64)
    unit: str = Field(default="residents", pattern="^(residents|households)$")
    group_by: list[str] = Field(default_factory=list, max_length=4)
    filters: dict[str, list[str]] = Field(default_factory=dict, max_length=6)


class KeyRotation(_Body):
    domain: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")


class KeyRetirement(_Body):
    domain: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    version: int = Field(ge=1, le=2**31 - 1)


def recorder(request: Request, principal: Principal, officer: str, purpose: str) -> Recorder:
    """The audit events of one API call, naming the acting person as the officer."""

    async def record(
        action: str,
        *,
        decision: str,
        status: int,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
        policy_version: str | None = None,
    ) -> audit.Receipt:
        call = Call(
            services=get_services(request),
            principal=principal,
            action=action,
            purpose=purpose,
            officer=officer,
            legal_basis=None,
            request_id=request.scope["state"]["request_id"],
        )
        return await call.record(
            decision=decision,
            status=status,
            reason=reason,
            detail=detail,
            policy_version=policy_version,
        )

    return record


async def acting_person(
    request: Request, principal: Principal, action: str, *, purpose: str = "administration"
) -> tuple[Person, Recorder]:
    """The person behind the calling client and the recorder of their events; a client
    bound to no person is refused (and the refusal recorded)."""
    person = await proposals.person_of_client(get_services(request), principal.client_id)
    if person is None:
        record = recorder(request, principal, principal.client_id, purpose)
        raise await proposals.refused(
            record,
            action,
            PersonRequired("this client is bound to no registered person"),
            client_id=principal.client_id,
        )
    return person, recorder(request, principal, person.username, purpose)


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


@router.post("/clients", status_code=202, summary="Propose a new client")
async def create_client(request: Request, principal: Admin, body: ClientCreate) -> dict[str, Any]:
    """A proposal: the client exists once another person approves it, and the approver
    receives its secret (for an admin or audit client: the person it is for)."""
    person, record = await acting_person(request, principal, "change.propose")
    payload = body.model_dump(exclude_none=True)
    return await proposals.propose(get_services(request), person, "client.create", payload, record)


@router.post("/clients/{client_id}/scopes", status_code=202, summary="Propose more scopes")
async def add_scopes(
    request: Request, principal: Admin, client_id: ClientId, body: ScopeAddition
) -> dict[str, Any]:
    person, record = await acting_person(request, principal, "change.propose")
    payload = {"client_id": client_id, "scopes": body.scopes}
    return await proposals.propose(get_services(request), person, "client.scopes", payload, record)


@router.post(
    "/clients/{client_id}/keys",
    status_code=202,
    summary="Propose the client's public keys (private_key_jwt)",
)
async def register_keys(
    request: Request, principal: Admin, client_id: ClientId, body: ClientKeys
) -> dict[str, Any]:
    """A proposal: at approval the client authenticates with JWTs signed by these keys
    (RFC 7523), and with ``secrets_disabled`` its shared secret is refused."""
    person, record = await acting_person(request, principal, "change.propose")
    payload = {"client_id": client_id, **body.model_dump()}
    return await proposals.propose(get_services(request), person, "client.keys", payload, record)


@router.post("/clients/{client_id}/rotate", status_code=202, summary="Propose a new secret")
async def rotate_client(request: Request, principal: Admin, client_id: ClientId) -> dict[str, Any]:
    """A proposal: at approval the old secret and every token issued under it stop, and
    the approver receives the new secret."""
    person, record = await acting_person(request, principal, "change.propose")
    payload = {"client_id": client_id}
    return await proposals.propose(get_services(request), person, "client.rotate", payload, record)


@router.post("/clients/{client_id}/revoke", summary="Revoke a client (or propose to)")
async def revoke_client(
    request: Request, response: Response, principal: Admin, client_id: ClientId
) -> dict[str, Any]:
    """An agency's data client is revoked at once (200); an admin or audit client on a
    proposal another person approves (202)."""
    services = get_services(request)
    person, record = await acting_person(request, principal, "client.revoke")
    client = await clients.get_client(services.engine, client_id)
    if client is not None and clients.role_scope(client["scopes"]) is not None:
        proposed = await proposals.propose(
            services, person, "client.revoke", {"client_id": client_id}, record
        )
        response.status_code = 202
        return proposed
    return await proposals.revoke_data_client(services, person, client_id, record)


@router.get("/proposals", summary="Changes waiting for a second person, and decided ones")
async def proposal_list(
    request: Request,
    principal: Admin,
    status: Annotated[str | None, Query(pattern="^(proposed|approved|void|unrecorded)$")] = None,
) -> dict[str, Any]:
    return {"proposals": await proposals.listed(get_services(request), status=status)}


@router.get("/proposals/{proposal_id}")
async def proposal_get(
    request: Request, principal: Admin, proposal_id: ProposalId
) -> dict[str, Any]:
    return await proposals.get(get_services(request), proposal_id)


@router.post("/proposals/{proposal_id}/approve", summary="Approve another person's proposal")
async def proposal_approve(
    request: Request, principal: Admin, proposal_id: ProposalId
) -> dict[str, Any]:
    person, record = await acting_person(request, principal, "change.propose")
    return await proposals.approve(get_services(request), person, proposal_id, record)


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
    request: Request, principal: Admin, body: PolicyProposal
) -> dict[str, Any]:
    services = get_services(request)
    person, record = await acting_person(request, principal, "policy.propose")
    receipts: list[audit.Receipt] = []

    async def recorded(bundle_id: int, version: str) -> None:
        receipts.append(
            await record(
                "policy.propose",
                decision="allow",
                status=201,
                policy_version=version,
                detail={"bundle_id": bundle_id},
            )
        )

    try:
        proposed = await services.policies.propose(
            body.files, author=person.username, comment=body.comment, recorded=recorded
        )
    except InvalidRequest as exc:  # the bundle does not validate: on the record too
        raise await proposals.refused(record, "policy.propose", exc) from None
    receipt = receipts[0]
    return {**proposed, "audit": receipt.to_dict()}


@router.post("/policies/{bundle_id}/approve")
async def policy_approve(request: Request, principal: Admin, bundle_id: BundleId) -> dict[str, Any]:
    services = get_services(request)
    person, record = await acting_person(request, principal, "policy.approve")
    receipts: list[audit.Receipt] = []

    async def recorded(version: str) -> None:
        receipts.append(
            await record(
                "policy.approve",
                decision="allow",
                status=200,
                policy_version=version,
                detail={"bundle_id": bundle_id},
            )
        )

    try:
        approved = await services.policies.approve(
            bundle_id, approver=person.username, recorded=recorded
        )
    except GatewayError as exc:  # two-person rule, not proposed, unknown: all on the record
        if receipts:
            raise
        raise await proposals.refused(record, "policy.approve", exc, bundle_id=bundle_id) from None
    active = await services.policies.current()
    receipt = receipts[0]
    return {
        **{k: v for k, v in approved.items() if k != "files"},
        "policy_version": active.policy.version,
        "audit": receipt.to_dict(),
    }


@router.post("/policies/simulate")
async def simulate(request: Request, principal: Admin, body: Simulation) -> dict[str, Any]:
    services = get_services(request)
    if body.bundle_id is not None:
        stored = await services.policies.get(body.bundle_id)
        policy = policies.compile_bundle(policies.load_bundle_texts(stored["files"]))
    else:
        policy = (await services.policies.current()).policy
    if body.action == "aggregate":
        verdict = policy.decide_aggregate(
            policies.AggregateRequest(
                agency=body.agency,
                purpose=body.purpose,
                dataset=body.dataset,
                unit=body.unit,
                group_by=tuple(body.group_by),
                filters={k: tuple(v) for k, v in body.filters.items()},
                at=datetime.now(UTC),
            )
        )
        return {
            "decision": verdict.to_dict(),
            "explanation": verdict.explanation,
            "policy_version": policy.version,
        }
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
async def rotate_key(request: Request, principal: Admin, body: KeyRotation) -> dict[str, Any]:
    """A new pseudonym key for a domain of the active bundle (rotation narrows nothing
    and widens nothing: old pseudonyms keep resolving until their key is retired)."""
    services = get_services(request)
    _person, record = await acting_person(request, principal, "key.rotate")
    active = await services.policies.current()
    domains = {a.pseudonym_domain for a in active.policy.agencies.values()}
    if body.domain not in domains:
        error = InvalidRequest("keys are made only for the pseudonym domains of the active bundle")
        raise await proposals.refused(record, "key.rotate", error, domain=body.domain)
    receipt = await record(
        "key.rotate", decision="allow", status=200, detail={"domain": body.domain}
    )
    version = await services.keyring.rotate(keymod.PSEUDONYM, body.domain)
    return {
        "domain": body.domain,
        "version": version,
        "audit": receipt.to_dict(),
    }


@router.post("/keys/retire", status_code=202, summary="Propose to retire a pseudonym key")
async def retire_key(request: Request, principal: Admin, body: KeyRetirement) -> dict[str, Any]:
    person, record = await acting_person(request, principal, "change.propose")
    return await proposals.propose(
        get_services(request), person, "key.retire", body.model_dump(), record
    )
