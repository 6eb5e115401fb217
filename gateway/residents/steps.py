"""The steps every resident workflow takes, in this order: validate the call, decide,
charge the limits, fetch, treat; each refusal on the way recorded with the decision it
comes from.

The workflows themselves (``read``, ``search``, ``batch``, ``resolve``) compose these
steps and end in exactly one audit event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import connectors
import policies
from gateway.auditing.recorder import Call
from gateway.limits.ratelimit import RateLimiterUnavailable as LimiterDown
from gateway.platform.errors import (
    GatewayError,
    InvalidFields,
    PolicyRefusal,
    RateLimited,
    RateLimiterUnavailable,
    SourceUnavailable,
)

# Fields the gateway itself needs to apply a decision (row filter, children's data rule),
# fetched even when not released.
CONTROL_FIELDS = ("kelurahan_code", "birth_date")


# Security decision: a resident outside the agency's jurisdiction is answered exactly as
# one that does not exist (status, body, code, the same work): otherwise an agency could
# learn who lives elsewhere by asking. The event records the truth, sealed
# (``gateway.auditing.sealing``), and every not-found event carries a sealed member of the
# same size.
NOT_FOUND_DETAIL = "no resident with this NIK in the sources"


def _now() -> datetime:
    return datetime.now(UTC)


def scaled(rate: str, scale: float) -> str:
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
    client_rate = scaled(decision.rates.per_client or default_client, settings.rate_scale)
    officer_rate = scaled(decision.rates.per_officer or settings.officer_rate, settings.rate_scale)
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


async def decide(
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
    call.ruling = decision
    if not decision.allowed:
        raise await call.refuse(
            PolicyRefusal(decision.code or "policy_denied", decision.explanation),
        )
    return policy, decision


def _policy_action(action: str) -> Any:
    return {
        "resident.read": "read",
        "resident.search": "search",
        "resident.batch": "batch",
        "pseudonym.resolve": "resolve",
    }[action]


async def validated(call: Call) -> None:
    try:
        call.validate()
        officers = call.services.officers
        if officers is not None and officers.configured(call.principal.agency) is not None:
            assert call.officer is not None
            await officers.check(call.principal.agency, call.officer, call.assertion)
    except GatewayError as exc:
        raise await call.refuse(exc) from None


def parse_fields(raw: str | None) -> tuple[str, ...] | None:
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


async def treat(
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


def check_unavailable(
    requested: tuple[str, ...] | None, decision: policies.Decision, unavailable: Mapping[str, str]
) -> list[str]:
    """Fields that could not be fetched. Needed ones (asked for by name, or the control
    fields the decision depends on) make the whole answer a 504."""
    missing = sorted(f for f in unavailable if f in decision.treatments or f in CONTROL_FIELDS)
    needed = set(CONTROL_FIELDS) | set(requested or ())
    if any(f in needed for f in missing):
        raise SourceUnavailable("a source holding requested fields did not answer")
    return missing


async def limited(
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
            subject_niks=subject_niks,
            result_count=0,
        ) from None


async def fetch(
    call: Call, decision: policies.Decision, niks: Sequence[str]
) -> connectors.FederatedResult:
    try:
        return await call.services.federation.fetch(niks, _fetch_fields(decision))
    except connectors.SourceUnavailable:
        # The primary source (which decides whether a NIK exists) failed: 504, audited.
        raise await call.refuse(
            SourceUnavailable("the source of record did not answer"),
        ) from None
