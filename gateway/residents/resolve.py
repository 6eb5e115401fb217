"""Re-identification: ``POST /v1/pseudonyms/resolve``, always audited as one."""

from __future__ import annotations

from typing import Any

import policies
from gateway.auditing.recorder import Call
from gateway.platform import keys as keymod
from gateway.platform.errors import GatewayError, PolicyRefusal
from gateway.residents import steps


class InvalidPseudonym(GatewayError):
    status = 422
    code = "invalid_pseudonym"
    title = "The pseudonym is not valid for this agency"


class LegacyPseudonymRefused(GatewayError):
    status = 410
    code = "pseudonym_format_retired"
    title = "Pseudonyms of the first format (ps1) no longer resolve"


class RetiredPseudonym(GatewayError):
    status = 410
    code = "pseudonym_key_retired"
    title = "The pseudonym was made with a retired key"


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
    await steps.validated(call)
    policy, decision = await steps.decide(call, None)
    # The resolve limit holds on top of the grant's rates, never instead of them.
    settings = call.services.settings
    resolve_rate = steps.scaled(settings.resolve_rate, settings.rate_scale)
    await steps.limited(
        call, decision, extra=[(f"resolve:{call.principal.client_id}", resolve_rate)]
    )
    if not decision.reidentify:
        raise await call.refuse(
            PolicyRefusal(
                "reidentification_not_permitted",
                "no grant allows re-identification for this purpose",
            ),
        )
    domain = policy.agencies[call.principal.agency].pseudonym_domain
    try:
        nik = await _resolve(call, domain, token)
    except policies.PseudonymError as exc:
        raise await call.refuse(
            _pseudonym_refusal(exc),
        ) from None
    receipt = await call.record(
        decision="allow",
        status=200,
        fields={"nik": "clear"},
        result_count=1,
        subject_niks=[nik],
    )
    return {"nik": nik, "audit": receipt.to_dict()}
