"""The dashboard's figures, counted from the audit log's own search.

Only counts leave this module: lookups per agency, purpose and day, the denial rate and
the number of open snooping flags. No event, officer or resident is shown, which is why
administrators may see the dashboard although they may not search the log.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import audit

PAGE = 1000
MAX_EVENTS = 50_000


@dataclass(frozen=True)
class Overview:
    days: int
    lookups: int
    denied: int
    errors: int
    by_agency: list[tuple[str, int]]
    by_purpose: list[tuple[str, int]]
    by_day: list[tuple[date, int, int]]  # day, allowed, denied (errors included)
    open_alerts: int
    truncated: bool  # more than MAX_EVENTS events in the window: figures are partial

    @property
    def denial_rate(self) -> float:
        return 0.0 if self.lookups == 0 else (self.denied + self.errors) / self.lookups


async def overview(
    log: audit.AuditLog,
    *,
    now: datetime | None = None,
    days: int = 14,
    max_events: int = MAX_EVENTS,
) -> Overview:
    """Count the lookups of the last ``days`` days (newest first, at most ``max_events``)."""
    now = now or datetime.now(UTC)
    start = datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
    agencies: Counter[str] = Counter()
    purposes: Counter[str] = Counter()
    allowed_per_day: Counter[date] = Counter()
    refused_per_day: Counter[date] = Counter()
    lookups = denied = errors = scanned = 0
    cursor: str | None = None
    truncated = False
    while True:
        page = await log.search(audit.EventQuery(time_from=start, cursor=cursor, limit=PAGE))
        for event in page.events:
            scanned += 1
            if event.get("action") not in audit.LOOKUP_ACTIONS:
                continue
            lookups += 1
            agencies[str(event.get("agency") or "-")] += 1
            purposes[str(event.get("purpose") or "-")] += 1
            day = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).date()
            decision = event.get("decision")
            if decision == "allow":
                allowed_per_day[day] += 1
            else:
                refused_per_day[day] += 1
                if decision == "deny":
                    denied += 1
                else:
                    errors += 1
        cursor = page.next_cursor
        if cursor is None:
            break
        if scanned >= max_events:
            truncated = True
            break
    alerts = await log.alerts(now=now)
    day_list = [start.date() + timedelta(days=i) for i in range(days)]
    return Overview(
        days=days,
        lookups=lookups,
        denied=denied,
        errors=errors,
        by_agency=agencies.most_common(),
        by_purpose=purposes.most_common(),
        by_day=[(d, allowed_per_day[d], refused_per_day[d]) for d in day_list],
        open_alerts=len(alerts),
        truncated=truncated,
    )
