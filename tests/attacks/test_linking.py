"""Nothing in what an agency can read links it to another agency's view of a resident:
the subject in each agency's leaves is blinded under a key of its own."""

from __future__ import annotations

from pathlib import Path

from tests.attacks.conftest import Target, residents_in


async def test_two_agencies_leaves_share_no_subject_index(
    target: Target, attack_sources: Path
) -> None:
    nik = residents_in(attack_sources, "35.78", 1)[0]["nik"]
    leaves = {}
    for client, purpose in (
        ("demo-dinsos", "social_assistance"),
        ("demo-dinkes", "health_insurance"),
    ):
        h = await target.headers(client, **{"X-Purpose": purpose, "X-Request-Id": "same-id"})
        r = await target.client.get(f"/v1/residents/{nik}", headers=h)
        assert r.status_code == 200, r.text
        leaf = await target.client.get(
            f"/audit/leaves/{r.json()['audit']['leaf_index']}", headers=h
        )
        assert leaf.status_code == 200
        leaves[client] = leaf.json()
    a, b = leaves["demo-dinsos"], leaves["demo-dinkes"]
    assert a["subjects"] != b["subjects"] and len(a["subjects"]) == len(b["subjects"]) == 1
    # What repeats is what the agencies chose themselves (officer, request id) or what
    # every call of its kind shares; no value derived from the resident.
    shared = {k for k in a.keys() & b.keys() if a[k] == b[k] and a[k] not in (None, [], {}, False)}
    assert shared <= {
        "action", "decision", "status", "result_count", "request_id", "officer",
        "policy_version", "specific_data",
    }, shared  # fmt: skip
    # Auditors still find both by NIK.
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    found = await target.client.get(
        "/audit/events", headers=auditor, params={"subject_nik": nik, "action": "resident.read"}
    )
    assert {e["agency"] for e in found.json()["events"]} == {"dinsos", "dinkes"}
