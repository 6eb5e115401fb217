"""Agencies and their API clients: create (the secret is shown once), rotate, revoke."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from gateway import clients
from gateway.console.routing import AdminPage, ConsoleRoute, form_text
from gateway.console.trail import record_action
from gateway.errors import NotFound
from gateway.oauth import SCOPES

router = APIRouter(route_class=ConsoleRoute)


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


@router.get("/clients")
async def client_list(page: AdminPage) -> Response:
    return await _list_page(page)


@router.post("/clients")
async def client_create(page: AdminPage) -> Response:
    form = await page.form()
    name = form_text(form, "name", 200)
    agency = form_text(form, "agency", 64)
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str) and s in SCOPES]
    active = await page.services.policies.current()
    if not name or agency not in active.policy.agencies or not scopes:
        return await _list_page(page, status=422, error="clients.invalid")
    creds = await clients.create_client(
        page.services.engine, name=name, agency=agency, scopes=scopes
    )
    await record_action(
        page.services, page.user, "client.create", request_id=page.request_id, status=201,
        detail={"client_id": creds.client_id, "agency": agency, "scopes": scopes},
    )  # fmt: skip
    return page.render("client_secret.html", status=201, creds=creds, created=True)


@router.post("/clients/{client_id}/rotate")
async def client_rotate(page: AdminPage, client_id: str) -> Response:
    creds = await clients.rotate_secret(page.services.engine, client_id)
    await record_action(
        page.services, page.user, "client.rotate", request_id=page.request_id,
        detail={"client_id": client_id},
    )  # fmt: skip
    return page.render("client_secret.html", creds=creds, created=False)


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
    await clients.revoke_client(page.services.engine, client_id)
    # Tokens already issued to the client stop working at once, not when they expire.
    await page.services.revocation.revoke_client(client_id)
    await record_action(
        page.services, page.user, "client.revoke", request_id=page.request_id,
        detail={"client_id": client_id},
    )  # fmt: skip
    return await _list_page(page, notice="clients.revoked", notice_id=client_id)
