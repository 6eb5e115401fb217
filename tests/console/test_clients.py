"""API clients through the console: the secret shown once, rotation, revocation."""

from __future__ import annotations

import re

from sqlalchemy import select

from gateway.identity.oauth import hash_secret
from gateway.platform import store
from tests.console.conftest import ADMIN_1, ADMIN_2, AUDITOR, Console

SECRET_RE = re.compile(r'<code id="client-secret">([^<]+)</code>')
ID_RE = re.compile(r'<code id="client-id">([^<]+)</code>')


async def _stored_hash(console_app: Console, client_id: str) -> tuple[str, str]:
    async with console_app.services.engine.connect() as conn:
        row = (
            await conn.execute(
                select(store.clients.c.secret_hash, store.clients.c.status).where(
                    store.clients.c.client_id == client_id
                )
            )
        ).one()
    return row.secret_hash, row.status


PROPOSAL_RE = re.compile(r"<code>#(\d+)</code>")


async def test_create_rotate_revoke(console_app: Console) -> None:
    """One administrator proposes, the other approves and sees the secret, once."""
    admin = await console_app.signed_in(ADMIN_1)
    other = await console_app.signed_in(ADMIN_2)
    proposed = await admin.post(
        "/console/clients",
        {
            "name": "SIKS-NG Surabaya",
            "agency": "dinsos",
            "scopes": ["residents:read", "residents:search"],
        },
    )
    assert proposed.status_code == 202 and not SECRET_RE.search(proposed.text)
    pid = PROPOSAL_RE.search(proposed.text).group(1)  # type: ignore[union-attr]
    own = await admin.post(f"/console/proposals/{pid}/approve")
    assert own.status_code == 403 and not SECRET_RE.search(own.text), "not by its proposer"
    created = await other.post(f"/console/proposals/{pid}/approve")
    assert created.status_code == 200, created.text
    client_id = ID_RE.search(created.text).group(1)  # type: ignore[union-attr]
    secret = SECRET_RE.search(created.text).group(1)  # type: ignore[union-attr]
    assert "hanya ditampilkan sekali" in created.text
    assert (await _stored_hash(console_app, client_id)) == (hash_secret(secret), "active")

    listing = await admin.get("/console/clients")
    assert client_id in listing.text and secret not in listing.text, "the secret is shown once"

    rotating = await admin.post(f"/console/clients/{client_id}/rotate")
    assert rotating.status_code == 202
    pid = PROPOSAL_RE.search(rotating.text).group(1)  # type: ignore[union-attr]
    rotated = await other.post(f"/console/proposals/{pid}/approve")
    assert rotated.status_code == 200
    new_secret = SECRET_RE.search(rotated.text).group(1)  # type: ignore[union-attr]
    assert new_secret != secret
    assert (await _stored_hash(console_app, client_id))[0] == hash_secret(new_secret)

    confirm = await admin.get(f"/console/clients/{client_id}/revoke")
    assert confirm.status_code == 200 and "SIKS-NG Surabaya" in confirm.text
    assert (await _stored_hash(console_app, client_id))[1] == "active", "asking changes nothing"
    revoked = await admin.post(f"/console/clients/{client_id}/revoke")
    assert revoked.status_code == 200 and "dicabut" in revoked.text
    assert (await _stored_hash(console_app, client_id))[1] == "revoked"
    assert await console_app.services.revocation.is_revoked("any-token", client_id=client_id)
    assert (await admin.post(f"/console/clients/{client_id}/rotate")).status_code == 404
    assert (await admin.get(f"/console/clients/{client_id}/revoke")).status_code == 404

    events = await console_app.events(officer=ADMIN_1[0]) + await console_app.events(
        officer=ADMIN_2[0]
    )
    done = {(e["action"], e["decision"]) for e in events}
    assert {
        ("change.propose", "allow"),
        ("client.create", "deny"),
        ("client.create", "allow"),
        ("client.rotate", "allow"),
        ("client.revoke", "allow"),
    } <= done
    assert all(secret not in str(e) and new_secret not in str(e) for e in events)


async def test_a_client_needs_a_known_agency_and_a_scope(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    for data in (
        {"name": "x", "agency": "dinsos"},
        {"name": "x", "agency": "no_such_agency", "scopes": ["residents:read"]},
        {"name": "", "agency": "dinsos", "scopes": ["residents:read"]},
        {"name": "x", "agency": "dinsos", "scopes": ["root"]},
    ):
        response = await admin.post("/console/clients", data)
        assert response.status_code == 422, data
        assert "minimal satu cakupan" in response.text


async def test_an_audit_client_is_approved_by_its_auditor_not_by_administrators(
    console_app: Console,
) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    proposed = await admin.post(
        "/console/clients",
        {"name": "Alat audit", "agency": "inspektorat", "scopes": ["audit"], "person": AUDITOR[0]},
    )
    assert proposed.status_code == 202, proposed.text
    pid = PROPOSAL_RE.search(proposed.text).group(1)  # type: ignore[union-attr]
    other = await console_app.signed_in(ADMIN_2)
    refused = await other.post(f"/console/proposals/{pid}/approve")
    assert refused.status_code == 403 and not SECRET_RE.search(refused.text)
    auditor = await console_app.signed_in(AUDITOR)
    assert f"/console/proposals/{pid}/approve" in (await auditor.get("/console/proposals")).text
    approved = await auditor.post(f"/console/proposals/{pid}/approve")
    assert approved.status_code == 200 and SECRET_RE.search(approved.text)
    mixed = await admin.post(
        "/console/clients",
        {"name": "x", "agency": "dinsos", "scopes": ["admin", "residents:read"]},
    )
    assert mixed.status_code == 422, "admin beside a data scope is refused"


async def test_one_person_is_one_approver_through_the_api_and_the_console(
    console_app: Console,
) -> None:
    """admin.satu proposes through the API (``demo-admin`` is bound to admin.satu) and
    cannot approve in the console; admin.dua can."""
    creds = {c["client_id"]: c["client_secret"] for c in console_app.demo["clients"]}
    api = console_app.browser().client
    token = await api.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "demo-admin",
            "client_secret": creds["demo-admin"],
        },
    )
    proposed = await api.post(
        "/admin/clients",
        json={"name": "Dari API", "agency": "bappeda", "scopes": ["residents:read"]},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert proposed.status_code == 202, proposed.text
    pid = proposed.json()["id"]
    same = await console_app.signed_in(ADMIN_1)
    assert (await same.post(f"/console/proposals/{pid}/approve")).status_code == 403
    other = await console_app.signed_in(ADMIN_2)
    approved = await other.post(f"/console/proposals/{pid}/approve")
    assert approved.status_code == 200 and SECRET_RE.search(approved.text)
