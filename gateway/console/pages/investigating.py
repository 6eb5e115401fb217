"""The auditors' investigations in the console: open one (hiding a resident's entries
from their own report until a date), list them, close one (``gateway.auditing.investigations``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path
from starlette.responses import Response

import audit
from gateway.admin.proposals import Person
from gateway.auditing import investigations
from gateway.console.routing import AuditorPage, ConsoleRoute, form_text
from gateway.console.trail import record_action
from gateway.platform.errors import GatewayError
from gateway.residents.nik import NikError, parse_nik

router = APIRouter(route_class=ConsoleRoute)


def _recorder(page: AuditorPage, subject: str | None = None) -> Any:
    async def record(
        action: str, *, decision: str, status: int, reason: str | None = None,
        detail: Any = None, policy_version: str | None = None,
    ) -> audit.Receipt:  # fmt: skip
        return await record_action(
            page.services, page.user, action, request_id=page.request_id, decision=decision,
            status=status, reason=reason, detail=detail, policy_version=policy_version,
            subject_niks=[subject] if subject else (),
        )  # fmt: skip

    return record


async def _list(page: AuditorPage, *, status: int = 200, **context: Any) -> Response:
    items = await investigations.listed(page.services)
    await record_action(
        page.services, page.user, "audit.read", request_id=page.request_id,
        result_count=len(items), detail={"view": "investigations"},
    )  # fmt: skip
    context.setdefault("error", "")
    context.setdefault("done", None)
    return page.render("investigations.html", status=status, items=items, **context)


@router.get("/investigations")
async def investigation_list(page: AuditorPage) -> Response:
    return await _list(page)


@router.post("/investigations")
async def investigation_open(page: AuditorPage) -> Response:
    form = await page.form()
    now = datetime.now(UTC)
    try:
        nik = parse_nik(form_text(form, "nik", 32)).value
    except NikError:
        return await _list(page, status=422, error="audit.bad_nik")
    try:
        day = date.fromisoformat(form_text(form, "hidden_until", 10))
    except ValueError:
        return await _list(page, status=422, error="audit.bad_date")
    # The end of that day in the city's time zone.
    zone = ZoneInfo(page.services.settings.timezone)
    until = datetime.combine(day, time(23, 59, 59), zone).isoformat()
    person = Person(page.user.username, page.user.role)
    try:
        hidden_until = investigations.parse_hidden_until(until, now)
        reason = investigations.check_reason(form_text(form, "reason", 600))

        async def record_open(detail: dict[str, Any]) -> audit.Receipt:
            receipt: audit.Receipt = await _recorder(page, nik)(
                "investigation.open", decision="allow", status=201, detail=detail
            )
            return receipt

        item, _ = await investigations.open_investigation(
            page.services, person, subject_nik=nik, hidden_until=hidden_until, reason=reason,
            now=now, record_open=record_open, record=_recorder(page),
        )  # fmt: skip
    except GatewayError as exc:
        if exc.status == 503:
            raise
        return await _list(page, status=422, error="investigations.refused")
    return await _list(page, done=item)


@router.post("/investigations/{investigation_id}/close")
async def investigation_close(
    page: AuditorPage, investigation_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    form = await page.form()
    person = Person(page.user.username, page.user.role)
    try:
        item, _, _ = await investigations.close_investigation(
            page.services, person, investigation_id, form_text(form, "note", 500),
            now=datetime.now(UTC), record=_recorder(page),
        )  # fmt: skip
    except GatewayError as exc:
        if exc.status == 503:
            raise
        return await _list(page, status=409, error="investigations.refused")
    return await _list(page, done=item)
