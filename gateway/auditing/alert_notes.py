"""Snooping flags grouped, acknowledged and closed with a note: one service for the
auditors' API (``gateway.auditing.alert_routes``) and the console's alerts page.

The alerts of one kind, agency and officer form a group (repeats are grouped), named by a
stable id (``alert_id``). An auditor acknowledges a group ("seen, under review") or closes
it ("reviewed"), always with a note; the note is kept in ``gw_alert_notes`` and the step is
an audit event carrying the note. A group with lookups newer than its last note is open
again.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

import audit
from gateway.admin.proposals import Recorder
from gateway.platform import store
from gateway.platform.errors import Conflict, GatewayError, InvalidRequest, NotFound
from gateway.platform.services import Services
from gateway.residents.nik import carries_nik

STATES = ("acknowledged", "closed")
ACTIONS = {"acknowledged": "alert.acknowledge", "closed": "alert.close"}
NOTE_MAX = 500
ID_LENGTH = 16
ID_PATTERN = f"^[0-9a-f]{{{ID_LENGTH}}}$"
# What each state may move on to: an acknowledged group can still be closed; a closed
# one stays closed until newer lookups open it again.
NEXT = {"open": STATES, "acknowledged": ("closed",), "closed": ()}
# Unicode control, format (bidirectional overrides) and surrogate characters: a note is
# one line of plain text, shown to other auditors and kept in the evidence.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_ID = re.compile(ID_PATTERN)


def key_of(alert: dict[str, Any]) -> str:
    return f"{alert['kind']}|{alert['agency']}|{alert['officer']}"


def alert_id(key: str) -> str:
    """A group's stable id: the first 16 hex digits of SHA-256 of its key."""
    return hashlib.sha256(key.encode()).hexdigest()[:ID_LENGTH]


def check_note(state: str, note: object) -> str:
    """The note, stripped; ``InvalidRequest`` (422) for a wrong state or a note that is
    empty, too long, carries a NIK or a control character."""
    if state not in STATES:
        raise InvalidRequest("the state is acknowledged or closed")
    if not isinstance(note, str) or not note.strip() or len(note) > NOTE_MAX:
        raise InvalidRequest(f"a note of 1 to {NOTE_MAX} characters is required")
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in note):
        raise InvalidRequest("the note must not carry control characters")
    if carries_nik(note):
        raise InvalidRequest("the note must not carry a NIK")
    return note.strip()


async def _add(
    services: Services, key: str, state: str, note: str, *, by: str, last_time: str
) -> None:
    async with store.begin_write(services.engine) as conn:
        await conn.execute(
            insert(store.alert_notes).values(
                alert_key=key, state=state, note=note, noted_by=by,
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
            {"id": alert_id(key), "key": key, "kind": alert["kind"], "agency": alert["agency"],
             "officer": alert["officer"], "alerts": 0, "count": 0, "details": [], "facts": [],
             "first_time": alert["first_time"], "last_time": alert["last_time"],
             "leaf_indexes": []},
        )  # fmt: skip
        group["alerts"] += 1
        group["count"] += int(alert["count"])
        group["details"].append(alert["detail"])
        group["facts"].append(alert.get("facts") or {})
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


async def groups(
    services: Services, now: datetime
) -> tuple[list[audit.Alert], list[dict[str, Any]]]:
    """The open flags of the last days and their groups, with each group's state."""
    found = await services.audit.alerts(now=now)
    notes = await latest(services)
    return found, grouped([a.to_dict() for a in found], notes)


async def note_alert(
    services: Services, group_id: str, state: str, note: object, *, by: str,
    record: Recorder, now: datetime,
) -> tuple[dict[str, Any], audit.Receipt]:  # fmt: skip
    """Acknowledge or close the group ``group_id`` with a note, for the API and the
    console alike; the group as it now stands and the receipt of its event.

    The checks come first (422 note, 404 unknown group, 409 a step its state does not
    allow), each refusal recorded; then the event (``alert.acknowledge`` or
    ``alert.close``, with the note), then the note: when the event cannot be appended
    nothing changes (fail closed, 503)."""
    action = ACTIONS.get(state, "alert.close")
    try:
        text = check_note(state, note)
        _found, current = await groups(services, now)
        group = next((g for g in current if g["id"] == group_id), None)
        if group is None:
            raise NotFound("no open alert has this id (alerts cover the last 7 days)")
        if state not in NEXT[group["state"]]:
            raise Conflict(f"the alert is already {group['state']}")
    except GatewayError as exc:
        # Refused, on the record; the problem carries the refusal's receipt.
        named = group_id if _ID.fullmatch(group_id) else None
        refusal = await record(
            action, decision="deny" if exc.status in (404, 409) else "error", status=exc.status,
            reason=exc.to_problem()["code"], detail={"alert_id": named},
        )  # fmt: skip
        exc.extra["audit"] = refusal.to_dict()
        raise
    receipt = await record(
        action, decision="allow", status=200,
        detail={"alert_id": group_id, "kind": group["kind"], "agency": group["agency"],
                "officer": group["officer"], "alerts": group["alerts"], "note": text,
                "leaf_indexes": group["leaf_indexes"][:50]},
    )  # fmt: skip
    await _add(services, group["key"], state, text, by=by, last_time=group["last_time"])
    noted = {"state": state, "note": text, "noted_by": by, "last_time": group["last_time"]}
    return {**group, "state": state, "note": noted}, receipt
