"""Alerts through the API: grouped with their events, acknowledged and closed with a
note, by auditors only; every step (and every refusal) on the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import audit
from gateway.auditing import alert_notes
from tests.console.events import lookup
from tests.gateway.conftest import Gateway

NOTE = {"note": "Ditinjau bersama kepala bidang"}


async def _night_lookups(gateway: Gateway, officer: str = "petugas.malam") -> None:
    """Two lookups at 22:00 WIB yesterday: an ``off_hours`` alert for ``officer``."""
    night = (datetime.now(UTC) - timedelta(days=1)).replace(hour=15, minute=0, microsecond=0)
    nik = gateway.demo["sample_niks"][0]
    for minutes in (0, 5):
        at = (night + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        await lookup(gateway.services, nik, officer=officer, time=at)


async def _auditor(gateway: Gateway) -> dict[str, str]:
    return {"Authorization": f"Bearer {await gateway.token('demo-auditor')}"}


async def _group(gateway: Gateway, officer: str = "petugas.malam") -> dict[str, Any]:
    r = await gateway.client.get("/audit/alerts", headers=await _auditor(gateway))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["alerts"] and body["audit"]["leaf_index"] >= 0
    (group,) = [g for g in body["groups"] if g["officer"] == officer]
    return dict(group)


async def _events(gateway: Gateway, action: str) -> list[dict[str, Any]]:
    page = await gateway.services.audit.search(audit.EventQuery(action=action, limit=50))
    return page.events


async def test_an_alert_is_acknowledged_then_closed_with_notes_on_the_record(
    gateway: Gateway,
) -> None:
    await _night_lookups(gateway)
    group = await _group(gateway)
    assert group["kind"] == "off_hours" and group["state"] == "open" and group["note"] is None
    assert group["events"] == [f"/audit/leaves/{i}" for i in group["leaf_indexes"]]
    assert len(group["events"]) == 2 and "key" not in group
    auditor = await _auditor(gateway)
    leaf = await gateway.client.get(group["events"][0], headers=auditor)
    assert leaf.status_code == 200 and b"petugas.malam" in leaf.content

    path = f"/audit/alerts/{group['id']}"
    acked = await gateway.client.post(f"{path}/acknowledge", json=NOTE, headers=auditor)
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert body["state"] == "acknowledged" and body["note"]["noted_by"] == "auditor.satu"
    assert body["note"]["note"] == NOTE["note"] and body["audit"]["leaf_index"] >= 0
    closed = await gateway.client.post(
        f"{path}/close", json={"note": "  Tugas piket malam, sah  "}, headers=auditor
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    assert closed.json()["note"]["note"] == "Tugas piket malam, sah"
    again = await _group(gateway)
    assert again["state"] == "closed" and again["note"]["note"] == "Tugas piket malam, sah"

    (ack_event,) = await _events(gateway, "alert.acknowledge")
    (close_event,) = await _events(gateway, "alert.close")
    for event, receipt in ((ack_event, body["audit"]), (close_event, closed.json()["audit"])):
        assert event["leaf_index"] == receipt["leaf_index"]
        assert event["agency"] == "inspektorat" and event["officer"] == "auditor.satu"
        assert event["decision"] == "allow" and event["client_id"] == "demo-auditor"
        assert event["detail"]["alert_id"] == group["id"]
        assert event["detail"]["officer"] == "petugas.malam"
        assert event["detail"]["leaf_indexes"] == group["leaf_indexes"]
    assert ack_event["detail"]["note"] == NOTE["note"]
    assert close_event["detail"]["note"] == "Tugas piket malam, sah"


async def test_closing_twice_is_a_conflict_and_is_recorded(gateway: Gateway) -> None:
    await _night_lookups(gateway)
    group = await _group(gateway)
    auditor = await _auditor(gateway)
    path = f"/audit/alerts/{group['id']}"
    assert (await gateway.client.post(f"{path}/close", json=NOTE, headers=auditor)).is_success
    for step in ("close", "acknowledge"):
        twice = await gateway.client.post(f"{path}/{step}", json=NOTE, headers=auditor)
        assert twice.status_code == 409, twice.text
        assert twice.headers["content-type"] == "application/problem+json"
        assert twice.json()["code"] == "conflict" and "closed" in twice.json()["detail"]
    refusals = [e for e in await _events(gateway, "alert.close") if e["decision"] != "allow"]
    assert [e["status"] for e in refusals] == [409]
    assert len(await _events(gateway, "alert.acknowledge")) == 1  # the refused one
    assert len(await alert_notes.latest(gateway.services)) == 1


async def test_an_acknowledged_alert_is_not_acknowledged_again(gateway: Gateway) -> None:
    await _night_lookups(gateway)
    group = await _group(gateway)
    auditor = await _auditor(gateway)
    path = f"/audit/alerts/{group['id']}/acknowledge"
    assert (await gateway.client.post(path, json=NOTE, headers=auditor)).status_code == 200
    assert (await gateway.client.post(path, json=NOTE, headers=auditor)).status_code == 409


async def test_an_unknown_or_malformed_id_is_refused(gateway: Gateway) -> None:
    auditor = await _auditor(gateway)
    unknown = await gateway.client.post(
        "/audit/alerts/0123456789abcdef/close", json=NOTE, headers=auditor
    )
    assert unknown.status_code == 404, unknown.text
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["code"] == "not_found" and "audit" in unknown.json()
    (refusal,) = await _events(gateway, "alert.close")
    assert refusal["decision"] == "deny" and refusal["status"] == 404
    for bad in ("0123456789ABCDEF", "0123", "../../admin", "0123456789abcdef0"):
        r = await gateway.client.post(f"/audit/alerts/{bad}/close", json=NOTE, headers=auditor)
        assert r.status_code in (404, 422), (bad, r.status_code)
        assert r.status_code != 404 or "/" in bad


@pytest.mark.parametrize(
    "body",
    [
        {"note": ""},
        {"note": "   "},
        {"note": "x" * 501},
        {"note": "ok\u0000"},
        {"note": "baris satu\nbaris dua"},
        {"note": "\u202egnp.exe"},
        {"note": "lihat 3578010101900001"},
        {"note": 7},
        {},
        {"note": "ok", "state": "closed"},
    ],
    ids=[
        "empty",
        "blank",
        "too-long",
        "nul",
        "newline",
        "bidi",
        "nik",
        "number",
        "missing",
        "extra",
    ],
)
async def test_a_malformed_note_is_refused_and_nothing_changes(
    gateway: Gateway, body: dict[str, Any]
) -> None:
    await _night_lookups(gateway)
    group = await _group(gateway)
    r = await gateway.client.post(
        f"/audit/alerts/{group['id']}/close", json=body, headers=await _auditor(gateway)
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "3578010101900001" not in r.text
    assert (await _group(gateway))["state"] == "open"
    assert not await alert_notes.latest(gateway.services)
    assert not [e for e in await _events(gateway, "alert.close") if e["decision"] == "allow"]


@pytest.mark.parametrize("client_id", ["demo-dinsos", "demo-admin"])
async def test_a_reader_or_an_administrator_is_refused(gateway: Gateway, client_id: str) -> None:
    await _night_lookups(gateway)
    group = await _group(gateway)
    token = {"Authorization": f"Bearer {await gateway.token(client_id)}"}
    listed = await gateway.client.get("/audit/alerts", headers=token)
    assert listed.status_code == 403 and listed.json()["code"] == "insufficient_scope"
    for step in ("acknowledge", "close"):
        r = await gateway.client.post(
            f"/audit/alerts/{group['id']}/{step}", json=NOTE, headers=token
        )
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/problem+json"
    assert (await _group(gateway))["state"] == "open"
    refused = await gateway.services.audit.search(
        audit.EventQuery(agency=next(
            c["agency"] for c in gateway.demo["clients"] if c["client_id"] == client_id
        ), decision="deny", limit=50)
    )  # fmt: skip
    assert len(refused.events) >= 3, "every refusal is on the record"
    no_token = await gateway.client.post(f"/audit/alerts/{group['id']}/close", json=NOTE)
    assert no_token.status_code == 401
