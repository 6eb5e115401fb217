"""Investigations: an auditor delays a resident's notice of the entries under inquiry.

``POST /audit/investigations`` with ``{"subject_nik", "hidden_until", "reason"}`` opens
one. While it runs (open, and ``hidden_until`` not reached) the resident's own report
(``/v1/me/accesses``) omits every entry about that resident except the resident's own
reads of the report, and says nothing about what it omits: no count, no gap marker.
Auditors still see every entry, each covered one marked with the investigation's id.
Closing it, or reaching ``hidden_until``, shows the entries again.

Opening and closing are audited. When ``hidden_until`` lies more than 30 days away, the
step is a proposal (``gateway.admin.proposals``) that a *different* auditor approves; until
then the investigation hides nothing (opening) or keeps hiding (closing).

The resident is stored as the audit log's keyed blind index, never as the NIK; the audit
rows are append-only and never changed: the state lives in ``gw_investigations``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from audit.events import parse_time
from gateway.platform import store
from gateway.platform.errors import (
    AuditUnavailable,
    Conflict,
    GatewayError,
    InvalidRequest,
    NotFound,
)
from gateway.platform.services import Services
from gateway.residents.nik import carries_nik

LONG_HIDING = timedelta(days=30)
MAX_HIDING = timedelta(days=3 * 365)
REASON_MAX = 500
# The resident's own reads of the report are never hidden from them.
RESIDENT_AGENCY = "resident"
KINDS = ("investigation.open", "investigation.close")


def parse_hidden_until(value: object, now: datetime) -> datetime:
    """A future RFC 3339 time with an offset, at most three years away."""
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidRequest("hidden_until is an RFC 3339 date-time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest("hidden_until is an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise InvalidRequest("hidden_until needs a time zone offset")
    parsed = parsed.astimezone(UTC)
    if parsed <= now:
        raise InvalidRequest("hidden_until lies in the past")
    if parsed - now > MAX_HIDING:
        raise InvalidRequest("hidden_until lies more than three years away")
    return parsed


def check_reason(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("an investigation states its reason")
    if len(value) > REASON_MAX:
        raise InvalidRequest(f"the reason is at most {REASON_MAX} characters")
    if carries_nik(value):
        raise InvalidRequest("the reason must not carry a NIK")
    return value.strip()


def needs_second_auditor(hidden_until: datetime, now: datetime) -> bool:
    return hidden_until - now > LONG_HIDING


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; the store writes UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _row(row: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        aware = _aware(value)
        return aware.isoformat() if aware else None

    return {
        "id": int(row.id),
        "hidden_until": iso(row.hidden_until),
        "reason": row.reason,
        "status": row.status,
        "opened_by": row.opened_by,
        "opened_at": iso(row.opened_at),
        "proposal_id": row.proposal_id,
        "closed_by": row.closed_by,
        "closed_at": iso(row.closed_at),
        "close_note": row.close_note,
    }


def running(item: dict[str, Any], now: datetime) -> bool:
    hidden_until = item["hidden_until"]
    return item["status"] == "open" and datetime.fromisoformat(hidden_until) > now


async def create(
    services: Services,
    *,
    subject: str,
    hidden_until: datetime,
    reason: str,
    opened_by: str,
    status: str,
) -> int:
    async with store.begin_write(services.engine) as conn:
        result = await conn.execute(
            insert(store.investigations).values(
                subject=subject,
                hidden_until=hidden_until,
                reason=reason,
                status=status,
                opened_by=opened_by,
                opened_at=store.utcnow(),
            )
        )
    return int(result.inserted_primary_key[0])


async def set_status(
    services: Services, investigation_id: int, status: str, *, expect: str, **values: Any
) -> None:
    """Move an investigation on from ``expect``; a concurrent change is a conflict."""
    table = store.investigations
    async with store.begin_write(services.engine) as conn:
        result = await conn.execute(
            update(table)
            .where(table.c.id == investigation_id, table.c.status == expect)
            .values(status=status, **values)
        )
    if result.rowcount != 1:
        raise Conflict(f"the investigation is no longer {expect}")


async def get(services: Services, investigation_id: int) -> dict[str, Any]:
    table = store.investigations
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(table).where(table.c.id == investigation_id))).first()
    if row is None:
        raise NotFound("no such investigation")
    return _row(row)


async def subject_of(services: Services, investigation_id: int) -> str:
    table = store.investigations
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(select(table.c.subject).where(table.c.id == investigation_id))
        ).first()
    if row is None:
        raise NotFound("no such investigation")
    return str(row.subject)


async def listed(
    services: Services, *, subject: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    table = store.investigations
    query = select(table).order_by(table.c.id.desc())
    if subject is not None:
        query = query.where(table.c.subject == subject)
    if status is not None:
        query = query.where(table.c.status == status)
    async with services.engine.connect() as conn:
        return [_row(r) for r in (await conn.execute(query)).all()]


def subject_key(services: Services, nik: str) -> str:
    """How an investigation names its resident: the log's blind index of the NIK."""
    return services.audit.blind_index(nik)


async def running_for(services: Services, nik: str, now: datetime) -> list[dict[str, Any]]:
    items = await listed(services, subject=subject_key(services, nik), status="open")
    return [i for i in items if running(i, now)]


def covers(item: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Whether a running investigation covers one entry of its resident's report."""
    if entry.get("agency") == RESIDENT_AGENCY:
        return False
    time = entry.get("time")
    if not isinstance(time, str):
        return True  # fail closed: an entry of unknown time stays hidden while it runs
    try:
        return parse_time(time) <= datetime.fromisoformat(item["hidden_until"])
    except ValueError:
        return True


def for_resident(
    entries: Sequence[dict[str, Any]], running_items: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The resident's view: covered entries are left out, without a trace."""
    return [e for e in entries if not any(covers(i, e) for i in running_items)]


def for_auditor(
    entries: Sequence[dict[str, Any]], running_items: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The auditors' view: every entry, the covered ones marked."""
    out = []
    for entry in entries:
        ids = [i["id"] for i in running_items if covers(i, entry)]
        out.append({**entry, "investigations": ids} if ids else dict(entry))
    return out


async def open_investigation(
    services: Services,
    person: Any,
    *,
    subject_nik: str,
    hidden_until: datetime,
    reason: str,
    now: datetime,
    record_open: Callable[[dict[str, Any]], Awaitable[Any]],
    record: Any,
) -> tuple[dict[str, Any], Any]:
    """Open an investigation for a checked NIK, time and reason; the item and the receipt
    of its ``investigation.open`` event. Stored inert, then recorded, then made to hide
    (or, more than 30 days away, proposed to a second auditor): a failed append leaves
    it void. ``record_open(detail)`` appends the event with the resident as its subject;
    ``record`` is the proposals' recorder of the acting person."""
    from gateway.admin import proposals  # it builds on this module

    long = needs_second_auditor(hidden_until, now)
    investigation_id = await create(
        services,
        subject=subject_key(services, subject_nik),
        hidden_until=hidden_until,
        reason=reason,
        opened_by=person.username,
        status="unrecorded",
    )
    try:
        receipt = await record_open(
            {"investigation_id": investigation_id, "hidden_until": hidden_until.isoformat(),
             "second_auditor": long}
        )  # fmt: skip
        proposal_id: int | None = None
        if long:
            proposed = await proposals.propose(
                services, person, "investigation.open", {"investigation_id": investigation_id},
                record,
            )  # fmt: skip
            proposal_id = int(proposed["id"])
    except (AuditUnavailable, GatewayError):
        await set_status(services, investigation_id, "void", expect="unrecorded")
        raise
    await set_status(
        services, investigation_id, "proposed" if long else "open", expect="unrecorded",
        proposal_id=proposal_id,
    )  # fmt: skip
    return await get(services, investigation_id), receipt


async def close_investigation(
    services: Services, person: Any, investigation_id: int, note: str, *, now: datetime,
    record: Any,
) -> tuple[dict[str, Any], Any, int | None]:  # fmt: skip
    """Close a running investigation: the item, the event's receipt, and the proposal id
    when a second auditor must approve (``hidden_until`` more than 30 days away)."""
    from gateway.admin import proposals

    if not isinstance(note, str) or len(note) > REASON_MAX:
        raise InvalidRequest("note is text of at most 500 characters")
    if carries_nik(note):
        raise InvalidRequest("the note must not carry a NIK")
    item = await get(services, investigation_id)
    if item["status"] != "open":
        raise Conflict(f"the investigation is {item['status']}, not open")
    if needs_second_auditor(datetime.fromisoformat(item["hidden_until"]), now):
        proposed = await proposals.propose(
            services, person, "investigation.close",
            {"investigation_id": investigation_id, "note": note, "by": person.username}, record,
        )  # fmt: skip
        return item, proposed["audit"], int(proposed["id"])
    receipt = await record(
        "investigation.close", decision="allow", status=200,
        detail={"investigation_id": investigation_id},
    )  # fmt: skip
    await set_status(
        services, investigation_id, "closed", expect="open", closed_by=person.username,
        closed_at=now, close_note=note or None,
    )  # fmt: skip
    return await get(services, investigation_id), receipt, None
