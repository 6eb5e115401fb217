"""Audit events: the closed set of actions, time stamps, ids, blind indexes, leaf bytes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audit.canonical import canonical_json

ACTIONS: frozenset[str] = frozenset(
    {
        "resident.read",
        "resident.search",
        "resident.batch",
        "pseudonym.resolve",
        "statistics.query",
        "catalog.read",
        "policy.propose",
        "policy.approve",
        "policy.activate",
        "client.create",
        "client.rotate",
        "client.revoke",
        "client.scopes",
        "client.keys",
        "change.propose",
        "agency.create",
        "agency.update",
        "key.rotate",
        "key.retire",
        "audit.export",
        "audit.read",
        "subject.report",
        "investigation.open",
        "investigation.close",
        "alert.acknowledge",
        "alert.close",
    }
)
"""Every action an event may record. A closed set, so that a search by action is complete."""

LOOKUP_ACTIONS: frozenset[str] = frozenset(
    {"resident.read", "resident.search", "resident.batch", "pseudonym.resolve"}
)
"""Actions that touch a resident's data: what the snooping flags look at."""

DECISIONS: frozenset[str] = frozenset({"allow", "deny", "error"})

# Security decision: an event must never carry a clear NIK. These keys are where one
# would land by mistake; the subject travels as ``subject_niks`` and is stored blinded.
FORBIDDEN_KEYS: frozenset[str] = frozenset({"nik", "niks", "subject_nik", "subject_niks"})


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-01-31T08:15:00.250Z``.

    Fixed width, so that the text order of stored times is their time order.
    """
    if moment.tzinfo is None:
        raise ValueError("time must carry a time zone")
    # "YYYY-MM-DDTHH:MM:SS.mmm+00:00" -> "YYYY-MM-DDTHH:MM:SS.mmmZ"
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:23] + "Z"


def parse_time(value: str | datetime) -> datetime:
    """Parse an RFC 3339 time (or pass a datetime through); naive times are refused."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("time must carry a time zone")
    return moment


def normalise_time(value: str | datetime) -> str:
    return format_time(parse_time(value))


# The second of the last ``clock_text`` call, and its text up to the seconds.
_second: tuple[int, str] = (-1, "")


def now_text() -> str:
    """The current time as :func:`format_time` writes it, read from the clock directly:
    cheaper than a ``datetime`` and its ISO text, and every event needs one."""
    return clock_text(time.time_ns())


def clock_text(ns: int) -> str:
    """:func:`format_time` of a Unix time in nanoseconds (the second's text is kept, and
    made again only when the second changes)."""
    global _second
    seconds, nanos = divmod(ns, 1_000_000_000)
    kept = _second  # read once: another thread may replace it meanwhile
    if kept[0] != seconds:
        kept = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{kept[1]}.{nanos // 1_000_000:03d}Z"


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7): millisecond time, then 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | (rand >> 62 & 0xFFF) << 64
        | 0b10 << 62
        | rand & ((1 << 62) - 1)
    )
    # The canonical text, as ``str(uuid.UUID(int=value))`` writes it, without the object.
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def blind_index(key: bytes, nik: str) -> str:
    """The keyed blind index of a NIK: ``HMAC-SHA256(key, nik)`` in hex.

    Security decision: the log stores this, never the NIK. Without the key nobody can
    test a guessed NIK against the log (16 digits with a known structure are few enough to
    enumerate, so a plain hash would not protect them); with it, the gateway can still
    find every event about a resident.
    """
    return hmac.new(key, nik.encode(), hashlib.sha256).hexdigest()


def agency_blind_key(key: bytes, agency: str) -> bytes:
    """The blind-index key of one agency's events, derived from the audit key.

    Security decision: an agency may read the leaves of its own calls. Were a resident's
    blind index the same in every agency's leaves, two agencies comparing leaves could
    link their pseudonyms of one resident; under a key of its own per agency, the same
    resident has unrelated indexes in two agencies' leaves. Auditors, who hold the audit
    key, search by NIK across all agencies' keys.
    """
    return hmac.new(key, b"satugate/audit/agency\x00" + agency.encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An event ready to append: its canonical leaf bytes and its indexed columns."""

    event_id: str
    leaf: bytes
    columns: Mapping[str, Any]
    subjects: tuple[str, ...]
    fresh_id: bool = False
    """The id was made here (a UUIDv7, 74 random bits), not given by the caller."""


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def prepare(
    event: Mapping[str, object], subjects: Sequence[str], *, now: datetime | None = None
) -> PreparedEvent:
    """Complete an event (id, time, subjects) and encode it as RFC 8785 canonical JSON.

    ``subjects`` are blind indexes already. Raises ``ValueError`` for an unknown action or
    decision, a naive time, a clear NIK field, or a value JSON cannot carry.
    """
    stored: dict[str, object] = dict(event)
    bad = FORBIDDEN_KEYS & stored.keys()
    if bad:
        raise ValueError(f"an audit event must not carry a clear NIK field: {sorted(bad)}")
    action = stored.get("action")
    if action not in ACTIONS:
        raise ValueError("unknown audit action")
    decision = stored.get("decision")
    if decision is not None and decision not in DECISIONS:
        raise ValueError("unknown audit decision")
    fresh_id = "event_id" not in stored
    if fresh_id:
        stored["event_id"] = uuid7()
    raw_time = stored.get("time")
    if raw_time is None:
        stored["time"] = format_time(now) if now is not None else now_text()
    elif isinstance(raw_time, str | datetime):
        stored["time"] = normalise_time(raw_time)
    else:
        raise ValueError("event time must be RFC 3339 text")
    hidden = stored.get("hidden_until")
    if isinstance(hidden, str | datetime):
        stored["hidden_until"] = normalise_time(hidden)
    elif hidden is not None:
        raise ValueError("hidden_until must be RFC 3339 text or null")
    unique = tuple(dict.fromkeys(subjects))
    stored["subjects"] = list(unique)
    try:
        leaf = canonical_json(stored)
    except ValueError as exc:
        raise ValueError("audit event is not canonical JSON material") from exc
    return PreparedEvent(str(stored["event_id"]), leaf, _columns(stored), unique, fresh_id)


def _columns(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed columns of a completed event."""
    return {
        "event_id": str(stored["event_id"]),
        "time": stored["time"],
        "agency": _text(stored.get("agency")),
        "officer": _text(stored.get("officer")),
        "client_id": _text(stored.get("client_id")),
        "purpose": _text(stored.get("purpose")),
        "decision": _text(stored.get("decision")),
        "action": stored["action"],
        "hidden_until": stored.get("hidden_until"),
    }


def from_leaf(leaf: bytes) -> PreparedEvent:
    """The event that ``prepare`` turned into ``leaf``, back from the leaf bytes alone
    (they hold the whole completed event: id, time, subjects)."""
    stored = json.loads(leaf)
    if not isinstance(stored, dict) or stored.get("action") not in ACTIONS:
        raise ValueError("not an audit event leaf")
    return PreparedEvent(
        str(stored["event_id"]), leaf, _columns(stored), tuple(stored.get("subjects", ()))
    )
