"""The dashboard's figures, counted from the audit log's own search.

Only counts leave this module: lookups per agency, purpose and day, the denial rate and
the number of open snooping flags. No event, officer or resident is shown, which is why
administrators may see the dashboard although they may not search the log.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import audit

PAGE = 1000
MAX_EVENTS = 20_000
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Overview:
    days: int
    lookups: int
    denied: int
    errors: int
    by_agency: list[tuple[str, int]]
    by_purpose: list[tuple[str, int]]
    by_day: list[tuple[date, int, int]]  # day, allowed, denied (errors included)
    by_reason: list[tuple[str, int]]  # refusals by their problem code
    open_alerts: int
    truncated: bool  # more than MAX_EVENTS events in the window: figures are partial
    computed_at: datetime

    @property
    def denial_rate(self) -> float:
        return 0.0 if self.lookups == 0 else (self.denied + self.errors) / self.lookups


async def overview(
    log: audit.AuditLog,
    *,
    now: datetime | None = None,
    days: int = 30,
    max_events: int = MAX_EVENTS,
    page_size: int = PAGE,
) -> Overview:
    """Count the lookups of the last ``days`` days (newest first, at most ``max_events``)."""
    now = now or datetime.now(UTC)
    start = datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
    agencies: Counter[str] = Counter()
    purposes: Counter[str] = Counter()
    allowed_per_day: Counter[date] = Counter()
    refused_per_day: Counter[date] = Counter()
    reasons: Counter[str] = Counter()
    lookups = denied = errors = scanned = 0
    cursor: str | None = None
    truncated = False
    while True:
        page = await log.search(audit.EventQuery(time_from=start, cursor=cursor, limit=page_size))
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
                reasons[str(event.get("reason") or decision or "-")] += 1
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
        by_reason=reasons.most_common(),
        open_alerts=len(alerts),
        truncated=truncated,
        computed_at=now,
    )


@dataclass
class OverviewCache:
    """The last overview of this process, reused for ``CACHE_SECONDS``: counting reads
    the log page by page, and a dashboard left open should not do that every reload."""

    value: Overview | None = None
    at: float = 0.0

    async def get(self, log: audit.AuditLog) -> Overview:
        if self.value is None or time.monotonic() - self.at > CACHE_SECONDS:
            self.value = await overview(log)
            self.at = time.monotonic()
        return self.value
