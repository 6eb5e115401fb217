"""The auditor's pages: audit search, the resident access report, snooping flags.

Every page here reads the audit log and is itself recorded in it (``audit.read`` or
``subject.report``) before anything is shown.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

import audit
from gateway.auditing import alert_notes, investigations
from gateway.console.routing import AuditorPage, ConsoleRoute, form_text
from gateway.console.trail import record_action, recorder
from gateway.platform.errors import GatewayError
from gateway.residents.nik import NikError, parse_nik

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 50
DECISIONS = ("allow", "deny", "error")
FILTERS = ("agency", "officer", "nik", "purpose", "decision", "action", "date_from", "date_to")


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _masked(nik: str) -> str:
    return nik[:6] + "*" * (len(nik) - 6)


async def _options(page: AuditorPage) -> dict[str, Any]:
    bundle = (await page.services.policies.current()).policy.bundle
    return {
        "agencies": sorted(bundle.agencies),
        "purposes": sorted([*bundle.purposes, "administration", "audit"]),
        "decisions": DECISIONS,
        "actions": sorted(audit.ACTIONS),
    }


def query_of(
    values: dict[str, str], cursor: str | None, limit: int
) -> tuple[audit.EventQuery | None, str | None, list[str]]:
    """The search the form asks for, the NIK in it, and the message keys of what is wrong
    (then no query): the same filters as ``GET /audit/events``."""
    errors: list[str] = []
    nik: str | None = None
    if values["nik"]:
        try:
            nik = parse_nik(values["nik"]).value
        except NikError:
            errors.append("audit.bad_nik")  # the message never repeats the value
    day_from, day_to = _day(values["date_from"]), _day(values["date_to"])
    if (values["date_from"] and day_from is None) or (values["date_to"] and day_to is None):
        errors.append("audit.bad_date")
    # ASCII digits within a leaf index's range ('²' is a digit to str.isdigit()).
    if cursor is not None and not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
        errors.append("audit.bad_cursor")
    if errors:
        return None, None, errors
    query = audit.EventQuery(
        agency=values["agency"] or None,
        officer=values["officer"] or None,
        subject_nik=nik,
        purpose=values["purpose"] or None,
        decision=values["decision"] if values["decision"] in DECISIONS else None,
        action=values["action"] if values["action"] in audit.ACTIONS else None,
        time_from=None if day_from is None else datetime.combine(day_from, time.min, UTC),
        time_to=None
        if day_to is None
        else datetime.combine(day_to + timedelta(days=1), time.min, UTC),
        cursor=cursor,
        limit=limit,
    )
    return query, nik, []


async def _search(page: AuditorPage, values: dict[str, str]) -> Response:
    cursor = values["cursor"] or None
    query, nik, errors = query_of(values, cursor, PAGE_SIZE)
    options = await _options(page)
    if query is None:
        return page.render(
            "audit.html", status=422, values={**values, "nik": "", "cursor": ""}, errors=errors,
            events=[], next_cursor=None, **options,
        )  # fmt: skip
    result = await page.services.audit.search(query)
    used = sorted(k for k in FILTERS if values[k])
    await record_action(
        page.services, page.user, "audit.read", request_id=page.request_id,
        result_count=len(result.events), subject_niks=[nik] if nik else (),
        detail={"view": "search", "filters": used, "cursor": cursor},
    )  # fmt: skip
    return page.render(
        "audit.html", values=values, errors=[], events=result.events,
        next_cursor=result.next_cursor, **options,
    )  # fmt: skip


@router.get("/audit")
async def audit_latest(page: AuditorPage) -> Response:
    return await _search(page, dict.fromkeys((*FILTERS, "cursor"), ""))


@router.post("/audit")
async def audit_search(page: AuditorPage) -> Response:
    form = await page.form()
    values = {name: form_text(form, name, 128) for name in (*FILTERS, "cursor")}
    return await _search(page, values)


@router.get("/residents")
async def report_form(page: AuditorPage) -> Response:
    return page.render("resident.html", accesses=None, masked="", error="")


@router.post("/residents")
async def report(page: AuditorPage) -> Response:
    """The data-subject access report (UU PDP Pasal 32): who saw this resident's data.

    The NIK travels in the form body, never in a URL, so it stays out of browser history
    and proxy logs; the page shows it masked.
    """
    form = await page.form()
    try:
        nik = parse_nik(form_text(form, "nik", 32)).value
    except NikError:
        return page.render(
            "resident.html", status=422, accesses=None, masked="", error="audit.bad_nik"
        )
    now = datetime.now(UTC)
    accesses = await page.services.audit.subject_accesses(nik, include_hidden=True, now=now)
    running = await investigations.running_for(page.services, nik, now)
    accesses = investigations.for_auditor(accesses, running)
    await record_action(
        page.services, page.user, "subject.report", request_id=page.request_id,
        result_count=len(accesses), subject_niks=[nik],
    )  # fmt: skip
    return page.render("resident.html", accesses=accesses, masked=_masked(nik), error="")


@router.get("/alerts")
async def alert_list(page: AuditorPage) -> Response:
    return await _alerts(page)


async def _alerts(page: AuditorPage, *, status: int = 200, error: str = "",
                  done: str = "") -> Response:  # fmt: skip
    found, groups = await alert_notes.groups(page.services, datetime.now(UTC))
    await record_action(
        page.services, page.user, "audit.read", request_id=page.request_id,
        result_count=len(found), detail={"view": "alerts"},
    )  # fmt: skip
    return page.render("alerts.html", status=status, groups=groups, error=error, done=done)


# The page's message for each refusal of the alerts service.
_REFUSED = {422: "alerts.bad_note", 404: "alerts.gone", 409: "alerts.already"}


@router.post("/alerts/note")
async def alert_note(page: AuditorPage) -> Response:
    """Acknowledge or close a group of alerts with a note (``alert_notes.note_alert``,
    the service of the API's ``POST /audit/alerts/{id}/...``); on the record first."""
    form = await page.form()
    group_id, state = form_text(form, "id", 32), form_text(form, "state", 16)
    note = form.get("note")
    try:
        await alert_notes.note_alert(
            page.services, group_id, state, note if isinstance(note, str) else "",
            by=page.user.username, now=datetime.now(UTC),
            record=recorder(page.services, page.user, page.request_id),
        )  # fmt: skip
    except GatewayError as exc:
        if exc.status not in _REFUSED:
            raise
        return await _alerts(page, status=exc.status, error=_REFUSED[exc.status])
    return await _alerts(page, done="alerts.done_" + state)
