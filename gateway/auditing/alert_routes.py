"""Auditors' alerts: the snooping flags grouped, with links to their events, and
acknowledging or closing a group with a note (``gateway.auditing.alert_notes``, the same
service as the console's alerts page)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.admin.routes import acting_person
from gateway.auditing import alert_notes
from gateway.auditing.routes import _auditor, reader_call
from gateway.identity.auth import get_services
from gateway.identity.tokens import Principal

router = APIRouter(prefix="/audit", tags=["audit"])
Auditor = Annotated[Principal, Depends(_auditor)]
AlertId = Annotated[
    str,
    Path(
        pattern=alert_notes.ID_PATTERN,
        description="A group's id, as GET /audit/alerts lists it",
        examples=["3f2a9c0d41b7e865"],
    ),
]
_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No alert of the last 7 days has this id"},
    409: {
        "description": "The step does not fit the alert's state: it is already closed"
        " (or already acknowledged)"
    },
    422: {
        "description": "The note is missing, empty, longer than 500 characters, or"
        " carries a NIK or a control character"
    },
}


class AlertNote(BaseModel):
    """A note on an alert: why it was acknowledged or closed (one line, no NIK)."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(
        min_length=1,
        max_length=alert_notes.NOTE_MAX,
        examples=[
            "Asked the officer's head of unit; the lookups were for a PKH verification round."
        ],
    )


def _group(group: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in group.items() if k not in ("key", "facts")}
    out["events"] = [f"/audit/leaves/{i}" for i in group["leaf_indexes"]]
    return out


@router.get("/alerts", summary="Snooping flags per officer and agency, and their groups")
async def alerts(request: Request, principal: Auditor) -> dict[str, Any]:
    """``alerts``: every flag of the last 7 days. ``groups``: the flags of one kind,
    agency and officer together, each with its ``id``, ``state`` (``open``,
    ``acknowledged``, ``closed``), latest ``note`` and ``events`` (the leaves it is based
    on)."""
    found, groups = await alert_notes.groups(get_services(request), datetime.now(UTC))
    receipt = await reader_call(request, principal).record(
        decision="allow", status=200, result_count=len(found), detail={"view": "alerts"}
    )
    return {
        "alerts": [a.to_dict() for a in found],
        "groups": [_group(g) for g in groups],
        "audit": receipt.to_dict(),
    }


async def _note(
    request: Request, principal: Principal, group_id: str, state: str, body: AlertNote
) -> dict[str, Any]:
    action = alert_notes.ACTIONS[state]
    person, record = await acting_person(request, principal, action, purpose="audit")
    group, receipt = await alert_notes.note_alert(
        get_services(request), group_id, state, body.note, by=person.username, record=record,
        now=datetime.now(UTC),
    )  # fmt: skip
    return {**_group(group), "audit": receipt.to_dict()}


@router.post(
    "/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert with a note",
    responses=_REFUSALS,
)  # fmt: skip
async def acknowledge(
    request: Request, principal: Auditor, alert_id: AlertId, body: AlertNote
) -> dict[str, Any]:
    """Seen, under review: an open group becomes ``acknowledged``. Recorded as an
    ``alert.acknowledge`` event carrying the note; the answer carries its receipt."""
    return await _note(request, principal, alert_id, "acknowledged", body)


@router.post("/alerts/{alert_id}/close", summary="Close an alert with a note", responses=_REFUSALS)
async def close(
    request: Request, principal: Auditor, alert_id: AlertId, body: AlertNote
) -> dict[str, Any]:
    """Reviewed: an open or acknowledged group becomes ``closed`` until newer lookups
    open it again. Recorded as an ``alert.close`` event carrying the note."""
    return await _note(request, principal, alert_id, "closed", body)
