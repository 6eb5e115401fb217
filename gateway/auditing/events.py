"""The audit event every workflow records: one typed value, one builder of its leaf.

API calls (``gateway.auditing.recorder.Call``), console actions
(``gateway.console.trail``) and operators' commands (``operator_event``) all record this
one shape, so that an auditor's search and the resident's report read every event alike.
The log adds the event's id, time and subjects (``audit.AuditLog.append``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who did what, for which purpose, decided how, and what it released."""

    action: str
    agency: str
    client_id: str
    officer: str | None
    purpose: str | None
    decision: str
    status: int
    legal_basis: str | None = None
    reason: str | None = None
    rule_ids: tuple[str, ...] = ()
    policy_version: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    result_count: int = 0
    request_id: str | None = None
    specific_data: bool = False
    hidden_until: str | None = None
    detail: Mapping[str, Any] | None = None
    sealed: str | None = None

    def leaf(self) -> dict[str, Any]:
        """The event as the log stores it (``detail`` and ``sealed`` only when present)."""
        event: dict[str, Any] = {
            "action": self.action,
            "agency": self.agency,
            "client_id": self.client_id,
            "officer": self.officer,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "decision": self.decision,
            "reason": self.reason,
            "rule_ids": list(self.rule_ids),
            "policy_version": self.policy_version,
            "fields": dict(self.fields),
            "result_count": self.result_count,
            "request_id": self.request_id,
            "status": self.status,
            "specific_data": self.specific_data,
            "hidden_until": self.hidden_until,
        }
        if self.detail:
            event["detail"] = dict(self.detail)
        if self.sealed is not None:
            event["sealed"] = self.sealed
        return event
