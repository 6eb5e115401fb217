"""Auditor endpoints over the audit log; checkpoint and verifier key are public."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response

import audit
from gateway.admin import proposals
from gateway.admin.routes import acting_person
from gateway.auditing import investigations
from gateway.auditing.leafreads import LeafReads
from gateway.auditing.proofs import proof_bundle
from gateway.auditing.recorder import OFFICER_RE, Call
from gateway.auditing.reports import issue_report_token, read_report_token, revoke_report_token
from gateway.identity.auth import authenticate, get_services
from gateway.identity.tokens import Principal
from gateway.platform.errors import (
    BadRequest,
    InsufficientScope,
    InvalidNik,
    NikInHeader,
    NotFound,
    Unauthenticated,
)
from gateway.residents.nik import Nik, NikError, carries_nik, parse_nik

router = APIRouter(prefix="/audit", tags=["audit"])


async def _auditor(request: Request) -> Principal:
    """``require("audit")``, with the refusal of a client without the scope recorded."""
    principal = await authenticate(request)
    if not principal.has("audit"):
        call = reader_call(request, principal)
        raise await call.refuse(InsufficientScope(scope="audit"))
    return principal


Auditor = Annotated[Principal, Depends(_auditor)]
# Proofs reveal only hashes: any authenticated client may check its receipts.
Anyone = Annotated[Principal, Depends(authenticate)]


def _dt(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an ISO 8601 date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.get("/events", summary="Search the access log")
async def events(
    request: Request,
    principal: Auditor,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    officer: Annotated[str | None, Query(max_length=128)] = None,
    subject_nik: Annotated[str | None, Query(max_length=32)] = None,
    purpose: Annotated[str | None, Query(max_length=64)] = None,
    decision: Annotated[str | None, Query(pattern="^(allow|deny|error)$")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    if subject_nik is not None:
        subject_nik = _subject(subject_nik).value
    query = audit.EventQuery(
        agency=agency,
        officer=officer,
        subject_nik=subject_nik,
        purpose=purpose,
        decision=decision,
        action=action,
        time_from=_dt(from_, "from"),
        time_to=_dt(to, "to"),
        cursor=cursor,
        limit=limit,
    )
    services = get_services(request)
    try:
        page = await services.audit.search(query)
    except ValueError as exc:
        raise BadRequest("the cursor is not valid") from exc
    for event in page.events:
        # What the agency was not told (``gateway.auditing.sealing``), opened for the auditors.
        if isinstance(event.get("sealed"), str) and services.sealer is not None:
            event["unsealed"] = services.sealer.unseal(event["sealed"])
    filters = {"agency": agency, "officer": officer, "subject_nik": subject_nik,
               "purpose": purpose, "decision": decision, "action": action, "from": from_,
               "to": to}  # fmt: skip
    receipt = await reader_call(request, principal).record(
        decision="allow",
        status=200,
        result_count=len(page.events),
        subject_niks=[subject_nik] if subject_nik else (),
        detail={"view": "events", "filters": sorted(k for k, v in filters.items() if v)},
    )
    return {"events": page.events, "next_cursor": page.next_cursor, "audit": receipt.to_dict()}


@router.get("/leaves/{index}", summary="The exact bytes hashed into the tree")
async def leaf(request: Request, principal: Anyone, index: int) -> Response:
    """Auditors read every leaf; an agency reads the leaves of its own calls, so that it
    can prove what it lawfully received."""
    log = get_services(request).audit
    call = reader_call(request, principal)
    # JSON numbers beyond 2**53 are not canonical material: such an index is no leaf's.
    detail = {"view": "leaf", "index": index if 0 <= index < 2**53 else None}
    if index < 0 or index >= await log.size():
        raise await call.refuse(NotFound("no leaf at this index"), detail=detail)
    data = await log.leaf(index)
    if not principal.has("audit") and json.loads(data).get("agency") != principal.agency:
        raise await call.refuse(NotFound("no leaf of this agency at this index"), detail=detail)
    await _leaf_reads(request).record(call, index)  # one event for a burst of reads
    return Response(data, media_type="application/json")


@router.get("/checkpoint", summary="Latest signed checkpoint (C2SP tlog-checkpoint)")
async def checkpoint(request: Request) -> PlainTextResponse:
    """With witnesses configured: the newest checkpoint with every cosignature received."""
    services = get_services(request)
    if services.witnesses is not None:
        return PlainTextResponse(await services.witnesses.checkpoint())
    return PlainTextResponse(await services.audit.checkpoint())


@router.get("/verifier-key", summary="C2SP note verifier key of the checkpoint signer")
async def verifier_key(request: Request) -> PlainTextResponse:
    return PlainTextResponse(get_services(request).audit.signer.verifier_key())


@router.get("/proof/inclusion")
async def inclusion(
    request: Request,
    principal: Anyone,
    leaf_index: Annotated[int, Query(ge=0)],
    tree_size: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    log = get_services(request).audit
    if leaf_index >= tree_size or tree_size > await log.size():
        raise BadRequest("need leaf_index < tree_size <= the current tree size")
    return (await log.inclusion_proof(leaf_index, tree_size)).to_dict()


@router.get("/receipts/{leaf_index}/proof", summary="A receipt's proof into the checkpoint")
async def receipt_proof(request: Request, principal: Anyone, leaf_index: int) -> dict[str, Any]:
    """A proof bundle for one receipt, checkable offline; with the leaf bytes for an
    auditor or for the agency whose call the leaf records."""
    services = get_services(request)
    if leaf_index < 0 or leaf_index >= await services.audit.size():
        raise NotFound("no leaf at this index")
    return await proof_bundle(
        services,
        [leaf_index],
        leaves_of_agency=principal.agency,
        all_leaves=principal.has("audit"),
    )


@router.get("/proof/consistency")
async def consistency(
    request: Request,
    principal: Anyone,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    log = get_services(request).audit
    if first > second or second > await log.size():
        raise BadRequest("need first <= second <= the current tree size")
    return (await log.consistency_proof(first, second)).to_dict()


def _subject(nik: str) -> Nik:
    try:
        return parse_nik(nik)
    except NikError as exc:
        raise InvalidNik(str(exc)) from None


def _leaf_reads(request: Request) -> LeafReads:
    services = get_services(request)
    if services.leaf_reads is None:
        services.leaf_reads = LeafReads()
    return services.leaf_reads


def reader_call(request: Request, principal: Principal) -> Call:
    """The record of a read of the log itself (auditors, an agency reading its leaves)."""
    return _report_call(
        request,
        principal,
        request.headers.get("x-on-behalf-of"),
        purpose="audit",
        legal_basis=None,
        action="audit.read",
    )


def _report_call(
    request: Request,
    principal: Principal,
    officer: str | None,
    *,
    purpose: str,
    legal_basis: str | None,
    action: str = "subject.report",
) -> Call:
    """The record of an auditor acting on one resident's report; the officer is the
    person at the desk when given well-formed, else the calling client. A NIK-shaped
    officer is refused (422 ``nik_in_header``) before anything is recorded."""
    if carries_nik(officer):
        raise NikInHeader("X-On-Behalf-Of must not carry a NIK")
    return Call(
        services=get_services(request),
        principal=principal,
        action=action,
        purpose=purpose,
        officer=officer if officer and OFFICER_RE.fullmatch(officer) else principal.client_id,
        legal_basis=legal_basis,
        request_id=request.scope["state"]["request_id"],
    )


@router.get("/subjects/{nik}/accesses", summary="Who saw this resident's data (UU PDP Pasal 32)")
async def subject_accesses(
    request: Request,
    principal: Auditor,
    nik: str,
    officer: Annotated[str | None, Header(alias="X-On-Behalf-Of")] = None,
) -> dict[str, Any]:
    services = get_services(request)
    parsed = _subject(nik)
    call = _report_call(request, principal, officer, purpose="audit", legal_basis=None)
    now = datetime.now(UTC)
    accesses = await services.audit.subject_accesses(parsed.value, include_hidden=True, now=now)
    # Every entry, those under a running investigation marked with its id.
    running = await investigations.running_for(services, parsed.value, now)
    accesses = investigations.for_auditor(accesses, running)
    receipt = await call.record(
        decision="allow", status=200, result_count=len(accesses), subject_niks=[parsed.value]
    )
    return {
        "accesses": accesses,
        "audit": receipt.to_dict(),
    }


@router.post("/subjects/{nik}/report-token", summary="Issue a resident's own report token")
async def report_token(
    request: Request,
    principal: Auditor,
    nik: str,
    officer: Annotated[str | None, Header(alias="X-On-Behalf-Of")] = None,
) -> dict[str, Any]:
    """For the service desk, after it has checked the resident's identity in person."""
    services = get_services(request)
    parsed = _subject(nik)
    token, expires, report_id = await issue_report_token(services, parsed.value)
    call = _report_call(
        request,
        principal,
        officer,
        purpose="subject_access_request",
        legal_basis="UU 27/2022 Pasal 32",
    )
    receipt = await call.record(
        decision="allow",
        status=200,
        subject_niks=[parsed.value],
        detail={"issued": "report_token", "report_id": report_id},
    )
    return {
        "report_token": token,
        "report_id": report_id,
        "expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
        "report_url": f"{services.settings.issuer}/v1/me/accesses",
        "audit": receipt.to_dict(),
    }


resident_router = APIRouter(prefix="/v1/me", tags=["residents' own report"])


@resident_router.get("/accesses", summary="Who looked at my data (with a report token)")
async def my_accesses(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    services = get_services(request)
    if not authorization or authorization[:7].lower() != "bearer ":
        raise Unauthenticated(
            "a report token is required",
            headers={"WWW-Authenticate": 'Bearer realm="satugate-report"'},
        )
    report = await read_report_token(services, authorization[7:].strip())
    # Every read is on the record, under the resident's subject, before the answer.
    reader = Principal(
        client_id="report-token",
        agency="resident",
        scopes=frozenset(),
        jti=report.report_id,
        expires_at=report.expires_at,
    )
    call = _report_call(
        request, reader, "resident", purpose="subject_access_request", legal_basis=None
    )
    now = datetime.now(UTC)
    accesses = await services.audit.subject_accesses(report.nik, include_hidden=False, now=now)
    # Entries under a running investigation are left out, and nothing says so.
    running = await investigations.running_for(services, report.nik, now)
    accesses = investigations.for_resident(accesses, running)
    receipt = await call.record(
        decision="allow",
        status=200,
        result_count=len(accesses),
        subject_niks=[report.nik],
        detail={"read": "report_token", "report_id": report.report_id},
    )
    # Each entry's inclusion proof into the served (witnessed) checkpoint: the resident
    # can check the report offline (``satugate audit check-report``).
    proofs = await proof_bundle(services, (a["leaf_index"] for a in accesses))
    return {"accesses": accesses, "proofs": proofs, "audit": receipt.to_dict()}


@router.post("/report-tokens/{report_id}/revoke", summary="Revoke a resident's report token")
async def report_token_revoke(
    request: Request,
    principal: Auditor,
    report_id: Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")],
    officer: Annotated[str | None, Header(alias="X-On-Behalf-Of")] = None,
) -> dict[str, Any]:
    """A lost or stolen report token opens nothing from now on."""
    services = get_services(request)
    call = _report_call(request, principal, officer, purpose="audit", legal_basis=None)
    receipt = await call.record(
        decision="allow", status=200, detail={"revoked": "report_token", "report_id": report_id}
    )
    await revoke_report_token(services, report_id, by=call.officer or principal.client_id)
    return {
        "report_id": report_id,
        "status": "revoked",
        "audit": receipt.to_dict(),
    }


@router.get("/proposals", summary="Changes waiting for a second person")
async def proposal_list(request: Request, principal: Auditor) -> dict[str, Any]:
    return {"proposals": await proposals.listed(get_services(request), status="proposed")}


@router.post(
    "/proposals/{proposal_id}/approve",
    summary="Approve a change on the auditors' side (an audit client)",
)
async def proposal_approve(
    request: Request, principal: Auditor, proposal_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> dict[str, Any]:
    """An audit client is approved by the auditor it is for, never by administrators
    alone; the auditor's client must be bound to that person."""
    person, record = await acting_person(request, principal, "change.propose", purpose="audit")
    return await proposals.approve(get_services(request), person, proposal_id, record)
