"""Resident lookups: decide, fetch, treat, audit, respond — in that order, every time.

Each public function here is one API operation. Each ends in exactly one audit event,
and none returns personal data unless that event committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import connectors
import policies
from gateway.auditing.recorder import Call
from gateway.limits.ratelimit import RateLimiterUnavailable as LimiterDown
from gateway.limits.search_budget import Budget
from gateway.platform import keys as keymod
from gateway.platform.errors import (
    GatewayError,
    InvalidFields,
    InvalidNik,
    PolicyRefusal,
    QueryNotSpecific,
    RateLimited,
    RateLimiterUnavailable,
    ResidentNotFound,
    SourceUnavailable,
)
from gateway.residents.nik import Nik, NikError, parse_nik

# Fields the gateway itself needs to apply a decision (row filter, children's data rule),
# fetched even when not released.
CONTROL_FIELDS = ("kelurahan_code", "birth_date")


# Security decision: a resident outside the agency's jurisdiction is answered exactly as
# one that does not exist (status, body, code, the same work): otherwise an agency could
# learn who lives elsewhere by asking. The event records the truth, sealed
# (``gateway.auditing.sealing``), and every not-found event carries a sealed member of the
# same size.
NOT_FOUND_DETAIL = "no resident with this NIK in the sources"


class SpecificDataRefused(GatewayError):
    status = 403
    code = "specific_data_denied"
    title = "Specific personal data (UU PDP Pasal 4) needs an explicit grant"


class InvalidPseudonym(GatewayError):
    status = 422
    code = "invalid_pseudonym"
    title = "The pseudonym is not valid for this agency"


class SearchBudgetExhausted(GatewayError):
    status = 429
    code = "search_budget_exhausted"
    title = "The search budget of distinct residents is spent for now"


class LegacyPseudonymRefused(GatewayError):
    status = 410
    code = "pseudonym_format_retired"
    title = "Pseudonyms of the first format (ps1) no longer resolve"


class RetiredPseudonym(GatewayError):
    status = 410
    code = "pseudonym_key_retired"
    title = "The pseudonym was made with a retired key"


def _now() -> datetime:
    return datetime.now(UTC)


def _scaled(rate: str, scale: float) -> str:
    if scale == 1.0:
        return rate
    count, _, period = rate.partition("/")
    return f"{max(1, int(int(count) * scale))}/{period}"


# Limits count residents: a batch spends the same budget as the reads it replaces.
_RATE_BUCKET = {"resident.batch": "resident.read"}


async def enforce_rates(
    call: Call,
    decision: policies.Decision,
    *,
    default_client: str,
    cost: int = 1,
    extra: Sequence[tuple[str, str]] = (),
) -> None:
    """Per client and per officer limits; the policy's rates win over the defaults.

    ``cost`` is the number of residents the call asks for, charged to every limit;
    ``extra`` are further ``(key, rate)`` limits checked in the same atomic step."""
    services = call.services
    settings = services.settings
    client_rate = _scaled(decision.rates.per_client or default_client, settings.rate_scale)
    officer_rate = _scaled(decision.rates.per_officer or settings.officer_rate, settings.rate_scale)
    try:
        # One atomic round trip; a refusal for one key spends neither key's budget.
        bucket = _RATE_BUCKET.get(call.action, call.action)
        results = await services.limiter.hit_all(
            [
                (f"client:{call.principal.client_id}:{bucket}", client_rate),
                (f"officer:{call.principal.agency}:{call.officer}:{bucket}", officer_rate),
                *extra,
            ],
            cost=cost,
        )
    except LimiterDown as exc:
        raise RateLimiterUnavailable() from exc
    scopes = ("client", "officer", *("client" for _ in extra))
    for scope, result in zip(scopes, results, strict=True):
        if not result.allowed:
            services.metrics.count_rate_limited(scope)
            if cost > result.limit:
                raise RateLimited(
                    f"the call asks for {cost} residents; the {scope} limit allows "
                    f"{result.limit} at once",
                    extra={"limit": scope},
                )
            retry = max(1, int(result.retry_after + 0.999))
            raise RateLimited(
                f"rate limit exceeded; retry in {retry} s",
                headers={"Retry-After": str(retry)},
                extra={"limit": scope},
            )


async def _decide(
    call: Call, fields: tuple[str, ...] | None
) -> tuple[policies.Policy, policies.Decision]:
    active = await call.services.policies.current()
    policy = active.policy
    if fields is not None:
        unknown = sorted(set(fields) - set(policy.all_fields))
        if unknown:
            raise await call.refuse(
                # The names are not echoed: a caller's typo can be a NIK or a name.
                InvalidFields(f"{len(unknown)} unknown field(s); GET /v1/catalog lists the fields"),
                policy_version=policy.version,
            )
    decision = policy.decide(
        policies.AccessRequest(
            agency=call.principal.agency,
            purpose=call.purpose or "",
            action=_policy_action(call.action),
            fields=fields,
            legal_basis=call.legal_basis,
            at=_now(),
        )
    )
    if not decision.allowed:
        raise await call.refuse(
            PolicyRefusal(decision.code or "policy_denied", decision.explanation),
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
        )
    return policy, decision


def _policy_action(action: str) -> Any:
    return {
        "resident.read": "read",
        "resident.search": "search",
        "resident.batch": "batch",
        "pseudonym.resolve": "resolve",
    }[action]


async def _validated(call: Call) -> None:
    try:
        call.validate()
        officers = call.services.officers
        if officers is not None and officers.configured(call.principal.agency) is not None:
            assert call.officer is not None
            await officers.check(call.principal.agency, call.officer, call.assertion)
    except GatewayError as exc:
        raise await call.refuse(exc) from None


def _parse_fields(raw: str | None) -> tuple[str, ...] | None:
    if raw is None or raw.strip() == "":
        return None
    return tuple(dict.fromkeys(f.strip() for f in raw.split(",") if f.strip()))


def _fetch_fields(decision: policies.Decision) -> list[str]:
    """What release() needs: the decision's own list (treated fields and the context its
    row filter and children's rule read), and the control fields the gateway checks."""
    return list(dict.fromkeys([*decision.fetch_fields, "nik", *CONTROL_FIELDS]))


@dataclass
class Treated:
    subject: str
    record: dict[str, Any]
    treatments: dict[str, str]
    sources: dict[str, str]
    specific_data: bool  # a specific-data field, or a child's record (UU PDP Pasal 4)


async def _treat(
    call: Call,
    policy: policies.Policy,
    decision: policies.Decision,
    nik: str,
    record: Mapping[str, Any],
    provenance: Mapping[str, str],
) -> Treated:
    domain = policy.agencies[call.principal.agency].pseudonym_domain
    pseudonymiser = await call.services.pseudonymiser(domain)
    released = policy.release(decision, record, pseudonymiser=pseudonymiser, today=date.today())
    assert released.subject is not None, "release() names the subject of a record with a NIK"
    sources = {f: provenance[f] for f in released.record if f in provenance}
    return Treated(
        released.subject,
        dict(released.record),
        dict(released.treatments),
        sources,
        released.specific_data,
    )


def _check_unavailable(
    requested: tuple[str, ...] | None, decision: policies.Decision, unavailable: Mapping[str, str]
) -> list[str]:
    """Fields that could not be fetched. Needed ones (asked for by name, or the control
    fields the decision depends on) make the whole answer a 504."""
    missing = sorted(f for f in unavailable if f in decision.treatments or f in CONTROL_FIELDS)
    needed = set(CONTROL_FIELDS) | set(requested or ())
    if any(f in needed for f in missing):
        raise SourceUnavailable("a source holding requested fields did not answer")
    return missing


async def read_resident(call: Call, raw_nik: str, raw_fields: str | None) -> dict[str, Any]:
    await _validated(call)
    try:
        nik: Nik = parse_nik(raw_nik)
    except NikError as exc:
        raise await call.refuse(InvalidNik(str(exc))) from None
    fields = _parse_fields(raw_fields)
    policy, decision = await _decide(call, fields)
    await _limited(call, decision, subject_niks=[nik.value])
    result = await _fetch(call, decision, [nik.value])
    try:
        missing = _check_unavailable(fields, decision, result.unavailable)
    except SourceUnavailable as exc:
        raise await call.refuse(
            exc,
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
            subject_niks=[nik.value],
        ) from None
    record = result.records.get(nik.value)
    if record is None:
        raise await call.refuse(
            ResidentNotFound(NOT_FOUND_DETAIL),
            truth="resident_not_found",
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
            subject_niks=[nik.value],
        )
    try:
        treated = await _treat(
            call, policy, decision, nik.value, record, result.provenance.get(nik.value, {})
        )
    except policies.RowFiltered:
        raise await call.refuse(
            ResidentNotFound(NOT_FOUND_DETAIL),
            truth="outside_jurisdiction",
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
            subject_niks=[nik.value],
        ) from None
    except policies.SpecificDataDenied:
        raise await call.refuse(
            SpecificDataRefused("the record is specific data (a child's) and no grant names it"),
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
            subject_niks=[nik.value],
        ) from None
    receipt = await call.record(
        decision="allow",
        status=200,
        rule_ids=decision.rule_ids,
        policy_version=decision.policy_version,
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


async def _limited(
    call: Call,
    decision: policies.Decision,
    *,
    cost: int = 1,
    extra: Sequence[tuple[str, str]] = (),
    subject_niks: Sequence[str] = (),
) -> None:
    try:
        await enforce_rates(
            call,
            decision,
            default_client=call.services.settings.lookup_rate,
            cost=cost,
            extra=extra,
        )
    except RateLimited as exc:
        raise await call.refuse(
            exc,
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
            subject_niks=subject_niks,
            result_count=0,
        ) from None


async def _fetch(
    call: Call, decision: policies.Decision, niks: Sequence[str]
) -> connectors.FederatedResult:
    try:
        return await call.services.federation.fetch(niks, _fetch_fields(decision))
    except connectors.SourceUnavailable:
        # The primary source (which decides whether a NIK exists) failed: 504, audited.
        raise await call.refuse(
            SourceUnavailable("the source of record did not answer"),
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
        ) from None


async def search_residents(
    call: Call, query: connectors.SearchQuery, limit: int | None
) -> dict[str, Any]:
    await _validated(call)
    policy, decision = await _decide(call, None)
    await _limited(call, decision)
    cap = min(limit or decision.cap or 10, decision.cap or 10, 50)
    try:
        found = await call.services.federation.search(query, limit=cap)
    except connectors.QueryNotSpecific as exc:
        raise await call.refuse(
            QueryNotSpecific(str(exc) or "add address elements or a fuller name"),
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
        ) from None
    except connectors.SourceUnavailable:
        raise await call.refuse(SourceUnavailable("the search source did not answer")) from None
    niks = [m.nik for m in found.matches]
    result = await _fetch(call, decision, niks) if niks else connectors.FederatedResult({}, {}, {})
    try:
        _check_unavailable(None, decision, result.unavailable)
    except SourceUnavailable as exc:
        raise await call.refuse(
            exc, rule_ids=decision.rule_ids, policy_version=decision.policy_version
        ) from None
    matches: list[dict[str, Any]] = []
    released_niks: list[str] = []
    specific = False
    fields_released: dict[str, str] = {}
    # Matches the agency may not see are left out of its answer as if absent; the event
    # counts them, sealed.
    truth = {"outside_jurisdiction": 0, "specific_data_denied": 0}
    for match in found.matches:
        record = result.records.get(match.nik)
        if record is None:
            continue
        try:
            treated = await _treat(
                call, policy, decision, match.nik, record, result.provenance.get(match.nik, {})
            )
        except policies.RowFiltered:
            truth["outside_jurisdiction"] += 1
            continue
        except policies.SpecificDataDenied:
            truth["specific_data_denied"] += 1
            continue
        matches.append(
            {
                "score": round(match.score, 4),
                "subject": treated.subject,
                "record": treated.record,
                "treatments": treated.treatments,
            }
        )
        released_niks.append(match.nik)
        specific = specific or treated.specific_data
        fields_released.update(treated.treatments)
    region = _search_region(query)
    await _spend_search_budget(call, decision, released_niks, region)
    receipt = await call.record(
        decision="allow",
        status=200,
        rule_ids=decision.rule_ids,
        policy_version=decision.policy_version,
        fields=fields_released,
        result_count=len(matches),
        subject_niks=released_niks,
        specific_data=specific,
        sealed=call.seal(truth),
        detail={"region": region},
    )
    return {
        "matches": matches,
        "audit": receipt.to_dict(),
    }


def _search_region(query: connectors.SearchQuery) -> str:
    """The kecamatan a search looks in (``*`` when it names none)."""
    if query.kecamatan_code:
        return query.kecamatan_code
    if query.kelurahan_code:
        return query.kelurahan_code.rsplit(".", 1)[0]
    return "*"


async def _spend_search_budget(
    call: Call, decision: policies.Decision, niks: Sequence[str], region: str
) -> None:
    """Count the residents a search is about to return against the client's and the
    officer's budgets in ``region`` (``gateway.limits.search_budget``); refuse the whole answer
    when one would run out."""
    budget = call.services.search_budget
    if budget is None or not niks:
        return
    settings = call.services.settings
    principal = call.principal
    over = await budget.spend(
        [
            Budget(
                "client", f"client:{principal.client_id}:{region}", settings.search_budget_client
            ),
            Budget(
                "officer",
                f"officer:{principal.agency}:{call.officer}:{region}",
                settings.search_budget_officer,
            ),
        ],
        niks,
    )
    if over is not None:
        raise await call.refuse(
            SearchBudgetExhausted(
                f"the {over}'s budget of distinct residents found in this area is spent;"
                " narrow the search or wait for the next window",
                extra={"budget": over},
            ),
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
            detail={"region": region},
        )


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
    await _validated(call)
    policy, decision = await _decide(call, fields)
    valid: list[str] = []
    for raw in raw_niks:
        with contextlib.suppress(NikError):
            valid.append(parse_nik(raw).value)
    unique = list(dict.fromkeys(valid))
    await _limited(call, decision, cost=max(1, len(unique)), subject_niks=unique)
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
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
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
        await _fetch(call, decision, unique) if unique else connectors.FederatedResult({}, {}, {})
    )
    try:
        missing = _check_unavailable(fields, decision, result.unavailable)
    except SourceUnavailable as exc:
        raise await call.refuse(
            exc,
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
            subject_niks=unique,
        ) from None
    cap = decision.cap or len(unique)
    released: dict[str, Treated] = {}
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
            released[nik] = await _treat(
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
        rule_ids=decision.rule_ids,
        policy_version=decision.policy_version,
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


def _pseudonym_refusal(exc: policies.PseudonymError) -> GatewayError:
    """The refusal of a token that does not resolve."""
    if isinstance(exc, policies.RetiredKeyVersion):
        return RetiredPseudonym("the key version of this pseudonym has been retired")
    if isinstance(exc, policies.LegacyPseudonym):
        # A ps1 token did not say which field it stood for: a family-card token could
        # pass for a NIK's. Refused; the agency reads the resident again for a ps2 token.
        return LegacyPseudonymRefused("read the resident again for a current pseudonym")
    # Malformed, tampered and foreign tokens, and tokens of another field than the
    # subject's, get one answer that says nothing more.
    return InvalidPseudonym("the pseudonym is not one of this agency's")


async def _resolve(call: Call, domain: str, token: str) -> str:
    """Resolve with the cached keys; a version the cache does not know may have been made
    by another replica a moment ago, so reload once before calling it retired."""
    try:
        return (await call.services.pseudonymiser(domain)).resolve(token)
    except policies.RetiredKeyVersion:
        await call.services.keyring.refresh(keymod.PSEUDONYM, domain)
        return (await call.services.pseudonymiser(domain)).resolve(token)


async def resolve_pseudonym(call: Call, token: str) -> dict[str, Any]:
    await _validated(call)
    policy, decision = await _decide(call, None)
    # The resolve limit holds on top of the grant's rates, never instead of them.
    settings = call.services.settings
    resolve_rate = _scaled(settings.resolve_rate, settings.rate_scale)
    await _limited(call, decision, extra=[(f"resolve:{call.principal.client_id}", resolve_rate)])
    if not decision.reidentify:
        raise await call.refuse(
            PolicyRefusal(
                "reidentification_not_permitted",
                "no grant allows re-identification for this purpose",
            ),
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
        )
    domain = policy.agencies[call.principal.agency].pseudonym_domain
    try:
        nik = await _resolve(call, domain, token)
    except policies.PseudonymError as exc:
        raise await call.refuse(
            _pseudonym_refusal(exc),
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
        ) from None
    receipt = await call.record(
        decision="allow",
        status=200,
        rule_ids=decision.rule_ids,
        policy_version=decision.policy_version,
        fields={"nik": "clear"},
        result_count=1,
        subject_niks=[nik],
    )
    return {"nik": nik, "audit": receipt.to_dict()}
