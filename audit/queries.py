"""Auditor search, the resident access report, and the inputs of the snooping flags."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.events import LOOKUP_ACTIONS, format_time, parse_time
from audit.models import EventPage, EventQuery
from audit.schema import event_subjects, events, flagged_subjects, officer_family

MAX_PAGE = 1000

REPORT_FIELDS = ("event_id", "time", "agency", "officer", "purpose", "fields", "decision", "action")


def _decode(leaf_index: int, leaf: bytes) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(leaf)
    event["leaf_index"] = leaf_index
    return event


def _cursor(value: str) -> int:
    # ASCII digits only ('²'.isdigit() is true), and within a leaf index's range.
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ValueError("invalid cursor")
    return int(value)


async def agencies(conn: AsyncConnection) -> list[str]:
    """The agencies with events in the log."""
    stmt = select(events.c.agency).where(events.c.agency.is_not(None)).distinct()
    return sorted(str(a) for a in (await conn.execute(stmt)).scalars())


async def search(
    conn: AsyncConnection, query: EventQuery, subjects: Sequence[str] | None
) -> EventPage:
    """Run an :class:`EventQuery`; ``subjects`` are the blind indexes of its NIK, if any
    (one per agency: an event is stored under its own agency's)."""
    limit = max(1, min(query.limit, MAX_PAGE))
    stmt: Select[Any] = select(events.c.leaf_index, events.c.leaf)
    if subjects is not None:
        stmt = stmt.join(event_subjects, event_subjects.c.leaf_index == events.c.leaf_index).where(
            event_subjects.c.subject.in_(list(subjects))
        )
    for column, value in (
        (events.c.agency, query.agency),
        (events.c.officer, query.officer),
        (events.c.purpose, query.purpose),
        (events.c.decision, query.decision),
        (events.c.action, query.action),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if query.time_from is not None:
        stmt = stmt.where(events.c.time >= format_time(parse_time(query.time_from)))
    if query.time_to is not None:
        stmt = stmt.where(events.c.time < format_time(parse_time(query.time_to)))
    if query.cursor is not None:
        stmt = stmt.where(events.c.leaf_index < _cursor(query.cursor))
    stmt = stmt.order_by(events.c.leaf_index.desc()).limit(limit + 1)
    rows = (await conn.execute(stmt)).all()
    page = [_decode(int(r[0]), bytes(r[1])) for r in rows[:limit]]
    next_cursor = str(page[-1]["leaf_index"]) if len(rows) > limit else None
    return EventPage(page, next_cursor)


async def subject_accesses(
    conn: AsyncConnection, subjects: Sequence[str], *, include_hidden: bool, now: datetime
) -> list[dict[str, Any]]:
    stmt = (
        select(events.c.leaf_index, events.c.leaf, events.c.hidden_until)
        .join(event_subjects, event_subjects.c.leaf_index == events.c.leaf_index)
        .where(event_subjects.c.subject.in_(list(subjects)))
        .order_by(events.c.leaf_index)
    )
    cutoff = format_time(now)
    out: list[dict[str, Any]] = []
    for leaf_index, leaf, hidden_until in await conn.execute(stmt):
        if not include_hidden and hidden_until is not None and hidden_until > cutoff:
            continue
        event = _decode(int(leaf_index), bytes(leaf))
        entry = {key: event.get(key) for key in REPORT_FIELDS}
        entry["leaf_index"] = event["leaf_index"]
        if event.get("action") in LOOKUP_ACTIONS:
            released = _released(event, subjects)
            entry["outcome"] = "released" if released else "asked, not released"
        if include_hidden:
            entry["hidden_until"] = hidden_until
        out.append(entry)
    return out


def _released(event: dict[str, Any], subjects: Sequence[str]) -> bool:
    """Whether the event released the resident's data: an allowed lookup lists the
    residents it released first, ``result_count`` of them, then those asked for and
    not released."""
    if event.get("decision") != "allow":
        return False
    count = int(event.get("result_count") or 0)
    released = set((event.get("subjects") or [])[:count])
    return any(s in released for s in subjects)


def _insert(conn: AsyncConnection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def flag_subject(conn: AsyncConnection, subject: str, reason: str, at: str) -> None:
    stmt = _insert(conn, flagged_subjects).values(subject=subject, reason=reason, flagged_at=at)
    await conn.execute(stmt.on_conflict_do_nothing())


async def register_family(
    conn: AsyncConnection, agency: str, officer: str, subjects: list[str]
) -> None:
    if not subjects:
        return
    rows = [{"agency": agency, "officer": officer, "subject": s} for s in subjects]
    await conn.execute(_insert(conn, officer_family).on_conflict_do_nothing(), rows)
