"""Investigations: entries hidden from a resident's own report while one runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.console import users
from gateway.identity import clients
from tests.gateway.conftest import FAST_HASHER, Gateway
from tests.gateway.residents import pick

DESK = "desk.officer"


async def _auditor(gateway: Gateway, client_id: str = "demo-auditor") -> dict[str, str]:
    return {"Authorization": f"Bearer {await gateway.token(client_id)}", "X-On-Behalf-Of": DESK}


async def _second_auditor(gateway: Gateway) -> dict[str, str]:
    """Another registered auditor and the audit client bound to them."""
    await users.create_user(
        gateway.services.engine, "auditor.dua", "another long passphrase", "auditor",
        hasher=FAST_HASHER,
    )  # fmt: skip
    creds = await clients.create_client(
        gateway.services.engine,
        name="Inspektorat (auditor 2)",
        agency="inspektorat",
        scopes=["audit"],
        person="auditor.dua",
    )
    gateway.demo["clients"].append(
        {"client_id": creds.client_id, "client_secret": creds.client_secret}
    )
    return await _auditor(gateway, creds.client_id)


async def _report(gateway: Gateway, auditor: dict[str, str], nik: str) -> list[dict[str, Any]]:
    issued = await gateway.client.post(f"/audit/subjects/{nik}/report-token", headers=auditor)
    assert issued.status_code == 200, issued.text
    token = issued.json()["report_token"]
    mine = await gateway.client.get("/v1/me/accesses", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200, mine.text
    return list(mine.json()["accesses"])


async def _full(gateway: Gateway, auditor: dict[str, str], nik: str) -> list[dict[str, Any]]:
    r = await gateway.client.get(f"/audit/subjects/{nik}/accesses", headers=auditor)
    assert r.status_code == 200, r.text
    return list(r.json()["accesses"])


def _until(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def _looked_up(gateway: Gateway, nik: str) -> None:
    h = await gateway.headers("demo-dinsos", officer="officer.budi")
    assert (await gateway.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200


async def test_an_investigation_hides_entries_until_it_closes(
    gateway: Gateway, demo_sources: Path
) -> None:
    (a,) = pick(demo_sources, city="35.78", n=1)
    await _looked_up(gateway, a["nik"])
    auditor = await _auditor(gateway)
    assert "officer.budi" in {x["officer"] for x in await _report(gateway, auditor, a["nik"])}

    body = {"subject_nik": a["nik"], "hidden_until": _until(days=10), "reason": "Kasus 12/2026"}
    opened = await gateway.client.post("/audit/investigations", json=body, headers=auditor)
    assert opened.status_code == 201, opened.text
    item = opened.json()
    assert item["status"] == "open" and isinstance(item["id"], int)
    assert a["nik"] not in opened.text, "the investigation does not echo the NIK"

    report = await _report(gateway, auditor, a["nik"])
    assert {x["agency"] for x in report} <= {"resident"}, report
    assert "investigation" not in str(report).lower() and "hidden" not in str(report)
    full = await _full(gateway, auditor, a["nik"])
    budi = [x for x in full if x["officer"] == "officer.budi"]
    assert budi and all(x["investigations"] == [item["id"]] for x in budi)

    events = await gateway.client.get(
        "/audit/events", params={"action": "investigation.open"}, headers=auditor
    )
    assert [e["detail"]["investigation_id"] for e in events.json()["events"]] == [item["id"]]

    closed = await gateway.client.post(
        f"/audit/investigations/{item['id']}/close", json={"note": "selesai"}, headers=auditor
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["close_note"] == "selesai"
    report = await _report(gateway, auditor, a["nik"])
    assert "officer.budi" in {x["officer"] for x in report}
    assert "investigation.open" in {x["action"] for x in report}, "now the resident is told"
    events = await gateway.client.get(
        "/audit/events", params={"action": "investigation.close"}, headers=auditor
    )
    assert len(events.json()["events"]) == 1
    again = await gateway.client.post(
        f"/audit/investigations/{item['id']}/close", json={}, headers=auditor
    )
    assert again.status_code == 409 and again.json()["code"] == "conflict"


async def test_reaching_hidden_until_shows_the_entries(
    gateway: Gateway, demo_sources: Path
) -> None:
    (a,) = pick(demo_sources, city="35.78", n=1)
    await _looked_up(gateway, a["nik"])
    auditor = await _auditor(gateway)
    body = {"subject_nik": a["nik"], "hidden_until": _until(seconds=2), "reason": "singkat"}
    opened = await gateway.client.post("/audit/investigations", json=body, headers=auditor)
    assert opened.status_code == 201, opened.text
    assert "officer.budi" not in {x["officer"] for x in await _report(gateway, auditor, a["nik"])}
    await asyncio.sleep(2.2)
    assert "officer.budi" in {x["officer"] for x in await _report(gateway, auditor, a["nik"])}


async def test_a_long_investigation_needs_a_second_auditor(
    gateway: Gateway, demo_sources: Path
) -> None:
    (a,) = pick(demo_sources, city="35.78", n=1)
    await _looked_up(gateway, a["nik"])
    first = await _auditor(gateway)
    second = await _second_auditor(gateway)
    body = {"subject_nik": a["nik"], "hidden_until": _until(days=90), "reason": "Kasus panjang"}
    opened = await gateway.client.post("/audit/investigations", json=body, headers=first)
    assert opened.status_code == 201, opened.text
    item = opened.json()
    assert item["status"] == "proposed" and item["proposal_id"]
    # Not yet approved: nothing is hidden.
    assert "officer.budi" in {x["officer"] for x in await _report(gateway, first, a["nik"])}
    approve = f"/audit/proposals/{item['proposal_id']}/approve"
    own = await gateway.client.post(approve, headers=first)
    assert own.status_code == 403 and own.json()["code"] == "two_person_rule"
    ok = await gateway.client.post(approve, headers=second)
    assert ok.status_code == 200, ok.text
    assert ok.json()["investigation"]["status"] == "open"
    assert "officer.budi" not in {x["officer"] for x in await _report(gateway, first, a["nik"])}

    closing = await gateway.client.post(
        f"/audit/investigations/{item['id']}/close", json={"note": "cukup"}, headers=second
    )
    assert closing.status_code == 202, closing.text
    assert "officer.budi" not in {x["officer"] for x in await _report(gateway, first, a["nik"])}
    proposal = closing.json()["proposal_id"]
    ok = await gateway.client.post(f"/audit/proposals/{proposal}/approve", headers=first)
    assert ok.status_code == 200, ok.text
    assert ok.json()["investigation"]["status"] == "closed"
    assert "officer.budi" in {x["officer"] for x in await _report(gateway, first, a["nik"])}


async def test_only_auditors_open_investigations_and_bad_input_is_refused(
    gateway: Gateway, demo_sources: Path
) -> None:
    (a,) = pick(demo_sources, city="35.78", n=1)
    body = {"subject_nik": a["nik"], "hidden_until": _until(days=1), "reason": "x"}
    for client_id in ("demo-dinsos", "demo-admin"):
        h = {"Authorization": f"Bearer {await gateway.token(client_id)}"}
        r = await gateway.client.post("/audit/investigations", json=body, headers=h)
        assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", r.text
    auditor = await _auditor(gateway)
    cases: list[tuple[dict[str, Any], str]] = [
        ({**body, "subject_nik": "123"}, "invalid_nik"),
        ({**body, "hidden_until": _until(days=-1)}, "invalid_request"),
        ({**body, "hidden_until": "2027-01-01T00:00:00"}, "invalid_request"),
        ({**body, "hidden_until": _until(days=4000)}, "invalid_request"),
        ({**body, "reason": ""}, "invalid_request"),
        ({**body, "reason": f"about {a['nik']}"}, "invalid_request"),
    ]
    for bad, code in cases:
        r = await gateway.client.post("/audit/investigations", json=bad, headers=auditor)
        assert r.status_code == 422 and r.json()["code"] == code, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert a["nik"] not in r.text
    listed = await gateway.client.get("/audit/investigations", headers=auditor)
    assert listed.status_code == 200 and listed.json()["investigations"] == []
    missing = await gateway.client.get("/audit/investigations/99", headers=auditor)
    assert missing.status_code == 404
