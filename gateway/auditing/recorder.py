"""Turning one call into one audit event, and refusing to go on without it.

Every resident-data call ends in exactly one ``record`` (allowed, denied or rejected).
If the audit log cannot commit the event, ``AuditUnavailable`` (503) is raised and the
caller releases nothing: the audit write happens before the response is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import audit
import policies
from gateway.auditing.events import AuditEvent
from gateway.identity.auth import revoked_token
from gateway.identity.officers import normalise_officer
from gateway.identity.tokens import Principal
from gateway.platform.errors import (
    AuditUnavailable,
    GatewayError,
    InvalidOfficer,
    InvalidPurpose,
    InvalidRequest,
    NikInHeader,
)
from gateway.platform.services import Services
from gateway.residents.nik import carries_nik

# Officer ids and purposes are echoed into the audit log: a strict alphabet keeps header
# injection, control characters and look-alike Unicode out of the evidence.
OFFICER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:\-]{0,127}")
PURPOSE_RE = re.compile(r"[a-z][a-z0-9_]{1,63}")
LEGAL_BASIS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./:_\-]{0,199}")
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._\-]{1,128}")


@dataclass
class Call:
    """The who, why and on-whose-behalf of one request, validated."""

    services: Services
    principal: Principal
    action: str
    purpose: str | None
    officer: str | None
    legal_basis: str | None
    request_id: str
    recorded: bool = field(default=False)
    # The agency's signed word for the officer (``X-Officer-Assertion``, gateway.identity.officers).
    assertion: str | None = None
    # The policy decision the call is under, once taken: every event recorded after it
    # carries its rule ids and policy version.
    ruling: policies.Decision | None = None

    def validate(self) -> None:
        """Check the call headers; raise the problem to be recorded and returned."""
        self.check_free_text()
        if self.purpose is None or not PURPOSE_RE.fullmatch(self.purpose):
            raise InvalidPurpose("X-Purpose is required: a purpose code like social_assistance")
        officer = normalise_officer(self.officer)
        if officer is None:
            raise InvalidOfficer(
                "X-On-Behalf-Of is required: the officer's id (letters, digits, . _ @ : -,"
                " no separator at either end or twice in a row)"
            )
        # One officer, one id: RATE.A, rate-a and rate.a share their limits and record.
        self.officer = officer
        if self.legal_basis is not None and not LEGAL_BASIS_RE.fullmatch(self.legal_basis):
            raise InvalidRequest("X-Legal-Basis has characters outside the allowed set")

    def seal(self, facts: Mapping[str, Any]) -> str:
        sealer = self.services.sealer
        assert sealer is not None, "sealed facts need the services' sealer"
        return sealer.seal(facts)

    def check_free_text(self) -> None:
        """Refuse a NIK-shaped officer or legal basis (422 ``nik_in_header``). The event
        of the refusal does not copy them (``_safe``)."""
        for name, value in (("X-On-Behalf-Of", self.officer), ("X-Legal-Basis", self.legal_basis)):
            if carries_nik(value):
                raise NikInHeader(f"{name} must not carry a NIK; name the officer or agreement")

    def _safe(self, value: str | None, pattern: re.Pattern[str]) -> str | None:
        if value is None or not pattern.fullmatch(value) or carries_nik(value):
            return None
        return value

    async def record(
        self,
        *,
        decision: str,
        status: int,
        reason: str | None = None,
        rule_ids: Sequence[str] | None = None,
        policy_version: str | None = None,
        fields: Mapping[str, str] | None = None,
        result_count: int = 0,
        subject_niks: Sequence[str] = (),
        specific_data: bool = False,
        detail: Mapping[str, Any] | None = None,
        sealed: str | None = None,
    ) -> audit.Receipt:
        # The identity dependency settled the token's revocation before the call began.
        # One that lands while the call is under way stops it here when the mirror has
        # heard of it: a look in process, no round trip.
        if self.services.revocation.known_verdict(
            self.principal.jti,
            client_id=self.principal.client_id,
            generation=self.principal.generation,
        ):
            raise revoked_token(self.services)
        if self.ruling is not None:
            rule_ids = self.ruling.rule_ids if rule_ids is None else rule_ids
            policy_version = policy_version or self.ruling.policy_version
        event = AuditEvent(
            action=self.action,
            agency=self.principal.agency,
            client_id=self.principal.client_id,
            # Malformed values are not copied into the evidence; the reason says why.
            officer=self._safe(self.officer, OFFICER_RE),
            purpose=self._safe(self.purpose, PURPOSE_RE),
            legal_basis=self._safe(self.legal_basis, LEGAL_BASIS_RE),
            decision=decision,
            reason=reason,
            rule_ids=tuple(rule_ids or ()),
            policy_version=policy_version,
            fields=dict(fields or {}),
            result_count=result_count,
            request_id=self.request_id,
            status=status,
            specific_data=specific_data,
            detail=detail,
            sealed=sealed,
        )
        self.services.metrics.observe_decision(
            agency=self.principal.agency, action=self.action, outcome=reason or decision
        )
        try:
            receipt = await self.services.audit.append(event.leaf(), subject_niks=subject_niks)
        except audit.AuditUnavailable as exc:
            raise AuditUnavailable() from exc
        self.recorded = True
        return receipt

    async def refuse(
        self, error: GatewayError, *, truth: str | None = None, **event: Any
    ) -> GatewayError:
        """Record a refusal and hand back the error to raise, carrying its receipt
        (``audit``), so that the caller can prove it was refused.

        ``truth`` is the real reason where the caller must not learn it (a resident
        outside the jurisdiction is answered as not found): it goes into the event
        sealed (``gateway.auditing.sealing``), and every refusal of that kind carries one."""
        code = error.to_problem()["code"]
        decision = "deny" if error.status in (403, 404) else "error"
        if truth is not None:
            event["sealed"] = self.seal({"reason": truth})
        receipt = await self.record(decision=decision, status=error.status, reason=code, **event)
        error.extra["audit"] = receipt.to_dict()
        return error


def operator_event(
    action: str, *, officer: str, purpose: str, detail: Mapping[str, Any]
) -> dict[str, Any]:
    """The audit event of an operator's command-line action (key rotation, export):
    the same fields as a request's event, with the data steward's agency."""
    return AuditEvent(
        action=action,
        agency="diskominfo",
        client_id="cli",
        officer=officer if OFFICER_RE.fullmatch(officer) else "operator",
        purpose=purpose,
        decision="allow",
        status=0,
        detail=detail,
    ).leaf()
