"""Thirty days of synthetic, clearly labelled history for the demo's dashboard.

``satugate demo`` appends, once per demo folder, lookups of the demo agencies spread over
the last 30 days, so that the dashboard has days, agencies and refusals to show. Every
such event says what it is: its officer is ``riwayat.sintetis``, its request id
``synthetic-history`` and its ``detail`` ``{"synthetic": "demo history"}``. They are audit
events like any other (the log is append-only): a real deployment never runs this.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.platform.services import build_services
from gateway.platform.settings import Settings

MARKER = "history.seeded"
OFFICER = "riwayat.sintetis"
# agency, purpose, decision, reason, fields: the demo's own grants and refusals.
KINDS: tuple[tuple[str, str, str, str | None, dict[str, str]], ...] = (
    ("dinsos", "social_assistance", "allow", None,
     {"full_name": "clear", "religion": "withhold"}),
    ("dinsos", "social_assistance", "allow", None, {"full_name": "clear"}),
    ("dinkes", "health_insurance", "allow", None, {"full_name": "mask"}),
    ("bappeda", "development_planning", "allow", None, {"birth_date": "generalise"}),
    ("dinkes", "case_management", "deny", "purpose_not_permitted", {}),
    ("dinsos", "social_assistance", "deny", "resident_not_found", {}),
    ("bappeda", "development_planning", "deny", "policy_denied", {}),
)  # fmt: skip


def _event(kind: tuple[str, str, str, str | None, dict[str, str]], at: datetime) -> dict[str, Any]:
    agency, purpose, decision, reason, fields = kind
    return {
        "action": "resident.read", "agency": agency, "client_id": f"demo-{agency}",
        "officer": OFFICER, "purpose": purpose, "legal_basis": None, "decision": decision,
        "reason": reason, "rule_ids": [], "policy_version": None, "fields": fields,
        "result_count": 1 if decision == "allow" else 0, "request_id": "synthetic-history",
        "status": 200 if decision == "allow" else (404 if reason == "resident_not_found" else 403),
        "specific_data": False, "hidden_until": None, "time": at.isoformat(),
        "detail": {"synthetic": "demo history"},
    }  # fmt: skip


async def seed_history(
    settings: Settings, niks: list[str], *, days: int = 30, seed: int = 7
) -> int:
    """Append the history unless this folder has it already; the number of events."""
    marker = Path(settings.data_dir) / MARKER
    if marker.exists() or not niks:
        return 0
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
    now = datetime.now(UTC)
    events = []
    for day in range(days, 0, -1):
        base = (now - timedelta(days=day)).replace(hour=1, minute=0, second=0, microsecond=0)
        for _ in range(rng.randint(8, 40)):
            at = base + timedelta(minutes=rng.randint(0, 9 * 60))  # 08:00-17:00 WIB
            weights = (30, 20, 12, 10, 3, 2, 2)
            events.append((_event(rng.choices(KINDS, weights)[0], at), rng.choice(niks)))
    services = await build_services(settings)
    try:
        await services.audit.start()
        for start in range(0, len(events), 200):
            batch = events[start : start + 200]
            await asyncio.gather(*(services.audit.append(e, subject_niks=[n]) for e, n in batch))
    finally:
        await services.aclose()
    marker.write_text(f"{len(events)} synthetic events over {days} days\n", encoding="utf-8")
    return len(events)
