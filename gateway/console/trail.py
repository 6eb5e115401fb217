"""Audit events for what console users do, in the same shape as the API's events.

A console action is recorded like an API call (``gateway.auditing.recorder.Call.record``) with the
console user as ``officer``, their agency (``diskominfo`` for administrators,
``inspektorat`` for auditors) and ``console`` as the client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import audit
from gateway.admin.proposals import Recorder
from gateway.auditing.events import AuditEvent
from gateway.console.users import ConsoleUser
from gateway.platform.errors import AuditUnavailable
from gateway.platform.services import Services

CLIENT_ID = "console"
CONSOLE_ACTIONS = frozenset(
    {
        "policy.propose",
        "policy.approve",
        "client.create",
        "client.rotate",
        "client.revoke",
        "client.scopes",
        "change.propose",
        "key.retire",
        "audit.read",
        "subject.report",
        "audit.export",
        "investigation.open",
        "investigation.close",
        "alert.acknowledge",
        "alert.close",
    }
)
_PURPOSE = {"admin": "administration", "auditor": "audit"}


async def record_action(
    services: Services,
    user: ConsoleUser,
    action: str,
    *,
    request_id: str,
    decision: str = "allow",
    status: int = 200,
    reason: str | None = None,
    policy_version: str | None = None,
    result_count: int = 0,
    subject_niks: Sequence[str] = (),
    detail: Mapping[str, Any] | None = None,
) -> audit.Receipt:
    """Append one console action to the audit log; durable when this returns.

    Security decision: a console page that shows audit data records its read *before*
    rendering, and a failed append ends in a 503 page (``AuditUnavailable``), so that no
    auditor reads the log without leaving a trace in it.
    """
    if action not in CONSOLE_ACTIONS:
        raise ValueError(f"not a console action: {action}")
    event = AuditEvent(
        action=action,
        agency=user.agency,
        client_id=CLIENT_ID,
        officer=user.username,
        purpose=_PURPOSE[user.role],
        decision=decision,
        status=status,
        reason=reason,
        policy_version=policy_version,
        result_count=result_count,
        request_id=request_id,
        detail=detail,
    )
    try:
        return await services.audit.append(event.leaf(), subject_niks=subject_niks)
    except audit.AuditUnavailable as exc:
        raise AuditUnavailable("the audit log could not record this action") from exc


def recorder(services: Services, user: ConsoleUser, request_id: str) -> Recorder:
    """The console user's events in the shape the shared services record with
    (``gateway.admin.proposals.Recorder``), so that a page and an API route call one
    service."""

    async def record(
        action: str,
        *,
        decision: str,
        status: int,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
        policy_version: str | None = None,
    ) -> audit.Receipt:
        return await record_action(
            services, user, action, request_id=request_id, decision=decision, status=status,
            reason=reason, detail=detail, policy_version=policy_version,
        )  # fmt: skip

    return record
