"""A resident's own access report, through a report token issued at the service desk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.gateway.conftest import Gateway
from tests.gateway.residents import pick


async def test_resident_sees_who_looked_and_nothing_else(
    gateway: Gateway, demo_sources: Path
) -> None:
    a, b = pick(demo_sources, city="35.78", n=2)
    h = await gateway.headers("demo-dinsos", officer="officer.budi")
    assert (await gateway.client.get(f"/v1/residents/{a['nik']}", headers=h)).status_code == 200
    assert (await gateway.client.get(f"/v1/residents/{b['nik']}", headers=h)).status_code == 200
    # An investigation whose notice is legally delayed: hidden from the resident until then.
    await gateway.services.audit.append(
        {
            "action": "resident.read",
            "agency": "dinsos",
            "client_id": "demo-dinsos",
            "officer": "investigator.7",
            "purpose": "case_management",
            "legal_basis": "PKS-DUKCAPIL/DINSOS/1/2026",
            "decision": "allow",
            "reason": None,
            "rule_ids": [],
            "policy_version": None,
            "fields": {"full_name": "clear"},
            "result_count": 1,
            "request_id": "t",
            "status": 200,
            "specific_data": False,
            "hidden_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        subject_niks=[a["nik"]],
    )

    auditor = {
        "Authorization": f"Bearer {await gateway.token('demo-auditor')}",
        "X-On-Behalf-Of": "desk.officer",
    }
    issued = await gateway.client.post(f"/audit/subjects/{a['nik']}/report-token", headers=auditor)
    assert issued.status_code == 200, issued.text
    token = issued.json()["report_token"]
    assert a["nik"] not in token

    mine = await gateway.client.get("/v1/me/accesses", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200, mine.text
    accesses = mine.json()["accesses"]
    officers = {x["officer"] for x in accesses}
    assert "officer.budi" in officers and "investigator.7" not in officers
    full = (
        await gateway.client.get(f"/audit/subjects/{a['nik']}/accesses", headers=auditor)
    ).json()["accesses"]
    assert "investigator.7" in {x["officer"] for x in full}, "the auditor sees hidden entries"
    assert len(full) > len(accesses)

    # The token is no access token, and a tampered token reads nothing.
    assert (
        await gateway.client.get(
            f"/v1/residents/{b['nik']}", headers={**h, "Authorization": f"Bearer {token}"}
        )
    ).status_code == 401
    head, body, sig = token.split(".")
    forged = f"{head}.{body[:-4]}AAAA.{sig}"
    r = await gateway.client.get("/v1/me/accesses", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    # An access token is no report token either.
    r = await gateway.client.get("/v1/me/accesses", headers={"Authorization": h["Authorization"]})
    assert r.status_code == 401
