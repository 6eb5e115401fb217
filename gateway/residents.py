"""Resident lookups: decide, fetch, treat, audit, respond — in that order, every time.

Each public function here is one API operation. Each ends in exactly one audit event,
and none returns personal data unless that event committed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import connectors
import policies
from gateway import keys as keymod
from gateway.auth import revoked_token
from gateway.errors import (
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
from gateway.nik import Nik, NikError, parse_nik
from gateway.ratelimit import Blocked as LimiterBlocked
from gateway.ratelimit import RateLimiterUnavailable as LimiterDown
from gateway.recorder import Call

# Fields the gateway itself needs to apply a decision (row filter, children's data rule),
# fetched even when not released.
CONTROL_FIELDS = ("kelurahan_code", "birth_date")


class OutsideJurisdiction(GatewayError):
    status = 403
    code = "outside_jurisdiction"
    title = "The resident is outside the agency's jurisdiction"


class SpecificDataRefused(GatewayError):
    status = 403
    code = "specific_data_denied"
    title = "Specific personal data (UU PDP Pasal 4) needs an explicit grant"


class InvalidPseudonym(GatewayError):
    status = 422
    code = "invalid_pseudonym"
    title = "The pseudonym is not valid for this agency"


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


async def enforce_rates(call: Call, decision: policies.Decision, *, default_client: str) -> None:
    """Per client and per officer limits; the policy's rates win over the defaults."""
    services = call.services
    settings = services.settings
    client_rate = _scaled(decision.rates.per_client or default_client, settings.rate_scale)
    officer_rate = _scaled(decision.rates.per_officer or settings.officer_rate, settings.rate_scale)
    # A pending revocation check rides along: the token's revocation keys are guards.
    guards = (
        services.revocation.keys_for(
            call.principal.jti, call.principal.client_id, call.principal.generation
        )
        if call.revocation_pending
        else ()
    )
    try:
        # One atomic round trip; a refusal for one key spends neither key's budget.
        client, officer = await services.limiter.hit_all(
            [
                (f"client:{call.principal.client_id}:{call.action}", client_rate),
                (f"officer:{call.principal.agency}:{call.officer}:{call.action}", officer_rate),
            ],
            guards=guards,
        )
    except LimiterBlocked:
        raise revoked_token(services) from None
    except LimiterDown as exc:
        raise RateLimiterUnavailable() from exc
    call.revocation_pending = False
    for scope, result in (("client", client), ("officer", officer)):
        if not result.allowed:
            services.metrics.count_rate_limited(scope)
            retry = max(1, int(result.retry_after + 0.999))
            raise RateLimited(
                f"rate limit exceeded; retry in {retry} s", headers={"Retry-After": str(retry)}
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
    await _limited(call, decision)
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
            ResidentNotFound("no resident with this NIK in the sources"),
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
            OutsideJurisdiction("the resident is domiciled outside the agency's jurisdiction"),
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
        "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index},
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


async def _limited(call: Call, decision: policies.Decision, rate: str | None = None) -> None:
    try:
        await enforce_rates(
            call, decision, default_client=rate or call.services.settings.lookup_rate
        )
    except RateLimited as exc:
        raise await call.refuse(
            exc, rule_ids=decision.rule_ids, policy_version=decision.policy_version
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
    for match in found.matches:
        record = result.records.get(match.nik)
        if record is None:
            continue
        try:
            treated = await _treat(
                call, policy, decision, match.nik, record, result.provenance.get(match.nik, {})
            )
        except (policies.RowFiltered, policies.SpecificDataDenied):
            continue  # outside the row filter: not a candidate for this agency at all
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
    receipt = await call.record(
        decision="allow",
        status=200,
        rule_ids=decision.rule_ids,
        policy_version=decision.policy_version,
        fields=fields_released,
        result_count=len(matches),
        subject_niks=released_niks,
        specific_data=specific,
    )
    return {
        "matches": matches,
        "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index},
    }


async def batch_residents(
    call: Call, raw_niks: Sequence[str], fields: tuple[str, ...] | None
) -> dict[str, Any]:
    await _validated(call)
    policy, decision = await _decide(call, fields)
    await _limited(call, decision)
    valid: list[str] = []
    results: list[dict[str, Any]] = []
    for raw in raw_niks:
        with contextlib.suppress(NikError):
            valid.append(parse_nik(raw).value)
    unique = list(dict.fromkeys(valid))
    result = (
        await _fetch(call, decision, unique) if unique else connectors.FederatedResult({}, {}, {})
    )
    try:
        missing = _check_unavailable(fields, decision, result.unavailable)
    except SourceUnavailable as exc:
        raise await call.refuse(
            exc, rule_ids=decision.rule_ids, policy_version=decision.policy_version
        ) from None
    released_niks: list[str] = []
    specific = False
    fields_released: dict[str, str] = {}
    valid_set = set(valid)
    for index, raw in enumerate(raw_niks):
        item: dict[str, Any] = {"index": index}
        if raw not in valid_set:
            item.update(status="invalid", code="invalid_nik")
        elif raw not in result.records:
            item.update(status="not_found", code="resident_not_found")
        else:
            try:
                treated = await _treat(
                    call, policy, decision, raw, result.records[raw], result.provenance.get(raw, {})
                )
            except policies.RowFiltered:
                item.update(status="denied", code="outside_jurisdiction")
            except policies.SpecificDataDenied:
                item.update(status="denied", code="specific_data_denied")
            else:
                item.update(
                    status="ok",
                    subject=treated.subject,
                    record=treated.record,
                    treatments=treated.treatments,
                    sources=treated.sources,
                )
                released_niks.append(raw)
                specific = specific or treated.specific_data
                fields_released.update(treated.treatments)
        results.append(item)
    receipt = await call.record(
        decision="allow",
        status=200,
        rule_ids=decision.rule_ids,
        policy_version=decision.policy_version,
        fields=fields_released,
        result_count=len(released_niks),
        subject_niks=released_niks,
        specific_data=specific,
    )
    body: dict[str, Any] = {
        "results": results,
        "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index},
    }
    if missing:
        body["unavailable"] = missing
    return body


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
    await _limited(call, decision, call.services.settings.resolve_rate)
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
    except policies.RetiredKeyVersion:
        raise await call.refuse(
            RetiredPseudonym("the key version of this pseudonym has been retired"),
            rule_ids=decision.rule_ids,
            policy_version=decision.policy_version,
        ) from None
    except policies.PseudonymError:
        # Malformed, tampered and foreign tokens get one answer that says nothing more.
        raise await call.refuse(
            InvalidPseudonym("the pseudonym is not one of this agency's"),
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
    return {"nik": nik, "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index}}
