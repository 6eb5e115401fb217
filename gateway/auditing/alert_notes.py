"""Snooping flags grouped, acknowledged and closed with a note.

The alerts of one kind, agency and officer form a group (repeats are grouped). An
auditor acknowledges a group ("seen, under review") or closes it ("reviewed"), always
with a note; the note is kept in ``gw_alert_notes`` and the step is an audit event. A
group with lookups newer than its last note is open again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select

from gateway.platform import store
from gateway.platform.errors import InvalidRequest
from gateway.platform.services import Services
from gateway.residents.nik import carries_nik

STATES = ("acknowledged", "closed")
NOTE_MAX = 500


def key_of(alert: dict[str, Any]) -> str:
    return f"{alert['kind']}|{alert['agency']}|{alert['officer']}"


def check_note(state: str, note: str) -> None:
    if state not in STATES:
        raise InvalidRequest("the state is acknowledged or closed")
    if not note.strip() or len(note) > NOTE_MAX:
        raise InvalidRequest("a note of 1 to 500 characters is required")
    if carries_nik(note):
        raise InvalidRequest("the note must not carry a NIK")


async def add(
    services: Services, key: str, state: str, note: str, *, by: str, last_time: str
) -> None:
    async with store.begin_write(services.engine) as conn:
        await conn.execute(
            insert(store.alert_notes).values(
                alert_key=key, state=state, note=note.strip(), noted_by=by,
                noted_at=store.utcnow(), last_time=last_time,
            )
        )  # fmt: skip


async def latest(services: Services) -> dict[str, dict[str, Any]]:
    """The newest note of every group."""
    table = store.alert_notes
    out: dict[str, dict[str, Any]] = {}
    async with services.engine.connect() as conn:
        for row in await conn.execute(select(table).order_by(table.c.id)):
            out[row.alert_key] = {
                "state": row.state,
                "note": row.note,
                "noted_by": row.noted_by,
                "noted_at": row.noted_at.isoformat() if row.noted_at else None,
                "last_time": row.last_time,
            }
    return out


def grouped(
    alerts: Sequence[dict[str, Any]], notes: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per group: how many alerts, their evidence, and the group's state."""
    groups: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        key = key_of(alert)
        group = groups.setdefault(
            key,
            {"key": key, "kind": alert["kind"], "agency": alert["agency"],
             "officer": alert["officer"], "alerts": 0, "count": 0, "details": [],
             "first_time": alert["first_time"], "last_time": alert["last_time"],
             "leaf_indexes": []},
        )  # fmt: skip
        group["alerts"] += 1
        group["count"] += int(alert["count"])
        group["details"].append(alert["detail"])
        group["first_time"] = min(group["first_time"], alert["first_time"])
        group["last_time"] = max(group["last_time"], alert["last_time"])
        group["leaf_indexes"].extend(alert["leaf_indexes"])
    for group in groups.values():
        note = notes.get(group["key"])
        fresh = note is not None and note["last_time"] >= group["last_time"]
        group["state"] = note["state"] if fresh and note else "open"
        group["note"] = note if fresh else None
        group["leaf_indexes"] = sorted(set(group["leaf_indexes"]), reverse=True)
    order = {"open": 0, "acknowledged": 1, "closed": 2}
    newest_first = sorted(groups.values(), key=lambda g: str(g["last_time"]), reverse=True)
    return sorted(newest_first, key=lambda g: order[g["state"]])
