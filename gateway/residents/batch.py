"""Many residents in one call: ``POST /v1/residents/batch``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import connectors
import policies
from gateway.auditing.recorder import Call
from gateway.platform.errors import RateLimited, SourceUnavailable
from gateway.residents import steps
from gateway.residents.nik import NikError, parse_nik


async def batch_residents(
    call: Call, raw_niks: Sequence[str], fields: tuple[str, ...] | None
) -> dict[str, Any]:
    """Up to 1,000 NIKs in one call, each answered on its own.

    Security decisions: every distinct valid NIK asked for is charged to the client's and
    the officer's limits (a batch of N costs N reads) and is a subject of the event,
    released or not; at most the policy's cap of residents is released, the rest refused
    with ``cap_exceeded``; a NIK outside the jurisdiction is answered ``not_found``, as
    one that does not exist, and the event says which were which, sealed. A client runs
    at most ``batch_concurrency`` batches at once in a process, so that its batches
    cannot starve other agencies' calls.
    """
    await steps.validated(call)
    policy, decision = await steps.decide(call, fields)
    valid: list[str] = []
    for raw in raw_niks:
        with contextlib.suppress(NikError):
            valid.append(parse_nik(raw).value)
    unique = list(dict.fromkeys(valid))
    await steps.limited(call, decision, cost=max(1, len(unique)), subject_niks=unique)
    async with _batch_slot(call, decision, unique):
        return await _batch(call, policy, decision, raw_niks, unique, fields)


@contextlib.asynccontextmanager
async def _batch_slot(call: Call, decision: policies.Decision, niks: Sequence[str]) -> Any:
    services = call.services
    slots = services.batch_slots.get(call.principal.client_id)
    if slots is None:
        slots = services.batch_slots[call.principal.client_id] = asyncio.Semaphore(
            services.settings.batch_concurrency
        )
    try:
        if slots.locked():
            await asyncio.wait_for(slots.acquire(), services.settings.batch_wait_seconds)
        else:
            await slots.acquire()  # free: taken at once, without a timer
    except TimeoutError:
        raise await call.refuse(
            RateLimited(
                "this client's earlier batches are still running; retry in 1 s",
                headers={"Retry-After": "1"},
                extra={"limit": "batch_concurrency"},
            ),
            subject_niks=niks,
        ) from None
    try:
        yield
    finally:
        slots.release()


async def _batch(
    call: Call,
    policy: policies.Policy,
    decision: policies.Decision,
    raw_niks: Sequence[str],
    unique: list[str],
    fields: tuple[str, ...] | None,
) -> dict[str, Any]:
    result = (
        await steps.fetch(call, decision, unique)
        if unique
        else connectors.FederatedResult({}, {}, {})
    )
    try:
        missing = steps.check_unavailable(fields, decision, result.unavailable)
    except SourceUnavailable as exc:
        raise await call.refuse(
            exc,
            subject_niks=unique,
        ) from None
    cap = decision.cap or len(unique)
    released: dict[str, steps.Treated] = {}
    outcome: dict[str, str] = {}  # NIK -> the code the caller sees, when not released
    truth = {"resident_not_found": 0, "outside_jurisdiction": 0, "specific_data_denied": 0}
    for count, nik in enumerate(unique):
        if count % 50 == 49:
            await asyncio.sleep(0)  # a long batch lets the other calls of this worker run
        record = result.records.get(nik)
        if len(released) >= cap:
            outcome[nik] = "cap_exceeded"
            continue
        if record is None:
            outcome[nik] = "resident_not_found"
            truth["resident_not_found"] += 1
            continue
        try:
            released[nik] = await steps.treat(
                call, policy, decision, nik, record, result.provenance.get(nik, {})
            )
        except policies.RowFiltered:
            outcome[nik] = "resident_not_found"
            truth["outside_jurisdiction"] += 1
        except policies.SpecificDataDenied:
            outcome[nik] = "specific_data_denied"
            truth["specific_data_denied"] += 1
    results: list[dict[str, Any]] = []
    fields_released: dict[str, str] = {}
    for index, raw in enumerate(raw_niks):
        item: dict[str, Any] = {"index": index}
        treated = released.get(raw)
        code = outcome.get(raw)
        if treated is not None:
            item.update(
                status="ok",
                subject=treated.subject,
                record=treated.record,
                treatments=treated.treatments,
                sources=treated.sources,
            )
            fields_released.update(treated.treatments)
        elif code is None:
            item.update(status="invalid", code="invalid_nik")
        elif code == "resident_not_found":
            item.update(status="not_found", code=code)
        else:
            item.update(status="denied", code=code)
        results.append(item)
    over_cap = sum(1 for code in outcome.values() if code == "cap_exceeded")
    # Released residents first: the event's first ``result_count`` subjects are the ones
    # released, the others were asked for and not released.
    subjects = [*released, *(n for n in unique if n not in released)]
    receipt = await call.record(
        decision="allow",
        status=200,
        fields=fields_released,
        result_count=len(released),
        subject_niks=subjects,
        specific_data=any(t.specific_data for t in released.values()),
        detail={
            "asked": len(raw_niks),
            "distinct_valid": len(unique),
            "released": len(released),
            "cap": cap,
            "cap_exceeded": over_cap,
        },
        sealed=call.seal(truth),
    )
    body: dict[str, Any] = {
        "results": results,
        "audit": receipt.to_dict(),
    }
    if over_cap:
        body["cap"] = cap
    if missing:
        body["unavailable"] = missing
    return body
