"""Appending lookup events to the real audit log, shaped as the gateway records them."""

from __future__ import annotations

from typing import Any

from gateway.platform.services import Services


async def lookup(
    services: Services,
    nik: str,
    *,
    agency: str = "dinsos",
    officer: str = "petugas.01",
    purpose: str = "social_assistance",
    decision: str = "allow",
    fields: dict[str, str] | None = None,
    time: str | None = None,
) -> int:
    event: dict[str, Any] = {
        "action": "resident.read",
        "agency": agency,
        "client_id": f"demo-{agency}",
        "officer": officer,
        "purpose": purpose,
        "legal_basis": None,
        "decision": decision,
        "reason": None if decision == "allow" else "policy_denied",
        "rule_ids": [],
        "policy_version": None,
        "fields": fields if fields is not None else {"full_name": "clear", "religion": "withhold"},
        "result_count": 1 if decision == "allow" else 0,
        "request_id": "test",
        "status": 200 if decision == "allow" else 403,
        "specific_data": False,
        "hidden_until": None,
    }
    if time is not None:
        event["time"] = time
    receipt = await services.audit.append(event, subject_niks=[nik])
    return receipt.leaf_index
