"""Agencies and their API clients, and the changes waiting for a second person.

Creating a client, adding scopes, rotating a secret, revoking an admin or audit client
and retiring a key are proposals (``gateway.admin.proposals``): the same service as the API,
so the two-person rule holds the same here. The approver sees the new secret, once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from gateway.admin import proposals
from gateway.console.routing import AdminPage, AnyUser, ConsoleRoute, Page, form_text
from gateway.console.trail import recorder
from gateway.identity import clients
from gateway.identity.oauth import SCOPES
from gateway.platform.errors import GatewayError, NotFound

router = APIRouter(route_class=ConsoleRoute)


def person_of(page: Page) -> proposals.Person:
    """The signed-in console user is the acting person."""
    return proposals.Person(page.user.username, page.user.role)


def recorder_of(page: Page) -> proposals.Recorder:
    """The audit events of the signed-in person's console actions."""
    return recorder(page.services, page.user, page.request_id)


async def _list_page(
    page: AdminPage, *, status: int = 200, error: str = "", notice: str = "", notice_id: str = ""
) -> Response:
    active = await page.services.policies.current()
    return page.render(
        "clients.html",
        status=status,
        agencies=sorted(active.policy.agencies.values(), key=lambda a: a.id),
        clients=await clients.list_clients(page.services.engine),
        scopes=SCOPES,
        error=error,
        notice=notice,
        notice_id=notice_id,
    )


async def _proposed(page: AdminPage, kind: str, payload: dict[str, Any]) -> Response:
    try:
        proposed = await proposals.propose(
            page.services, person_of(page), kind, payload, recorder_of(page)
        )
    except GatewayError as exc:
        if exc.status >= 500:
            raise
        return await _list_page(page, status=exc.status, error="clients.refused")
    return await _list_page(
        page, status=202, notice="clients.proposed", notice_id=f"#{proposed['id']}"
    )


@router.get("/clients")
async def client_list(page: AdminPage) -> Response:
    return await _list_page(page)


@router.post("/clients")
async def client_create(page: AdminPage) -> Response:
    form = await page.form()
    name = form_text(form, "name", 200)
    agency = form_text(form, "agency", 64)
    person = form_text(form, "person", 64)
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str) and s in SCOPES]
    active = await page.services.policies.current()
    if not name or agency not in active.policy.agencies or not scopes:
        return await _list_page(page, status=422, error="clients.invalid")
    payload: dict[str, Any] = {"name": name, "agency": agency, "scopes": scopes}
    if person:
        payload["person"] = person
    return await _proposed(page, "client.create", payload)


@router.post("/clients/{client_id}/rotate")
async def client_rotate(page: AdminPage, client_id: str) -> Response:
    return await _proposed(page, "client.rotate", {"client_id": client_id})


@router.get("/clients/{client_id}/rotate")
async def client_rotate_confirm(page: AdminPage, client_id: str) -> Response:
    """A new secret stops the old one's tokens once approved: ask before proposing it."""
    listed = {c["client_id"]: c for c in await clients.list_clients(page.services.engine)}
    client = listed.get(client_id)
    if client is None or client["status"] != "active":
        raise NotFound("no active client with this id")
    return page.render("client_rotate.html", client=client)


@router.get("/clients/{client_id}/revoke")
async def client_revoke_confirm(page: AdminPage, client_id: str) -> Response:
    """Revoking stops an agency's system at once: ask before doing it."""
    listed = {c["client_id"]: c for c in await clients.list_clients(page.services.engine)}
    client = listed.get(client_id)
    if client is None or client["status"] != "active":
        raise NotFound("no active client with this id")
    return page.render("client_revoke.html", client=client)


@router.post("/clients/{client_id}/revoke")
async def client_revoke(page: AdminPage, client_id: str) -> Response:
    client = await clients.get_client(page.services.engine, client_id)
    if client is not None and clients.role_scope(client["scopes"]) is not None:
        return await _proposed(page, "client.revoke", {"client_id": client_id})
    # An agency's data client: revoked at once; its issued tokens stop working too.
    await proposals.revoke_data_client(page.services, person_of(page), client_id, recorder_of(page))
    return await _list_page(page, notice="clients.revoked", notice_id=client_id)


@router.get("/proposals")
async def proposal_list(page: AnyUser) -> Response:
    return page.render(
        "proposals.html",
        proposals=await proposals.listed(page.services, status="proposed"),
        message="",
    )


@router.post("/proposals/{proposal_id}/approve")
async def proposal_approve(page: AnyUser, proposal_id: int) -> Response:
    """Approve another person's proposal; a new secret is shown to the approver, once."""
    try:
        approved = await proposals.approve(
            page.services, person_of(page), proposal_id, recorder_of(page)
        )
    except GatewayError as exc:
        if exc.status >= 500:
            raise
        return page.render(
            "proposals.html",
            status=exc.status,
            proposals=await proposals.listed(page.services, status="proposed"),
            message=f"proposals.{exc.to_problem()['code']}",
        )
    if "client_secret" in approved:
        return page.render(
            "client_secret.html", creds=approved, created=approved["kind"] == "client.create"
        )
    return page.render(
        "proposals.html",
        proposals=await proposals.listed(page.services, status="proposed"),
        message="proposals.approved",
    )
