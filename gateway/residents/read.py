"""Reading one resident: ``GET /v1/residents/{nik}``."""

from __future__ import annotations

from typing import Any

import policies
from gateway.auditing.recorder import Call
from gateway.platform.errors import GatewayError, InvalidNik, ResidentNotFound, SourceUnavailable
from gateway.residents import steps
from gateway.residents.nik import Nik, NikError, parse_nik


class SpecificDataRefused(GatewayError):
    status = 403
    code = "specific_data_denied"
    title = "Specific personal data (UU PDP Pasal 4) needs an explicit grant"


async def read_resident(call: Call, raw_nik: str, raw_fields: str | None) -> dict[str, Any]:
    await steps.validated(call)
    try:
        nik: Nik = parse_nik(raw_nik)
    except NikError as exc:
        raise await call.refuse(InvalidNik(str(exc))) from None
    fields = steps.parse_fields(raw_fields)
    policy, decision = await steps.decide(call, fields)
    await steps.limited(call, decision, subject_niks=[nik.value])
    result = await steps.fetch(call, decision, [nik.value])
    try:
        missing = steps.check_unavailable(fields, decision, result.unavailable)
    except SourceUnavailable as exc:
        raise await call.refuse(
            exc,
            subject_niks=[nik.value],
        ) from None
    record = result.records.get(nik.value)
    if record is None:
        raise await call.refuse(
            ResidentNotFound(steps.NOT_FOUND_DETAIL),
            truth="resident_not_found",
            subject_niks=[nik.value],
        )
    try:
        treated = await steps.treat(
            call, policy, decision, nik.value, record, result.provenance.get(nik.value, {})
        )
    except policies.RowFiltered:
        raise await call.refuse(
            ResidentNotFound(steps.NOT_FOUND_DETAIL),
            truth="outside_jurisdiction",
            subject_niks=[nik.value],
        ) from None
    except policies.SpecificDataDenied:
        raise await call.refuse(
            SpecificDataRefused("the record is specific data (a child's) and no grant names it"),
            subject_niks=[nik.value],
        ) from None
    receipt = await call.record(
        decision="allow",
        status=200,
        fields=treated.treatments,
        result_count=1,
        subject_niks=[nik.value],
        specific_data=treated.specific_data,
    )
    body: dict[str, Any] = {
        "subject": treated.subject,
        "record": treated.record,
        "treatments": treated.treatments,
        "sources": treated.sources,
        "audit": receipt.to_dict(),
    }
    if missing:
        body["unavailable"] = missing
    # A NIK whose region prefix is not in today's list is served, with a warning: a NIK
    # keeps the code of its first registration, and kecamatan are split and re-coded.
    regions = call.services.regions
    warnings = regions.check_nik_prefix(nik.value) if regions is not None else []
    if warnings:
        body["warnings"] = warnings
    return body
