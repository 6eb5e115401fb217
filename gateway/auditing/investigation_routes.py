"""Auditors' investigations: entries hidden from one resident's own report until a time
(``gateway.auditing.investigations``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse

from gateway.admin import proposals
from gateway.admin.proposals import Person, Recorder
from gateway.admin.routes import acting_person
from gateway.auditing import investigations
from gateway.auditing.recorder import Call
from gateway.auditing.routes import _auditor, reader_call
from gateway.identity.auth import get_services
from gateway.identity.tokens import Principal
from gateway.platform.errors import GatewayError, InvalidNik
from gateway.residents.nik import NikError, parse_nik

router = APIRouter(prefix="/audit", tags=["audit"])
Auditor = Annotated[Principal, Depends(_auditor)]
InvestigationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _call(request: Request, principal: Principal, person: Person, action: str) -> Call:
    return Call(
        services=get_services(request),
        principal=principal,
        action=action,
        purpose="audit",
        officer=person.username,
        legal_basis=None,
        request_id=request.scope["state"]["request_id"],
    )


async def _person(request: Request, principal: Principal, action: str) -> tuple[Person, Recorder]:
    person, record = await acting_person(request, principal, action, purpose="audit")
    if person.role != "auditor":
        raise await proposals.refused(
            record, action, proposals.PersonRequired("investigations are opened by auditors")
        )
    return person, record


def _receipt(receipt: Any) -> dict[str, Any]:
    return {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index}


@router.post("/investigations", status_code=201, summary="Open an investigation")
async def open_investigation(
    request: Request, principal: Auditor, body: Annotated[dict[str, Any], Body()]
) -> JSONResponse:
    """Hide the entries about one resident from their own report until ``hidden_until``.
    More than 30 days away: the opening waits for a second auditor's approval
    (``status`` is ``proposed`` and ``proposal_id`` names the proposal)."""
    services = get_services(request)
    person, record = await _person(request, principal, "investigation.open")
    now = datetime.now(UTC)
    try:
        nik = body.get("subject_nik")
        if not isinstance(nik, str):
            raise InvalidNik("subject_nik is a NIK")
        try:
            subject_nik = parse_nik(nik).value
        except NikError as exc:
            raise InvalidNik(str(exc)) from None
        hidden_until = investigations.parse_hidden_until(body.get("hidden_until"), now)
        reason = investigations.check_reason(body.get("reason"))
    except GatewayError as exc:
        raise await proposals.refused(record, "investigation.open", exc) from None

    async def record_open(detail: dict[str, Any]) -> Any:
        return await _call(request, principal, person, "investigation.open").record(
            decision="allow", status=201, subject_niks=[subject_nik], detail=detail
        )

    item, receipt = await investigations.open_investigation(
        services, person, subject_nik=subject_nik, hidden_until=hidden_until, reason=reason,
        now=now, record_open=record_open, record=record,
    )  # fmt: skip
    return JSONResponse({**item, "audit": _receipt(receipt)}, status_code=201)


@router.get("/investigations", summary="Investigations, newest first")
async def list_investigations(request: Request, principal: Auditor) -> dict[str, Any]:
    services = get_services(request)
    items = await investigations.listed(services)
    receipt = await reader_call(request, principal).record(
        decision="allow", status=200, result_count=len(items), detail={"view": "investigations"}
    )
    return {"investigations": items, "audit": _receipt(receipt)}


@router.get("/investigations/{investigation_id}", summary="One investigation")
async def get_investigation(
    request: Request, principal: Auditor, investigation_id: InvestigationId
) -> dict[str, Any]:
    services = get_services(request)
    item = await investigations.get(services, investigation_id)
    receipt = await reader_call(request, principal).record(
        decision="allow",
        status=200,
        result_count=1,
        detail={"view": "investigation", "investigation_id": investigation_id},
    )
    return {**item, "audit": _receipt(receipt)}


@router.post("/investigations/{investigation_id}/close", summary="Close an investigation")
async def close_investigation(
    request: Request,
    principal: Auditor,
    investigation_id: InvestigationId,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> JSONResponse:
    """Show the hidden entries to the resident again. While ``hidden_until`` lies more
    than 30 days away, closing too waits for a second auditor (202, ``proposal_id``)."""
    services = get_services(request)
    person, record = await _person(request, principal, "investigation.close")
    now = datetime.now(UTC)
    note = (body or {}).get("note", "")
    try:
        item, receipt, proposal_id = await investigations.close_investigation(
            services, person, investigation_id, note, now=now, record=record
        )
    except GatewayError as exc:
        if exc.status == 503:
            raise
        raise await proposals.refused(
            record, "investigation.close", exc, investigation_id=investigation_id
        ) from None
    if proposal_id is not None:
        return JSONResponse({**item, "proposal_id": proposal_id, "audit": receipt}, status_code=202)
    return JSONResponse({**item, "audit": _receipt(receipt)}, status_code=200)
