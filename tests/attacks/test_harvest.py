"""Harvesting by batch: the policy's cap holds per batch, every resident asked for is
charged to the limits, and one client's batches cannot take a worker from the others."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.attacks.conftest import Target, assert_problem, residents_in


def _surabaya_adults(sources: Path, n: int) -> list[str]:
    return [r["nik"] for r in residents_in(sources, "35.78", n)]


def _absent(n: int) -> list[str]:
    """Well-formed Surabaya NIKs that no resident of the synthetic data holds."""
    return [f"35780101019{i:05d}" for i in range(1, n + 1)]


async def test_a_batch_releases_no_more_than_the_cap_and_says_why_for_the_rest(
    target: Target, attack_sources: Path
) -> None:
    niks = _surabaya_adults(attack_sources, 56)  # the grant's cap is 50
    h = await target.headers("demo-dinsos")
    r = await target.client.post("/v1/residents/batch", headers=h, json={"niks": niks})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    ok = [x for x in results if x["status"] == "ok"]
    refused = [x for x in results if x["status"] != "ok"]
    assert len(ok) == 50
    assert len(refused) == 6 and all(x["code"] == "cap_exceeded" for x in refused)
    assert r.json()["cap"] == 50


async def test_a_batch_of_n_charges_n_to_the_officer_and_the_client(
    target: Target, attack_sources: Path
) -> None:
    niks = _surabaya_adults(attack_sources, 40)
    h = await target.headers("demo-dinsos")  # 60 residents a minute per officer
    first = await target.client.post("/v1/residents/batch", headers=h, json={"niks": niks})
    assert first.status_code == 200
    # 40 spent: a second batch of 40 by the same officer is over the officer's limit.
    again = await target.client.post("/v1/residents/batch", headers=h, json={"niks": niks})
    body = assert_problem(again, 429, "rate_limited")
    assert body["limit"] == "officer" and "audit" in body
    # What is left is still spent one resident at a time by reads.
    for nik in niks[:20]:
        r = await target.client.get(f"/v1/residents/{nik}", headers=h)
        assert r.status_code == 200, r.text
    assert_problem(await target.client.get(f"/v1/residents/{niks[0]}", headers=h), 429)


async def test_a_batch_bigger_than_a_limit_is_refused_whole(target: Target) -> None:
    h = await target.headers("demo-dinsos")
    r = await target.client.post("/v1/residents/batch", headers=h, json={"niks": _absent(1000)})
    body = assert_problem(r, 429, "rate_limited")
    assert "1000 residents" in body["detail"] and body["audit"]["leaf_index"] >= 0


async def test_invented_officers_share_the_client_limit(
    target: Target, attack_sources: Path
) -> None:
    niks = _absent(50)
    answers = []
    for i in range(13):  # 13 x 50 residents > the client's 600 a minute
        h = await target.headers("demo-dinsos", **{"X-On-Behalf-Of": f"officer.new{i}"})
        r = await target.client.post("/v1/residents/batch", headers=h, json={"niks": niks})
        answers.append(r)
    assert all(r.status_code == 200 for r in answers[:12])
    assert assert_problem(answers[12], 429, "rate_limited")["limit"] == "client"


async def test_one_clients_batches_wait_their_turn(target: Target, attack_sources: Path) -> None:
    target.services.settings.batch_concurrency = 1
    target.services.settings.batch_wait_seconds = 0.0
    target.services.settings.rate_scale = 100.0
    niks = _absent(5)
    h = await target.headers("demo-dinsos")
    slots = asyncio.Semaphore(1)
    await slots.acquire()  # one batch of this client is running
    target.services.batch_slots["demo-dinsos"] = slots
    r = await target.client.post("/v1/residents/batch", headers=h, json={"niks": niks})
    assert assert_problem(r, 429, "rate_limited")["limit"] == "batch_concurrency"
    # Another agency is not held up by this client's batches.
    other = await target.headers("demo-dinsos-denpasar")
    r = await target.client.post("/v1/residents/batch", headers=other, json={"niks": niks})
    assert r.status_code == 200
    slots.release()
    r = await target.client.post("/v1/residents/batch", headers=h, json={"niks": niks})
    assert r.status_code == 200


async def test_volume_alerts_count_residents_not_calls(
    target: Target, attack_sources: Path
) -> None:
    target.services.settings.rate_scale = 100.0
    niks = _absent(50)
    for officer in ("officer.a", "officer.b", "officer.c"):
        h = await target.headers("demo-dinsos", **{"X-On-Behalf-Of": officer})
        assert (await target.client.get(f"/v1/residents/{niks[0]}", headers=h)).status_code == 404
    h = await target.headers("demo-dinsos", **{"X-On-Behalf-Of": "officer.bulk"})
    r = await target.client.post("/v1/residents/batch", headers=h, json={"niks": niks})
    assert r.status_code == 200
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    alerts = (await target.client.get("/audit/alerts", headers=auditor)).json()["alerts"]
    volume = [a for a in alerts if a["kind"] == "volume" and a["officer"] == "officer.bulk"]
    assert volume and volume[0]["count"] == 50, alerts


def test_absent_niks_are_absent(attack_sources: Path) -> None:
    with sqlite3.connect(f"file:{attack_sources / 'civil.db'}?mode=ro", uri=True) as conn:
        held = {n for (n,) in conn.execute("SELECT nik FROM residents")}
    assert not held & set(_absent(1000))
