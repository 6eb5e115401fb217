"""Administrators and auditors cannot do each other's work."""

from __future__ import annotations

import pytest

import audit
from gateway.identity import clients
from tests.console.conftest import ADMIN_1, AUDITOR, Console

AUDITOR_PAGES = ("/console/audit", "/console/residents", "/console/alerts")
ADMIN_PAGES = ("/console/clients", "/console/policies/new", "/console/clients/demo-dinsos/revoke")


async def test_an_administrator_cannot_read_the_audit_pages(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    nik = console_app.demo["sample_niks"][0]
    for path in AUDITOR_PAGES:
        response = await admin.get(path)
        assert response.status_code == 403, path
        assert "hanya untuk auditor" in response.text
    for path, data in (
        ("/console/audit", {"agency": "dinsos"}),
        ("/console/residents", {"nik": nik}),
    ):
        response = await admin.post(path, data)
        assert response.status_code == 403, path
    assert nik not in (await admin.post("/console/residents", {"nik": nik})).text
    events = await console_app.events()
    assert not [e for e in events if e["action"] in ("subject.report", "audit.read")]
    home = await admin.get("/console/")
    assert 'href="/console/audit"' not in home.text, "the menu offers only what the role may do"


async def test_an_auditor_cannot_change_policies_or_clients(console_app: Console) -> None:
    auditor = await console_app.signed_in(AUDITOR)
    before_clients = await clients.list_clients(console_app.services.engine)
    before_bundles = await console_app.services.policies.history()
    for path in ADMIN_PAGES:
        response = await auditor.get(path)
        assert response.status_code == 403, path
        assert "hanya untuk administrator" in response.text
    active = before_bundles[0]["id"]
    for path, data in (
        ("/console/clients", {"name": "x", "agency": "dinsos", "scopes": ["admin"]}),
        ("/console/clients/demo-dinsos/rotate", {}),
        ("/console/clients/demo-dinsos/revoke", {}),
        ("/console/policies", {"filename": ["a.yaml"], "content": ["a: 1"], "comment": "x"}),
        (f"/console/policies/{active}/approve", {}),
    ):
        response = await auditor.post(path, data)
        assert response.status_code == 403, path
    assert await clients.list_clients(console_app.services.engine) == before_clients
    assert await console_app.services.policies.history() == before_bundles
    policies_page = await auditor.get("/console/policies")
    assert policies_page.status_code == 200 and "/console/policies/new" not in policies_page.text


SHARED = ["/console/", "/console/checkpoint", "/console/policies", "/console/simulate"]


@pytest.mark.parametrize("path", SHARED)
async def test_shared_pages_serve_both_roles(console_app: Console, path: str) -> None:
    for user in (ADMIN_1, AUDITOR):
        browser = await console_app.signed_in(user)
        assert (await browser.get(path)).status_code == 200


async def test_console_actions_are_audited_as_the_console_user(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    created = await admin.post(
        "/console/clients",
        {"name": "Sistem Uji", "agency": "bappeda", "scopes": ["residents:read"]},
    )
    assert created.status_code == 202
    auditor = await console_app.signed_in(AUDITOR)
    assert (await auditor.get("/console/audit")).status_code == 200
    events = await console_app.events(officer=ADMIN_1[0])
    assert [e["action"] for e in events] == ["change.propose"]
    assert events[0]["detail"]["kind"] == "client.create"
    event = events[0]
    assert event["agency"] == "diskominfo" and event["client_id"] == "console"
    assert event["purpose"] == "administration" and event["decision"] == "allow"
    reads = await console_app.events(officer=AUDITOR[0])
    assert [e["action"] for e in reads] == ["audit.read"]
    assert reads[0]["agency"] == "inspektorat" and reads[0]["action"] in audit.ACTIONS
