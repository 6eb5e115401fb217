"""Administration through the API: two-person policy approval, simulation, clients, keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

import policies
from gateway.admin.policies import read_bundle_dir
from gateway.platform import keys as keymod
from tests.gateway.conftest import Gateway
from tests.gateway.residents import pick

LEGAL = "PKS-DUKCAPIL/DINSOS/12/2025"


async def _admin(gateway: Gateway, client_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {await gateway.token(client_id)}",
        "X-On-Behalf-Of": f"{client_id}.person",
    }


async def test_two_person_rule_and_hot_reload(gateway: Gateway, demo_sources: Path) -> None:
    nik = pick(demo_sources, city="35.78")[0]["nik"]
    reader = await gateway.headers("demo-dinsos")
    before = await gateway.client.get(
        f"/v1/residents/{nik}", headers=reader, params={"fields": "full_name,sex"}
    )
    assert before.status_code == 200 and before.json()["record"]["full_name"]

    files = read_bundle_dir(gateway.settings.policy_dir)
    files["denies.yaml"] = files["denies.yaml"].rstrip() + (
        "\n  - id: no-names-for-assistance\n    description: test\n"
        "    purposes: [social_assistance]\n    fields: [full_name]\n"
    )
    admin1, admin2 = await _admin(gateway, "demo-admin"), await _admin(gateway, "demo-admin-2")
    proposed = await gateway.client.post(
        "/admin/policies", json={"files": files, "comment": "hide names"}, headers=admin1
    )
    assert proposed.status_code == 201, proposed.text
    bundle_id = proposed.json()["id"]

    diff = (await gateway.client.get(f"/admin/policies/{bundle_id}/diff", headers=admin1)).json()
    assert [f["file"] for f in diff["files"]] == [
        "denies.yaml"
    ] and "no-names-for-assistance" in diff["files"][0]["unified"]

    sim = await gateway.client.post(
        "/admin/policies/simulate",
        json={
            "agency": "dinsos",
            "purpose": "social_assistance",
            "fields": ["full_name"],
            "bundle_id": bundle_id,
        },
        headers=admin1,
    )
    assert sim.status_code == 200 and sim.json()["explanation"]

    own = await gateway.client.post(f"/admin/policies/{bundle_id}/approve", headers=admin1)
    assert own.status_code == 403 and own.json()["code"] == "two_person_rule"
    still = await gateway.client.get(
        f"/v1/residents/{nik}", headers=reader, params={"fields": "full_name,sex"}
    )
    assert still.status_code == 200, "the proposal has no effect before approval"

    ok = await gateway.client.post(f"/admin/policies/{bundle_id}/approve", headers=admin2)
    assert ok.status_code == 200, ok.text
    after = await gateway.client.get(
        f"/v1/residents/{nik}", headers=reader, params={"fields": "full_name,sex"}
    )
    assert after.status_code == 403, "the approved policy is in force at once"
    assert (
        await gateway.client.post(f"/admin/policies/{bundle_id}/approve", headers=admin2)
    ).status_code == 409

    auditor = {"Authorization": f"Bearer {await gateway.token('demo-auditor')}"}
    events = (
        await gateway.client.get("/audit/events", params={"agency": "diskominfo"}, headers=auditor)
    ).json()["events"]
    actions = [(e["action"], e["decision"]) for e in events]
    assert ("policy.propose", "allow") in actions and ("policy.approve", "allow") in actions
    assert ("policy.approve", "deny") in actions, "the refused self-approval is on the record"


async def test_bad_bundle_is_refused_with_its_location(gateway: Gateway) -> None:
    admin = await _admin(gateway, "demo-admin")
    files = read_bundle_dir(gateway.settings.policy_dir)
    files["grants.yaml"] += (
        "\n  - id: broken\n    roles: [social_affairs]\n    datasets: [no_such_dataset]\n"
    )
    r = await gateway.client.post("/admin/policies", json={"files": files}, headers=admin)
    assert r.status_code == 422 and "grants.yaml" in r.json()["detail"]


async def _approved(gateway: Gateway, proposed: httpx.Response, approver: str) -> dict[str, Any]:
    """Approve a proposal as another administrator; the approval's body."""
    assert proposed.status_code == 202, proposed.text
    pid = proposed.json()["id"]
    r = await gateway.client.post(
        f"/admin/proposals/{pid}/approve", headers=await _admin(gateway, approver)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_client_lifecycle(gateway: Gateway) -> None:
    admin = await _admin(gateway, "demo-admin")
    proposed = await gateway.client.post(
        "/admin/clients",
        json={"name": "Dinsos batch job", "agency": "dinsos", "scopes": ["residents:read"]},
        headers=admin,
    )
    assert "client_secret" not in proposed.text, "a proposal creates nothing"
    created = await _approved(gateway, proposed, "demo-admin-2")
    cid, secret = created["client_id"], created["client_secret"]
    listed = (await gateway.client.get("/admin/clients", headers=admin)).json()["clients"]
    assert any(c["client_id"] == cid for c in listed) and secret not in str(listed)

    async def token(s: str) -> int:
        r = await gateway.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": cid, "client_secret": s},
        )
        return r.status_code

    assert await token(secret) == 200
    widened = await _approved(
        gateway,
        await gateway.client.post(
            f"/admin/clients/{cid}/scopes", json={"scopes": ["residents:search"]}, headers=admin
        ),
        "demo-admin-2",
    )
    assert widened["scopes"] == ["residents:read", "residents:search"]
    rotated = await _approved(
        gateway,
        await gateway.client.post(f"/admin/clients/{cid}/rotate", headers=admin),
        "demo-admin-2",
    )
    assert await token(secret) == 401, "the old secret stops working at rotation"
    assert await token(rotated["client_secret"]) == 200
    r = await gateway.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cid,
            "client_secret": rotated["client_secret"],
        },
    )
    live_token = r.json()["access_token"]
    assert (
        await gateway.client.post(f"/admin/clients/{cid}/revoke", headers=admin)
    ).status_code == 200, "an agency's data client is revoked at once"
    assert await token(rotated["client_secret"]) == 401
    r = await gateway.client.get("/v1/catalog", headers={"Authorization": f"Bearer {live_token}"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token", (
        "tokens of a revoked client die with it"
    )


async def test_reidentification_rotation_and_retirement(
    gateway: Gateway, demo_sources: Path
) -> None:
    nik = pick(demo_sources, city="35.78")[0]["nik"]
    case = await gateway.headers(
        "demo-dinsos", purpose="case_management", **{"X-Legal-Basis": LEGAL}
    )
    first = await gateway.client.get(f"/v1/residents/{nik}", headers=case)
    assert first.status_code == 200, first.text
    old_token = first.json()["subject"]

    resolved = await gateway.client.post(
        "/v1/pseudonyms/resolve", json={"pseudonym": old_token}, headers=case
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["nik"] == nik

    # Not for the purpose without re-identification, and never another agency's token.
    plain = await gateway.headers("demo-dinsos")
    r = await gateway.client.post(
        "/v1/pseudonyms/resolve", json={"pseudonym": old_token}, headers=plain
    )
    assert r.status_code == 403
    dinkes_subject = (
        await gateway.client.get(
            f"/v1/residents/{nik}",
            headers=await gateway.headers("demo-dinkes", purpose="health_insurance"),
        )
    ).json()["subject"]
    r = await gateway.client.post(
        "/v1/pseudonyms/resolve", json={"pseudonym": dinkes_subject}, headers=case
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_pseudonym" and nik not in r.text

    admin = await _admin(gateway, "demo-admin")
    rotated = await gateway.client.post(
        "/admin/keys/rotate", json={"domain": "dinsos"}, headers=admin
    )
    assert rotated.status_code == 200 and rotated.json()["version"] == 2
    new_token = (await gateway.client.get(f"/v1/residents/{nik}", headers=case)).json()["subject"]
    assert new_token != old_token
    for t in (old_token, new_token):
        r = await gateway.client.post("/v1/pseudonyms/resolve", json={"pseudonym": t}, headers=case)
        assert r.status_code == 200 and r.json()["nik"] == nik

    retire = await gateway.client.post(
        "/admin/keys/retire", json={"domain": "dinsos", "version": 1}, headers=admin
    )
    await _approved(gateway, retire, "demo-admin-2")
    r = await gateway.client.post(
        "/v1/pseudonyms/resolve", json={"pseudonym": old_token}, headers=case
    )
    assert r.status_code == 410 and r.json()["code"] == "pseudonym_key_retired"
    r = await gateway.client.post(
        "/v1/pseudonyms/resolve", json={"pseudonym": new_token}, headers=case
    )
    assert r.status_code == 200


async def test_batch_fetches_many_and_marks_each(gateway: Gateway, demo_sources: Path) -> None:
    residents = pick(demo_sources, city="35.78", n=5)
    outside = pick(demo_sources, city="51.71", n=1)[0]["nik"]
    niks = [r["nik"] for r in residents] + [outside, "123", residents[0]["nik"][:12] + "9999"]
    h = await gateway.headers("demo-dinsos")
    r = await gateway.client.post(
        "/v1/residents/batch",
        json={"niks": niks, "fields": ["full_name", "welfare_decile"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses[:5] == ["ok"] * 5
    # Outside the jurisdiction answers as not found: no existence oracle.
    assert statuses[5] == "not_found" and statuses[6] == "invalid"
    assert statuses[7] in ("not_found", "ok")
    too_many = await gateway.client.post(
        "/v1/residents/batch", json={"niks": ["1"] * 1001}, headers=h
    )
    assert too_many.status_code == 422


async def test_a_pseudonymiser_is_reused_only_for_the_key_versions_it_was_built_from(
    gateway: Gateway,
) -> None:
    """Reuse follows the versions object itself: versions loaded anew (after a rotation
    or retirement) always give a fresh pseudonymiser, so a retired key stops resolving."""
    services = gateway.services
    keyring = services.keyring
    old_version = (await keyring.versions(keymod.PSEUDONYM, "dinsos")).current
    first = await services.pseudonymiser("dinsos")
    assert await services.pseudonymiser("dinsos") is first  # same versions: reused
    token = first.pseudonymise("3578010101900001")
    await keyring.rotate(keymod.PSEUDONYM, "dinsos")
    await keyring.retire(keymod.PSEUDONYM, "dinsos", old_version)
    after = await services.pseudonymiser("dinsos")
    assert after is not first
    with pytest.raises(policies.RetiredKeyVersion):
        after.resolve(token)
