"""One administrator, acting alone over the public API, tries to widen access.

Each test is an insider's move that used to work: minting a second administrator to
approve their own proposal, making an audit client, a change live without its audit
event, a rotated secret's old token, locking a client out of the token endpoint, a
reserved pseudonym domain. Every refusal is problem+json with a stable code, and on the
record.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from gateway.admin.policies import read_bundle_dir
from gateway.identity import clients
from gateway.platform import store
from tests.attacks.conftest import Target, assert_problem, residents_in


async def _as(target: Target, client_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await target.token(client_id)}"}


async def _propose_client(target: Target, by: str, **body: Any) -> httpx.Response:
    return await target.client.post("/admin/clients", json=body, headers=await _as(target, by))


async def _approve(
    target: Target, by: str, proposal_id: int, side: str = "admin"
) -> httpx.Response:
    return await target.client.post(
        f"/{side}/proposals/{proposal_id}/approve", headers=await _as(target, by)
    )


async def _events(target: Target, **filters: str) -> list[dict[str, Any]]:
    auditor = await _as(target, "demo-auditor")
    r = await target.client.get("/audit/events", params=filters, headers=auditor)
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


async def test_a_minted_second_admin_client_is_not_a_second_person(target: Target) -> None:
    # The old attack: an admin client for oneself, then approve one's own proposal with it.
    mine = await _propose_client(
        target, "demo-admin", name="second me", agency="diskominfo", scopes=["admin"],
        person="admin.satu",
    )  # fmt: skip
    assert_problem(mine, 403, "two_person_rule")
    nobody = await _propose_client(
        target, "demo-admin", name="nobody", agency="diskominfo", scopes=["admin"]
    )
    assert_problem(nobody, 403, "person_required")

    # A client for the other administrator: only that person may approve it (and see
    # its secret); the proposer cannot, and a client's second id is no second person.
    theirs = await _propose_client(
        target, "demo-admin", name="for dua", agency="diskominfo", scopes=["admin"],
        person="admin.dua",
    )  # fmt: skip
    assert theirs.status_code == 202 and "client_secret" not in theirs.text
    assert_problem(
        await _approve(target, "demo-admin", theirs.json()["id"]), 403, "two_person_rule"
    )
    async with target.services.engine.connect() as conn:
        admins = (
            await conn.execute(select(store.clients.c.client_id, store.clients.c.scopes))
        ).all()
    assert sorted(c for c, s in admins if "admin" in s.split()) == ["demo-admin", "demo-admin-2"]

    # The policy route: a person's own proposal stays unapproved whatever client asks.
    files = read_bundle_dir(target.settings.policy_dir)
    files["denies.yaml"] += "\n"
    proposed = await target.client.post(
        "/admin/policies", json={"files": files}, headers=await _as(target, "demo-admin")
    )
    assert proposed.status_code == 201, proposed.text
    own = await target.client.post(
        f"/admin/policies/{proposed.json()['id']}/approve",
        headers=await _as(target, "demo-admin"),
    )
    assert_problem(own, 403, "two_person_rule")
    refused = [e for e in await _events(target, officer="admin.satu") if e["decision"] == "deny"]
    assert {e["reason"] for e in refused} >= {"two_person_rule", "person_required"}


async def test_rotating_the_other_admins_secret_gives_nothing(target: Target) -> None:
    r = await target.client.post(
        "/admin/clients/demo-admin-2/rotate", headers=await _as(target, "demo-admin")
    )
    assert r.status_code == 202 and "client_secret" not in r.text
    pid = r.json()["id"]
    assert_problem(await _approve(target, "demo-admin", pid), 403, "two_person_rule")
    # Only admin.dua approves, and the new secret goes to admin.dua.
    approved = await _approve(target, "demo-admin-2", pid)
    assert approved.status_code == 200 and approved.json()["client_secret"]
    # One's own client is rotated on another person's proposal, never alone.
    mine = await target.client.post(
        "/admin/clients/demo-admin/rotate", headers=await _as(target, "demo-admin")
    )
    assert_problem(mine, 403, "two_person_rule")
    # Revoking the other administrator alone is not possible either.
    revoke = await target.client.post(
        "/admin/clients/demo-admin-2/revoke", headers=await _as(target, "demo-admin")
    )
    assert revoke.status_code == 202, "a proposal, not a revocation"
    client = await clients.get_client(target.services.engine, "demo-admin-2")
    assert client is not None and client["status"] == "active"


async def test_an_administrator_cannot_make_an_audit_or_data_reading_client(
    target: Target, attack_sources: Any
) -> None:
    for scopes in (["audit", "residents:read"], ["admin", "residents:read"], ["admin", "audit"]):
        r = await _propose_client(
            target, "demo-admin", name="x", agency="diskominfo", scopes=scopes
        )
        assert_problem(r, 422, "scope_separation")
    more = await target.client.post(
        "/admin/clients/demo-dinsos/scopes",
        json={"scopes": ["admin"]},
        headers=await _as(target, "demo-admin"),
    )
    assert_problem(more, 422, "scope_separation")
    # An audit client bound to an administrator: refused; bound to the auditor: only
    # the auditor approves it, on the auditors' side; no administrator can.
    as_admin = await _propose_client(
        target, "demo-admin", name="x", agency="inspektorat", scopes=["audit"],
        person="admin.dua",
    )  # fmt: skip
    assert_problem(as_admin, 403, "person_required")
    proposed = await _propose_client(
        target, "demo-admin", name="audit tool", agency="inspektorat", scopes=["audit"],
        person="auditor.satu",
    )  # fmt: skip
    assert proposed.status_code == 202, proposed.text
    pid = proposed.json()["id"]
    assert_problem(await _approve(target, "demo-admin-2", pid), 403, "approver_not_permitted")
    by_auditor = await _approve(target, "demo-auditor", pid, side="audit")
    assert by_auditor.status_code == 200, by_auditor.text
    assert by_auditor.json()["client_id"] and by_auditor.json()["client_secret"]
    # And an administrator's token reads neither residents nor the log.
    nik = residents_in(attack_sources)[0]["nik"]
    admin = {
        **await _as(target, "demo-admin"),
        "X-Purpose": "social_assistance",
        "X-On-Behalf-Of": "admin.satu",
    }
    assert_problem(await target.client.get(f"/v1/residents/{nik}", headers=admin), 403)
    assert_problem(await target.client.get("/audit/events", headers=admin), 403)


async def test_a_change_whose_event_cannot_be_appended_does_not_happen(target: Target) -> None:
    proposed = await _propose_client(
        target, "demo-admin", name="batch", agency="dinsos", scopes=["residents:read"]
    )
    assert proposed.status_code == 202
    files = read_bundle_dir(target.settings.policy_dir)
    files["denies.yaml"] += "\n"
    bundle = await target.client.post(
        "/admin/policies", json={"files": files}, headers=await _as(target, "demo-admin")
    )
    assert bundle.status_code == 201
    second = await _as(target, "demo-admin-2")
    before = await clients.list_clients(target.services.engine)
    active_before = (await target.services.policies.current()).bundle_id

    await target.services.audit.stop()  # the log can no longer append
    r = await target.client.post(
        f"/admin/proposals/{proposed.json()['id']}/approve", headers=second
    )
    assert_problem(r, 503, "audit_unavailable")
    r = await target.client.post(f"/admin/policies/{bundle.json()['id']}/approve", headers=second)
    assert_problem(r, 503, "audit_unavailable")
    r = await target.client.post("/admin/clients/demo-dinkes/revoke", headers=second)
    assert_problem(r, 503, "audit_unavailable")

    assert await clients.list_clients(target.services.engine) == before, "no client changed"
    await target.services.policies.refresh(force=True)
    assert (await target.services.policies.current()).bundle_id == active_before
    async with target.services.engine.connect() as conn:
        status = (
            await conn.execute(
                select(store.proposals.c.status).where(
                    store.proposals.c.id == proposed.json()["id"]
                )
            )
        ).scalar_one()
    assert status == "proposed"


async def test_a_rotated_secrets_old_token_stops_at_once(
    target: Target, attack_sources: Any
) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    old = await target.headers("demo-dinsos")
    assert (await target.client.get(f"/v1/residents/{nik}", headers=old)).status_code == 200
    r = await target.client.post(
        "/admin/clients/demo-dinsos/rotate", headers=await _as(target, "demo-admin")
    )
    approved = await _approve(target, "demo-admin-2", r.json()["id"])
    assert approved.status_code == 200, approved.text
    assert_problem(
        await target.client.get(f"/v1/residents/{nik}", headers=old), 401, "invalid_token"
    )
    fresh = await target.token_response("demo-dinsos", secret=approved.json()["client_secret"])
    new = {**old, "Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert (await target.client.get(f"/v1/residents/{nik}", headers=new)).status_code == 200


async def test_wrong_secrets_cannot_lock_a_client_out(target: Target) -> None:
    cid, secret = target.creds("demo-dinkes")
    async with target.from_address("198.51.100.7") as attacker:
        statuses = []
        for attempt in range(60):
            r = await attacker.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": cid,
                    "client_secret": f"guess-{attempt}",
                },
            )
            statuses.append(r.status_code)
        assert statuses[-1] == 429, "guessing is throttled"
        # Throttled before the secret is checked: even the right one waits.
        right = await attacker.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
        )
        assert_problem(right, 429, "rate_limited")
    async with target.from_address("203.0.113.20") as real:
        for _ in range(20):
            r = await real.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": cid,
                    "client_secret": secret,
                },
            )
            assert r.status_code == 200, "the real client keeps getting its tokens"
    metrics = (await target.client.get("/metrics")).text
    assert 'satugate_token_failures_total{outcome="refused"}' in metrics
    assert 'satugate_token_failures_total{outcome="throttled' in metrics


async def test_a_reserved_or_shared_pseudonym_domain_is_refused(target: Target) -> None:
    admin = await _as(target, "demo-admin")
    files = read_bundle_dir(target.settings.policy_dir)
    assert "dinkes:" in files["agencies.yaml"]
    for domain, words in (("_resident_report", "reserved"), ("dinsos", "share")):
        bad = dict(files)
        bad["agencies.yaml"] = files["agencies.yaml"].replace(
            "  dinkes:\n", f"  dinkes:\n    pseudonym_domain: {domain}\n", 1
        )
        r = await target.client.post("/admin/policies", json={"files": bad}, headers=admin)
        body = assert_problem(r, 422, "invalid_request")
        assert "agencies.yaml:" in body["detail"] and words in body["detail"]
    r = await target.client.post("/admin/keys/rotate", json={"domain": "nosuch"}, headers=admin)
    assert_problem(r, 422, "invalid_request")
    refused = [e for e in await _events(target, officer="admin.satu") if e["decision"] != "allow"]
    assert [e["action"] for e in refused].count("policy.propose") == 2
    assert "key.rotate" in [e["action"] for e in refused]


async def test_a_report_token_is_revocable_and_every_read_is_on_the_record(
    target: Target, attack_sources: Any
) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    auditor = {**await _as(target, "demo-auditor"), "X-On-Behalf-Of": "desk.officer"}
    issued = await target.client.post(f"/audit/subjects/{nik}/report-token", headers=auditor)
    assert issued.status_code == 200, issued.text
    token, report_id = issued.json()["report_token"], issued.json()["report_id"]
    bearer = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        read = await target.client.get("/v1/me/accesses", headers=bearer)
        assert read.status_code == 200 and read.json()["audit"]["event_id"]
    reads = [
        e
        for e in await _events(target, subject_nik=nik)
        if e.get("detail", {}).get("read") == "report_token"
    ]
    assert len(reads) == 2 and all(e["detail"]["report_id"] == report_id for e in reads)
    assert nik not in str(reads), "the log carries the subject blinded, never the NIK"

    # An administrator cannot revoke it (nor issue one); an auditor can, and then it
    # opens nothing (the revocation is kept in the store, not in a process).
    admin = await _as(target, "demo-admin")
    path = f"/audit/report-tokens/{report_id}/revoke"
    assert_problem(await target.client.post(path, headers=admin), 403, "insufficient_scope")
    revoked = await target.client.post(path, headers=auditor)
    assert revoked.status_code == 200, revoked.text
    assert_problem(await target.client.get("/v1/me/accesses", headers=bearer), 401, "invalid_token")


async def test_a_client_stored_with_mixed_roles_gets_no_token(target: Target) -> None:
    """A client written before the roles were kept apart (here straight into the store,
    as an older version could) is refused a token rather than trusted."""
    async with target.services.engine.begin() as conn:
        await conn.execute(
            store.clients.update()
            .where(store.clients.c.client_id == "demo-admin")
            .values(scopes="admin residents:read")
        )
    r = await target.token_response("demo-admin")
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client"
